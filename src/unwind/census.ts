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
  for (const fde of sampled) {
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
