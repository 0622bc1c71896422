// biolatency end to end, for real: O_DIRECT reads and writes (dd) on loop devices this test
// creates, traced by the tool through its CLI; the counts per disk and per flag set must be what
// was issued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { requireRoot } from '../helpers.js';
import { parseJsonLines, runTool, startTool, totalWhere, type ToolResult } from '../tool-runner.js';

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
  });
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
