/**
 * TensorProto ↔ Tensor. Every storage form is read (raw_data little-endian, float_data, int32_data,
 * int64_data, double_data, uint64_data, string_data, external data); tensors are written as raw_data
 * (string tensors as string_data), inline or to an external data file.
 *
 * raw_data is viewed in place (no copy) when its offset in the file is aligned for the element type;
 * otherwise it is copied once.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { MlcError } from '../core/errors.js';
import { DataType, type TensorData, allocData, dtypeInfo, dtypeName, numElements } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { KEEP_RAW, type Msg, b64, decodeMessage, encodeMessage, has, longToBigInt, longToInt, longToNumber, unb64 } from './proto.js';
import { Bail, readOwn } from './scan.js';
import { WireError } from './wire.js';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('mlc needs a little-endian host (ONNX raw_data is little-endian)');
}

export interface ReadContext {
  /** folder that external data locations are relative to; undefined when loaded from bytes */
  baseDir?: string;
  /** cache of open external data files (path → fd) */
  files?: Map<string, number>;
  /**
   * read big tensors (external data, and raw_data the scan left in the file) on first use instead
   * of now; the files stay open (see lazyTensor)
   */
  lazy?: boolean;
}

/** An open file that lazy tensors read from; closed once no tensor refers to it any more. */
export interface FileRef {
  fd: number;
  path: string;
}
const closer = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
});
/** fd → its FileRef (one per open file of a lazy load) */
const refs = new Map<number, WeakRef<FileRef>>();

/** The FileRef for `fd`, registering it so that the file is closed when the last tensor goes. */
export function fileRef(fd: number, path: string): FileRef {
  const old = refs.get(fd)?.deref();
  if (old && old.path === path) return old;
  const r: FileRef = { fd, path };
  closer.register(r, fd);
  refs.set(fd, new WeakRef(r));
  return r;
}

/**
 * Data of lazy tensors read lately, strong references up to LAZY_CACHE_BYTES (always at least the
 * last one): loops over one tensor's elements read it once, a pass over all tensors holds one at a
 * time. (A WeakRef would not do: V8 keeps every WeakRef target alive until the end of the current
 * synchronous job, so a loop over all tensors would hold them all.)
 */
const lazyCache = new Map<object, Exclude<TensorData, Uint8Array[]>>();
let lazyCacheBytes = 0;
const LAZY_CACHE_BYTES = 64 << 20;

function cacheLazy(key: object, d: Exclude<TensorData, Uint8Array[]>): void {
  lazyCache.set(key, d);
  lazyCacheBytes += d.byteLength;
  for (const [k, v] of lazyCache) {
    if (lazyCacheBytes <= LAZY_CACHE_BYTES || lazyCache.size <= 1) break;
    lazyCache.delete(k);
    lazyCacheBytes -= v.byteLength;
  }
}

/**
 * A tensor whose data is read from `file` at `offset` when used, and read again once it left the
 * small cache above: for a read-only copy of a model (the original in compress) that would
 * otherwise double the memory. Assigning `data` replaces it for good. The file stays open, so it
 * is the file as it was at load time even if its path is overwritten.
 */
function lazyTensor(name: string, dt: DataType, dims: number[], count: number, docString: string, file: FileRef, offset: number, length: number): Tensor {
  const t = new Tensor(name, dt, dims, allocData(dt, 0), docString);
  const key = {};
  Object.defineProperty(t, 'data', {
    configurable: true,
    enumerable: true,
    get(): TensorData {
      let d = lazyCache.get(key);
      if (d) {
        // most recently used goes last
        lazyCache.delete(key);
        lazyCache.set(key, d);
        return d;
      }
      let bytes: Uint8Array;
      try {
        bytes = readOwn(file.fd, offset, length);
      } catch (e) {
        const why = e instanceof Bail ? 'short read' : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
        throw new MlcError('INPUT', `tensor ${name || '(unnamed)'}: cannot read its data from ${file.path} (${why})`);
      }
      d = fromBytes(dt, bytes, count) as Exclude<TensorData, Uint8Array[]>;
      cacheLazy(key, d);
      return d;
    },
    set(v: TensorData) {
      const old = lazyCache.get(key);
      if (old) {
        lazyCache.delete(key);
        lazyCacheBytes -= old.byteLength;
      }
      Object.defineProperty(t, 'data', { value: v, writable: true, configurable: true, enumerable: true });
    },
  });
  return t;
}

