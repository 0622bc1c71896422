// biolatency end to end, for real: O_DIRECT reads and writes (dd) on loop devices this test
// creates, traced by the tool through its CLI; the counts per disk and per flag set must be what
// was issued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { requireRoot } from '../helpers.js';
import { parseJsonLines, runTool, startTool, totalWhere, type ToolResult } from '../tool-runner.js';
import { native } from '../../src/bpf/native.js';
import { bpfObjectPath } from '../../src/util/paths.js';
import { ARG_COUNT_PROGRAMS, tracepointArgCount } from '../../src/commands/biolatency.js';

interface Loop {
  dev: string;
  name: string;
}

/** Loop devices over temp files, detached and removed when `body` ends. */
async function withLoops(n: number, body: (loops: Loop[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'biolatency-'));
  const loops: Loop[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const file = join(dir, `disk${i}.img`);
      writeFileSync(file, Buffer.alloc(0));
      execFileSync('truncate', ['-s', '8M', file]);
      const dev = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
      loops.push({ dev, name: basename(dev) });
    }
    await body(loops);
  } finally {
    for (const l of loops) {
      try {
        execFileSync('losetup', ['-d', l.dev]);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `count` O_DIRECT writes (or reads) of 4 KiB each: one block request per dd block. */
function directIo(loop: Loop, op: 'write' | 'read', count: number): void {
  const args =
    op === 'write'
      ? ['if=/dev/zero', `of=${loop.dev}`, 'bs=4096', `count=${count}`, 'oflag=direct', 'conv=notrunc']
      : [`if=${loop.dev}`, 'of=/dev/null', 'bs=4096', `count=${count}`, 'iflag=direct'];
  execFileSync('dd', args, { stdio: 'ignore' });
}

function ok(r: ToolResult, what: string): ToolResult {
  assert.equal(r.status, 0, `${what}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`);
  return r;
}

const isWrite = (l: Record<string, string>) => /(^|-)Write$/.test(l.flags ?? '');
const isRead = (l: Record<string, string>) => /(^|-)Read$/.test(l.flags ?? '');

test('biolatency: per-disk and per-flag counts agree with the O_DIRECT I/O issued', async (t) => {
  if (!requireRoot(t)) return;
  await withLoops(2, async ([a, b]) => {
    const WRITES_A = 37;
    const READS_A = 23;
    const WRITES_B = 11;
    const tools = await Promise.all([
      startTool(['biolatency', '-D', '--json']),
      startTool(['biolatency', '-D', '-F', '--disk', a!.name, '--json']),
      startTool(['biolatency', '-F', '-e', '--disk', b!.name]),
    ]);
    directIo(a!, 'write', WRITES_A);
    directIo(a!, 'read', READS_A);
    directIo(b!, 'write', WRITES_B);
    const [perDisk, filtered, text] = await Promise.all(tools.map((tool) => tool.stop()));

    const [disks] = parseJsonLines(ok(perDisk!, '-D').stdout);
    assert.ok(disks, 'one JSON document');
    assert.equal(disks.groupBy, 'disk');
    assert.equal(disks.unit, 'usecs');
    // udev may probe a device after it was written to: reads can only be more, never fewer.
    assert.ok(totalWhere(disks, (l) => l.disk === a!.name) >= WRITES_A + READS_A, JSON.stringify(disks.histograms));
    assert.ok(totalWhere(disks, (l) => l.disk === b!.name) >= WRITES_B, JSON.stringify(disks.histograms));
    for (const h of disks.histograms) {
      assert.equal(h.buckets.reduce((s, x) => s + x.count, 0), h.total, 'bucket counts add up to the total');
      assert.ok(h.sum !== null && h.sum > 0 && h.average !== null);
    }

    const [split] = parseJsonLines(ok(filtered!, '-D -F --disk').stdout);
    assert.ok(split);
    assert.ok(split.histograms.length > 0);
    assert.ok(split.histograms.every((h) => h.labels.disk === a!.name), `--disk keeps only ${a!.name}: ${JSON.stringify(split.histograms.map((h) => h.labels))}`);
    assert.equal(totalWhere(split, isWrite), WRITES_A, 'writes on disk A');
    assert.ok(totalWhere(split, isRead) >= READS_A, 'reads on disk A');

    const out = ok(text!, '-F -e --disk (text)').stdout;
    const m = /^flags = (\S*Write)\n[\s\S]*?^avg = \d+ usecs, total: \d+ usecs, count: (\d+)$/m.exec(out);
    assert.ok(m, out);
    assert.equal(Number(m[2]), WRITES_B, 'count of the write group on disk B');
    assert.match(out, /^ +usecs +: count +distribution$/m);
    assert.doesNotMatch(out, /Read/, 'nothing was read from disk B');
  });
});

test('biolatency: every hook this kernel supports counts the same writes; -Q and -m', async (t) => {
  if (!requireRoot(t)) return;
  await withLoops(1, async ([a]) => {
    const WRITES = 9;
    const hooks = ['tp_btf', 'raw_tp', 'tracepoint'];
    const tools = await Promise.all([
      ...hooks.map((h) => startTool(['biolatency', '--hook', h, '-F', '--disk', a!.name, '--json'])),
      startTool(['biolatency', '-Q', '-m', '-D', '--disk', a!.name, '--json']),
      // No option reads the disk or the flags: the programs that read neither.
      ...hooks.map((h) => startTool(['biolatency', '--hook', h, '--json'])),
    ]);
    directIo(a!, 'write', WRITES);
    const results = await Promise.all(tools.map((tool) => tool.stop()));
    hooks.forEach((h, i) => {
      const [set] = parseJsonLines(ok(results[i]!, h).stdout);
      assert.ok(set, h);
      assert.equal(totalWhere(set, isWrite), WRITES, `${h}: ${JSON.stringify(set.histograms)}`);
    });
    const [queued] = parseJsonLines(ok(results[3]!, '-Q -m').stdout);
    assert.ok(queued);
    assert.equal(queued.unit, 'msecs');
    assert.ok(totalWhere(queued, (l) => l.disk === a!.name) >= WRITES);
    hooks.forEach((h, i) => {
      const [all] = parseJsonLines(ok(results[4 + i]!, `${h}, no options`).stdout);
      assert.ok(all, h);
      // Every disk of the machine counts here; ours is among them.
      assert.ok(totalWhere(all) >= WRITES, `${h}, no options: ${JSON.stringify(all.histograms)}`);
      assert.deepEqual(all.histograms.map((x) => x.labels), [{}], 'one unlabelled histogram');
    });
  });
});

/**
 * The parameter count of each `btf_trace_<name>` typedef's function prototype in the kernel's BTF
 * (the first parameter is the tracepoint's private data, the rest its arguments): an oracle for
 * the argument counts the tool finds by attaching, read independently from /sys/kernel/btf/vmlinux.
 */
function btfTracepointParams(names: string[]): Map<string, number> {
  const b = readFileSync('/sys/kernel/btf/vmlinux');
  assert.equal(b.readUInt16LE(0), 0xeb9f, 'BTF magic');
  const hdrLen = b.readUInt32LE(4);
  const typeStart = hdrLen + b.readUInt32LE(8);
  const typeEnd = typeStart + b.readUInt32LE(12);
  const strStart = hdrLen + b.readUInt32LE(16);
  const name = (off: number) => b.toString('latin1', strStart + off, b.indexOf(0, strStart + off));
  // Bytes after the 12-byte common header, by kind (include/uapi/linux/btf.h).
  const extra = (kind: number, vlen: number): number =>
    [0, 4, 0, 12, vlen * 12, vlen * 12, vlen * 8, 0, 0, 0, 0, 0, 0, vlen * 8, 4, vlen * 12, 0, 4, 0, vlen * 12][kind] ?? NaN;
  const offsets = [0]; // type ids start at 1
  for (let off = typeStart; off < typeEnd; ) {
    offsets.push(off);
    const info = b.readUInt32LE(off + 4);
    const size = extra((info >>> 24) & 0x1f, info & 0xffff);
    assert.ok(Number.isFinite(size), `unknown BTF kind ${(info >>> 24) & 0x1f}`);
    off += 12 + size;
  }
  const wanted = new Set(names.map((n) => `btf_trace_${n}`));
  const out = new Map<string, number>();
  for (let id = 1; id < offsets.length; id++) {
    const off = offsets[id]!;
    const info = b.readUInt32LE(off + 4);
    if ((info >>> 24) % 32 !== 8 || !wanted.has(name(b.readUInt32LE(off)))) continue; // TYPEDEF
    const ptr = offsets[b.readUInt32LE(off + 8)]!;
    const proto = offsets[b.readUInt32LE(ptr + 8)]!;
    assert.equal(b.readUInt32LE(proto + 4) >>> 24, 13, 'a FUNC_PROTO behind the typedef pointer');
    out.set(name(b.readUInt32LE(off)).slice('btf_trace_'.length), b.readUInt32LE(proto + 4) & 0xffff);
  }
  return out;
}

test('tracepointArgCount: the argument counts the kernel reports by refusing attaches match its BTF', (t) => {
  if (!requireRoot(t)) return;
  // Between them, every answer: 1 (block_rq_issue since 5.11), 2 (sched_process_fork), 3 or more.
  const tracepoints = ['block_rq_issue', 'block_rq_insert', 'block_rq_complete', 'sched_process_fork', 'sched_switch'];
  const params = btfTracepointParams(tracepoints);
  const obj = new (native().BpfObject)(bpfObjectPath('biolatency'));
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, ARG_COUNT_PROGRAMS.includes(p.name));
    obj.load();
    for (const tp of tracepoints) {
      const n = params.get(tp);
      assert.ok(n !== undefined, `btf_trace_${tp} in the kernel's BTF`);
      assert.equal(tracepointArgCount(obj, tp), Math.min(3, n - 1), tp);
    }
  } finally {
    obj.close();
  }
});

test('biolatency: the argument layout of the other kernel generation is refused with its count, never attached', (t) => {
  if (!requireRoot(t)) return;
  const issueArgs = btfTracepointParams(['block_rq_issue']).get('block_rq_issue')! - 1;
  const wrong = issueArgs === 1 ? ['tp_btf (pre-5.11 args)', 'raw_tp (pre-5.11 args)'] : ['tp_btf', 'raw_tp'];
  for (const hook of wrong) {
    const r = runTool(['biolatency', '--hook', hook, '--duration', '1']);
    assert.notEqual(r.status, 0, `${hook} must not attach: ${r.stdout}`);
    // tp_btf's pre-5.11 programs are refused by the verifier already; the others by the count.
    if (hook !== 'tp_btf (pre-5.11 args)') assert.match(r.stderr, new RegExp(`block_rq_issue takes ${issueArgs} argument`), hook);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const r = ok(runTool(['-v', 'biolatency', '--duration', '0.2']), 'the whole chain');
  assert.match(r.stderr, new RegExp(`attached with ${issueArgs === 1 ? 'tp_btf' : 'tp_btf \\(pre-5\\.11 args\\)'}\n`));
});

test('biolatency interval mode: INTERVAL COUNT prints COUNT times, each with -T a timestamp', (t) => {
  if (!requireRoot(t)) return;
  const r = ok(runTool(['biolatency', '-T', '0.3', '3']), 'interval');
  assert.equal(r.stdout.match(/^\d\d:\d\d:\d\d$/gm)?.length, 3, r.stdout);
  const j = ok(runTool(['biolatency', '--json', '0.3', '2']), 'interval json');
  const sets = parseJsonLines(j.stdout);
  assert.equal(sets.length, 2);
  assert.ok(BigInt(sets[1]!.startTimeNs) >= BigInt(sets[0]!.endTimeNs), 'intervals follow each other');
});

test('biolatency bad input: one line on stderr, non-zero exit', (t) => {
  if (!requireRoot(t)) return;
  const cases: [string[], RegExp][] = [
    [['biolatency', '--disk', 'no-such-disk', '1'], /no block device named 'no-such-disk'/],
    [['biolatency', 'soon'], /interval must be a positive number/],
    [['biolatency', '1', 'x'], /count must be a positive integer/],
    [['biolatency', '--hook', 'kprobe', '--duration', '1'], /unknown hook 'kprobe'/],
  ];
  for (const [args, expected] of cases) {
    const r = runTool(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, expected);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
