// offcpu's scheduler text (the addresses its BPF side needs to skip the tracing frames), kept for
// the boot as a fact of /proc/kallsyms: a start with it cached does not read /proc/kallsyms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSchedulerText, encodeSchedulerText, findSchedulerText, loadSchedulerText } from '../../src/commands/offcpu.js';

const KALLSYMS = [
  'ffffffff813a5ae0 T __pfx___traceiter_sched_switch',
  'ffffffff813a5af0 T __traceiter_sched_switch',
  'ffffffff813a5b60 T __traceiter_sched_waking',
  'ffffffff82247b40 T __sched_text_start',
  'ffffffff82247b40 T __schedule',
  'ffffffff82250862 T __sched_text_end',
  '',
].join('\n');

test('the scheduler text round-trips through its stored form; damage reads as nothing', () => {
  const t = findSchedulerText(KALLSYMS)!;
  assert.deepEqual(t, {
    schedTextStart: 0xffffffff82247b40n,
    schedTextEnd: 0xffffffff82250862n,
    traceiterStart: 0xffffffff813a5af0n,
    traceiterEnd: 0xffffffff813a5b60n,
  });
  assert.deepEqual(decodeSchedulerText(encodeSchedulerText(t)), t);
  const noIter = { schedTextStart: 1000n, schedTextEnd: 2000n };
  assert.deepEqual(decodeSchedulerText(encodeSchedulerText(noIter)), noIter);
  assert.equal(decodeSchedulerText(null), undefined);
  assert.equal(decodeSchedulerText(new Uint8Array(31)), undefined);
  assert.equal(decodeSchedulerText(new Uint8Array(32)), undefined, 'all zeros: no text');
});

test('the first start reads kallsyms and keeps the answer for the boot; the next ones do not read it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-sched-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cacheDir = join(dir, 'cache'); // created 0700 by the cache
  const kallsymsPath = join(dir, 'kallsyms');
  const bootIdPath = join(dir, 'boot_id');
  const kptrRestrictPath = join(dir, 'kptr_restrict');
  writeFileSync(kallsymsPath, KALLSYMS);
  writeFileSync(bootIdPath, '3f1d2c4e-0000-4000-8000-000000000001\n');
  writeFileSync(kptrRestrictPath, '0\n');
  let reads = 0;
  const src = { kallsymsPath, bootIdPath, kptrRestrictPath, cacheDir, readKallsyms: () => (reads++, KALLSYMS) };
  const first = loadSchedulerText(src);
  assert.deepEqual(first, findSchedulerText(KALLSYMS));
  assert.equal(reads, 1);
  assert.deepEqual(loadSchedulerText(src), first);
  assert.equal(reads, 1, 'the second start used the stored answer');
  // Another boot (or another kptr_restrict, which hides or shows addresses): read again.
  writeFileSync(bootIdPath, '3f1d2c4e-0000-4000-8000-000000000002\n');
  assert.deepEqual(loadSchedulerText(src), first);
  assert.equal(reads, 2);
  writeFileSync(kptrRestrictPath, '1\n');
  loadSchedulerText(src);
  assert.equal(reads, 3);
  // No cache directory: every start reads.
  loadSchedulerText({ ...src, cacheDir: null });
  assert.equal(reads, 4);
});
