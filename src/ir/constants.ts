/**
 * Constants: the one place that answers "is this value a constant, and what is it".
 *
 * A value is a constant when it is
 * - an initializer that is not also a graph input (from IR 4 on, an initializer listed as an input
 *   is an overridable default, not a constant; below IR 4 every initializer is listed there and
 *   stays a constant when the resolver is told `legacyInitializers`),
 * - the output of a Constant node, in any of its forms (value, value_float, value_floats,
 *   value_int, value_ints, sparse_value),
 * - or the output of a node whose inputs are all constants and whose op is cheap and exact to
 *   evaluate here: Identity, Cast (between numeric types), Reshape, Flatten, Squeeze, Unsqueeze,
 *   Transpose, Slice, Concat. Exporters hide weights behind these: PyTorch deduplicates identical
 *   initializers into one tensor read through Identity nodes, a tied LM head reads
 *   Transpose(embedding), a Conv1D weight may come through a Reshape, and an LSTM's weights are
 *   PyTorch's gate blocks cut out by Slice and put back in ONNX's gate order by Concat.
 *
 * Values inside subgraphs that the subgraph does not define are looked up in the enclosing graph.
 *
 * Each resolved value comes with a `key`: two names with the same key hold the same values
 * (Identity is transparent, the reshape family collapses into one "view with these dims", Cast to
 * the same type is dropped), so a weight shared through several Identity outputs is recognised as
 * one weight. `direct` says whether the tensor is stored in the model (an initializer or a
 * Constant node's `value`): only then may a pass edit it in place. A computed value is a fresh
 * tensor; a pass that rewrites it writes a new initializer and leaves the chain to others that
 * still read it (`removeIfUnused` deletes it once nothing does).
 */
import type { Graph } from './graph.js';
import { AttrType, isOnnxDomain, type Node, type SparseTensor } from './node.js';
import { Tensor } from './tensor.js';
import { DataType, allocData, dtypeInfo, numElements, type TensorData } from './dtype.js';
import { float32ToHalfArray, halfToFloatTable } from '../math/float16.js';

