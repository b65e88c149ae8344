/**
 * Runs an ONNX graph (mlc IR) in tfjs, op by op, eagerly, so that tfjs's autodiff can train its
 * weights. Float32 initializers become trainable tf.Variables; everything else is a constant.
 *
 * Op set (domain ai.onnx unless noted):
 *   linear      Gemm, MatMul, Conv (1-D/2-D, groups, dilations, auto_pad)
 *   elementwise Add Sub Mul Div Pow Sum Mean Max Min PRelu Where Equal Greater Less Not,
 *               Relu LeakyRelu Sigmoid HardSigmoid HardSwish Tanh Erf Gelu (and com.microsoft
 *               Gelu / FastGelu) Elu Selu Softplus Softsign Exp Log Neg Abs Sqrt Reciprocal
 *               Floor Ceil Clip Identity Dropout (inference semantics: identity)
 *   normalize   Softmax LogSoftmax BatchNormalization (inference: running statistics, only scale
 *               and bias train) LayerNormalization InstanceNormalization
 *   pooling     MaxPool AveragePool (1-D/2-D, ceil_mode, count_include_pad) GlobalAveragePool
 *               GlobalMaxPool
 *   shape       Flatten Reshape Transpose Concat Split Slice Squeeze Unsqueeze Gather Shape Cast
 *               Pad (constant, reflect) Expand Tile ReduceMean ReduceSum ReduceMax ReduceMin
 *               Constant ConstantOfShape
 * Anything else is MlcError('UNSUPPORTED') naming the op and the node, raised when the graph is
 * compiled (before any training starts).
 *
 * Layout. ONNX is NCHW; tfjs convolutions and pools are NHWC. A value may be held in either form:
 * Conv / pools / BatchNormalization / elementwise ops work on the NHWC form when they have it, and
 * the NCHW form is made (one transpose, cached) only when an op needs ONNX layout (Flatten, Reshape,
 * a graph output, ...). A Conv → Relu → MaxPool → Conv chain thus never transposes activations.
 *
 * Conv filter gradients. The wasm backend has no Conv2DBackpropFilter kernel. Without it, Conv runs
 * through a tf.customGrad whose filter gradient is itself a convolution (input channels as the
 * batch, the output gradient as the filter; see convFilterGrad) and whose input gradient is a
 * transposed convolution — kernels wasm has. With the kernel (cpu, tfjs-node) tfjs's own
 * gradient is used, except for dilated convs (tfjs's gradient refuses dilations). Depthwise /
 * grouped Conv without native filter gradients is split per group.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { MlcError } from '../core/errors.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { AttrType, Node, attrFloat, attrInt, attrInts, attrString, getAttr } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import { shapeOf } from '../ir/types.js';
import { hasKernel, type Tf } from './backend.js';

type TT = tfjs.Tensor;

export interface ExecutorOptions {
  /** Which initializers train. Default: see `defaultTrainable`. */
  trainable?: (name: string, tensor: Tensor, graph: Graph) => boolean;
  /** Override kernel detection (tests): whether the backend has Conv filter-gradient kernels. */
  nativeConvFilterGrad?: boolean;
}


const INT32_MAX = 2147483647;

/**
 * Default trainable set: float32 initializers that have at least 2 elements
 * (scalars are constants of the math: Gelu's 0.5, LayerNorm decompositions' epsilon), and are not
 * BatchNormalization running statistics.
 */
export function defaultTrainable(name: string, tensor: Tensor, graph: Graph): boolean {
  if (tensor.dtype !== DataType.FLOAT || tensor.size < 2) return false;
  for (const c of graph.consumers(name)) {
    if (c.opType === 'BatchNormalization' && (c.inputs[3] === name || c.inputs[4] === name)) return false;
  }
  return true;
}

/** A value during one run: ONNX-layout form and/or NHWC form (rank-4 only). */
class Values {
  private nchw = new Map<string, TT>();
  private nhwc = new Map<string, TT>();
  constructor(
    private tf: Tf,
    private consts: Map<string, TT>,
  ) {}

  has(name: string): boolean {
    return this.nchw.has(name) || this.nhwc.has(name) || this.consts.has(name);
  }
  /** True when the value exists only in NHWC form (ops should then stay in NHWC). */
  nhwcOnly(name: string): boolean {
    return this.nhwc.has(name) && !this.nchw.has(name);
  }
  get(name: string, node?: Node): TT {
    const c = this.consts.get(name);
    if (c) return c;
    let t = this.nchw.get(name);
    if (t) return t;
    const h = this.nhwc.get(name);
    if (h) {
      t = this.tf.transpose(h, [0, 3, 1, 2]);
      this.nchw.set(name, t);
      return t;
    }
    throw new MlcError('INTERNAL', `value '${name}' is not computed${node ? ` (input of node ${nodeLabel(node)})` : ''}`);
  }
  /** NHWC form of a rank-4 value; lower-rank values are broadcast-aligned (prepend 1s) first. */
  getNHWC(name: string): TT {
    const h = this.nhwc.get(name);
    if (h) return h;
    const t = this.get(name);
    if (t.rank > 4) throw new MlcError('INTERNAL', `getNHWC: ${name} has rank ${t.rank}`);
    const t4 = t.rank === 4 ? t : this.tf.reshape(t, [...new Array<number>(4 - t.rank).fill(1), ...t.shape]);
    const r = this.tf.transpose(t4, [0, 2, 3, 1]);
    if (t.rank === 4 && !this.consts.has(name)) this.nhwc.set(name, r);
    return r;
  }
  /** ONNX-layout shape without materializing the NCHW form. */
  shape(name: string): number[] {
    const h = this.nhwc.get(name);
    if (h && !this.nchw.has(name)) {
      const [n, hh, ww, cc] = h.shape as number[];
      return [n, cc, hh, ww];
    }
    return this.get(name).shape;
  }
  set(name: string, t: TT): void {
    if (name) this.nchw.set(name, t);
  }
  setNHWC(name: string, t: TT): void {
    if (name) this.nhwc.set(name, t);
  }
}

type Exec = (v: Values) => void;
interface Compiler {
  tf: Tf;
  graph: Graph;
  opset: number;
  nativeConvGrad: boolean;
  nativeDepthwiseGrad: boolean;
  /** JS numbers of a constant input (initializer / Constant), or undefined when computed at run time. */
  constNums(name: string): number[] | undefined;
}
type Builder = (node: Node, c: Compiler) => Exec;

function nodeLabel(n: Node): string {
  return `'${n.name || '(unnamed)'}' (${n.domain ? n.domain + ':' : ''}${n.opType})`;
}

