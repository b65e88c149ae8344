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
 * - A ReLU that is the only reader of such an output is folded into the output's Q: with the
 *   ReLU output's range the zero point is 0, so Q clamps negatives exactly as ReLU would.
 * - One Q/DQ pair per tensor: every reader of the tensor reads the DQ output (graph outputs keep
 *   the float value; a node output that is a graph output gets no Q/DQ).
 * - Gather embedding tables: 8-bit weights only (as in dynamic mode), no calibration needed.
 *
 * Calibration: the model with the chosen tensors added as outputs is run (ctx.run) on up to
 * calibrationSamples samples of ctx.calibration; minmax needs one pass, percentile and entropy a
 * second pass that fills histograms over the first pass's ranges.
 *
 * Refuses: nodes in subgraphs, excluded nodes, non-float activations, weights that are not float32
 * constants or are tiny; models below opset 10. A model with candidates but no calibration data
 * throws MlcError USAGE; a model without candidates is left as it is (no data needed).
 */
import { MlcError } from '../../core/errors.js';
import { cloneModel } from '../../ir/clone.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { attrFloat, subgraphsOf, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { shapeOf } from '../../ir/types.js';
import {
  Histogram,
  computeScaleZp,
  entropyThreshold,
  percentileRange,
  qRange,
  type ScaleZp,
} from '../../math/quant.js';
import { sliceDataset } from '../../data/batch.js';
import type { Dataset } from '../pass.js';
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
  weightProblem,
} from './common.js';
import { OP_QUANTIZERS, defaultOpTypes, quantizerOf, type WeightSite } from './ops.js';
import { applyGatherDq, bytesOf, channelAxis, type GatherEntry } from './weight-only.js';

interface Plan {
  node: Node;
  /** activation input indices, and their names before any rewiring */
  acts: number[];
  inNames: string[];
  weight?: WeightSite;
  /** tensor whose range quantizes the output (the ReLU output when folded) */
  outTensor: string;
  relu?: Node;
  done?: boolean;
}

type Feeds = Dataset['inputs'];

const ACT_RANGE = qRange('uint8');

function isFloatValue(g: Graph, name: string): boolean {
  const t = elemTypeOfValue(g, name);
  return t === undefined || t === DataType.FLOAT;
}

function planNodes(st: QuantState): Plan[] {
  const g = st.graph;
  const defaults = defaultOpTypes('static');
  skipSubgraphNodes(st, Object.keys(OP_QUANTIZERS).filter((k) => st.selected(k, defaults) && OP_QUANTIZERS[k].rewrites.static));
  const plans: Plan[] = [];
  for (const node of g.nodes) {
    const q = quantizerOf(node);
    if (!q || q.rewrites.static !== 'qdq' || !st.selected(node.opType, defaults)) continue;
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
    if (st.excluded(node, site?.tensor.name)) {
      st.skip(node, 'excluded');
      continue;
    }
    const problem = site && weightProblem(site.tensor, st.opts.minElements);
    if (problem) {
      st.skip(node, problem);
      continue;
    }
    const bad = acts.map((i) => node.inputs[i]).find((n) => !isFloatValue(g, n) || st.constant(n));
    if (bad !== undefined) {
      st.skip(node, `activation ${bad} is not a float32 tensor`);
      continue;
    }
    const out = node.outputs[0];
    const plan: Plan = { node, acts, inNames: acts.map((i) => node.inputs[i]), weight: site, outTensor: out };
    const users = g.consumers(out);
    if (users.length === 1 && users[0].opType === 'Relu' && isOnnx(users[0]) && !g.isGraphOutput(out)) {
      plan.relu = users[0];
      plan.outTensor = users[0].outputs[0];
    }
    plans.push(plan);
  }
  return plans;
}

