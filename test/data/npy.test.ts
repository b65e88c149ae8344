import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy, type NdArray } from '../../src/data/npy.js';
import { MlcError } from '../../src/core/errors.js';
import { halfToFloat } from '../../src/math/float16.js';

const dir = join(__dirname, 'files');
const read = (f: string) => parseNpy(new Uint8Array(readFileSync(join(dir, f))), f);

describe('parseNpy on files written by numpy', () => {
  it('reads little- and big-endian float32 identically', () => {
    const le = read('f32_le.npy');
    const be = read('f32_be.npy');
    expect(le.dtype).toBe('float');
    expect(le.dims).toEqual([3, 4]);
    expect(le.data).toBeInstanceOf(Float32Array);
    expect(Array.from(le.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => i / 4 - 1));
    expect(Array.from(be.data as Float32Array)).toEqual(Array.from(le.data as Float32Array));
  });

  it('with `own`, aligned little-endian data is a view of the bytes (no copy); without, or misaligned or big-endian, a copy', () => {
    const bytes = new Uint8Array(readFileSync(join(dir, 'f32_le.npy')));
    const copied = parseNpy(bytes, 'a');
    const viewed = parseNpy(bytes, 'a', { own: true });
    expect((viewed.data as Float32Array).buffer).toBe(bytes.buffer);
    expect((copied.data as Float32Array).buffer).not.toBe(bytes.buffer);
    expect(Array.from(viewed.data as Float32Array)).toEqual(Array.from(copied.data as Float32Array));
    // one byte further into a bigger buffer: the data would be misaligned, so it is copied
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const odd = parseNpy(shifted.subarray(1), 'a', { own: true });
    expect((odd.data as Float32Array).buffer).not.toBe(shifted.buffer);
    expect(Array.from(odd.data as Float32Array)).toEqual(Array.from(copied.data as Float32Array));
    const beBytes = new Uint8Array(readFileSync(join(dir, 'f32_be.npy')));
    const be = parseNpy(beBytes, 'b', { own: true });
    expect((be.data as Float32Array).buffer).not.toBe(beBytes.buffer);
    expect(Array.from(be.data as Float32Array)).toEqual(Array.from(copied.data as Float32Array));
  });

  it('reads big-endian float64', () => {
    const a = read('f64_be.npy');
    expect(a.dtype).toBe('double');
    expect(Array.from(a.data as Float64Array)).toEqual(Array.from({ length: 12 }, (_, i) => i / 3));
  });

  it('reads float16 in both byte orders as raw bits', () => {
    const want = [0, 1, -2, 0.5, 65504, 6.1035156e-5, 5.9604645e-8, Infinity];
    for (const f of ['f16_le.npy', 'f16_be.npy']) {
      const a = read(f);
      expect(a.dtype).toBe('float16');
      expect(a.data).toBeInstanceOf(Uint16Array);
      const vals = Array.from(a.data as Uint16Array, halfToFloat);
      vals.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    }
  });

  it('reads the integer types and bool', () => {
    expect(Array.from(read('i8.npy').data as Int8Array)).toEqual([-128, -1, 0, 1, 127]);
    const u8 = read('u8.npy');
    expect([u8.dtype, u8.dims, Array.from(u8.data as Uint8Array)]).toEqual(['uint8', [2, 2], [0, 1, 254, 255]]);
    const i32 = read('i32_be.npy');
    expect([i32.dtype, Array.from(i32.data as Int32Array)]).toEqual(['int32', [-2147483648, -1, 0, 7, 2147483647]]);
    const big = [-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n];
    for (const f of ['i64_le.npy', 'i64_be.npy']) {
      const a = read(f);
      expect(a.dtype).toBe('int64');
      expect(a.data).toBeInstanceOf(BigInt64Array);
      expect(Array.from(a.data as BigInt64Array)).toEqual(big);
    }
    expect(Array.from(read('u16_be.npy').data as Uint16Array)).toEqual([0, 1, 65535]);
    const b = read('bool.npy');
    expect([b.dtype, b.dims, Array.from(b.data as Uint8Array)]).toEqual(['bool', [2, 3], [1, 0, 1, 0, 0, 1]]);
  });

  it('reads scalars, empty arrays and format versions 2 and 3', () => {
    const s = read('scalar.npy');
    expect([s.dims, Array.from(s.data as Float32Array)]).toEqual([[], [3.5]]);
    const e = read('empty.npy');
    expect([e.dims, e.data.length]).toEqual([[0, 4], 0]);
    for (const f of ['v2.npy', 'v3.npy']) expect(Array.from(read(f).data as Int32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses Fortran order, complex and string arrays with a clear error', () => {
    expect(() => read('fortran.npy')).toThrow(/fortran\.npy: Fortran-ordered arrays are not supported/);
    expect(() => read('complex.npy')).toThrow(/complex\.npy: dtype '<c8'.*not supported/);
    expect(() => read('unicode.npy')).toThrow(/unicode\.npy: dtype '<U2'.*not supported/);
    try {
      read('fortran.npy');
    } catch (err) {
      expect(err).toBeInstanceOf(MlcError);
      expect((err as MlcError).code).toBe('INPUT');
    }
  });

  it('refuses garbage and truncated files', () => {
    expect(() => parseNpy(new TextEncoder().encode('{"not": "npy"}'), 'x.npy')).toThrow(/x\.npy: not a \.npy file/);
    const good = new Uint8Array(readFileSync(join(dir, 'f32_le.npy')));
    expect(() => parseNpy(good.subarray(0, good.length - 4), 'cut.npy')).toThrow(/cut\.npy: truncated \.npy data: shape \(3, 4\) of float needs 48 bytes, the file has 44/);
    expect(() => parseNpy(good.subarray(0, 40), 'cut.npy')).toThrow(/truncated \.npy header/);
  });
});

describe('encodeNpy', () => {
  const cases: NdArray[] = [
    { dtype: 'float', dims: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-8, -1e30]) },
    { dtype: 'double', dims: [2], data: new Float64Array([Math.PI, -0]) },
    { dtype: 'float16', dims: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7c00]) },
    { dtype: 'int8', dims: [2], data: new Int8Array([-5, 5]) },
    { dtype: 'uint8', dims: [1, 2], data: new Uint8Array([0, 255]) },
    { dtype: 'int32', dims: [2], data: new Int32Array([-7, 7]) },
    { dtype: 'int64', dims: [3], data: new BigInt64Array([-1n, 2n ** 62n, 0n]) },
    { dtype: 'bool', dims: [2], data: new Uint8Array([1, 0]) },
    { dtype: 'float', dims: [], data: new Float32Array([2]) },
  ];
  for (const c of cases) {
    it(`round-trips ${c.dtype} ${JSON.stringify(c.dims)}`, () => {
      const bytes = encodeNpy(c);
      const h = new TextDecoder().decode(bytes.subarray(10, 10 + (bytes[8] | (bytes[9] << 8))));
      expect((10 + h.length) % 64).toBe(0);
      expect(h.endsWith('\n')).toBe(true);
      const back = parseNpy(bytes);
      expect(back).toEqual(c);
    });
  }

  it('writes the same bytes numpy writes', () => {
    const numpyBytes = new Uint8Array(readFileSync(join(dir, 'f32_le.npy')));
    expect(Buffer.from(encodeNpy(parseNpy(numpyBytes))).equals(Buffer.from(numpyBytes))).toBe(true);
    const i8 = new Uint8Array(readFileSync(join(dir, 'i8.npy')));
    expect(Buffer.from(encodeNpy(parseNpy(i8))).equals(Buffer.from(i8))).toBe(true);
  });

  it('rejects data that does not match the dtype or shape', () => {
    expect(() => encodeNpy({ dtype: 'float', dims: [2], data: new Float64Array(2) })).toThrow(/4-byte elements/);
    expect(() => encodeNpy({ dtype: 'float', dims: [3], data: new Float32Array(2) })).toThrow(/2 elements for shape \[3\]/);
    expect(() => encodeNpy({ dtype: 'string', dims: [1], data: new Uint8Array(1) })).toThrow(/cannot write dtype 'string'/);
  });
});
