// Unwinds a copied user stack (x86-64): from the registers at sample time, frame by frame, each
// step by the CFI rule of the frame's pc (.eh_frame, .debug_frame), by frame pointers only where
// code has no CFI (JIT code, V8's builtins, binaries without unwind tables). It never guesses: where it
// cannot go on, it stops and says why.
import type { CodeAt } from '../symbolize/index.js';
import type { CfaRule, RegRule } from './cfi.js';
import { evaluate, ExprUnknown } from './expr.js';
import { cfiTableOf } from './table.js';
import { CfiError, u64At } from './reader.js';

/** DWARF register numbers (x86-64 psABI). */
export const RBP = 6;
export const RSP = 7;
export const RIP = 16;
export const NREGS = 17;

/** Why unwinding ended. 'end' is the outermost frame (CFI marks it); the others truncate. */
export type StopReason = 'end' | 'no CFI' | 'stack copy' | 'bad frame' | 'depth' | 'no maps';

/** The marker frame that ends a stack stopped early. */
export const STOP_MARKERS: Record<Exclude<StopReason, 'end'>, string> = {
  'no CFI': '[truncated: no CFI]',
  'stack copy': '[truncated: stack copy]',
  'bad frame': '[truncated: bad frame]',
  depth: '[truncated: depth]',
  'no maps': '[truncated: process exited]',
};

export interface StackSnapshot {
  /** DWARF registers 0..16 (16 = rip); NaN when unknown. */
  regs: Float64Array;
  /** User stack bytes from regs[RSP] up. */
  stack: Buffer;
  /** True when the copy stopped at its size cap (the stack goes on above it). */
  capped: boolean;
}

export interface UnwoundStack {
  /** Code addresses, leaf first: the sampled pc, then return addresses. */
  pcs: number[];
  /** Indices (besides 0) whose pc is an exact instruction address, not a return address (after a signal frame). */
  exact: number[];
  stop: StopReason;
}

/** Where code lives, as the unwinder needs it (the Symbolizer implements it). */
export interface CodeResolver {
  codeAt(pid: number, addr: bigint): CodeAt | undefined;
  /** False when the process's maps could never be read (it exited first). */
  mapsKnown?(pid: number): boolean;
}

/** A frame's rule, compiled from its CFI row for fast reuse. */
export type Rule =
  | {
      t: 'cfi';
      cfa: CfaRule;
      /** Rules of registers other than the default "same value", RA included. */
      regs: [number, RegRule][];
      ra: RegRule | undefined;
      signal: boolean;
      /** The process's code addresses the same rule covers (its CFI row): start <= pc < end. */
      start: number;
      end: number;
    }
  /** No CFI: walk by frame pointer (JIT code, binaries without unwind tables). */
  | { t: 'fp' }
  /** Code in a binary that has CFI but none for this pc. */
  | { t: 'nocfi' }
  /** Not in any executable mapping of the process. */
  | { t: 'unmapped' };

export interface UnwinderOptions {
  /** At most this many frames (the kernel's fp stacks stop at 127 too). */
  maxFrames?: number;
  /**
   * Called once per (pid, looked-up pc) rule compiled: the pc as looked up (the sampled pc, or a
   * return address minus one). The kernel learns the rules it can follow from here.
   */
  onRule?: (pid: number, lookupPc: number, rule: Rule) => void;
}

export interface UnwinderStats {
  stacks: number;
  frames: number;
  /** Distinct (pid, pc) rules compiled. */
  rules: number;
}

const TWO32 = 4294967296;

export class Unwinder {
  private readonly rules = new Map<number, Map<number, Rule>>();
  private readonly maxFrames: number;
  private readonly onRule: UnwinderOptions['onRule'];
  readonly stats: UnwinderStats = { stacks: 0, frames: 0, rules: 0 };

  constructor(
    private readonly code: CodeResolver,
    options: UnwinderOptions = {},
  ) {
    this.maxFrames = options.maxFrames ?? 127;
    this.onRule = options.onRule;
  }