const BYTES: Partial<Record<DataType, number>> = {};
for (let d = 1; d <= 23; d++) BYTES[d as DataType] = dtypeInfo(d as DataType).bytes;

/** Storage element count for `n` logical elements (complex: 2 per element; 4-bit: packed bytes). */
function storageCount(dt: DataType, n: number): number {
  if (dt === DataType.COMPLEX64 || dt === DataType.COMPLEX128) return 2 * n;
  if (dt === DataType.INT4 || dt === DataType.UINT4 || dt === DataType.FLOAT4E2M1) return Math.ceil(n / 2);
  return n;
}

/** A typed array of `dt` over little-endian bytes; a view when aligned, else a copy. */
function fromBytes(dt: DataType, bytes: Uint8Array, count: number): TensorData {
  const probe = allocData(dt, 0) as Exclude<TensorData, Uint8Array[]>;
  const Ctor = probe.constructor as unknown as {
    new (buf: ArrayBufferLike, off: number, len: number): Exclude<TensorData, Uint8Array[]>;
    new (len: number): Exclude<TensorData, Uint8Array[]>;
    BYTES_PER_ELEMENT: number;
  };
  const el = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % el === 0) return new Ctor(bytes.buffer, bytes.byteOffset, count);
  const out = new Ctor(count);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes.subarray(0, count * el));
  return out;
}

function externalInfo(tp: Msg): Record<string, string> {
  const info: Record<string, string> = {};
  for (const e of (tp.externalData ?? []) as Msg[]) info[e.key] = e.value;
  return info;
}

