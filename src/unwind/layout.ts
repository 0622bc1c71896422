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
