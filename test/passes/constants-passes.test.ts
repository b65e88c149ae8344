/**
 * prune and lowrank on weights exporters hide (issue 17): behind Identity (initializer dedup),
 * Reshape, Transpose (tied embedding); a weight shared by two nodes is handled once.
 */
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import type { Model } from '../../src/ir/model.js';
import { countZeros } from '../../src/math/sparsity.js';
import { dedupInitializers } from '../../src/models/decoder.js';
import { parseLowRankOptions, runLowRank } from '../../src/passes/lowrank.js';
import { seededRng, silentLogger } from '../../src/passes/pass.js';
import { parsePruneOptions, runPrune } from '../../src/passes/prune.js';
import { compare, opCounts, uniform } from './quantize-helpers.js';

const ctx = () => ({ log: silentLogger, rng: seededRng(1) });

/** x [N, 64] → Gemm(l1) → Relu → Gemm(l2) → Relu → MatMul(Reshape(l3 flat)) → Relu → Gemm(l4 = copy of l2), dedup'd. */
function model(dedup = true): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['N', 64]);
  const w1 = b.init('l1.weight', [64, 64], uniform(4096, 0.2, 1));
  const w2 = b.init('l2.weight', [64, 64], uniform(4096, 0.2, 2));
  const w3 = dedup
    ? b.op('Reshape', [b.init('l3.flat', [4096], uniform(4096, 0.2, 3)), b.ints('shape', [64, 64])], {}, { name: 'reshape_l3' })
    : b.init('l3.weight', [64, 64], uniform(4096, 0.2, 3));
  const w4 = b.init('l4.weight', [64, 64], uniform(4096, 0.2, 2)); // identical to l2.weight
  const h1 = b.op('Relu', [b.op('Gemm', [x, w1], {}, { name: 'g1' })]);
  const h2 = b.op('Relu', [b.op('Gemm', [h1, w2], {}, { name: 'g2' })]);
  const h3 = b.op('Relu', [b.op('MatMul', [h2, w3], {}, { name: 'm3' })]);
  b.output(b.op('Gemm', [h3, w4], {}, { name: 'g4' }), DataType.FLOAT, ['N', 64], 'y');
  const m = b.build();
  if (dedup) expect(dedupInitializers(m)).toBe(1);
  return m;
}

const feeds = { x: { dtype: 'float', dims: [8, 64], data: uniform(512, 1, 9) } };

function floatBytes(m: Model): number {
  let s = 0;
  for (const t of m.graph.initializers.values()) s += t.byteLength;
  return s;
}

describe('prune through constant chains', () => {
  it('prunes the Identity and Reshape weights; the shared weight once, in one initializer', async () => {
    const m = model();
    const q = cloneModel(m);
    const r = await runPrune(q, parsePruneOptions({ sparsity: 0.5, keepFirstLast: false }), ctx());
    expect(r.modified).toBe(true);
    expect(r.skipped).toEqual([]);
    expect(r.stats.prunableLayers).toBe(3); // l1, l2 (= l4), l3
    expect(r.stats.materializedWeights).toBe(1); // l3 behind its Reshape
    const c = opCounts(q);
    expect(c.Reshape ?? 0).toBe(0);
    // l2.weight is pruned in place, once; g4 still reads it through its Identity
    const g4 = q.graph.nodes.find((n) => n.name === 'g4')!;
    expect(q.graph.producer(g4.inputs[1])!.inputs[0]).toBe('l2.weight');
    expect(countZeros(q.graph.initializers.get('l2.weight')!.data as Float32Array)).toBeGreaterThan(1000);
    const m3 = q.graph.nodes.find((n) => n.name === 'm3')!;
    const w3 = q.graph.initializers.get(m3.inputs[1])!;
    expect(w3.dims).toEqual([64, 64]);
    expect(countZeros(w3.data as Float32Array)).toBeGreaterThan(1000);
    expect(q.graph.initializers.has('l3.flat')).toBe(false);
    expect(floatBytes(q)).toBeLessThanOrEqual(floatBytes(m));
    const { cos } = await compare(m, q, feeds);
    expect(cos).toBeGreaterThan(0.6); // half of random weights zeroed
    expect(cos).toBeLessThan(0.99999);
  });

  it('a weight tied to an embedding table through a Transpose is an embedding (left alone by default)', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const ids = b.input('ids', DataType.INT64, ['N', 4]);
    const table = b.init('wte', [100, 32], uniform(3200, 0.5, 31));
    const e = b.op('Gather', [table, ids], { axis: 0 });
    b.output(b.op('MatMul', [e, b.op('Transpose', [table], { perm: [1, 0] })], {}, { name: 'lm_head' }), DataType.FLOAT);
    const m = b.build();
    const r = await runPrune(m, parsePruneOptions({ sparsity: 0.5, keepFirstLast: false }), ctx());
    expect(r.modified).toBe(false);
    expect(r.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/embedding table/)]);
  });
});

describe('lowrank through constant chains', () => {
  it('factors Identity / Reshape weights; the shared weight once; the chains go', async () => {
    const m = model();
    const q = cloneModel(m);
    const r = await runLowRank(q, parseLowRankOptions({ ratio: 0.25 }), ctx());
    expect(r.modified).toBe(true);
    expect(r.skipped).toEqual([]);
    // four readers, three distinct weights: the factors of l2 are shared by g2 and g4
    expect((r.details as { weight: string }[]).length).toBe(3);
    const c = opCounts(q);
    expect(c.Identity ?? 0).toBe(0);
    expect(c.Reshape ?? 0).toBe(0);
    expect(q.graph.initializers.has('l3.flat')).toBe(false);
    expect(q.graph.initializers.has('l2.weight')).toBe(false);
    expect(floatBytes(q)).toBeLessThan(floatBytes(m) * 0.6);
    // the same function as factoring the model without dedup or Reshape (exact SVD: no randomness)
    const plain = model(false);
    const ref = cloneModel(plain);
    const q2 = cloneModel(m);
    await runLowRank(ref, parseLowRankOptions({ ratio: 0.25, svd: 'exact' }), ctx());
    await runLowRank(q2, parseLowRankOptions({ ratio: 0.25, svd: 'exact' }), ctx());
    expect((await compare(ref, q2, feeds)).cos).toBeGreaterThan(0.99999);
    expect((await compare(plain, m, feeds)).cos).toBeGreaterThan(0.99999);
  });
});
