/**
 * The tuner's weight-sharing stage and tails, on a small MLP (32 → 48 → 10, seeded random weights)
 * and 400 samples labelled by the original: the gzip search tries the cluster pass at 4 and 3 bits,
 * prunes and factors in front of the smallest weight-sharing recipe within the budget, and
 * factors against the tuning samples (lowrank's dataAware). Bounded (tens of small candidates).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/types.js';
import { DataType, type Model, ModelBuilder } from '../../src/ir/index.js';
import { seededRng } from '../../src/passes/pass.js';
import type { RecipeStep } from '../../src/passes/registry.js';
import { makeRunner } from '../../src/runtime/index.js';
import { CLUSTER_BITS, clusterModes, quantizeModes, tune } from '../../src/tune/search.js';
import { parsePass } from './helpers.js';

function randn(n: number, r: () => number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function mlp(): Model {
  const r = seededRng(3);
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 32]);
  const h = b.op('Gemm', [x, b.init('w1', [48, 32], randn(48 * 32, r, 0.4)), b.init('b1', [48], randn(48, r, 0.1))], { transB: 1 }, { name: 'fc1' });
  const a = b.op('Relu', [h], {}, { name: 'relu' });
  const y = b.op('Gemm', [a, b.init('w2', [10, 48], randn(480, r, 0.4)), b.init('b2', [10], randn(10, r, 0.1))], { transB: 1 }, { name: 'fc2' });
  b.output(y, DataType.FLOAT, ['N', 10], 'logits');
  return b.build();
}

let model: Model;
let data: Dataset;

beforeAll(async () => {
  model = mlp();
  // features 24..31 always zero (a blank border): their weights cost no accuracy
  const all = 2000;
  const x = randn(all * 32, seededRng(5), 1);
  for (let s = 0; s < all; s++) x.fill(0, s * 32 + 24, s * 32 + 32);
  const run = makeRunner({ intraOpThreads: 1 });
  try {
    const out = (await run(model, { input: { dtype: 'float', dims: [all, 32], data: x } })).logits.data as Float32Array;
    // labelled by the original; the 400 samples of clearest top-1 (random logits have many near-ties)
    const top = Array.from({ length: all }, (_, s) => {
      const o = Array.from(out.subarray(s * 10, s * 10 + 10));
      const label = o.indexOf(Math.max(...o));
      const second = Math.max(...o.filter((_, k) => k !== label));
      return { s, label, margin: o[label] - second };
    })
      .sort((a, b) => b.margin - a.margin || a.s - b.s)
      .slice(0, 400)
      .sort((a, b) => a.s - b.s);
    const picked = new Float32Array(top.length * 32);
    for (const [i, t] of top.entries()) picked.set(x.subarray(t.s * 32, t.s * 32 + 32), i * 32);
    data = { inputs: { input: { dtype: 'float', dims: [top.length, 32], data: picked } }, labels: Int32Array.from(top, (t) => t.label), count: top.length };
  } finally {
    await run.release();
  }
});

const steps = (c: { recipe: Record<string, unknown>[] }) => c.recipe as unknown as RecipeStep[];
const passes = (c: { recipe: Record<string, unknown>[] }) => steps(c).map((s) => s.pass);

describe('tune: weight sharing and its tails', () => {
  it('quantizeModes offer weight sharing for gzip only; its steps are valid cluster steps', () => {
    const gzip = quantizeModes('gzip', 100).filter((m) => m.steps[0].pass === 'cluster');
    expect(gzip.map((m) => (m.steps[0].options as { bits: number }).bits)).toEqual([...CLUSTER_BITS]);
    for (const m of clusterModes()) for (const s of m.steps) expect(() => parsePass(s)).not.toThrow();
    expect(quantizeModes('size', 100).some((m) => m.steps[0].pass === 'cluster')).toBe(false);
    expect(quantizeModes('latency', 100).some((m) => m.steps[0].pass === 'cluster')).toBe(false);
  });

  it('gzip: prune and data-aware lowrank in front of the smallest weight sharing within the budget; the winner is the smallest that holds', async () => {
    const r = await tune(model, data, { objective: 'gzip', maxAccuracyDrop: 3, passes: ['quantize', 'prune', 'lowrank'], seed: 7 });
    const cands = r.report.candidates;
    // both bit widths on every layer were tried
    for (const bits of CLUSTER_BITS) expect(cands.some((c) => passes(c).join() === 'cluster' && (steps(c)[0].options as { bits: number }).bits === bits && !(steps(c)[0].options as { exclude?: string[] }).exclude)).toBe(true);
    const sharing = cands.filter((c) => c.meetsBudget && passes(c).every((p) => p === 'cluster')).sort((a, b) => a.objective - b.objective)[0];
    expect(sharing).toBeDefined();
    const tail = JSON.stringify(steps(sharing));
    const endsWith = (c: (typeof cands)[number], first: string) => steps(c)[0].pass === first && JSON.stringify(steps(c).slice(1)) === tail;
    expect(cands.some((c) => endsWith(c, 'prune'))).toBe(true);
    const factored = cands.filter((c) => steps(c)[0].pass === 'lowrank');
    expect(factored.some((c) => endsWith(c, 'lowrank'))).toBe(true);
    for (const c of factored) expect(steps(c)[0].options).toMatchObject({ dataAware: true, dataSamples: r.tuningSamples });
    // unstructured pruning ranks weights by activation (the blank features' weights go first)
    for (const c of cands) for (const st of steps(c)) if (st.pass === 'prune') expect(st.options).toMatchObject({ scope: 'lamp', criterion: 'activation', reconstructSamples: r.tuningSamples });
    // the factors pruned: lowrank, then prune at sparsities of a bisection, then the sharing tail
    const grid = cands.filter((c) => passes(c).slice(0, 2).join() === 'lowrank,prune' && JSON.stringify(steps(c).slice(2)) === tail);
    expect(new Set(grid.map((c) => (steps(c)[1].options as { sparsity: number }).sparsity)).size).toBeGreaterThan(2);
    // a pruned, shared model beats the dense shared one
    const pruned = cands.filter((c) => c.meetsBudget && endsWith(c, 'prune'));
    expect(Math.min(...pruned.map((c) => c.objective))).toBeLessThan(sharing.objective);
    // the choice: the smallest within the budget that holds on the held-out split (a smaller one
    // failed there, or gave the same model as one that failed)
    expect(r.report.chosen).not.toBeNull();
    const chosen = cands[r.report.chosen!];
    expect(chosen.heldOutMeetsBudget).toBe(true);
    for (const c of cands) if (c.meetsBudget && c.objective < chosen.objective) expect(c.heldOutMeetsBudget).not.toBe(true);
    expect(r.model).toBeDefined();
  }, 60_000);
});
