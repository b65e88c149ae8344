/**
 * Static 8-bit quantization in QDQ form, with activation ranges calibrated on data.
 *
 * Rewrites
 * - For each selected Conv / Gemm / MatMul: its activation inputs and its output get a
 *   QuantizeLinear → DequantizeLinear pair (uint8, asymmetric, one scale per tensor) with ranges
 *   from calibration (minmax, percentile or entropy/KL); its constant weight is stored as int8
 *   (uint8 for --quantize uint8), symmetric, per output channel, behind a DequantizeLinear; a
 *   constant bias becomes int32 with scale s_x·s_w and zero point 0. onnxruntime fuses
 *   DQ → Conv/MatMul/Gemm → Q into QLinearConv / QLinearMatMul / QGemm.
 * - Before calibration, a BatchNormalization after a Conv is folded into the Conv (batchnorm.ts).
 * - Around the weight ops, the activations stay 8-bit through the ops onnxruntime has 8-bit
 *   kernels for (region.ts): a Relu / Clip that is the only reader of an output is folded into the
 *   output's Q (the activation's range, whose Q clamps as it would: no Q/DQ between a Conv and its
 *   ReLU6); Add / Mul / Concat / pools / Sigmoid / LeakyRelu whose inputs are all quantized get a
 *   calibrated Q/DQ on their output; MaxPool / Reshape / Flatten / Transpose / … reuse their
 *   input's scale and zero point, so that onnxruntime drops their Q/DQ.
 * - One Q/DQ pair per tensor: every reader of the tensor reads the DQ output (graph outputs keep
 *   the float value; a node output that is a graph output gets no Q/DQ).
 * - Gather embedding tables: 8-bit weights only (as in dynamic mode), no calibration needed.
 *
 * Calibration (src/passes/activations.ts, through ctx.run, one session): up to calibrationSamples
 * samples of ctx.calibration in batches sized to keep about 64 MB of activations per batch (at
 * most calibrationBatch). Pass 1 gets exact min / max of every tensor reduced inside the runtime;
 * percentile and entropy add a pass 2 that streams the tensors batch by batch into histograms over
 * pass 1's ranges; with minmax, a Relu / Clip output gets only its max (its range holds zero
 * anyway). The input of a Relu / Clip that may fold into its producer is not measured (its
 * reduction would stop onnxruntime fusing the activation into the Conv: the calibration run then
 * computes what the float model computes, and faster); only a fold that does not fit its bounds
 * measures it, in one more run for those tensors.
 *
 * Weights are per channel (int32 biases on the per-channel scales) at every opset from 10: below
 * 13, where DequantizeLinear has no axis, through onnxruntime's com.microsoft DequantizeLinear,
 * which its QDQ fusion takes as it takes the standard one (PaddleOCR's detector, exported at
 * opset 11: 62 of 62 Convs still fuse into QLinearConv, output cosine 0.896 against 0.874 with
 * per-tensor weights; onnxruntime's quantize_static: 0.872).
 *
 * Refuses: nodes in subgraphs, excluded nodes, non-float activations, weights that are not float32
 * constants or are tiny; models below opset 10. A model with candidates but no calibration data
 * throws MlcError USAGE; a model without candidates is left as it is (no data needed).
 */
import { MlcError } from '../../core/errors.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { attrFloat, isOnnxDomain, subgraphsOf, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { Histogram, computeScaleZp, entropyThreshold, percentileRange, qRange, type PairLayout, type ScaleZp } from '../../math/quant.js';
import { activationRanges, budgetBatch, feedBatches, streamActivations } from '../activations.js';
import {
  QuantState,
  addConst,
  addQuantizedWeight,
  dqNode,
  dropIfUnused,
  elemTypeOfValue,
  floatConstant,
  isOnnx,
  nodeLabel,
  skipSubgraphNodes,
} from './common.js';
import { OP_QUANTIZERS, defaultOpTypes, quantizerOf, rewriteOf, type OpRewrites, type WeightSite } from './ops.js';

/** static: QDQ around Conv / MatMul / Gemm; Gather tables stored 8-bit. */
export const STATIC_OPS: OpRewrites = { MatMul: 'qdq', Gemm: 'qdq', Conv: 'qdq', Gather: 'gather-dq' };
import { foldBatchNorms } from './batchnorm.js';
import { OWN_RANGE_OPS, quantRegion, type Fold } from './region.js';
import { applyGatherDq, axisDqDomain, type GatherEntry } from './weight-only.js';

