/**
 * Students for distillation.
 *
 * `narrowModel(model, factor)` makes a narrower copy of a network in place: every hidden layer's
 * width (a MatMul / Gemm's output features, a Conv's filters) is scaled by `factor`, keeping the
 * channels whose outgoing weights have the largest L2 norm, so the student starts from the
 * teacher's strongest units instead of from scratch.
 *
 * The layers are the MatMul / Gemm / Conv nodes of the main graph whose weight is a float32
 * initializer of their own (the executor trains initializers). What narrowing a layer touches —
 * its bias, per-channel constants, normalization parameters, a Flatten / Reshape before a dense
 * layer, and the next layers' input rows or channels, through fan-out — and when a layer keeps its
 * width (its output reaches a graph output, a residual Add, a Concat, an op the tracer cannot
 * follow, or a constant shared with another node) is src/ir/channels.ts, the tracer channel
 * pruning uses too. The last layer (feeding the graph output) therefore always keeps its width, so
 * the inputs and outputs of the model are unchanged.
 */
import { MlcError } from '../core/errors.js';
import type { Skip } from '../core/types.js';
import { narrowChannels, type ChannelLayer } from '../ir/channels.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { attrInt, isOnnxDomain } from '../ir/node.js';
import { countParams } from '../ir/params.js';

export interface NarrowResult {
  /** narrowed layers: width before / after and the kept channel indices */
  layers: { node: string; before: number; after: number; keep: number[] }[];
  skipped: Skip[];
  paramsBefore: number;
  paramsAfter: number;
}

/** The layers a student may narrow, and the ones whose weight is not theirs alone. */
function studentLayers(g: Graph): { layers: ChannelLayer[]; skipped: Skip[] } {
  const layers: ChannelLayer[] = [];
  const skipped: Skip[] = [];
  for (const n of g.nodes) {
    if (!isOnnxDomain(n) || (n.opType !== 'MatMul' && n.opType !== 'Gemm' && n.opType !== 'Conv')) continue;
    const weightName = n.inputs[1];
    const t = g.initializers.get(weightName);
    if (!t || t.dtype !== DataType.FLOAT || g.isGraphInput(weightName)) continue;
    if (n.opType === 'Conv' ? t.dims.length < 3 : t.dims.length !== 2) continue;
    if (g.isGraphOutput(weightName) || g.consumers(weightName).some((c) => c !== n)) {
      skipped.push({ node: n.name, reason: `weight ${weightName} is shared` });
      continue;
    }
    const outputAxis = n.opType === 'Gemm' ? (attrInt(n, 'transB', 0) ? 0 : 1) : n.opType === 'Conv' ? 0 : 1;
    layers.push({ node: n, op: n.opType, inputIndex: 1, weightName, tensor: t, outputAxis });
  }
  return { layers, skipped };
}

const floatParams = (g: Graph) => countParams(g, { floatOnly: true, subgraphs: false }).params;

/**
 * Narrow `model` in place to `factor` × its hidden widths (0 < factor ≤ 1). Returns what changed
 * and which layers kept their width and why.
 */
export function narrowModel(model: Model, factor: number): NarrowResult {
  if (!(factor > 0 && factor <= 1)) throw new MlcError('USAGE', `--student-width must be in (0, 1], got ${factor}`);
  const g = model.graph;
  const paramsBefore = floatParams(g);
  const found = studentLayers(g);
  const r = narrowChannels(g, found.layers, (p) => factor * p.n);
  return {
    layers: r.narrowed.map((l) => ({ node: l.layer.node.name, before: l.before, after: l.keep.length, keep: l.keep })),
    skipped: [...found.skipped, ...r.skipped],
    paramsBefore,
    paramsAfter: floatParams(g),
  };
}
