/**
 * Students for distillation.
 *
 * `narrowModel(model, factor)` makes a narrower copy of a network in place: every hidden layer's
 * width (a MatMul / Gemm's output features, a Conv's filters) is scaled by `factor`, keeping the
 * channels whose outgoing weights have the largest L2 norm, so the student starts from the
 * teacher's strongest units instead of from scratch.
 *
 * A layer L is narrowed only when its output reaches exactly one next layer through a chain this
 * module knows how to shrink:
 *   L (MatMul [K,N] / Gemm / Conv group 1)
 *     → any of: Add/Sub/Mul/Div with a constant broadcast along the channel (bias, scale; shrunk),
 *       unary activations (Relu, LeakyRelu, Sigmoid, Tanh, Gelu, Erf, Elu, Selu, Softplus,
 *       HardSigmoid, HardSwish, Clip, Identity, Dropout), BatchNormalization (parameters shrunk),
 *       MaxPool / AveragePool / GlobalAveragePool, and, from a Conv to a dense layer, Flatten or a
 *       2-D Reshape (each channel then owns a block of H·W features of the next layer)
 *     → next layer (MatMul / Gemm data input, Conv group 1): its input dimension shrinks.
 * Every value on the chain must have a single consumer and not be a graph output, and every
 * constant shrunk must belong to that chain alone; otherwise L keeps its width and the reason is
 * recorded. The last layer (feeding the graph output) always keeps its width, so inputs and outputs
 * of the model are unchanged.
 */
import { MlcError } from '../core/errors.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Node, attrInt } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import type { Skip } from '../core/types.js';

export interface NarrowResult {
  /** narrowed layers: width before / after and the kept channel indices */
  layers: { node: string; before: number; after: number; keep: number[] }[];
  skipped: Skip[];
  paramsBefore: number;
  paramsAfter: number;
}

const UNARY = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Gelu', 'Erf', 'Elu', 'Selu', 'Softplus', 'HardSigmoid', 'HardSwish', 'Clip',
  'Identity', 'Dropout',
]);
const POOL = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool']);
const ARITH = new Set(['Add', 'Sub', 'Mul', 'Div']);

type Kind = 'dense' | 'conv';

/** A weighted layer: where its weight is and along which axes its outputs / inputs lie. */
interface Layer {
  node: Node;
  kind: Kind;
  weight: string;
  outAxis: number; // axis of the weight indexing output channels
  inAxis: number; // axis of the weight indexing input features / channels
  bias?: string; // Gemm C / Conv B (1-D over outputs)
}

/** A change to make once all keep-sets are known. */
type Edit =
  | { kind: 'take'; tensor: string; axis: number; of: 'out' | 'in'; layer: Layer; block?: number }
  | { kind: 'reshape'; tensor: string; layer: Layer; block: number };

function float2d(g: Graph, name: string): Tensor | undefined {
  const t = g.initializers.get(name);
  return t && t.dtype === DataType.FLOAT && !g.isGraphInput(name) ? t : undefined;
}

function asLayer(g: Graph, n: Node): Layer | undefined {
  if (n.domain) return undefined;
  if (n.opType === 'MatMul') {
    const w = float2d(g, n.inputs[1]);
    if (!w || w.dims.length !== 2) return undefined;
    return { node: n, kind: 'dense', weight: n.inputs[1], outAxis: 1, inAxis: 0 };
  }
  if (n.opType === 'Gemm') {
    const w = float2d(g, n.inputs[1]);
    if (!w || w.dims.length !== 2 || attrInt(n, 'transA', 0) !== 0) return undefined;
    const tB = attrInt(n, 'transB', 0) === 1;
    const c = n.inputs[2] ? g.initializers.get(n.inputs[2]) : undefined;
    if (n.inputs[2] && !c) return undefined;
    const bias = c && c.dims.length >= 1 && c.size > 1 ? n.inputs[2] : undefined;
    return { node: n, kind: 'dense', weight: n.inputs[1], outAxis: tB ? 0 : 1, inAxis: tB ? 1 : 0, bias };
  }
  if (n.opType === 'Conv') {
    const w = float2d(g, n.inputs[1]);
    if (!w || w.dims.length < 3 || attrInt(n, 'group', 1) !== 1) return undefined;
    if (n.inputs[2] && !float2d(g, n.inputs[2])) return undefined;
    return { node: n, kind: 'conv', weight: n.inputs[1], outAxis: 0, inAxis: 1, bias: n.inputs[2] || undefined };
  }
  return undefined;
}

function onlyUsedBy(g: Graph, name: string, node: Node): boolean {
  return !g.isGraphOutput(name) && g.consumers(name).every((c) => c === node);
}

