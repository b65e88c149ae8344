/**
 * Inputs for measurements: slices of a data set, or tensors synthesized from the model's input
 * metadata (seeded uniform [0, 1) for floats, zeros for integers and bools).
 *
 * Dimension 0 of every input is the batch dimension. A dynamic batch dimension takes the batch
 * size asked for (1 for latency); any other dynamic dimension comes from `--shape name=d0,d1,...`
 * (a symbolic dimension given once, e.g. `seq`, is reused by every input that names it) or from
 * the data file, and is otherwise a usage error naming the input.
 */
import { MlcError } from '../core/errors.js';
import { DataType, dtypeName, numElements } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { Dim, elemTypeOf, shapeOf } from '../ir/types.js';
import { floatToHalf, floatToBfloat16 } from '../math/float16.js';
import { seededRng } from '../core/rng.js';
import type { Dataset, Feed, Feeds } from '../core/types.js';

export type { Feed, Feeds };
export type ShapeOverrides = Record<string, number[]>;

/** `--shape name=1,3,224,224` (repeatable; also `name:1x3x224x224`). */
export function parseShapeFlags(values: string | string[] | undefined): ShapeOverrides {
  const out: ShapeOverrides = {};
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  for (const v of list) {
    const m = /^\s*([^=:]+?)\s*[=:]\s*([\d\s,x×]+)\s*$/.exec(v);
    if (!m) throw new MlcError('USAGE', `--shape: cannot read "${v}" (expected name=1,3,224,224)`);
    const dims = m[2]
      .split(/[,x×]/)
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map(Number);
    if (!dims.length || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new MlcError('USAGE', `--shape: "${v}" has an invalid dimension (expected non-negative integers)`);
    }
    out[m[1]] = dims;
  }
  return out;
}

export interface InputSpec {
  name: string;
  elemType: DataType;
  dtype: string;
  /** undefined when the model does not declare a shape */
  shape?: Dim[];
}

export function inputSpecs(model: Model): InputSpec[] {
  return model.graph.realInputs().map((v) => {
    const t = v.type;
    if (!t || t.kind !== 'tensor') {
      throw new MlcError('UNSUPPORTED', `input "${v.name}" is not a tensor (${t?.kind ?? 'no type'}); mlc can only measure tensor inputs`);
    }
    const elemType = elemTypeOf(v)!;
    return { name: v.name, elemType, dtype: dtypeName(elemType), shape: shapeOf(v) };
  });
}

const isDynamic = (d: Dim | undefined) => typeof d !== 'number' || d < 0;

const fmtShape = (s: Dim[] | undefined) => (s ? `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'unknown');

/** True when every input's first dimension is dynamic (so the batch size is ours to choose). */
export function hasDynamicBatch(specs: InputSpec[]): boolean {
  return specs.length > 0 && specs.every((s) => !s.shape || (s.shape.length > 0 && isDynamic(s.shape[0])));
}

/**
 * Concrete dims for each input at batch size `batch` (applied where dim 0 is dynamic).
 * `dataDims`: dims of the data arrays by input name (their dim 0 is ignored).
 */
export function resolveShapes(
  specs: InputSpec[],
  batch: number,
  overrides: ShapeOverrides = {},
  dataDims: Record<string, readonly number[]> = {},
): Record<string, number[]> {
  for (const k of Object.keys(overrides)) {
    if (!specs.some((s) => s.name === k)) {
      throw new MlcError('USAGE', `--shape ${k}=...: the model has no input "${k}" (inputs: ${specs.map((s) => s.name).join(', ')})`);
    }
  }
  // symbolic dims named by overrides or data
  const symbols = new Map<string, number>();
  for (const s of specs) {
    const given = overrides[s.name] ?? dataDims[s.name];
    if (!given || !s.shape) continue;
    s.shape.forEach((d, i) => {
      if (i > 0 && typeof d === 'string' && given[i] !== undefined && !symbols.has(d)) symbols.set(d, given[i]);
    });
  }
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    const ov = overrides[s.name];
    if (ov) {
      if (s.shape) {
        if (ov.length !== s.shape.length) {
          throw new MlcError('USAGE', `--shape ${s.name}=${ov.join(',')}: the model's input has rank ${s.shape.length} ${fmtShape(s.shape)}`);
        }
        s.shape.forEach((d, i) => {
          if (!isDynamic(d) && d !== ov[i]) {
            throw new MlcError('USAGE', `--shape ${s.name}=${ov.join(',')}: dimension ${i} is fixed to ${d} in the model ${fmtShape(s.shape)}`);
          }
        });
      }
      const dims = [...ov];
      if ((!s.shape || isDynamic(s.shape[0])) && dims.length > 0) dims[0] = batch;
      out[s.name] = dims;
      continue;
    }
    if (!s.shape) {
      const dd = dataDims[s.name];
      if (dd && dd.length > 0) {
        out[s.name] = [batch, ...dd.slice(1)];
        continue;
      }
      throw new MlcError('USAGE', `input "${s.name}" has no declared shape; give it with --shape ${s.name}=1,...`);
    }
    const dims: number[] = [];
    const missing: string[] = [];
    s.shape.forEach((d, i) => {
      if (!isDynamic(d)) dims.push(d as number);
      else if (i === 0) dims.push(batch);
      else if (dataDims[s.name]?.[i] !== undefined) dims.push(dataDims[s.name][i]);
      else if (typeof d === 'string' && symbols.has(d)) dims.push(symbols.get(d)!);
      else {
        missing.push(typeof d === 'string' ? `"${d}" (dimension ${i})` : `dimension ${i}`);
        dims.push(-1);
      }
    });
    if (missing.length) {
      const example = s.shape.map((d, i) => (i === 0 ? 1 : isDynamic(d) ? 'N' : d)).join(',');
      throw new MlcError(
        'USAGE',
        `input "${s.name}" ${fmtShape(s.shape)} has dynamic ${missing.join(', ')}; give the shape with --shape ${s.name}=${example} or pass --data`,
      );
    }
    out[s.name] = dims;
  }
  return out;
}

