// A checksum for files read at every start, before anything else is loaded: the V8 code cache
// (~200 KB). CRC-32 needs node:zlib for speed, and loading node:zlib (which brings node:stream)
// costs ~8 ms of CPU, more than biolatency and tcprtt spend on anything else of their own; the
// byte-wise JS CRC takes ~4.5 ms for 200 KB in the interpreter, where nearly all of a start-up
// runs. This sums 32-bit words instead, a quarter of the loop turns, and for large inputs runs the
// loop as WebAssembly (below): ~0.5 ms for 200 KB with the module's set-up, against 2-3 ms for the
// same loop in the interpreter.
//
// Fletcher's scheme over little-endian 32-bit words, both sums modulo 2^32: `a` catches any
// changed word, `b` (the sum of the running `a`s) also catches words that moved. Damage is what
// it is for (a truncated or overwritten file), not an adversary: the files are root-only.

/** Inputs from this size on are summed by the WebAssembly loop; below, the JS loop costs less than its set-up. */
const WASM_FROM_BYTES = 64 << 10;

/** The checksum of `data` (any length, any alignment), as one unsigned 32-bit number. */
export function wordChecksum(data: Uint8Array): number {
  if (data.length >= WASM_FROM_BYTES) {
    const sum = wasmChecksum(data);
    if (sum !== undefined) return sum;
  }
  return jsChecksum(data);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The checksum in JS. Exported for the tests, which hold the two implementations to one result. */
export function jsChecksum(data: Uint8Array): number {
  const words = data.length >>> 2;
  let a = 0;
  let b = 0;
  if (LITTLE_ENDIAN) {
    // An Int32Array view needs 4-byte alignment; a file read whole into its own buffer has it.
    const aligned = (data.byteOffset & 3) === 0 ? data : Uint8Array.from(data);
    const view = new Int32Array(aligned.buffer, aligned.byteOffset, words);
    for (let i = 0; i < words; i++) {
      a = (a + view[i]!) | 0;
      b = (b + a) | 0;
    }
  } else {
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < words; i++) {
      a = (a + view.getInt32(i << 2, true)) | 0;
      b = (b + a) | 0;
    }
  }
  // The trailing bytes, and the length: zero bytes appended to a file must change the result.
  for (let i = words << 2; i < data.length; i++) {
    a = (a + data[i]! + 1) | 0;
    b = (b + a) | 0;
  }
  a = (a + data.length) | 0;
  b = (b + a) | 0;
  return (a ^ ((b << 16) | (b >>> 16))) >>> 0;
}

// The little of WebAssembly used here: the project's TypeScript libraries (ES2022, Node's types)
// do not declare it.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

interface ChecksumModule {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  /** The checksum of the first `length` bytes of `memory`, as a signed 32-bit number. */
  sum: (length: number) => number;
}

/** The instantiated module; null once it proved unavailable (no WebAssembly, as under --jitless). */
let wasm: ChecksumModule | null | undefined;

/** The checksum by the WebAssembly loop, or undefined when WebAssembly is unavailable. */
export function wasmChecksum(data: Uint8Array): number | undefined {
  if (wasm === undefined) wasm = instantiate();
  if (wasm === null) return undefined;
  const pages = Math.ceil(data.length / 65536) - wasm.memory.buffer.byteLength / 65536;
  if (pages > 0) wasm.memory.grow(pages);
  new Uint8Array(wasm.memory.buffer).set(data);
  return wasm.sum(data.length) >>> 0;
}

function instantiate(): ChecksumModule | null {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(CHECKSUM_WASM));
    const { memory, sum } = instance.exports as unknown as ChecksumModule;
    return { memory, sum };
  } catch {
    return null;
  }
}

// The module, assembled here from its instructions (the text format beside each line), so that
// what runs can be read: one function `sum(length) -> i32` over an exported memory, computing
// exactly jsChecksum above. Locals: 0 length, 1 i, 2 a, 3 b, 4 end of the whole words.
const I32 = 0x7f;
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  load: 0x28,
  load8u: 0x2d,
  const: 0x41,
  geU: 0x4f,
  add: 0x6a,
  and: 0x71,
  xor: 0x73,
  rotl: 0x77,
  void: 0x40,
};
const LENGTH = 0;
const I = 1;
const A = 2;
const B = 3;
const END = 4;

/** `b = b + a` after `a` was updated, and `i += step`, then round the loop again. */
const step = (size: number): number[] => [
  op.tee, A, op.get, B, op.add, op.set, B, // b += (a = ...)
  op.get, I, op.const, size, op.add, op.set, I, // i += size
  op.br, 0,
];

const body = [
  1, 4, I32, // four i32 locals
  op.get, LENGTH, op.const, 0x7c, op.and, op.set, END, // end = length & -4
  op.block, op.void, op.loop, op.void, //   the whole words
  op.get, I, op.get, END, op.geU, op.brIf, 1, // while i < end
  op.get, A, op.get, I, op.load, 2, 0, op.add, // a + load32(i)
  ...step(4),
  op.end, op.end,
  op.block, op.void, op.loop, op.void, // the trailing bytes
  op.get, I, op.get, LENGTH, op.geU, op.brIf, 1, // while i < length
  op.get, A, op.get, I, op.load8u, 0, 0, op.add, op.const, 1, op.add, // a + load8(i) + 1
  ...step(1),
  op.end, op.end,
  op.get, A, op.get, LENGTH, op.add, op.tee, A, op.get, B, op.add, op.set, B, // b += (a += length)
  op.get, A, op.get, B, op.const, 16, op.rotl, op.xor, // a ^ rotl(b, 16)
  op.end,
];

/** Unsigned LEB128, as the module format writes sizes and counts. */
function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

const section = (id: number, content: number[]): number[] => [id, ...leb128(content.length), ...content];
const name = (text: string): number[] => [text.length, ...Array.from(text, (c) => c.charCodeAt(0))];

const CHECKSUM_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  ...section(1, [1, 0x60, 1, I32, 1, I32]), // types: (i32) -> i32
  ...section(3, [1, 0]), // functions: one, of type 0
  ...section(5, [1, 0x00, 1]), // memories: one, at least one page
  ...section(7, [2, ...name('memory'), 0x02, 0, ...name('sum'), 0x00, 0]), // exports
  ...section(10, [1, ...leb128(body.length), ...body]), // code
]);