/** Model inputs → calibration batches (views into the data set). */
function* calibrationBatches(st: QuantState, ds: Dataset): Generator<Feeds> {
  const g = st.graph;
  const inputs = g.realInputs();
  for (const i of inputs) {
    if (!ds.inputs[i.name]) throw new MlcError('INPUT', `calibration data has no array for model input '${i.name}' (has: ${Object.keys(ds.inputs).join(', ') || 'nothing'})`);
  }
  const feedsOf = (d: Dataset): Feeds => Object.fromEntries(inputs.map((i) => [i.name, d.inputs[i.name]]));
  const n = Math.min(ds.count, st.opts.calibrationSamples);
  const splittable = inputs.every((i) => ds.inputs[i.name].dims[0] === ds.count);
  if (!splittable) {
    yield feedsOf(ds);
    return;
  }
  const fixed = inputs.map((i) => shapeOf(i)?.[0]).find((d): d is number => typeof d === 'number');
  const size = fixed ?? st.opts.calibrationBatch;
  if (fixed !== undefined && n < fixed) {
    yield feedsOf(ds);
    return;
  }
  for (let s = 0; s + (fixed ?? 1) <= n; s += size) yield feedsOf(sliceDataset(ds, s, Math.min(n, s + size)));
}

interface TensorStats {
  min: number;
  max: number;
  count: number;
  hist?: Histogram;
}

/** Histogram bins for `n` samples: about 16 samples per bin, a power of two in [256, 2048]. */
function binsFor(n: number): number {
  return Math.min(2048, Math.max(256, 2 ** Math.round(Math.log2(Math.max(1, n / 16)))));
}

function updateMinMax(s: TensorStats, d: ArrayLike<number>): void {
  let lo = s.min;
  let hi = s.max;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  s.min = lo;
  s.max = hi;
  s.count += d.length;
}

