// Little-endian byte reader for DWARF call frame information: fixed-size integers, LEB128, and
// the pointer encodings of .eh_frame (DW_EH_PE_*). Addresses are JS numbers: every user-space
// address fits in 53 bits; a value that does not is returned as NaN and treated as unusable.

export class CfiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CfiError';
  }
}

export const DW_EH_PE_omit = 0xff;
export const DW_EH_PE_absptr = 0x00;
export const DW_EH_PE_uleb128 = 0x01;
export const DW_EH_PE_udata2 = 0x02;
export const DW_EH_PE_udata4 = 0x03;
export const DW_EH_PE_udata8 = 0x04;
export const DW_EH_PE_sleb128 = 0x09;
export const DW_EH_PE_sdata2 = 0x0a;
export const DW_EH_PE_sdata4 = 0x0b;
export const DW_EH_PE_sdata8 = 0x0c;
export const DW_EH_PE_pcrel = 0x10;
export const DW_EH_PE_textrel = 0x20;
export const DW_EH_PE_datarel = 0x30;
export const DW_EH_PE_funcrel = 0x40;
export const DW_EH_PE_aligned = 0x50;
export const DW_EH_PE_indirect = 0x80;

const TWO32 = 4294967296;

/** A u64 as a number; NaN when it does not fit in 53 bits. */
export function u64At(buf: Buffer, off: number): number {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  return hi < 0x200000 ? hi * TWO32 + lo : NaN;
}

/** An s64 as a number; NaN when it does not fit in 53 bits. */
export function s64At(buf: Buffer, off: number): number {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readInt32LE(off + 4);
  return hi < 0x200000 && hi >= -0x200000 ? hi * TWO32 + lo : NaN;
}

export class ByteReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    pos = 0,
    /** Address of buf[0] in the file's address space (for pc-relative pointers). */
    readonly baseAddr = 0,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length || this.pos < 0) throw new CfiError(`read past the end (${n} bytes at ${this.pos} of ${this.buf.length})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  s8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  s16(): number {
    this.need(2);
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  s32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = u64At(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  s64(): number {
    this.need(8);
    const v = s64At(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  /** u64 as a bigint (DWARF expression constants). */
  u64Big(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return result;
      if (mul > 2 ** 70) throw new CfiError('LEB128 too long');
    }
  }

  sleb(): number {
    let result = 0;
    let mul = 1;
    let b: number;
    do {
      b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (mul > 2 ** 70) throw new CfiError('LEB128 too long');
    } while (b & 0x80);
    if (b & 0x40) result -= mul;
    return result;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new CfiError('unterminated string');
    const s = this.buf.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /**
   * A pointer in encoding `enc`. `dataRel` is the base of DW_EH_PE_datarel (.eh_frame_hdr's own
   * address there). DW_EH_PE_indirect pointers cannot be followed without the process's memory:
   * they throw (CFI never uses them for pc ranges).
   */
  pointer(enc: number, dataRel = NaN): number {
    if (enc === DW_EH_PE_omit) throw new CfiError('omitted pointer read');
    const at = this.baseAddr + this.pos;
    let v: number;
    switch (enc & 0x0f) {
      case DW_EH_PE_absptr:
        v = this.u64();
        break;
      case DW_EH_PE_uleb128:
        v = this.uleb();
        break;
      case DW_EH_PE_udata2:
        v = this.u16();
        break;
      case DW_EH_PE_udata4:
        v = this.u32();
        break;
      case DW_EH_PE_udata8:
        v = this.u64();
        break;
      case DW_EH_PE_sleb128:
        v = this.sleb();
        break;
      case DW_EH_PE_sdata2:
        v = this.s16();
        break;
      case DW_EH_PE_sdata4:
        v = this.s32();
        break;
      case DW_EH_PE_sdata8:
        v = this.s64();
        break;
      default:
        throw new CfiError(`unknown pointer encoding 0x${enc.toString(16)}`);
    }
    switch (enc & 0x70) {
      case 0:
        break;
      case DW_EH_PE_pcrel:
        v += at;
        break;
      case DW_EH_PE_datarel:
        v += dataRel;
        break;
      default:
        throw new CfiError(`unsupported pointer application 0x${(enc & 0x70).toString(16)}`);
    }
    if (enc & DW_EH_PE_indirect) throw new CfiError('indirect pointer');
    // Wrap to 64 bits: a pc-relative negative offset on a small address stays exact in doubles.
    return v;
  }
}

/** Size in bytes of a fixed-size pointer encoding; undefined for LEB128 ones. */
export function encodedSize(enc: number): number | undefined {
  switch (enc & 0x0f) {
    case DW_EH_PE_absptr:
    case DW_EH_PE_udata8:
    case DW_EH_PE_sdata8:
      return 8;
    case DW_EH_PE_udata2:
    case DW_EH_PE_sdata2:
      return 2;
    case DW_EH_PE_udata4:
    case DW_EH_PE_sdata4:
      return 4;
    default:
      return undefined;
  }
}