interface Plan {
  node: Node;
  /** activation input indices, and their names before any rewiring */
  acts: number[];
  inNames: string[];
  weight?: WeightSite;
  /** resolved before any edit (resolveWeights): a look-up after one rebuilds the graph's index */
  weightKey?: string;
  bias?: Tensor;
}

const ACT_RANGE = qRange('uint8');

function isFloatValue(g: Graph, name: string): boolean {
  const t = elemTypeOfValue(g, name);
  return t === undefined || t === DataType.FLOAT;
}

function planNodes(st: QuantState): Plan[] {
  const g = st.graph;
  const defaults = defaultOpTypes(STATIC_OPS);
  skipSubgraphNodes(
    st,
    Object.keys(OP_QUANTIZERS).filter((k) => st.selected(k, defaults) && rewriteOf(STATIC_OPS, k)),
  );
  const plans: Plan[] = [];
  for (const node of g.nodes) {
    const q = quantizerOf(node);
    if (!q || rewriteOf(STATIC_OPS, node.opType) !== 'qdq' || !st.selected(node.opType, defaults)) continue;
    if (subgraphsOf(node).length) continue;
    const located = q.locate(node, st);
    let site: WeightSite | undefined;
    let acts = [0];
    if (typeof located === 'string') {
      // MatMul of two activations (attention): both inputs get Q/DQ
      const both = node.opType === 'MatMul' && !st.constant(node.inputs[0]) && !st.constant(node.inputs[1]);
      if (!both) {
        st.skip(node, located);
        continue;
      }
      acts = [0, 1];
    } else {
      site = located;
    }
    const problem = st.siteProblem(node, site?.tensor);
    if (problem) {
      st.skip(node, problem);
      continue;
    }
    const bad = acts.map((i) => node.inputs[i]).find((n) => !isFloatValue(g, n) || st.constant(n));
    if (bad !== undefined) {
      st.skip(node, `activation ${bad} is not a float32 tensor`);
      continue;
    }
    plans.push({ node, acts, inNames: acts.map((i) => node.inputs[i]), weight: site });
  }
  return plans;
}

/** Histogram bins for `n` samples: about 16 samples per bin, a power of two in [256, 2048]. */
function binsFor(n: number): number {
  return Math.min(2048, Math.max(256, 2 ** Math.round(Math.log2(Math.max(1, n / 16)))));
}

/**
 * Bytes of activations one calibration batch may hold: in the runtime during the min / max pass
 * (taken as 4 × the largest value, the runtime frees values as it goes), or copied out for the
 * histogram pass (every value streamed). Bigger batches buy nothing once the per-run overhead is
 * paid: MobileNetV2 at 224², 100 samples, took about the same CPU time in batches of 3 (64 MB)
 * as of 13 (256 MB), with less than half the peak RSS (430 MB instead of 1 GB) and a third less
 * system time (fewer fresh pages for the runtime's big buffers).
 */
const BATCH_BYTES = 64 * 2 ** 20;

