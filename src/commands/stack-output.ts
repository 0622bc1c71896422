// Prints a StackProfile the way the user asked (table, folded, JSON); losses go to stderr so
// piped output stays clean. Shared by the stack tools (cpuprofile, offcpu).
import type { StackProfile } from '../aggregate/model.js';
import { renderFolded } from '../render/folded.js';
import { renderStackProfileJson } from '../render/json.js';
import { mergeStacks } from '../aggregate/stacks.js';
import type { OtlpConfig } from '../otlp/config.js';
import type { ProcessInfo } from '../otlp/resource.js';
import { sanitizeTerminal } from '../render/sanitize.js';
import { shouldUseColor } from '../render/color.js';
import { stderr, stdout } from '../util/stdio.js';

export interface StackOutputOptions {
  format: 'table' | 'folded' | 'json';
  /** -d: a `-` frame between the user and the kernel part of each stack. */
  delimiter: boolean;
  /** Rows of the function tables in table output. */
  top: number;
}

export async function printStackProfile(profile: StackProfile, options: StackOutputOptions): Promise<void> {
  let text: string;
  switch (options.format) {
    case 'folded':
      text = renderFolded(profile, options.delimiter ? { delimiter: '-' } : {});
      break;
    case 'json':
      text = renderStackProfileJson(profile);
      break;
    case 'table': {
      // Loaded only for tables: cli-table3 and chalk cost ~30 ms of CPU a folded or JSON run need not pay.
      const { renderTable } = await import('../render/table.js');
      // Distinct addresses that name the same functions are one stack to a reader.
      text = renderTable({ ...profile, stacks: mergeStacks(profile.stacks) }, {
        color: shouldUseColor(stdout),
        topFunctions: options.top,
        delimiter: options.delimiter,
        warnings: false,
      });
      break;
    }
  }
  stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  for (const w of profile.warnings) stderr.write(`warning: ${sanitizeTerminal(w)}\n`);
}

/**
 * --otlp for stack tools: sends the profile (already printed) as OTLP profiles. `captured` holds
 * what was read about the target processes while they ran, so an exit mid-profile loses nothing.
 * A failure throws a one-line error naming the saved payload file.
 */
export async function exportStackProfile(
  profile: StackProfile,
  captured: ReadonlyMap<number, ProcessInfo>,
  otlp: OtlpConfig,
  verbose: boolean,
): Promise<void> {
  // The OpenTelemetry code is loaded only when asked for: it costs start-up time.
  const { exportProfile, describeExport } = await import('../otlp/index.js');
  const result = await exportProfile(profile, captured, otlp);
  if (verbose || result.partialSuccess) stderr.write(`${describeExport(result)}\n`);
}
