// The unwinder on real stacks without the kernel: a program built without frame pointers
// photographs its own registers and stack (test/workloads/unwind-snapshot.c), as the BPF side
// does at a sample, and stays alive so its maps and binaries can be read. The unwound stack must
// name every caller up to _start, and cross a signal frame through libc's CFI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload } from '../helpers.js';
import { Symbolizer } from '../../src/symbolize/index.js';
import { regsFrom, Unwinder, type StackSnapshot } from '../../src/unwind/unwinder.js';
import { StackCopyCollector } from '../../src/unwind/collector.js';
import { UNWIND_STACK_RECORD, UnwindRecordKind } from '../../src/unwind/records.js';

let bin: string | undefined;

async function snapshotOf(how: 'direct' | 'signal'): Promise<{ pid: number; snap: StackSnapshot; kill: () => void }> {
  bin ??= buildWorkload('unwind-snapshot', ['-O2', '-fomit-frame-pointer']);
  const file = join(mkdtempSync(join(tmpdir(), 'snap-')), 'snap.bin');
  const child = spawn(bin, [how, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`snapshot program exited (${code})`)));
  });
  const raw = readFileSync(file);
  return {
    pid: child.pid!,
    snap: { regs: regsFrom(raw, 0), stack: raw.subarray(17 * 8), capped: false },
    kill: () => child.kill('SIGKILL'),
  };
}

function names(sym: Symbolizer, pid: number, pcs: number[], exact: number[]): string[] {
  const addrs = pcs.map((pc, i) => BigInt(i === 0 || exact.includes(i) ? pc : pc - 1));
  return sym.symbolizeUser(pid, addrs).map((f) => f.name);
}

test('a stack without frame pointers unwinds from the leaf to _start, every caller named', async () => {
  const s = await snapshotOf('direct');
  const sym = new Symbolizer();
  try {
    const u = new Unwinder({ codeAt: (pid, a) => sym.codeAt(pid, a), mapsKnown: (pid) => sym.mapsKnown(pid) });
    const r = u.unwind(s.pid, s.snap);
    const n = names(sym, s.pid, r.pcs, r.exact);
    assert.equal(r.stop, 'end', `ends at the outermost frame: ${n.join(' <- ')}`);
    const expected = ['level3', 'level2', 'level1', 'main'];
    const at = n.indexOf('level3');
    assert.ok(at >= 0 && at <= 1, `leaf is in level3 (snapshot may be inlined there): ${n.join(' <- ')}`);
    assert.deepEqual(n.slice(at, at + 4), expected, n.join(' <- '));
    assert.equal(n.at(-1), '_start', n.join(' <- '));
    assert.ok(n.includes('__libc_start_main') || n.includes('__libc_start_call_main'), 'through libc (no frame pointers there)');
  } finally {
    s.kill();
    sym.close();
  }
});

test('a signal handler\'s stack crosses the signal frame to the interrupted code and its callers', async () => {
  const s = await snapshotOf('signal');
  const sym = new Symbolizer();
  try {
    const u = new Unwinder({ codeAt: (pid, a) => sym.codeAt(pid, a) });
    const r = u.unwind(s.pid, s.snap);
    const n = names(sym, s.pid, r.pcs, r.exact);
    const handler = n.indexOf('on_signal');
    const restorer = n.indexOf('__restore_rt');
    assert.ok(handler >= 0 && restorer === handler + 1, `handler, then the kernel's return trampoline: ${n.join(' <- ')}`);
    assert.ok(r.exact.includes(restorer + 1), 'the frame after the signal frame is an exact pc, not a return address');
    const l3 = n.indexOf('level3');
    assert.ok(l3 > restorer, `the code that raised the signal is below it: ${n.join(' <- ')}`);
    assert.deepEqual(n.slice(l3, l3 + 4), ['level3', 'level2', 'level1', 'main']);
    assert.equal(r.stop, 'end');
  } finally {
    s.kill();
    sym.close();
  }
});

