/**
 * Channel tracing and slicing: removing whole output channels (neurons of a MatMul / Gemm, filters
 * of a Conv) of a layer and shrinking everything that depends on them, so the model really gets
 * narrower. Used by channel pruning (src/passes/prune/channel.ts) and by the distillation
 * student's `--student-width` (src/train/student.ts); they differ only in which channels they keep.
 *
 * `planChannels` follows a layer's output forward — to every reader, through fan-out — and
 * collects the edits a removal needs:
 *   - the layer's bias (Gemm C, Conv B) and constant operands of element-wise ops (Add bias,
 *     Mul scale, PRelu slope, ...) that have a per-channel dimension;
 *   - per-channel parameters of BatchNormalization / InstanceNormalization;
 *   - channel-wise ops passed through unchanged: activations, Identity, Dropout, Cast, pooling;
 *   - Flatten(axis=1) / Reshape([n, -1 or K]) after a Conv layout: later rows come in blocks of
 *     H·W per channel, and an explicit K in the Reshape shape is updated;
 *   - the readers at the end: the next MatMul / Gemm (rows of its weight along K) or Conv
 *     (input channels of its filters).
 * It returns a reason instead when the output (or a value derived from it) is a graph output,
 * meets a non-constant tensor in an element-wise op (a residual Add), reaches a Concat or any op
 * it cannot follow, or when a constant it would edit is shared with another node.
 *
 * `applyChannels` then keeps the given channels: it slices the layer's weight and makes the edits
 * (in place), and updates the shapes recorded in value_info along the trace. Plan every layer
 * before applying any: a plan refers to the tensors as they are when it is made.
 */
import { isExcluded } from '../core/exclude.js';
import type { Skip } from '../core/types.js';
import { axisL2Norms, complement, smallestIndices, takeAlongAxis, type AnyTypedArray } from '../math/sparsity.js';
import type { Graph } from './graph.js';
import { attrInt, isOnnxDomain, type Node } from './node.js';
import type { Tensor } from './tensor.js';

/** A layer whose output channels can be removed: the node, its constant weight and the output axis. */
export interface ChannelLayer {
  node: Node;
  /** shown in skips (default: the node's name) */
  label?: string;
  op: string;
  /** index of the weight among node.inputs */
  inputIndex: number;
  weightName: string;
  tensor: Tensor;
  /** axis of the weight that indexes output channels */
  outputAxis: number;
}

export interface TraceOptions {
  /** node-name globs: a reader that matches one cannot be edited, so the layer is skipped */
  exclude?: readonly string[];
  /** how a constant is looked up (default: `g.constantValue`) */
  constant?: (name: string) => Tensor | undefined;
}

type State = { kind: 'chan'; fromEnd: number; rank?: number } | { kind: 'flat' };

type Edit = (keep: number[]) => void;

/** What removing channels of one layer touches; made by `planChannels`, carried out by `applyChannels`. */
export interface ChannelPlan {
  layer: ChannelLayer;
  /** output channels of the layer */
  n: number;
  edits: Edit[];
  /** the values on the trace and how their channels lie (for value_info) */
  values: { name: string; state: State }[];
  /** weights of the readers at the end of the trace */
  readers: string[];
}

const UNARY = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish',
  'Gelu', 'Mish', 'ThresholdedRelu', 'Identity', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Erf', 'Sin', 'Cos', 'Reciprocal',
  'Floor', 'Ceil', 'Round', 'Sign', 'Cast', 'Clip', 'Dropout', 'Shrink',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'PRelu']);
const POOL = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool']);

class Tracer {
  edits: Edit[] = [];
  values: { name: string; state: State }[] = [];
  readers: string[] = [];
  private seenNodes = new Set<Node>();
  private seenValues = new Set<string>();

  constructor(
    private g: Graph,
    private n: number,
    private exclude: readonly string[],
    private constant: (name: string) => Tensor | undefined,
  ) {}

  /** Slice a constant read only by `reader` along `axis` (per channel, or in blocks after a Flatten). */
  sliceConst(name: string, reader: Node, axis: number, block: 'chan' | 'flat'): string | undefined {
    const t = this.constant(name);
    if (!t) return `${name} is not a constant`;
    const readers = this.g.consumers(name);
    if (readers.length !== 1 || readers[0] !== reader || this.g.isGraphOutput(name)) return `constant ${name} is shared`;
    const prod = this.g.producer(name);
    if (prod && this.g.consumers(prod.outputs[0]).length !== 1) return `constant ${name} is shared`;
    const N = this.n;
    this.edits.push((keep) => sliceTensor(t, axis, block === 'chan' ? keep : expandBlocks(keep, t.dims[axis < 0 ? axis + t.dims.length : axis] / N)));
    return undefined;
  }

