// The record layouts of bpf/unwind.h (checked against the header by test/unwind/records.test.ts),
// apart from their decoders so that sizing the ring needs no unwinding code.
export const UNWIND_STACK_COPY_MAX = 16384;
export const UNWIND_NREGS = 17;
export const UnwindRecordKind = { stack: 1, delta: 2 } as const;
export const UNWIND_COPY_CAPPED = 1;

export const UNWIND_STACK_RECORD = {
  size: 184,
  kind: 0,
  tgid: 4,
  pid: 8,
  kernelStackId: 12,
  stackLen: 16,
  flags: 20,
  seq: 24,
  comm: 32,
  commLength: 16,
  regs: 48,
} as const;

export const UNWIND_DELTA_RECORD = { size: 24, kind: 0, pid: 4, seq: 8, deltaNs: 16 } as const;

/** Learned rules and the stacks the kernel walks by them (bpf/unwind.h). */
export const UNWIND_KSTACK_MAX = 127;
export const UnwindRuleKind = { cfa: 1, fp: 2, end: 3, nocfi: 4 } as const;
export const UNWIND_RULE_CFA_RBP = 1;
export const UNWIND_RULE_RBP_SAVED = 2;
export const UNWIND_RULE_KEY = { size: 16, tgid: 0, pc: 8 } as const;
export const UNWIND_RULE = { size: 16, kind: 0, flags: 1, cfaOff: 4, rbpOff: 8 } as const;
export const UnwindStop = { end: 0, nocfi: 1, depth: 2 } as const;
export const UNWIND_USER_STACK = { size: 1024, len: 0, stop: 4, pcs: 8 } as const;
