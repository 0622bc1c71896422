// The checksum of the V8 code cache file (src/util/word-checksum.ts): what damage it must catch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsChecksum, wasmChecksum, wordChecksum } from '../../src/util/word-checksum.js';

function sample(length: number): Uint8Array {
  const b = new Uint8Array(length);
  let x = 12345;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('any one changed byte, at any position and of any value, changes the checksum', () => {
  const data = sample(1027); // not a multiple of 4: the tail counts too
  const sum = wordChecksum(data);
  for (let i = 0; i < data.length; i++) {
    for (const flip of [0x01, 0x80, 0xff]) {
      const damaged = Uint8Array.from(data);
      damaged[i]! ^= flip;
      assert.notEqual(wordChecksum(damaged), sum, `byte ${i} ^ ${flip}`);
    }
  }
});

test('words swapped, zero bytes appended, the file cut short: all change it', () => {
  const data = sample(4096);
  const sum = wordChecksum(data);
  const swapped = Uint8Array.from(data);
  swapped.set(data.subarray(100, 104), 200);
  swapped.set(data.subarray(200, 204), 100);
  assert.notEqual(wordChecksum(swapped), sum);
  for (const extra of [1, 3, 4, 8]) {
    const longer = new Uint8Array(data.length + extra);
    longer.set(data);
    assert.notEqual(wordChecksum(longer), sum, `${extra} zero bytes appended`);
  }
  for (const cut of [1, 4, 1000]) assert.notEqual(wordChecksum(data.subarray(0, data.length - cut)), sum, `${cut} bytes cut`);
  assert.notEqual(wordChecksum(new Uint8Array(8)), wordChecksum(new Uint8Array(4)), 'zeros of two lengths');
});

test('the same bytes give the same checksum at any alignment', () => {
  const data = sample(999);
  const sum = wordChecksum(data);
  for (let offset = 1; offset < 4; offset++) {
    const holder = new Uint8Array(data.length + offset);
    holder.set(data, offset);
    assert.equal(wordChecksum(holder.subarray(offset)), sum, `offset ${offset}`);
  }
});

test('the WebAssembly loop and the JS loop agree, at every length, alignment and size', () => {
  // Large inputs take the WebAssembly loop (files written by one run are read by the next, which
  // may take the other path only if WebAssembly went missing): the two must be one function.
  for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 1027, 4096, 65535, 65536, 65537, 200_003, 300_000]) {
    const data = sample(length);
    const js = jsChecksum(data);
    assert.equal(wasmChecksum(data), js, `length ${length}`);
    assert.equal(wordChecksum(data), js, `length ${length}, by size`);
    const holder = new Uint8Array(length + 3);
    holder.set(data, 3);
    assert.equal(wasmChecksum(holder.subarray(3)), js, `length ${length} at offset 3`);
  }
  // All ones: every add carries, and the sums wrap many times over.
  const ones = new Uint8Array(150_001).fill(0xff);
  assert.equal(wasmChecksum(ones), jsChecksum(ones));
  // A smaller input after a larger one: only the first `length` bytes of the memory count.
  assert.equal(wasmChecksum(sample(10)), jsChecksum(sample(10)));
});

test('the checksum is a fixed function of the bytes: a known value', () => {
  // Pins the scheme (little-endian words, tail bytes + 1, the length): files written by earlier
  // builds stay readable, and a change of the scheme is a deliberate one (bump the file format).
  assert.equal(jsChecksum(Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0, 3])), 0x001b0010);
});