/** A node the executor cannot translate (code UNSUPPORTED); `node` and `why` name it for skip lists. */
export class UntrainableNodeError extends MlcError {
  readonly node: string;
  readonly why: string;
  constructor(node: Node, why: string) {
    super('UNSUPPORTED', `distillation cannot train node ${nodeLabel(node)}: ${why}`);
    this.node = node.name || node.opType;
    this.why = why;
  }
}

function unsupported(node: Node, why: string): MlcError {
  return new UntrainableNodeError(node, why);
}

/** Numbers of a value: from the graph's constants when possible, else read from the tensor (sync). */
function nums(v: Values, c: Compiler, name: string): number[] {
  return c.constNums(name) ?? Array.from(v.get(name).dataSync() as ArrayLike<number>);
}

function normAxis(axis: number, rank: number, node: Node): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw unsupported(node, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

function prod(xs: readonly number[]): number {
  let p = 1;
  for (const x of xs) p *= x;
  return p;
}

// ---------------------------------------------------------------------------------------------
// elementwise

function unary(f: (tf: Tf, x: TT, node: Node) => TT): Builder {
  return (node, c) => (v) => {
    const x = node.inputs[0];
    if (v.nhwcOnly(x)) v.setNHWC(node.outputs[0], f(c.tf, v.getNHWC(x), node));
    else v.set(node.outputs[0], f(c.tf, v.get(x, node), node));
  };
}

/** Binary op with numpy broadcasting; stays NHWC when an operand is NHWC-only and ranks allow. */
function binary(f: (tf: Tf, a: TT, b: TT) => TT): Builder {
  return (node, c) => (v) => {
    const [a, b] = node.inputs;
    if ((v.nhwcOnly(a) || v.nhwcOnly(b)) && v.shape(a).length <= 4 && v.shape(b).length <= 4) {
      v.setNHWC(node.outputs[0], f(c.tf, v.getNHWC(a), v.getNHWC(b)));
    } else {
      v.set(node.outputs[0], f(c.tf, v.get(a, node), v.get(b, node)));
    }
  };
}

function variadic(f: (tf: Tf, xs: TT[]) => TT): Builder {
  return (node, c) => (v) => {
    v.set(node.outputs[0], f(c.tf, node.inputs.filter((x) => x).map((x) => v.get(x, node))));
  };
}

function gelu(tf: Tf, x: TT, approximate: string): TT {
  if (approximate === 'tanh') {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

// ---------------------------------------------------------------------------------------------
// convolution and pooling

/** [begin_h, begin_w, end_h, end_w] per ONNX auto_pad / pads. */
function spatialPads(
  node: Node,
  inHW: number[],
  kHW: number[],
  strides: number[],
  dil: number[],
): number[] {
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const r = inHW.length;
  if (autoPad === 'NOTSET') return attrInts(node, 'pads') ?? new Array<number>(2 * r).fill(0);
  if (autoPad === 'VALID') return new Array<number>(2 * r).fill(0);
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') throw unsupported(node, `auto_pad ${autoPad}`);
  const pads = new Array<number>(2 * r).fill(0);
  for (let i = 0; i < r; i++) {
    const out = Math.ceil(inHW[i] / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kHW[i] - 1) * dil[i] + 1 - inHW[i]);
    const small = Math.floor(total / 2);
    pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
    pads[i + r] = total - pads[i];
  }
  return pads;
}

/** dW of a VALID conv (x already padded), NHWC: dW[i,j,ci,co] = Σ x[n, y·s + i·d, ..., ci] dy[n, y, ..., co]. */
function convFilterGrad(tf: Tf, x: TT, dy: TT, kh: number, kw: number, strides: [number, number], dil: [number, number]): TT {
  // input channels as the batch, the batch as channels; dy as the filter. tfjs needs stride or
  // dilation to be 1, which holds because the forward conv already needs that.
  const xT = tf.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, N]
  const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
  let g = tf.conv2d(xT as tfjs.Tensor4D, dyT as tfjs.Tensor4D, dil, 'valid', 'NHWC', strides); // [Ci, ≥kh, ≥kw, Co]
  if (g.shape[1] !== kh || g.shape[2] !== kw) g = tf.slice(g, [0, 0, 0, 0], [-1, kh, kw, -1]);
  return tf.transpose(g, [1, 2, 0, 3]);
}

/** dX of a VALID conv (x already padded), for stride 1 with dilation (conv2dTranspose has none). */
function convInputGradDilated(tf: Tf, dy: TT, f: TT, dil: [number, number]): TT {
  const [kh, kw] = f.shape;
  const ph = (kh - 1) * dil[0];
  const pw = (kw - 1) * dil[1];
  const dyp = tf.pad(dy, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
  const fl = tf.transpose(tf.reverse(f, [0, 1]), [0, 1, 3, 2]); // [kh, kw, Co, Ci], flipped
  return tf.conv2d(dyp as tfjs.Tensor4D, fl as tfjs.Tensor4D, 1, 'valid', 'NHWC', dil);
}

/** VALID NHWC conv2d with a gradient that exists on the active backend. */
function conv2dValid(c: Compiler, x: TT, f: TT, strides: [number, number], dil: [number, number]): TT {
  const tf = c.tf;
  // tfjs's own conv2d gradient refuses dilations > 1, so dilated convs always take the custom one
  if (c.nativeConvGrad && dil[0] === 1 && dil[1] === 1) return tf.conv2d(x as tfjs.Tensor4D, f as tfjs.Tensor4D, strides, 'valid', 'NHWC', dil);
  const op = tf.customGrad(((xx: TT, ff: TT, save: (t: TT[]) => void) => {
    save([xx, ff]);
    return {
      value: tf.conv2d(xx as tfjs.Tensor4D, ff as tfjs.Tensor4D, strides, 'valid', 'NHWC', dil),
      gradFunc: (dy: TT, saved: TT[]) => {
        const [sx, sf] = saved;
        const dx =
          dil[0] === 1 && dil[1] === 1
            ? tf.conv2dTranspose(dy as tfjs.Tensor4D, sf as tfjs.Tensor4D, sx.shape as [number, number, number, number], strides, 'valid')
            : convInputGradDilated(tf, dy, sf, dil);
        const [kh, kw] = sf.shape as number[];
        return [dx, convFilterGrad(tf, sx, dy, kh, kw, strides, dil)];
      },
    };
  }) as unknown as Parameters<Tf["customGrad"]>[0]);
  return op(x, f) as TT;
}

const buildConv: Builder = (node, c) => {
  const tf = c.tf;
  const group = attrInt(node, 'group', 1);
  return (v) => {
    const [X, W, B] = node.inputs;
    const xs = v.shape(X);
    const w0 = v.get(W, node);
    const rank = xs.length;
    if (rank !== 3 && rank !== 4) throw unsupported(node, `input rank ${rank} (only 1-D and 2-D convolutions)`);
    const sp = rank - 2;
    const kshape = w0.shape.slice(2);
    let strides = attrInts(node, 'strides') ?? new Array<number>(sp).fill(1);
    let dil = attrInts(node, 'dilations') ?? new Array<number>(sp).fill(1);
    let pads = spatialPads(node, xs.slice(2), kshape, strides, dil);
    let x: TT;
    let w = w0;
    if (rank === 3) {
      // 1-D: H = 1
      x = tf.expandDims(tf.transpose(v.get(X, node), [0, 2, 1]), 1);
      w = tf.expandDims(w0, 2);
      strides = [1, strides[0]];
      dil = [1, dil[0]];
      pads = [0, pads[0], 0, pads[1]];
    } else {
      x = v.getNHWC(X);
    }
    if (strides.some((s) => s > 1) && dil.some((d) => d > 1)) {
      throw unsupported(node, 'strides and dilations both > 1 (tfjs supports one or the other)');
    }
    if (pads.some((p) => p !== 0)) x = tf.pad(x, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]]);
    const cin = (x.shape as number[])[3];
    const ws = w.shape as number[];
    const cout = ws[0];
    if (ws[1] * group !== cin) throw unsupported(node, `weight ${W} has ${ws[1]} input channels × group ${group} ≠ ${cin}`);
    const st = strides as [number, number];
    const dl = dil as [number, number];
    let y: TT;
    if (group === 1) {
      y = conv2dValid(c, x, tf.transpose(w, [2, 3, 1, 0]), st, dl);
    } else if (group === cin && cout % group === 0 && c.nativeDepthwiseGrad) {
      const mult = cout / group;
      const f = tf.transpose(tf.reshape(w, [group, mult, ws[2], ws[3]]), [2, 3, 0, 1]);
      y = tf.depthwiseConv2d(x as tfjs.Tensor4D, f as tfjs.Tensor4D, st, 'valid', 'NHWC', dl);
    } else {
      if (cout % group !== 0) throw unsupported(node, `${cout} output channels not divisible by group ${group}`);
      const xsGroups = tf.split(x, group, 3);
      const wsGroups = tf.split(w, group, 0);
      y = tf.concat(
        xsGroups.map((xg, i) => conv2dValid(c, xg, tf.transpose(wsGroups[i], [2, 3, 1, 0]), st, dl)),
        3,
      );
    }
    if (B) y = tf.add(y, v.get(B, node));
    if (rank === 3) v.set(node.outputs[0], tf.transpose(tf.squeeze(y, [1]), [0, 2, 1]));
    else v.setNHWC(node.outputs[0], y);
  };
};

