/**
 * The prune targets on the MNIST MLP fixture (skipped when the fixtures are absent):
 * --prune 0.8 one shot loses ≤ 2 accuracy points and gzips to ≤ 0.35× the original;
 * --prune 0.5 --prune-pattern channel keeps ≤ 0.55× the parameters; 2:4 is exact.
 */
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { cloneModel, Model } from '../../src/ir/index.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { loadDataset } from '../../src/data/index.js';
import type { Dataset } from '../../src/passes/pass.js';
import { countParams } from '../../src/ir/params.js';
import { parsePruneOptions, runPrune } from '../../src/passes/prune.js';
import { axisL2Norms, smallestIndices } from '../../src/math/sparsity.js';
import type { Tensor } from '../../src/ir/index.js';
import { createSession, makeRunner } from '../../src/runtime/index.js';
import { silentLogger } from '../../src/passes/pass.js';

const MODEL = 'fixtures/mnist-mlp.onnx';
const DATA = 'fixtures/mnist-test.npz';
const present = existsSync(MODEL) && existsSync(DATA);

let original: Model;
let data: Dataset;
let baseAccuracy: number;

async function accuracy(m: Model): Promise<number> {
  const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
  try {
    const input = m.graph.realInputs()[0].name;
    const out = Object.values(await s.run({ [input]: data.inputs[input] as never }))[0];
    const k = out.dims[1];
    const d = out.data as Float32Array;
    let ok = 0;
    for (let i = 0; i < data.count; i++) {
      let b = 0;
      for (let j = 1; j < k; j++) if (d[i * k + j] > d[i * k + b]) b = j;
      if (b === data.labels![i]) ok++;
    }
    return ok / data.count;
  } finally {
    await s.release();
  }
}

const gz = (m: Model) => gzipSync(modelToBytes(m), { level: 9 }).length;

describe.skipIf(!present)('prune targets on the MNIST MLP fixture', () => {
  beforeAll(async () => {
    original = await loadModel(MODEL);
    data = (await loadDataset(DATA, original)) as unknown as Dataset;
    baseAccuracy = await accuracy(original);
  });

  it('--prune 0.8: accuracy drop ≤ 2 points, gzip ≤ 0.35×', async () => {
    const m = cloneModel(original);
    const r = await runPrune(m, parsePruneOptions({ sparsity: 0.8 }));
    expect(r.stats.sparsity).toBe(0.8);
    const acc = await accuracy(m);
    console.log(`prune 0.8: accuracy ${(100 * baseAccuracy).toFixed(2)}% → ${(100 * acc).toFixed(2)}%, gzip ${(gz(m) / gz(original)).toFixed(3)}×`);
    expect(baseAccuracy - acc).toBeLessThanOrEqual(0.02);
    expect(gz(m)).toBeLessThanOrEqual(0.35 * gz(original));
  });

  it('--prune 0.5 --prune-pattern channel: parameters ≤ 0.55×', async () => {
    const m = cloneModel(original);
    await runPrune(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }));
    const ratio = countParams(m.graph, { floatOnly: true }).params / countParams(original.graph, { floatOnly: true }).params;
    const acc = await accuracy(m);
    console.log(`channel 0.5: params ${ratio.toFixed(3)}×, accuracy ${(100 * baseAccuracy).toFixed(2)}% → ${(100 * acc).toFixed(2)}%`);
    expect(ratio).toBeLessThanOrEqual(0.55);
  });

  it.skipIf(!existsSync('fixtures/mnist-train.npz'))('channel 0.5 with --prune-reconstruct on training samples: accuracy drop ≤ 2 points', async () => {
    const train = (await loadDataset('fixtures/mnist-train.npz', original)) as unknown as Dataset;
    const run = makeRunner({ intraOpThreads: 1 });
    try {
      const m = cloneModel(original);
      const r = await runPrune(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel', reconstruct: true }), { log: silentLogger, rng: Math.random, calibration: train, run });
      expect(r.stats.refitLayers).toBe(2);
      const acc = await accuracy(m);
      console.log(`channel 0.5 + refit: accuracy ${(100 * baseAccuracy).toFixed(2)}% → ${(100 * acc).toFixed(2)}%`);
      expect(baseAccuracy - acc).toBeLessThanOrEqual(0.02);
    } finally {
      await run.release();
    }
  });

  it('--prune-pattern 2:4: exactly 2 non-zeros in every group of 4 along the input dimension', async () => {
    const m = cloneModel(original);
    await runPrune(m, parsePruneOptions({ pattern: '2:4' }));
    let groups = 0;
    let bad = 0;
    for (const n of m.graph.nodes.filter((x) => x.opType === 'Gemm' || x.opType === 'MatMul')) {
      const w = m.graph.initializers.get(n.inputs[1])!;
      const d = w.data as Float32Array;
      const transB = n.opType === 'Gemm' && n.attributes.some((a) => a.name === 'transB' && Number(a.value) === 1);
      const [r, c] = w.dims;
      // input dimension: axis 1 when stored [out, in] (transB), else axis 0
      const K = transB ? c : r;
      const N = transB ? r : c;
      const at = (k: number, o: number) => (transB ? d[o * c + k] : d[k * c + o]);
      for (let o = 0; o < N; o++)
        for (let g = 0; g < K; g += 4) {
          let nz = 0;
          for (let j = 0; j < 4; j++) if (at(g + j, o) !== 0) nz++;
          if (nz !== 2) bad++;
          groups++;
        }
    }
    expect(groups).toBe((784 * 300 + 300 * 100 + 100 * 10) / 4);
    expect(bad).toBe(0);
  });
});

