/**
 * float16 weight storage: float32 constants are stored as float16 and cast back to float32 where
 * they are read, so compute (and the model's inputs and outputs) stay float32 and the model runs
 * on every CPU runtime; the file holds half the bytes per weight.
 *
 * Rewrites
 * - a float32 initializer W → W_fp16 (float16) + Cast(to = float) producing W.
 * - a Constant node with a float32 value → Constant(float16 value) + Cast producing its output.
 *
 * Refuses (skipped with the reason): initializers that are graph inputs (overridable), tensors
 * with finite values beyond ±65504 (they would become infinities), tensors read only by excluded
 * nodes or op types outside --op-types; models below opset 6 (Cast with a string 'to'). Tensors
 * smaller than minElements stay float32 (counted, not listed).
 */
import { DataType } from '../../ir/dtype.js';
import { Tensor } from '../../ir/tensor.js';
import type { Node } from '../../ir/node.js';
import { beyondHalfRange, float32ToHalfArray } from '../../math/float16.js';
import { QuantState, intAttr, isOnnx, nodeLabel } from './common.js';
import { isExcluded } from '../pass.js';

const HALF_MAX = 65504;

function problem(st: QuantState, name: string, t: Tensor, readers: Node[]): string | undefined {
  if (isExcluded(name, st.opts.exclude) || readers.some((r) => st.excluded(r))) return 'excluded';
  if (st.opts.opTypes && readers.some((r) => !st.opts.opTypes!.includes(r.opType))) return `read by an op type outside --op-types`;
  const v = beyondHalfRange(t.data as Float32Array);
  if (v !== undefined) return `${name} has values beyond the float16 range (|${v}| > ${HALF_MAX})`;
  return undefined;
}

function castNode(st: QuantState, input: string, output: string): Node {
  return { name: st.graph.uniqueName(`${output}_Cast`), opType: 'Cast', domain: '', inputs: [input], outputs: [output], attributes: [intAttr('to', DataType.FLOAT)] };
}

export function runFp16(st: QuantState): void {
  const g = st.graph;
  if (st.opset < 6) {
    st.skip('model', `ai.onnx opset ${st.opset} < 6 (Cast takes a string 'to'); fp16 needs opset ≥ 6`);
    return;
  }
  const min = st.opts.minElements;
  const casts: Node[] = [];
  for (const [name, t] of [...g.initializers]) {
    if (t.dtype !== DataType.FLOAT) continue;
    if (g.isGraphInput(name) && !st.legacyInits.has(name)) {
      st.skip(name, 'initializer is also a graph input (overridable); left float32');
      continue;
    }
    if (t.size < min) {
      st.count('tinyKeptFloat');
      continue;
    }
    const why = problem(st, name, t, g.consumers(name));
    if (why) {
      st.skip(name, why);
      continue;
    }
    const half = new Tensor('', DataType.FLOAT16, [...t.dims], float32ToHalfArray(t.data as Float32Array));
    half.name = `${name}_fp16`;
    const hname = g.addInitializer(half);
    g.initializers.delete(name);
    casts.push(castNode(st, hname, name));
    st.bytesBefore += t.byteLength;
    st.bytesAfter += half.byteLength;
    st.count('initializers');
  }
  for (const node of [...g.nodes]) {
    if (node.opType !== 'Constant' || !isOnnx(node)) continue;
    const a = node.attributes.find((x) => x.name === 'value');
    if (!a || !(a.value instanceof Tensor) || a.value.dtype !== DataType.FLOAT) continue;
    const t = a.value;
    if (t.size < min) {
      st.count('tinyKeptFloat');
      continue;
    }
    const out = node.outputs[0];
    const why = problem(st, out, t, g.consumers(out));
    if (why) {
      st.skip(nodeLabel(node), why);
      continue;
    }
    const half = new Tensor(t.name, DataType.FLOAT16, [...t.dims], float32ToHalfArray(t.data as Float32Array));
    const hOut = g.uniqueName(`${out}_fp16`);
    const c: Node = { ...node, outputs: [hOut], attributes: node.attributes.map((x) => (x === a ? { ...a, value: half } : x)) };
    g.replaceNode(node, [c, castNode(st, hOut, out)]);
    st.bytesBefore += t.byteLength;
    st.bytesAfter += half.byteLength;
    st.count('constants');
  }
  if (casts.length) {
    g.nodes.unshift(...casts);
    g.touch();
  }
  st.modified = casts.length > 0 || (st.counts.constants ?? 0) > 0;
}
