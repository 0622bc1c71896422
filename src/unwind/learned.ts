// Learned rules: the kernel half of --unwind dwarf|auto. Each rule the unwinder compiles from CFI
// while it unwinds a stack copy is handed to the kernel (`unwind_rules`, bpf/unwind.h) when the
// kernel can follow it: CFA from rsp or rbp plus an offset, the return address just below the
// CFA, rbp saved or unchanged. Once every frame of a stack has one, the BPF program walks that
// stack itself and counts it in its own map, and no copy crosses into user space. Stacks the
// kernel walked are read back here by their hash (`user_stacks`).
import type { BpfTool } from '../bpf/object.js';
import {
  UNWIND_KSTACK_MAX,
  UNWIND_RULE,
  UNWIND_RULE_CFA_RBP,
  UNWIND_RULE_KEY,
  UNWIND_RULE_RBP_SAVED,
  UNWIND_USER_STACK,
  UnwindRuleKind,
  UnwindStop,
} from './layout.js';
import { RBP, RIP, RSP, STOP_MARKERS, type Rule } from './unwinder.js';

const TWO32 = 4294967296;

/**
 * The kernel's form of a compiled rule (struct unwind_rule), or undefined when the kernel cannot
 * follow it exactly (a DWARF expression, a register other than rsp or rbp, a signal frame, a
 * return address saved elsewhere than CFA - 8): stacks through such code keep being copied.
 */
export function kernelRule(rule: Rule): Buffer | undefined {
  const b = Buffer.alloc(UNWIND_RULE.size);
  switch (rule.t) {
    case 'unmapped':
      return undefined;
    case 'fp':
      b[UNWIND_RULE.kind] = UnwindRuleKind.fp;
      return b;
    case 'nocfi':
      b[UNWIND_RULE.kind] = UnwindRuleKind.nocfi;
      return b;
    case 'cfi':
      break;
  }
  if (rule.signal) return undefined;
  if (!rule.ra || rule.ra.kind === 'undefined') {
    b[UNWIND_RULE.kind] = UnwindRuleKind.end;
    return b;
  }
  if (rule.cfa.kind !== 'reg' || (rule.cfa.reg !== RSP && rule.cfa.reg !== RBP)) return undefined;
  if (rule.ra.kind !== 'offset' || rule.ra.n !== -8) return undefined;
  let flags = rule.cfa.reg === RBP ? UNWIND_RULE_CFA_RBP : 0;
  let rbpOff = 0;
  for (const [reg, r] of rule.regs) {
    if (reg === RIP) continue; // the return address, checked above
    if (reg === RSP) return undefined; // the caller's rsp is the CFA, nothing else
    if (reg !== RBP) continue; // registers the kernel does not track: no rule it learns reads them
    if (r.kind !== 'offset') return undefined;
    flags |= UNWIND_RULE_RBP_SAVED;
    rbpOff = r.n;
  }
  if (!fitsS32(rule.cfa.offset) || !fitsS32(rbpOff)) return undefined;
  b[UNWIND_RULE.kind] = UnwindRuleKind.cfa;
  b[UNWIND_RULE.flags] = flags;
  b.writeInt32LE(rule.cfa.offset, UNWIND_RULE.cfaOff);
  b.writeInt32LE(rbpOff, UNWIND_RULE.rbpOff);
  return b;
}

function fitsS32(n: number): boolean {
  return Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff;
}

export function ruleKey(pid: number, lookupPc: number): Buffer {
  const k = Buffer.alloc(UNWIND_RULE_KEY.size);
  k.writeUInt32LE(pid, UNWIND_RULE_KEY.tgid);
  k.writeUInt32LE(lookupPc % TWO32, UNWIND_RULE_KEY.pc);
  k.writeUInt32LE(Math.floor(lookupPc / TWO32), UNWIND_RULE_KEY.pc + 4);
  return k;
}

/**
 * Hands the kernel the rules it can follow, as the unwinder compiles them. A CFI rule holds for
 * its whole row, so it is taught for the addresses of the row around the pc too (up to NEAR bytes
 * either side): the kernel looks rules up by exact address, and a hot loop would otherwise cost
 * one copy per instruction sampled in it before the kernel walked all of its samples.
 */
export class RuleTeacher {
  static readonly NEAR = 64;
  /** Rules taught (addresses), failures to store one, and rules the kernel cannot follow. */
  readonly stats = { taught: 0, unfit: 0, failed: 0 };
  private readonly known = new Set<string>();
  private error: unknown;

