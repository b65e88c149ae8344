/**
 * The targets on the MNIST fixtures:
 * - mnist-mlp --quantize int8 (dynamic): file ≤ 0.27× the fp32 file, accuracy drop ≤ 0.3 points;
 * - mnist-cnn --quantize int8 --quantize-mode static, calibrated on 200 training digits: accuracy
 *   drop ≤ 0.5 points, file ≤ 0.3×.
 */
import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadDataset, takeDataset } from '../../src/data/index.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { cloneModel } from '../../src/ir/clone.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import type { Dataset } from '../../src/passes/pass.js';
import { createSession, makeRunner } from '../../src/runtime/index.js';
import { ctxWith, quantize } from './quantize-helpers.js';

const MLP = 'fixtures/mnist-mlp.onnx';
const CNN = 'fixtures/mnist-cnn.onnx';
const TEST = 'fixtures/mnist-test.npz';
const TRAIN = 'fixtures/mnist-train.npz';

async function accuracy(model: Model, ds: Dataset): Promise<number> {
  const s = await createSession(model, { intraOpThreads: 1 });
  try {
    const out = await s.run({ input: ds.inputs.input as never });
    const logits = out[s.outputNames[0]].data as Float32Array;
    let ok = 0;
    for (let i = 0; i < ds.count; i++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
      if (best === ds.labels![i]) ok++;
    }
    return (100 * ok) / ds.count;
  } finally {
    await s.release();
  }
}

describe.skipIf(!existsSync(MLP) || !existsSync(TEST))('mnist-mlp int8 (dynamic)', () => {
  it('file ≤ 0.27×, accuracy drop ≤ 0.3 points', async () => {
    const m = await loadModel(MLP);
    const test = await loadDataset(TEST, m);
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(result.stats.Gemm).toBe(3);
    const ratio = modelToBytes(q).length / statSync(MLP).size;
    const [a0, a1] = [await accuracy(m, test), await accuracy(q, test)];
    console.log(`mnist-mlp int8 dynamic: size ratio ${ratio.toFixed(4)}, accuracy ${a0.toFixed(2)} → ${a1.toFixed(2)}`);
    expect(ratio).toBeLessThanOrEqual(0.27);
    expect(a0 - a1).toBeLessThanOrEqual(0.3);
  });
});

describe.skipIf(!existsSync(CNN) || !existsSync(TEST) || !existsSync(TRAIN))('mnist-cnn int8 static', () => {
  for (const method of ['minmax', 'percentile', 'entropy']) {
    it(`calibrated (${method}) on 200 training digits: accuracy drop ≤ 0.5 points, file ≤ 0.3×`, async () => {
      const m = await loadModel(CNN);
      const test = await loadDataset(TEST, m);
      const calib = takeDataset(await loadDataset(TRAIN, m), 200);
      const run = makeRunner();
      try {
        const { model: q, result } = await quantize(m, { type: 'int8', mode: 'static', calibrationMethod: method }, ctxWith({ calibration: calib, run }));
        expect(result.stats.Conv).toBe(2);
        expect(result.stats.Gemm).toBe(3);
        const ratio = modelToBytes(q).length / statSync(CNN).size;
        const [a0, a1] = [await accuracy(m, test), await accuracy(q, test)];
        console.log(`mnist-cnn int8 static ${method}: size ratio ${ratio.toFixed(4)}, accuracy ${a0.toFixed(2)} → ${a1.toFixed(2)}`);
        expect(ratio).toBeLessThanOrEqual(0.3);
        expect(a0 - a1).toBeLessThanOrEqual(0.5);
      } finally {
        await run.release();
      }
    });
  }
});

describe.skipIf(!existsSync(MLP) || !existsSync(TEST))('mnist-mlp pruned, then int8 (dynamic)', () => {
  it('stores a sparse transB weight in the layout that deflates smaller, behind a Transpose; outputs unchanged', async () => {
    const { deflateRawSync } = await import('node:zlib');
    const { getPass } = await import('../../src/passes/registry.js');
    const { seededRng, silentLogger } = await import('../../src/passes/pass.js');
    const m = await loadModel(MLP);
    const prune = getPass('prune');
    await prune.run(m, prune.parseOptions({ sparsity: 0.9 }), { log: silentLogger, rng: seededRng(1) });
    const test = takeDataset(await loadDataset(TEST, m), 500);
    const { model: q } = await quantize(m, { type: 'int8' });
    const transposes = q.graph.nodes.filter((n) => n.opType === 'Transpose');
    expect(transposes.length).toBeGreaterThanOrEqual(1);
    for (const t of transposes) {
      const w = q.graph.initializers.get(t.inputs[0])!;
      const [N, K] = w.dims;
      const data = w.data as Int8Array;
      const kn = new Int8Array(data.length);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) kn[k * N + n] = data[n * K + k];
      const size = (a: Int8Array) => deflateRawSync(new Uint8Array(a.buffer)).length;
      expect(size(data)).toBeLessThan(size(kn));
    }
    // against the same quantization without the layout choice: the [K, N] weight put back inline
    const plain = cloneModel(q);
    for (const t of plain.graph.nodes.filter((n) => n.opType === 'Transpose')) {
      const w = plain.graph.initializers.get(t.inputs[0])!;
      const [N, K] = w.dims;
      const data = w.data as Int8Array;
      const kn = new Int8Array(data.length);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) kn[k * N + n] = data[n * K + k];
      plain.graph.initializers.set(t.outputs[0], new Tensor(t.outputs[0], w.dtype, [K, N], kn));
      plain.graph.removeNode(t);
    }
    plain.graph.removeUnusedInitializers();
    const run = async (model: Model) => {
      const s = await createSession(model, { intraOpThreads: 1 });
      try {
        return (await s.run({ input: test.inputs.input as never })).logits.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    expect(Array.from(await run(q))).toEqual(Array.from(await run(plain)));
  });
});
