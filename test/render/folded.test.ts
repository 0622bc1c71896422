import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

import type { Frame, StackProfile, StackRecord } from '../../src/aggregate/model.js';
import {
  FoldedParser,
  foldStack,
  foldStacks,
  foldedToStacks,
  parseFolded,
  parseFoldedAsync,
  parseFoldedLine,
  renderFolded,
} from '../../src/render/folded.js';

const u = (name: string): Frame => ({ name, kind: 'user' });
const k = (name: string): Frame => ({ name, kind: 'kernel' });
const j = (name: string): Frame => ({ name, kind: 'jit' });

function profile(stacks: StackRecord[], unit: StackProfile['unit'] = 'samples'): StackProfile {
  return { kind: unit === 'samples' ? 'cpu' : 'offcpu', unit, startTimeNs: 0n, endTimeNs: 1n, stacks, warnings: [] };
}

const cpu = profile([
  { pid: 1, tid: 1, comm: 'burn', frames: [u('main'), u('work'), u('spin')], value: 50 },
  { pid: 1, tid: 2, comm: 'burn', frames: [u('main'), u('work'), u('spin')], value: 7 }, // same line: merged
  { pid: 1, tid: 1, comm: 'burn', frames: [u('main'), u('write'), k('entry_SYSCALL_64'), k('ksys_write')], value: 3 },
  { pid: 2, tid: 2, comm: 'node', frames: [u('main'), j('LazyCompile:*fib'), u('uv_run')], value: 4 },
  { pid: 3, tid: 3, comm: 'idle', frames: [], value: 1 },
]);

describe('renderFolded', () => {
  it('writes one sorted, merged line per stack, root first, kernel frames _[k]', () => {
    assert.equal(
      renderFolded(cpu),
      [
        'burn;main;work;spin 57',
        'burn;main;write;entry_SYSCALL_64_[k];ksys_write_[k] 3',
        'idle 1',
        'node;main;LazyCompile:*fib_[j];uv_run 4',
        '',
      ].join('\n'),
    );
  });

  it('BCC -d delimiter goes between the user and the kernel part only', () => {
    const lines = renderFolded(cpu, { delimiter: '-' }).split('\n');
    assert.equal(lines[1], 'burn;main;write;-;entry_SYSCALL_64_[k];ksys_write_[k] 3');
    assert.equal(lines[0], 'burn;main;work;spin 57');
    const kernelOnly = foldStack({ pid: 1, tid: 1, comm: 'k', frames: [k('a'), k('b')], value: 1 }, { delimiter: '-' });
    assert.equal(kernelOnly, 'k;a_[k];b_[k]');
  });

  it('without comm, with comm-pid, without annotations', () => {
    assert.deepEqual(renderFolded(cpu, { includeComm: false }).split('\n'), [
      '[unknown] 1',
      'main;LazyCompile:*fib_[j];uv_run 4',
      'main;work;spin 57',
      'main;write;entry_SYSCALL_64_[k];ksys_write_[k] 3',
      '',
    ]);
    assert.equal(renderFolded(cpu, { includePid: true }).split('\n')[0], 'burn-1;main;work;spin 57');
    assert.equal(renderFolded(cpu, { annotate: false }).split('\n')[1], 'burn;main;write;entry_SYSCALL_64;ksys_write 3');
  });

  it('off-CPU: nanoseconds summed, then weighted in microseconds (rounded), zeros dropped', () => {
    const off = profile(
      [
        { pid: 1, tid: 1, comm: 'sleep', frames: [u('main'), k('schedule')], value: 1_499_600, count: 2 },
        { pid: 1, tid: 2, comm: 'sleep', frames: [u('main'), k('schedule')], value: 1_000, count: 1 },
        { pid: 1, tid: 1, comm: 'sleep', frames: [u('tiny')], value: 499, count: 1 },
        { pid: 1, tid: 1, comm: 'sleep', frames: [u('half')], value: 300, count: 1 },
        { pid: 1, tid: 2, comm: 'sleep', frames: [u('half')], value: 300, count: 1 },
      ],
      'nanoseconds',
    );
    assert.equal(renderFolded(off), 'sleep;half 1\nsleep;main;schedule_[k] 1501\n');
    assert.equal(renderFolded(off, { divisor: 1 }).split('\n').length, 4);
    assert.throws(() => foldStacks(off.stacks, { divisor: 0 }), RangeError);
  });

  it('sorts by the folded string in code-unit order (like LC_ALL=C sort)', () => {
    const e = foldStacks([
      { pid: 1, tid: 1, comm: 'b', frames: [], value: 1 },
      { pid: 1, tid: 1, comm: 'B', frames: [], value: 1 },
      { pid: 1, tid: 1, comm: 'a', frames: [u('z')], value: 1 },
      { pid: 1, tid: 1, comm: 'a', frames: [u('Z')], value: 1 },
    ]);
    assert.deepEqual(
      e.map((x) => x.stack),
      ['B', 'a;Z', 'a;z', 'b'],
    );
  });

  it('hostile names cannot break the format', () => {
    const evil = profile([
      {
        pid: 6,
        tid: 6,
        comm: 'x;y\nz',
        frames: [u('a;b'), u('line\nbreak 99'), u('\x1b[31mred\x1b[0m'), u('<img src=x onerror=alert(1)>'), u(''), u('tab\there 5')],
        value: 2,
      },
    ]);
    const text = renderFolded(evil);
    assert.equal(
      text,
      'x:y\\x0az;a:b;line\\x0abreak 99;\\x1b[31mred\\x1b[0m;<img src=x onerror=alert(1)>;[unknown];tab\\x09here 5 2\n',
    );
    assert.equal(text.split('\n').length, 2, 'exactly one line');
    assert.ok(!/[\x00-\x08\x0a-\x1f\x7f]/.test(text.slice(0, -1)));
    const parsed = parseFolded(text);
    assert.deepEqual(parsed.errors, []);
    assert.equal(parsed.records[0]!.value, 2, 'count is the last field even when a name ends in digits');
    assert.equal(parsed.records[0]!.frames.length, 7);
    assert.equal(parsed.records[0]!.frames[6], 'tab\\x09here 5');
  });
});

