/**
 * Weights inside subgraphs (src/passes/quantize/subgraphs.ts): the weight-format modes rewrite If
 * and Loop bodies as they rewrite the main graph; a weight only a body reads moves into it and
 * leaves the file as float; a weight two bodies share stays float, named in the skips; a run that
 * rewrites nothing leaves the model byte-identical.
 */
import { describe, expect, it } from 'vitest';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import type { Graph } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { subgraphsOf } from '../../src/ir/node.js';
import { cosine } from '../../src/math/stats.js';
import { MODEL_BUILDERS } from '../../src/models/index.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { seededRng, silentLogger } from '../../src/passes/pass.js';
import { passes } from '../../src/passes/registry.js';
import { createSession } from '../../src/runtime/index.js';

const quantize = passes.find((p) => p.name === 'quantize')!;
const builder = MODEL_BUILDERS.find((x) => x.name === 'control-flow')!;
const build = () => builder.build() as Model;
const run = (m: Model, options: Record<string, unknown>) =>
  quantize.run(m, quantize.parseOptions(options), { log: silentLogger, rng: seededRng(1) });

function graphs(m: Model): Graph[] {
  const out: Graph[] = [];
  const visit = (g: Graph) => {
    out.push(g);
    for (const n of g.nodes) for (const s of subgraphsOf(n)) visit(s);
  };
  visit(m.graph);
  return out;
}

/** Names of the float32 initializers of at least `min` elements, in any graph. */
function floatWeights(m: Model, min = 128): string[] {
  return graphs(m).flatMap((g) => [...g.initializers].filter(([, t]) => t.isFloat && t.size >= min).map(([k]) => k));
}

async function logits(m: Model): Promise<Float32Array> {
  const s = await createSession(m);
  try {
    const out = await s.run(builder.inputs(4, 3) as never);
    return Float32Array.from(out[s.outputNames[0]].data as ArrayLike<number>);
  } finally {
    await s.release();
  }
}

describe('quantize: weights inside If / Loop bodies', () => {
  // (the contract suite's bounds: dynamic activations and 4-bit weights on a 32-wide model cost more)
  for (const [options, minCosine] of [
    [{ type: 'int8' }, 0.97],
    [{ type: 'uint8', mode: 'weight-only' }, 0.99],
    [{ type: 'int4' }, 0.95],
  ] as const) {
    it(`${JSON.stringify(options)}: the branch and loop weights are rewritten in their bodies and leave the file as float`, async () => {
      const m = build();
      const ref = await logits(build());
      expect(floatWeights(m)).toEqual(expect.arrayContaining(['branch.then.weight', 'branch.else.weight', 'loop.weight']));
      const r = await run(m, options);
      expect(r.modified).toBe(true);
      expect(r.stats?.MatMul).toBe(4); // then, else, loop body, head
      expect(r.skipped).toEqual([]);
      expect(floatWeights(m)).toEqual([]);
      // the moved weights' quantized forms live in the bodies that read them
      const bodies = graphs(m).slice(1);
      expect(bodies.some((g) => [...g.initializers.keys()].some((k) => k.startsWith('branch.then.weight')))).toBe(true);
      expect(cosine(await logits(m), ref)).toBeGreaterThan(minCosine);
    });
  }

  it('a weight both branches read stays float where it is, once, with the reason; the rest is rewritten', async () => {
    const m = build();
    // the else branch reads the then branch's weight too
    for (const g of graphs(m).slice(1))
      for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === 'branch.else.weight' ? 'branch.then.weight' : i));
    m.graph.initializers.delete('branch.else.weight');
    for (const g of graphs(m)) g.touch();
    const bytes = modelToBytes(m).length;
    const r = await run(m, { type: 'int8' });
    expect(r.stats?.MatMul).toBe(2); // loop body and head
    const shared = r.skipped.filter((s) => s.reason.includes('branch.then.weight is also read outside this subgraph'));
    expect(shared).toHaveLength(2);
    expect(m.graph.initializers.has('branch.then.weight')).toBe(true);
    expect(modelToBytes(m).length).toBeLessThan(bytes);
    await logits(m); // loads and runs
  });

  it('a run that rewrites nothing moves nothing: the model is byte-identical', async () => {
    const m = build();
    const before = fingerprintModel(m);
    const r = await run(m, { type: 'int8', minElements: 1e9 });
    expect(r.modified).toBe(false);
    expect(fingerprintModel(m)).toBe(before);
  });
});
