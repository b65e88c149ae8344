/** mlc's protobuf codec (src/onnx/wire.ts): every field kind, packing, varints, unknown fields, errors. */
import { describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { DataType, ModelBuilder } from '../../src/ir/index.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { SCHEMA, WireError, decode, encode, encodeChunks, lengthDelimitedField, type Msg } from '../../src/onnx/wire.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** encode → decode from a plain Uint8Array (bytes fields then come back as Uint8Array views). */
const roundTrip = (type: string, m: Msg) => decode(new Uint8Array(encode(type, m)), type);

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('wire codec: field kinds', () => {
  it('round-trips every scalar kind, singular and repeated', () => {
    const attr: Msg = {
      name: 'aé😀', // string: ASCII, 2-byte and 4-byte UTF-8
      refAttrName: '',
      type: -1, // int32 / enum, negative
      f: 0.5, // float
      i: -(2n ** 63n), // int64, min
      s: new Uint8Array([0, 255, 128]), // bytes
      floats: Float32Array.from([1.5, -2, 3.25]), // packed float
      ints: [0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 2n ** 63n - 1n, 300], // packed int64
      strings: [new Uint8Array([1]), new Uint8Array(0)], // repeated bytes
      tensors: [{ dims: [2, 3], dataType: DataType.DOUBLE, doubleData: Float64Array.from([0.1, 1e300, -5, 0, -0, Number.MIN_VALUE]) }],
    };
    const back = roundTrip('AttributeProto', attr);
    expect(back).toEqual({ ...attr, strings: [new Uint8Array([1]), new Uint8Array(0)] });
    const t = decode(
      encode('TensorProto', { uint64Data: [0, 2 ** 53 - 1, 2n ** 64n - 1n], int32Data: [-2147483648, 2147483647, -1, 0], segment: { begin: 5, end: 2n ** 62n } }),
      'TensorProto',
    );
    expect(t.uint64Data).toEqual([0, 2 ** 53 - 1, 2n ** 64n - 1n]);
    expect(t.int32Data).toEqual([-2147483648, 2147483647, -1, 0]);
    expect(t.segment).toEqual({ begin: 5, end: 2n ** 62n });
  });

  it('writes the bytes protobuf specifies', () => {
    // OperatorSetIdProto { domain: '', version: 17 }: strings are written even when empty
    expect(hex(encode('OperatorSetIdProto', { domain: '', version: 17 }))).toBe('0a001011');
    // a negative int32 is a 10-byte varint (sign-extended to 64 bits)
    expect(hex(encode('TensorProto', { dataType: -1 }))).toBe('10ffffffffffffffffff01');
    // int64 -2 and 300, packed (field 1, wire type 2)
    expect(hex(encode('TensorProto', { dims: [-2, 300] }))).toBe('0a0cfeffffffffffffffff01ac02');
    // fixed32 float and the field order by number (type 20 after f 2)
    expect(hex(encode('AttributeProto', { type: 1, f: 1 }))).toBe('150000803fa00101');
    // uint64 max
    expect(hex(encode('TensorProto', { uint64Data: [2n ** 64n - 1n] }))).toBe('5a0affffffffffffffffff01');
    // absent, null and empty repeated fields are not written
    expect(encode('NodeProto', { name: undefined, opType: null, input: [] }).length).toBe(0);
  });

  it('reads packed and unpacked repeated numbers alike (and both mixed)', () => {
    const packed = decode(bytes('0a 03 02 03 04  22 08 0000803f 00000040'), 'TensorProto');
    const unpacked = decode(bytes('08 02 08 03 08 04  25 0000803f 25 00000040'), 'TensorProto');
    expect(unpacked.dims).toEqual([2, 3, 4]);
    expect(packed.dims).toEqual([2, 3, 4]);
    expect([...packed.floatData]).toEqual([1, 2]);
    expect([...unpacked.floatData]).toEqual([1, 2]);
    const mixed = decode(bytes('08 02 0a 02 03 04 22 04 0000803f 25 00000040'), 'TensorProto');
    expect(mixed.dims).toEqual([2, 3, 4]);
    expect([...mixed.floatData]).toEqual([1, 2]);
  });

  it('reads negative varints of every width as int32 / int64', () => {
    // data_type -1 written as a 5-byte (32-bit) varint, as some writers do, and as 10 bytes
    expect(decode(bytes('10 ffffffff0f'), 'TensorProto').dataType).toBe(-1);
    expect(decode(bytes('10 ffffffffffffffffff01'), 'TensorProto').dataType).toBe(-1);
    // int64: -1, -2^63, and 2^53 + 1 (not a safe number: bigint)
    expect(decode(bytes('18 ffffffffffffffffff01'), 'AttributeProto').i).toBe(-1);
    expect(decode(bytes('18 80808080808080808001'), 'AttributeProto').i).toBe(-(2n ** 63n));
    expect(decode(encode('AttributeProto', { i: 2n ** 53n + 1n }), 'AttributeProto').i).toBe(2n ** 53n + 1n);
  });

  it('views bytes fields in the input (zero-copy) and copies packed floats', () => {
    const raw = new Uint8Array(64).map((_, i) => i);
    const buf = encode('TensorProto', { rawData: raw, floatData: [1, 2] });
    const t = decode(buf, 'TensorProto');
    expect(t.rawData.buffer).toBe(buf.buffer);
    expect([...t.rawData]).toEqual([...raw]);
    expect(t.floatData).toBeInstanceOf(Float32Array);
    expect(t.floatData.buffer).not.toBe(buf.buffer);
  });

  it('merges a singular message field that occurs twice (protobuf semantics)', () => {
    const a = lengthDelimitedField(3, encode('TensorProto.Segment', { begin: 1 }));
    const b = lengthDelimitedField(3, encode('TensorProto.Segment', { end: 9 }));
    expect(decode(Buffer.concat([a, b]), 'TensorProto').segment).toEqual({ begin: 1, end: 9 });
  });

  it('every schema field survives encode → decode', () => {
    const sample = (kind: unknown): unknown => {
      if (typeof kind === 'object') return {};
      return { s: 'x', b: new Uint8Array([7]), i32: -5, i64: -6, u64: 7, f32: 0.25, f64: 0.125 }[kind as string];
    };
    for (const [type, fields] of Object.entries(SCHEMA)) {
      for (const spec of Object.values(fields)) {
        const v = sample(spec.kind);
        const m: Msg = { [spec.name]: spec.repeated ? [v, v] : v };
        const back = roundTrip(type, m);
        const got = back[spec.name];
        const norm = (x: unknown) => (x instanceof Float32Array || x instanceof Float64Array ? [...x] : x);
        expect(norm(got), `${type}.${spec.name}`).toEqual(m[spec.name]);
      }
    }
  });
});

describe('wire codec: unknown fields', () => {
  it('keeps every wire type of unknown field as raw bytes and writes them back unchanged', () => {
    const unknown = [
      bytes('f8 01 2a'), // field 31 varint 42
      bytes('81 02 0102030405060708'), // field 32 fixed64
      bytes('8d 02 01020304'), // field 33 fixed32
      bytes('92 02 03 616263'), // field 34 length-delimited "abc"
    ];
    const known = encode('OperatorSetIdProto', { domain: 'd', version: 3 });
    const input = Buffer.concat([unknown[0], known.subarray(0, 3), unknown[1], unknown[2], known.subarray(3), unknown[3]]);
    const counted = new Map<string, number>();
    const m = decode(input, 'OperatorSetIdProto', { unknown: counted });
    expect(m.domain).toBe('d');
    expect(m.version).toBe(3);
    expect(m.$unknown.map(hex)).toEqual(unknown.map(hex));
    expect([...counted.keys()]).toEqual([31, 32, 33, 34].map((f) => `OperatorSetIdProto field ${f}`));
    // known fields first (by number), then the unknown ones in file order
    expect(hex(encode('OperatorSetIdProto', m))).toBe(hex(Buffer.concat([known, ...unknown])));
  });

  it('keepRaw keeps known fields as raw bytes, validated', () => {
    const node = Buffer.concat([encode('NodeProto', { opType: 'Relu' }), lengthDelimitedField(8, new TextEncoder().encode('fast'))]);
    const m = decode(node, 'NodeProto', { keepRaw: { NodeProto: [8] } });
    expect(m.overload).toBeUndefined();
    expect(m.$unknown.map(hex)).toEqual([hex(lengthDelimitedField(8, new TextEncoder().encode('fast')))]);
    expect(hex(encode('NodeProto', m))).toBe(hex(node));
    // a kept-raw field with the wrong wire type still fails
    expect(() => decode(bytes('40 01'), 'NodeProto', { keepRaw: { NodeProto: [8] } })).toThrow(/NodeProto field 8 \(overload\) has wire type 0/);
  });
});

describe('wire codec: malformed input', () => {
  const cases: [string, string, RegExp, boolean][] = [
    ['length past the end', '0a 05 6162', /OperatorSetIdProto field 1 runs past the end of the file/, true],
    ['varint cut short', '10 80', /varint runs past the end/, true],
    ['11-byte varint', '10 ffffffffffffffffffff01', /malformed varint/, false],
    ['wire type 7', '7f', /field 15 has invalid wire type 7/, false],
    ['a known field with wire type 3', '0b', /field 1 \(domain\) has wire type 3/, false],
    ['field number 0', '00 01', /invalid field number 0/, false],
    ['string field as a varint', '08 01', /field 1 \(domain\) has wire type 0/, false],
    ['int64 field as fixed32', '15 01020304', /field 2 \(version\) has wire type 5/, false],
  ];
  for (const [what, h, re, truncated] of cases) {
    it(what, () => {
      const e = errorOf(() => decode(bytes(h), 'OperatorSetIdProto'));
      expect(e).toBeInstanceOf(WireError);
      expect(e.message).toMatch(re);
      expect((e as WireError).truncated).toBe(truncated);
    });
  }

  it('packed floats of a length that is not a multiple of 4', () => {
    expect(() => decode(bytes('22 03 000000'), 'TensorProto')).toThrow(/packed length 3 is not a multiple of 4/);
  });

  it('a nested message running past its parent', () => {
    // GraphProto node (field 1) of length 4 holding NodeProto name (field 3) of length 9
    expect(() => decode(bytes('0a 04 1a 09 6162'), 'GraphProto')).toThrow(/NodeProto field 3 runs past the end of its enclosing message/);
  });

  it('messages nested deeper than 200 levels', () => {
    let inner = encode('TypeProto', { denotation: 'x' });
    for (let i = 0; i < 120; i++) inner = lengthDelimitedField(1, lengthDelimitedField(4, inner)); // TypeProto.sequenceType.elemType
    expect(() => decode(inner, 'TypeProto.Sequence')).toThrow(/nested deeper than 200/);
  });

  it('every truncation of a model is a one-line INPUT error (or a valid prefix)', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 3]);
    b.output(b.op('Relu', [b.op('MatMul', [x, b.init('w', [3, 2], [1, 2, 3, 4, 5, 6])])], {}, { name: 'relu' }), DataType.FLOAT, ['N', 2], 'y');
    const full = modelToBytes(b.build());
    let errors = 0;
    for (let n = 1; n < full.length; n++) {
      try {
        await loadModel(full.subarray(0, n), { name: 'cut.onnx' });
      } catch (e) {
        expect(e).toBeInstanceOf(MlcError);
        const msg = (e as Error).message;
        expect(msg.split('\n')).toHaveLength(1);
        expect(msg).toMatch(/^cut\.onnx: (truncated or corrupt ONNX model \(.* at byte \d+ of \d+\)|not a valid ONNX model)/);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(full.length / 2);
  });

  it('garbage bytes are a one-line INPUT error, never a crash', async () => {
    let seed = 7;
    const rnd = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 4294967296;
    };
    for (let i = 0; i < 200; i++) {
      const g = new Uint8Array(1 + Math.floor(rnd() * 300)).map(() => Math.floor(rnd() * 256));
      try {
        await loadModel(g, { name: 'g.onnx' });
      } catch (e) {
        expect(e).toBeInstanceOf(MlcError);
        expect((e as Error).message.split('\n')).toHaveLength(1);
      }
    }
  });
});

describe('wire codec: chunked encoding', () => {
  it('passes big byte fields by reference and concatenates to the one-buffer encoding', () => {
    const big = new Uint8Array(1000).fill(3);
    const small = new Uint8Array(10).fill(4);
    const g: Msg = { name: 'g', initializer: [{ name: 'a', rawData: big }, { name: 'b', rawData: small }, { name: 'c', rawData: big }] };
    const chunks = encodeChunks('GraphProto', g, 100);
    expect(chunks.filter((c) => c === big)).toHaveLength(2);
    expect(hex(Buffer.concat(chunks))).toBe(hex(encode('GraphProto', g)));
  });
});