/** Ops evaluated through; every one is a data copy or an exact element conversion. */
export const CONSTANT_CHAIN_OPS: readonly string[] = ['Identity', 'Cast', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Slice', 'Concat'];

export interface ConstantInfo {
  tensor: Tensor;
  /** the tensor is stored in the model as it is (initializer / Constant `value`): editable in place */
  direct: boolean;
  /** same key ⇒ same values */
  key: string;
  /** nodes evaluated to get the value (empty when direct), producer first */
  chain: Node[];
  /** the stored tensors the value is computed from (names: initializers or Constant outputs) */
  sources: string[];
}

interface Memo {
  info: ConstantInfo | undefined;
  /** what each visited name was when resolved: its producer node and initializer */
  deps: { name: string; producer?: Node; init?: Tensor; graph: Graph }[];
}

const PARENT = '\u0000parent';

/** Resolves constants of one graph. Cheap to create; results are memoised and re-validated. */
export class Constants {
  private memo = new Map<string, Memo>();
  private parentResolver?: Constants;

  constructor(
    readonly graph: Graph,
    readonly opts: { legacyInitializers?: boolean } = {},
  ) {}

  /** The constant value behind `name`, if any. */
  get(name: string): Tensor | undefined {
    return this.info(name)?.tensor;
  }

  /** The constant value behind `name` with its key, chain and sources, if it is a constant. */
  info(name: string): ConstantInfo | undefined {
    if (!name) return undefined;
    const m = this.memo.get(name);
    if (m && this.valid(m)) return m.info;
    const deps: Memo['deps'] = [];
    const info = this.resolve(name, deps, 0);
    // values found in an enclosing graph are not memoised here (that graph may change unseen)
    if (!deps.some((d) => d.graph !== this.graph || d.name === PARENT)) this.memo.set(name, { info, deps });
    return info;
  }

  /** Whether `name` is a constant. */
  has(name: string): boolean {
    return this.info(name) !== undefined;
  }

  private valid(m: Memo): boolean {
    for (const d of m.deps) {
      if (d.graph.producer(d.name) !== d.producer) return false;
      if (d.graph.initializers.get(d.name) !== d.init) return false;
    }
    return true;
  }

  private isStoredInitializer(name: string): boolean {
    const g = this.graph;
    if (!g.initializers.has(name)) return false;
    return !g.isGraphInput(name) || !!this.opts.legacyInitializers;
  }

  private resolve(name: string, deps: Memo['deps'], depth: number): ConstantInfo | undefined {
    const g = this.graph;
    const init = g.initializers.get(name);
    const producer = g.producer(name);
    deps.push({ name, producer, init, graph: g });
    if (init) {
      if (!this.isStoredInitializer(name)) return undefined;
      return { tensor: init, direct: true, key: `init:${name}`, chain: [], sources: [name] };
    }
    if (!producer) {
      if (g.parent && !g.isGraphInput(name)) {
        this.parentResolver ??= new Constants(g.parent, this.opts);
        const info = this.parentResolver.info(name);
        // re-validate through the parent's own memo: record nothing here that could go stale unseen
        deps.push({ name: PARENT, producer: undefined, init: undefined, graph: g });
        return info;
      }
      return undefined;
    }
    if (!isOnnxDomain(producer) || depth > 64) return undefined;
    if (producer.opType === 'Constant') {
      const t = constantNodeValue(producer);
      if (!t) return undefined;
      const direct = producer.attributes.some((a) => a.name === 'value' && a.value === t);
      return { tensor: t, direct, key: `const:${name}`, chain: [], sources: [name] };
    }
    if (!CONSTANT_CHAIN_OPS.includes(producer.opType) || producer.outputs[0] !== name) return undefined;
    const ins: (ConstantInfo | undefined)[] = [];
    for (const i of producer.inputs) {
      if (!i) {
        ins.push(undefined);
        continue;
      }
      const r = this.resolve(i, deps, depth + 1);
      if (!r) return undefined;
      ins.push(r);
    }
    const x = ins[0];
    if (!x) return undefined;
    const out = evaluate(producer, x.tensor, ins.slice(1).map((r) => r?.tensor));
    if (!out) return undefined;
    out.tensor.name = name;
    const chain = [producer, ...ins.flatMap((r) => r?.chain ?? [])];
    const sources = [...new Set(ins.flatMap((r) => r?.sources ?? []))];
    let key: string;
    if (producer.opType === 'Concat') key = `${out.kind}(${ins.map((r) => r?.key).join(',')})`;
    else if (out.kind === 'same') key = x.key;
    else if (out.kind === 'view') key = `view[${out.tensor.dims.join(',')}](${baseOfView(x.key)})`;
    else key = `${out.kind}(${x.key})`;
    return { tensor: out.tensor, direct: false, key, chain, sources };
  }

  /**
   * Readers, other than `allowed`, of the values behind `names` along their data path (the name,
   * each chain node's data input, the stored source): who else would see a change to that weight.
   * The chain nodes themselves count as allowed; shape operands (a Reshape's shape) are not
   * followed. A graph output on the path is reported as `'graph output'`.
   */
  outsideReaders(names: string[], allowed: Iterable<Node>): (Node | 'graph output')[] {
    const g = this.graph;
    const ok = new Set(allowed);
    const path = new Set<string>();
    for (const n of names) {
      const info = this.info(n);
      if (!info) continue;
      for (const c of info.chain) ok.add(c);
      let v = n;
      for (let d = 0; v && d < 64; d++) {
        path.add(v);
        const p = g.producer(v);
        if (!p || !info.chain.includes(p)) break;
        v = p.inputs[0];
      }
    }
    const out: (Node | 'graph output')[] = [];
    for (const v of path) {
      if (g.isGraphOutput(v)) out.push('graph output');
      for (const c of g.consumers(v)) if (!ok.has(c) && !out.includes(c)) out.push(c);
    }
    return out;
  }

  /**
   * Remove what made `name` (its Constant node, initializer, or evaluated chain) when nothing reads
   * it any more, walking back through the chain. Graph inputs and graph outputs are never removed.
   * Returns the number of nodes and initializers removed.
   */
  removeIfUnused(name: string): number {
    const g = this.graph;
    if (!name || g.consumers(name).length || g.isGraphOutput(name)) return 0;
    const init = g.initializers.get(name);
    if (init) {
      if (!this.isStoredInitializer(name)) return 0;
      g.initializers.delete(name);
      // (the memo would keep the removed weight's data alive)
      this.memo.delete(name);
      if (g.isGraphInput(name)) g.inputs = g.inputs.filter((i) => i.name !== name);
      return 1;
    }
    const p = g.producer(name);
    if (!p || !isOnnxDomain(p)) return 0;
    if (p.opType !== 'Constant' && !CONSTANT_CHAIN_OPS.includes(p.opType)) return 0;
    if (p.outputs.some((o) => o && (g.consumers(o).length || g.isGraphOutput(o)))) return 0;
    if (p.opType !== 'Constant' && !this.has(name)) return 0;
    const inputs = p.opType === 'Constant' ? [] : [...p.inputs];
    g.removeNode(p);
    this.memo.delete(name);
    let removed = 1;
    for (const i of inputs) removed += this.removeIfUnused(i);
    return removed;
  }
}

/** `view[dims](base)` → base: consecutive reshapes of the same data collapse. */
function baseOfView(key: string): string {
  const m = /^view\[[^\]]*\]\((.*)\)$/.exec(key);
  return m ? m[1] : key;
}

