// --unwind auto: does a binary keep frame pointers? Its CFI says so: code built with frame
// pointers switches the CFA to rbp in the prologue of (nearly) every function; code built
// without them keeps it on rsp except in the few functions that need a frame (alloca, VLAs).
import type { ElfFile } from '../symbolize/elf.js';
import type { CodeAt } from '../symbolize/index.js';
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

const census = new WeakMap<ElfFile, FpCensus>();

/** The frame-pointer census of a binary (cached per parsed file). */
export function fpCensus(elf: ElfFile, debug: ElfFile | null = null): FpCensus {
  const known = census.get(elf);
  if (known) return known;
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
  const result = { functions, withFrame, rbpBased, keepsFramePointers: withFrame > 0 && rbpBased / withFrame >= FP_SHARE };
  census.set(elf, result);
  return result;
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
