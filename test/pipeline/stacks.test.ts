import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from '../../src/aggregate/model.js';
import type { RawStack } from '../../src/bpf/stacks.js';
import { resolveStacks } from '../../src/pipeline/stacks.js';
import type { Symbolizer } from '../../src/symbolize/index.js';

/**
 * The two Symbolizer methods resolveStacks uses, recording what it asks. User frames are named
 * after the address looked up (`u<hex>`); kernel frames too (`k<hex>`), except 0xdead, which no
 * symbol covers.
 */
class FakeSymbolizer {
  readonly kernelAsked: bigint[][] = [];
  readonly userAsked: { pid: number; ips: bigint[]; exact: number[] | undefined }[] = [];

  userStackFrames(pid: number, ips: readonly bigint[], exact: readonly number[] | undefined, out: Frame[], start: number): void {
    this.userAsked.push({ pid, ips: [...ips], exact: exact ? [...exact] : undefined });
    ips.forEach((ip, i) => {
      const lookup = i === 0 || ip === 0n || exact?.includes(i) ? ip : ip - 1n;
      out[start + ips.length - 1 - i] = { name: `u${lookup.toString(16)}`, kind: 'user', address: ip };
    });
  }

  symbolizeKernel(addresses: readonly bigint[]): Frame[] {
    this.kernelAsked.push([...addresses]);
    return addresses.map((a) =>
      a === 0xdeadn ? { name: '[unknown]', kind: 'kernel', address: a } : { name: `k${a.toString(16)}`, kind: 'kernel', address: a, module: '[kernel.kallsyms]' },
    );
  }
}

function resolve(raw: RawStack[], fake: FakeSymbolizer) {
  return resolveStacks(raw, fake as unknown as Symbolizer);
}

const stack = (s: Partial<RawStack>): RawStack => ({ pid: 7, tid: 8, comm: 'app', user: null, kernel: null, value: 1, ...s });

test('frames run root first: user (outermost caller first), then kernel; return addresses looked up at address - 1, reported as sampled', () => {
  const fake = new FakeSymbolizer();
  const [r] = resolve([stack({ user: [0x100n, 0x200n, 0x300n], kernel: [0xa00n, 0xb00n, 0n], value: 5, count: 2 })], fake);
  assert.deepEqual(r, {
    pid: 7,
    tid: 8,
    comm: 'app',
    frames: [
      { name: 'u2ff', kind: 'user', address: 0x300n },
      { name: 'u1ff', kind: 'user', address: 0x200n },
      { name: 'u100', kind: 'user', address: 0x100n },
      { name: 'k0', kind: 'kernel', address: 0n, module: '[kernel.kallsyms]' },
      { name: 'kaff', kind: 'kernel', address: 0xb00n, module: '[kernel.kallsyms]' },
      { name: 'ka00', kind: 'kernel', address: 0xa00n, module: '[kernel.kallsyms]' },
    ],
    value: 5,
    count: 2,
  });
  assert.deepEqual(fake.kernelAsked, [[0xa00n, 0xaffn, 0n]]);
});

test('markers: an unwinding stop marker starts the user part; dropped stacks show as markers', () => {
  const fake = new FakeSymbolizer();
  const out = resolve(
    [
      stack({ user: [0x10n, 0x20n], userStop: '[truncated: no CFI]', userExact: [1] }),
      stack({ user: 'lost', userStop: '[ignored]', kernel: 'lost' }),
      stack({ user: null, kernel: null }),
    ],
    fake,
  );
  assert.deepEqual(
    out.map((r) => r.frames.map((f) => `${f.kind}:${f.name}`)),
    [['marker:[truncated: no CFI]', 'user:u20', 'user:u10'], ['marker:[Missed User Stack]', 'marker:[Missed Kernel Stack]'], []],
  );
  assert.deepEqual(fake.userAsked, [{ pid: 7, ips: [0x10n, 0x20n], exact: [1] }]);
  assert.equal(out[0]!.count, undefined);
});

test('kernel frames are asked for once per address and shared; [unknown] ones are asked for again', () => {
  const fake = new FakeSymbolizer();
  const out = resolve(
    [stack({ kernel: [0xa00n, 0xb00n, 0xdeaen] }), stack({ kernel: [0xa00n, 0xb00n, 0xdeaen] }), stack({ kernel: [] }), stack({ kernel: [0xb00n] })],
    fake,
  );
  // 0xdeae is a return address: looked up at 0xdead, which resolves to nothing.
  assert.deepEqual(fake.kernelAsked, [[0xa00n, 0xaffn, 0xdeadn], [0xdeadn], [], [0xb00n]]);
  const [a, b] = out;
  assert.equal(a!.frames[1], b!.frames[1], 'same object for the same return address');
  assert.equal(a!.frames[2], b!.frames[2], 'same object for the same leaf');
  assert.notEqual(a!.frames[0], b!.frames[0], '[unknown] frames are not shared');
  assert.deepEqual(a!.frames[0], { name: '[unknown]', kind: 'kernel', address: 0xdeaen });
  // The same address as a leaf is looked up as sampled: another frame than as a return address.
  assert.deepEqual(out[3]!.frames, [{ name: 'kb00', kind: 'kernel', address: 0xb00n, module: '[kernel.kallsyms]' }]);
  assert.deepEqual(a!.frames[1], { name: 'kaff', kind: 'kernel', address: 0xb00n, module: '[kernel.kallsyms]' });
});
