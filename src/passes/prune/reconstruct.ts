/**
 * Optional data-aware repair after pruning ("reconstruction"): with calibration samples, refit the
 * weights a pruning left in each MatMul / Gemm layer so that the layer's output on the pruned
 * model's activations matches the original model's output on the original activations:
 *
 *   min_W ‖A·W − T‖² + λ‖W‖²   with A = this layer's input in the pruned model (S×K'),
 *                                T = this layer's output in the original model (kept columns),
 *
 * solved column by column over the kept (non-zero) weights of that column only, so zeros stay
 * zeros and N:M groups stay N:M (unstructured / N:M; exact by Cholesky up to 96 kept weights in a
 * column, else at most 30 warm-started conjugate-gradient steps), or over the whole shrunk weight (channel).
 * Gemm layers with a bias refit it too (an extra all-ones column in A). Layers are visited in
 * graph order, each on activations of the model repaired so far, so earlier errors are absorbed
 * later. λ = 1% of the mean diagonal of AᵀA (as in SparseGPT's dampening).
 *
 * Activations with more than two dims (batch, sequence, ..., features) contribute one row per
 * position; a 2-D Conv contributes one row per output position, its input patch (im2col) as the
 * features. At most 8192 rows, evenly spaced.
 * Left alone with a Skip: MatMul with a batched weight, Gemm with transA or alpha / beta ≠ 1,
 * grouped / 1-D / 3-D / auto_pad convolutions, layers whose activations do not line up with their
 * outputs, and layers where the solve does not lower the error.
 */
import { takeDataset } from '../../data/batch.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { attrFloat, attrInt, attrInts, attrString, Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import { collectActivations } from '../activations.js';
import { choleskySolve } from '../../math/matmul.js';
import { cgSolve, crossProduct, gram } from '../../math/sparsity.js';
import type { Dataset, ModelRunner, Skip } from '../pass.js';
import { constTensor, nodeLabel } from './layers.js';

export interface RefitStats {
  layers: number;
  samples: number;
  /** relative output error ‖A·W − T‖ / ‖T‖ per layer, before and after the refit */
  details: { node: string; errorBefore: number; errorAfter: number }[];
  skipped: Skip[];
}

/**
 * Masked solves with more unknowns than this use warm-started conjugate gradients (CG_ITERS
 * iterations) instead of Cholesky: k² per iteration instead of k³/3.
 */
const CG_ABOVE = 96;
const CG_ITERS = 30;
const CG_TOL = 1e-3;

/** Rows (sample positions) used per layer at most. */
const MAX_ROWS = 8192;

interface Job {
  node: Node;
  label: string;
  weight: Tensor;
  /** weight stored [N, K] (Gemm transB=1) */
  transposed: boolean;
  bias?: Tensor;
  /** original output columns still present (channel pruning), else all */
  keepCols?: number[];
  /** refit only non-zero weights */
  masked: boolean;
  /** geometry of a Conv layer (refit on im2col patches) */
  conv?: ConvGeom;
}

/** Weight as [K, N] float64 (a copy). */
function kn(job: Job): { w: Float64Array; k: number; n: number } {
  const d = job.weight.toNumbers();
  const a = job.weight.dims[0];
  const b = job.weight.size / a;
  if (!job.transposed) return { w: d, k: a, n: b };
  const w = new Float64Array(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) w[j * a + i] = d[i * b + j];
  return { w, k: b, n: a };
}

interface ConvGeom {
  kh: number;
  kw: number;
  pads: number[];
  strides: number[];
  dilations: number[];
}

type Act = { dims: number[]; data: ArrayLike<number> };
type Rows = { a: Float64Array; t: Float64Array; rows: number };

/** Evenly spaced row indices, at most MAX_ROWS of `all`. */
function pickRows(all: number): number[] {
  const rows = Math.min(all, MAX_ROWS);
  const step = all / rows;
  return Array.from({ length: rows }, (_, r) => Math.floor(r * step));
}

