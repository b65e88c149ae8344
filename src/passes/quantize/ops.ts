/**
 * The per-op-type weight map: for each op type the pass knows, where its constant weight is and
 * which axis holds its output channels. Op types not in the map are never touched. Which rewrite a
 * mode applies to each op type is the mode's own `OpRewrites` table, in its file (the table below
 * sums them up); the rewrites themselves live in the mode files too.
 *
 *   op       weight (axis)                      weight-only  dynamic          static  int4
 *   MatMul   B [K, N] (1)                       dq-weight    dynamic-matmul   qdq     matmul-nbits
 *   Gemm     B [K, N] (1) or [N, K] transB (0)  dq-weight    dynamic-matmul   qdq     matmul-nbits
 *   Conv     W [M, C/g, k…] (0)                 dq-weight    dq-weight        qdq     —
 *   Gather   data [V, H] with axis 0 (1)        gather-dq    gather-dq        gather-dq  gather-block-quantized
 *   LSTM / GRU / RNN  W [D, G·H, I] (1) and     dq-weight    dq-weight        —       —
 *            R [D, G·H, H] (1)
 *
 * A recurrent node has two weights: `locate` gives W, `more` the others (R), each rewritten and
 * counted as its own weight.
 */
import { DataType } from '../../ir/dtype.js';
import { attrInt, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { floatConstant, isOnnx, type Consts } from './common.js';

export type Rewrite = 'dq-weight' | 'gather-dq' | 'dynamic-matmul' | 'qdq' | 'matmul-nbits' | 'gather-block-quantized';
/**
 * A mode's rewrite per op type (exported by the mode's file, e.g. DYNAMIC_OPS): the op types it
 * handles by default are its keys.
 */
export type OpRewrites = Readonly<Partial<Record<keyof typeof OP_QUANTIZERS, Rewrite>>>;

export interface WeightSite {
  node: Node;
  /** input index of the weight */
  input: number;
  /** the weight's values as float32 (a float16 weight decoded: see `half`) */
  tensor: Tensor;
  /** output-channel axis of the weight tensor */
  axis: number;
  /**
   * the stored weight is float16 (a model that computes in fp16): `tensor` holds its values
   * decoded to float32, and a rewrite must give the node float16 back (only dq-weight does)
   */
  half?: boolean;
}

/** What `locate` may return: float16 weights (decoded, `half` set) only when the caller asks. */
export interface LocateOptions {
  half?: boolean;
}

export interface OpQuantizer {
  /** The node's constant float weight, or why the node has none the pass can use. */
  locate(node: Node, g: Consts, o?: LocateOptions): WeightSite | string;
  /** Further weights of the same node (a recurrent node's R), each a site or why it is left alone. */
  more?(node: Node, g: Consts, o?: LocateOptions): (WeightSite | string)[];
  /**
   * Whether this node is data movement rather than a layer with a weight (a Gather over a shape or
   * over hidden states): left alone without being listed as skipped.
   */
  weightless?(node: Node, g: Consts): boolean;
}

function constWeight(node: Node, g: Consts, input: number, what: string, o?: LocateOptions): { t: Tensor; half?: boolean } | string {
  const name = node.inputs[input];
  if (!name) return `no ${what} input`;
  const t = floatConstant(g, name);
  if (!t) {
    const c = g.constant(name);
    if (c?.dtype === DataType.FLOAT16) {
      if (o?.half) return { t: Tensor.float32(c.name, c.dims, c.readValues()), half: true };
      return `${what} ${name} is float16 (8-bit storage of float16 weights: --quantize int8|uint8 --quantize-mode weight-only, for MatMul / Gemm / Conv / recurrent weights)`;
    }
    return c ? `${what} ${name} is not float32` : `${what} ${name} is not a constant (or an overridable graph input)`;
  }
  return { t };
}

/** A site, with `half` when the weight is stored as float16. */
const siteOf = (node: Node, input: number, w: { t: Tensor; half?: boolean }, axis: number): WeightSite => ({
  node,
  input,
  tensor: w.t,
  axis,
  ...(w.half ? { half: true } : {}),
});

const matmul: OpQuantizer = {
  locate(node, g, o) {
    const w = constWeight(node, g, 1, 'weight', o);
    if (typeof w === 'string') return w;
    if (w.t.dims.length !== 2) return `weight ${w.t.name} has rank ${w.t.dims.length} (only 2-D MatMul weights)`;
    return siteOf(node, 1, w, 1);
  },
};

const gemm: OpQuantizer = {
  locate(node, g, o) {
    const w = constWeight(node, g, 1, 'weight', o);
    if (typeof w === 'string') return w;
    if (w.t.dims.length !== 2) return `weight ${w.t.name} has rank ${w.t.dims.length}`;
    return siteOf(node, 1, w, attrInt(node, 'transB', 0) ? 0 : 1);
  },
};

const conv: OpQuantizer = {
  locate(node, g, o) {
    const w = constWeight(node, g, 1, 'weight', o);
    if (typeof w === 'string') return w;
    if (w.t.dims.length < 3) return `weight ${w.t.name} has rank ${w.t.dims.length}`;
    return siteOf(node, 1, w, 0);
  },
};

const gather: OpQuantizer = {
  locate(node, g) {
    const w = constWeight(node, g, 0, 'table');
    if (typeof w === 'string') return w;
    const t = w.t;
    if (t.dims.length !== 2) return `table ${t.name} has rank ${t.dims.length} (only 2-D embedding tables)`;
    if (attrInt(node, 'axis', 0) !== 0) return 'Gather axis is not 0';
    return { node, input: 0, tensor: t, axis: 1 };
  },
  weightless: (node, g) => !g.constant(node.inputs[0]),
};

/** LSTM / GRU / RNN: W (input 1) and R (input 2), [directions, gates·hidden, ·]; channels on axis 1. */
function recurrentWeight(node: Node, g: Consts, input: number, what: string, o?: LocateOptions): WeightSite | string {
  const w = constWeight(node, g, input, what, o);
  if (typeof w === 'string') return w;
  if (w.t.dims.length !== 3) return `${what} ${w.t.name} has rank ${w.t.dims.length} (recurrent weights are 3-D)`;
  return siteOf(node, input, w, 1);
}

const recurrent: OpQuantizer = {
  locate: (node, g, o) => recurrentWeight(node, g, 1, 'weight W', o),
  more: (node, g, o) => [recurrentWeight(node, g, 2, 'recurrence weight R', o)],
};

export const OP_QUANTIZERS = {
  MatMul: matmul,
  Gemm: gemm,
  Conv: conv,
  Gather: gather,
  LSTM: recurrent,
  GRU: recurrent,
  RNN: recurrent,
} as const satisfies Record<string, OpQuantizer>;

/** Op types a mode handles by default. */
export function defaultOpTypes(ops: OpRewrites): string[] {
  return Object.keys(OP_QUANTIZERS).filter((k) => rewriteOf(ops, k));
}

/** The rewrite `ops` applies to an op type (undefined: the mode leaves it alone). */
export function rewriteOf(ops: OpRewrites, opType: string): Rewrite | undefined {
  return (ops as Record<string, Rewrite | undefined>)[opType];
}

/** The quantizer of a node of the default domain, if its op type is in the map. */
export function quantizerOf(node: Node): OpQuantizer | undefined {
  return isOnnx(node) ? (OP_QUANTIZERS as Record<string, OpQuantizer>)[node.opType] : undefined;
}
