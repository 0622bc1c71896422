// --unwind auto: does a binary keep frame pointers? Its CFI says so: code built with frame
// pointers switches the CFA to rbp in the prologue of (nearly) every function; code built
// without them keeps it on rsp except in the few functions that need a frame (alloca, VLAs).
// The result depends on the files' bytes only, so it is kept in the boot-scoped file-facts cache
// (util/file-facts-cache.ts): decoding the sample cost 4-10 ms per binary at every run.
import type { ElfFile } from '../symbolize/elf.js';
import type { CodeAt } from '../symbolize/index.js';
import { cacheDirFromEnv, identityText } from '../util/cache-dir.js';
import { readFact, writeFact, type FactKind } from '../util/file-facts-cache.js';
import { fdeRows, type Fde } from './cfi.js';
import { cfiTableOf } from './table.js';
import { RBP } from './unwinder.js';

/** FDEs examined per binary at most (spread evenly): enough for a stable share, cheap for huge binaries. */
const SAMPLE = 600;
/**
 * Stop early once this many functions with a frame give a share far from the threshold: libc's
 * share is ~0.02, a -fno-omit-frame-pointer build's ~1. Decoding the whole sample of every
 * binary was most of --unwind auto's start-up work (and V8 optimizing the decoder for it).
 */
const EARLY_FRAMES = 64;
const EARLY_LOW = 0.35;
const EARLY_HIGH = 0.95;
/** A binary keeps frame pointers when at least this share of its functions with a frame use rbp for the CFA. */
const FP_SHARE = 0.7;

export interface FpCensus {
  /** FDEs examined. */
  functions: number;
  /** Of those, the ones that set up a frame (the CFA moves away from rsp+8). */
  withFrame: number;
  /** Of those, the ones whose CFA is rbp-based somewhere. */
  rbpBased: number;
  keepsFramePointers: boolean;
}

/**
 * Bump whenever the census is taken differently (SAMPLE, the early stop, FP_SHARE, what counts
 * as a frame): a census taken by other rules then reads as a miss.
 */
export const FP_CENSUS_FACT: FactKind = { name: 'fp-census', version: 1 };

const census = new WeakMap<ElfFile, FpCensus>();

/**
 * The frame-pointer census of a binary: kept per parsed file, and across runs in the cache when
 * both files are files (a buffer has no identity to key it by).
 */
export function fpCensus(elf: ElfFile, debug: ElfFile | null = null): FpCensus {
  const known = census.get(elf);
  if (known) return known;
  const identity = elf.identity;
  // The debug file's CFI counts too: its identity is part of the key.
  const detail = debug === null ? 'no-debug' : debug.identity ? `debug ${identityText(debug.identity)}` : null;
  const cacheDir = identity && detail !== null ? cacheDirFromEnv() : null;
  const stored = identity && detail !== null ? decodeCensus(readFact(cacheDir, FP_CENSUS_FACT, identity, detail)) : null;
  if (stored) {
    census.set(elf, stored);
    return stored;
  }
  const result = takeCensus(elf, debug);
  // Not a census of nothing: CFI that could not be read (an I/O error) is no fact about the file.
  if (identity && detail !== null && result.functions > 0) writeFact(cacheDir, FP_CENSUS_FACT, identity, encodeCensus(result), detail);
  census.set(elf, result);
  return result;
}

// The census as a cache payload: functions, withFrame, rbpBased, keepsFramePointers (0/1), u32 LE.
function encodeCensus(c: FpCensus): Uint8Array {
  const payload = Buffer.alloc(16);
  payload.writeUInt32LE(c.functions, 0);
  payload.writeUInt32LE(c.withFrame, 4);
  payload.writeUInt32LE(c.rbpBased, 8);
  payload.writeUInt32LE(c.keepsFramePointers ? 1 : 0, 12);
  return payload;
}

function decodeCensus(payload: Uint8Array | null): FpCensus | null {
  if (payload === null || payload.length !== 16) return null;
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const keeps = b.readUInt32LE(12);
  if (keeps > 1) return null;
  return { functions: b.readUInt32LE(0), withFrame: b.readUInt32LE(4), rbpBased: b.readUInt32LE(8), keepsFramePointers: keeps === 1 };
}

/** Decodes the CFI of a sample of the binary's functions. */
function takeCensus(elf: ElfFile, debug: ElfFile | null): FpCensus {
  let functions = 0;
  let withFrame = 0;
  let rbpBased = 0;
  let sampled: Fde[] = [];
  try {
    sampled = [...cfiTableOf(elf, debug).sampledFdes(SAMPLE)];
  } catch {
    // unreadable CFI: no evidence of frame pointers
  }
  // Visited in a scattered order (a stride coprime with the count), so that a decision made
  // early rests on functions from all over the binary, not from its first pages.
  const n = sampled.length;
  const stride = strideFor(n);
  for (let k = 0; k < n; k++) {
    const fde = sampled[(k * stride) % n]!;
    if (withFrame >= EARLY_FRAMES) {
      const share = rbpBased / withFrame;
      if (share < EARLY_LOW || share > EARLY_HIGH) break;
    }
    functions++;
    let frame = false;
    let rbp = false;
    try {
      for (const row of fdeRows(fde)) {
        if (row.cfa.kind !== 'reg') continue;
        if (row.cfa.reg === RBP) rbp = true;
        if (row.cfa.reg !== 7 || row.cfa.offset !== 8) frame = true;
      }
    } catch {
      continue;
    }
    if (frame) withFrame++;
    if (rbp) rbpBased++;
  }
  return { functions, withFrame, rbpBased, keepsFramePointers: withFrame > 0 && rbpBased / withFrame >= FP_SHARE };
}

/** A step through 0..n-1 that visits every index once and scatters neighbours (coprime with n). */
function strideFor(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  for (const step of [389, 397, 401, 409, 419, 421]) if (n <= 1 || gcd(step, n) === 1) return step % Math.max(n, 1) || 1;
  return 1;
}

/**
 * True when every piece of code a process maps keeps frame pointers, so the kernel's
 * frame-pointer walk loses nothing CFI would find (except the caller of a frameless leaf, the
 * frame-pointer walk's blind spot everywhere). JIT code (anonymous executable memory) counts as
 * keeping them: V8 and the JVM do. The vDSO does not count: it is leaf code.
 */
export function processKeepsFramePointers(code: readonly CodeAt[]): boolean {
  let files = 0;
  for (const c of code) {
    if (c.kind === 'anon') continue;
    if (c.kind === 'unreadable') return false;
    if (c.path === '[vdso]') continue;
    files++;
    if (!fpCensus(c.elf, c.debug).keepsFramePointers) return false;
  }
  return files > 0;
}