async function calibrate(st: QuantState, tensors: string[]): Promise<Map<string, ScaleZp>> {
  const ctx = st.ctx;
  const ds = ctx.calibration!;
  const run = ctx.run!;
  const model = st.model;
  const samples = st.opts.calibrationSamples;
  // pass 1: exact min / max, reduced inside the runtime (only scalars come back); the first
  // batch is one sample, whose value sizes set the size of the next batches
  let largest: number | undefined;
  const rangeBatch = budgetBatch(st.opts.calibrationBatch, BATCH_BYTES, () => largest && 4 * 4 * largest);
  const stats = await activationRanges(
    run,
    model,
    tensors,
    () => feedBatches(model, ds, { samples, batch: rangeBatch }),
    ctx.signal,
    (counts) => {
      largest ??= Math.max(0, ...counts.values());
    },
    // min / max ranges hold zero: the min of a value that is ≥ 0 by construction is not needed
    { zeroFloor: st.opts.calibrationMethod === 'minmax' },
  );
  const method = st.opts.calibrationMethod;
  const hists = new Map<string, Histogram>();
  if (method !== 'minmax') {
    // pass 2: histograms over pass 1's ranges, streaming the values batch by batch
    for (const [t, s] of stats) {
      if (!(s.min <= s.max) || s.min === s.max) continue;
      hists.set(
        t,
        method === 'entropy'
          ? new Histogram(0, Math.max(-s.min, s.max), binsFor(s.count))
          : new Histogram(s.min, s.max, 2 * binsFor(s.count)),
      );
    }
    const want = [...hists.keys()];
    const perSample = want.reduce((sum, t) => sum + 4 * stats.get(t)!.count, 0) / Math.max(1, Math.min(samples, ds.count));
    const batch = Math.max(1, Math.min(st.opts.calibrationBatch, Math.floor(BATCH_BYTES / Math.max(1, perSample))));
    if (want.length) {
      await streamActivations(
        run,
        model,
        want,
        feedBatches(model, ds, { samples, batch }),
        (acts) => {
          for (const t of want) {
            const d = acts[t]?.data;
            if (!d) continue;
            if (method === 'entropy') hists.get(t)!.addAbs(d);
            else hists.get(t)!.add(d);
          }
        },
        ctx.signal,
      );
    }
  }
  const params = new Map<string, ScaleZp>();
  for (const [t, s] of stats) {
    let lo = s.min <= s.max ? s.min : 0;
    let hi = s.min <= s.max ? s.max : 0;
    const h = hists.get(t);
    if (h && method === 'percentile') [lo, hi] = percentileRange(h, st.opts.percentile, [lo, hi]);
    if (h && method === 'entropy') {
      // uint8 over [0, T] has 256 levels for a non-negative tensor, 128 per side otherwise
      const T = entropyThreshold(h, lo >= 0 ? 256 : 128, true);
      lo = Math.max(lo, -T);
      hi = Math.min(hi, T);
    }
    const p = computeScaleZp(lo, hi, ACT_RANGE, false);
    params.set(t, { scale: Math.fround(p.scale), zeroPoint: p.zeroPoint });
  }
  return params;
}

/**
 * Producers and readers of the values as they were before the activation edits, kept up to date
 * by those edits: each look-up through the graph after an edit would rebuild its whole index
 * (MobileNetV2: 66 rebuilds of a 400-node index).
 */
interface Wiring {
  producer: Map<string, Node>;
  readers: Map<string, Node[]>;
}

function wiringOf(g: Graph): Wiring {
  const producer = new Map<string, Node>();
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) producer.set(o, n);
    for (const i of new Set(n.inputs)) {
      if (!i) continue;
      const l = readers.get(i);
      if (l) l.push(n);
      else readers.set(i, [n]);
    }
  }
  return { producer, readers };
}

/** Q → DQ on tensor `t` (produced by `after`, or a graph input when undefined); readers move to the DQ output. */
function insertQdq(st: QuantState, t: string, p: ScaleZp, w: Wiring): string {
  const g = st.graph;
  const sc = addConst(g, `${t}_scale`, Tensor.float32('', [], [p.scale]));
  const zp = addConst(g, `${t}_zero_point`, new Tensor('', DataType.UINT8, [], Uint8Array.of(p.zeroPoint)));
  const qOut = g.uniqueName(`${t}_QuantizeLinear_Output`);
  const dqOut = g.uniqueName(`${t}_DequantizeLinear_Output`);
  // direct readers only (a subgraph that reads `t` as an outer value keeps reading it)
  const readers = (w.readers.get(t) ?? []).filter((c) => c.inputs.includes(t));
  const q: Node = {
    name: g.uniqueName(`${t}_QuantizeLinear`),
    opType: 'QuantizeLinear',
    domain: '',
    inputs: [t, sc, zp],
    outputs: [qOut],
    attributes: [],
  };
  const dq = dqNode(g, `${t}_DequantizeLinear`, [qOut, sc, zp], dqOut, undefined);
  const producer = w.producer.get(t);
  if (producer) {
    g.addNode(q, { after: producer });
    g.addNode(dq, { after: q });
  } else {
    g.nodes.unshift(q, dq);
  }
  // the graph's index is rebuilt once, after all the edits (runStatic)
  for (const r of readers) r.inputs = r.inputs.map((x) => (x === t ? dqOut : x));
  w.readers.set(t, [q]);
  w.readers.set(qOut, [dq]);
  w.producer.set(qOut, q);
  w.producer.set(dqOut, dq);
  return dqOut;
}