/** Copy of `t` keeping `keep` indices (or blocks of `block` consecutive indices) along `axis`. */
export function takeAlong(t: Tensor, axis: number, keep: readonly number[], block = 1): Tensor {
  const dims = [...t.dims];
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis];
  const idx: number[] = [];
  for (const k of keep) for (let j = 0; j < block; j++) idx.push(k * block + j);
  const src = t.data as Float32Array;
  const out = new Float32Array(outer * idx.length * inner);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const i of idx) {
      const s = (a * n + i) * inner;
      out.set(src.subarray(s, s + inner), o);
      o += inner;
    }
  }
  dims[axis] = idx.length;
  const r = new Tensor(t.name, t.dtype, dims, out, t.docString);
  if (t.extra) r.extra = structuredClone(t.extra);
  return r;
}

/** L2 norm of each slice of `t` along `axis`. */
function channelNorms(t: Tensor, axis: number): Float64Array {
  const dims = t.dims;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis];
  const d = t.data as Float32Array;
  const s = new Float64Array(n);
  for (let a = 0; a < outer; a++) for (let i = 0; i < n; i++) for (let j = 0; j < inner; j++) s[i] += d[(a * n + i) * inner + j] ** 2;
  return s.map(Math.sqrt);
}

/** Is constant `c` broadcast along the channel axis (so it shrinks with the channels)? */
function channelConst(c: Tensor, kind: Kind, channels: number, spatial: boolean): 'scalar' | 'channel' | undefined {
  if (c.size === 1) return 'scalar';
  const d = [...c.dims];
  if (kind === 'dense' || !spatial) {
    // [N] or [1, ..., N]
    return d[d.length - 1] === channels && d.slice(0, -1).every((x) => x === 1) ? 'channel' : undefined;
  }
  // conv: [C, 1, 1] or [1, C, 1, 1]
  while (d.length < 4) d.unshift(1);
  return d.length === 4 && d[1] === channels && d[0] === 1 && d[2] === 1 && d[3] === 1 ? 'channel' : undefined;
}

/**
 * Follow L's output to the next layer. Returns the edits that narrowing L implies (besides L's
 * own weight), or a reason why it cannot be narrowed.
 */
function trace(
  g: Graph,
  L: Layer,
  channels: number,
  layerOf: Map<Node, Layer>,
  from?: { value: string; spatial: boolean },
): Edit[] | string {
  const edits: Edit[] = [];
  if (L.bias && !from) {
    if (!onlyUsedBy(g, L.bias, L.node)) return `bias ${L.bias} is shared`;
    edits.push({ kind: 'take', tensor: L.bias, axis: g.initializers.get(L.bias)!.dims.length - 1, of: 'out', layer: L });
  }
  let cur = from?.value ?? L.node.outputs[0];
  const spatial = from?.spatial ?? L.kind === 'conv'; // activation has spatial dims (channel on axis 1)
  for (let hops = 0; hops < 64; hops++) {
    if (g.isGraphOutput(cur)) return 'its output is a graph output';
    const cons = g.consumers(cur);
    if (cons.length !== 1) return `${cur} has ${cons.length} consumers`;
    const n = cons[0];
    if (n.domain) return `${n.opType} (${n.domain}) follows it`;
    const next = layerOf.get(n);
    if (next && n.inputs[0] === cur && (next.kind === 'dense') === !spatial) {
      // the next layer takes the narrowed channels on its input axis
      if (!onlyUsedBy(g, next.weight, n)) return `weight ${next.weight} of the next layer is shared`;
      edits.push({ kind: 'take', tensor: next.weight, axis: next.inAxis, of: 'in', layer: L });
      return edits;
    }
    if (UNARY.has(n.opType) || (POOL.has(n.opType) && spatial)) {
      if (n.inputs[0] !== cur) return `${n.opType} ${n.name} reads it as a parameter`;
      if (n.opType === 'Dropout' && n.outputs[1]) return 'Dropout mask output is used';
      cur = n.outputs[0];
      continue;
    }
    if (ARITH.has(n.opType)) {
      const other = n.inputs[0] === cur ? n.inputs[1] : n.inputs[0];
      if (n.inputs[0] === n.inputs[1]) return `${n.opType} ${n.name} uses it twice`;
      const c = g.constantValue(other);
      if (!c || !g.initializers.has(other)) return `${n.opType} ${n.name} combines it with a computed value`;
      const how = channelConst(c, L.kind, channels, spatial);
      if (!how) return `${n.opType} ${n.name}: constant ${other} [${c.dims}] does not broadcast along the channels`;
      if (how === 'channel') {
        if (!onlyUsedBy(g, other, n)) return `constant ${other} is shared`;
        edits.push({ kind: 'take', tensor: other, axis: spatial ? Math.max(0, c.dims.length - 3) : c.dims.length - 1, of: 'out', layer: L });
      }
      cur = n.outputs[0];
      continue;
    }
    if (n.opType === 'BatchNormalization') {
      if (n.inputs[0] !== cur) return 'BatchNormalization reads it as a parameter';
      if (n.outputs.slice(1).some((o) => o)) return 'BatchNormalization in training mode';
      for (const p of n.inputs.slice(1, 5)) {
        const t = g.initializers.get(p);
        if (!t || t.dims.length !== 1 || !onlyUsedBy(g, p, n)) return `BatchNormalization parameter ${p} is not a 1-D constant of its own`;
        edits.push({ kind: 'take', tensor: p, axis: 0, of: 'out', layer: L });
      }
      cur = n.outputs[0];
      continue;
    }
    if (spatial && (n.opType === 'Flatten' || n.opType === 'Reshape') && n.inputs[0] === cur) {
      if (n.opType === 'Flatten' && attrInt(n, 'axis', 1) !== 1) return 'Flatten with axis ≠ 1';
      let shapeEdit: string | undefined;
      if (n.opType === 'Reshape') {
        const s = g.constantValue(n.inputs[1]);
        if (!s || s.size !== 2 || !g.initializers.has(n.inputs[1])) return 'Reshape to a shape that is not a constant 2-D one';
        const v = s.toIntArray();
        if (v[1] !== -1) {
          if (!onlyUsedBy(g, n.inputs[1], n)) return `Reshape shape ${n.inputs[1]} is shared`;
          shapeEdit = n.inputs[1];
        }
        if (v[0] !== 0 && v[0] !== -1) return 'Reshape that changes the batch dimension';
      }
      // the flattened features reach a dense layer: find it, with H·W per channel from its K
      const rest = trace(g, L, channels, layerOf, { value: n.outputs[0], spatial: false });
      if (typeof rest === 'string') return rest;
      const last = rest[rest.length - 1];
      if (last.kind !== 'take' || last.of !== 'in') return 'no dense layer after the flatten';
      const K = g.initializers.get(last.tensor)!.dims[last.axis];
      if (K % channels !== 0) return `the next layer's ${K} inputs are not a multiple of ${channels} channels`;
      const block = K / channels;
      // dense constants met between flatten and the next layer broadcast over all K features
      for (const e of rest) {
        if (e.kind === 'take' && e.of === 'out') return 'elementwise constants between Flatten and the dense layer';
      }
      edits.push({ ...last, block });
      if (shapeEdit) edits.push({ kind: 'reshape', tensor: shapeEdit, layer: L, block });
      return edits;
    }
    return `${n.opType} ${n.name || ''} follows it`.trim();
  }
  return 'chain too long';
}