/** The tensor of a Constant node, in any attribute form; undefined for strings / unknown forms. */
export function constantNodeValue(node: Node): Tensor | undefined {
  for (const a of node.attributes) {
    switch (a.name) {
      case 'value':
        return a.value instanceof Tensor ? a.value : undefined;
      case 'value_float':
        return typeof a.value === 'number' ? Tensor.float32(node.outputs[0], [], [a.value]) : undefined;
      case 'value_floats':
        return Array.isArray(a.value) ? Tensor.float32(node.outputs[0], [a.value.length], (a.value as number[]).map(Number)) : undefined;
      case 'value_int':
        return typeof a.value === 'number' || typeof a.value === 'bigint' ? Tensor.int64(node.outputs[0], [], [a.value]) : undefined;
      case 'value_ints':
        return Array.isArray(a.value) ? Tensor.int64(node.outputs[0], [a.value.length], a.value as (number | bigint)[]) : undefined;
      case 'sparse_value':
        return a.type === AttrType.SPARSE_TENSOR && a.value ? densify(a.value as SparseTensor, node.outputs[0]) : undefined;
      default:
        break;
    }
  }
  return undefined;
}

function densify(sp: SparseTensor, name: string): Tensor | undefined {
  const v = sp.values;
  if (v.dtype === DataType.STRING) return undefined;
  const dims = [...sp.dims];
  const t = new Tensor(name, v.dtype, dims);
  const nnz = v.size;
  const idx = sp.indices.toIntArray();
  const rank = dims.length;
  const strides = stridesOf(dims);
  const out = t.data as TensorData as ArrayLike<unknown> & { [i: number]: unknown };
  const vd = v.data as ArrayLike<unknown>;
  const flat = sp.indices.dims.length === 1;
  for (let k = 0; k < nnz; k++) {
    let off = 0;
    if (flat) off = idx[k];
    else for (let d = 0; d < rank; d++) off += idx[k * rank + d] * strides[d];
    if (off < 0 || off >= t.size) return undefined;
    out[off] = vd[k];
  }
  return t;
}

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