  /** Forgets the rules of a process (its pcs may now map other code). */
  forget(pid: number): void {
    this.rules.delete(pid);
  }

  unwind(pid: number, snap: StackSnapshot): UnwoundStack {
    this.stats.stacks++;
    const regs = Float64Array.from(snap.regs);
    const pcs: number[] = [];
    const exact: number[] = [];
    const stack = snap.stack;
    const sp0 = regs[RSP]!;
    const stackEnd = sp0 + stack.length;
    let miss = 'bad frame' as StopReason;
    const read8 = (addr: number): number => {
      const off = addr - sp0;
      if (!(off >= 0) || off + 8 > stack.length || !Number.isInteger(off)) {
        miss = addr >= stackEnd && snap.capped ? 'stack copy' : 'bad frame';
        return NaN;
      }
      return u64At(stack, off);
    };
    let pc = regs[RIP]!;
    let pcExact = true;
    let cache = this.rules.get(pid);
    if (!cache) {
      cache = new Map();
      this.rules.set(pid, cache);
    }
    for (;;) {
      if (!(pc > 0) || !Number.isFinite(pc)) return { pcs, exact, stop: pcs.length === 0 ? 'bad frame' : 'end' };
      const lookupPc = pcExact ? pc : pc - 1;
      let rule = cache.get(lookupPc);
      if (!rule) {
        rule = this.compile(pid, lookupPc);
        cache.set(lookupPc, rule);
        this.stats.rules++;
        this.onRule?.(pid, lookupPc, rule);
      }
      if (rule.t === 'unmapped') {
        if (pcs.length === 0) {
          // The sampled pc itself: report it, it is what ran.
          pcs.push(pc);
          return { pcs, exact, stop: this.code.mapsKnown && !this.code.mapsKnown(pid) ? 'no maps' : 'no CFI' };
        }
        return { pcs, exact, stop: 'bad frame' };
      }
      if (pcs.length >= this.maxFrames) return { pcs, exact, stop: 'depth' };
      // A signal trampoline's pc is where the kernel made the handler return to, not after a
      // call: it is symbolized as is, like the interrupted pc after it.
      if (pcs.length > 0 && (pcExact || (rule.t === 'cfi' && rule.signal))) exact.push(pcs.length);
      pcs.push(pc);
      this.stats.frames++;
      const sp = regs[RSP]!;
      if (rule.t === 'nocfi') return { pcs, exact, stop: 'no CFI' };
      if (rule.t === 'fp') {
        const bp = regs[RBP]!;
        if (!(bp >= sp) || bp % 8 !== 0) return { pcs, exact, stop: 'no CFI' };
        const savedBp = read8(bp);
        const ra = read8(bp + 8);
        if (Number.isNaN(ra)) return { pcs, exact, stop: miss === 'stack copy' ? 'stack copy' : 'no CFI' };
        regs[RBP] = savedBp;
        regs[RSP] = bp + 16;
        pc = ra;
        pcExact = false;
        continue;
      }
      // CFI step.
      let cfa: number;
      try {
        cfa = this.cfaOf(rule.cfa, regs, read8);
      } catch (e) {
        if (e instanceof ExprUnknown || e instanceof CfiError) return { pcs, exact, stop: miss };
        throw e;
      }
      if (!Number.isFinite(cfa)) return { pcs, exact, stop: 'bad frame' };
      if (cfa <= sp && !rule.signal) return { pcs, exact, stop: 'bad frame' };
      if (!rule.ra || rule.ra.kind === 'undefined') return { pcs, exact, stop: 'end' };
      const next = Float64Array.from(regs);
      next[RSP] = cfa;
      let failed = false;
      for (const [reg, r] of rule.regs) {
        if (reg >= NREGS) continue;
        const v = this.regValue(r, cfa, regs, read8);
        if (v === undefined) {
          if (reg === RIP) failed = true;
          next[reg] = NaN;
        } else next[reg] = v;
      }
      if (failed || Number.isNaN(next[RIP]!)) return { pcs, exact, stop: miss };
      pc = next[RIP]!;
      pcExact = rule.signal;
      regs.set(next);
    }
  }

