/**
 * Accuracy and fidelity on a data set, evaluated in batches.
 *
 * - top-1 accuracy (with labels): argmax over the last axis of the chosen output (the first
 *   output, or `outputName`) against the labels. An output [N, C] gives one prediction per sample;
 *   an output [N, T, C] gives T, and then the labels must hold N·T values. An integer output with
 *   one value per prediction ([N] or [N, 1], e.g. a classifier's `label` output) holds the
 *   predicted classes themselves.
 * - against the original (always, labels or not), on the same inputs:
 *   agreement = share of predictions where both models' argmax is the same;
 *   cosine    = mean over samples of  a·b / (‖a‖·‖b‖)  (each sample's output flattened; two zero
 *               vectors count as 1, one zero vector as 0);
 *   maxAbsError = max |a − b| over every output element.
 */
import { MlcError } from '../core/errors.js';
import { halfArrayToFloat32 } from '../math/float16.js';
import type { Dataset } from '../core/types.js';
import { datasetFeeds, Feeds, InputSpec } from './inputs.js';
import { cosine } from '../math/stats.js';

export interface OutputLike {
  dtype?: string;
  dims: readonly number[];
  data: ArrayLike<number> | ArrayLike<bigint> | ArrayLike<string>;
}

/** Anything that runs feeds (an onnxruntime session from src/runtime). */
export interface Runnable {
  run(feeds: Feeds, outputNames?: string[]): Promise<Record<string, OutputLike>>;
}

export interface EvalOptions {
  /** samples per batch (default 64) */
  batchSize?: number;
  /** when the model's batch dimension is fixed: every batch has exactly this many rows (padded) */
  fixedBatch?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EvalResult {
  samples: number;
  /** per model: top-1 accuracy, or null without labels */
  accuracy: (number | null)[];
  /** per model after the first: comparison with the first model */
  agreement: number[];
  cosine: number[];
  maxAbsError: number[];
  /**
   * per model after the first, with labels: predictions the first model got right and this one
   * wrong (`lost`) and the other way round (`gained`), the discordant pairs of a paired comparison
   */
  lost: number[];
  gained: number[];
  /** predictions scored (samples × predictions per sample) */
  predictions: number;
}

function toFloat(o: OutputLike, name: string): Float32Array | Float64Array {
  const d = o.data;
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  if (o.dtype === 'float16' && d instanceof Uint16Array) return halfArrayToFloat32(d);
  if (o.dtype === 'string' || typeof d[0] === 'string') throw new MlcError('UNSUPPORTED', `output "${name}" is a string tensor; accuracy needs numbers`);
  const n = d.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number((d as ArrayLike<number | bigint>)[i]);
  return out;
}

/** Index of the max over each row of length `c` (first index on ties; NaN never wins). */
export function argmaxRows(v: ArrayLike<number>, c: number, rows: number, offset = 0): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = offset + r * c;
    let best = 0;
    let bv = -Infinity;
    for (let k = 0; k < c; k++) {
      const x = v[base + k];
      if (x > bv) {
        bv = x;
        best = k;
      }
    }
    out[r] = best;
  }
  return out;
}


/**
 * Run every model over the data set in batches. Model 0 is the reference (the original); the
 * others are compared with it. `specs` describes the models' inputs (taken from model 0).
 */