/** Rows of a MatMul / Gemm: every position of the leading dims, features along the last. */
function denseRows(A: Act | undefined, Y: Act | undefined, k: number, N: number, keepCols?: number[]): Rows | string {
  const k0 = A ? A.dims[A.dims.length - 1] : 0;
  const ny = Y ? Y.dims[Y.dims.length - 1] : 0;
  if (!A || !Y || A.dims.length < 2 || Y.dims.length !== A.dims.length || !k0 || !ny || A.data.length / k0 !== Y.data.length / ny)
    return 'activations do not line up with the layer output';
  if (k0 !== k) return `activation width ${k0} ≠ weight K ${k}`;
  const cols = keepCols ?? Array.from({ length: ny }, (_, i) => i);
  if (cols.length !== N) return 'output columns do not match the original';
  const pick = pickRows(A.data.length / k);
  const a = new Float64Array(pick.length * k);
  const t = new Float64Array(pick.length * N);
  pick.forEach((src, r) => {
    for (let i = 0; i < k; i++) a[r * k + i] = A.data[src * k + i];
    for (let j = 0; j < N; j++) t[r * N + j] = Y.data[src * ny + cols[j]];
  });
  return { a, t, rows: pick.length };
}

/** Rows of a 2-D Conv: one per output position (im2col patches, features c·kh·kw + ky·kw + kx). */
function convRows(g: ConvGeom, X: Act | undefined, Y: Act | undefined, k: number, N: number, keepCols?: number[]): Rows | string {
  if (!X || !Y || X.dims.length !== 4 || Y.dims.length !== 4 || X.dims[0] !== Y.dims[0]) return 'activations are not NCHW';
  const [S, C, H, Wd] = X.dims;
  const [, O, OH, OW] = Y.dims;
  if (C * g.kh * g.kw !== k) return `input channels ${C} do not match the filters`;
  const cols = keepCols ?? Array.from({ length: O }, (_, i) => i);
  if (cols.length !== N) return 'output channels do not match the original';
  const pick = pickRows(S * OH * OW);
  const a = new Float64Array(pick.length * k);
  const t = new Float64Array(pick.length * N);
  const [pt, pl] = g.pads;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  pick.forEach((pos, r) => {
    const s = Math.floor(pos / (OH * OW));
    const oy = Math.floor(pos / OW) % OH;
    const ox = pos % OW;
    let f = 0;
    for (let c = 0; c < C; c++)
      for (let ky = 0; ky < g.kh; ky++)
        for (let kx = 0; kx < g.kw; kx++, f++) {
          const iy = oy * sh - pt + ky * dh;
          const ix = ox * sw - pl + kx * dw;
          a[r * k + f] = iy >= 0 && iy < H && ix >= 0 && ix < Wd ? X.data[((s * C + c) * H + iy) * Wd + ix] : 0;
        }
    for (let j = 0; j < N; j++) t[r * N + j] = Y.data[((s * O + cols[j]) * OH + oy) * OW + ox];
  });
  return { a, t, rows: pick.length };
}

function storeKN(job: Job, w: Float64Array, k: number, n: number): void {
  const out = job.weight.data as Float32Array | Float64Array;
  if (!job.transposed) out.set(w);
  else for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[j * k + i] = w[i * n + j];
}

