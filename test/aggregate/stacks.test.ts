import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Frame, StackProfile, StackRecord } from '../../src/aggregate/model.js';
import {
  compareStacks,
  filterFrames,
  functionStats,
  mergeStacks,
  percent,
  summarize,
  topFunctions,
  topStacks,
  totalCount,
  totalValue,
} from '../../src/aggregate/stacks.js';

const u = (name: string): Frame => ({ name, kind: 'user' });
const k = (name: string): Frame => ({ name, kind: 'kernel' });

function rec(pid: number, tid: number, comm: string, frames: Frame[], value: number, count?: number): StackRecord {
  const r: StackRecord = { pid, tid, comm, frames, value };
  if (count !== undefined) r.count = count;
  return r;
}

describe('mergeStacks', () => {
  const stacks = [
    rec(10, 11, 'worker', [u('main'), u('spin')], 5),
    rec(10, 12, 'worker', [u('main'), u('spin')], 7),
    rec(10, 13, 'other', [u('main'), u('spin')], 1),
    rec(20, 20, 'worker', [u('main'), u('spin')], 2),
    rec(10, 11, 'worker', [u('main'), k('spin')], 3),
  ];

  it('by default merges threads of a process with the same comm and frames', () => {
    const m = mergeStacks(stacks);
    assert.equal(m.length, 4);
    assert.deepEqual(
      m.map((r) => [r.pid, r.tid, r.comm, r.value]),
      [
        [10, 10, 'worker', 12], // two threads merged: tid becomes the pid
        [10, 13, 'other', 1],
        [20, 20, 'worker', 2],
        [10, 11, 'worker', 3], // kernel `spin` differs from user `spin`
      ],
    );
  });

  it('keyed by tid keeps threads apart', () => {
    assert.equal(mergeStacks(stacks, { tid: true }).length, 5);
  });

  it('keyed by pid only merges comms and picks the main-thread comm when present', () => {
    const m = mergeStacks(
      [rec(10, 11, 'worker', [u('x')], 1), rec(10, 10, 'server', [u('x')], 1), rec(10, 12, 'io', [u('x')], 1)],
      { pid: true, comm: false },
    );
    assert.equal(m.length, 1);
    assert.deepEqual([m[0]!.pid, m[0]!.tid, m[0]!.comm, m[0]!.value], [10, 10, 'server', 3]);
  });

  it('keyed by comm only merges processes (pid becomes 0)', () => {
    const m = mergeStacks(stacks, { pid: false, comm: true });
    assert.equal(m[0]!.value, 14);
    assert.equal(m[0]!.pid, 0);
  });

  it('sums counts and does not mutate the input', () => {
    const input = [rec(1, 1, 'a', [u('f')], 100, 2), rec(1, 2, 'a', [u('f')], 50, 3)];
    const m = mergeStacks(input);
    assert.equal(m[0]!.value, 150);
    assert.equal(m[0]!.count, 5);
    assert.equal(input[0]!.value, 100);
    assert.equal(input[0]!.count, 2);
  });
});

