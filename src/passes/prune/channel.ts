/**
 * Structured (channel) pruning: remove whole output neurons / filters of MatMul, Gemm and Conv
 * layers and shrink everything that depends on them, so the model really gets smaller. What a
 * removal touches, and when a layer is skipped, is src/ir/channels.ts (shared with the
 * distillation student's --student-width); this file decides which channels go.
 *
 * Which channels go: those with the smallest L2 norm of their weights. Scope `layer` (the default
 * for channel pruning) removes round(s·N) channels of every layer; scope `global` ranks all channels of all candidate layers
 * together by RMS weight (L2 norm / sqrt(fan-in), so layers with different fan-in compare) and
 * removes the round(s·ΣN) smallest. At least one channel per layer is always kept.
 */
import { applyChannels, channelNorms, planChannels, type ChannelPlan } from '../../ir/channels.js';
import type { Graph } from '../../ir/graph.js';
import { complement, smallestIndices } from '../../math/sparsity.js';
import type { Skip } from '../pass.js';
import { constTensor, type Layer } from './layers.js';

/** A type alias (not an interface) so that it is a PassResult detail record as it is. */
export type ChannelDetail = {
  node: string;
  op: string;
  weight: string;
  channelsBefore: number;
  channelsAfter: number;
  dimsBefore: string;
  dimsAfter: string;
  paramsBefore: number;
  paramsAfter: number;
};

export interface ChannelResult {
  modified: boolean;
  skipped: Skip[];
  details: ChannelDetail[];
  channelsBefore: number;
  channelsRemoved: number;
  /** weight name → original output channels kept, for layers that lost channels */
  keep: Map<string, number[]>;
  /** weights of the layers that changed shape (pruned layers and their readers) */
  changedWeights: Set<string>;
}

interface Candidate {
  plan: ChannelPlan;
  layer: Layer;
  n: number;
  scores: Float64Array;
  removed: number[];
}

/** Channel-prune `layers` of `g` in place. */
export function pruneChannels(
  g: Graph,
  layers: Layer[],
  opts: { sparsity: number; scope: 'global' | 'layer'; exclude: readonly string[] },
): ChannelResult {
  const skipped: Skip[] = [];
  const cands: Candidate[] = [];
  for (const l of layers) {
    const p = planChannels(g, l, { exclude: opts.exclude, constant: (name) => constTensor(g, name) });
    if (typeof p === 'string') {
      skipped.push({ node: l.label, reason: p });
      continue;
    }
    cands.push({ plan: p, layer: l, n: p.n, scores: channelNorms(l), removed: [] });
  }
  if (opts.scope === 'layer') {
    for (const c of cands) {
      c.removed = smallestIndices(c.scores, Math.min(c.n - 1, Math.round(opts.sparsity * c.n)));
    }
  } else {
    const all: { c: Candidate; ch: number; s: number }[] = [];
    for (const c of cands) {
      const fanIn = c.layer.tensor.size / c.n;
      for (let i = 0; i < c.n; i++) all.push({ c, ch: i, s: c.scores[i] / Math.sqrt(fanIn) });
    }
    all.sort((a, b) => a.s - b.s);
    const total = all.length;
    let k = Math.round(opts.sparsity * total);
    for (const e of all) {
      if (k <= 0) break;
      if (e.c.removed.length >= e.c.n - 1) continue;
      e.c.removed.push(e.ch);
      k--;
    }
    for (const c of cands) c.removed.sort((a, b) => a - b);
  }

  const before = new Map<Candidate, { dims: string; params: number }>();
  for (const c of cands) before.set(c, { dims: c.layer.tensor.dims.join('x'), params: paramsOf(g, c.layer) });
  let removedTotal = 0;
  let channelsTotal = 0;
  const keepMap = new Map<string, number[]>();
  const changedWeights = new Set<string>();
  for (const c of cands) {
    channelsTotal += c.n;
    if (!c.removed.length) continue;
    const keep = complement(c.n, c.removed);
    keepMap.set(c.layer.weightName, keep);
    changedWeights.add(c.layer.weightName);
    for (const r of c.plan.readers) changedWeights.add(r);
    applyChannels(g, c.plan, keep);
    removedTotal += c.removed.length;
  }
  const details: ChannelDetail[] = cands.map((c) => ({
    node: c.layer.label,
    op: c.layer.op,
    weight: c.layer.weightName,
    channelsBefore: c.n,
    channelsAfter: c.n - c.removed.length,
    dimsBefore: before.get(c)!.dims,
    dimsAfter: c.layer.tensor.dims.join('x'),
    paramsBefore: before.get(c)!.params,
    paramsAfter: paramsOf(g, c.layer),
  }));
  return { modified: removedTotal > 0, skipped, details, channelsBefore: channelsTotal, channelsRemoved: removedTotal, keep: keepMap, changedWeights };
}

/** Weight + bias elements of a layer. */
function paramsOf(g: Graph, l: Layer): number {
  let p = l.tensor.size;
  const b = l.op === 'Gemm' || l.op === 'Conv' ? constTensor(g, l.node.inputs[2]) : undefined;
  if (b) p += b.size;
  return p;
}

