import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressMap } from '../../src/symbolize/address-map.js';

/** Deterministic pseudo-random numbers (same sequence every run). */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('AddressMap behaves as a Map<bigint> under random sets, overwrites, gets and deletes (growth and reuse of deleted slots)', () => {
  const rand = rng(3);
  // Clustered user addresses (the fast table), neighbours that differ in the last bit, and
  // addresses at and above 2^53 (the vsyscall page, kernel addresses: the fallback Map).
  const pool: bigint[] = [];
  for (let i = 0; i < 3000; i++) pool.push(0x55d4a0000000n + BigInt(Math.floor(rand() * 0x4000000)));
  for (let i = 0; i < 200; i++) pool.push(pool[i]! + 1n);
  pool.push(0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 0xffffffffff600000n, 0xffffffff81000000n, 2n ** 64n - 1n);
  const ours = new AddressMap<number>();
  const ref = new Map<bigint, number>();
  for (let step = 0; step < 60000; step++) {
    const a = pool[Math.floor(rand() * pool.length)]!;
    const r = rand();
    if (r < 0.5) {
      ours.set(a, step);
      ref.set(a, step);
    } else if (r < 0.65) {
      assert.equal(ours.delete(a), ref.delete(a), `delete ${a}`);
    } else {
      assert.equal(ours.get(a), ref.get(a), `get ${a}`);
    }
    if (step % 5000 === 0) assert.equal(ours.size, ref.size);
  }
  for (const a of pool) assert.equal(ours.get(a), ref.get(a), `final get ${a}`);
  assert.equal(ours.size, ref.size);
});

test('AddressMap keeps 2^53 and 2^53 + 1 apart (no precision loss), and misses unknown keys', () => {
  const m = new AddressMap<string>();
  m.set(2n ** 53n, 'a');
  m.set(2n ** 53n + 1n, 'b');
  m.set(2n ** 53n - 1n, 'c');
  assert.equal(m.get(2n ** 53n), 'a');
  assert.equal(m.get(2n ** 53n + 1n), 'b');
  assert.equal(m.get(2n ** 53n - 1n), 'c');
  assert.equal(m.get(12345n), undefined);
  assert.equal(m.delete(12345n), false);
  assert.equal(m.size, 3);
});
