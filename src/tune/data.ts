/**
 * The data the analyses run on: a seeded sample of a data set, and the tuning / held-out split.
 *
 * Samples are picked by a seeded shuffle of the indices (Fisher–Yates on core/rng's stream), so a
 * data file sorted by class still gives a mixed sample, and the same seed gives the same pick.
 */
import { MlcError } from '../core/errors.js';
import { seededRng, shuffledIndices as shuffle } from '../core/rng.js';
import type { Dataset, Feed } from '../core/types.js';

/** The indices 0..n-1 in a seeded random order. */
export function shuffledIndices(n: number, seed: number): Int32Array {
  return shuffle(n, seededRng(seed));
}

function gatherRows(name: string, f: Feed, count: number, rows: Int32Array): Feed {
  if (f.dims[0] !== count) {
    throw new MlcError('INPUT', `input '${name}' ${JSON.stringify(f.dims)}: its first dimension is not the sample count ${count}, so samples cannot be picked`);
  }
  const row = f.dims.slice(1).reduce((a, b) => a * b, 1);
  const src = f.data as ArrayLike<number> & { constructor: new (n: number) => { [i: number]: number | bigint } };
  const out = ArrayBuffer.isView(src) ? new src.constructor(rows.length * row) : new Array<number | bigint>(rows.length * row);
  for (let r = 0; r < rows.length; r++) {
    const from = rows[r] * row;
    for (let k = 0; k < row; k++) out[r * row + k] = (src as unknown as { [i: number]: number | bigint })[from + k];
  }
  return { dtype: f.dtype, dims: [rows.length, ...f.dims.slice(1)], data: out as Feed['data'] };
}

/** The samples of `ds` at `rows` (copies), labels included. */
export function pickRows(ds: Dataset, rows: Int32Array): Dataset {
  const inputs: Dataset['inputs'] = {};
  for (const [k, f] of Object.entries(ds.inputs)) inputs[k] = gatherRows(k, f, ds.count, rows);
  const out: Dataset = { inputs, count: rows.length };
  if (ds.labels) out.labels = Int32Array.from(rows, (r) => ds.labels![r]);
  return out;
}

/** At most `n` samples of `ds`, picked by a seeded shuffle (all of them, shuffled, when n ≥ count). */
export function sampleDataset(ds: Dataset, n: number, seed: number): Dataset {
  const idx = shuffledIndices(ds.count, seed);
  return pickRows(ds, idx.subarray(0, Math.min(n, ds.count)));
}

export interface Split {
  tuning: Dataset;
  heldOut: Dataset;
  /** samples of the data file the tuning split comes from: the first `tuningRange` */
  tuningRange: number;
}

/**
 * The split: the last `heldOutShare` of the samples (at least 1, at most maxHeldOut) are held
 * out; the samples before them form the tuning split, scored on at most `maxTuning` of them (a
 * seeded pick). The split is by position, not shuffled, so that a recipe re-run with
 * `mlc compress --recipe … --calibration-data <the same file>` reads the same calibration samples
 * (passes read the first N samples; the tuner caps N at the tuning split's size), and no pass sees
 * a held-out sample. Throws USAGE when there are fewer than 2 samples.
 */
export function splitDataset(ds: Dataset, opts: { heldOutShare: number; maxTuning: number; maxHeldOut: number; seed: number }): Split {
  if (ds.count < 2) throw new MlcError('USAGE', `tuning needs at least 2 samples (a tuning and a held-out split); the data has ${ds.count}`);
  const held = Math.min(opts.maxHeldOut, ds.count - 1, Math.max(1, Math.round(ds.count * opts.heldOutShare)));
  const tuningRange = ds.count - held;
  const heldOut = pickRows(ds, Int32Array.from({ length: held }, (_, i) => tuningRange + i));
  const tuning = sampleDataset(pickRows(ds, Int32Array.from({ length: tuningRange }, (_, i) => i)), opts.maxTuning, opts.seed);
  return { tuning, heldOut, tuningRange };
}