  private extraOutputsUnused(c: Node): boolean {
    return c.outputs.slice(1).every((o) => !o || (this.g.consumers(o).length === 0 && !this.g.isGraphOutput(o)));
  }

  /** Follow `value` (in `state`) to every reader; returns a reason when it cannot. */
  trace(value: string, state: State): string | undefined {
    if (this.seenValues.has(value)) return undefined;
    this.seenValues.add(value);
    this.values.push({ name: value, state });
    if (this.g.isGraphOutput(value)) return `${value} is a graph output`;
    for (const c of this.g.consumers(value)) {
      if (this.seenNodes.has(c)) continue;
      this.seenNodes.add(c);
      const r = this.follow(value, state, c);
      if (r) return r;
    }
    return undefined;
  }

  private follow(value: string, st: State, c: Node): string | undefined {
    const g = this.g;
    const N = this.n;
    const who = `${c.opType} ${c.name}`.trim();
    if (!c.inputs.includes(value)) return `${value} is read inside a subgraph of ${who}`;
    if (!isOnnxDomain(c)) return `${who} (domain ${c.domain}) cannot be followed`;
    const op = c.opType;
    const onlyInput0 = c.inputs.indexOf(value) === 0 && c.inputs.lastIndexOf(value) === 0;

    // --- readers whose weight loses input rows / channels (end of the trace)
    if (op === 'MatMul' || op === 'Gemm' || op === 'Conv') {
      if (isExcluded(c.name, this.exclude)) return `consumer ${who} is excluded`;
      if (!onlyInput0) return `${value} is not the data input of ${who}`;
      const w = this.constant(c.inputs[1]);
      if (!w) return `${who} has a non-constant weight`;
      if (op === 'Conv') {
        if (st.kind !== 'chan' || st.fromEnd !== w.dims.length - 2) return `${who} does not read ${value} by channel`;
        if (attrInt(c, 'group', 1) !== 1) return `${who} is a grouped convolution`;
        if (w.dims[1] !== N) return `${who} weight has ${w.dims[1]} input channels, expected ${N}`;
        this.readers.push(c.inputs[1]);
        return this.sliceConst(c.inputs[1], c, 1, 'chan');
      }
      this.readers.push(c.inputs[1]);
      if (w.dims.length !== 2) return `${who} weight is not 2-D`;
      if (op === 'Gemm' && attrInt(c, 'transA', 0)) return `${who} transposes its input`;
      if (st.kind === 'chan' && st.fromEnd !== 0) return `${who} does not read ${value} along its last axis`;
      const kAxis = op === 'Gemm' && attrInt(c, 'transB', 0) ? 1 : 0;
      const K = w.dims[kAxis];
      if (st.kind === 'chan' ? K !== N : K % N !== 0) return `${who} weight has K=${K}, not matching ${N} channels`;
      return this.sliceConst(c.inputs[1], c, kAxis, st.kind);
    }

    // --- channel-wise ops: pass through
    if (UNARY.has(op)) {
      if (!onlyInput0) return `${value} is not the data input of ${who}`;
      for (const x of c.inputs.slice(1)) {
        if (!x) continue;
        const t = this.constant(x);
        if (!t || t.size !== 1) return `${who} has a non-scalar or non-constant parameter`;
      }
      if (!this.extraOutputsUnused(c)) return `${who} has other outputs in use`;
      return this.trace(c.outputs[0], st);
    }
    if (BINARY.has(op)) {
      if (c.inputs.length !== 2) return `${who} has ${c.inputs.length} inputs`;
      const idx = c.inputs.indexOf(value);
      const other = c.inputs[1 - idx];
      if ((op === 'Pow' || op === 'PRelu') && idx !== 0) return `${value} is the ${op === 'Pow' ? 'exponent' : 'slope'} of ${who}`;
      if (other !== value && !this.seenValues.has(other)) {
        const t = this.constant(other);
        if (!t) return `${who} adds a non-constant tensor (a residual connection)`;
        if (st.kind === 'flat') {
          if (t.size !== 1) return `${who} has a per-feature constant after a flatten`;
        } else {
          if (st.rank !== undefined && t.dims.length > st.rank) return `${who} broadcasts to a higher rank`;
          const ax = t.dims.length - 1 - st.fromEnd;
          if (ax >= 0 && t.dims[ax] !== 1) {
            if (t.dims[ax] !== N) return `${who} constant ${other} has ${t.dims[ax]} channels, expected ${N}`;
            const r = this.sliceConst(other, c, ax, 'chan');
            if (r) return r;
          }
        }
      }
      return this.trace(c.outputs[0], st);
    }
    if (POOL.has(op)) {
      if (st.kind !== 'chan' || st.rank === undefined || st.fromEnd !== st.rank - 2) return `${who} does not pool a channels-first tensor`;
      if (!onlyInput0 || !this.extraOutputsUnused(c)) return `${who} has other outputs in use`;
      return this.trace(c.outputs[0], st);
    }
    if (op === 'BatchNormalization' || op === 'InstanceNormalization') {
      if (st.kind !== 'chan' || st.rank === undefined || st.fromEnd !== st.rank - 2) return `${who} normalizes another axis than the channels`;
      if (!onlyInput0 || !this.extraOutputsUnused(c)) return `${who} has other outputs in use`;
      const params = op === 'BatchNormalization' ? c.inputs.slice(1, 5) : c.inputs.slice(1, 3);
      for (const p of params) {
        const t = this.constant(p);
        if (!t || t.dims.length !== 1 || t.dims[0] !== N) return `${who} parameter ${p} is not a constant of ${N} channels`;
        const r = this.sliceConst(p, c, 0, 'chan');
        if (r) return r;
      }
      return this.trace(c.outputs[0], st);
    }
    if (op === 'Flatten' || op === 'Reshape') {
      if (st.kind !== 'chan' || st.rank === undefined || st.fromEnd !== st.rank - 2) return `${who} does not flatten a channels-first tensor`;
      if (!onlyInput0) return `${value} is not the data input of ${who}`;
      if (op === 'Flatten') {
        let axis = attrInt(c, 'axis', 1);
        if (axis < 0) axis += st.rank;
        if (axis !== 1) return `${who} flattens at axis ${axis}, not 1`;
        return this.trace(c.outputs[0], { kind: 'flat' });
      }
      const shp = this.constant(c.inputs[1]);
      if (!shp) return `${who} has a non-constant shape`;
      const s = shp.toIntArray();
      if (s.length !== 2) return `${who} reshapes to rank ${s.length}, not 2`;
      const [a, b] = s;
      if (a === 0 && attrInt(c, 'allowzero', 0)) return `${who} uses allowzero`;
      if (b === -1 && a >= 0) return this.trace(c.outputs[0], { kind: 'flat' });
      if (b > 0 && a >= -1 && b % N === 0) {
        const readers = g.consumers(c.inputs[1]);
        if (readers.length !== 1) return `shape constant ${c.inputs[1]} is shared`;
        this.edits.push((keep) => setShapeDim(shp, 1, (b / N) * keep.length));
        return this.trace(c.outputs[0], { kind: 'flat' });
      }
      return `${who} shape [${s.join(', ')}] cannot be followed`;
    }
    if (op === 'Concat') return `${who}: removal would cross a Concat`;
    return `${who} cannot be followed`;
  }
}