const CNN = 'fixtures/mnist-cnn.onnx';

describe.skipIf(!existsSync(CNN) || !present)('channel pruning of the MNIST CNN fixture', () => {
  it('shrinks conv filters through ReLU / MaxPool / Flatten into the Gemms; ORT matches the masked original', async () => {
    const cnn = await loadModel(CNN);
    const m = cloneModel(cnn);
    const ref = cloneModel(cnn);
    const W = (model: Model, n: string): Tensor => model.graph.initializers.get(n)!;
    const removed = (t: Tensor) => smallestIndices(axisL2Norms(t.data as Float32Array, t.dims, 0), Math.round(0.5 * t.dims[0]));
    const rm = Object.fromEntries(['conv1', 'conv2', 'fc1', 'fc2'].map((l) => [l, removed(W(cnn, `${l}.weight`))]));
    const r = await runPrune(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }));
    expect(r.stats.layersPruned).toBe(4);
    expect(W(m, 'conv1.weight').dims).toEqual([3, 1, 5, 5]);
    expect(W(m, 'conv2.weight').dims).toEqual([8, 3, 5, 5]);
    expect(W(m, 'fc1.weight').dims).toEqual([60, 200]); // 8 channels × 5×5 after the second pool
    expect(W(m, 'fc2.weight').dims).toEqual([42, 60]);
    expect(W(m, 'fc3.weight').dims).toEqual([10, 42]);
    // reference: the readers of the removed channels zeroed in the original
    const zeroCols = (t: Tensor, idx: number[], block: number, inner: number) => {
      const d = t.data as Float32Array;
      const len = t.dims[1];
      for (let o = 0; o < t.dims[0]; o++) for (const c of idx) d.fill(0, (o * len + c * block) * inner, (o * len + (c + 1) * block) * inner);
    };
    zeroCols(W(ref, 'conv2.weight'), rm.conv1, 1, 25);
    zeroCols(W(ref, 'fc1.weight'), rm.conv2, 25, 1);
    zeroCols(W(ref, 'fc2.weight'), rm.fc1, 1, 1);
    zeroCols(W(ref, 'fc3.weight'), rm.fc2, 1, 1);
    const outputs = async (model: Model) => {
      const s = await createSession(modelToBytes(model), { intraOpThreads: 1 });
      const x = data.inputs.input.data as Float32Array;
      const o = await s.run({ input: { dtype: 'float', dims: [16, 784], data: x.subarray(0, 16 * 784) } });
      await s.release();
      return o.logits.data as Float32Array;
    };
    const a = await outputs(m);
    const b = await outputs(ref);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(b[i])));
  });
});