async function calibrate(st: QuantState, tensors: string[]): Promise<Map<string, ScaleZp>> {
  const ctx = st.ctx;
  const ds = ctx.calibration!;
  const run = ctx.run!;
  const g = st.graph;
  const probe: Model = cloneModel(st.model);
  const outs = new Set(probe.graph.outputs.map((o) => o.name));
  const inputNames = new Set(g.realInputs().map((i) => i.name));
  for (const t of tensors) {
    if (!outs.has(t) && !inputNames.has(t)) {
      // no declared type: onnxruntime infers it (a float16 model's activations are float16,
      // which the float-only statistics below then leave alone)
      probe.graph.outputs.push({ name: t });
      outs.add(t);
    }
  }
  const stats = new Map<string, TensorStats>(tensors.map((t) => [t, { min: Infinity, max: -Infinity, count: 0 }]));
  const nonFloat = new Set<string>();
  const pass = async (visit: (t: string, d: ArrayLike<number>) => void) => {
    for (const feeds of calibrationBatches(st, ds)) {
      if (ctx.signal?.aborted) throw new MlcError('INTERNAL', 'calibration aborted');
      let res: Awaited<ReturnType<typeof run>>;
      try {
        res = await run(probe, feeds, tensors.filter((t) => !inputNames.has(t)));
      } catch (e) {
        throw new MlcError('INPUT', `calibration run failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      for (const t of tensors) {
        const d = inputNames.has(t) ? feeds[t].data : res[t]?.data;
        if (!d || !(d instanceof Float32Array)) {
          nonFloat.add(t);
          continue;
        }
        visit(t, d);
      }
    }
  };
  await pass((t, d) => updateMinMax(stats.get(t)!, d));
  const method = st.opts.calibrationMethod;
  if (method !== 'minmax') {
    for (const s of stats.values()) {
      if (!(s.min <= s.max) || s.min === s.max) continue;
      s.hist = method === 'entropy' ? new Histogram(0, Math.max(-s.min, s.max), binsFor(s.count)) : new Histogram(s.min, s.max, 2 * binsFor(s.count));
    }
    await pass((t, d) => {
      const h = stats.get(t)!.hist;
      if (!h) return;
      if (method === 'entropy') {
        const abs = new Float32Array(d.length);
        for (let i = 0; i < d.length; i++) abs[i] = Math.abs(d[i]);
        h.add(abs);
      } else h.add(d);
    });
  }
  const params = new Map<string, ScaleZp>();
  for (const [t, s] of stats) {
    if (nonFloat.has(t)) continue;
    let lo = s.min <= s.max ? s.min : 0;
    let hi = s.min <= s.max ? s.max : 0;
    if (s.hist && method === 'percentile') [lo, hi] = percentileRange(s.hist, st.opts.percentile, [lo, hi]);
    if (s.hist && method === 'entropy') {
      // uint8 over [0, T] has 256 levels for a non-negative tensor, 128 per side otherwise
      const T = entropyThreshold(s.hist, lo >= 0 ? 256 : 128, true);
      lo = Math.max(lo, -T);
      hi = Math.min(hi, T);
    }
    const p = computeScaleZp(lo, hi, ACT_RANGE, false);
    params.set(t, { scale: Math.fround(p.scale), zeroPoint: p.zeroPoint });
  }
  return params;
}

/** Q → DQ on tensor `t` (produced by `after`, or a graph input when undefined); readers move to the DQ output. */
function insertQdq(st: QuantState, t: string, p: ScaleZp): string {
  const g = st.graph;
  const sc = addConst(g, `${t}_scale`, Tensor.float32('', [], [p.scale]));
  const zp = addConst(g, `${t}_zero_point`, new Tensor('', DataType.UINT8, [], Uint8Array.of(p.zeroPoint)));
  const qOut = g.uniqueName(`${t}_QuantizeLinear_Output`);
  const dqOut = g.uniqueName(`${t}_DequantizeLinear_Output`);
  const readers = g.consumers(t).filter((c) => c.inputs.includes(t));
  const q: Node = { name: g.uniqueName(`${t}_QuantizeLinear`), opType: 'QuantizeLinear', domain: '', inputs: [t, sc, zp], outputs: [qOut], attributes: [] };
  const dq = dqNode(g, `${t}_DequantizeLinear`, [qOut, sc, zp], dqOut, undefined);
  const producer = g.producer(t);
  if (producer) {
    g.addNode(q, { after: producer });
    g.addNode(dq, { after: q });
  } else {
    g.nodes.unshift(q, dq);
    g.touch();
  }
  for (const r of readers) r.inputs = r.inputs.map((x) => (x === t ? dqOut : x));
  g.touch();
  return dqOut;
}

/** Node output Y → Q(ReLU range, z = qmin) → DQ producing the ReLU's output; the ReLU goes. */
function foldRelu(st: QuantState, plan: Plan, p: ScaleZp): void {
  const g = st.graph;
  const relu = plan.relu!;
  const y = plan.node.outputs[0];
  const r = relu.outputs[0];
  const sc = addConst(g, `${r}_scale`, Tensor.float32('', [], [p.scale]));
  const zp = addConst(g, `${r}_zero_point`, new Tensor('', DataType.UINT8, [], Uint8Array.of(p.zeroPoint)));
  const qOut = g.uniqueName(`${r}_QuantizeLinear_Output`);
  const q: Node = { name: g.uniqueName(`${r}_QuantizeLinear`), opType: 'QuantizeLinear', domain: '', inputs: [y, sc, zp], outputs: [qOut], attributes: [] };
  g.replaceNode(relu, [q, dqNode(g, `${r}_DequantizeLinear`, [qOut, sc, zp], r, undefined)]);
}

/**
 * Embedding tables (Gather): 8-bit weights only, as in dynamic mode (gather-dq); they need no
 * calibration. Done first, so that an LM head tied to a table does not leave the float table
 * behind for the Gather.
 */
function quantizeGathers(st: QuantState): void {
  const cache = new Map<string, GatherEntry>();
  const defaults = defaultOpTypes('static');
  if (!st.selected('Gather', defaults)) return;
  for (const node of [...st.graph.nodes]) {
    if (node.opType !== 'Gather' || !isOnnx(node)) continue;
    const site = OP_QUANTIZERS.Gather.locate(node, st);
    if (typeof site === 'string') {
      st.skip(node, site);
      continue;
    }
    if (st.excluded(node, site.tensor.name)) {
      st.skip(node, 'excluded');
      continue;
    }
    const problem = weightProblem(site.tensor, st.opts.minElements);
    if (problem) {
      st.skip(node, problem);
      continue;
    }
    applyGatherDq(st, site, cache);
    st.count('Gather(weight-only)');
  }
}

export async function runStatic(st: QuantState): Promise<void> {
  const plans = planNodes(st);
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

  const tensors = new Set<string>();
  for (const p of plans) {
    for (const t of p.inNames) tensors.add(t);
    tensors.add(p.outTensor);
    // the node's own output too, in case the ReLU cannot be folded
    tensors.add(p.node.outputs[0]);
  }
  const params = await calibrate(st, [...tensors]);

  // weights and biases first (they need the input scale), then activations
  const qdqDone = new Map<string, string>();
  const weightCache = new Map<string, { out: string; scale: Float32Array }>();
  for (const plan of plans) {
    const node = plan.node;
    if (plan.inNames.some((n) => !params.has(n)) || !params.has(plan.outTensor)) {
      st.skip(node, 'calibration gave no float values for its input or output');
      continue;
    }
    if (plan.relu && params.get(plan.outTensor)!.zeroPoint !== ACT_RANGE.qmin) {
      // cannot fold: quantize the node's own output instead (its range is calibrated too)
      plan.relu = undefined;
      plan.outTensor = node.outputs[0];
      if (!params.has(plan.outTensor)) {
        st.skip(node, 'calibration gave no float values for its output');
        continue;
      }
    }
    if (plan.weight) quantizeWeightAndBias(st, plan, params.get(plan.inNames[0])!, weightCache);
    plan.done = true;
    st.count(node.opType);
    st.modified = true;
  }
  // activations: one Q/DQ pair per tensor
  for (const plan of plans) {
    if (!plan.done) continue;
    for (const t of plan.inNames) if (!qdqDone.has(t)) qdqDone.set(t, insertQdq(st, t, params.get(t)!));
    const outT = plan.relu ? plan.outTensor : plan.node.outputs[0];
    // a graph output stays float: a Q/DQ there only adds error (the node then runs as
    // DQ → op, which onnxruntime still turns into an integer kernel for MatMul)
    if (qdqDone.has(outT) || (!plan.relu && st.graph.isGraphOutput(outT))) continue;
    if (plan.relu) {
      foldRelu(st, plan, params.get(outT)!);
      qdqDone.set(outT, outT);
      st.count('reluFolded');
    } else {
      qdqDone.set(outT, insertQdq(st, outT, params.get(outT)!));
    }
  }
  st.count('activationQdq', qdqDone.size);
}

function quantizeWeightAndBias(st: QuantState, plan: Plan, x: ScaleZp, cache: Map<string, { out: string; scale: Float32Array }>): void {
  const g = st.graph;
  const node = plan.node;
  const site = plan.weight!;
  const wName = node.inputs[site.input];
  const t = site.tensor;
  const qtype = st.opts.type === 'uint8' ? 'uint8' : 'int8';
  const axis = channelAxis(st, site.axis);
  const key = `${st.weightKey(wName)}|${axis ?? 'tensor'}`;
  let entry = cache.get(key);
  if (!entry) {
    // symmetric weights: one zero point for all channels (QLinearConv wants that for uint8)
    const w = addQuantizedWeight(g, wName, t.data as Float32Array, t.dims, qtype, true, axis, true, st.opts.reduceRange);
    const wOut = g.uniqueName(`${wName}_DequantizeLinear_Output`);
    g.addNode(dqNode(g, `${wName}_DequantizeLinear`, [w.q, w.scale, w.zp], wOut, axis), { before: node });
    entry = { out: wOut, scale: w.qt.scale };
    cache.set(key, entry);
    st.bytesBefore += t.byteLength;
    st.bytesAfter += bytesOf(g, [w.q, w.scale, w.zp]);
    st.details.push({ weight: wName, node: nodeLabel(node), format: qtype, axis: axis ?? 'tensor' });
  }
  node.inputs[site.input] = entry.out;
  g.touch();
  dropIfUnused(st, wName);

  // bias: int32, scale s_x·s_w, zero point 0
  const bName = node.inputs[2];
  if ((node.opType !== 'Conv' && node.opType !== 'Gemm') || !bName) return;
  if (node.opType === 'Gemm' && attrFloat(node, 'beta', 1) !== 1) return;
  const b = floatConstant(st, bName);
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
  // per-channel DQ needs opset 13; below that one shared scale would be wrong, so keep bias float
  if (st.opset < 13) {
    for (const n of [bq, bs]) g.initializers.delete(n);
    st.count('biasKeptFloat');
    return;
  }
  // zero point omitted: it defaults to 0
  g.addNode(dqNode(g, `${bName}_DequantizeLinear`, [bq, bs], bOut, 0), { before: node });
  node.inputs[2] = bOut;
  g.touch();
  st.bytesBefore += b.byteLength;
  st.bytesAfter += bytesOf(g, [bq, bs]);
  dropIfUnused(st, bName);
}
