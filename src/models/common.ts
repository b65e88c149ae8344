/**
 * Pieces shared by the model builders: a seeded normal generator, the IR version an opset needs,
 * the float16 form of a built model, and the ops exporters write for GELU and LayerNorm.
 *
 * Every builder takes `seed` (weights are a pure function of the options) and sizes, so tests use
 * small models and benchmarks real-size ones. Dynamic axes are dim_param names as exporters write
 * them: `batch`, `sequence`, `height`, `width`.
 */
import { fillNormal, seededRng } from '../core/rng.js';
import { DataType } from '../ir/dtype.js';
import type { ModelBuilder } from '../ir/builder.js';
import { Graph } from '../ir/graph.js';
import { Model } from '../ir/model.js';
import { AttrType, subgraphsOf } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import type { TypeInfo, ValueInfo } from '../ir/types.js';
import { float32ToHalfArray } from '../math/float16.js';

/** Element type of a builder's float weights, inputs and outputs. */
export type FloatType = 'float32' | 'float16';

/** Options every builder takes. */
export interface CommonOptions {
  /** seed of the weights (default 42) */
  seed?: number;
  /** main opset (default 17; 18+ writes the newer op forms, e.g. ReduceMean axes as an input) */
  opset?: number;
  /** float16 weights, inputs and outputs, as an fp16 export writes them (default float32) */
  dtype?: FloatType;
}

/** n normal(0, std) values drawn from the builder's uniform stream (core/rng's fillNormal). */
export function normalArray(rng: () => number, n: number, std: number): Float32Array {
  return fillNormal(new Float32Array(n), rng, std);
}

/** The lowest IR version that allows `opset` (ONNX's versioning table). */
export function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 12) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

/** Checks a builder's main opset is one its op forms cover. */
export function checkOpset(opset: number, min = 13): void {
  if (!Number.isInteger(opset) || opset < min || opset > 23) throw new RangeError(`opset ${opset}: builders write opsets ${min}..23`);
}

/** The built model with the IR version its opset needs, converted to float16 when asked. */
export function finish(b: ModelBuilder, opts: CommonOptions): Model {
  const m = b.build();
  m.irVersion = irVersionFor(m.opsetVersion('') ?? 17);
  if ((opts.dtype ?? 'float32') === 'float16') toFloat16(m);
  else if (opts.dtype !== 'float32' && opts.dtype !== undefined) throw new RangeError(`dtype ${String(opts.dtype)}: float32 or float16`);
  return m;
}

function halfType(t: TypeInfo | undefined): TypeInfo | undefined {
  if (!t) return t;
  if ((t.kind === 'tensor' || t.kind === 'sparse_tensor') && t.elemType === DataType.FLOAT) return { ...t, elemType: DataType.FLOAT16 };
  return t;
}

function halfTensor(t: Tensor): Tensor {
  if (t.dtype !== DataType.FLOAT) return t;
  return new Tensor(t.name, DataType.FLOAT16, t.dims, float32ToHalfArray(t.data as Float32Array), t.docString);
}

function halfGraph(g: Graph): void {
  for (const [k, t] of g.initializers) g.initializers.set(k, halfTensor(t));
  const vi = (v: ValueInfo) => ({ ...v, type: halfType(v.type) });
  g.inputs = g.inputs.map(vi);
  g.outputs = g.outputs.map(vi);
  g.valueInfo = g.valueInfo.map(vi);
  for (const n of g.nodes) {
    for (const a of n.attributes) {
      if (a.value instanceof Tensor) a.value = halfTensor(a.value);
      if (n.opType === 'Cast' && a.name === 'to' && Number(a.value) === DataType.FLOAT) a.value = DataType.FLOAT16;
      if (n.opType === 'Constant' && a.name === 'value_float') {
        // no float16 scalar attribute: a 0-D float16 tensor instead
        a.name = 'value';
        a.type = AttrType.TENSOR;
        a.value = new Tensor('', DataType.FLOAT16, [], float32ToHalfArray([a.value as number]));
      }
    }
    for (const s of subgraphsOf(n)) halfGraph(s);
  }
  g.touch();
}

/**
 * Float16 form of a float32 model, as an fp16 export writes it: float initializers, Constant
 * values, graph inputs / outputs / value_info and Cast-to-float become float16 (subgraphs too).
 * Attributes stay as they are (epsilon, alpha, ... are float attributes in ONNX whatever the
 * tensor type).
 */
export function toFloat16(m: Model): Model {
  halfGraph(m.graph);
  return m;
}

/** The element type the graph's float tensors have. */
export function floatType(opts: CommonOptions): DataType {
  return (opts.dtype ?? 'float32') === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
}