  constructor(private readonly tool: BpfTool) {}

  learn(pid: number, lookupPc: number, rule: Rule): void {
    const value = kernelRule(rule);
    if (!value) {
      this.stats.unfit++;
      return;
    }
    const from = rule.t === 'cfi' ? Math.max(rule.start, lookupPc - RuleTeacher.NEAR) : lookupPc;
    const to = rule.t === 'cfi' ? Math.min(rule.end, lookupPc + RuleTeacher.NEAR + 1) : lookupPc + 1;
    const pcs: number[] = [];
    for (let pc = from; pc < to; pc++) if (!this.known.has(`${pid}:${pc}`)) pcs.push(pc);
    if (pcs.length === 0) return;
    const keys = Buffer.alloc(pcs.length * UNWIND_RULE_KEY.size);
    const values = Buffer.alloc(pcs.length * UNWIND_RULE.size);
    pcs.forEach((pc, i) => {
      ruleKey(pid, pc).copy(keys, i * UNWIND_RULE_KEY.size);
      value.copy(values, i * UNWIND_RULE.size);
    });
    let stored: number;
    let failure: unknown;
    try {
      // One system call for the row (BPF_MAP_UPDATE_BATCH, 5.6+): teaching a row costs about
      // what teaching one address does.
      stored = this.tool.updateBatch('unwind_rules', keys, values);
    } catch {
      // no batch updates in this kernel: one call per address
      [stored, failure] = this.updateEach(keys, value);
    }
    for (let i = 0; i < stored; i++) this.known.add(`${pid}:${pcs[i]!}`);
    this.stats.taught += stored;
    if (stored < pcs.length) {
      // The stacks through the rest keep being copied: slower, never wrong. The first failure
      // is kept for -v.
      this.stats.failed++;
      this.error ??= failure ?? new Error(`map 'unwind_rules': ${pcs.length - stored} of ${pcs.length} rules not stored (the map is full)`);
    }
  }

  /** Stores the keys one by one until one fails (a full map fails every further one too). */
  private updateEach(keys: Buffer, value: Buffer): [number, unknown] {
    const n = keys.length / UNWIND_RULE_KEY.size;
    for (let i = 0; i < n; i++) {
      try {
        this.tool.update('unwind_rules', keys.subarray(i * UNWIND_RULE_KEY.size, (i + 1) * UNWIND_RULE_KEY.size), value);
      } catch (e) {
        return [i, e];
      }
    }
    return [n, undefined];
  }

  /** The first failure to store a rule, if any. */
  get firstError(): unknown {
    return this.error;
  }
}

/** A user stack the kernel walked by learned rules. */
export interface LearnedStack {
  /** Addresses, leaf first. */
  pcs: bigint[];
  /** The marker frame of a stack that stopped early. */
  stop?: string;
}

/** Reads `user_stacks` by hash, each hash once. */
export class LearnedStackReader {
  private readonly cache = new Map<bigint, LearnedStack | undefined>();
  private readonly key = Buffer.alloc(8);

  constructor(private readonly tool: BpfTool) {}

  get(hash: bigint): LearnedStack | undefined {
    if (this.cache.has(hash)) return this.cache.get(hash);
    this.key.writeBigUInt64LE(hash);
    const value = this.tool.lookup('user_stacks', this.key);
    const stack = value ? decodeLearnedStack(value) : undefined;
    this.cache.set(hash, stack);
    return stack;
  }
}

export function decodeLearnedStack(value: Buffer): LearnedStack | undefined {
  if (value.length < UNWIND_USER_STACK.size) return undefined;
  const len = Math.min(value.readUInt32LE(UNWIND_USER_STACK.len), UNWIND_KSTACK_MAX);
  const pcs: bigint[] = new Array<bigint>(len);
  for (let i = 0; i < len; i++) pcs[i] = value.readBigUInt64LE(UNWIND_USER_STACK.pcs + 8 * i);
  const stop = value.readUInt32LE(UNWIND_USER_STACK.stop);
  const out: LearnedStack = { pcs };
  if (stop === UnwindStop.nocfi) out.stop = STOP_MARKERS['no CFI'];
  else if (stop === UnwindStop.depth) out.stop = STOP_MARKERS.depth;
  return out;
}
