/**
 * Static calibration through the shared activation collector gives the activation scales the
 * straightforward method gives: every tensor copied out of one run over all samples, min / max
 * scanned, histograms filled from the copies (what the pass did before streaming).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cloneModel } from '../../src/ir/clone.js';
import type { Model } from '../../src/ir/model.js';
import { computeScaleZp, entropyThreshold, Histogram, percentileRange, qRange } from '../../src/math/quant.js';
import { buildMobileNetV2 } from '../../src/models/mobilenet.js';
import { collectActivations } from '../../src/passes/activations.js';
import { seededRng, silentLogger, type Dataset } from '../../src/passes/pass.js';
import { quantizePass } from '../../src/passes/quantize.js';
import { makeRunner } from '../../src/runtime/index.js';

const runner = makeRunner();
afterAll(() => runner.release());

function images(n: number, res: number, seed: number): Dataset {
  const r = seededRng(seed);
  const x = new Float32Array(n * 3 * res * res);
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * 2.5;
  return { inputs: { input: { dtype: 'float', dims: [n, 3, res, res], data: x } }, count: n };
}

const binsFor = (n: number) => Math.min(2048, Math.max(256, 2 ** Math.round(Math.log2(Math.max(1, n / 16)))));

/** Activation scale per tensor, the one-shot way. */
async function reference(m: Model, ds: Dataset, tensors: string[], method: string): Promise<Map<string, number>> {
  // only these tensors exposed, as the pass measures them: a Conv output under a folded Clip is not
  // (a second reader of it would stop onnxruntime fusing the Clip into the Conv, which can move the
  // last bit of what follows)
  const acts = await collectActivations(runner, m, ds.inputs, tensors);
  const out = new Map<string, number>();
  for (const t of tensors) {
    const d = acts[t]!.data;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of d) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (method === 'percentile' && lo < hi) {
      const h = new Histogram(lo, hi, 2 * binsFor(d.length));
      h.add(d);
      [lo, hi] = percentileRange(h, 99.99, [lo, hi]);
    }
    if (method === 'entropy' && lo < hi) {
      const h = new Histogram(0, Math.max(-lo, hi), binsFor(d.length));
      h.add(d.map(Math.abs));
      const T = entropyThreshold(h, lo >= 0 ? 256 : 128, true);
      lo = Math.max(lo, -T);
      hi = Math.min(hi, T);
    }
    out.set(t, Math.fround(computeScaleZp(lo, hi, qRange('uint8'), false).scale));
  }
  return out;
}

describe('static calibration (streamed, ranges reduced in onnxruntime, Clip outputs derived)', () => {
  for (const method of ['minmax', 'percentile', 'entropy']) {
    it(`${method}: the activation scales of the one-shot method, batches of 2`, async () => {
      const m = buildMobileNetV2({ width: 0.25, resolution: 32, classes: 10, dynamicBatch: true });
      const ds = images(5, 32, 21);
      const q = cloneModel(m);
      const ctx = { log: silentLogger, rng: seededRng(1), calibration: ds, run: runner };
      const r = await quantizePass.run(
        q,
        quantizePass.parseOptions({ type: 'int8', mode: 'static', calibrationMethod: method, calibrationBatch: 2 }),
        ctx,
      );
      expect(r.modified).toBe(true);
      expect(r.stats.Conv).toBeGreaterThanOrEqual(48); // a few tiny weights (< 128 elements) stay float
      // every activation Q: its scale initializer is `<tensor>_scale`, named after the tensor whose
      // range it carries (a Clip folded into its Conv: the Q reads the Conv output with the Clip
      // output's range)
      const qs = q.graph.nodes.filter((n) => n.opType === 'QuantizeLinear');
      const tensors = qs.map((n) => n.inputs[1].replace(/_scale$/, ''));
      // a Clip output among them (its range is derived from the Conv output)
      expect(tensors.some((t) => t.endsWith('/Clip_output_0'))).toBe(true);
      const ref = await reference(m, ds, tensors, method);
      for (const n of qs) {
        const scale = q.graph.initializers.get(n.inputs[1])!.data[0];
        const t = n.inputs[1].replace(/_scale$/, '');
        expect(scale, t).toBe(ref.get(t));
      }
    });
  }
});