/** Producer output Y → Q(activation output range) → DQ producing the activation's output; the Relu / Clip goes. */
function foldActivation(st: QuantState, fold: Fold, p: ScaleZp, replaced: string[], w: Wiring): void {
  const g = st.graph;
  const r = fold.act.outputs[0];
  const sc = addConst(g, `${r}_scale`, Tensor.float32('', [], [p.scale]));
  const zp = addConst(g, `${r}_zero_point`, new Tensor('', DataType.UINT8, [], Uint8Array.of(p.zeroPoint)));
  const qOut = g.uniqueName(`${r}_QuantizeLinear_Output`);
  const q: Node = {
    name: g.uniqueName(`${r}_QuantizeLinear`),
    opType: 'QuantizeLinear',
    domain: '',
    inputs: [fold.from, sc, zp],
    outputs: [qOut],
    attributes: [],
  };
  const dq = dqNode(g, `${r}_DequantizeLinear`, [qOut, sc, zp], r, undefined);
  g.replaceNode(fold.act, [q, dq]);
  w.readers.set(fold.from, [...(w.readers.get(fold.from) ?? []).filter((n) => n !== fold.act), q]);
  w.readers.set(qOut, [dq]);
  w.producer.set(qOut, q);
  w.producer.set(r, dq);
  // the Clip's bound constants go once nothing reads them (in the sweep at the end)
  for (const b of fold.act.inputs.slice(1)) if (b) replaced.push(b);
}

/**
 * Embedding tables (Gather): 8-bit weights only, as in dynamic mode (gather-dq); they need no
 * calibration. Done first, so that an LM head tied to a table does not leave the float table
 * behind for the Gather.
 */
function quantizeGathers(st: QuantState): void {
  const cache = new Map<string, GatherEntry>();
  const defaults = defaultOpTypes(STATIC_OPS);
  if (!st.selected('Gather', defaults)) return;
  for (const node of [...st.graph.nodes]) {
    if (node.opType !== 'Gather' || !isOnnx(node) || OP_QUANTIZERS.Gather.weightless?.(node, st)) continue;
    const site = OP_QUANTIZERS.Gather.locate(node, st);
    if (typeof site === 'string') {
      st.skip(node, site);
      continue;
    }
    const problem = st.siteProblem(node, site.tensor);
    if (problem) {
      st.skip(node, problem);
      continue;
    }
    applyGatherDq(st, site, cache);
    st.count('Gather(weight-only)');
  }
}

