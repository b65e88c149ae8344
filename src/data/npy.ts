/**
 * NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0), read and written without numpy.
 *
 * Layout of a file: the magic `\x93NUMPY`, a major and minor version byte, the header length
 * (uint16 LE in v1, uint32 LE in v2/v3), an ASCII (v3: UTF-8) Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2000, 784), }` padded with spaces and a
 * newline so that the data starts on a 64-byte boundary, then the raw elements in C order.
 *
 * Element types read: float16 / float32 / float64, int8..int64, uint8..uint64 and bool, in
 * either byte order ('<', '>', '|', '='; big-endian data is byte-swapped on read). Arrays are
 * returned in mlc's in-memory form (src/ir/dtype.ts): float16 as raw bits in a Uint16Array,
 * int64 as BigInt64Array, bool as 0/1 bytes. Refused with a clear error: Fortran-ordered arrays,
 * structured / object / string / complex dtypes.
 */
import { MlcError } from '../core/errors.js';
import type { TypedArrayData } from '../core/arrays.js';

/** An n-dimensional array: dtype name as in src/ir/dtype.ts ('float', 'int64', 'float16', ...). */
export interface NdArray {
  dtype: string;
  dims: number[];
  data: NdData;
}

export type NdData = TypedArrayData;

interface Kind {
  dtype: string;
  bytes: number;
  make: (buf: ArrayBuffer, n: number, offset?: number) => NdData;
}

/** A kind read into (and written from) views of the typed array `C`. */
function kind(dtype: string, C: { new (b: ArrayBuffer, offset: number, n: number): NdData; BYTES_PER_ELEMENT: number }): Kind {
  return { dtype, bytes: C.BYTES_PER_ELEMENT, make: (b, n, o = 0) => new C(b, o, n) };
}

const KINDS: Record<string, Kind> = {
  f2: kind('float16', Uint16Array),
  f4: kind('float', Float32Array),
  f8: kind('double', Float64Array),
  i1: kind('int8', Int8Array),
  i2: kind('int16', Int16Array),
  i4: kind('int32', Int32Array),
  i8: kind('int64', BigInt64Array),
  u1: kind('uint8', Uint8Array),
  u2: kind('uint16', Uint16Array),
  u4: kind('uint32', Uint32Array),
  u8: kind('uint64', BigUint64Array),
  b1: kind('bool', Uint8Array),
};

/** numpy type code per mlc dtype name, for writing. */
const CODE_OF: Record<string, string> = Object.fromEntries(Object.entries(KINDS).map(([code, k]) => [k.dtype, code]));
CODE_OF['float32'] = 'f4';
CODE_OF['float64'] = 'f8';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function fail(name: string, msg: string): never {
  throw new MlcError('INPUT', `${name}: ${msg}`);
}

/** Parse the header dict literal; only the three keys numpy writes are understood. */
function parseHeader(text: string, name: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) fail(name, 'structured (record) arrays are not supported; save one plain array per input');
    fail(name, `not a valid .npy header (no 'descr'): ${text.trim().slice(0, 120)}`);
  }
  if (!fortran || !shape) fail(name, `not a valid .npy header: ${text.trim().slice(0, 120)}`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d+$/.test(s)) fail(name, `bad dimension '${s}' in .npy shape (${shape[1]})`);
      return Number(s);
    });
  return { descr: descr[2], fortran: fortran[1] === 'True', shape: dims };
}

function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ParseNpyOptions {
  /**
   * the caller hands `bytes` over (a file just read, an unzipped member) and never uses them
   * again: the data is then a view of them where it is aligned little-endian data, not a copy
   * (a 60 MB calibration set: one copy of it less)
   */
  own?: boolean;
}

/**
 * Decode `.npy` bytes. `name` is used in error messages (a file name or an npz member).
 * The returned data never aliases `bytes`, unless `own`.
 */