function attr(node: Node, name: string): unknown {
  return node.attributes.find((a) => a.name === name)?.value;
}

function intsOf(v: unknown): number[] | undefined {
  if (Array.isArray(v)) return v.map(Number);
  if (v instanceof Tensor) return v.toIntArray();
  return undefined;
}

type Evaluated = { tensor: Tensor; kind: 'same' | 'view' | string };

/** Same data, new dims (a view in row-major order). */
function view(x: Tensor, dims: number[]): Evaluated | undefined {
  if (dims.some((d) => !Number.isInteger(d) || d < 0) || numElements(dims) !== x.size) return undefined;
  const t = new Tensor(x.name, x.dtype, dims, x.data);
  return { tensor: t, kind: 'view' };
}

function evaluate(node: Node, x: Tensor, rest: (Tensor | undefined)[]): Evaluated | undefined {
  if (x.dtype === DataType.STRING) return undefined;
  const r = x.dims.length;
  switch (node.opType) {
    case 'Identity':
      return { tensor: x, kind: 'same' };
    case 'Reshape': {
      const shape = rest[0] ? rest[0].toIntArray() : intsOf(attr(node, 'shape'));
      if (!shape) return undefined;
      const allowZero = Number(attr(node, 'allowzero') ?? 0) !== 0;
      const dims = shape.map((d, i) => (d === 0 && !allowZero ? x.dims[i] : d));
      if (dims.some((d) => d === undefined)) return undefined;
      const minus = dims.filter((d) => d === -1).length;
      if (minus > 1) return undefined;
      if (minus === 1) {
        const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        if (known === 0 || x.size % known !== 0) return undefined;
        dims[dims.indexOf(-1)] = x.size / known;
      }
      return view(x, dims);
    }
    case 'Flatten': {
      let axis = Number(attr(node, 'axis') ?? 1);
      if (axis < 0) axis += r;
      if (axis < 0 || axis > r) return undefined;
      const a = x.dims.slice(0, axis).reduce((p, d) => p * d, 1);
      return view(x, [a, x.size / Math.max(1, a) || 0]);
    }
    case 'Squeeze': {
      const axes = (rest[0] ? rest[0].toIntArray() : intsOf(attr(node, 'axes')))?.map((a) => (a < 0 ? a + r : a));
      if (axes && axes.some((a) => a < 0 || a >= r || x.dims[a] !== 1)) return undefined;
      const dims = x.dims.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
      return view(x, dims);
    }
    case 'Unsqueeze': {
      const axesRaw = rest[0] ? rest[0].toIntArray() : intsOf(attr(node, 'axes'));
      if (!axesRaw) return undefined;
      const outRank = r + axesRaw.length;
      const axes = axesRaw.map((a) => (a < 0 ? a + outRank : a));
      if (axes.some((a) => a < 0 || a >= outRank) || new Set(axes).size !== axes.length) return undefined;
      const dims: number[] = [];
      let k = 0;
      for (let i = 0; i < outRank; i++) dims.push(axes.includes(i) ? 1 : x.dims[k++]);
      return view(x, dims);
    }
    case 'Transpose': {
      const perm = intsOf(attr(node, 'perm')) ?? Array.from({ length: r }, (_, i) => r - 1 - i);
      if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) return undefined;
      if (perm.every((p, i) => p === i)) return { tensor: x, kind: 'same' };
      // packed 4-bit and interleaved complex elements are not one array slot each
      if (dtypeInfo(x.dtype).bytes < 1 || x.dtype === DataType.COMPLEX64 || x.dtype === DataType.COMPLEX128) return undefined;
      return { tensor: transpose(x, perm), kind: `T[${perm.join(',')}]` };
    }
    case 'Slice':
      return slice(node, x, rest);
    case 'Concat': {
      let axis = Number(attr(node, 'axis'));
      if (!Number.isInteger(axis)) return undefined;
      if (axis < 0) axis += r;
      const parts = [x, ...rest];
      if (axis < 0 || axis >= r || parts.some((t) => !t || !concatenable(x, t, axis))) return undefined;
      return { tensor: concat(parts as Tensor[], axis), kind: `concat[${axis}]` };
    }
    case 'Cast': {
      const to = Number(attr(node, 'to'));
      if (to === x.dtype) return { tensor: x, kind: 'same' };
      const t = cast(x, to);
      return t && { tensor: t, kind: `cast${to}` };
    }
    default:
      return undefined;
  }
}

