/**
 * BatchNormalization folded into the Conv before it, ahead of static calibration.
 *
 * Rewrite: Conv(x, W, b?) → BatchNormalization(γ, β, μ, σ²) becomes Conv(x, W', b') with
 *   s_c = γ_c / √(σ²_c + ε),  W'[c, …] = W[c, …] · s_c,  b'_c = (b_c − μ_c) · s_c + β_c
 * (b = 0 when the Conv has none): the same function up to float rounding. Exports without
 * Conv–BN folding (the dynamo exporter, tf2onnx, training-mode exports) keep the BN; left in
 * place it sits between the Conv and its activation, so the Conv's output cannot carry the
 * activation's range and onnxruntime cannot fuse the chain into QLinearConv.
 *
 * Refuses (leaves as is): a Conv output read by anything else or that is a graph output, a BN in
 * training mode (extra outputs, training_mode = 1) or with spatial = 0, parameters that are not
 * 1-D float32 constants of length M, a Conv weight that is not a float32 constant, excluded Convs.
 * New initializers are written (W and b may be shared); the old ones go once nothing reads them.
 */
import { DataType } from '../../ir/dtype.js';
import { attrFloat, attrInt, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { type QuantState, addConst, dropIfUnused, floatConstant, isOnnx } from './common.js';

/** Folds every foldable Conv → BatchNormalization pair; returns how many. */
export function foldBatchNorms(st: QuantState): number {
  const g = st.graph;
  let folded = 0;
  for (const bn of [...g.nodes]) {
    if (bn.opType !== 'BatchNormalization' || !isOnnx(bn)) continue;
    const conv = g.producer(bn.inputs[0]);
    if (!conv || conv.opType !== 'Conv' || !isOnnx(conv) || st.excluded(conv)) continue;
    const y = conv.outputs[0];
    if (g.isGraphOutput(y) || g.consumers(y).length !== 1) continue;
    if (bn.outputs.slice(1).some((o) => o) || attrInt(bn, 'training_mode', 0) !== 0 || attrInt(bn, 'spatial', 1) !== 1) continue;
    const w = floatConstant(st, conv.inputs[1]);
    if (!w || w.dims.length < 3) continue;
    const M = w.dims[0];
    const params = bn.inputs.slice(1, 5).map((n) => floatConstant(st, n));
    if (params.length !== 4 || params.some((p) => !p || p.dims.length !== 1 || p.dims[0] !== M)) continue;
    const bias = conv.inputs[2] ? floatConstant(st, conv.inputs[2]) : undefined;
    if (conv.inputs[2] && (!bias || bias.size !== M)) continue;
    const [gamma, beta, mean, variance] = params.map((p) => p!.data as Float32Array);
    const { weight, bias: b } = foldConvBn(
      w.data as Float32Array,
      M,
      bias?.data as Float32Array | undefined,
      gamma,
      beta,
      mean,
      variance,
      attrFloat(bn, 'epsilon', 1e-5),
    );
    const old = [conv.inputs[1], conv.inputs[2], ...bn.inputs.slice(1, 5)].filter((n): n is string => !!n);
    const wName = addConst(g, `${conv.inputs[1]}_bn_folded`, new Tensor('', DataType.FLOAT, w.dims, weight));
    const bName = addConst(g, `${conv.inputs[2] || `${conv.name || y}_bias`}_bn_folded`, Tensor.float32('', [M], b));
    rewire(st, conv, bn, wName, bName);
    for (const n of old) dropIfUnused(st, n);
    folded++;
  }
  return folded;
}

function rewire(st: QuantState, conv: Node, bn: Node, w: string, b: string): void {
  const g = st.graph;
  conv.inputs = [conv.inputs[0], w, b];
  conv.outputs = [bn.outputs[0]];
  g.removeNode(bn);
  g.touch();
  st.modified = true;
}

/** W'[c, …] = W[c, …]·s_c and b'_c = (b_c − μ_c)·s_c + β_c with s_c = γ_c / √(σ²_c + ε); W is [M, …]. */
export function foldConvBn(
  w: Float32Array,
  M: number,
  b: Float32Array | undefined,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
): { weight: Float32Array; bias: Float32Array } {
  const per = w.length / M;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(M);
  for (let c = 0; c < M; c++) {
    const s = gamma[c] / Math.sqrt(variance[c] + eps);
    for (let i = c * per; i < (c + 1) * per; i++) weight[i] = w[i] * s;
    bias[c] = ((b ? b[c] : 0) - mean[c]) * s + beta[c];
  }
  return { weight, bias };
}
