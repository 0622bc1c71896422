// offcpu's BCC listing (`offcputime` without -f): stacks leaf first, heaviest last.
import type { StackProfile } from '../aggregate/model.js';
import { percent, totalValue } from '../aggregate/stacks.js';
import { formatStack } from './table.js';

/**
 * BCC offcputime's listing: every stack leaf first (kernel frames, then user frames), the thread,
 * and the time in microseconds; sorted by time ascending, so the heaviest stack is printed last,
 * next to the prompt. Ends with a newline.
 */
export function renderOffcpuStacks(profile: StackProfile, options: { delimiter: boolean; color: boolean }): string {
  const total = totalValue(profile.stacks);
  const sorted = [...profile.stacks].sort((a, b) => a.value - b.value || a.pid - b.pid || a.tid - b.tid);
  let out = '';
  for (const r of sorted) {
    out += formatStack(r, percent(r.value, total), {
      color: options.color,
      stackOrder: 'leaf-first',
      delimiter: options.delimiter,
      formatValue: (v) => `${Math.round(v / 1000)} us`,
      unit: profile.unit,
    });
  }
  return out === '' ? 'No stacks were collected.\n' : out;
}