function buildPool(kind: 'max' | 'avg'): Builder {
  return (node, c) => {
    const tf = c.tf;
    const k0 = attrInts(node, 'kernel_shape');
    if (!k0) throw unsupported(node, 'no kernel_shape');
    if (k0.length !== 1 && k0.length !== 2) throw unsupported(node, `${k0.length}-D pooling (only 1-D and 2-D)`);
    const sp = k0.length;
    if ((attrInts(node, 'dilations') ?? []).some((d) => d !== 1)) throw unsupported(node, 'pooling dilations');
    if (node.outputs[1]) throw unsupported(node, 'the Indices output');
    const strides0 = attrInts(node, 'strides') ?? new Array<number>(sp).fill(1);
    const ceil = attrInt(node, 'ceil_mode', 0) === 1;
    const includePad = attrInt(node, 'count_include_pad', 0) === 1;
    // 1-D pooling runs as 2-D with H = 1
    const k = sp === 1 ? [1, k0[0]] : k0;
    const strides = sp === 1 ? [1, strides0[0]] : strides0;
    return (v) => {
      const xs0 = v.shape(node.inputs[0]);
      if (xs0.length !== sp + 2) throw unsupported(node, `input rank ${xs0.length} for ${sp}-D pooling`);
      const p0 = spatialPads(node, xs0.slice(2), k0, strides0, new Array<number>(sp).fill(1));
      const pads = sp === 1 ? [0, p0[0], 0, p0[1]] : p0;
      const xs = sp === 1 ? [xs0[0], xs0[1], 1, xs0[2]] : xs0;
      if (ceil) {
        for (let i = 0; i < 2; i++) {
          const span = xs[2 + i] + pads[i] + pads[i + 2] - k[i];
          let out = Math.ceil(span / strides[i]) + 1;
          if ((out - 1) * strides[i] >= xs[2 + i] + pads[i]) out--; // last window must start inside
          pads[i + 2] += Math.max(0, (out - 1) * strides[i] + k[i] - (xs[2 + i] + pads[i] + pads[i + 2]));
        }
      }
      let x = sp === 1 ? tf.expandDims(tf.transpose(v.get(node.inputs[0], node), [0, 2, 1]), 1) : v.getNHWC(node.inputs[0]);
      const padded = pads.some((p) => p !== 0);
      const padSpec: [number, number][] = [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]];
      const kk = k as [number, number];
      const ss = strides as [number, number];
      let y: TT;
      if (kind === 'max') {
        if (padded) x = tf.pad(x, padSpec, -3.4e38);
        y = tf.maxPool(x as tfjs.Tensor4D, kk, ss, 'valid');
      } else if (!padded) {
        y = tf.avgPool(x as tfjs.Tensor4D, kk, ss, 'valid');
      } else {
        y = tf.avgPool(tf.pad(x, padSpec) as tfjs.Tensor4D, kk, ss, 'valid');
        if (!includePad) {
          // average over real elements only: divide by the share of the window inside the input
          const ones = tf.pad(tf.ones([1, xs[2], xs[3], 1]), padSpec);
          y = tf.div(y, tf.avgPool(ones as tfjs.Tensor4D, kk, ss, 'valid'));
        }
      }
      if (sp === 1) v.set(node.outputs[0], tf.transpose(tf.squeeze(y, [1]), [0, 2, 1]));
      else v.setNHWC(node.outputs[0], y);
    };
  };
}

function buildGlobalPool(kind: 'max' | 'avg'): Builder {
  return (node, c) => (v) => {
    const tf = c.tf;
    const X = node.inputs[0];
    const f = (t: TT, axes: number[]) => (kind === 'avg' ? tf.mean(t, axes, true) : tf.max(t, axes, true));
    if (v.nhwcOnly(X)) v.setNHWC(node.outputs[0], f(v.getNHWC(X), [1, 2]));
    else {
      const x = v.get(X, node);
      v.set(node.outputs[0], f(x, Array.from({ length: x.rank - 2 }, (_, i) => i + 2)));
    }
  };
}

// ---------------------------------------------------------------------------------------------
// normalization