function expandBlocks(keep: number[], block: number): number[] {
  const out: number[] = [];
  for (const k of keep) for (let s = 0; s < block; s++) out.push(k * block + s);
  return out;
}

/** Replace a tensor's contents by its slices at `keep` along `axis` (in place). */
export function sliceTensor(t: Tensor, axis: number, keep: number[]): void {
  if (Array.isArray(t.data)) throw new Error(`cannot slice string tensor ${t.name}`);
  const r = takeAlongAxis(t.data as AnyTypedArray, t.dims, axis, keep);
  t.data = r.data;
  t.dims = r.dims;
}

function setShapeDim(t: Tensor, i: number, v: number): void {
  if (t.data instanceof BigInt64Array) t.data[i] = BigInt(v);
  else (t.data as Int32Array)[i] = v;
}

function updateValueInfo(g: Graph, name: string, st: State, n: number, kept: number): void {
  for (const vi of g.valueInfo) {
    if (vi.name !== name || !vi.type || vi.type.kind !== 'tensor' || !vi.type.shape) continue;
    const shape = vi.type.shape;
    const i = st.kind === 'chan' ? shape.length - 1 - st.fromEnd : shape.length - 1;
    if (i < 0) continue;
    const d = shape[i];
    if (typeof d !== 'number') continue;
    shape[i] = st.kind === 'chan' ? (d === n ? kept : d) : d % n === 0 ? (d / n) * kept : null;
  }
}