export async function runStatic(st: QuantState): Promise<void> {
  const ready = st.opset >= 10 && !!st.ctx.calibration && !!st.ctx.run;
  // BatchNorm into Conv first, so that the Conv's output can carry its activation's range
  if (ready && st.selected('Conv', defaultOpTypes(STATIC_OPS))) {
    const bn = foldBatchNorms(st);
    if (bn) st.count('batchNormFolded', bn);
  }
  let plans = planNodes(st);
  quantizeGathers(st);
  if (!plans.length) return; // nothing to calibrate: no data needed
  if (st.opset < 10) {
    for (const p of plans) st.skip(p.node, `ai.onnx opset ${st.opset} < 10 has no QuantizeLinear / DequantizeLinear`);
    return;
  }
  if (!st.ctx.calibration) {
    throw new MlcError('USAGE', 'static quantization needs calibration data: pass --calibration-data <file.npz | test_data_set folder>');
  }
  if (!st.ctx.run) throw new MlcError('USAGE', 'static quantization needs a model runner in the pass context (ctx.run)');

  const g = st.graph;
  const allowed = (n: Node) => !st.excluded(n) && !subgraphsOf(n).length;
  const weightOps = (ps: Plan[]) => new Map(ps.map((p) => [p.node, p.inNames]));
  // calibrate every tensor the region may quantize, folds assumed to succeed: a folded
  // activation's input (the Conv output) is not measured, so that the calibration session keeps
  // the runtime's Conv + activation fusion; a fold that does not fit after all needs its input's
  // range, measured in a second run over the data for those tensors only (exact min / max either
  // way, so the result is the same as measuring everything at once)
  const optimistic = quantRegion({ graph: g, weightOps: weightOps(plans), allowed, canFold: () => true });
  const foldFrom = new Map([...optimistic.folds.values()].map((f) => [f.from, f]));
  const tensors = new Set(optimistic.tensors.keys());
  for (const p of plans) for (const t of [...p.inNames, p.node.outputs[0]]) if (!foldFrom.has(t)) tensors.add(t);
  const params = await calibrate(st, [...tensors]);
  const fits = (f: Fold) => params.has(f.act.outputs[0]) && foldFits(params.get(f.act.outputs[0])!, f);
  const unfolded = [...foldFrom.values()].filter((f) => !fits(f)).map((f) => f.from);
  if (unfolded.length) for (const [t, p] of await calibrate(st, unfolded)) params.set(t, p);

  // a range for `t`: calibrated, or not needed as `t` goes into a fold that fits
  const ranged = (t: string) => params.has(t) || (foldFrom.has(t) && fits(foldFrom.get(t)!));

  plans = plans.filter((plan) => {
    const out = plan.node.outputs[0];
    const ok = plan.inNames.every((n) => params.has(n)) && (g.isGraphOutput(out) || ranged(out));
    if (!ok) st.skip(plan.node, 'calibration gave no float values for its input or output');
    return ok;
  });
  const region = quantRegion({
    graph: g,
    weightOps: weightOps(plans),
    allowed: (n) => allowed(n) && (!OWN_RANGE_OPS.includes(n.opType) || ranged(n.outputs[0])),
    canFold: fits,
  });

  // weights and biases first (they need the input scale), then activations
  const weightCache = new Map<string, { out: string; scale: Float32Array }>();
  // the float weights, biases and Clip bounds no node reads any more go at the end, in one sweep
  // (each look for readers rebuilds the graph's index after an edit)
  const replaced: string[] = [];
  // every look-up first, then the edits: the graph's index is rebuilt once, after them
  resolveWeights(st, plans);
  for (const plan of plans) {
    if (plan.weight) quantizeWeightAndBias(st, plan, params.get(plan.inNames[0])!, weightCache, replaced);
    st.count(plan.node.opType);
    st.modified = true;
  }
  // activations: one Q/DQ pair per tensor (the weights' rewiring reads and writes no activation)
  const wiring = wiringOf(g);
  for (const [t, how] of region.tensors) {
    const p = params.get(how.kind === 'same' ? how.from : t);
    if (!p) continue;
    const fold = region.folds.get(t);
    if (fold) {
      foldActivation(st, fold, p, replaced, wiring);
      st.count(fold.act.opType === 'Relu' ? 'reluFolded' : 'clipFolded');
    } else {
      insertQdq(st, t, p, wiring);
    }
  }
  g.touch();
  dropUnused(st, replaced);
  for (const n of region.ops) st.count(`int8${n.opType}`);
  st.count('activationQdq', region.tensors.size);
}

/**
 * Drop what the rewrite left unread (float weights, biases, folded Clips' bounds). A Constant node
 * nothing reads (a Clip bound) goes in one sweep of the node list with the others: removed one by
 * one, each removal made the next look-up rebuild the graph's index (MobileNetV2: 70 rebuilds).
 * Removing a Constant changes no other value's readers, so this is what one-by-one removal leaves.
 */
function dropUnused(st: QuantState, names: string[]): void {
  const g = st.graph;
  const dead = new Set<Node>();
  const rest: string[] = [];
  for (const name of new Set(names)) {
    const p = g.producer(name);
    const unread = (o: string) => !o || (!g.consumers(o).length && !g.isGraphOutput(o));
    if (p && p.opType === 'Constant' && isOnnxDomain(p) && p.outputs.every(unread)) dead.add(p);
    else rest.push(name);
  }
  if (dead.size) {
    g.nodes = g.nodes.filter((n) => !dead.has(n));
    g.touch();
  }
  for (const name of rest) dropIfUnused(st, name);
}

/**
 * Whether Q with `p` (uint8) clamps as the activation does: the quantized range
 * [s·(qmin − z), s·(qmax − z)] lies within the bounds [lo, hi], up to half a step of rounding.
 */
function foldFits(p: ScaleZp, f: Fold): boolean {
  const half = p.scale / 2;
  return p.scale * (ACT_RANGE.qmin - p.zeroPoint) >= f.lo - half && p.scale * (ACT_RANGE.qmax - p.zeroPoint) <= f.hi + half;
}