/** Element types stored one per array slot (not packed 4-bit, not interleaved complex, not strings). */
function slotted(t: Tensor): boolean {
  return t.dtype !== DataType.STRING && dtypeInfo(t.dtype).bytes >= 1 && t.dtype !== DataType.COMPLEX64 && t.dtype !== DataType.COMPLEX128;
}

/**
 * Slice of a constant: opset ≥ 10 (starts, ends, axes, steps inputs) or below (attributes), with
 * ONNX's clamping of out-of-range starts and ends; undefined for anything malformed.
 */
function slice(node: Node, x: Tensor, rest: (Tensor | undefined)[]): Evaluated | undefined {
  if (!slotted(x)) return undefined;
  const r = x.dims.length;
  const starts = rest[0] ? rest[0].toIntArray() : intsOf(attr(node, 'starts'));
  const ends = rest[1] ? rest[1].toIntArray() : intsOf(attr(node, 'ends'));
  if (!starts || !ends || starts.length !== ends.length) return undefined;
  const axes = (rest[2] ? rest[2].toIntArray() : intsOf(attr(node, 'axes'))) ?? starts.map((_, i) => i);
  const steps = rest[3] ? rest[3].toIntArray() : starts.map(() => 1);
  if (axes.length !== starts.length || steps.length !== starts.length) return undefined;
  const begin = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const dims = [...x.dims];
  const seen = new Set<number>();
  for (let i = 0; i < starts.length; i++) {
    const a = axes[i] < 0 ? axes[i] + r : axes[i];
    const st = steps[i];
    if (a < 0 || a >= r || seen.has(a) || !Number.isFinite(st) || st === 0) return undefined;
    seen.add(a);
    const d = x.dims[a];
    const wrap = (v: number) => (v < 0 ? v + d : v);
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const s0 = st > 0 ? clamp(wrap(starts[i]), 0, d) : clamp(wrap(starts[i]), 0, d - 1);
    const e0 = st > 0 ? clamp(wrap(ends[i]), 0, d) : clamp(wrap(ends[i]), -1, d - 1);
    begin[a] = s0;
    step[a] = st;
    dims[a] = Math.max(0, Math.ceil((e0 - s0) / st));
  }
  if (dims.every((d, i) => d === x.dims[i])) return { tensor: x, kind: 'same' };
  const out = new Tensor(x.name, x.dtype, dims);
  const src = x.data as unknown as { [i: number]: unknown };
  const dst = out.data as unknown as { [i: number]: unknown };
  const strides = stridesOf(x.dims);
  const n = out.size;
  const idx = dims.map(() => 0);
  let off = begin.reduce((s, b, i) => s + b * strides[i], 0);
  for (let k = 0; k < n; k++) {
    dst[k] = src[off];
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      off += step[d] * strides[d];
      if (idx[d] < dims[d]) break;
      off -= step[d] * strides[d] * dims[d];
      idx[d] = 0;
    }
  }
  const spec = begin.map((b, i) => `${b}:${dims[i]}:${step[i]}`).join(',');
  return { tensor: out, kind: `slice[${spec}]` };
}

