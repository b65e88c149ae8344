/** prune's activation criterion (|w| times the RMS of the input it multiplies; prune/criterion.ts). */
import { describe, expect, it } from 'vitest';
import type { Model, Tensor } from '../../src/ir/index.js';
import { countZeros } from '../../src/math/sparsity.js';
import { silentLogger, seededRng, type PassContext } from '../../src/passes/pass.js';
import { parsePruneOptions, runPrune } from '../../src/passes/prune.js';
import { makeRunner } from '../../src/runtime/index.js';
import { cnn, mlp, randn, rng } from './prune-helpers.js';

const ctx: PassContext = { log: silentLogger, rng: seededRng(1) };
const W = (m: Model, name: string): Tensor => m.graph.initializers.get(name)!;
const data = (m: Model, name: string) => W(m, name).data as Float32Array;

/** n samples of [n, 16] whose feature f has scale scales[f] (0: always zero). */
function scaled(n: number, scales: readonly number[], seed: number) {
  const x = randn(n * 16, rng(seed));
  for (let i = 0; i < x.length; i++) x[i] *= scales[i % 16];
  return { inputs: { input: { dtype: 'float' as const, dims: [n, 16], data: x } }, count: n };
}

async function withRunner<T>(f: (run: ReturnType<typeof makeRunner>) => Promise<T>): Promise<T> {
  const run = makeRunner({ intraOpThreads: 1 });
  try {
    return await f(run);
  } finally {
    await run.release();
  }
}

describe('prune --prune-criterion activation', () => {
  // features 0..3 always zero, the others of rising scale
  const scales = Array.from({ length: 16 }, (_, f) => (f < 4 ? 0 : f / 8));

  it('keeps the weights of largest |w|·RMS(x) (Gemm transB: w1[o, f] reads feature f); magnitude keeps weights on dead inputs', async () => {
    const calib = scaled(64, scales, 3);
    await withRunner(async (run) => {
      const m = mlp();
      const w = Float32Array.from(data(m, 'w1'));
      const r = await runPrune(m, parsePruneOptions({ sparsity: 0.5, scope: 'layer', criterion: 'activation', reconstructSamples: 64 }), { ...ctx, calibration: calib, run });
      expect(r.stats).toMatchObject({ criterion: 'activation', activationScoredLayers: 3 });
      // the expected mask from the same formula on the samples
      const x = calib.inputs.input.data;
      const rms = Array.from({ length: 16 }, (_, f) => {
        let s = 0;
        for (let i = 0; i < 64; i++) s += x[i * 16 + f] ** 2;
        return Math.sqrt(s / 64);
      });
      const score = Array.from(w, (v, i) => Math.abs(v) * rms[i % 16]);
      const order = score.map((s, i) => ({ s, i })).sort((a, b) => a.s - b.s || a.i - b.i);
      const pruned = new Set(order.slice(0, 96).map((o) => o.i));
      const got = data(m, 'w1');
      for (let i = 0; i < w.length; i++) expect(got[i] === 0).toBe(pruned.has(i));
      // every weight on features 0..3 is gone
      for (let o = 0; o < 12; o++) for (let f = 0; f < 4; f++) expect(got[o * 16 + f]).toBe(0);
      // magnitude pruning keeps some of them
      const mag = mlp();
      await runPrune(mag, parsePruneOptions({ sparsity: 0.5, scope: 'layer' }));
      let kept = 0;
      for (let o = 0; o < 12; o++) for (let f = 0; f < 4; f++) if (data(mag, 'w1')[o * 16 + f] !== 0) kept++;
      expect(kept).toBeGreaterThan(0);
    });
  });

  it('lowers the output error against magnitude pruning at the same sparsity on inputs of unequal scale', async () => {
    const calib = scaled(128, scales, 5);
    const test = scaled(64, scales, 6);
    await withRunner(async (run) => {
      const out = async (m: Model) => (await run(m, test.inputs)).logits.data as Float32Array;
      const ref = await out(mlp());
      const err = (a: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - ref[i]) ** 2, 0) / ref.reduce((s, v) => s + v * v, 0));
      const act = mlp();
      const mag = mlp();
      await runPrune(act, parsePruneOptions({ sparsity: 0.6, scope: 'lamp', criterion: 'activation' }), { ...ctx, calibration: calib, run });
      await runPrune(mag, parsePruneOptions({ sparsity: 0.6, scope: 'lamp' }), ctx);
      expect(countZeros(data(act, 'w1')) + countZeros(data(act, 'w2')) + countZeros(data(act, 'w3'))).toBe(
        countZeros(data(mag, 'w1')) + countZeros(data(mag, 'w2')) + countZeros(data(mag, 'w3')),
      );
      expect(err(await out(act))).toBeLessThan(err(await out(mag)));
    });
  });

  it('Conv: a filter tap scores by its input channel; an always-zero channel is pruned first; N:M keeps the groups', async () => {
    // input channel 1 of conv1 always zero: its taps are exactly half of cw1 [6, 2, 3, 3]
    const x = randn(32 * 128, rng(7));
    for (let s = 0; s < 32; s++) x.fill(0, s * 128 + 64, s * 128 + 128);
    const calib = { inputs: { input: { dtype: 'float' as const, dims: [32, 2, 8, 8], data: x } }, count: 32 };
    await withRunner(async (run) => {
      const m = cnn();
      await runPrune(m, parsePruneOptions({ sparsity: 0.5, scope: 'layer', criterion: 'activation' }), { ...ctx, calibration: calib, run });
      const w = data(m, 'cw1');
      for (let o = 0; o < 6; o++) {
        for (let t = 0; t < 9; t++) {
          expect(w[(o * 2 + 1) * 9 + t]).toBe(0);
          expect(w[o * 2 * 9 + t]).not.toBe(0);
        }
      }
      const nm = mlp();
      await runPrune(nm, parsePruneOptions({ pattern: '2:4', criterion: 'activation' }), { ...ctx, calibration: scaled(32, scales, 8), run });
      // w1 [12, 16] along K = 16: features 0..3 form the first group of each row, all zero inputs
      const w1 = data(nm, 'w1');
      for (let o = 0; o < 12; o++) for (let g = 0; g < 16; g += 4) expect([0, 1, 2, 3].filter((j) => w1[o * 16 + g + j] !== 0).length).toBeLessThanOrEqual(2);
    });
  });

  it('needs samples, and refuses channel pruning', async () => {
    await expect(runPrune(mlp(), parsePruneOptions({ sparsity: 0.5, criterion: 'activation' }), ctx)).rejects.toThrow(/calibration-data/);
    expect(() => parsePruneOptions({ sparsity: 0.5, pattern: 'channel', criterion: 'activation' })).toThrow(/criterion/);
    expect(() => parsePruneOptions({ sparsity: 0.5, criterion: 'wanda' })).toThrow(/criterion/);
    expect(parsePruneOptions({ sparsity: 0.5 }).criterion).toBe('magnitude');
  });
});