/** Bytes of initializers just added under these names ('' for none). */
function newBytes(g: Graph, names: string[]): number {
  return names.reduce((sum, n) => sum + (n ? (g.initializers.get(n)?.byteLength ?? 0) : 0), 0);
}

/** Each weight's identity and each bias constant, looked up before any edit. */
function resolveWeights(st: QuantState, plans: Plan[]): void {
  for (const plan of plans) {
    const node = plan.node;
    if (!plan.weight) continue;
    plan.weightKey = st.weightKey(node.inputs[plan.weight.input]);
    const bName = node.inputs[2];
    const biasOp = (node.opType === 'Conv' || node.opType === 'Gemm') && !!bName && !(node.opType === 'Gemm' && attrFloat(node, 'beta', 1) !== 1);
    plan.bias = biasOp ? floatConstant(st, bName) : undefined;
  }
}

function quantizeWeightAndBias(
  st: QuantState,
  plan: Plan,
  x: ScaleZp,
  cache: Map<string, { out: string; scale: Float32Array }>,
  replaced: string[],
): void {
  const g = st.graph;
  const node = plan.node;
  const site = plan.weight!;
  const wName = node.inputs[site.input];
  const t = site.tensor;
  const qtype = st.opts.type === 'uint8' ? 'uint8' : 'int8';
  const axis = st.opts.perChannel ? site.axis : undefined;
  const key = `${plan.weightKey}|${axis ?? 'tensor'}`;
  const bName = node.inputs[2];
  const b = plan.bias;
  let entry = cache.get(key);
  if (!entry) {
    // symmetric weights: one zero point for all channels (QLinearConv wants that for uint8)
    const w = addQuantizedWeight(g, wName, t.data as Float32Array, t.dims, qtype, true, axis, true, st.opts.reduceRange, st.opts.pairSafe ? pairLayout(node.opType, site.axis) : undefined);
    const wOut = g.uniqueName(`${wName}_DequantizeLinear_Output`);
    g.addNode(dqNode(g, `${wName}_DequantizeLinear`, [w.q, w.scale, w.zp], wOut, axis, axis === undefined ? '' : axisDqDomain(st)), { before: node });
    entry = { out: wOut, scale: w.qt.scale };
    cache.set(key, entry);
    st.bytesBefore += t.byteLength;
    st.bytesAfter += newBytes(g, [w.q, w.scale, w.zp]);
    st.details.push({ weight: wName, node: nodeLabel(node), format: qtype, axis: axis ?? 'tensor' });
  }
  node.inputs[site.input] = entry.out; // the graph's index is rebuilt after all the edits
  replaced.push(wName);

  // bias: int32, scale s_x·s_w, zero point 0
  const M = t.dims[site.axis];
  if (!b || b.dims.length !== 1 || b.dims[0] !== M) return;
  const ws = entry.scale;
  const bScale = new Float32Array(M);
  const q = new Int32Array(M);
  const bd = b.data as Float32Array;
  for (let c = 0; c < M; c++) {
    const s = Math.fround(x.scale * (axis === undefined ? ws[0] : ws[c]));
    const v = Math.round(bd[c] / s);
    if (!(s > 0) || !Number.isFinite(v) || Math.abs(v) > 2147483647) {
      st.count('biasKeptFloat');
      return;
    }
    bScale[c] = s;
    q[c] = v;
  }
  const bq = addConst(g, `${bName}_quantized`, new Tensor('', DataType.INT32, [M], q));
  const bs = addConst(g, `${bName}_scale`, Tensor.float32('', [M], bScale));
  const bOut = g.uniqueName(`${bName}_DequantizeLinear_Output`);
  // zero point omitted: it defaults to 0
  g.addNode(dqNode(g, `${bName}_DequantizeLinear`, [bq, bs], bOut, 0, axisDqDomain(st)), { before: node });
  node.inputs[2] = bOut;
  st.bytesBefore += b.byteLength;
  st.bytesAfter += newBytes(g, [bq, bs]);
  replaced.push(bName);
}

/** Where onnxruntime's int8 kernels pair a weight's K values (math/quant.ts PairLayout): Conv filters, MatMul [K, N], Gemm's B read transposed. */
function pairLayout(opType: string, channelAxis: number): PairLayout | undefined {
  if (opType === 'Conv') return 'conv';
  if (opType === 'MatMul' || opType === 'Gemm') return channelAxis === 1 ? 'rows' : 'columns';
  return undefined;
}
