/**
 * The one activation collector of the passes that need a model's intermediate values (static
 * quantization's calibration, data-aware low-rank, prune's layer refit).
 *
 * A probe is a copy of the model whose graph outputs are the wanted values; it is built once and
 * run through ctx.run (so the runner reuses one session for every batch). Three ways to read it:
 * - `collectActivations`: one run, all samples at once (small data, callers that need every row);
 * - `streamActivations`: batch by batch, so only one batch of activations is alive at a time;
 * - `activationRanges`: exact min / max / element count of each value, reduced inside the model
 *   (ReduceMin / ReduceMax / Size on the value), so only scalars leave the runtime: no copy of the
 *   activations at all. A value whose reduction gives NaN is read back and scanned here instead,
 *   skipping NaNs as the scan always did. For a caller whose ranges always hold zero, a value
 *   that is ≥ 0 by construction (Relu, Clip) gets only its max, by a GlobalMaxPool that keeps
 *   onnxruntime's blocked-channel layout (RangeOptions.zeroFloor).
 *
 * Values are assumed float32 unless the graph says otherwise (a graph input or a value whose
 * type is known and not float is reported as non-float and never read).
 */
import { MlcError } from '../core/errors.js';
import { shallowCopyModel } from '../ir/clone.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { AttrType, attrInt, attrInts, attrString, isOnnxDomain, subgraphsOf, type Node } from '../ir/node.js';
import { shapeOf, tensorType } from '../ir/types.js';
import { sliceDataset } from '../data/batch.js';
import type { Dataset, ModelRunner } from './pass.js';

export type Feeds = Dataset['inputs'];
export interface Activation {
  dims: number[];
  data: Float32Array;
}

/** Element type of a value when the graph knows it (graph inputs, outputs, value_info, initializers). */
function knownElemType(g: Graph, name: string): DataType | undefined {
  const vi = g.valueInfoOf(name);
  if (vi?.type?.kind === 'tensor') return vi.type.elemType;
  return g.initializers.get(name)?.dtype;
}

function isFloat(g: Graph, name: string): boolean {
  const t = knownElemType(g, name);
  return t === undefined || t === DataType.FLOAT;
}

/** A copy of `model` with `names` added as float graph outputs (those already outputs stay as they are). */
export function probeModel(model: Model, names: readonly string[]): Model {
  // no tensor copied: the probe only gets more outputs
  const probe = shallowCopyModel(model);
  const g = probe.graph;
  const have = new Set(g.outputs.map((o) => o.name));
  for (const n of names) {
    if (have.has(n)) continue;
    // no declared type: onnxruntime infers it (a float16 model's activations come back as
    // float16, which the float-only readers here leave alone)
    g.outputs.push({ name: n });
    have.add(n);
  }
  return probe;
}

/**
 * The model's inputs from `ds` in batches of at most `batch` samples (views, not copies), using
 * the first `samples` samples. A fixed batch dimension in the model's first input shape wins over
 * `batch`; data that cannot be split (first dims differ from the sample count) is one batch.
 */
export function* feedBatches(model: Model, ds: Dataset, opts: { samples: number; batch: number | ((done: number) => number) }): Generator<Feeds> {
  const inputs = model.graph.realInputs();
  for (const i of inputs) {
    if (!ds.inputs[i.name]) throw new MlcError('INPUT', `calibration data has no array for model input '${i.name}' (has: ${Object.keys(ds.inputs).join(', ') || 'nothing'})`);
  }
  const feedsOf = (d: Dataset): Feeds => Object.fromEntries(inputs.map((i) => [i.name, d.inputs[i.name]]));
  const n = Math.min(ds.count, opts.samples);
  const splittable = inputs.every((i) => ds.inputs[i.name].dims[0] === ds.count);
  if (!splittable) {
    yield feedsOf(ds);
    return;
  }
  const fixed = inputs.map((i) => shapeOf(i)?.[0]).find((d): d is number => typeof d === 'number');
  if (fixed !== undefined && n < fixed) {
    yield feedsOf(ds);
    return;
  }
  const sizeAt = (done: number) => fixed ?? Math.max(1, Math.floor(typeof opts.batch === 'number' ? opts.batch : opts.batch(done)));
  for (let s = 0, size = sizeAt(0); s + (fixed ?? 1) <= n; s += size, size = sizeAt(s)) yield feedsOf(sliceDataset(ds, s, Math.min(n, s + size)));
}