describe('functionStats / topFunctions', () => {
  // total = 100
  const stacks = [
    rec(1, 1, 'a', [u('main'), u('work'), u('spin')], 50),
    rec(1, 1, 'a', [u('main'), u('work'), k('sys_write')], 30),
    // recursion: fib appears 3 times but counts once for total
    rec(1, 1, 'a', [u('main'), u('fib'), u('fib'), u('fib')], 15),
    rec(1, 1, 'a', [], 5), // no stack: counts toward the total only
  ];

  it('computes self and total with percentages of the profile total', () => {
    const s = functionStats(stacks);
    const by = new Map(s.map((x) => [`${x.kind}:${x.name}`, x]));
    assert.equal(by.get('user:spin')!.self, 50);
    assert.equal(by.get('user:spin')!.selfPercent, 50);
    assert.equal(by.get('user:main')!.self, 0);
    assert.equal(by.get('user:main')!.total, 95);
    assert.equal(by.get('user:main')!.totalPercent, 95);
    assert.equal(by.get('user:work')!.total, 80);
    assert.equal(by.get('kernel:sys_write')!.selfPercent, 30);
    assert.equal(by.get('user:fib')!.total, 15, 'recursive function counted once per stack');
    assert.equal(by.get('user:fib')!.self, 15);
    assert.equal(by.get('user:fib')!.totalPercent, 15);
    assert.equal(s[0]!.name, 'spin', 'sorted by self by default');
  });

  it('top-N by self leaves out zero-self functions; by total ranks inclusive value', () => {
    assert.deepEqual(
      topFunctions(stacks, 10, 'self').map((f) => f.name),
      ['spin', 'sys_write', 'fib'],
    );
    assert.deepEqual(
      topFunctions(stacks, 2, 'total').map((f) => [f.name, f.total]),
      [
        ['main', 95],
        ['work', 80],
      ],
    );
  });

  it('carries block counts when records have them', () => {
    const s = functionStats([rec(1, 1, 'a', [u('main'), u('read')], 1000, 4), rec(1, 1, 'a', [u('main'), u('poll')], 3000, 1)]);
    const main = s.find((x) => x.name === 'main')!;
    assert.equal(main.totalCount, 5);
    assert.equal(main.selfCount, 0);
    assert.equal(s.find((x) => x.name === 'read')!.selfCount, 4);
    assert.equal(functionStats(stacks)[0]!.selfCount, undefined);
  });
});

describe('topStacks, totals, ordering', () => {
  const stacks = [rec(2, 2, 'b', [u('x')], 10), rec(1, 1, 'a', [u('y')], 30), rec(1, 1, 'a', [u('x')], 10)];

  it('ranks by value then deterministic tie-breaks', () => {
    const t = topStacks(stacks);
    assert.deepEqual(
      t.map((s) => [s.record.pid, s.record.frames[0]!.name, s.percent]),
      [
        [1, 'y', 60],
        [1, 'x', 20],
        [2, 'x', 20],
      ],
    );
    assert.equal(topStacks(stacks, 1).length, 1);
    assert.equal(compareStacks(stacks[0]!, stacks[0]!), 0);
  });

  it('totals and percent', () => {
    assert.equal(totalValue(stacks), 50);
    assert.equal(totalCount(stacks), undefined);
    assert.equal(totalCount([rec(1, 1, 'a', [], 1, 3), rec(1, 1, 'a', [], 1)]), 3);
    assert.equal(percent(1, 0), 0);
    assert.equal(percent(1, 4), 25);
  });
});

describe('filterFrames', () => {
  const stacks = [
    rec(1, 1, 'a', [u('main'), u('write'), k('entry_SYSCALL_64'), k('ksys_write')], 3),
    rec(1, 1, 'a', [k('irq')], 2),
  ];

  it('-U keeps user frames only; empty records keep their value unless dropEmpty', () => {
    const f = filterFrames(stacks, { kernel: false });
    assert.deepEqual(f[0]!.frames.map((x) => x.name), ['main', 'write']);
    assert.deepEqual(f[1]!.frames, []);
    assert.equal(f[1]!.value, 2);
    assert.equal(filterFrames(stacks, { kernel: false, dropEmpty: true }).length, 1);
  });

  it('-K keeps kernel frames only and leaves the input alone', () => {
    const f = filterFrames(stacks, { user: false });
    assert.deepEqual(f[0]!.frames.map((x) => x.name), ['entry_SYSCALL_64', 'ksys_write']);
    assert.equal(stacks[0]!.frames.length, 4);
  });
});

describe('summarize', () => {
  it('counts processes, threads, duration', () => {
    const p: StackProfile = {
      kind: 'offcpu',
      unit: 'nanoseconds',
      startTimeNs: 1_000n,
      endTimeNs: 5_000n,
      warnings: [],
      stacks: [rec(1, 1, 'a', [], 10, 1), rec(1, 2, 'a', [], 20, 2), rec(3, 3, 'c', [], 30, 3)],
    };
    assert.deepEqual(summarize(p), { total: 60, count: 6, stacks: 3, processes: 2, threads: 3, durationNs: 4_000n });
  });
});
