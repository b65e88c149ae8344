/**
 * Recurrent nodes (LSTM / GRU / RNN) hold a model's largest weights in a recurrent network, and no
 * pass rewrites them yet: passes list them as skipped with this reason instead of leaving them in
 * silence.
 */
import type { Graph } from '../ir/graph.js';
import type { Skip } from './pass.js';

const RECURRENT = new Set(['LSTM', 'GRU', 'RNN']);

/** One skip per main-graph LSTM / GRU / RNN node whose W or R is a constant float tensor. */
export function recurrentSkips(g: Graph, what: string): Skip[] {
  const out: Skip[] = [];
  for (const n of g.nodes) {
    if (!RECURRENT.has(n.opType) || !(n.domain === '' || n.domain === 'ai.onnx')) continue;
    if (n.inputs.slice(1, 3).some((x) => g.constantValue(x)?.isFloat)) {
      out.push({ node: n.name || n.opType, reason: `${n.opType} weights (W, R) are not ${what}` });
    }
  }
  return out;
}