/**
 * A batch size for `feedBatches` that keeps one batch's activations under `budget` bytes: one
 * sample first, then as many as `bytesPerSample()` (known once a batch has run) allows, at most
 * `max`.
 */
export function budgetBatch(max: number, budget: number, bytesPerSample: () => number | undefined): (done: number) => number {
  return (done) => {
    const per = bytesPerSample();
    if (done === 0 || per === undefined) return Math.min(max, 1);
    return Math.max(1, Math.min(max, Math.floor(budget / Math.max(1, per))));
  };
}

/** Run a probe model built here (never edited after it is built: the runner need not check). */
async function runProbe(run: ModelRunner, probe: Model, feeds: Feeds, outputs: string[]): Promise<Awaited<ReturnType<ModelRunner>>> {
  try {
    return await run(probe, feeds, outputs, { unchanged: true });
  } catch (e) {
    if (e instanceof MlcError && e.code !== 'INPUT') throw e;
    throw new MlcError('INPUT', `calibration run failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function asActivation(r: { dims: number[]; data: unknown } | undefined): Activation | undefined {
  return r && r.data instanceof Float32Array ? { dims: r.dims, data: r.data } : undefined;
}

/**
 * Run `model` once on `feeds` and return the named values (undefined for a value that is not
 * float32). Graph inputs among `names` come from the feeds.
 */
export async function collectActivations(run: ModelRunner, model: Model, feeds: Feeds, names: readonly string[]): Promise<Record<string, Activation | undefined>> {
  const inputs = new Set(model.graph.realInputs().map((i) => i.name));
  const wanted = [...new Set(names)].filter((n) => !inputs.has(n));
  const res = wanted.length ? await runProbe(run, probeModel(model, wanted), feeds, wanted) : {};
  const out: Record<string, Activation | undefined> = {};
  for (const n of names) out[n] = inputs.has(n) ? asActivation(feeds[n] as { dims: number[]; data: unknown }) : asActivation(res[n]);
  return out;
}

/**
 * Run `model` batch by batch and hand each batch's named values to `visit` (undefined for a
 * value that is not float32); one batch of activations is alive at a time.
 */
export async function streamActivations(
  run: ModelRunner,
  model: Model,
  names: readonly string[],
  batches: Iterable<Feeds>,
  visit: (acts: Record<string, Activation | undefined>, feeds: Feeds) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const inputs = new Set(model.graph.realInputs().map((i) => i.name));
  const wanted = [...new Set(names)].filter((n) => !inputs.has(n));
  const probe = probeModel(model, wanted);
  for (const feeds of batches) {
    if (signal?.aborted) throw new MlcError('INTERNAL', 'calibration aborted');
    const res = wanted.length ? await runProbe(run, probe, feeds, wanted) : {};
    const acts: Record<string, Activation | undefined> = {};
    for (const n of names) acts[n] = inputs.has(n) ? asActivation(feeds[n] as { dims: number[]; data: unknown }) : asActivation(res[n]);
    await visit(acts, feeds);
  }
}

export interface ValueRange {
  /** smallest / largest value seen (NaNs skipped); min > max when no value was seen */
  min: number;
  max: number;
  /** elements seen over all batches */
  count: number;
}

/** Min / max of `d` folded into `r` (NaNs skipped). */
export function updateRange(r: ValueRange, d: ArrayLike<number>): void {
  let lo = r.min;
  let hi = r.max;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  r.min = lo;
  r.max = hi;
  r.count += d.length;
}

export interface RangeOptions {
  /**
   * The caller reads each min only as min(min, 0) (a range that always holds zero: asymmetric
   * uint8 activations calibrated by min / max). A value that is ≥ 0 by construction (the output
   * of a Relu, or of a Clip whose lower bound is ≥ 0) then gets no min reduction: its min is
   * reported as that bound (≥ 0 and ≤ its true min, so min(min, 0) = 0 either way), and its max is
   * taken by a GlobalMaxPool when the value is known to have 3 or more dimensions (the N × C
   * per-channel maxima come back and their max is taken here). onnxruntime runs GlobalMaxPool in its blocked-channel (NCHWc)
   * layout, so the value is never reordered back to NCHW for a reduction: a MobileNetV2's
   * calibration runs took about a fifth less CPU (35 of its 66 measured values are ReLU6 outputs).
   */
  zeroFloor?: boolean;
}

/**
 * Exact min / max / count of each named value over all batches (with `opts.zeroFloor`, some mins
 * are a bound instead: see RangeOptions). Values that are not float32 are left out of the result.
 * The reductions run inside the model: per value a ReduceMin, a ReduceMax and a Size node whose
 * scalar outputs are the only outputs of the probe (a value whose shape follows from the inputs'
 * by shapeRules gets no Size: its count is its shape's product).
 */
export async function activationRanges(
  run: ModelRunner,
  model: Model,
  names: readonly string[],
  batches: () => Iterable<Feeds>,
  signal?: AbortSignal,
  /** called after each batch with its element count per measured value */
  onBatch?: (counts: Map<string, number>) => void,
  opts: RangeOptions = {},
): Promise<Map<string, ValueRange>> {
  // no tensor copied: the probe only gets more nodes and outputs
  const probe = shallowCopyModel(model);
  const g = probe.graph;
  const uniq = [...new Set(names)].filter((n) => isFloat(model.graph, n));
  // values that are a clamp of another measured value (Relu, Clip with constant bounds): range of
  // the source, clamped. A clamp whose source is not asked for is measured itself: a reduction on
  // the source would be a second reader of it, and onnxruntime fuses an activation into its Conv
  // only when the activation is the Conv output's sole reader (the probe of a MobileNetV2 ran
  // about 1.3× slower with the taps on the Conv outputs, its NCHWc layout reordered around each)
  const asked = new Set(uniq);
  const derived = new Map<string, Clamp>();
  const measured = new Set<string>();
  for (const n of uniq) {
    const c = clampSource(model, n);
    const d = c && asked.has(c.from) ? c : undefined;
    if (d) derived.set(n, d);
    measured.add(d ? d.from : n);
  }
  /**
   * min / max / count outputs of each measured value; `floor`: no min reduction, the min is this
   * bound; no `size`: the count is the product of the shape shapeRules gives for the batch
   */
  const outs: { name: string; min: string; max: string; size?: string; floor?: number }[] = [];
  // each value's Size / ReduceMax / ReduceMin right after its producer (graph inputs: first), so
  // that the runtime can free the value as early as before; one splice for all of them
  const after = new Map<Node | undefined, Node[]>();
  const keep1 = () => [{ name: 'keepdims', type: AttrType.INT, value: 1 }];
  const deep = atLeast3d(model.graph);
  const shapes = shapeRules(model.graph);
  // a value's Size is one more reader of it: for a value in onnxruntime's blocked-channel layout,
  // whose only other reader is a GlobalMaxPool, that reader costs a reorder of the whole value
  // back to NCHW (MobileNetV2: its 35 largest values, a tenth of the calibration's CPU time), and
  // one more node to run per batch for any value. Its count comes from its shape instead when the
  // shape follows from the feeds' (shapeRules)
  const inputShapes = Object.fromEntries(model.graph.realInputs().map((i) => [i.name, (shapeOf(i) ?? []).map((d) => (typeof d === 'number' ? d : 1))]));
  const shaped = shapes(inputShapes);
  const shapesBySize = new Map<string, (name: string) => number[] | undefined>();
  for (const n of measured) {
    // no Size for a value whose count follows from its shape (shapeRules)
    const size = shaped(n) ? undefined : g.uniqueName(`${n}_mlc_size`);
    const o = { name: n, min: g.uniqueName(`${n}_mlc_min`), max: g.uniqueName(`${n}_mlc_max`), size };
    const node = (opType: string, out: string, attributes: Node['attributes'], input = n): Node => ({ name: g.uniqueName(`${out}_${opType}`), opType, domain: '', inputs: [input], outputs: [out], attributes });
    const p = g.producer(n);
    if (!after.has(p)) after.set(p, []);
    const list = after.get(p)!;
    const floor = opts.zeroFloor ? clampOf(model.graph, n)?.lo : undefined;
    const bounded = floor !== undefined && floor >= 0;
    // keepdims 1: the runtime refuses keepdims 0 over an empty dimension
    if (bounded) {
      // the per-channel maxima of a value with 3+ dims are the output (N × C numbers), their max
      // taken here: a ReduceMax would be one more node per batch, behind a reorder of its own
      list.push(deep(n) ? node('GlobalMaxPool', o.max, []) : node('ReduceMax', o.max, keep1()));
      g.outputs.push({ name: o.max });
    } else {
      list.push(node('ReduceMax', o.max, keep1()), node('ReduceMin', o.min, keep1()));
      g.outputs.push({ name: o.min }, { name: o.max });
    }
    if (size) {
      list.push(node('Size', size, []));
      g.outputs.push({ name: size, type: tensorType(DataType.INT64, []) });
    }
    outs.push(bounded ? { ...o, floor } : o);
  }
  g.nodes = [...(after.get(undefined) ?? []), ...g.nodes.flatMap((nd) => [nd, ...(after.get(nd) ?? [])])];
  g.touch();
  const ranges = new Map<string, ValueRange>([...measured].map((n) => [n, { min: Infinity, max: -Infinity, count: 0 }]));
  const nan = new Set<string>();
  const nonFloat = new Set<string>();
  const outputNames = outs.flatMap((o) => [...(o.floor === undefined ? [o.min] : []), o.max, ...(o.size ? [o.size] : [])]);
  let reduced = outs.length > 0;
  for (const feeds of reduced ? batches() : []) {
    if (signal?.aborted) throw new MlcError('INTERNAL', 'calibration aborted');
    let res: Awaited<ReturnType<ModelRunner>>;
    try {
      res = await runProbe(run, probe, feeds, outputNames);
    } catch (e) {
      // the runtime refused the reductions (an op or type it has no kernel for): read the values
      // back and scan them here instead, from the first batch on
      if (!(e instanceof MlcError) || e.code !== 'INPUT') throw e;
      reduced = false;
      break;
    }
    {
      const counts = new Map<string, number>();
      // batches of the same size have the same shapes: one inference per size
      const dims = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, f.dims]));
      const key = JSON.stringify(dims);
      let shapeOfValue = shapesBySize.get(key);
      if (!shapeOfValue) shapesBySize.set(key, (shapeOfValue = shapes(dims)));
      for (const o of outs) {
        const r = ranges.get(o.name)!;
        if ((o.floor === undefined && !(res[o.min]?.data instanceof Float32Array)) || !(res[o.max]?.data instanceof Float32Array)) {
          nonFloat.add(o.name);
          continue;
        }
        const size = o.size ? Number(res[o.size].data[0]) : (shapeOfValue(o.name)?.reduce((a, b) => a * b, 1) ?? 1);
        const hi = largest(res[o.max].data as Float32Array);
        // a bounded value's min is its bound once it has values (an empty one keeps min > max)
        const lo = o.floor === undefined ? Number(res[o.min].data[0]) : size > 0 ? o.floor : Infinity;
        if (Number.isNaN(lo) || Number.isNaN(hi)) nan.add(o.name);
        if (lo < r.min) r.min = lo;
        if (hi > r.max) r.max = hi;
        r.count += size;
        counts.set(o.name, size);
      }
      onBatch?.(counts);
    }
  }
  for (const n of nonFloat) ranges.delete(n);
  if (!reduced && outs.length) {
    for (const n of measured) nan.add(n);
    nonFloat.clear();
  }
  if (nan.size) {
    // NaN in a value (or no reductions): scan it here, where NaNs are skipped
    const again = [...nan];
    for (const n of again) ranges.set(n, { min: Infinity, max: -Infinity, count: 0 });
    await streamActivations(run, model, again, batches(), (acts) => {
      const counts = new Map<string, number>();
      for (const n of again) {
        const a = acts[n];
        if (a && ranges.has(n)) {
          updateRange(ranges.get(n)!, a.data);
          counts.set(n, a.data.length);
        } else ranges.delete(n);
      }
      if (!reduced) onBatch?.(counts);
    }, signal);
  }
  const out = new Map<string, ValueRange>();
  for (const n of uniq) {
    const d = derived.get(n);
    const r = ranges.get(d ? d.from : n);
    if (!r) continue;
    if (!d) out.set(n, r);
    else if (r.min > r.max) out.set(n, { ...r });
    else out.set(n, { min: Math.min(Math.max(r.min, d.lo), d.hi), max: Math.min(Math.max(r.max, d.lo), d.hi), count: r.count });
  }
  return out;
}

/** The largest value (NaN when there is one, as a reduction gives; -Infinity when empty). */
function largest(d: Float32Array): number {
  let hi = -Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v !== v) return Number.NaN;
    if (v > hi) hi = v;
  }
  return hi;
}

/** Ops whose output has the rank of their first input, and that need 3 or more dimensions. */
const SPATIAL_OPS = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'InstanceNormalization', 'LRN']);
/** Elementwise ops: the output has the largest rank of the inputs. */
const ELEMENTWISE_OPS = new Set(['Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Softplus', 'Identity', 'Neg', 'Abs', 'Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Sum', 'BatchNormalization', 'Concat']);

/**
 * Whether a value is known to have 3 or more dimensions (then GlobalMaxPool applies to it): its
 * declared shape says so, or its producer is a Conv / pool (which needs as many) or an
 * elementwise op, Concat or BatchNormalization with an input known to have them.
 */
function atLeast3d(g: Graph): (name: string) => boolean {
  const memo = new Map<string, boolean>();
  const known = (name: string): boolean => {
    const m = memo.get(name);
    if (m !== undefined) return m;
    memo.set(name, false); // a cycle (none in a valid graph) proves nothing
    const shape = shapeOf(g.valueInfoOf(name));
    const p = g.producer(name);
    const onnx = !!p && (p.domain === '' || p.domain === 'ai.onnx') && p.outputs[0] === name;
    const r =
      (shape !== undefined && shape.length >= 3) ||
      (onnx && SPATIAL_OPS.has(p.opType)) ||
      (onnx && ELEMENTWISE_OPS.has(p.opType) && p.inputs.some((i) => !!i && known(i)));
    memo.set(name, r);
    return r;
  };
  return known;
}

/** Elementwise ops with one data input: the output has its shape. */
const UNARY_OPS = new Set(['Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Softplus', 'Identity', 'Neg', 'Abs', 'BatchNormalization']);
/** Elementwise ops over all their inputs: the output has their broadcast shape. */
const BROADCAST_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Sum']);

/** numpy broadcast of `shapes`, undefined when they do not broadcast. */
function broadcast(shapes: number[][]): number[] | undefined {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const x = s[s.length - rank + i] ?? 1;
      if (x === d || x === 1) continue;
      if (d !== 1) return undefined;
      d = x;
    }
    out.push(d);
  }
  return out;
}

/**
 * Output spatial sizes of a Conv or pool on input spatial sizes `sp` with kernel `k`, as ONNX
 * defines them (auto_pad, pads, strides, dilations); undefined for a pool with ceil_mode.
 */
function windowOut(node: Node, sp: number[], k: number[]): number[] | undefined {
  if (node.opType !== 'Conv' && attrInt(node, 'ceil_mode', 0) !== 0) return undefined;
  const n = sp.length;
  const strides = attrInts(node, 'strides') ?? new Array<number>(n).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array<number>(n).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const auto = attrString(node, 'auto_pad', 'NOTSET');
  if (k.length !== n || strides.length !== n || dil.length !== n || pads.length !== 2 * n) return undefined;
  return sp.map((x, i) => {
    const span = (k[i] - 1) * dil[i] + 1;
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return Math.ceil(x / strides[i]);
    const padded = auto === 'VALID' ? x : x + pads[i] + pads[n + i];
    return Math.floor((padded - span) / strides[i]) + 1;
  });
}

/**
 * Shapes of values computed from the shapes of the model's inputs, through the ops whose output
 * shape follows from their input shapes and attributes alone: elementwise ops (broadcast),
 * BatchNormalization, Conv with a constant weight, MaxPool / AveragePool (without ceil_mode),
 * global pools and Concat. `shapes(inputs)(name)` is undefined when an op on the way is another
 * one (the caller then asks the runtime: a Size node).
 */
export function shapeRules(g: Graph): (inputs: Record<string, readonly number[]>) => (name: string) => number[] | undefined {
  return (inputs) => {
    const memo = new Map<string, number[] | undefined>();
    const get = (name: string): number[] | undefined => {
      if (memo.has(name)) return memo.get(name);
      memo.set(name, undefined); // a cycle (none in a valid graph) proves nothing
      const r = compute(name);
      memo.set(name, r);
      return r;
    };
    const compute = (name: string): number[] | undefined => {
      if (inputs[name]) return [...inputs[name]];
      const c = g.constantValue(name);
      if (c) return [...c.dims];
      const p = g.producer(name);
      if (!p || !isOnnxDomain(p) || p.outputs[0] !== name || subgraphsOf(p).length) return undefined;
      const op = p.opType;
      if (UNARY_OPS.has(op)) return get(p.inputs[0]);
      if (BROADCAST_OPS.has(op)) {
        const all = p.inputs.map((i) => (i ? get(i) : undefined));
        return all.every((x): x is number[] => !!x) ? broadcast(all) : undefined;
      }
      const x = get(p.inputs[0]);
      if (!x || x.length < 3) return undefined;
      if (op === 'GlobalMaxPool' || op === 'GlobalAveragePool') return [x[0], x[1], ...x.slice(2).map(() => 1)];
      if (op === 'Conv') {
        const w = g.constantValue(p.inputs[1]);
        if (!w || w.dims.length !== x.length) return undefined;
        const k = attrInts(p, 'kernel_shape') ?? w.dims.slice(2);
        const sp = windowOut(p, x.slice(2), k);
        return sp && [x[0], w.dims[0], ...sp];
      }
      if ((op === 'MaxPool' && p.outputs.length === 1) || op === 'AveragePool') {
        const k = attrInts(p, 'kernel_shape');
        const sp = k && windowOut(p, x.slice(2), k);
        return sp && [x[0], x[1], ...sp];
      }
      if (op === 'Concat') {
        const all = p.inputs.map((i) => (i ? get(i) : undefined));
        if (!all.every((s): s is number[] => !!s && s.length === x.length)) return undefined;
        const axis = attrInt(p, 'axis', 0);
        const a = axis < 0 ? axis + x.length : axis;
        if (a < 0 || a >= x.length) return undefined;
        return x.map((d, i) => (i === a ? all.reduce((sum, s) => sum + s[a], 0) : d));
      }
      return undefined;
    };
    return get;
  };
}

/** `name` = clamp(`from`, lo, hi) elementwise (lo may be -Infinity, hi Infinity). */
export interface Clamp {
  from: string;
  lo: number;
  hi: number;
}

/**
 * When `name` is Relu / Clip with constant bounds (or a chain of them) over a float value: that
 * value and the combined bounds. Then min(name) = clamp(min from) and max(name) = clamp(max from)
 * exactly, as clamping is monotone, and the values of `name` are the clamped values of `from`.
 */
export function clampSource(model: Model, name: string): Clamp | undefined {
  const g = model.graph;
  let v = name;
  let lo = -Infinity;
  let hi = Infinity;
  for (let c = clampOf(g, v); c; c = clampOf(g, v)) {
    // clamp(clamp(x, a, b), lo, hi) = clamp(x, max(a, lo), min(b, hi)) while the bounds overlap
    const nlo = Math.max(c.lo, lo);
    const nhi = Math.min(c.hi, hi);
    if (!(nlo <= nhi)) break;
    v = c.from;
    lo = nlo;
    hi = nhi;
  }
  return v !== name && isFloat(g, v) ? { from: v, lo, hi } : undefined;
}

/** f32 value of a scalar constant input (undefined when absent or not a float scalar constant). */
function scalarConst(g: Graph, name: string | undefined): number | undefined {
  if (!name) return undefined;
  const t = g.constantValue(name);
  if (!t || t.size !== 1 || (t.dtype !== DataType.FLOAT && t.dtype !== DataType.DOUBLE)) return undefined;
  return Number((t.data as ArrayLike<number>)[0]);
}

/**
 * When `name` is Relu(x) or Clip(x, a, b) with constant bounds (a ≤ b) over a float x: x and
 * the bounds. Then min(name) = clamp(min x, a, b) and max(name) = clamp(max x, a, b) exactly,
 * as clamping is monotone.
 */
export function clampOf(g: Graph, name: string): { from: string; lo: number; hi: number } | undefined {
  const p = g.producer(name);
  if (!p || (p.domain !== '' && p.domain !== 'ai.onnx') || p.outputs[0] !== name) return undefined;
  if (p.opType === 'Relu') return { from: p.inputs[0], lo: 0, hi: Infinity };
  if (p.opType !== 'Clip') return undefined;
  let lo = -Infinity;
  let hi = Infinity;
  const attrs = new Map(p.attributes.map((a) => [a.name, a.value]));
  if (attrs.has('min') || attrs.has('max')) {
    // opset < 11: bounds as attributes
    if (attrs.has('min')) lo = Number(attrs.get('min'));
    if (attrs.has('max')) hi = Number(attrs.get('max'));
  } else {
    if (p.inputs[1]) {
      const v = scalarConst(g, p.inputs[1]);
      if (v === undefined) return undefined;
      lo = v;
    }
    if (p.inputs[2]) {
      const v = scalarConst(g, p.inputs[2]);
      if (v === undefined) return undefined;
      hi = v;
    }
  }
  if (!(lo <= hi)) return undefined;
  return { from: p.inputs[0], lo, hi };
}