/** Plan removing output channels of `l`: the edits it needs, or the reason it cannot be done. */
export function planChannels(g: Graph, l: ChannelLayer, opts: TraceOptions = {}): ChannelPlan | string {
  const n = l.node;
  const constant = opts.constant ?? ((name: string) => (name ? g.constantValue(name) : undefined));
  if (l.op === 'Gather') return 'embedding tables have no output channels';
  if (l.op === 'MatMul' && l.inputIndex !== 1) return 'the weight is the left operand of MatMul';
  if (l.tensor.dims.length !== 2 && l.op !== 'Conv') return `weight ${l.weightName} is not 2-D`;
  if (l.op === 'Conv' && attrInt(n, 'group', 1) !== 1) return 'grouped convolution';
  const w = l.tensor;
  const N = w.dims[l.outputAxis];
  if (N <= 1) return 'a single output channel';
  const tr = new Tracer(g, N, opts.exclude ?? [], constant);
  let state: State;
  if (l.op === 'Conv') {
    state = { kind: 'chan', fromEnd: w.dims.length - 2, rank: w.dims.length };
    if (n.inputs[2]) {
      const r = tr.sliceConst(n.inputs[2], n, 0, 'chan');
      if (r) return r;
    }
  } else {
    let rank: number | undefined = 2;
    if (l.op === 'MatMul') {
      const vi = g.valueInfoOf(n.inputs[0]);
      const s = vi?.type && vi.type.kind === 'tensor' ? vi.type.shape : undefined;
      rank = s ? s.length : undefined;
    }
    state = { kind: 'chan', fromEnd: 0, rank };
    if (l.op === 'Gemm' && n.inputs[2]) {
      const c = constant(n.inputs[2]);
      if (!c) return 'Gemm bias is not a constant';
      const last = c.dims.length - 1;
      if (last >= 0 && c.dims[last] !== 1) {
        if (c.dims[last] !== N) return `Gemm bias has ${c.dims[last]} columns, expected ${N}`;
        const r = tr.sliceConst(n.inputs[2], n, last, 'chan');
        if (r) return r;
      }
    }
  }
  const r = tr.trace(n.outputs[0], state);
  if (r) return r;
  if (!tr.values.some((v) => g.consumers(v.name).length > 0)) return 'output is never read';
  return { layer: l, n: N, edits: tr.edits, values: tr.values, readers: tr.readers };
}

/** L2 norm of each output channel's weights. */
export function channelNorms(l: ChannelLayer): Float64Array {
  return axisL2Norms(l.tensor.toNumbers(), l.tensor.dims, l.outputAxis);
}

/** Keep channels `keep` (ascending original indices) of a planned layer; everything else on the trace follows. */
export function applyChannels(g: Graph, p: ChannelPlan, keep: number[]): void {
  sliceTensor(p.layer.tensor, p.layer.outputAxis, keep);
  for (const e of p.edits) e(keep);
  for (const v of p.values) updateValueInfo(g, v.name, v.state, p.n, keep.length);
  g.touch();
}

export interface NarrowedLayer {
  layer: ChannelLayer;
  before: number;
  /** original output channels kept, ascending */
  keep: number[];
}

/**
 * Narrow each of `layers` to `keepCount(plan)` output channels, keeping those with the largest L2
 * norm (at least one; a count ≥ the width leaves the layer alone). Layers that cannot be narrowed
 * are returned as skips with the reason. Every layer is planned before any is changed.
 */
export function narrowChannels(
  g: Graph,
  layers: readonly ChannelLayer[],
  keepCount: (p: ChannelPlan) => number,
  opts: TraceOptions = {},
): { narrowed: NarrowedLayer[]; skipped: Skip[] } {
  const skipped: Skip[] = [];
  const plans: ChannelPlan[] = [];
  for (const l of layers) {
    const p = planChannels(g, l, opts);
    if (typeof p === 'string') skipped.push({ node: l.label ?? l.node.name, reason: p });
    else plans.push(p);
  }
  const chosen = plans.map((p) => {
    const k = Math.max(1, Math.round(keepCount(p)));
    return { p, keep: k >= p.n ? undefined : complement(p.n, smallestIndices(channelNorms(p.layer), p.n - k)) };
  });
  const narrowed: NarrowedLayer[] = [];
  for (const { p, keep } of chosen) {
    if (!keep) continue;
    applyChannels(g, p, keep);
    narrowed.push({ layer: p.layer, before: p.n, keep });
  }
  return { narrowed, skipped };
}
