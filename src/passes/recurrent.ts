/**
 * Weights no pass rewrites yet, listed as skipped instead of left alone in silence:
 * - recurrent nodes (LSTM / GRU / RNN), which hold most of a recurrent network's weights;
 * - calls of model-local functions (as torch's dynamo exporter wrote modules) that take a constant
 *   float tensor: the weight is used inside the function body, which passes do not rewrite.
 */
import type { Model } from '../ir/model.js';
import type { Skip } from './pass.js';

const RECURRENT = new Set(['LSTM', 'GRU', 'RNN']);

/** One skip per main-graph node of those kinds that reads a constant float tensor. */
export function recurrentSkips(model: Model, what: string): Skip[] {
  const g = model.graph;
  const out: Skip[] = [];
  const isOnnx = (d: string) => d === '' || d === 'ai.onnx';
  for (const n of g.nodes) {
    if (RECURRENT.has(n.opType) && isOnnx(n.domain)) {
      if (n.inputs.slice(1, 3).some((x) => g.constantValue(x)?.isFloat)) {
        out.push({ node: n.name || n.opType, reason: `${n.opType} weights (W, R) are not ${what}` });
      }
    } else if (!isOnnx(n.domain) && model.functions.some((f) => f.name === n.opType && f.domain === n.domain)) {
      const w = n.inputs.filter((x) => x && g.constantValue(x)?.isFloat);
      if (w.length) out.push({ node: n.name || n.opType, reason: `${w.join(', ')} used inside the model-local function ${n.domain}:${n.opType}: not ${what}` });
    }
  }
  return out;
}
