// CRC-32 (IEEE), as zlib computes it: the checksum of the files ebpf-otel caches (kernel symbols,
// V8 code, facts about binaries), which catches truncation that kept a size field consistent,
// bit rot and stray writes.
import { zlib } from './lazy-builtins.js';

/** CRC-32 table for crc32Js. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** CRC-32 in JS, continuing from `value` like zlib.crc32: for Node 20 before 20.15, which lacks it. */
export function crc32Js(data: Uint8Array, value = 0): number {
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

type Crc32 = (data: Uint8Array, value?: number) => number;

let native: Crc32 | null | undefined;

/**
 * zlib's CRC-32 (native: ~2 ms for 6 MB, where the JS loop takes ~10 ms for 300 KB) when this Node
 * has it. Inputs below a few KB take the JS loop: no loading node:zlib (~8 ms) to checksum a name.
 */
export function crc32(data: Uint8Array, value = 0): number {
  if (data.length < 4096) return crc32Js(data, value);
  native ??= (zlib() as Partial<ReturnType<typeof zlib>>).crc32 ?? null;
  return native ? native(data, value) : crc32Js(data, value);
}