export async function evaluate(
  models: Runnable[],
  data: Dataset,
  specs: InputSpec[],
  outputName: string,
  opts: EvalOptions = {},
): Promise<EvalResult> {
  const total = data.count;
  if (!(total > 0)) throw new MlcError('INPUT', 'the data set has no samples');
  const labels = data.labels;
  const bs = Math.max(1, opts.fixedBatch ?? opts.batchSize ?? 64);
  const correct = models.map(() => 0);
  let predictions = 0;
  const agree = models.map(() => 0);
  const lost = models.map(() => 0);
  const gained = models.map(() => 0);
  const cosSum = models.map(() => 0);
  const maxAbs = models.map(() => 0);
  let perSample = -1;
  for (let start = 0; start < total; start += bs) {
    if (opts.signal?.aborted) throw new MlcError('USAGE', 'evaluation aborted');
    const n = Math.min(bs, total - start);
    // a fixed batch dimension gets a full batch (wrapping rows), and we keep the first n rows
    const rowsFed = opts.fixedBatch ?? n;
    const feeds = datasetFeeds(data, specs, start, rowsFed);
    const outs: (Float32Array | Float64Array)[] = [];
    const intOut: boolean[] = [];
    let dims: readonly number[] = [];
    for (let m = 0; m < models.length; m++) {
      const res = await models[m].run(feeds, [outputName]);
      const o = res[outputName];
      if (!o) throw new MlcError('INTERNAL', `model ${m} gave no output "${outputName}"`);
      if (m === 0) dims = o.dims;
      else if (o.dims.length !== dims.length || o.dims.some((d, i) => d !== dims[i])) {
        throw new MlcError(
          'INPUT',
          `output "${outputName}" has shape [${o.dims.join(', ')}] in the compared model but [${dims.join(', ')}] in the original`,
        );
      }
      outs.push(toFloat(o, outputName));
      intOut.push(!(o.data instanceof Float32Array || o.data instanceof Float64Array) && o.dtype !== 'float16' && o.dtype !== 'bfloat16');
    }
    if (dims.length === 0 || dims[0] !== rowsFed) {
      throw new MlcError(
        'UNSUPPORTED',
        `output "${outputName}" has shape [${dims.join(', ')}]: its first dimension is not the batch (${rowsFed}), so samples cannot be scored`,
      );
    }
    const sampleSize = outs[0].length / rowsFed;
    const c = dims.length >= 2 ? dims[dims.length - 1] : 1;
    const k = c > 0 ? sampleSize / c : 0; // predictions per sample
    if (perSample < 0) {
      perSample = k;
      if (labels && labels.length !== total * k) {
        throw new MlcError(
          'INPUT',
          `the labels hold ${labels.length} values, but output "${outputName}" [${dims.join(', ')}] gives ${k} prediction(s) per sample for ${total} samples (expected ${total * k} labels)`,
        );
      }
    }
    const preds = outs.map((o, m) => (c === 1 && intOut[m] ? Int32Array.from(o.subarray(0, n * k)) : argmaxRows(o, c, n * k)));
    if (labels) {
      for (let m = 0; m < models.length; m++) {
        const p = preds[m];
        for (let i = 0; i < n * k; i++) if (p[i] === labels[start * k + i]) correct[m]++;
      }
      for (let m = 1; m < models.length; m++) {
        for (let i = 0; i < n * k; i++) {
          const l = labels[start * k + i];
          const was = preds[0][i] === l;
          if (was !== (preds[m][i] === l)) {
            if (was) lost[m]++;
            else gained[m]++;
          }
        }
      }
    }
    predictions += n * k;
    for (let m = 1; m < models.length; m++) {
      const p0 = preds[0];
      const pm = preds[m];
      for (let i = 0; i < n * k; i++) if (p0[i] === pm[i]) agree[m]++;
      const a = outs[0];
      const b = outs[m];
      for (let s = 0; s < n; s++) cosSum[m] += cosine(a, b, s * sampleSize, sampleSize);
      let mx = maxAbs[m];
      for (let i = 0; i < n * sampleSize; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (d > mx || Number.isNaN(d)) mx = Number.isNaN(d) ? Infinity : d;
      }
      maxAbs[m] = mx;
    }
    opts.onProgress?.(start + n, total);
  }
  return {
    samples: total,
    accuracy: models.map((_, m) => (labels ? correct[m] / predictions : null)),
    agreement: models.slice(1).map((_, i) => agree[i + 1] / predictions),
    cosine: models.slice(1).map((_, i) => cosSum[i + 1] / total),
    maxAbsError: models.slice(1).map((_, i) => maxAbs[i + 1]),
    lost: models.slice(1).map((_, i) => lost[i + 1]),
    gained: models.slice(1).map((_, i) => gained[i + 1]),
    predictions,
  };
}
