// A checksum for files read at every start, before anything else is loaded: the V8 code cache
// (~200 KB). CRC-32 needs node:zlib for speed, and loading node:zlib (which brings node:stream)
// costs ~8 ms of CPU, more than biolatency and tcprtt spend on anything else of their own; the
// byte-wise JS CRC takes ~4.5 ms for 200 KB in the interpreter, where nearly all of a start-up
// runs. This sums 32-bit words instead, a quarter of the loop turns: ~2 ms for 200 KB.
//
// Fletcher's scheme over native-endian 32-bit words (the files never leave the machine), both sums modulo 2^32: `a` catches any
// changed word, `b` (the sum of the running `a`s) also catches words that moved. Damage is what
// it is for (a truncated or overwritten file), not an adversary: the files are root-only.

/** The checksum of `data` (any length, any alignment), as one unsigned 32-bit number. */
export function wordChecksum(data: Uint8Array): number {
  const words = data.length >>> 2;
  // An Int32Array view needs 4-byte alignment; a file read whole into its own buffer has it.
  const aligned = (data.byteOffset & 3) === 0 ? data : Uint8Array.from(data);
  const view = new Int32Array(aligned.buffer, aligned.byteOffset, words);
  let a = 0;
  let b = 0;
  for (let i = 0; i < words; i++) {
    a = (a + view[i]!) | 0;
    b = (b + a) | 0;
  }
  // The trailing bytes, and the length: zero bytes appended to a file must change the result.
  for (let i = words << 2; i < aligned.length; i++) {
    a = (a + aligned[i]! + 1) | 0;
    b = (b + a) | 0;
  }
  a = (a + aligned.length) | 0;
  b = (b + a) | 0;
  return (a ^ ((b << 16) | (b >>> 16))) >>> 0;
}