  private cfaOf(rule: CfaRule, regs: Float64Array, read8: (a: number) => number): number {
    if (rule.kind === 'reg') {
      const base = regs[rule.reg];
      return base === undefined ? NaN : base + rule.offset;
    }
    return toNumber(evaluate(rule.expr, exprContext(regs, read8)));
  }

  private regValue(r: RegRule, cfa: number, regs: Float64Array, read8: (a: number) => number): number | undefined {
    switch (r.kind) {
      case 'undefined':
        return undefined;
      case 'same':
        return undefined; // callers of this keep the old value
      case 'offset': {
        const v = read8(cfa + r.n);
        return Number.isNaN(v) ? undefined : v;
      }
      case 'valOffset':
        return cfa + r.n;
      case 'register': {
        const v = regs[r.reg];
        return v === undefined || Number.isNaN(v) ? undefined : v;
      }
      case 'expression':
      case 'valExpression':
        try {
          const v = evaluate(r.expr, exprContext(regs, read8), [BigInt(cfa)]);
          if (r.kind === 'valExpression') return toNumber(v);
          const m = read8(toNumber(v));
          return Number.isNaN(m) ? undefined : m;
        } catch (e) {
          if (e instanceof ExprUnknown || e instanceof CfiError) return undefined;
          throw e;
        }
    }
  }

  private compile(pid: number, pc: number): Rule {
    const code = this.code.codeAt(pid, BigInt(Math.trunc(pc)));
    if (!code) return { t: 'unmapped' };
    if (code.kind === 'anon') return { t: 'fp' };
    if (code.kind === 'unreadable') return { t: 'fp' };
    const table = cfiTableOf(code.elf, code.debug);
    let m;
    try {
      m = table.lookup(Number(code.vaddr));
    } catch {
      m = undefined;
    }
    // No FDE for this pc. Code that has none is JIT-like (V8's embedded builtins live in the
    // node binary, outside its .eh_frame) or hand-written: step by frame pointer, which V8 keeps;
    // the step is checked (rbp inside the copied stack, the return address in executable memory
    // at the next step) and ends in [truncated: no CFI] when it does not hold.
    if (!m) return { t: 'fp' };
    const raReg = m.fde.cie.raReg;
    const regs: [number, RegRule][] = [];
    for (const [reg, r] of m.row.regs) {
      if (r.kind === 'same') continue;
      regs.push([reg === raReg ? RIP : reg, r]);
    }
    const bias = pc - Number(code.vaddr);
    return { t: 'cfi', cfa: m.row.cfa, regs, ra: m.row.regs.get(raReg), signal: m.fde.cie.signal, start: m.row.start + bias, end: m.row.end + bias };
  }
}

function toNumber(v: bigint): number {
  return v < 1n << 53n ? Number(v) : NaN;
}

function exprContext(regs: Float64Array, read8: (a: number) => number) {
  return {
    reg(n: number): bigint | undefined {
      const v = regs[n];
      return v === undefined || !Number.isFinite(v) ? undefined : BigInt(v);
    },
    read(addr: bigint, size: number): bigint | undefined {
      if (addr >= 1n << 53n) return undefined;
      const v = read8(Number(addr));
      if (Number.isNaN(v)) return undefined;
      if (size === 8) return BigInt(v);
      return BigInt(v) & ((1n << BigInt(size * 8)) - 1n);
    },
  };
}

/** Registers from a record's u64 array (NaN for values beyond 53 bits: never a user address). */
export function regsFrom(buf: Buffer, off: number): Float64Array {
  const regs = new Float64Array(NREGS);
  for (let i = 0; i < NREGS; i++) {
    const lo = buf.readUInt32LE(off + i * 8);
    const hi = buf.readUInt32LE(off + i * 8 + 4);
    regs[i] = hi < 0x200000 ? hi * TWO32 + lo : NaN;
  }
  return regs;
}