function relError(a: ArrayLike<number>, s: number, k: number, w: Float64Array, n: number, bias: Float64Array | undefined, t: Float64Array): number {
  let num = 0;
  let den = 0;
  const y = new Float64Array(n);
  for (let r = 0; r < s; r++) {
    if (bias) y.set(bias);
    else y.fill(0);
    for (let i = 0; i < k; i++) {
      const v = a[r * k + i];
      if (v === 0) continue;
      const base = i * n;
      for (let j = 0; j < n; j++) y[j] += v * w[base + j];
    }
    for (let j = 0; j < n; j++) {
      const e = y[j] - t[r * n + j];
      num += e * e;
      den += t[r * n + j] * t[r * n + j];
    }
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}

/**
 * Refit the layers of `model` (pruned in place) against `original`. `keepCols` maps a weight name
 * to the original output columns it still has (channel pruning).
 */
export async function refitLayers(
  model: Model,
  original: Model,
  opts: { data: Dataset; run: ModelRunner; samples: number; keepCols?: Map<string, number[]>; masked: boolean; only?: Set<string> },
): Promise<RefitStats> {
  const g: Graph = model.graph;
  const og: Graph = original.graph;
  const stats: RefitStats = { layers: 0, samples: 0, details: [], skipped: [] };
  const s = Math.min(opts.samples, opts.data.count);
  stats.samples = s;
  const feeds = takeDataset(opts.data, s).inputs;

  const jobs: Job[] = [];
  for (const [idx, n] of g.nodes.entries()) {
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm' && n.opType !== 'Conv') continue;
    const w = constTensor(g, n.inputs[1]);
    if (!w || (opts.only && !opts.only.has(n.inputs[1]))) continue;
    const label = nodeLabel(n, idx);
    if (w.dtype !== DataType.FLOAT && w.dtype !== DataType.DOUBLE) {
      stats.skipped.push({ node: label, reason: 'refit: weight is not float32 / float64' });
      continue;
    }
    let bias: Tensor | undefined;
    let transposed = false;
    let conv: ConvGeom | undefined;
    if (n.opType === 'Conv') {
      const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
      if (w.dims.length !== 4 || attrInt(n, 'group', 1) !== 1 || attrString(n, 'auto_pad', 'NOTSET') !== 'NOTSET' || pads.length !== 4) {
        stats.skipped.push({ node: label, reason: 'refit: only 2-D, ungrouped Conv with explicit pads is refit' });
        continue;
      }
      conv = { kh: w.dims[2], kw: w.dims[3], pads, strides: attrInts(n, 'strides') ?? [1, 1], dilations: attrInts(n, 'dilations') ?? [1, 1] };
      transposed = true; // [O, C·kh·kw]
    } else if (w.dims.length !== 2) {
      stats.skipped.push({ node: label, reason: 'refit: weight is not 2-D' });
      continue;
    }
    if (n.opType === 'Conv' && n.inputs[2]) {
      bias = constTensor(g, n.inputs[2]);
      if (!bias || bias.size !== w.dims[0] || g.consumers(n.inputs[2]).length !== 1 || (bias.dtype !== DataType.FLOAT && bias.dtype !== DataType.DOUBLE)) {
        stats.skipped.push({ node: label, reason: 'refit: Conv bias is not a per-filter constant of its own' });
        continue;
      }
    }
    if (n.opType === 'Gemm') {
      if (attrInt(n, 'transA', 0) || attrFloat(n, 'alpha', 1) !== 1 || attrFloat(n, 'beta', 1) !== 1) {
        stats.skipped.push({ node: label, reason: 'refit: Gemm with transA or alpha/beta ≠ 1' });
        continue;
      }
      transposed = attrInt(n, 'transB', 0) === 1;
      if (n.inputs[2]) {
        bias = constTensor(g, n.inputs[2]);
        const N = w.dims[transposed ? 0 : 1];
        if (!bias || bias.size !== N || g.consumers(n.inputs[2]).length !== 1 || (bias.dtype !== DataType.FLOAT && bias.dtype !== DataType.DOUBLE)) {
          stats.skipped.push({ node: label, reason: 'refit: Gemm bias is not a per-column constant of its own' });
          continue;
        }
      }
    }
    if (!og.producer(n.outputs[0])) {
      stats.skipped.push({ node: label, reason: 'refit: layer has no counterpart in the original model' });
      continue;
    }
    jobs.push({ node: n, label, weight: w, transposed, bias, keepCols: opts.keepCols?.get(n.inputs[1]), masked: opts.masked, conv });
  }

  for (const job of jobs) {
    const n = job.node;
    const label = job.label;
    const cur = await collectActivations(opts.run, model, feeds, [n.inputs[0]]);
    const ref = await collectActivations(opts.run, original, feeds, [n.outputs[0]]);
    const A = cur[n.inputs[0]];
    const Y = ref[n.outputs[0]];
    const { w, k, n: N } = kn(job);
    const rowsOrReason = job.conv ? convRows(job.conv, A, Y, k, N, job.keepCols) : denseRows(A, Y, k, N, job.keepCols);
    if (typeof rowsOrReason === 'string') {
      stats.skipped.push({ node: label, reason: `refit: ${rowsOrReason}` });
      continue;
    }
    const { a, t, rows } = rowsOrReason;
    const b0 = job.bias ? job.bias.toNumbers() : undefined;
    const errBefore = relError(a, rows, k, w, N, b0, t);
    if (errBefore < 1e-6) continue; // already reproduces the original (e.g. only lost output columns)

    // augmented A with a ones column when the bias is refit
    const ka = job.bias ? k + 1 : k;
    let aa: ArrayLike<number> = a;
    if (job.bias) {
      const x = new Float64Array(rows * ka);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < k; i++) x[r * ka + i] = a[r * k + i];
        x[r * ka + k] = 1;
      }
      aa = x;
    }
    const H = gram(aa, rows, ka);
    const G = crossProduct(aa, t, rows, ka, N);
    let diag = 0;
    for (let i = 0; i < ka; i++) diag += H[i * ka + i];
    const lambda = Math.max(1e-8, (0.01 * diag) / ka);

    const wNew = new Float64Array(w);
    const bNew = b0 ? Float64Array.from(b0) : undefined;
    let ok = true;
    if (!job.masked) {
      const x = choleskySolve(H, ka, G, N, lambda);
      if (!x) ok = false;
      else {
        for (let i = 0; i < k; i++) for (let j = 0; j < N; j++) wNew[i * N + j] = x[i * N + j];
        if (bNew) for (let j = 0; j < N; j++) bNew[j] = x[k * N + j];
      }
    } else {
      for (let j = 0; j < N && ok; j++) {
        const idx: number[] = [];
        for (let i = 0; i < k; i++) if (w[i * N + j] !== 0) idx.push(i);
        if (job.bias) idx.push(k);
        if (!idx.length) continue;
        const m = idx.length;
        const hs = new Float64Array(m * m);
        const gs = new Float64Array(m);
        for (let p = 0; p < m; p++) {
          gs[p] = G[idx[p] * N + j];
          for (let q = 0; q < m; q++) hs[p * m + q] = H[idx[p] * ka + idx[q]];
        }
        let x: Float64Array | undefined;
        if (m <= CG_ABOVE) x = choleskySolve(hs, m, gs, 1, lambda);
        else {
          const x0 = idx.map((i) => (i === k ? bNew![j] : w[i * N + j]));
          x = cgSolve(hs, m, gs, lambda, x0, CG_ITERS, CG_TOL);
        }
        if (!x) {
          ok = false;
          break;
        }
        for (let p = 0; p < m; p++) {
          if (idx[p] === k) bNew![j] = x[p];
          else wNew[idx[p] * N + j] = x[p];
        }
      }
    }
    const errAfter = ok ? relError(a, rows, k, wNew, N, bNew, t) : Infinity;
    if (!ok || !(errAfter < errBefore)) {
      stats.skipped.push({ node: label, reason: ok ? 'refit: no improvement; kept the pruned weights' : 'refit: singular system' });
      continue;
    }
    storeKN(job, wNew, k, N);
    if (job.bias && bNew) (job.bias.data as Float32Array | Float64Array).set(bNew);
    stats.layers++;
    stats.details.push({ node: label, errorBefore: round4(errBefore), errorAfter: round4(errAfter) });
  }
  return stats;
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
