// Typed reader of bpf/unwind.h: the records the BPF side sends through the `stack_copies` ring
// buffer. test/unwind/records.test.ts compiles the header and checks these offsets.
import { decodeCString } from '../bpf/stacks.js';
import { regsFrom } from './unwinder.js';

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

export interface StackRecordView {
  kind: 'stack';
  tgid: number;
  tid: number;
  kernelStackId: number;
  comm: string;
  seq: bigint;
  capped: boolean;
  regs: Float64Array;
  stack: Buffer;
}

export interface DeltaRecordView {
  kind: 'delta';
  tid: number;
  seq: bigint;
  deltaNs: number;
}

/** Decodes one record; undefined for a record of unknown kind or too short. */
export function decodeUnwindRecord(rec: Buffer): StackRecordView | DeltaRecordView | undefined {
  if (rec.length < 4) return undefined;
  const kind = rec.readUInt32LE(0);
  if (kind === UnwindRecordKind.stack && rec.length >= UNWIND_STACK_RECORD.size) {
    const L = UNWIND_STACK_RECORD;
    const len = Math.min(rec.readUInt32LE(L.stackLen), rec.length - L.size);
    return {
      kind: 'stack',
      tgid: rec.readUInt32LE(L.tgid),
      tid: rec.readUInt32LE(L.pid),
      kernelStackId: rec.readInt32LE(L.kernelStackId),
      comm: decodeCString(rec.subarray(L.comm, L.comm + L.commLength)),
      seq: rec.readBigUInt64LE(L.seq),
      capped: (rec.readUInt32LE(L.flags) & UNWIND_COPY_CAPPED) !== 0,
      regs: regsFrom(rec, L.regs),
      stack: rec.subarray(L.size, L.size + len),
    };
  }
  if (kind === UnwindRecordKind.delta && rec.length >= UNWIND_DELTA_RECORD.size) {
    const L = UNWIND_DELTA_RECORD;
    return { kind: 'delta', tid: rec.readUInt32LE(L.pid), seq: rec.readBigUInt64LE(L.seq), deltaNs: Number(rec.readBigUInt64LE(L.deltaNs)) };
  }
  return undefined;
}

/** Splits what ringConsume returned: u32 length, record, padding to 4 bytes; views, no copies. */
export function* splitRecords(buf: Buffer): Generator<Buffer> {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt32LE(off);
    off += 4;
    if (off + len > buf.length) return;
    yield buf.subarray(off, off + len);
    off += (len + 3) & ~3;
  }
}
