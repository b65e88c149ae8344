/** TensorProto ↔ Tensor for every dtype and storage form. */
import { describe, expect, it } from 'vitest';
import { DataType, Tensor, allocData, dtypeInfo, dtypeName } from '../../src/ir/index.js';
import { decodeTensorProto, encodeTensorProto } from '../../src/onnx/index.js';
import { decodeMessage, encodeMessage } from '../../src/onnx/proto.js';
import { MlcError } from '../../src/core/errors.js';

const enc = (m: Record<string, unknown>) => encodeMessage('TensorProto', m);
const long = (v: bigint) => {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0 };
};

function bytesOf(t: Tensor): Buffer {
  const d = t.data as Uint8Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

describe('typed storage fields', () => {
  it('float_data', () => {
    const t = decodeTensorProto(enc({ name: 'w', dims: [2, 2], dataType: 1, floatData: [1.5, -2, 0, 3.25] }));
    expect(t.name).toBe('w');
    expect(t.dtype).toBe(DataType.FLOAT);
    expect(t.dims).toEqual([2, 2]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect([...(t.data as Float32Array)]).toEqual([1.5, -2, 0, 3.25]);
  });

  it('double_data (double and complex128)', () => {
    const t = decodeTensorProto(enc({ dims: [3], dataType: 11, doubleData: [0.1, 1e300, -5] }));
    expect([...(t.data as Float64Array)]).toEqual([0.1, 1e300, -5]);
    const c = decodeTensorProto(enc({ dims: [2], dataType: 15, doubleData: [1, 2, 3, 4] }));
    expect([...(c.data as Float64Array)]).toEqual([1, 2, 3, 4]);
    const c64 = decodeTensorProto(enc({ dims: [1], dataType: 14, floatData: [1, -1] }));
    expect([...(c64.data as Float32Array)]).toEqual([1, -1]);
  });

  it('int32_data for int32, int16, int8, uint16, uint8, bool, float16, bfloat16, float8', () => {
    const cases: [DataType, number[], unknown][] = [
      [DataType.INT32, [-2147483648, 2147483647, 0], Int32Array],
      [DataType.INT16, [-32768, 32767, 1], Int16Array],
      [DataType.INT8, [-128, 127, -1], Int8Array],
      [DataType.UINT16, [0, 65535, 7], Uint16Array],
      [DataType.UINT8, [0, 255, 9], Uint8Array],
      [DataType.BOOL, [1, 0, 1], Uint8Array],
      [DataType.FLOAT16, [0x3c00, 0xc000, 0x7c00], Uint16Array],
      [DataType.BFLOAT16, [0x3f80, 0xc000, 0x7f80], Uint16Array],
      [DataType.FLOAT8E4M3FN, [0x38, 0xb8, 0x7e], Uint8Array],
      [DataType.FLOAT8E5M2FNUZ, [1, 2, 3], Uint8Array],
    ];
    for (const [dt, vals, ctor] of cases) {
      const t = decodeTensorProto(enc({ dims: [3], dataType: dt, int32Data: vals }));
      expect(t.data, dtypeName(dt)).toBeInstanceOf(ctor);
      expect([...(t.data as Int32Array)], dtypeName(dt)).toEqual(vals);
      // written back as raw_data, read back identical
      const back = decodeTensorProto(encodeTensorProto(t));
      expect(back.dtype).toBe(dt);
      expect(bytesOf(back).equals(bytesOf(t)), dtypeName(dt)).toBe(true);
    }
  });

  it('int32_data with packed 4-bit pairs', () => {
    const t = decodeTensorProto(enc({ dims: [3], dataType: DataType.INT4, int32Data: [0x21, 0x0f] }));
    expect([...(t.data as Uint8Array)]).toEqual([0x21, 0x0f]);
    expect(t.byteLength).toBe(2);
  });

  it('int64_data keeps INT64_MAX and INT64_MIN exactly', () => {
    const max = 9223372036854775807n;
    const min = -9223372036854775808n;
    const t = decodeTensorProto(enc({ dims: [4], dataType: 7, int64Data: [long(max), long(min), -1, 5] }));
    expect(t.data).toBeInstanceOf(BigInt64Array);
    expect([...(t.data as BigInt64Array)]).toEqual([max, min, -1n, 5n]);
    const back = decodeTensorProto(encodeTensorProto(t));
    expect([...(back.data as BigInt64Array)]).toEqual([max, min, -1n, 5n]);
  });

  it('uint64_data for uint64 and uint32', () => {
    const umax = 18446744073709551615n;
    const t = decodeTensorProto(enc({ dims: [2], dataType: 13, uint64Data: [{ ...long(umax), unsigned: true }, 3] }));
    expect(t.data).toBeInstanceOf(BigUint64Array);
    expect([...(t.data as BigUint64Array)]).toEqual([umax, 3n]);
    const u32 = decodeTensorProto(enc({ dims: [2], dataType: 12, uint64Data: [4294967295, 1] }));
    expect(u32.data).toBeInstanceOf(Uint32Array);
    expect([...(u32.data as Uint32Array)]).toEqual([4294967295, 1]);
  });

  it('string_data (bytes, not necessarily UTF-8)', () => {
    const raw = [new Uint8Array([0xff, 0x00, 0x41]), new TextEncoder().encode('héllo')];
    const t = decodeTensorProto(enc({ dims: [2], dataType: 8, stringData: raw }));
    expect(t.dtype).toBe(DataType.STRING);
    expect((t.data as Uint8Array[]).map((b) => [...b])).toEqual(raw.map((b) => [...b]));
    const back = decodeTensorProto(encodeTensorProto(t));
    expect((back.data as Uint8Array[]).map((b) => [...b])).toEqual(raw.map((b) => [...b]));
  });

  it('scalars and empty tensors', () => {
    const s = decodeTensorProto(enc({ dims: [], dataType: 1, floatData: [7] }));
    expect(s.dims).toEqual([]);
    expect([...(s.data as Float32Array)]).toEqual([7]);
    const e = decodeTensorProto(enc({ dims: [0, 3], dataType: 1 }));
    expect(e.size).toBe(0);
    expect(decodeTensorProto(encodeTensorProto(e)).dims).toEqual([0, 3]);
  });
});

describe('raw_data', () => {
  const numeric = Array.from({ length: 23 }, (_, i) => (i + 1) as DataType).filter((d) => d !== DataType.STRING);

  it('round-trips every numeric dtype byte for byte', () => {
    for (const dt of numeric) {
      const data = allocData(dt, 5);
      const view = new Uint8Array((data as Uint8Array).buffer);
      for (let i = 0; i < view.length; i++) view[i] = (i * 37 + dt) & 0xff;
      const t = new Tensor(`t${dt}`, dt, [5], data);
      const bytes = encodeTensorProto(t);
      const pm = decodeMessage('TensorProto', bytes);
      expect(pm.rawData.length, dtypeName(dt)).toBe(Math.ceil(5 * dtypeInfo(dt).bytes));
      const back = decodeTensorProto(bytes);
      expect(back.dtype).toBe(dt);
      expect(back.dims).toEqual([5]);
      expect(back.data.constructor, dtypeName(dt)).toBe(data.constructor);
      expect(bytesOf(back).equals(bytesOf(t)), dtypeName(dt)).toBe(true);
    }
  });

  it('is little-endian', () => {
    const t = decodeTensorProto(enc({ dims: [1], dataType: 6, rawData: new Uint8Array([1, 2, 0, 0]) }));
    expect((t.data as Int32Array)[0]).toBe(0x0201);
  });

  it('reads unaligned raw_data (copy) and aligned raw_data (view) alike', () => {
    const f = new Float32Array([1, 2, 3, 4]);
    const raw = new Uint8Array(f.buffer);
    // the name shifts raw_data's position in the message by one byte per character
    for (const name of ['', 'a', 'ab', 'abc']) {
      const t = decodeTensorProto(enc({ name, dims: [4], dataType: 1, rawData: raw }));
      expect([...(t.data as Float32Array)]).toEqual([1, 2, 3, 4]);
    }
  });

  it('rejects raw_data whose size does not match the shape', () => {
    const bad = enc({ name: 'w', dims: [3], dataType: 1, rawData: new Uint8Array(8) });
    expect(() => decodeTensorProto(bad)).toThrow(MlcError);
    expect(() => decodeTensorProto(bad)).toThrow(/tensor w: raw_data has 8 bytes.*needs 12/);
    const few = enc({ name: 'v', dims: [3], dataType: 1, floatData: [1] });
    expect(() => decodeTensorProto(few)).toThrow(/tensor v: has 1 stored values/);
  });

  it('rejects garbage', () => {
    expect(() => decodeTensorProto(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(MlcError);
  });
});