const buildBatchNorm: Builder = (node, c) => {
  const tf = c.tf;
  const eps = attrFloat(node, 'epsilon', 1e-5);
  if (node.outputs.slice(1).some((o) => o)) throw unsupported(node, 'training-mode outputs (running mean / var)');
  return (v) => {
    const [X, S, B, M, V] = node.inputs;
    const nhwc = v.nhwcOnly(X);
    const x = nhwc ? v.getNHWC(X) : v.get(X, node);
    const shape = nhwc ? [-1] : [-1, ...new Array<number>(Math.max(0, x.rank - 2)).fill(1)];
    const p = (n: string) => tf.reshape(v.get(n, node), shape);
    const inv = tf.div(p(S), tf.sqrt(tf.add(p(V), eps)));
    const y = tf.add(tf.mul(tf.sub(x, p(M)), inv), p(B));
    if (nhwc) v.setNHWC(node.outputs[0], y);
    else v.set(node.outputs[0], y);
  };
};

const buildLayerNorm: Builder = (node, c) => {
  const tf = c.tf;
  const eps = attrFloat(node, 'epsilon', 1e-5);
  return (v) => {
    const [X, S, B] = node.inputs;
    const x = v.get(X, node);
    const axis = normAxis(attrInt(node, 'axis', -1), x.rank, node);
    const axes = Array.from({ length: x.rank - axis }, (_, i) => axis + i);
    const { mean, variance } = tf.moments(x, axes, true);
    const invStd = tf.rsqrt(tf.add(variance, eps));
    let y = tf.mul(tf.sub(x, mean), invStd);
    if (S) y = tf.mul(y, v.get(S, node));
    if (B) y = tf.add(y, v.get(B, node));
    v.set(node.outputs[0], y);
    if (node.outputs[1]) v.set(node.outputs[1], mean);
    if (node.outputs[2]) v.set(node.outputs[2], invStd);
  };
};

const buildInstanceNorm: Builder = (node, c) => {
  const tf = c.tf;
  const eps = attrFloat(node, 'epsilon', 1e-5);
  return (v) => {
    const [X, S, B] = node.inputs;
    const x = v.get(X, node);
    const axes = Array.from({ length: x.rank - 2 }, (_, i) => i + 2);
    const { mean, variance } = tf.moments(x, axes, true);
    const shape = [-1, ...new Array<number>(x.rank - 2).fill(1)];
    const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    v.set(node.outputs[0], tf.add(tf.mul(y, tf.reshape(v.get(S, node), shape)), tf.reshape(v.get(B, node), shape)));
  };
};

function buildSoftmax(kind: 'softmax' | 'log'): Builder {
  return (node, c) => {
    const tf = c.tf;
    const f = (t: TT) => (kind === 'softmax' ? tf.softmax(t) : tf.logSoftmax(t));
    return (v) => {
      const x = v.get(node.inputs[0], node);
      if (c.opset < 13) {
        // coerce to 2-D at axis (default 1)
        const axis = normAxis(attrInt(node, 'axis', 1), x.rank, node);
        const y = f(tf.reshape(x, [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))]));
        v.set(node.outputs[0], tf.reshape(y, x.shape));
        return;
      }
      const axis = normAxis(attrInt(node, 'axis', -1), x.rank, node);
      if (axis === x.rank - 1) {
        v.set(node.outputs[0], f(x));
      } else {
        const perm = Array.from({ length: x.rank }, (_, i) => i);
        perm[axis] = x.rank - 1;
        perm[x.rank - 1] = axis;
        v.set(node.outputs[0], tf.transpose(f(tf.transpose(x, perm)), perm));
      }
    };
  };
}

// ---------------------------------------------------------------------------------------------
// linear

const buildGemm: Builder = (node, c) => {
  const tf = c.tf;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const tA = attrInt(node, 'transA', 0) === 1;
  const tB = attrInt(node, 'transB', 0) === 1;
  return (v) => {
    const [A, B, C] = node.inputs;
    let y = tf.matMul(v.get(A, node) as tfjs.Tensor2D, v.get(B, node) as tfjs.Tensor2D, tA, tB);
    if (alpha !== 1) y = tf.mul(y, alpha);
    if (C && beta !== 0) y = tf.add(y, beta === 1 ? v.get(C, node) : tf.mul(v.get(C, node), beta));
    v.set(node.outputs[0], y);
  };
};

function matmul(tf: Tf, a: TT, b: TT): TT {
  if (a.rank === 1 && b.rank === 1) return tf.sum(tf.mul(a, b));
  if (a.rank === 1) {
    const y = matmul(tf, tf.expandDims(a, 0), b);
    return tf.squeeze(y, [y.rank - 2]);
  }
  if (b.rank === 1) {
    const y = matmul(tf, a, tf.expandDims(b, 1));
    return tf.squeeze(y, [y.rank - 1]);
  }
  if (a.rank === 2 && b.rank === 2) return tf.matMul(a as tfjs.Tensor2D, b as tfjs.Tensor2D);
  if (b.rank === 2) {
    const k = a.shape[a.rank - 1];
    const y = tf.matMul(tf.reshape(a, [-1, k]) as tfjs.Tensor2D, b as tfjs.Tensor2D);
    return tf.reshape(y, [...a.shape.slice(0, -1), (b.shape as number[])[1]]);
  }
  // batched: equal ranks, broadcast batch dimensions explicitly
  const r = Math.max(a.rank, b.rank);
  const aa = a.rank < r ? tf.reshape(a, [...new Array<number>(r - a.rank).fill(1), ...a.shape]) : a;
  const bb = b.rank < r ? tf.reshape(b, [...new Array<number>(r - b.rank).fill(1), ...b.shape]) : b;
  const batch = aa.shape.slice(0, -2).map((d, i) => Math.max(d, bb.shape[i]));
  const ab = tf.broadcastTo(aa, [...batch, ...aa.shape.slice(-2)]);
  const bbb = tf.broadcastTo(bb, [...batch, ...bb.shape.slice(-2)]);
  const a3 = tf.reshape(ab, [-1, ...aa.shape.slice(-2)]) as unknown as tfjs.Tensor3D;
  const b3 = tf.reshape(bbb, [-1, ...bb.shape.slice(-2)]) as unknown as tfjs.Tensor3D;
  const y = tf.matMul(a3, b3);
  return tf.reshape(y, [...batch, aa.shape[r - 2], bb.shape[r - 1]]);
}

// ---------------------------------------------------------------------------------------------
// shape ops

function reshapeTarget(inShape: number[], spec: number[], allowZero: boolean, node: Node): number[] {
  const out = spec.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const minus = out.indexOf(-1);
  if (minus >= 0) {
    const known = prod(out.filter((_, i) => i !== minus));
    out[minus] = known === 0 ? 0 : prod(inShape) / known;
    if (!Number.isInteger(out[minus])) throw unsupported(node, `cannot reshape [${inShape}] to [${spec}]`);
  }
  return out;
}

