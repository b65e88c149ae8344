/** Slicing a Dataset along axis 0 (the batch axis), without copying typed arrays. */
import { MlcError } from '../core/errors.js';
import type { Dataset } from '../core/types.js';

type Arr = Dataset['inputs'][string];

function sliceRows(name: string, a: Arr, count: number, start: number, end: number): Arr {
  if (a.dims.length === 0 || a.dims[0] !== count) {
    throw new MlcError('INPUT', `cannot split input '${name}' ${JSON.stringify(a.dims)} into batches: its first dimension is not the sample count ${count}`);
  }
  const row = a.dims.slice(1).reduce((x, y) => x * y, 1);
  const d = a.data as ArrayLike<number> & { subarray?: (s: number, e: number) => ArrayLike<number>; slice?: (s: number, e: number) => ArrayLike<number> };
  const data = d.subarray ? d.subarray(start * row, end * row) : d.slice ? d.slice(start * row, end * row) : Array.from(d).slice(start * row, end * row);
  return { dtype: a.dtype, dims: [end - start, ...a.dims.slice(1)], data };
}

/** Samples [start, end) of a data set (typed arrays are views, not copies). */
export function sliceDataset(ds: Dataset, start: number, end: number): Dataset {
  const s = Math.max(0, Math.min(start, ds.count));
  const e = Math.max(s, Math.min(end, ds.count));
  const inputs: Dataset['inputs'] = {};
  for (const [k, a] of Object.entries(ds.inputs)) inputs[k] = sliceRows(k, a, ds.count, s, e);
  const out: Dataset = { inputs, count: e - s };
  if (ds.labels) out.labels = ds.labels.subarray(s, e);
  return out;
}

/** Consecutive batches of `size` samples (the last one may be smaller). */
export function* batches(ds: Dataset, size: number): Generator<Dataset> {
  if (!Number.isInteger(size) || size < 1) throw new MlcError('USAGE', `batch size must be a positive integer, got ${size}`);
  for (let s = 0; s < ds.count; s += size) yield sliceDataset(ds, s, s + size);
}

/** The first `n` samples (all when n ≥ count). */
export function takeDataset(ds: Dataset, n: number): Dataset {
  return n >= ds.count ? ds : sliceDataset(ds, 0, n);
}
