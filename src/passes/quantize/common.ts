/**
 * Shared plumbing of the quantization modes: the options every mode reads, the per-run state
 * (skips, counters), constant look-ups and the small graph edits (new initializers, Q/DQ nodes).
 */
import { DataType } from '../../ir/dtype.js';
import { Constants } from '../../ir/constants.js';
import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { AttrType, isOnnxDomain, type Attribute, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { elemTypeOf, shapeOf, tensorType } from '../../ir/types.js';
import { allFinite, quantizeTensor, type PairLayout, type QuantizedTensor } from '../../math/quant.js';
import { isExcluded, type PassContext, type Skip } from '../pass.js';

// The types and modes are the keys of the TYPES / MODES tables in ../quantize.ts.
import type { QuantizeMode, QuantizeType } from '../quantize.js';
export type { QuantizeMode, QuantizeType };
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
/** How dynamic MatMul / Gemm are written: the com.microsoft fused op or standard ONNX ops. */
export type DynamicForm = 'contrib' | 'standard';

export interface QuantizeOptions {
  type: QuantizeType;
  /** for int8 / uint8 (fp16 and int4 are weight formats and ignore it) */
  mode: QuantizeMode;
  calibrationMethod: CalibrationMethod;
  /** percentile kept by the percentile method, e.g. 99.99 */
  percentile: number;
  /** per-channel weight scales (default) or one scale per tensor */
  perChannel: boolean;
  /** op types to quantize (default depends on the mode) */
  opTypes?: string[];
  /** node (or weight) names or globs left alone */
  exclude: string[];
  /** int4 block size along K (power of two ≥ 16) */
  blockSize: number;
  /** int4 block scales: search (least squared error per block, zero points) or rtn (the block extreme) */
  int4Scales: 'search' | 'rtn';
  /** int4: the probe cosine to reach by keeping the costliest MatMuls at 8 bits (needs calibration data) */
  int4Target?: number;
  /** dynamic: the probe cosine to reach by leaving the costliest MatMuls float (dynamic-target.ts; 0 / absent: off) */
  int8Target?: number;
  /** int4: float weight bytes above which the target's reference is the model in 8-bit blocks, not the float model (default INT4_PROBE_MAX_BYTES) */
  int4ProbeMaxBytes?: number;
  /** int4: float weight bytes above which the target is off unless asked for (default INT4_TARGET_MAX_BYTES) */
  int4TargetMaxBytes?: number;
  /** int4 rtn with zero points (asymmetric) instead of symmetric */
  int4Asymmetric: boolean;
  /** MatMulNBits accuracy_level (0 = fp32 compute, 4 = int8 compute); absent: by the CPU (see quantize.ts) */
  accuracyLevel?: number;
  /** int4 compute path: MatMulNBits, int8 DynamicQuantizeMatMul over the 4-bit weights, or by the CPU */
  int4Compute: 'auto' | 'nbits' | 'int8';
  /** tensors with fewer elements stay float */
  minElements: number;
  dynamicForm: DynamicForm;
  /** calibration samples used at most */
  calibrationSamples: number;
  /** calibration batch size (when the model's batch dimension is free) */
  calibrationBatch: number;
  /** 7-bit int8 weights for dynamic / static mode (no u8·s8 saturation on x86 CPUs without VNNI) */
  reduceRange: boolean;
  /** int8 MatMul / Gemm / Conv weights (dynamic, static): the pairs onnxruntime adds along K stay within 128 codes (math/quant.ts pairRanges) */
  pairSafe: boolean;
}

/** Per-run state shared by the mode implementations. */
export class QuantState implements Consts {
  readonly skipped: Skip[] = [];
  readonly counts: Record<string, number> = {};
  readonly details: Record<string, unknown>[] = [];
  /** bytes of the float weights replaced, and of what replaced them */
  bytesBefore = 0;
  bytesAfter = 0;
  modified = false;
  /** weights this run replaced by a DequantizeLinear of the same name (their readers are done) */
  readonly dequantized = new Set<string>();
  /** MatMul / Gemm nodes (by label) that dynamic mode's int8 target leaves float (dynamic-target.ts) */
  readonly keptFloat = new Set<string>();

  /**
   * IR < 4 requires every initializer to be listed as a graph input, so there a listed initializer
   * is still a weight; from IR 4 on, listing it makes it an overridable default (not a constant).
   */
  readonly legacyInits = new Set<string>();
  /** constant look-ups through Identity / Cast / Reshape / Transpose / … chains (src/ir/constants.ts) */
  readonly consts: Constants;

  /**
   * `scope`: a subgraph (If / Loop / Scan body) of `model` to rewrite instead of the main graph
   * (src/passes/quantize/subgraphs.ts); its constants resolve through the enclosing graphs.
   */
  constructor(
    readonly model: Model,
    readonly opts: QuantizeOptions,
    readonly ctx: PassContext,
    readonly scope?: Graph,
  ) {
    const g = scope ?? model.graph;
    if (!scope && model.irVersion < 4) for (const i of g.inputs) if (g.initializers.has(i.name)) this.legacyInits.add(i.name);
    this.consts = new Constants(g, { legacyInitializers: model.irVersion < 4 });
  }

  /** A state for one subgraph of the model, with these options (or `opts`). */
  sub(scope: Graph, opts: QuantizeOptions = this.opts): QuantState {
    return new QuantState(this.model, opts, this.ctx, scope);
  }

  /** Take over what a subgraph's state recorded (skips, counts, details, bytes, modified). */
  absorb(s: QuantState): void {
    this.skipped.push(...s.skipped);
    for (const [k, v] of Object.entries(s.counts)) this.count(k, v);
    this.details.push(...s.details);
    this.bytesBefore += s.bytesBefore;
    this.bytesAfter += s.bytesAfter;
    this.modified ||= s.modified;
  }

  /**
   * The constant tensor behind `name` in this state's graph (or an enclosing one): an initializer, a Constant node, or a
   * value computed from those through Identity / Cast / Reshape / Transpose / … (a fresh tensor
   * then: never edit it in place).
   */
  constant(name: string): Tensor | undefined {
    return this.consts.get(name);
  }

  /** Identity of the weight behind `name`: equal for names that hold the same constant values. */
  weightKey(name: string): string {
    return this.consts.info(name)?.key ?? `name:${name}`;
  }

  /**
   * IR < 4 bookkeeping after the rewrite: initializers that are gone leave the input list, new
   * ones join it (the IR 3 rule that every initializer is an input).
   */
  syncLegacyInputs(): void {
    if (this.model.irVersion >= 4) return;
    const g = this.graph;
    g.inputs = g.inputs.filter((i) => !(this.legacyInits.has(i.name) && !g.initializers.has(i.name)));
    const listed = new Set(g.inputs.map((i) => i.name));
    for (const [k, t] of g.initializers) if (!listed.has(k)) g.inputs.push({ name: k, type: tensorType(t.dtype, [...t.dims]) });
  }

  /** The graph this state rewrites: the main graph, or the subgraph it was made for. */
  get graph(): Graph {
    return this.scope ?? this.model.graph;
  }

  skip(node: Node | string, reason: string): void {
    this.skipped.push({ node: typeof node === 'string' ? node : nodeLabel(node), reason });
  }

  count(key: string, n = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }

  /** The ai.onnx opset of the model. */
  get opset(): number {
    return this.model.opsetVersion('') ?? 1;
  }

  /** Whether a node (by name, first output, or the weight it reads) is excluded by --exclude. */
  excluded(node: Node, weightName?: string): boolean {
    const ex = this.opts.exclude;
    if (!ex.length) return false;
    return isExcluded(nodeLabel(node), ex) || (!!weightName && isExcluded(weightName, ex));
  }

  /**
   * Why a node whose weight (if any) was located is left alone: 'excluded' (--exclude), or the
   * weight's own problem (too small, non-finite); undefined when it can be quantized.
   */
  siteProblem(node: Node, weight?: Tensor): string | undefined {
    if (this.excluded(node, weight?.name)) return 'excluded';
    if (this.keptFloat.size && this.keptFloat.has(nodeLabel(node))) return 'kept float by the int8 target';
    return weight && weightProblem(weight, this.opts.minElements);
  }

  /** Whether `opType` is selected by --op-types (or the mode's default list). */
  selected(opType: string, defaults: readonly string[]): boolean {
    return (this.opts.opTypes ?? defaults).includes(opType);
  }
}

export function nodeLabel(n: Node): string {
  return n.name || n.outputs[0] || n.opType;
}

/** Looks up constant tensors (see QuantState.constant). */
export interface Consts {
  constant(name: string): Tensor | undefined;
}

/** A float32 constant behind `name`. */
export function floatConstant(c: Consts, name: string): Tensor | undefined {
  if (!name) return undefined;
  const t = c.constant(name);
  return t && t.dtype === DataType.FLOAT ? t : undefined;
}

/** Why a float weight cannot be quantized, or undefined when it can. */
export function weightProblem(t: Tensor, minElements: number): string | undefined {
  if (t.size < minElements) return `weight ${t.name} has ${t.size} elements (< ${minElements}); tiny tensors stay float`;
  if (!allFinite(t.data as Float32Array)) return `weight ${t.name} has non-finite values`;
  return undefined;
}

/**
 * Remove a weight once nothing reads it: its initializer (not an overridable input), its Constant
 * node, or the Identity / Reshape / Transpose / … chain that computed it, as far back as nothing
 * else reads.
 */
export function dropIfUnused(st: QuantState, name: string): void {
  st.consts.removeIfUnused(name);
}

/** Add an initializer under a unique name based on `base`. */
export function addConst(g: Graph, base: string, t: Tensor): string {
  t.name = base;
  return g.addInitializer(t);
}

export function scalarOrVector(base: string, values: Float32Array, perChannel: boolean): Tensor {
  return perChannel ? Tensor.float32(base, [values.length], values) : Tensor.float32(base, [], values.subarray(0, 1));
}

export function intTensor(name: string, q: Int8Array | Uint8Array, dims: readonly number[]): Tensor {
  return new Tensor(name, q instanceof Int8Array ? DataType.INT8 : DataType.UINT8, dims, q);
}

/**
 * Quantize a weight to 8 bits and add the quantized tensor, its scale and zero point as
 * initializers. Returns their names and the QuantizedTensor; `zp` is '' (no initializer: the
 * optional input defaults to 0) when every zero point of an int8 weight is 0, unless
 * `keepZeroPoint` (onnxruntime's QDQ → QGemm fusion wants the int8 zero point present).
 */
export function addQuantizedWeight(
  g: Graph,
  base: string,
  data: Float32Array,
  dims: readonly number[],
  qtype: 'int8' | 'uint8',
  symmetric: boolean,
  axis: number | undefined,
  keepZeroPoint = false,
  reduceRange = false,
  pairs?: PairLayout,
): { q: string; scale: string; zp: string; qt: QuantizedTensor } {
  const qt = quantizeTensor(data, dims, { qtype, symmetric, axis, reduceRange, pairs });
  const perChannel = axis !== undefined;
  const q = addConst(g, `${base}_quantized`, intTensor('', qt.q, dims));
  const scale = addConst(g, `${base}_scale`, scalarOrVector('', qt.scale, perChannel));
  const zeros = !keepZeroPoint && qtype === 'int8' && qt.zeroPoint.every((z) => z === 0);
  const zp = zeros ? '' : addConst(g, `${base}_zero_point`, intTensor('', qt.zeroPoint, perChannel ? [qt.zeroPoint.length] : []));
  return { q, scale, zp, qt };
}

export function intAttr(name: string, v: number): Attribute {
  return { name, type: AttrType.INT, value: v };
}

/** A DequantizeLinear node (axis only when per channel); domain 'com.microsoft' for the contrib op. */
export function dqNode(g: Graph, name: string, inputs: string[], output: string, axis: number | undefined, domain = ''): Node {
  return {
    name: g.uniqueName(name),
    opType: 'DequantizeLinear',
    domain,
    inputs: inputs[inputs.length - 1] === '' ? inputs.slice(0, -1) : inputs,
    outputs: [output],
    attributes: axis === undefined ? [] : [intAttr('axis', axis)],
  };
}

/** Rank of a value when the model records it (graph input/output/value_info or a constant). */
export function rankOf(g: Graph, name: string): number | undefined {
  const c = g.constantValue(name);
  if (c) return c.dims.length;
  const s = shapeOf(g.valueInfoOf(name));
  return s ? s.length : undefined;
}

/** Element type of a value when known (constants, declared value infos). */
export function elemTypeOfValue(g: Graph, name: string): DataType | undefined {
  const c = g.constantValue(name);
  if (c) return c.dtype;
  return elemTypeOf(g.valueInfoOf(name));
}

/** Transpose a row-major [R, C] float matrix. */
export function transpose2d(a: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = a[r * C + c];
  return out;
}

/** Nodes of subgraphs (If / Loop / Scan bodies) with an op type of interest: not handled, recorded. */
export function skipSubgraphNodes(st: QuantState, opTypes: readonly string[]): void {
  for (const { node, graph } of st.graph.allNodes()) {
    if (graph === st.graph) continue;
    if (opTypes.includes(node.opType) && (node.domain === '' || node.domain === 'ai.onnx')) {
      st.skip(node, 'inside a subgraph (If/Loop/Scan body); subgraphs are not quantized');
    }
  }
}

/** True for a node of the default ONNX domain (the IR's own test, under the name the quantize files use). */
export const isOnnx = isOnnxDomain;