/** Where a tensor's external data is: the open file, offset and length (validated). */
function locateExternal(tp: Msg, name: string, expected: number, ctx: ReadContext): { fd: number; path: string; offset: number; length: number } {
  const info = externalInfo(tp);
  const loc = info.location;
  if (!loc) throw new MlcError('INPUT', `tensor ${name}: external data without a location`);
  if (ctx.baseDir === undefined) {
    throw new MlcError('INPUT', `tensor ${name} is stored in external file ${loc}, but the model was loaded from bytes (pass a path or baseDir)`);
  }
  if (isAbsolute(loc) || normalize(loc).split(sep).includes('..')) {
    throw new MlcError('INPUT', `tensor ${name}: external data location ${loc} must be a relative path inside the model folder`);
  }
  const path = join(ctx.baseDir, loc);
  const offset = info.offset !== undefined ? Number(info.offset) : 0;
  const length = info.length !== undefined ? Number(info.length) : expected;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new MlcError('INPUT', `tensor ${name}: bad external data offset/length (${info.offset}, ${info.length})`);
  }
  if (length !== expected) {
    throw new MlcError('INPUT', `tensor ${name}: external data length ${length} does not match its shape and type (${expected} bytes)`);
  }
  const files = (ctx.files ??= new Map());
  let fd = files.get(path);
  if (fd === undefined) {
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new MlcError(
        'INPUT',
        `tensor ${name}: external data file ${path} ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (e as Error).message})`}`,
      );
    }
    files.set(path, fd);
  }
  const size = fstatSync(fd).size;
  if (offset + length > size) {
    throw new MlcError('INPUT', `tensor ${name}: external data file ${path} is too short (needs bytes ${offset}..${offset + length}, file has ${size})`);
  }
  return { fd, path, offset, length };
}

function readExternal(tp: Msg, name: string, expected: number, ctx: ReadContext): Uint8Array {
  const { fd, path, offset, length } = locateExternal(tp, name, expected, ctx);
  try {
    // a buffer of its own per tensor: aligned, and freed when a pass replaces the tensor
    return readOwn(fd, offset, length);
  } catch (e) {
    if (e instanceof Bail) throw new MlcError('INPUT', `tensor ${name}: short read from ${path}`);
    throw new MlcError('INPUT', `tensor ${name}: cannot read external data from ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function closeFiles(ctx: ReadContext): void {
  for (const fd of ctx.files?.values() ?? []) {
    // files lazy tensors read from are closed when the last of them is gone
    if (!refs.get(fd)?.deref()) closeSync(fd);
  }
  ctx.files?.clear();
}

/** TensorProto (decoded by wire.ts) → Tensor. Throws MlcError('INPUT') on inconsistent data. */
export function tensorFromProto(tp: Msg, ctx: ReadContext = {}): Tensor {
  const name: string = tp.name ?? '';
  const dt = (tp.dataType ?? 0) as DataType;
  const dims = ((tp.dims ?? []) as unknown[]).map((d) => longToNumber(d, `tensor ${name}: dimension`));
  const n = numElements(dims);
  const label = name || '(unnamed)';
  if (dims.some((d) => d < 0) || !Number.isSafeInteger(n) || n > 2 ** 40) {
    throw new MlcError('INPUT', `tensor ${label}: invalid dims ${JSON.stringify(dims)}`);
  }
  if (dt === DataType.UNDEFINED || BYTES[dt] === undefined) {
    throw new MlcError('UNSUPPORTED', `tensor ${label}: unsupported data type ${dt === 0 ? 'UNDEFINED' : dt}`);
  }
  let data: TensorData;
  const sc = storageCount(dt, n);
  const external = (tp.dataLocation ?? 0) === 1;
  if (dt === DataType.STRING) {
    const s = (tp.stringData ?? []) as Uint8Array[];
    if (s.length !== n) throw new MlcError('INPUT', `tensor ${label}: has ${s.length} strings, shape needs ${n}`);
    data = s.map((b) => b.slice());
  } else if (tp.$lazy || (external && ctx.lazy)) {
    const expected = Math.ceil(n * BYTES[dt]!);
    const at = tp.$lazy
      ? (tp.$lazy as { file: FileRef; offset: number; length: number })
      : (() => {
          const x = locateExternal(tp, label, expected, ctx);
          return { file: fileRef(x.fd, x.path), offset: x.offset, length: x.length };
        })();
    if (at.length !== expected) {
      throw new MlcError('INPUT', `tensor ${label}: raw_data has ${at.length} bytes, ${dtypeName(dt)} ${JSON.stringify(dims)} needs ${expected}`);
    }
    const t = lazyTensor(name, dt, dims, sc, tp.docString ?? '', at.file, at.offset, at.length);
    addExtra(t, tp);
    return t;
  } else if (external || has(tp, 'rawData')) {
    const expected = Math.ceil(n * BYTES[dt]!);
    const raw: Uint8Array = external ? readExternal(tp, label, expected, ctx) : tp.rawData;
    if (raw.length !== expected) {
      throw new MlcError('INPUT', `tensor ${label}: raw_data has ${raw.length} bytes, ${dtypeName(dt)} ${JSON.stringify(dims)} needs ${expected}`);
    }
    data = fromBytes(dt, raw, sc);
  } else {
    const stored = [tp.floatData, tp.doubleData, tp.int32Data, tp.int64Data, tp.uint64Data].reduce((m, a) => Math.max(m, a?.length ?? 0), 0);
    if (stored !== sc) {
      throw new MlcError('INPUT', `tensor ${label}: has ${stored} stored values, ${dtypeName(dt)} ${JSON.stringify(dims)} needs ${sc}`);
    }
    data = allocData(dt, n);
    const check = (have: number) => {
      if (have !== sc) throw new MlcError('INPUT', `tensor ${label}: has ${have} values in the field its type uses, ${dtypeName(dt)} ${JSON.stringify(dims)} needs ${sc}`);
    };
    switch (dt) {
      case DataType.FLOAT:
      case DataType.COMPLEX64: {
        const f = (tp.floatData ?? []) as number[];
        check(f.length);
        (data as Float32Array).set(f);
        break;
      }
      case DataType.DOUBLE:
      case DataType.COMPLEX128: {
        const f = (tp.doubleData ?? []) as number[];
        check(f.length);
        (data as Float64Array).set(f);
        break;
      }
      case DataType.INT64: {
        const f = (tp.int64Data ?? []) as unknown[];
        check(f.length);
        const d = data as BigInt64Array;
        for (let i = 0; i < f.length; i++) d[i] = longToBigInt(f[i]);
        break;
      }
      case DataType.UINT64:
      case DataType.UINT32: {
        const f = (tp.uint64Data ?? []) as unknown[];
        check(f.length);
        if (dt === DataType.UINT64) {
          const d = data as BigUint64Array;
          for (let i = 0; i < f.length; i++) d[i] = longToBigInt(f[i], true);
        } else {
          const d = data as Uint32Array;
          for (let i = 0; i < f.length; i++) d[i] = Number(longToInt(f[i], true));
        }
        break;
      }
      default: {
        // int32_data holds int32, int16, int8, uint16, uint8, bool, float16 / bfloat16 bits,
        // float8 bits, and packed 4-bit pairs (one byte per entry)
        const f = (tp.int32Data ?? []) as number[];
        check(f.length);
        (data as Int32Array).set(f);
      }
    }
  }
  const t = new Tensor(name, dt, dims, data, tp.docString ?? '');
  addExtra(t, tp);
  return t;
}

function addExtra(t: Tensor, tp: Msg): void {
  const extra: Record<string, unknown> = {};
  if (tp.segment) extra.segment = { begin: String(longToInt(tp.segment.begin)), end: String(longToInt(tp.segment.end)) };
  if (tp.$unknown) extra.unknownFields = b64(tp.$unknown);
  if (Object.keys(extra).length) t.extra = extra;
}

/** Where tensors larger than a threshold go when saving with external data. */
export interface ExternalWriter {
  /** file name written into `location` (relative to the model folder) */
  location: string;
  threshold: number;
  /** append bytes; returns their offset */
  add(bytes: Uint8Array): number;
}

export function tensorBytes(t: Tensor): Uint8Array {
  const d = t.data as Exclude<TensorData, Uint8Array[]>;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Tensor → TensorProto plain object (raw_data, or external data when `ext` takes it). */
export function tensorToProto(t: Tensor, ext?: ExternalWriter): Msg {
  const tp: Msg = { dims: [...t.dims], dataType: t.dtype };
  if (t.name) tp.name = t.name;
  if (t.docString) tp.docString = t.docString;
  const seg = t.extra?.segment as { begin: string; end: string } | undefined;
  if (seg) tp.segment = { begin: toLongStr(seg.begin), end: toLongStr(seg.end) };
  if (t.dtype === DataType.STRING) {
    tp.stringData = t.data as Uint8Array[];
  } else {
    const expected = storageCount(t.dtype, t.size);
    if ((t.data as ArrayLike<unknown>).length !== expected) {
      throw new MlcError('INTERNAL', `tensor ${t.name}: data has ${(t.data as ArrayLike<unknown>).length} elements, ${dtypeName(t.dtype)} ${JSON.stringify(t.dims)} needs ${expected}`);
    }
    const bytes = tensorBytes(t);
    if (ext && bytes.length >= ext.threshold) {
      const offset = ext.add(bytes);
      tp.dataLocation = 1;
      tp.externalData = [
        { key: 'location', value: ext.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ];
    } else {
      tp.rawData = bytes;
    }
  }
  const unk = t.extra?.unknownFields;
  if (typeof unk === 'string') tp.$unknown = [unb64(unk)];
  return tp;
}

function toLongStr(s: string): number | bigint {
  const v = BigInt(s);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decode a serialized TensorProto (e.g. input_0.pb of an ONNX test_data_set folder). */
export function decodeTensorProto(bytes: Uint8Array, opts: { baseDir?: string } = {}): Tensor {
  let tp: Msg;
  try {
    tp = decodeMessage('TensorProto', bytes, { keepRaw: KEEP_RAW });
  } catch (e) {
    if (e instanceof WireError) throw new MlcError('INPUT', `not a valid TensorProto (${e.message} at byte ${e.offset})`);
    throw new MlcError('INPUT', `not a valid TensorProto (${(e as Error).message})`);
  }
  const ctx: ReadContext = { baseDir: opts.baseDir };
  try {
    return tensorFromProto(tp, ctx);
  } finally {
    closeFiles(ctx);
  }
}

/** Serialize a Tensor as a TensorProto (raw_data). */
export function encodeTensorProto(t: Tensor): Uint8Array {
  return encodeMessage('TensorProto', tensorToProto(t));
}