function paramCount(g: Graph): number {
  let p = 0;
  for (const t of g.initializers.values()) if (t.isFloat) p += t.size;
  return p;
}

/**
 * Narrow `model` in place to `factor` × its hidden widths (0 < factor < 1). Returns what changed
 * and which layers kept their width and why.
 */
export function narrowModel(model: Model, factor: number): NarrowResult {
  if (!(factor > 0 && factor <= 1)) throw new MlcError('USAGE', `--student-width must be in (0, 1], got ${factor}`);
  const g = model.graph;
  const paramsBefore = paramCount(g);
  const layerOf = new Map<Node, Layer>();
  for (const n of g.nodes) {
    const l = asLayer(g, n);
    if (l) layerOf.set(n, l);
  }
  const plans: { layer: Layer; keep: number[]; channels: number; edits: Edit[] }[] = [];
  const skipped: Skip[] = [];
  for (const L of layerOf.values()) {
    const w = g.initializers.get(L.weight)!;
    const channels = w.dims[L.outAxis];
    if (!onlyUsedBy(g, L.weight, L.node)) {
      skipped.push({ node: L.node.name, reason: `weight ${L.weight} is shared` });
      continue;
    }
    const r = trace(g, L, channels, layerOf);
    if (typeof r === 'string') {
      skipped.push({ node: L.node.name, reason: r });
      continue;
    }
    const k = Math.max(1, Math.round(factor * channels));
    if (k >= channels) continue;
    const norms = channelNorms(w, L.outAxis);
    const keep = Array.from(norms.keys())
      .sort((a, b) => norms[b] - norms[a] || a - b)
      .slice(0, k)
      .sort((a, b) => a - b);
    plans.push({ layer: L, keep, channels, edits: r });
  }
  // a tensor may be narrowed along two different axes (a layer's own output and its input from the
  // previous layer); that is fine. The same axis twice would mean two layers feed one: impossible here.
  const layers: NarrowResult['layers'] = [];
  for (const p of plans) {
    const L = p.layer;
    g.initializers.set(L.weight, takeAlong(g.initializers.get(L.weight)!, L.outAxis, p.keep));
    for (const e of p.edits) {
      const t = g.initializers.get(e.tensor)!;
      if (e.kind === 'take') g.initializers.set(e.tensor, takeAlong(t, e.axis, p.keep, e.block ?? 1));
      else {
        const v = t.toIntArray();
        g.initializers.set(e.tensor, Tensor.int64(t.name, t.dims, [v[0], p.keep.length * e.block]));
      }
    }
    layers.push({ node: L.node.name, before: p.channels, after: p.keep.length, keep: p.keep });
  }
  if (layers.length) {
    // shapes recorded for intermediate values may be stale now
    g.valueInfo = [];
    g.touch();
  }
  return { layers, skipped, paramsBefore, paramsAfter: paramCount(g) };
}
