// A small protobuf (proto3) wire-format writer, and a reader just big enough for OTLP export
// responses. The profiles signal has no official JS serializer, so its request is encoded with
// this; field numbers live next to each call in profiles.ts, taken from the proto.
//
// Wire types: 0 = varint, 1 = 64-bit, 2 = length-delimited, 5 = 32-bit.
// Proto3 scalars equal to their default (0, '', empty) may be omitted; the `opt*` helpers do that,
// the plain ones always write (for values whose presence matters, e.g. fixed64 times).

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

export class ProtoWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(Math.max(16, initialSize));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /**
   * Raw varint of a non-negative integer below 2^64 (number or bigint). Negative numbers are
   * written as their 64-bit two's complement (10 bytes), as protobuf does for int32/int64.
   */
  rawVarint(value: number | bigint): this {
    if (typeof value === 'number') {
      if (!Number.isInteger(value)) throw new RangeError(`varint of a non-integer: ${value}`);
      if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
        let v = value;
        while (v >= 0x80) {
          this.byte((v % 0x80) | 0x80);
          v = Math.floor(v / 0x80);
        }
        this.byte(v);
        return this;
      }
      return this.rawVarint(BigInt(value));
    }
    if (value < -(1n << 63n) || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`varint out of 64-bit range: ${value}`);
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
    return this;
  }

  tag(field: number, wireType: number): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new RangeError(`bad field number ${field}`);
    return this.rawVarint(field * 8 + wireType);
  }

  rawBytes(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  rawFixed64(value: bigint | number): this {
    const v = BigInt.asUintN(64, typeof value === 'bigint' ? value : BigInt(value));
    const lo = Number(v & 0xffff_ffffn);
    const hi = Number(v >> 32n);
    this.ensure(8);
    for (const word of [lo, hi]) {
      this.buf[this.pos++] = word & 0xff;
      this.buf[this.pos++] = (word >>> 8) & 0xff;
      this.buf[this.pos++] = (word >>> 16) & 0xff;
      this.buf[this.pos++] = (word >>> 24) & 0xff;
    }
    return this;
  }

  rawDouble(value: number): this {
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setFloat64(0, value, true);
    this.pos += 8;
    return this;
  }

  // ---- fields -------------------------------------------------------------------------------

  /** uint32/uint64/int32/int64/enum/bool field, always written. */
  varint(field: number, value: number | bigint | boolean): this {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    return this.tag(field, WIRE_VARINT).rawVarint(v);
  }

  /** Same, omitted when 0 (the proto3 default). */
  optVarint(field: number, value: number | bigint | boolean | undefined): this {
    if (value === undefined || value === 0 || value === 0n || value === false) return this;
    return this.varint(field, value);
  }

  /** sint32/sint64 field (zigzag), always written. */
  sint(field: number, value: number | bigint): this {
    const v = BigInt(value);
    return this.tag(field, WIRE_VARINT).rawVarint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  /** fixed64/sfixed64 field, always written. */
  fixed64(field: number, value: bigint | number): this {
    return this.tag(field, WIRE_FIXED64).rawFixed64(value);
  }

  optFixed64(field: number, value: bigint | number | undefined): this {
    if (value === undefined || value === 0 || value === 0n) return this;
    return this.fixed64(field, value);
  }

  /** double field, always written. */
  double(field: number, value: number): this {
    return this.tag(field, WIRE_FIXED64).rawDouble(value);
  }

  bytes(field: number, value: Uint8Array): this {
    return this.tag(field, WIRE_LEN).rawVarint(value.length).rawBytes(value);
  }

  /** string field, always written (even when empty: a repeated string keeps its slot). */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  optString(field: number, value: string | undefined): this {
    if (value === undefined || value === '') return this;
    return this.string(field, value);
  }

  /** Embedded message field: `build` writes the message body. Always written (even if empty). */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const sub = new ProtoWriter(64);
    build(sub);
    return this.bytes(field, sub.finish());
  }

  /** packed repeated varint field (int32/int64/uint64...); omitted when empty. */
  packedVarint(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const sub = new ProtoWriter(values.length * 2 + 8);
    for (const v of values) sub.rawVarint(v);
    return this.bytes(field, sub.finish());
  }

  /** packed repeated fixed64 field; omitted when empty. */
  packedFixed64(field: number, values: readonly (bigint | number)[]): this {
    if (values.length === 0) return this;
    const sub = new ProtoWriter(values.length * 8 + 8);
    for (const v of values) sub.rawFixed64(v);
    return this.bytes(field, sub.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

// ---- reader (responses only) ------------------------------------------------------------------

export interface ProtoField {
  field: number;
  wireType: number;
  /** Varint and fixed values as bigint (unsigned), length-delimited as bytes. */
  value: bigint | Uint8Array;
}

/** Splits one message into its top-level fields. Throws on malformed input. */
export function readFields(bytes: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= bytes.length) throw new RangeError('truncated varint');
      const b = bytes[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new RangeError('varint too long');
    }
  };
  const fixed = (n: number): bigint => {
    if (pos + n > bytes.length) throw new RangeError('truncated fixed field');
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]!);
    pos += n;
    return v;
  };
  while (pos < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (field === 0) throw new RangeError('field number 0');
    switch (wireType) {
      case WIRE_VARINT:
        out.push({ field, wireType, value: varint() });
        break;
      case WIRE_FIXED64:
        out.push({ field, wireType, value: fixed(8) });
        break;
      case WIRE_FIXED32:
        out.push({ field, wireType, value: fixed(4) });
        break;
      case WIRE_LEN: {
        const len = Number(varint());
        if (pos + len > bytes.length) throw new RangeError('truncated length-delimited field');
        out.push({ field, wireType, value: bytes.subarray(pos, pos + len) });
        pos += len;
        break;
      }
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
  }
  return out;
}
