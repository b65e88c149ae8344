/**
 * The layers a per-layer analysis works on: nodes of the main graph that read a float constant
 * weight of rank ≥ 2 (MatMul, Gemm, Conv, Gather tables, …). Whether a pass actually touches a
 * layer is the pass's call: the analysis applies the pass to one layer (every other layer in the
 * pass's `exclude` option) and keeps the layer when the pass reports a change.
 */
import { DataType } from '../ir/dtype.js';
import { Constants } from '../ir/constants.js';
import type { Model } from '../ir/model.js';

export interface WeightLayer {
  /** the node's name (its first output's when it has none): what `exclude` matches */
  name: string;
  op: string;
  /** the weight's name (also matched by `exclude`) */
  weight: string;
  /** the node's first output */
  output: string;
  /** weight elements */
  elements: number;
}

const FLOATS: readonly DataType[] = [DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16];

export function weightLayers(model: Model): WeightLayer[] {
  const g = model.graph;
  const c = new Constants(g);
  const out: WeightLayer[] = [];
  for (const n of g.nodes) {
    if (!n.outputs[0]) continue;
    for (const input of n.inputs) {
      const t = c.get(input);
      if (!t || !FLOATS.includes(t.dtype) || t.dims.length < 2) continue;
      out.push({ name: n.name || n.outputs[0], op: n.opType, weight: input, output: n.outputs[0], elements: t.dims.reduce((a, b) => a * b, 1) });
      break;
    }
  }
  return out;
}

/** The `exclude` patterns that leave every layer but `keep` alone (names and weights). */
export function excludeAllBut(layers: readonly WeightLayer[], keep: WeightLayer): string[] {
  const out: string[] = [];
  for (const l of layers) {
    if (l === keep) continue;
    out.push(l.name);
    if (l.weight !== keep.weight) out.push(l.weight);
  }
  return out;
}

/** The `exclude` patterns that leave `layers` alone. */
export function excludeOf(layers: readonly WeightLayer[]): string[] {
  return layers.flatMap((l) => [l.name, l.weight]);
}