/**
 * The folded output as specified, built the plain way: each record's line as a string, merged in
 * a Map by that string, sorted by it. renderFolded merges and sorts by field ids instead.
 */
function referenceFolded(stacks: readonly StackRecord[], divisor = 1): string {
  const sums = new Map<string, number>();
  for (const r of stacks) {
    const key = foldStack(r);
    sums.set(key, (sums.get(key) ?? 0) + r.value);
  }
  const lines: [string, number][] = [];
  for (const [stack, raw] of sums) {
    const value = Math.round(raw / divisor);
    if (value > 0) lines.push([stack, value]);
  }
  lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return lines.map(([stack, value]) => `${stack} ${value}\n`).join('');
}

describe('renderFolded merging and order', () => {
  it('equals the plain string-keyed fold on random stacks whose names are prefixes of each other, sanitize alike or need escaping', () => {
    // Names chosen so that the merge and the order hinge on the cases the field-id comparison
    // must get right: a name that is a prefix of another (`a` < `a:x` < `a;`... as joined
    // lines), names that sanitize to the same text (`a;b` and `a:b`), `_[k]` look-alikes,
    // escapes, empty names, non-ASCII and astral characters.
    const names = ['a', 'a:x', 'a;x', 'a:', 'ab', 'a b', 'b', 'b_[k]', 'x\ny', '', '[unknown]', 'Grüße', '函数', '🔥', 'a\u202e', 'z'];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const kinds: Frame['kind'][] = ['user', 'user', 'kernel', 'jit', 'marker'];
    const frames = names.flatMap((n) => kinds.map((kind) => ({ name: n, kind })));
    const stacks: StackRecord[] = [];
    for (let i = 0; i < 3000; i++) {
      const depth = rnd(6);
      const fs: Frame[] = [];
      for (let d = 0; d < depth; d++) fs.push(frames[rnd(frames.length)]!);
      stacks.push({ pid: 1 + rnd(3), tid: 1, comm: ['w', 'w;x', 'w:x', ''][rnd(4)]!, frames: fs, value: 1 + rnd(5) });
    }
    assert.equal(renderFolded(profile(stacks)), referenceFolded(stacks));
    assert.equal(renderFolded(profile(stacks, 'nanoseconds')), referenceFolded(stacks, 1000));
    assert.deepEqual(
      foldStacks(stacks).map((e) => `${e.stack} ${e.value}\n`).join(''),
      referenceFolded(stacks),
    );
  });

  it('a line that is a prefix of another sorts first; `;` orders after `:` as a byte', () => {
    const stacks: StackRecord[] = [
      { pid: 1, tid: 1, comm: 'c', frames: [u('a'), u('x')], value: 1 },
      { pid: 1, tid: 1, comm: 'c', frames: [u('a:x')], value: 1 },
      { pid: 1, tid: 1, comm: 'c', frames: [u('a')], value: 1 },
      { pid: 1, tid: 1, comm: 'c', frames: [u('a;x')], value: 2 }, // sanitizes to a:x: merged
    ];
    assert.equal(renderFolded(profile(stacks)), 'c;a 1\nc;a:x 3\nc;a;x 1\n');
  });

  it('frames shared between records (as resolveStacks returns them) fold like copies', () => {
    const shared = [u('main'), u('work'), k('sys')];
    const stacks: StackRecord[] = [
      { pid: 1, tid: 1, comm: 'p', frames: [shared[0]!, shared[1]!, shared[2]!], value: 2 },
      { pid: 1, tid: 2, comm: 'p', frames: [shared[0]!, shared[1]!, shared[2]!], value: 3 },
      { pid: 1, tid: 1, comm: 'p', frames: [shared[0]!, { ...shared[1]! }, shared[2]!], value: 1 },
    ];
    assert.equal(renderFolded(profile(stacks)), 'p;main;work;sys_[k] 6\n');
  });
});