/** Whether `t` can follow `x` in a Concat along `axis`: same type and rank, equal dims elsewhere. */
function concatenable(x: Tensor, t: Tensor, axis: number): boolean {
  return slotted(t) && t.dtype === x.dtype && t.dims.length === x.dims.length && t.dims.every((d, i) => i === axis || d === x.dims[i]);
}

function concat(parts: Tensor[], axis: number): Tensor {
  const x = parts[0];
  const dims = [...x.dims];
  dims[axis] = parts.reduce((s, t) => s + t.dims[axis], 0);
  const out = new Tensor(x.name, x.dtype, dims);
  const outer = x.dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dst = out.data as unknown as { set(a: ArrayLike<unknown>, at: number): void };
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of parts) {
      const run = t.dims[axis] * inner;
      const src = t.data as unknown as { subarray(a: number, b: number): ArrayLike<unknown> };
      dst.set(src.subarray(o * run, (o + 1) * run), at);
      at += run;
    }
  }
  return out;
}

/** General N-D transpose of any fixed-width typed array: out[i_perm] = x[i]. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  const r = x.dims.length;
  const dims = perm.map((p) => x.dims[p]);
  const out = new Tensor(x.name, x.dtype, dims);
  const src = x.data as unknown as { [i: number]: unknown; length: number };
  const dst = out.data as unknown as { [i: number]: unknown };
  if (dtypeInfo(x.dtype).bytes < 1 || x.dtype === DataType.COMPLEX64 || x.dtype === DataType.COMPLEX128) {
    throw new Error(`transpose: ${dtypeInfo(x.dtype).name} elements are not one array slot each`);
  }
  const inStrides = stridesOf(x.dims);
  const srcStride = perm.map((p) => inStrides[p]);
  const n = x.size;
  if (r === 2) {
    const [R, C] = dims;
    const s0 = srcStride[0];
    const s1 = srcStride[1];
    for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) dst[i * C + j] = src[i * s0 + j * s1];
    return out;
  }
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let k = 0; k < n; k++) {
    dst[k] = src[off];
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      off += srcStride[d];
      if (idx[d] < dims[d]) break;
      off -= srcStride[d] * dims[d];
      idx[d] = 0;
    }
  }
  return out;
}

const FLOATS = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);
const INTS = new Set([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.BOOL]);

/** Cast between float32 / float64 / float16 and the integer types (integers to integers, integers to floats). */
function cast(x: Tensor, to: number): Tensor | undefined {
  const from = x.dtype;
  if (!(FLOATS.has(from) || INTS.has(from)) || !(FLOATS.has(to) || INTS.has(to))) return undefined;
  // float → integer rounds by truncation with undefined overflow: not evaluated here
  if (FLOATS.has(from) && INTS.has(to)) return undefined;
  const n = x.size;
  if (to === DataType.FLOAT16) {
    const f = from === DataType.FLOAT ? (x.data as Float32Array) : Float32Array.from(x.toNumbers());
    return new Tensor(x.name, to, [...x.dims], float32ToHalfArray(f));
  }
  if (to === DataType.INT64) {
    if (from === DataType.INT64) return x;
    const d = new BigInt64Array(n);
    const v = x.toNumbers();
    for (let i = 0; i < n; i++) d[i] = BigInt(v[i]);
    return new Tensor(x.name, to, [...x.dims], d);
  }
  const out = allocData(to, n) as Float32Array | Float64Array | Int32Array;
  if (from === DataType.FLOAT16) {
    const h = x.data as Uint16Array;
    const table = halfToFloatTable();
    for (let i = 0; i < n; i++) out[i] = table[h[i]];
  } else if (to === DataType.BOOL) {
    const v = x.toNumbers();
    for (let i = 0; i < n; i++) out[i] = v[i] !== 0 ? 1 : 0;
  } else {
    // typed-array assignment wraps integers and rounds float64 → float32 as a C cast does
    out.set(x.toNumbers() as unknown as ArrayLike<number>);
  }
  return new Tensor(x.name, to, [...x.dims], out);
}
