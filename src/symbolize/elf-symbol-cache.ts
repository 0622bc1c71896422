// The finished symbol index of an ELF file (elf.ts) as bytes for the file-facts cache
// (util/file-facts-cache.ts): building it is a cold pass over every symbol of the file at every
// run (~13 ms of CPU for libc's ~3,700 functions, far more for /usr/bin/node's 118k), reading it
// back is one read and a checksum. Only the address arrays and where each name lies are stored;
// the names stay in the ELF file's string tables, read when a name is first wanted.
import type { FactKind } from '../util/file-facts-cache.js';

/**
 * Bump whenever what the index holds or how it is built changes (alias preference, how ends
 * are computed, which symbols count): an entry written by other rules then reads as a miss.
 */
export const SYMBOL_INDEX_FACT: FactKind = { name: 'symbols', version: 1 };

/** The index as elf.ts looks symbols up in it. */
export interface SymbolIndexArrays {
  /**
   * Addresses are stored as doubles relative to `base` (0 unless the file's symbols sit above
   * 2^53, as an old vDSO linked at 0xffffffffff700000 does), so lookups avoid BigInt arithmetic.
   */
  base: bigint;
  starts: Float64Array;
  ends: Float64Array;
  /** Running maximum of `ends`, so lookups can stop walking back over overlapping symbols. */
  maxEnds: Float64Array;
  /** Per entry: which string table (index into `strtabSections`) and offset of the name. */
  strtabOf: Uint8Array;
  nameOff: Uint32Array;
  /** The section index of each string table the names are in. */
  strtabSections: Uint32Array;
}

// Payload layout, machine byte order (the file never leaves the machine that wrote it):
//   0 u32 entry count m    4 u32 string table count k    8 u64 base
//   16 starts, ends, maxEnds (f64 x m each), nameOff (u32 x m), strtabSections (u32 x k),
//   strtabOf (u8 x m)
const FIXED = 16;
/** strtabOf is a byte: elf.ts indexes at most 256 string tables. */
const MAX_STRTABS = 256;

const payloadSize = (m: number, k: number): number => FIXED + 28 * m + 4 * k + m;

/**
 * The index as a payload, or null when it breaks what decodeSymbolIndex's views assume (a name in
 * a string table that is not listed). Checked here, once per binary and boot, rather than at
 * every read: the entry's checksum then vouches for it.
 */
export function encodeSymbolIndex(ix: SymbolIndexArrays): Uint8Array | null {
  const m = ix.starts.length;
  const k = ix.strtabSections.length;
  if (k > MAX_STRTABS || ix.ends.length !== m || ix.maxEnds.length !== m || ix.nameOff.length !== m || ix.strtabOf.length !== m) return null;
  for (let j = 0; j < m; j++) if (ix.strtabOf[j]! >= k) return null;
  // A fresh ArrayBuffer: offset 0, so every view below is aligned.
  const payload = new Uint8Array(payloadSize(m, k));
  const head = new DataView(payload.buffer);
  head.setUint32(0, m, true);
  head.setUint32(4, k, true);
  head.setBigUint64(8, ix.base, true);
  new Float64Array(payload.buffer, FIXED, m).set(ix.starts);
  new Float64Array(payload.buffer, FIXED + 8 * m, m).set(ix.ends);
  new Float64Array(payload.buffer, FIXED + 16 * m, m).set(ix.maxEnds);
  new Uint32Array(payload.buffer, FIXED + 24 * m, m).set(ix.nameOff);
  new Uint32Array(payload.buffer, FIXED + 28 * m, k).set(ix.strtabSections);
  payload.set(ix.strtabOf, FIXED + 28 * m + 4 * k);
  return payload;
}

/**
 * The index in `payload` (views on its memory when it is 8-byte aligned, as readFact's are), or
 * null when its sizes do not add up or it names a string table that is not there: `sectionCount`
 * sections in the file being read. The checksum and key of the cache entry vouch for the rest
 * (what encodeSymbolIndex checked): no pass over the entries here, which would cost a cold loop
 * over each of them at every run.
 */
export function decodeSymbolIndex(payload: Uint8Array, sectionCount: number): SymbolIndexArrays | null {
  if (payload.length < FIXED) return null;
  const bytes = payload.byteOffset % 8 === 0 ? payload : payload.slice();
  const head = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const m = head.getUint32(0, true);
  const k = head.getUint32(4, true);
  if (k > MAX_STRTABS || payloadSize(m, k) !== bytes.length) return null;
  const at = bytes.byteOffset;
  const ix: SymbolIndexArrays = {
    base: head.getBigUint64(8, true),
    starts: new Float64Array(bytes.buffer, at + FIXED, m),
    ends: new Float64Array(bytes.buffer, at + FIXED + 8 * m, m),
    maxEnds: new Float64Array(bytes.buffer, at + FIXED + 16 * m, m),
    nameOff: new Uint32Array(bytes.buffer, at + FIXED + 24 * m, m),
    strtabSections: new Uint32Array(bytes.buffer, at + FIXED + 28 * m, k),
    strtabOf: bytes.subarray(FIXED + 28 * m + 4 * k),
  };
  for (let t = 0; t < k; t++) if (ix.strtabSections[t]! >= sectionCount) return null;
  return ix;
}
