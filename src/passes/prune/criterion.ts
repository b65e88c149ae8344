/**
 * The activation-aware pruning criterion (Wanda: Sun et al., "A simple and effective pruning
 * approach for large language models", 2023): a weight's importance is its magnitude times the
 * size of the input it multiplies,
 *
 *   score(w_ij) = |w_ij| · ‖x_i‖,   ‖x_i‖ = √(mean over samples and positions of x_i²),
 *
 * where x_i is the layer's input feature i (the last dimension of a MatMul / Gemm input, the
 * channel of a Conv input, whose score is shared by the filter taps that read that channel) on
 * calibration samples of the model as it is before pruning. A weight that reads an input that is
 * always zero (a blank border pixel, a dead ReLU unit) scores 0 whatever its magnitude, and goes
 * first; magnitude pruning keeps it. The root mean square (not Wanda's plain norm) keeps scores of
 * layers comparable under a global threshold; under LAMP (one threshold on per-layer normalized
 * scores) the scale does not matter. A weight read by several nodes sums their inputs' squares.
 *
 * Layers whose input cannot be measured (Gather tables, Gemm with transA, an input that is not
 * float32 or whose width does not match the weight) keep the magnitude score |w|.
 */
import type { Model } from '../../ir/model.js';
import { attrInt } from '../../ir/node.js';
import { axisView } from '../../math/sparsity.js';
import { feedBatches, streamActivations } from '../activations.js';
import type { Dataset, ModelRunner } from '../pass.js';
import type { Layer } from './layers.js';

/** Samples per batch when collecting input statistics. */
const BATCH = 64;

/** The activation a reader multiplies the weight with, and the axis of its features; undefined when not measurable. */
function inputOf(l: Layer): { name: string; axis: 'last' | 'channel' } | undefined {
  const n = l.node;
  if (l.inputIndex !== 1 || !n.inputs[0]) return undefined;
  if (l.op === 'MatMul') return { name: n.inputs[0], axis: 'last' };
  if (l.op === 'Gemm') return attrInt(n, 'transA', 0) ? undefined : { name: n.inputs[0], axis: 'last' };
  if (l.op === 'Conv') return { name: n.inputs[0], axis: 'channel' };
  return undefined;
}

/** Per-feature sums of squares and row counts of the named activations over the first `samples` samples. */
async function featureSquares(
  model: Model,
  wanted: Map<string, 'last' | 'channel'>,
  data: Dataset,
  run: ModelRunner,
  samples: number,
): Promise<Map<string, { sq: Float64Array; rows: number }>> {
  const acc = new Map<string, { sq: Float64Array; rows: number }>();
  const names = [...wanted.keys()];
  await streamActivations(run, model, names, feedBatches(model, data, { samples, batch: BATCH }), (acts) => {
    for (const name of names) {
      const a = acts[name];
      if (!a || a.dims.length < 2) continue;
      const channel = wanted.get(name) === 'channel';
      const f = channel ? a.dims[1] : a.dims[a.dims.length - 1];
      const inner = channel ? a.dims.slice(2).reduce((x, y) => x * y, 1) : 1;
      let s = acc.get(name);
      if (!s) acc.set(name, (s = { sq: new Float64Array(f), rows: 0 }));
      if (s.sq.length !== f) continue;
      const d = a.data;
      for (let i = 0; i < d.length; i++) {
        const feature = channel ? Math.floor(i / inner) % f : i % f;
        s.sq[feature] += d[i] * d[i];
      }
      s.rows += d.length / f;
    }
  });
  return acc;
}

/**
 * E[x²] of the input feature each element of `layers`' weights multiplies (by element index,
 * summed over the layer's readers), from the model's inputs on `data` (the first `samples`
 * samples); undefined for a layer that cannot be measured. `measured` counts the others.
 */
export async function inputSquares(
  model: Model,
  layers: readonly Layer[],
  data: Dataset,
  run: ModelRunner,
  samples: number,
): Promise<{ squares: (((i: number) => number) | undefined)[]; measured: number }> {
  const wanted = new Map<string, 'last' | 'channel'>();
  for (const l of layers) {
    for (const r of l.group ?? [l]) {
      const inp = inputOf(r);
      if (inp) wanted.set(inp.name, inp.axis);
    }
  }
  const stats = wanted.size ? await featureSquares(model, wanted, data, run, samples) : new Map<string, { sq: Float64Array; rows: number }>();
  const squares = layers.map((l) => featureMeans(l, stats));
  return { squares, measured: squares.filter(Boolean).length };
}

/**
 * Activation-aware scores of `layers`' weights (same order and length as each weight), |w|·√E[x²]
 * (inputSquares); a layer that cannot be measured gets |w|. `measured` counts the layers scored
 * from activations.
 */
export async function activationScores(
  model: Model,
  layers: readonly Layer[],
  data: Dataset,
  run: ModelRunner,
  samples: number,
): Promise<{ scores: Float64Array[]; measured: number }> {
  const { squares, measured } = await inputSquares(model, layers, data, run, samples);
  const scores = layers.map((l, k) => {
    const w = l.tensor.toNumbers();
    const out = new Float64Array(w.length);
    const sq = squares[k];
    for (let i = 0; i < w.length; i++) out[i] = sq ? Math.abs(w[i]) * Math.sqrt(sq(i)) : Math.abs(w[i]);
    return out;
  });
  return { scores, measured };
}

/** The input mean square each weight element multiplies (by element index), summed over the readers; undefined when a reader is not measurable. */
function featureMeans(l: Layer, stats: Map<string, { sq: Float64Array; rows: number }>): ((i: number) => number) | undefined {
  const dims = l.tensor.dims;
  const conv = l.op === 'Conv';
  // MatMul / Gemm: the feature of element e is its index along the input axis; Conv [O, C/g, kh, kw]: its channel in its group
  const view = axisView(dims, l.inputAxis);
  const width = conv ? view.axisLen * attrInt(l.node, 'group', 1) : view.axisLen;
  let sum: Float64Array | undefined;
  for (const r of l.group ?? [l]) {
    const inp = inputOf(r);
    const s = inp ? stats.get(inp.name) : undefined;
    if (!s || s.rows === 0 || s.sq.length !== width) return undefined;
    sum ??= new Float64Array(width);
    for (let f = 0; f < width; f++) sum[f] += s.sq[f] / s.rows;
  }
  if (!sum) return undefined;
  const m = sum;
  if (!conv) return (i) => m[Math.floor(i / view.inner) % view.axisLen];
  const groups = attrInt(l.node, 'group', 1);
  const perGroup = dims[0] / groups;
  const filter = view.axisLen * view.inner;
  return (i) => m[Math.floor(Math.floor(i / filter) / perGroup) * view.axisLen + (Math.floor(i / view.inner) % view.axisLen)];
}
