/**
 * Post-rewrite of the dynamic int8 pass for transformer residual blocks:
 *
 *   before:  y = DynamicQuantizeMatMul(A, W, s, zp, bias)      (or y = Add(MatMulInteger…, bias))
 *            r = Add(y, skip)   →   LayerNormalization(r)
 *   after:   y = DynamicQuantizeMatMul(A, W, s, zp)            (or the unbiased product)
 *            t = Add(y, skip);  r = Add(t, bias)   →   LayerNormalization(r)
 *
 * i.e. (y + bias) + skip is reassociated into (y + skip) + bias. Same tensors, same ops, one
 * elementwise Add more; in real arithmetic the result is identical, in float32 it differs by one
 * rounding of the sum (far below the int8 noise).
 *
 * Why: onnxruntime's SkipLayerNormFusion (level 2, on by default) turns an Add whose two inputs
 * are 3-D of equal shape and which feeds a LayerNormalization into com.microsoft
 * SkipLayerNormalization (optionally absorbing a preceding [N] bias Add). Its CPU kernel (1.30) is
 * a scalar loop with a division per element: on the encoder benchmark (seq 128, hidden 768,
 * 1 thread) each call takes ~0.4 ms where the plain Add + LayerNormalization pair takes ~0.04 ms,
 * about 3 ms of a 15 ms int8 run. When the LayerNormalization reads the bias Add — whose second
 * input is 1-D — that fusion's pattern (3-D + 3-D Add, or such an Add after a bias Add) does not
 * match, and the session keeps the fast unfused kernels. The graph stays plain ONNX with the
 * usual ops; nothing is hidden from onnxruntime, only the order of two additions changes.
 *
 * Trade-off: on execution providers whose SkipLayerNormalization is fast (CUDA, DirectML) the
 * fused kernel would have been fine; mlc targets CPU inference, where this form is faster.
 * The fp32 model is not touched (it is the pass's input and is not rewritten by this step).
 *
 * Applied only to nodes the dynamic pass wrote (their names are passed in), only when every
 * tensor on the path has a single reader and is not a graph output.
 */
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import { floatConstant, isOnnx, type QuantState } from './common.js';

function singleReader(g: Graph, name: string): Node | undefined {
  if (!name || g.isGraphOutput(name)) return undefined;
  const users = g.consumers(name);
  return users.length === 1 ? users[0] : undefined;
}

/** The [N] bias of a biased product node: DQMM's input 4, or the constant side of a standard-form bias Add. */
function biasOf(st: QuantState, n: Node): { bias: string; unbiased?: string } | undefined {
  if (n.domain === 'com.microsoft' && n.opType === 'DynamicQuantizeMatMul') {
    const b = n.inputs[4];
    return b && floatConstant(st, b)?.dims.length === 1 ? { bias: b } : undefined;
  }
  if (isOnnx(n) && n.opType === 'Add' && n.inputs.length === 2) {
    for (const k of [0, 1]) {
      const c = floatConstant(st, n.inputs[k]);
      const other = n.inputs[1 - k];
      if (c && c.dims.length === 1 && !floatConstant(st, other)) return { bias: n.inputs[k], unbiased: other };
    }
  }
  return undefined;
}

/**
 * Reassociate the bias of `producers` (names of nodes written by the dynamic pass) past a
 * following residual Add that feeds a LayerNormalization. Returns how many were moved.
 */
export function moveResidualBias(st: QuantState, producers: Set<string>): number {
  const g = st.graph;
  let moved = 0;
  for (const p of [...g.nodes]) {
    if (!producers.has(p.name)) continue;
    const b = biasOf(st, p);
    if (!b) continue;
    const y = p.outputs[0];
    const res = singleReader(g, y);
    if (!res || !isOnnx(res) || res.opType !== 'Add' || res.inputs.length !== 2 || res.inputs[0] === res.inputs[1]) continue;
    const skip = res.inputs[0] === y ? res.inputs[1] : res.inputs[0];
    if (g.constantValue(skip)) continue; // a constant "skip" is a bias, not a residual
    const ln = singleReader(g, res.outputs[0]);
    if (!ln || !isOnnx(ln) || ln.opType !== 'LayerNormalization' || ln.inputs[0] !== res.outputs[0]) continue;

    // the product without its bias
    let product: string;
    if (b.unbiased !== undefined) {
      product = b.unbiased;
      g.removeNode(p);
    } else {
      p.inputs = p.inputs.slice(0, 4);
      while (p.inputs.length && p.inputs[p.inputs.length - 1] === '') p.inputs.pop();
      product = y;
    }
    const r = res.outputs[0];
    const t = g.uniqueName(`${r}_before_bias`);
    res.inputs = res.inputs[0] === y ? [product, skip] : [skip, product];
    res.outputs = [t];
    g.makeNode('Add', [t, b.bias], [r], [], { name: `${res.name}_bias`, after: res });
    moved++;
  }
  if (moved) st.modified = true;
  return moved;
}
