// Typed reader of bpf/unwind.h: the records the BPF side sends through the `stack_copies` ring
// buffer. test/unwind/records.test.ts compiles the header and checks these offsets.
import { decodeCString } from '../bpf/stacks.js';
import { regsFrom } from './unwinder.js';

export { UNWIND_STACK_COPY_MAX, UNWIND_NREGS, UnwindRecordKind, UNWIND_COPY_CAPPED, UNWIND_STACK_RECORD, UNWIND_DELTA_RECORD } from './layout.js';
import { UNWIND_COPY_CAPPED, UNWIND_STACK_RECORD, UNWIND_DELTA_RECORD, UnwindRecordKind } from './layout.js';

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