/** Feeds with seeded values: floats uniform in [0, 1), integers and bools zero. */
export function synthesizeFeeds(specs: InputSpec[], shapes: Record<string, number[]>, seed = 1): Feeds {
  const rng = seededRng(seed);
  const feeds: Feeds = {};
  for (const s of specs) {
    const dims = shapes[s.name];
    const n = numElements(dims);
    let data: ArrayLike<number> | ArrayLike<bigint>;
    switch (s.elemType) {
      case DataType.FLOAT: {
        const a = new Float32Array(n);
        for (let i = 0; i < n; i++) a[i] = rng();
        data = a;
        break;
      }
      case DataType.DOUBLE: {
        const a = new Float64Array(n);
        for (let i = 0; i < n; i++) a[i] = rng();
        data = a;
        break;
      }
      case DataType.FLOAT16:
      case DataType.BFLOAT16: {
        const a = new Uint16Array(n);
        const conv = s.elemType === DataType.FLOAT16 ? floatToHalf : floatToBfloat16;
        for (let i = 0; i < n; i++) a[i] = conv(rng());
        data = a;
        break;
      }
      case DataType.INT64:
        data = new BigInt64Array(n);
        break;
      case DataType.UINT64:
        data = new BigUint64Array(n);
        break;
      case DataType.INT32:
        data = new Int32Array(n);
        break;
      case DataType.UINT32:
        data = new Uint32Array(n);
        break;
      case DataType.INT16:
        data = new Int16Array(n);
        break;
      case DataType.UINT16:
        data = new Uint16Array(n);
        break;
      case DataType.INT8:
        data = new Int8Array(n);
        break;
      case DataType.UINT8:
      case DataType.BOOL:
        data = new Uint8Array(n);
        break;
      default:
        throw new MlcError('UNSUPPORTED', `input "${s.name}" has dtype ${s.dtype}, which mlc cannot synthesize; pass --data`);
    }
    feeds[s.name] = { dtype: s.dtype, dims, data };
  }
  return feeds;
}

type AnyArray = ArrayLike<number> | ArrayLike<bigint>;

function sliceRows(data: AnyArray, rowSize: number, start: number, end: number): AnyArray {
  const d = data as unknown as { subarray?: (a: number, b: number) => AnyArray; slice: (a: number, b: number) => AnyArray };
  if (typeof d.subarray === 'function') return d.subarray(start * rowSize, end * rowSize);
  return Array.prototype.slice.call(data, start * rowSize, end * rowSize) as AnyArray;
}

/**
 * Rows [start, start + count) of every input of the data set, as feeds. Rows past the end wrap
 * around to the start (so a batch can be filled from a small data set).
 */
export function datasetFeeds(data: Dataset, specs: InputSpec[], start: number, count: number): Feeds {
  if (data.count <= 0) throw new MlcError('INPUT', 'the data set has no samples');
  const feeds: Feeds = {};
  for (const s of specs) {
    const arr = data.inputs[s.name];
    if (!arr) {
      throw new MlcError('INPUT', `the data has no array for input "${s.name}" (it has: ${Object.keys(data.inputs).join(', ') || 'none'})`);
    }
    const rows = arr.dims[0] ?? 1;
    const rowSize = rows > 0 ? arr.data.length / rows : 0;
    const dims = [count, ...arr.dims.slice(1)];
    if (start + count <= rows) {
      feeds[s.name] = { dtype: arr.dtype, dims, data: sliceRows(arr.data, rowSize, start, start + count) };
      continue;
    }
    // wrap around: copy row by row into a fresh array of the same kind
    const Ctor = (arr.data as unknown as { constructor: new (n: number) => AnyArray }).constructor;
    const isTyped = ArrayBuffer.isView(arr.data);
    const out: AnyArray = isTyped ? new Ctor(count * rowSize) : new Array(count * rowSize);
    const w = out as unknown as { [i: number]: number | bigint };
    for (let r = 0; r < count; r++) {
      const src = (start + r) % rows;
      for (let k = 0; k < rowSize; k++) w[r * rowSize + k] = (arr.data as unknown as { [i: number]: number | bigint })[src * rowSize + k];
    }
    feeds[s.name] = { dtype: arr.dtype, dims, data: out };
  }
  return feeds;
}

/** Dims of the data arrays, by input name (for shape resolution). */
export function dataDimsOf(data: Dataset | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (data) for (const [k, v] of Object.entries(data.inputs)) out[k] = v.dims;
  return out;
}
