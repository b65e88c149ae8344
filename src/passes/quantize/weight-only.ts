/**
 * Weight-only 8-bit quantization: weights stored as int8 (symmetric) or uint8 (asymmetric) with
 * per-channel scales; compute stays float.
 *
 * Rewrites
 * - dq-weight: a float weight W (initializer or Constant) becomes W_quantized + W_scale +
 *   W_zero_point and a DequantizeLinear whose output is named W, so every reader of W (MatMul,
 *   Gemm, Conv, or anything else) reads the dequantized values: r = s·(q − z). Conv and Gemm
 *   weights use Cast → (Sub z) → Mul s instead, which onnxruntime folds at load (see
 *   foldableDequantize).
 * - gather-dq: Gather(table, ids) becomes Gather(table_quantized, ids) → DequantizeLinear with one
 *   scale per column (axis −1), so only the gathered rows are dequantized at run time.
 *
 * Weights are found through src/ir/constants.ts. A weight computed through Identity / Reshape /
 * Transpose … gets a fresh dequantized value that the node reads; the chain stays while others
 * read it. One weight read by several nodes (also through different Identity outputs) is
 * quantized once.
 *
 * Refuses (left alone, listed as skipped): weights that are graph inputs (overridable, IR ≥ 4), not
 * float32, non-finite, smaller than minElements, excluded. Per-channel DequantizeLinear needs opset
 * ≥ 13; for opset 10–12 one scale per tensor is used; below opset 10 (no DequantizeLinear) the
 * com.microsoft DequantizeLinear of onnxruntime is used (per channel), and only onnxruntime runs it.
 */
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { CONSTANT_CHAIN_OPS, Constants } from '../../ir/constants.js';
import type { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import {
  QuantState,
  addConst,
  addQuantizedWeight,
  intAttr,
  dqNode,
  dropIfUnused,
  nodeLabel,
} from './common.js';
import { defaultOpTypes, quantizerOf, rewriteOf, type OpRewrites, type WeightSite } from './ops.js';
import { weightIsLocal } from './subgraphs.js';

/** weight-only: 8-bit weights behind DequantizeLinear for every op type the pass knows. */
export const WEIGHT_ONLY_OPS: OpRewrites = { MatMul: 'dq-weight', Gemm: 'dq-weight', Conv: 'dq-weight', Gather: 'gather-dq', LSTM: 'dq-weight', GRU: 'dq-weight', RNN: 'dq-weight' };

/** Symmetric int8 or asymmetric uint8, per the quantize type. */
export function weightFormat(st: QuantState): { qtype: 'int8' | 'uint8'; symmetric: boolean } {
  return st.opts.type === 'uint8' ? { qtype: 'uint8', symmetric: false } : { qtype: 'int8', symmetric: true };
}

/**
 * Domain of the weight DequantizeLinear: the standard op from opset 10; below that onnxruntime's
 * com.microsoft DequantizeLinear (same semantics, per-axis included), which only onnxruntime runs.
 */
export function weightDqDomain(st: QuantState): string {
  if (st.opset >= 10) return '';
  st.model.ensureOpset('com.microsoft', 1);
  st.count('contribDequantize(opset<10)');
  return 'com.microsoft';
}

/**
 * Domain of a per-axis DequantizeLinear (a per-channel weight or int32 bias): the standard op from
 * opset 13, where it gained `axis`; below that onnxruntime's com.microsoft DequantizeLinear, which
 * its QDQ fusion takes as it takes the standard one.
 */
export function axisDqDomain(st: QuantState): string {
  if (st.opset >= 13) return '';
  st.model.ensureOpset('com.microsoft', 1);
  return 'com.microsoft';
}

/** Channel axis to use, or undefined for per-tensor (option off, or standard DequantizeLinear below opset 13). */
export function channelAxis(st: QuantState, axis: number, contribOk = false): number | undefined {
  if (!st.opts.perChannel) return undefined;
  if (contribOk && st.opset < 10) return axis;
  if (st.opset < 13) {
    st.count('perTensorFallback(opset<13)');
    return undefined;
  }
  return axis;
}

/**
 * Conv and Gemm weights are dequantized with Cast → (Sub z) → Mul s instead of DequantizeLinear:
 * onnxruntime constant-folds those at load, so the node sees a constant float weight and keeps its
 * fast kernels. Behind a DequantizeLinear (never folded, to keep QDQ patterns) the weight is
 * dequantized on every run and Conv loses its NCHWc kernels: measured at 1 thread, the MNIST CNN's
 * convs ran about 3× slower and the MNIST MLP (Gemm) 1.26× slower than float. MatMul keeps
 * DequantizeLinear: onnxruntime fuses DequantizeLinear → MatMul into an 8-bit kernel that runs
 * faster than the float MatMul (0.84× on the encoder). Needs opset ≥ 7 (numpy-style broadcasting).
 */
function foldableDequantize(st: QuantState, site: WeightSite): boolean {
  return FOLDED_DEQUANTIZE.has(site.node.opType) && st.opset >= 7;
}

/** Op types whose weight is dequantized by Cast → Mul (folded at load); the recurrent ops have no 8-bit kernel either. */
const FOLDED_DEQUANTIZE = new Set(['Conv', 'Gemm', 'LSTM', 'GRU', 'RNN']);

/**
 * Cast(q) → [Sub z] → Mul s producing `out`; the scale / zero point become broadcastable float
 * tensors. For a float16 weight a Cast to float16 follows: onnxruntime's CPU provider has no
 * float16 Mul, so a Mul in float16 would not fold at load and would run on every inference, while
 * this chain folds to a float16 constant.
 */
function castMulNodes(
  st: QuantState,
  name: string,
  q: string,
  scale: string,
  zp: string,
  axis: number | undefined,
  rank: number,
  out: string,
  half = false,
): { nodes: Node[]; zp: string } {
  const g = st.graph;
  const bshape = (t: Tensor) => {
    if (axis !== undefined) t.dims = Array.from({ length: rank }, (_, i) => (i === axis ? t.size : 1));
  };
  bshape(g.initializers.get(scale)!);
  const nodes: Node[] = [];
  const casted = g.uniqueName(`${name}_cast`);
  nodes.push({ name: g.uniqueName(`${name}_Cast`), opType: 'Cast', domain: '', inputs: [q], outputs: [casted], attributes: [intAttr('to', DataType.FLOAT)] });
  let x = casted;
  if (zp) {
    const zt = g.initializers.get(zp)!;
    g.initializers.delete(zp);
    const zf = Tensor.float32('', zt.dims, zt.toFloat32());
    bshape(zf);
    zp = addConst(g, `${name}_zero_point_float`, zf);
    x = g.uniqueName(`${name}_centered`);
    nodes.push({ name: g.uniqueName(`${name}_Sub`), opType: 'Sub', domain: '', inputs: [casted, zp], outputs: [x], attributes: [] });
  }
  const product = half ? g.uniqueName(`${name}_float`) : out;
  nodes.push({ name: g.uniqueName(`${name}_Mul`), opType: 'Mul', domain: '', inputs: [x, scale], outputs: [product], attributes: [] });
  if (half) nodes.push({ name: g.uniqueName(`${name}_CastHalf`), opType: 'Cast', domain: '', inputs: [product], outputs: [out], attributes: [intAttr('to', DataType.FLOAT16)] });
  return { nodes, zp };
}

/**
 * Replace the float weight W by DequantizeLinear(W_quantized, …) (Cast → Mul for Conv). The
 * dequantized output is named W (every reader sees it) unless an excluded node also reads W; then
 * it gets a new name and only this node is rewired. `done` maps weights already handled to their
 * dequantized name.
 */
export function applyDqWeight(st: QuantState, site: WeightSite, done: Map<string, string>): void {
  const g = st.graph;
  const name = site.node.inputs[site.input];
  const key = st.weightKey(name);
  const prior = done.get(key);
  if (prior !== undefined) {
    site.node.inputs[site.input] = prior;
    g.touch();
    dropIfUnused(st, name);
    return;
  }
  const t = site.tensor;
  // a weight computed through Identity / Reshape / Transpose …: a fresh dequantized value, the chain stays for others
  const computed = !st.consts.info(name)?.direct;
  const { qtype, symmetric } = weightFormat(st);
  // a float16 weight: Cast → Mul in float16 (DequantizeLinear gives float32 below opset 19)
  const fold = foldableDequantize(st, site) || site.half === true;
  const axis = fold ? (st.opts.perChannel ? site.axis : undefined) : channelAxis(st, site.axis, true);
  const before = site.half ? t.size * 2 : t.byteLength;
  const { q, scale, zp: zp0 } = addQuantizedWeight(g, name, t.data as Float32Array, t.dims, qtype, symmetric, axis);
  const shared = computed || g.consumers(name).some((c) => st.excluded(c)) || g.isGraphOutput(name);
  const outName = shared ? g.uniqueName(`${name}_dequantized`) : name;
  let zp = zp0;
  let dq: Node[];
  if (fold) ({ nodes: dq, zp } = castMulNodes(st, name, q, scale, zp0, axis, t.dims.length, outName, site.half));
  else dq = [dqNode(g, `${name}_DequantizeLinear`, [q, scale, zp], outName, axis, weightDqDomain(st))];
  const constNode = g.producer(name);
  if (shared) {
    g.nodes.unshift(...dq);
    site.node.inputs[site.input] = outName;
    g.touch();
    dropIfUnused(st, name);
  } else if (constNode) {
    g.replaceNode(constNode, dq);
  } else {
    g.initializers.delete(name);
    g.nodes.unshift(...dq);
    g.touch();
  }
  done.set(key, outName);
  if (outName === name) st.dequantized.add(name);
  st.bytesBefore += shared && g.consumers(name).length ? 0 : before;
  st.bytesAfter += bytesOf(g, [q, scale, zp]);
  st.modified = true;
  st.details.push({ weight: name, node: nodeLabel(site.node), format: qtype, axis: axis ?? 'tensor', dequantize: fold ? 'Cast+Mul' : 'DequantizeLinear' });
}

/** Gather(table, ids) → Gather(table_quantized, ids) → DequantizeLinear(axis −1). */
export interface GatherEntry {
  q: string;
  scale: string;
  zp: string;
  axis?: number;
  domain: string;
}

export function applyGatherDq(st: QuantState, site: WeightSite, cache: Map<string, GatherEntry>): void {
  const g = st.graph;
  const node = site.node;
  const table = node.inputs[0];
  const key = st.weightKey(table);
  let entry = cache.get(key);
  if (!entry) {
    const { qtype, symmetric } = weightFormat(st);
    const axis = channelAxis(st, 1, true);
    const t = site.tensor;
    const r = addQuantizedWeight(g, table, t.data as Float32Array, t.dims, qtype, symmetric, axis);
    entry = { q: r.q, scale: r.scale, zp: r.zp, axis: axis === undefined ? undefined : -1, domain: weightDqDomain(st) };
    cache.set(key, entry);
    st.bytesBefore += t.byteLength;
    st.bytesAfter += bytesOf(g, [r.q, r.scale, r.zp]);
    st.details.push({ weight: table, node: nodeLabel(node), format: qtype, axis: axis === undefined ? 'tensor' : 'column' });
  }
  const out = node.outputs[0];
  const gathered = g.uniqueName(`${out}_quantized`);
  const gatherQ: Node = { ...node, inputs: [entry.q, ...node.inputs.slice(1)], outputs: [gathered], attributes: [...node.attributes] };
  const dq = dqNode(g, `${nodeLabel(node)}_DequantizeLinear`, [gathered, entry.scale, entry.zp], out, entry.axis, entry.domain);
  g.replaceNode(node, [gatherQ, dq]);
  dropIfUnused(st, table);
  st.modified = true;
}

/**
 * Stored bytes behind `names`: each name is resolved by src/ir/constants.ts, so a weight stored
 * behind a Transpose / Identity / Reshape (or in a Constant node) counts its stored tensor, once.
 */
export function bytesOf(g: Graph, names: string[]): number {
  // every initializer is stored in the file, also one an IR < 4 model lists as an input
  const consts = new Constants(g, { legacyInitializers: true });
  const stored = new Set(names.flatMap((n) => consts.info(n)?.sources ?? []));
  let b = 0;
  for (const s of stored) b += consts.get(s)?.byteLength ?? 0;
  return b;
}

/**
 * Shared candidate walk: each node of the state's graph (the main graph, or one subgraph: see
 * subgraphs.ts) whose op type the mode handles and the user selected; a node with several
 * weights (a recurrent node's W and R) yields each.
 */
export function* candidates(st: QuantState, ops: OpRewrites): Generator<{ node: Node; site: WeightSite }> {
  const defaults = defaultOpTypes(ops);
  for (const node of [...st.graph.nodes]) {
    const q = quantizerOf(node);
    if (!q || !rewriteOf(ops, node.opType) || !st.selected(node.opType, defaults) || q.weightless?.(node, st)) continue;
    // float16 weights only where the rewrite is dq-weight, the one that gives the node float16 back
    const half = { half: rewriteOf(ops, node.opType) === 'dq-weight' && st.opset >= 7 };
    for (const site of [q.locate(node, st, half), ...(q.more?.(node, st, half) ?? [])]) {
      if (typeof site === 'string') {
        // a weight shared with a node handled earlier already reads the DequantizeLinear
        if (node.inputs.some((i) => readsDequantized(st, i))) st.count(node.opType);
        else st.skip(node, activationProduct(st, node) ?? site);
        continue;
      }
      const problem = st.siteProblem(node, site.tensor);
      if (problem) {
        st.skip(node, problem);
        continue;
      }
      const w = node.inputs[site.input];
      if (!weightIsLocal(st, w)) {
        st.skip(node, `weight ${w} is also read outside this subgraph: left float (quantizing it here would store it twice)`);
        continue;
      }
      yield { node, site };
    }
  }
}

/**
 * Why a MatMul of two computed values (attention's Q·Kᵀ and scores·V) is left float: there is no
 * weight to store in 8 or 4 bits. Quantizing both activations at run time (MatMulInteger on two
 * DynamicQuantizeLinear outputs, or onnxruntime's QAttention) measured no faster than keeping them
 * float beside mlc's int8 projections (benchmarks/fastq.bench.mjs --only attn; README).
 */
function activationProduct(st: QuantState, node: Node): string | undefined {
  if (node.opType !== 'MatMul' || node.inputs.length !== 2) return undefined;
  if (!node.inputs.every((i) => st.graph.producer(i) && !st.constant(i))) return undefined;
  return 'both inputs are computed (an activation × activation product such as attention scores): no weight, kept float';
}

/** Whether `name` is (an Identity / Reshape / … view of) a weight this run replaced by a DequantizeLinear. */
function readsDequantized(st: QuantState, name: string): boolean {
  const g = st.graph;
  for (let depth = 0; name && depth < 64; depth++) {
    if (st.dequantized.has(name)) return true;
    const p = g.producer(name);
    if (!p || !CONSTANT_CHAIN_OPS.includes(p.opType) || p.opType === 'Cast') return false;
    name = p.inputs[0];
  }
  return false;
}

export function runWeightOnly(st: QuantState): void {
  const done = new Map<string, string>();
  const gatherCache = new Map<string, GatherEntry>();
  for (const { node, site } of candidates(st, WEIGHT_ONLY_OPS)) {
    const rw = rewriteOf(WEIGHT_ONLY_OPS, node.opType);
    if (rw === 'gather-dq') applyGatherDq(st, site, gatherCache);
    else applyDqWeight(st, site, done);
    st.count(node.opType);
  }
}