function onnxAxes(v: Values, c: Compiler, node: Node, inputIndex: number, attrSince: number): number[] | undefined {
  if (c.opset < attrSince) return attrInts(node, 'axes');
  const name = node.inputs[inputIndex];
  return name ? nums(v, c, name) : undefined;
}

function buildReduce(kind: 'mean' | 'sum' | 'max' | 'min'): Builder {
  return (node, c) => {
    const tf = c.tf;
    const keep = attrInt(node, 'keepdims', 1) === 1;
    const noop = attrInt(node, 'noop_with_empty_axes', 0) === 1;
    const since = kind === 'sum' ? 13 : 18;
    return (v) => {
      const x = v.get(node.inputs[0], node);
      let axes = onnxAxes(v, c, node, 1, since);
      if (!axes || axes.length === 0) {
        if (noop) {
          v.set(node.outputs[0], x);
          return;
        }
        axes = Array.from({ length: x.rank }, (_, i) => i);
      }
      axes = axes.map((a) => normAxis(a, x.rank, node));
      const f = { mean: tf.mean, sum: tf.sum, max: tf.max, min: tf.min }[kind];
      v.set(node.outputs[0], f(x, axes, keep));
    };
  };
}

const buildSlice: Builder = (node, c) => {
  const tf = c.tf;
  return (v) => {
    const x = v.get(node.inputs[0], node);
    let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
    if (c.opset < 10) {
      starts = attrInts(node, 'starts') ?? [];
      ends = attrInts(node, 'ends') ?? [];
      axes = attrInts(node, 'axes');
    } else {
      starts = nums(v, c, node.inputs[1]);
      ends = nums(v, c, node.inputs[2]);
      axes = node.inputs[3] ? nums(v, c, node.inputs[3]) : undefined;
      steps = node.inputs[4] ? nums(v, c, node.inputs[4]) : undefined;
    }
    const r = x.rank;
    const begin = new Array<number>(r).fill(0);
    const end = [...x.shape];
    const stride = new Array<number>(r).fill(1);
    let endMask = 0;
    (axes ?? starts.map((_, i) => i)).forEach((a0, i) => {
      const a = normAxis(a0, r, node);
      const dim = x.shape[a];
      const st = steps?.[i] ?? 1;
      if (st === 0) throw unsupported(node, 'step 0');
      let s = starts[i] < 0 ? starts[i] + dim : starts[i];
      let e = ends[i] < 0 ? ends[i] + dim : ends[i];
      if (st > 0) {
        s = Math.min(Math.max(s, 0), dim);
        e = Math.min(Math.max(e, 0), dim);
      } else {
        s = Math.min(Math.max(s, 0), dim - 1);
        e = Math.min(Math.max(e, -1), dim - 1);
        if (e === -1) endMask |= 1 << a;
      }
      begin[a] = s;
      end[a] = e;
      stride[a] = st;
    });
    v.set(node.outputs[0], tf.stridedSlice(x, begin, end, stride, 0, endMask));
  };
};