test('honest truncation: a short copy ends in [truncated: stack copy], missing maps in a marker too', async () => {
  const s = await snapshotOf('direct');
  const sym = new Symbolizer();
  try {
    const u = new Unwinder({ codeAt: (pid, a) => sym.codeAt(pid, a) });
    const full = u.unwind(s.pid, s.snap);
    // Only the first 64 bytes: the leaf's caller is found only if its return address is in them.
    const short = u.unwind(s.pid, { ...s.snap, stack: s.snap.stack.subarray(0, 64), capped: true });
    assert.equal(short.stop, 'stack copy');
    assert.ok(short.pcs.length < full.pcs.length);
    assert.deepEqual(short.pcs, full.pcs.slice(0, short.pcs.length), 'the frames it has are the right ones');
    // Not capped: the copy ended where the stack did, so running past it is a bad frame, not a short copy.
    const ended = u.unwind(s.pid, { ...s.snap, stack: s.snap.stack.subarray(0, 64), capped: false });
    assert.equal(ended.stop, 'bad frame');
    // A pc in no mapping: reported as sampled, then a marker.
    const nowhere = u.unwind(s.pid, { ...s.snap, regs: Float64Array.from(s.snap.regs, (v, i) => (i === 16 ? 0x1000 : v)) });
    assert.deepEqual(nowhere.pcs, [0x1000]);
    assert.equal(nowhere.stop, 'no CFI');
  } finally {
    s.kill();
    sym.close();
  }
});

test('the collector aggregates identical stacks into one entry, and offcpu deltas join their switch-out', async () => {
  const s = await snapshotOf('direct');
  const sym = new Symbolizer();
  try {
    const record = (tid: number, seq: bigint): Buffer => {
      const L = UNWIND_STACK_RECORD;
      const b = Buffer.alloc(L.size + s.snap.stack.length);
      b.writeUInt32LE(UnwindRecordKind.stack, L.kind);
      b.writeUInt32LE(s.pid, L.tgid);
      b.writeUInt32LE(tid, L.pid);
      b.writeInt32LE(-14, L.kernelStackId);
      b.writeUInt32LE(s.snap.stack.length, L.stackLen);
      b.writeBigUInt64LE(seq, L.seq);
      b.write('snap', L.comm);
      s.snap.regs.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), L.regs + i * 8));
      s.snap.stack.copy(b, L.size);
      return b;
    };
    const delta = (tid: number, seq: bigint, ns: number): Buffer => {
      const b = Buffer.alloc(24);
      b.writeUInt32LE(UnwindRecordKind.delta, 0);
      b.writeUInt32LE(tid, 4);
      b.writeBigUInt64LE(seq, 8);
      b.writeBigUInt64LE(BigInt(ns), 16);
      return b;
    };
    const frame = (recs: Buffer[]): Buffer =>
      Buffer.concat(
        recs.flatMap((r) => {
          const len = Buffer.alloc(4);
          len.writeUInt32LE(r.length);
          return [len, r, Buffer.alloc((4 - (r.length % 4)) % 4)];
        }),
      );
    const u = new Unwinder({ codeAt: (pid, a) => sym.codeAt(pid, a) });
    const cpu = new StackCopyCollector('cpu', u);
    cpu.ingest(frame([record(s.pid, 0n), record(s.pid, 0n), record(s.pid, 0n)]));
    assert.equal(cpu.size, 1);
    assert.equal(cpu.stacks()[0]!.value, 3);

    const off = new StackCopyCollector('offcpu', u);
    off.ingest(frame([record(7, 100n), delta(7, 100n, 5000), record(7, 200n), record(8, 300n)]));
    off.ingest(frame([delta(8, 300n, 1000), delta(7, 200n, 2500), delta(7, 999n, 1)]));
    const stacks = off.stacks().sort((a, b) => a.tid - b.tid);
    assert.deepEqual(
      stacks.map((x) => [x.tid, x.value, x.count]),
      [
        [7, 7500, 2],
        [8, 1000, 1],
      ],
    );
    assert.equal(off.stats.unmatchedDeltas, 1, 'a delta without its switch-out is not counted');
  } finally {
    s.kill();
    sym.close();
  }
});