export function parseNpy(bytes: Uint8Array, name = 'array.npy', opts: ParseNpyOptions = {}): NdArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) fail(name, 'not a .npy file (bad magic; expected \\x93NUMPY)');
  const major = bytes[6];
  let headerLen: number;
  let offset: number;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(name, 'truncated .npy header');
    headerLen = dv.getUint32(8, true);
    offset = 12;
  } else {
    fail(name, `unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (offset + headerLen > bytes.length) fail(name, 'truncated .npy header');
  const headerBytes = bytes.subarray(offset, offset + headerLen);
  const text = major === 3 ? new TextDecoder().decode(headerBytes) : String.fromCharCode(...headerBytes);
  const h = parseHeader(text, name);
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(h.descr);
  const code = m ? `${m[2]}${m[3]}` : h.descr;
  const kind = m ? KINDS[code] : undefined;
  if (!kind) {
    const what = /^[<>|=]?[OUSVaMmc]/.test(h.descr)
      ? 'object, string, bytes, datetime and complex arrays are not supported'
      : 'unsupported element type';
    fail(name, `dtype '${h.descr}': ${what} (supported: float16/32/64, int8..int64, uint8..uint64, bool)`);
  }
  if (h.fortran) {
    fail(name, `Fortran-ordered arrays are not supported; save a C-ordered copy (numpy.ascontiguousarray(a)) instead`);
  }
  const count = h.shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const need = count * kind.bytes;
  if (bytes.length - start < need) {
    fail(name, `truncated .npy data: shape (${h.shape.join(', ')}) of ${kind.dtype} needs ${need} bytes, the file has ${bytes.length - start}`);
  }
  const bigEndian = m![1] === '>' || (m![1] === '=' && !LITTLE_ENDIAN_HOST);
  const swap = bigEndian === LITTLE_ENDIAN_HOST;
  const at = bytes.byteOffset + start;
  let data: NdData;
  if (opts.own && !swap && at % kind.bytes === 0) data = kind.make(bytes.buffer as ArrayBuffer, count, at);
  else {
    const copy = new Uint8Array(need);
    copy.set(bytes.subarray(start, start + need));
    if (swap) swapBytes(copy, kind.bytes);
    data = kind.make(copy.buffer, count);
  }
  if (kind.dtype === 'bool') {
    const d = data as Uint8Array;
    for (let i = 0; i < d.length; i++) if (d[i] > 1) d[i] = 1;
  }
  return { dtype: kind.dtype, dims: h.shape, data };
}

/** Encode an array as `.npy` bytes (little-endian, C order; format 1.0, or 2.0 for huge headers). */
export function encodeNpy(arr: NdArray): Uint8Array {
  const code = CODE_OF[arr.dtype];
  if (!code) throw new MlcError('UNSUPPORTED', `cannot write dtype '${arr.dtype}' to .npy`);
  const kind = KINDS[code];
  const count = arr.dims.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count) {
    throw new MlcError('INTERNAL', `encodeNpy: ${arr.data.length} elements for shape [${arr.dims.join(', ')}] (${count})`);
  }
  const bpe = (arr.data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT;
  if (bpe !== kind.bytes) {
    throw new MlcError('INTERNAL', `encodeNpy: dtype '${arr.dtype}' needs ${kind.bytes}-byte elements, the data has ${bpe ?? 'no typed array'}`);
  }
  const order = kind.bytes === 1 ? '|' : '<';
  const shape = arr.dims.length === 1 ? `(${arr.dims[0]},)` : `(${arr.dims.join(', ')})`;
  let dict = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': ${shape}, }`;
  let major = 1;
  let pre = 10;
  if (dict.length + 1 + pre > 0xffff) {
    major = 2;
    pre = 12;
  }
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict + ' '.repeat(total - pre - dict.length - 1) + '\n';
  const out = new Uint8Array(total + count * kind.bytes);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  const src = arr.data;
  const body = new Uint8Array(src.buffer, src.byteOffset, count * kind.bytes);
  out.set(body, total);
  if (!LITTLE_ENDIAN_HOST) swapBytes(out.subarray(total), kind.bytes);
  if (arr.dtype === 'bool') {
    const d = out.subarray(total);
    for (let i = 0; i < d.length; i++) d[i] = d[i] ? 1 : 0;
  }
  return out;
}
