// Run by bench/symbolize.ts in a fresh Node process (cold caches, as a user's run): symbolizes the
// raw stacks in a JSON file through the pipeline cpuprofile uses (Symbolizer + resolveStacks) and
// renders them as folded text, timing each phase. Prints one JSON line.
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Symbolizer } from '../src/symbolize/index.js';
import { resolveStacks } from '../src/pipeline/stacks.js';
import { renderFolded } from '../src/render/folded.js';
import type { RawStack } from '../src/bpf/stacks.js';
import type { StackProfile } from '../src/aggregate/model.js';

const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { pid: number; stacks: string[][] };
const raw: RawStack[] = input.stacks.map((s, i) => ({
  pid: input.pid,
  tid: input.pid,
  comm: 'node',
  user: s.map((a) => BigInt(a)),
  kernel: null,
  value: 1 + (i % 7),
}));

const t0 = performance.now();
const symbolizer = new Symbolizer();
symbolizer.snapshot(input.pid);
const t1 = performance.now();
const stacks = resolveStacks(raw, symbolizer);
const t2 = performance.now();
const profile: StackProfile = { kind: 'cpu', unit: 'samples', startTimeNs: 0n, endTimeNs: 0n, stacks, warnings: [], frequencyHz: 99 };
const text = renderFolded(profile);
const out = openSync('/dev/null', 'w');
writeSync(out, text);
closeSync(out);
const t3 = performance.now();

let frames = 0;
let unnamed = 0;
for (const r of stacks) {
  for (const f of r.frames) {
    frames++;
    if (f.name === '[unknown]' || /\+0x[0-9a-f]+$/.test(f.name)) unnamed++;
  }
}
process.stdout.write(
  `${JSON.stringify({
    snapshotMs: t1 - t0,
    resolveMs: t2 - t1,
    renderMs: t3 - t2,
    totalMs: t3 - t0,
    stacks: stacks.length,
    frames,
    unnamed,
    foldedLines: text.split('\n').length - 1,
    sample: text.split('\n')[0]!.slice(0, 300),
  })}\n`,
);
