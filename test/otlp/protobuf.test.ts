import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';

import { ProtoWriter, readFields } from '../../src/otlp/protobuf.js';

const root = protobuf.parse(
  `syntax = "proto3";
   message T {
     uint64 u = 1; int64 i = 2; sint32 s = 3; fixed64 f = 4; double d = 5; string str = 6; bytes b = 7;
     repeated int64 packed = 8; repeated fixed64 pf = 9; T child = 10; bool flag = 11; int32 neg = 12;
     repeated string names = 13; sint64 s64 = 14;
   }`,
  { keepCase: true },
).root;
const T = root.lookupType('T');

interface DT {
  u: string;
  i: string;
  s: number;
  f: string;
  d: number;
  str: string;
  b: number[];
  packed: string[];
  pf: string[];
  child: DT | null;
  flag: boolean;
  neg: number;
  names: string[];
  s64: string;
}

const read = (bytes: Uint8Array): DT => T.toObject(T.decode(bytes), { longs: String, bytes: Array, defaults: true, arrays: true }) as DT;

describe('protobuf writer (checked with protobufjs)', () => {
  it('writes every scalar kind, packed repeated fields and nested messages', () => {
    const w = new ProtoWriter(1); // starts tiny: exercises growth
    w.varint(1, 2n ** 64n - 1n)
      .varint(2, 9_007_199_254_740_991)
      .sint(3, -123456)
      .fixed64(4, 0xfedcba9876543210n)
      .double(5, 1.5e-7)
      .string(6, 'héllo \u{1F600}')
      .bytes(7, new Uint8Array([0, 255, 7]))
      .packedVarint(8, [0, 1, 127, 128, 2 ** 32, 2 ** 40 + 3, 5_000_000_000n])
      .packedFixed64(9, [1n, 2n ** 63n])
      .message(10, (c) => c.varint(1, 300).optString(6, 'child'))
      .varint(11, true)
      .varint(12, -2)
      .string(13, '')
      .string(13, 'b')
      .sint(14, -(2n ** 62n));
    const m = read(w.finish());
    assert.equal(m.u, '18446744073709551615');
    assert.equal(m.i, '9007199254740991');
    assert.equal(m.s, -123456);
    assert.equal(m.f, BigInt('0xfedcba9876543210').toString());
    assert.equal(m.d, 1.5e-7);
    assert.equal(m.str, 'héllo \u{1F600}');
    assert.deepEqual(m.b, [0, 255, 7]);
    assert.deepEqual(m.packed, ['0', '1', '127', '128', String(2 ** 32), String(2 ** 40 + 3), '5000000000']);
    assert.deepEqual(m.pf, ['1', (2n ** 63n).toString()]);
    assert.equal(m.child?.u, '300');
    assert.equal(m.child?.str, 'child');
    assert.equal(m.flag, true);
    assert.equal(m.neg, -2);
    assert.deepEqual(m.names, ['', 'b'], 'repeated strings keep empty entries');
    assert.equal(m.s64, (-(2n ** 62n)).toString());
  });

  it('opt* helpers omit proto3 defaults; packed helpers omit empty lists', () => {
    const w = new ProtoWriter().optVarint(1, 0).optVarint(2, 0n).optFixed64(4, 0n).optString(6, '').packedVarint(8, []).packedFixed64(9, []);
    assert.equal(w.finish().length, 0);
  });

  it('rejects what protobuf cannot carry', () => {
    assert.throws(() => new ProtoWriter().varint(1, 1.5), RangeError);
    assert.throws(() => new ProtoWriter().varint(1, 2n ** 64n), RangeError);
    assert.throws(() => new ProtoWriter().varint(0, 1), RangeError);
  });

  it('reads back top-level fields (used for export responses)', () => {
    const bytes = T.encode(T.fromObject({ u: 5, str: 'x', f: 7, child: { u: 1 } })).finish();
    const fields = readFields(bytes);
    assert.deepEqual(
      fields.map((f) => [f.field, f.wireType]),
      [
        [1, 0],
        [4, 1],
        [6, 2],
        [10, 2],
      ],
    );
    assert.equal(fields[0]!.value, 5n);
    assert.equal(fields[1]!.value, 7n);
    assert.throws(() => readFields(new Uint8Array([0x0a, 0x05, 0x01])), RangeError);
  });
});