const buildPad: Builder = (node, c) => {
  const tf = c.tf;
  const mode = attrString(node, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect') throw unsupported(node, `pad mode ${mode}`);
  return (v) => {
    const x = v.get(node.inputs[0], node);
    let pads: number[];
    let value = 0;
    let axes: number[] | undefined;
    if (c.opset < 11) {
      pads = attrInts(node, 'pads') ?? [];
      value = attrFloat(node, 'value', 0);
    } else {
      pads = nums(v, c, node.inputs[1]);
      if (node.inputs[2]) value = nums(v, c, node.inputs[2])[0] ?? 0;
      if (node.inputs[3]) axes = nums(v, c, node.inputs[3]).map((a) => normAxis(a, x.rank, node));
    }
    const spec: [number, number][] = x.shape.map(() => [0, 0]);
    const ax = axes ?? x.shape.map((_, i) => i);
    ax.forEach((a, i) => (spec[a] = [pads[i], pads[i + ax.length]]));
    if (spec.some(([b, e]) => b < 0 || e < 0)) throw unsupported(node, 'negative pads');
    v.set(node.outputs[0], mode === 'constant' ? tf.pad(x, spec, value) : tf.mirrorPad(x, spec, 'reflect'));
  };
};

function tfDtypeOf(to: number, node: Node): 'float32' | 'int32' | 'bool' {
  switch (to) {
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 'float32';
    case DataType.BOOL:
      return 'bool';
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.INT64:
    case DataType.UINT32:
    case DataType.UINT64:
      return 'int32';
    default:
      throw unsupported(node, `cast to dtype ${to}`);
  }
}

/** tfjs tensor of an IR tensor (float types → float32, integers → int32 clamped, bool). */
export function toTf(tf: Tf, t: Tensor): TT {
  const dims = [...t.dims];
  if (t.dtype === DataType.FLOAT) return tf.tensor((t.data as Float32Array).slice(), dims, 'float32');
  if (t.isFloat) return tf.tensor(t.toFloat32(), dims, 'float32');
  if (t.dtype === DataType.BOOL) return tf.tensor(Uint8Array.from(t.data as Uint8Array), dims, 'bool');
  if (t.dtype === DataType.STRING || (t.dtype >= DataType.COMPLEX64 && t.dtype !== DataType.BFLOAT16 && t.dtype !== DataType.UINT64)) {
    throw new MlcError('UNSUPPORTED', `tensor '${t.name}' of dtype ${t.dtype} cannot be used in tfjs`);
  }
  const n = t.toNumbers();
  const i32 = new Int32Array(n.length);
  for (let i = 0; i < n.length; i++) i32[i] = Math.max(-INT32_MAX - 1, Math.min(INT32_MAX, n[i]));
  return tf.tensor(i32, dims, 'int32');
}

function constantAttrTensor(node: Node): Tensor {
  const a = node.attributes[0];
  if (!a) throw unsupported(node, 'Constant without a value');
  if (a.value instanceof Tensor) return a.value;
  switch (a.name) {
    case 'value_float':
      return Tensor.float32(node.outputs[0], [], [a.value as number]);
    case 'value_floats':
      return Tensor.float32(node.outputs[0], [(a.value as number[]).length], a.value as number[]);
    case 'value_int':
      return Tensor.int64(node.outputs[0], [], [a.value as number]);
    case 'value_ints':
      return Tensor.int64(node.outputs[0], [(a.value as number[]).length], a.value as number[]);
    default:
      throw unsupported(node, `Constant attribute ${a.name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// the op table

const OPS: Record<string, Builder> = {
  Identity: (node) => (v) => {
    const x = node.inputs[0];
    if (v.nhwcOnly(x)) v.setNHWC(node.outputs[0], v.getNHWC(x));
    else v.set(node.outputs[0], v.get(x, node));
  },
  Dropout: (node, c) => {
    const tm = node.inputs[2];
    if (tm && !(c.constNums(tm)?.[0] === 0)) throw unsupported(node, 'Dropout in training mode (random) — only inference Dropout (identity) is supported');
    return (v) => {
    const x = node.inputs[0];
    if (v.nhwcOnly(x)) v.setNHWC(node.outputs[0], v.getNHWC(x));
    else v.set(node.outputs[0], v.get(x, node));
    if (node.outputs[1]) v.set(node.outputs[1], c.tf.onesLike(v.get(x)).cast('bool'));
    };
  },
  Relu: unary((tf, x) => tf.relu(x)),
  LeakyRelu: unary((tf, x, n) => tf.leakyRelu(x, attrFloat(n, 'alpha', 0.01))),
  Sigmoid: unary((tf, x) => tf.sigmoid(x)),
  HardSigmoid: unary((tf, x, n) =>
    tf.clipByValue(tf.add(tf.mul(x, attrFloat(n, 'alpha', 0.2)), attrFloat(n, 'beta', 0.5)), 0, 1),
  ),
  HardSwish: unary((tf, x) => tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, 1 / 6), 0.5), 0, 1))),
  Tanh: unary((tf, x) => tf.tanh(x)),
  Erf: unary((tf, x) => tf.erf(x)),
  Gelu: unary((tf, x, n) => gelu(tf, x, attrString(n, 'approximate', 'none'))),
  'com.microsoft:Gelu': unary((tf, x) => gelu(tf, x, 'none')),
  'com.microsoft:FastGelu': (node, c) => (v) => {
    let x = v.get(node.inputs[0], node);
    if (node.inputs[1]) x = c.tf.add(x, v.get(node.inputs[1], node));
    v.set(node.outputs[0], gelu(c.tf, x, 'tanh'));
  },
  Elu: unary((tf, x, n) => {
    const alpha = attrFloat(n, 'alpha', 1);
    return alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(tf.sub(tf.exp(x), 1), alpha));
  }),
  Selu: unary((tf, x, n) => {
    const alpha = attrFloat(n, 'alpha', 1.67326319217681884765625);
    const gamma = attrFloat(n, 'gamma', 1.05070102214813232421875);
    return tf.mul(tf.where(tf.greater(x, 0), x, tf.mul(tf.sub(tf.exp(x), 1), alpha)), gamma);
  }),
  Softplus: unary((tf, x) => tf.softplus(x)),
  Softsign: unary((tf, x) => tf.div(x, tf.add(tf.abs(x), 1))),
  Exp: unary((tf, x) => tf.exp(x)),
  Log: unary((tf, x) => tf.log(x)),
  Neg: unary((tf, x) => tf.neg(x)),
  Abs: unary((tf, x) => tf.abs(x)),
  Sqrt: unary((tf, x) => tf.sqrt(x)),
  Reciprocal: unary((tf, x) => tf.reciprocal(x)),
  Floor: unary((tf, x) => tf.floor(x)),
  Ceil: unary((tf, x) => tf.ceil(x)),
  Not: unary((tf, x) => tf.logicalNot(x)),
  Clip: (node, c) => (v) => {
    let lo = -Infinity;
    let hi = Infinity;
    if (c.opset < 11) {
      lo = attrFloat(node, 'min', -3.4028234663852886e38);
      hi = attrFloat(node, 'max', 3.4028234663852886e38);
    } else {
      if (node.inputs[1]) lo = nums(v, c, node.inputs[1])[0];
      if (node.inputs[2]) hi = nums(v, c, node.inputs[2])[0];
    }
    const x = node.inputs[0];
    const f = (t: TT) => c.tf.clipByValue(t, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38));
    if (v.nhwcOnly(x)) v.setNHWC(node.outputs[0], f(v.getNHWC(x)));
    else v.set(node.outputs[0], f(v.get(x, node)));
  },
  Add: binary((tf, a, b) => tf.add(a, b)),
  Sub: binary((tf, a, b) => tf.sub(a, b)),
  Mul: binary((tf, a, b) => tf.mul(a, b)),
  Div: binary((tf, a, b) => (a.dtype === 'int32' && b.dtype === 'int32' ? tf.floorDiv(a, b) : tf.div(a, b))),
  Pow: (node, c) => {
    const e = c.constNums(node.inputs[1]);
    return e?.length === 1 && e[0] === 2 ? unary((tf, x) => tf.square(x))(node, c) : binary((tf, a, b) => tf.pow(a, b))(node, c);
  },
  PRelu: binary((tf, a, b) => tf.where(tf.less(a, 0), tf.mul(a, b), a)),
  Equal: binary((tf, a, b) => tf.equal(a, b)),
  Greater: binary((tf, a, b) => tf.greater(a, b)),
  Less: binary((tf, a, b) => tf.less(a, b)),
  Sum: variadic((tf, xs) => xs.reduce((a, b) => tf.add(a, b))),
  Mean: variadic((tf, xs) => tf.div(xs.reduce((a, b) => tf.add(a, b)), xs.length)),
  Max: variadic((tf, xs) => xs.reduce((a, b) => tf.maximum(a, b))),
  Min: variadic((tf, xs) => xs.reduce((a, b) => tf.minimum(a, b))),
  Where: (node, c) => (v) => {
    const [C, A, B] = node.inputs.map((n) => v.get(n, node));
    const shape = c.tf.broadcastArgs(c.tf.broadcastArgs(C.shape, A.shape), B.shape).arraySync() as number[];
    const bt = (t: TT) => (t.shape.join() === shape.join() ? t : c.tf.broadcastTo(t, shape));
    v.set(node.outputs[0], c.tf.where(bt(C), bt(A), bt(B)));
  },
  Gemm: buildGemm,
  MatMul: (node, c) => (v) => v.set(node.outputs[0], matmul(c.tf, v.get(node.inputs[0], node), v.get(node.inputs[1], node))),
  Conv: buildConv,
  MaxPool: buildPool('max'),
  AveragePool: buildPool('avg'),
  GlobalAveragePool: buildGlobalPool('avg'),
  GlobalMaxPool: buildGlobalPool('max'),
  BatchNormalization: buildBatchNorm,
  LayerNormalization: buildLayerNorm,
  InstanceNormalization: buildInstanceNorm,
  Softmax: buildSoftmax('softmax'),
  LogSoftmax: buildSoftmax('log'),
  Flatten: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const axis = attrInt(node, 'axis', 1);
    const a = axis < 0 ? axis + x.rank : axis;
    v.set(node.outputs[0], c.tf.reshape(x, [prod(x.shape.slice(0, a)), prod(x.shape.slice(a))]));
  },
  Reshape: (node, c) => {
    const allowZero = attrInt(node, 'allowzero', 0) === 1;
    return (v) => {
      const x = v.get(node.inputs[0], node);
      const spec = c.opset < 5 ? (attrInts(node, 'shape') ?? []) : nums(v, c, node.inputs[1]);
      v.set(node.outputs[0], c.tf.reshape(x, reshapeTarget(x.shape, spec, allowZero, node)));
    };
  },
  Transpose: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const perm = attrInts(node, 'perm') ?? Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
    v.set(node.outputs[0], c.tf.transpose(x, perm));
  },
  Concat: (node, c) => (v) => {
    const ins = node.inputs.filter((x) => x);
    const rank = v.shape(ins[0]).length;
    const axis = normAxis(attrInt(node, 'axis', 0), rank, node);
    if (rank === 4 && axis === 1 && ins.every((x) => v.nhwcOnly(x))) {
      v.setNHWC(node.outputs[0], c.tf.concat(ins.map((x) => v.getNHWC(x)), 3));
      return;
    }
    const ts = ins.map((x) => v.get(x, node)).filter((t) => t.size > 0 || ins.length === 1);
    v.set(node.outputs[0], ts.length === 1 ? ts[0] : c.tf.concat(ts, axis));
  },
  Split: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const axis = normAxis(attrInt(node, 'axis', 0), x.rank, node);
    let sizes = c.opset < 13 ? attrInts(node, 'split') : node.inputs[1] ? nums(v, c, node.inputs[1]) : undefined;
    if (!sizes) {
      const n = node.outputs.length;
      const each = Math.ceil(x.shape[axis] / n);
      sizes = Array.from({ length: n }, (_, i) => Math.min(each, x.shape[axis] - i * each));
    }
    const parts = c.tf.split(x, sizes, axis);
    node.outputs.forEach((o, i) => v.set(o, parts[i]));
  },
  Slice: buildSlice,
  Squeeze: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const axes = onnxAxes(v, c, node, 1, 13);
    v.set(node.outputs[0], c.tf.squeeze(x, axes?.map((a) => normAxis(a, x.rank, node))));
  },
  Unsqueeze: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const axes = onnxAxes(v, c, node, 1, 13) ?? [];
    const outRank = x.rank + axes.length;
    const norm = new Set(axes.map((a) => (a < 0 ? a + outRank : a)));
    const shape: number[] = [];
    let k = 0;
    for (let i = 0; i < outRank; i++) shape.push(norm.has(i) ? 1 : x.shape[k++]);
    v.set(node.outputs[0], c.tf.reshape(x, shape));
  },
  Gather: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const axis = normAxis(attrInt(node, 'axis', 0), x.rank, node);
    const idxT = v.get(node.inputs[1], node);
    const dim = x.shape[axis];
    const idx = Int32Array.from(idxT.dataSync() as ArrayLike<number>, (i) => (i < 0 ? i + dim : i));
    const y = c.tf.gather(x, c.tf.tensor(idx, idxT.shape.length ? idxT.shape : [1], 'int32'), axis);
    v.set(node.outputs[0], idxT.rank === 0 ? c.tf.squeeze(y, [axis]) : y);
  },
  Shape: (node, c) => (v) => {
    const s = v.shape(node.inputs[0]);
    const r = s.length;
    const clampA = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    const start = clampA(attrInt(node, 'start', 0));
    const end = clampA(attrInt(node, 'end', r));
    v.set(node.outputs[0], c.tf.tensor(s.slice(start, end), [Math.max(0, end - start)], 'int32'));
  },
  Cast: (node, c) => (v) => {
    const to = tfDtypeOf(attrInt(node, 'to', DataType.FLOAT), node);
    const x = node.inputs[0];
    if (v.nhwcOnly(x)) v.setNHWC(node.outputs[0], c.tf.cast(v.getNHWC(x), to));
    else v.set(node.outputs[0], c.tf.cast(v.get(x, node), to));
  },
  Pad: buildPad,
  Expand: (node, c) => (v) => {
    const x = v.get(node.inputs[0], node);
    const shape = nums(v, c, node.inputs[1]);
    const r = Math.max(x.rank, shape.length);
    const xs = [...new Array<number>(r - x.rank).fill(1), ...x.shape];
    const ss = [...new Array<number>(r - shape.length).fill(1), ...shape];
    const out = xs.map((d, i) => (d === 1 ? ss[i] : d));
    v.set(node.outputs[0], c.tf.broadcastTo(x.rank === r ? x : c.tf.reshape(x, xs), out));
  },
  Tile: (node, c) => (v) => v.set(node.outputs[0], c.tf.tile(v.get(node.inputs[0], node), nums(v, c, node.inputs[1]))),
  ReduceMean: buildReduce('mean'),
  ReduceSum: buildReduce('sum'),
  ReduceMax: buildReduce('max'),
  ReduceMin: buildReduce('min'),
  Constant: () => () => {
    /* materialized as a constant when compiling */
  },
  Range: (node, c) => (v) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => nums(v, c, node.inputs[i])[0]);
    if (delta === 0) throw unsupported(node, 'delta 0');
    const dtype = v.get(node.inputs[0], node).dtype === 'float32' ? 'float32' : 'int32';
    v.set(node.outputs[0], c.tf.range(start, limit, delta, dtype));
  },
  ConstantOfShape: (node, c) => (v) => {
    const shape = nums(v, c, node.inputs[0]);
    const a = getAttr(node, 'value');
    const t = a?.value instanceof Tensor ? toTf(c.tf, a.value) : c.tf.scalar(0);
    v.set(node.outputs[0], c.tf.fill(shape, t.dataSync()[0] as number, t.dtype));
  },
};

/** Ops the executor translates (the documented set), keyed as `opType` or `domain:opType`. */
export const SUPPORTED_OPS: readonly string[] = Object.keys(OPS).sort();

function opKey(node: Node): string {
  const d = node.domain === 'ai.onnx' ? '' : node.domain;
  return d ? `${d}:${node.opType}` : node.opType;
}

/**
 * The nodes of `model`'s main graph the executor has no translation for (control flow, ops outside
 * the table), with the reason: what a caller can check before any training work. Nodes it does
 * translate may still be refused later for an attribute form (GraphExecutor throws
 * UntrainableNodeError then).
 */
export function untrainableNodes(model: Model): { node: string; reason: string }[] {
  const out: { node: string; reason: string }[] = [];
  for (const n of model.graph.nodes) {
    const name = n.name || n.opType;
    if (n.attributes.some((a) => a.type === AttrType.GRAPH || a.type === AttrType.GRAPHS)) {
      out.push({ node: name, reason: `${opKey(n)}: control flow (subgraphs) cannot be trained` });
    } else if (!OPS[opKey(n)]) {
      out.push({ node: name, reason: `op ${opKey(n)} has no tfjs translation for training` });
    }
  }
  return out;
}

/** Node order in which every input is computed before use (the IR's order when it is valid). */
function executionOrder(graph: Graph): Node[] {
  const avail = new Set<string>(['', ...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  const pending = [...graph.nodes];
  const out: Node[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const n = pending[i];
      if (n.inputs.every((x) => avail.has(x))) {
        out.push(n);
        for (const o of n.outputs) avail.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const n = pending[0];
      throw new MlcError('INPUT', `node ${nodeLabel(n)} reads a value nothing produces: ${n.inputs.filter((x) => !avail.has(x)).join(', ')}`);
    }
  }
  return out;
}

/**
 * An ONNX graph compiled to tfjs closures. Create it inside no tidy scope (it owns its variables
 * and constants until `dispose()`); call `run` inside tf.tidy / optimizer.minimize.
 */
export class GraphExecutor {
  readonly tf: Tf;
  /** trainable weights by initializer name */
  readonly variables = new Map<string, tfjs.Variable>();
  readonly inputNames: string[];
  readonly outputNames: string[];
  private consts = new Map<string, TT>();
  private steps: { node: Node; exec: Exec }[] = [];
  private graph: Graph;
  private opset: number;

  constructor(tf: Tf, model: Model, opts: ExecutorOptions = {}) {
    this.tf = tf;
    const g = model.graph;
    this.graph = g;
    if (g.sparseInitializers.length) {
      throw new MlcError('UNSUPPORTED', 'distillation cannot train a model with sparse initializers; densify it first');
    }
    const opset = model.opsetVersion('') ?? 17;
    this.opset = opset;
    const compiler: Compiler = {
      tf,
      graph: g,
      opset,
      nativeConvGrad: opts.nativeConvFilterGrad ?? hasKernel(tf, 'Conv2DBackpropFilter'),
      nativeDepthwiseGrad: opts.nativeConvFilterGrad ?? hasKernel(tf, 'DepthwiseConv2dNativeBackpropFilter'),
      constNums: (name) => {
        const t = g.constantValue(name);
        return t ? Array.from(t.toNumbers()) : undefined;
      },
    };
    const order = executionOrder(g);
    for (const node of order) {
      if (node.attributes.some((a) => a.type === AttrType.GRAPH || a.type === AttrType.GRAPHS)) throw unsupported(node, 'control flow (subgraphs)');
      const b = OPS[opKey(node)];
      if (!b) throw unsupported(node, `op ${opKey(node)} is not in the supported set (${SUPPORTED_OPS.join(', ')})`);
      this.steps.push({ node, exec: b(node, compiler) });
    }
    const trainable = opts.trainable ?? defaultTrainable;
    const used = new Set(order.flatMap((n) => n.inputs));
    for (const [name, t] of g.initializers) {
      // (an initializer that is also a graph input — old exporters list weights as inputs — is
      // used as the weight it holds; mlc never feeds it)
      if (!used.has(name)) continue;
      if (trainable(name, t, g)) this.variables.set(name, tf.variable(toTf(tf, t), true));
      else this.consts.set(name, toTf(tf, t));
    }
    for (const node of order) {
      if (opKey(node) === 'Constant') this.consts.set(node.outputs[0], toTf(tf, constantAttrTensor(node)));
    }
    for (const [name, v] of this.variables) this.consts.set(name, v);
    this.inputNames = g.realInputs().map((i) => i.name);
    this.outputNames = g.outputs.map((o) => o.name);
  }

  /** Names of all trainable weights. */
  get trainableNames(): string[] {
    return [...this.variables.keys()];
  }

  /**
   * Run the graph. `feeds` by graph input name; returns the requested values (default: the graph
   * outputs) in ONNX layout. Call inside a tidy scope.
   */
  run(feeds: Record<string, TT>, outputs: string[] = this.outputNames): TT[] {
    const v = new Values(this.tf, this.consts);
    for (const name of this.inputNames) {
      const f = feeds[name];
      if (!f) throw new MlcError('INPUT', `no data for model input '${name}'`);
      v.set(name, f);
    }
    const want = new Set(outputs);
    let left = outputs.filter((o) => !v.has(o)).length;
    for (const { node, exec } of this.steps) {
      if (left === 0) break;
      try {
        exec(v);
      } catch (e) {
        if (e instanceof MlcError) throw e;
        throw new MlcError('UNSUPPORTED', `tfjs failed on node ${nodeLabel(node)}: ${(e as Error).message}`, { cause: e });
      }
      for (const o of node.outputs) if (want.has(o)) left--;
    }
    return outputs.map((o) => v.get(o));
  }

  /**
   * The value whose softmax a graph output is, when the output is a (Log)Softmax over the last
   * axis; distillation then uses it as the logits. Otherwise the output itself.
   */
  logitsOf(output: string): { name: string; fromSoftmax: boolean } {
    const p = this.graph.producer(output);
    if (p && (p.opType === 'Softmax' || p.opType === 'LogSoftmax') && !p.domain) {
      const shape = shapeOf(this.graph.outputs.find((o) => o.name === output));
      const rank = shape?.length ?? 2;
      const axis = attrInt(p, 'axis', this.opset < 13 ? 1 : -1);
      if (axis === -1 || axis === rank - 1) return { name: p.inputs[0], fromSoftmax: true };
    }
    return { name: output, fromSoftmax: false };
  }

  /** Copies of the current weights (for keeping the best checkpoint). */
  snapshot(): Map<string, Float32Array> {
    const m = new Map<string, Float32Array>();
    for (const [k, v] of this.variables) m.set(k, Float32Array.from(v.dataSync() as Float32Array));
    return m;
  }

  restore(snap: Map<string, Float32Array>): void {
    for (const [k, v] of this.variables) {
      const d = snap.get(k);
      if (d) this.tf.tidy(() => v.assign(this.tf.tensor(d, v.shape, 'float32')));
    }
  }

  /** Write the current weights into the model's initializers (same names, same shapes). */
  writeWeights(model: Model): number {
    let n = 0;
    for (const [k, v] of this.variables) {
      const t = model.graph.initializers.get(k);
      if (!t) throw new MlcError('INTERNAL', `initializer ${k} vanished from the model`);
      t.data = Float32Array.from(v.dataSync() as Float32Array);
      n++;
    }
    return n;
  }

  dispose(): void {
    for (const t of this.consts.values()) t.dispose();
    this.consts.clear();
    this.variables.clear();
  }
}