describe('parseFolded', () => {
  it('round-trips our output exactly', () => {
    const text = renderFolded(cpu, { delimiter: '-' });
    const { records, errors } = parseFolded(text);
    assert.deepEqual(errors, []);
    assert.equal(records.length, 4);
    assert.deepEqual(records[1], {
      frames: ['burn', 'main', 'write', '-', 'entry_SYSCALL_64_[k]', 'ksys_write_[k]'],
      value: 3,
      line: 2,
    });
    const stacks = foldedToStacks(records);
    assert.deepEqual(stacks[1]!.frames, [u('main'), u('write'), k('entry_SYSCALL_64'), k('ksys_write')]);
    assert.deepEqual(stacks[3]!.frames, [u('main'), j('LazyCompile:*fib'), u('uv_run')]);
    assert.equal(renderFolded(profile(stacks), { delimiter: '-' }), text);
    assert.equal(renderFolded(profile(stacks)), renderFolded(cpu));
  });

  it('reports malformed lines with their line numbers and keeps the good ones', () => {
    const text = [
      'a;b 1',
      'no-count',
      'a;b 1.5',
      '',
      'a;;b 2',
      ';a 2',
      'a; 2',
      ' 3',
      'a;b -1',
      'a;b 99999999999999999999',
      'ok;line 7\r',
      'ctl\x01char 1',
      'a;b\t4',
      'last 8',
    ].join('\n');
    const { records, errors } = parseFolded(text);
    assert.deepEqual(
      records.map((r) => [r.line, r.frames.join('|'), r.value]),
      [
        [1, 'a|b', 1],
        [11, 'ok|line', 7],
        [14, 'last', 8],
      ],
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [2, 3, 5, 6, 7, 8, 9, 10, 12, 13],
    );
    for (const e of errors) assert.ok(!/[\x00-\x1f]/.test(e.text), 'error text is printable');
    assert.match(errors[0]!.reason, /no count/);
  });

  it('accepts an iterable of lines, and chunks split anywhere', () => {
    const lines = ['x;y 1', 'x;z 2'];
    assert.equal(parseFolded(lines).records.length, 2);
    const p = new FoldedParser();
    for (const chunk of ['x;', 'y 1\nx', ';z', ' 2', '\n', 'tail 3']) p.write(chunk);
    p.end();
    assert.deepEqual(
      p.records.map((r) => [r.line, r.frames.join(';'), r.value]),
      [
        [1, 'x;y', 1],
        [2, 'x;z', 2],
        [3, 'tail', 3],
      ],
    );
    assert.equal(p.lines, 3);
  });

  it('streams with a callback instead of accumulating', async () => {
    const seen: number[] = [];
    const rl = createInterface({ input: Readable.from(['a 1\nb 2\n', 'c x\nd 4\n']), crlfDelay: Infinity });
    const res = await parseFoldedAsync(rl, (r) => seen.push(r.value));
    assert.deepEqual(seen, [1, 2, 4]);
    assert.deepEqual(res.records, []);
    assert.deepEqual(
      res.errors.map((e) => e.line),
      [3],
    );
  });

  it('parseFoldedLine: blank lines are neither records nor errors', () => {
    assert.deepEqual(parseFoldedLine('   ', 1), { kind: 'blank' });
    assert.deepEqual(parseFoldedLine('\r\n', 1), { kind: 'blank' });
    assert.equal(parseFoldedLine('a 0', 1).kind, 'record');
  });
});