/** How exporters write GELU: 'erf' x·0.5·(1 + erf(x/√2)) (torch.onnx), 'tanh' (the tanh approximation, tf2onnx / GPT-2), 'op' Gelu (opset 20). */
export type GeluForm = 'erf' | 'tanh' | 'op';

export function gelu(b: ModelBuilder, x: string, form: GeluForm, prefix: string): string {
  if (form === 'op') return b.op('Gelu', [x], {}, { name: `${prefix}/Gelu` });
  const c = (n: string, v: number) => b.init(`${prefix}/${n}`, [], [v]);
  if (form === 'erf') {
    const erf = b.op('Erf', [b.op('Div', [x, c('sqrt2', Math.SQRT2)], {}, { name: `${prefix}/Div` })], {}, { name: `${prefix}/Erf` });
    const plus = b.op('Add', [erf, c('one', 1)], {}, { name: `${prefix}/Add` });
    return b.op('Mul', [b.op('Mul', [x, plus], {}, { name: `${prefix}/Mul` }), c('half', 0.5)], {}, { name: `${prefix}/Mul_1` });
  }
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  const cube = b.op('Pow', [x, c('three', 3)], {}, { name: `${prefix}/Pow` });
  const inner = b.op('Add', [x, b.op('Mul', [cube, c('k', 0.044715)], {}, { name: `${prefix}/Mul` })], {}, { name: `${prefix}/Add` });
  const t = b.op('Tanh', [b.op('Mul', [inner, c('s', Math.sqrt(2 / Math.PI))], {}, { name: `${prefix}/Mul_1` })], {}, { name: `${prefix}/Tanh` });
  const plus = b.op('Add', [t, c('one', 1)], {}, { name: `${prefix}/Add_1` });
  return b.op('Mul', [b.op('Mul', [x, c('half', 0.5)], {}, { name: `${prefix}/Mul_2` }), plus], {}, { name: `${prefix}/Mul_3` });
}

/**
 * Layer normalization over the last axis: the LayerNormalization op (opset 17+), or written out as
 * older exporters and tf2onnx do — ReduceMean, Sub, Pow, ReduceMean, Add ε, Sqrt, Div, Mul γ, Add β
 * (ReduceMean's axes an attribute before opset 18, an input from 18 on).
 */
export function layerNorm(
  b: ModelBuilder,
  x: string,
  gamma: string,
  beta: string,
  form: 'op' | 'decomposed',
  eps: number,
  prefix: string,
  opset: number,
): string {
  if (form === 'op') {
    return b.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: eps }, { name: `${prefix}/LayerNormalization`, types: { epsilon: AttrType.FLOAT } });
  }
  const mean = (v: string, name: string) =>
    opset >= 18
      ? b.op('ReduceMean', [v, b.ints(`${prefix}/${name}_axes`, [-1])], { keepdims: 1 }, { name: `${prefix}/${name}` })
      : b.op('ReduceMean', [v], { axes: [-1], keepdims: 1 }, { name: `${prefix}/${name}` });
  const mu = mean(x, 'ReduceMean');
  const d = b.op('Sub', [x, mu], {}, { name: `${prefix}/Sub` });
  const v = mean(b.op('Pow', [d, b.init(`${prefix}/two`, [], [2])], {}, { name: `${prefix}/Pow` }), 'ReduceMean_1');
  const sd = b.op('Sqrt', [b.op('Add', [v, b.init(`${prefix}/eps`, [], [eps])], {}, { name: `${prefix}/Add` })], {}, { name: `${prefix}/Sqrt` });
  const n = b.op('Div', [d, sd], {}, { name: `${prefix}/Div` });
  return b.op('Add', [b.op('Mul', [n, gamma], {}, { name: `${prefix}/Mul` }), beta], {}, { name: `${prefix}/Add_1` });
}

/** Seeded uniform [0, 1) (mulberry32), for sample inputs. */
export function uniformRng(seed: number): () => number {
  return seededRng(seed);
}

/** One input array of a sample batch, in the shape of PassContext's Dataset. */
export interface SampleArray {
  dtype: string;
  dims: number[];
  data: Float32Array | Uint16Array | BigInt64Array;
}

/** A float input of `dims` with values uniform in [lo, hi), in the model's float type. */
export function floatSample(dims: number[], type: DataType, rng: () => number, lo = -1, hi = 1): SampleArray {
  const n = dims.reduce((a, b) => a * b, 1);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = lo + (hi - lo) * rng();
  return type === DataType.FLOAT16 ? { dtype: 'float16', dims, data: float32ToHalfArray(f) } : { dtype: 'float', dims, data: f };
}
