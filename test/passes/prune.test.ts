import { describe, expect, it } from 'vitest';
import { cloneModel, DataType, Model, ModelBuilder, Tensor } from '../../src/ir/index.js';
import { axisL2Norms, countZeros, smallestIndices } from '../../src/math/sparsity.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { silentLogger, seededRng, type PassContext } from '../../src/passes/pass.js';
import { parsePruneOptions, prunePass, runPrune } from '../../src/passes/prune.js';
import { createSession, makeRunner } from '../../src/runtime/index.js';
import { buildEncoder } from '../../src/models/encoder.js';
import { cnn, mlp, randn, rng } from './prune-helpers.js';

const ctx: PassContext = { log: silentLogger, rng: seededRng(1) };

async function run(m: Model, dims: number[], seed = 9): Promise<Float32Array> {
  const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
  try {
    const x = randn(dims.reduce((a, b) => a * b), rng(seed));
    const r = await s.run({ input: { dtype: 'float', dims, data: x } });
    return r.logits.data as Float32Array;
  } finally {
    await s.release();
  }
}

function expectClose(a: Float32Array, b: Float32Array, tol = 1e-4): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i])));
}

const W = (m: Model, name: string): Tensor => m.graph.initializers.get(name)!;
const data = (m: Model, name: string) => W(m, name).data as Float32Array;

describe('prune options', () => {
  it('defaults and validation', () => {
    expect(parsePruneOptions({ sparsity: 0.8 })).toMatchObject({ sparsity: 0.8, scope: 'global', pattern: 'unstructured', keepFirstLast: false, exclude: [] });
    expect(parsePruneOptions({ sparsity: '50%' }).sparsity).toBe(0.5);
    expect(parsePruneOptions({ pattern: '2:4' })).toMatchObject({ sparsity: 0.5, pattern: '2:4' });
    expect(parsePruneOptions({ sparseStorage: true }).sparsity).toBe(0);
    expect(() => parsePruneOptions({ sparsity: 1.2 })).toThrow(/sparsity/);
    expect(() => parsePruneOptions({ sparsity: 'x' })).toThrow(/sparsity/);
    expect(() => parsePruneOptions({ sparsity: 0.5, pattern: 'blocks' })).toThrow(/pattern/);
    expect(() => parsePruneOptions({ sparsity: 0.8, pattern: '2:4' })).toThrow(/2:4/);
    expect(() => parsePruneOptions({ pattern: 'channel' })).toThrow(/required/);
    expect(() => parsePruneOptions({ sparsity: 0.5, scope: 'model' })).toThrow(/scope/);
    expect(() => parsePruneOptions({ sparsity: 0.5, bogus: 1 })).toThrow(/unknown option/);
  });

  it('CLI flags map to options; no prune flag means no pass', () => {
    const cli = prunePass.cli!;
    expect(cli.fromFlags({ exclude: ['a'] })).toBeUndefined();
    const raw = cli.fromFlags({ prune: '0.8', pruneScope: 'layer', pruneKeepFirstLast: true, exclude: ['fc*'] });
    expect(prunePass.parseOptions(raw)).toMatchObject({ sparsity: 0.8, scope: 'layer', keepFirstLast: true, exclude: ['fc*'] });
    expect(prunePass.parseOptions(cli.fromFlags({ prunePattern: '2:4' }))).toMatchObject({ pattern: '2:4', sparsity: 0.5 });
    expect(cli.outputSuffix({})).toBe('_pruned');
  });
});

describe('unstructured magnitude pruning', () => {
  it('global: one threshold, exact count, biases untouched, ORT matches an independently masked model', async () => {
    const m = mlp();
    const ref = cloneModel(m);
    const res = await prunePass.run(m, parsePruneOptions({ sparsity: 0.7 }), ctx);
    expect(res.modified).toBe(true);
    const ws = ['w1', 'w2', 'w3'];
    const total = ws.reduce((s, w) => s + W(m, w).size, 0);
    const zeros = ws.reduce((s, w) => s + countZeros(data(m, w)), 0);
    expect(zeros).toBe(Math.round(0.7 * total));
    expect(res.stats.sparsity).toBeCloseTo(zeros / total, 3);
    for (const b of ['b1', 'b2', 'b3']) expect(countZeros(data(m, b))).toBe(0);
    // independent reference: sort all |w|, zero below the k-th
    const all = ws.flatMap((w) => Array.from(data(ref, w), Math.abs)).sort((a, b) => a - b);
    const t = all[Math.round(0.7 * total)];
    for (const w of ws) data(ref, w).forEach((v, i, a) => (a[i] = Math.abs(v) < t ? 0 : v));
    expectClose(await run(m, [5, 16]), await run(ref, [5, 16]));
    expect(res.details!.map((d) => d.node)).toEqual(['fc1', 'fc2', 'fc3']);
    for (const d of res.details!) expect(Number(d.nonzeroAfter)).toBeLessThan(Number(d.nonzeroBefore));
  });

  it('layer scope: every weight reaches the sparsity on its own', async () => {
    const m = mlp();
    await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, scope: 'layer' }), ctx);
    for (const w of ['w1', 'w2', 'w3']) expect(countZeros(data(m, w))).toBe(W(m, w).size / 2);
    await run(m, [2, 16]);
  });

  it('lamp scope: exact total count, per-layer magnitude order, every layer keeps its largest weight', async () => {
    const m = mlp();
    const ref = cloneModel(m);
    await prunePass.run(m, parsePruneOptions({ sparsity: 0.9, scope: 'lamp' }), ctx);
    const ws = ['w1', 'w2', 'w3'];
    const total = ws.reduce((s, w) => s + W(m, w).size, 0);
    expect(ws.reduce((s, w) => s + countZeros(data(m, w)), 0)).toBe(Math.round(0.9 * total));
    for (const w of ws) {
      const o = data(ref, w);
      const p = data(m, w);
      let maxPruned = 0;
      let minKept = Infinity;
      o.forEach((v, i) => (p[i] === 0 ? (maxPruned = Math.max(maxPruned, Math.abs(v))) : (minKept = Math.min(minKept, Math.abs(v)))));
      expect(minKept).toBeLessThan(Infinity);
      expect(maxPruned).toBeLessThanOrEqual(minKept);
    }
    await run(m, [2, 16]);
  });

  it('exclude and keep-first-last leave layers dense, with a reason', async () => {
    const m = mlp();
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, exclude: ['fc2'] }), ctx);
    expect(countZeros(data(m, 'w2'))).toBe(0);
    expect(r.skipped).toContainEqual({ node: 'fc2', reason: 'excluded (weight w2)' });
    const m2 = mlp();
    const r2 = await prunePass.run(m2, parsePruneOptions({ sparsity: 0.5, keepFirstLast: true }), ctx);
    expect(countZeros(data(m2, 'w1'))).toBe(0);
    expect(countZeros(data(m2, 'w3'))).toBe(0);
    expect(countZeros(data(m2, 'w2'))).toBe(48);
    expect(r2.skipped.map((s) => s.node).sort()).toEqual(['fc1', 'fc3']);
  });

  it('embeddings only when asked', async () => {
    const r0 = rng(3);
    const b = new ModelBuilder();
    const ids = b.input('ids', DataType.INT64, ['N']);
    const e = b.op('Gather', [b.init('emb', [10, 8], randn(80, r0)), ids], {}, { name: 'embed' });
    const y = b.op('MatMul', [e, b.init('w', [8, 4], randn(32, r0))], {}, { name: 'proj' });
    b.output(y, DataType.FLOAT, ['N', 4], 'logits');
    const m = b.build();
    await prunePass.run(m, parsePruneOptions({ sparsity: 0.5 }), ctx);
    expect(countZeros(data(m, 'emb'))).toBe(0);
    expect(countZeros(data(m, 'w'))).toBe(16);
    const m2 = b.build();
    const m3 = cloneModel(m2);
    await prunePass.run(m3, parsePruneOptions({ sparsity: 0.5, includeEmbeddings: true, scope: 'layer' }), ctx);
    expect(countZeros(data(m3, 'emb'))).toBe(40);
  });
});

describe('N:M pruning', () => {
  it('2:4: exactly 2 non-zeros in every group of 4 along the input dimension (transB honoured)', async () => {
    const m = mlp();
    const ref = cloneModel(m);
    const r = await prunePass.run(m, parsePruneOptions({ pattern: '2:4' }), ctx);
    expect(r.modified).toBe(true);
    // w1: Gemm transB=1 → [out 12, in 16], groups along axis 1 (contiguous)
    const w1 = data(m, 'w1');
    for (let o = 0; o < 12; o++)
      for (let g = 0; g < 16; g += 4) {
        let nz = 0;
        for (let j = 0; j < 4; j++) if (w1[o * 16 + g + j] !== 0) nz++;
        expect(nz).toBe(2);
      }
    // w2: MatMul [in 12, out 8] and w3: Gemm transB=0 [in 8, out 4], groups along axis 0
    for (const [name, K, N] of [['w2', 12, 8], ['w3', 8, 4]] as const) {
      const w = data(m, name);
      for (let c = 0; c < N; c++)
        for (let g = 0; g < K; g += 4) {
          let nz = 0;
          let minKept = Infinity;
          let maxDropped = 0;
          for (let j = 0; j < 4; j++) {
            const i = (g + j) * N + c;
            const orig = Math.abs(data(ref, name)[i]);
            if (w[i] !== 0) {
              nz++;
              minKept = Math.min(minKept, orig);
            } else maxDropped = Math.max(maxDropped, orig);
          }
          expect(nz).toBe(2);
          expect(maxDropped).toBeLessThanOrEqual(minKept);
        }
    }
    expect(r.stats.sparsity).toBe(0.5);
    await run(m, [2, 16]);
  });

  it('skips a weight whose input dimension is not a multiple of M', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 6]);
    const y = b.op('MatMul', [x, b.init('w', [6, 4], randn(24, rng(4)))], {}, { name: 'mm' });
    b.output(y, DataType.FLOAT, ['N', 4], 'logits');
    const m = b.build();
    const r = await prunePass.run(m, parsePruneOptions({ pattern: '2:4' }), ctx);
    expect(r.modified).toBe(false);
    expect(r.skipped[0].reason).toMatch(/not a multiple of 4/);
  });
});

/** Channels the pass should remove per layer (layer scope): the round(s·N) smallest L2 norms. */
function expectedRemoved(t: Tensor, axis: number, s: number): number[] {
  const n = t.dims[axis];
  return smallestIndices(axisL2Norms(t.data as Float32Array, t.dims, axis), Math.min(n - 1, Math.round(s * n)));
}

/** Zero slices (along axis, in blocks of `block`) of a weight: the masking reference for removal. */
function zeroSlices(t: Tensor, axis: number, idx: number[], block = 1): void {
  const d = t.data as Float32Array;
  let inner = 1;
  for (let i = axis + 1; i < t.dims.length; i++) inner *= t.dims[i];
  const len = t.dims[axis];
  const outer = d.length / (len * inner);
  for (let o = 0; o < outer; o++) for (const c of idx) for (let b = 0; b < block; b++) d.fill(0, (o * len + c * block + b) * inner, (o * len + c * block + b + 1) * inner);
}

describe('channel pruning', () => {
  it('MLP: removes neurons, shrinks bias / Add constant / next weights; ORT matches the masked reference', async () => {
    const m = mlp();
    const ref = cloneModel(m);
    const rm1 = expectedRemoved(W(m, 'w1'), 0, 0.5); // Gemm transB=1: outputs along axis 0
    const rm2 = expectedRemoved(W(m, 'w2'), 1, 0.5);
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel', scope: 'layer' }), ctx);
    expect(r.modified).toBe(true);
    expect(W(m, 'w1').dims).toEqual([6, 16]);
    expect(W(m, 'b1').dims).toEqual([6]);
    expect(W(m, 'w2').dims).toEqual([6, 4]);
    expect(W(m, 'b2').dims).toEqual([4]);
    expect(W(m, 'w3').dims).toEqual([4, 4]);
    expect(r.skipped).toContainEqual({ node: 'fc3', reason: 'logits is a graph output' });
    expect(r.stats.paramsAfter).toBe(6 * 16 + 6 + 6 * 4 + 4 + 4 * 4 + 4);
    const d1 = r.details!.find((d) => d.node === 'fc1')!;
    expect(d1).toMatchObject({ channelsBefore: 12, channelsAfter: 6, paramsBefore: 204, paramsAfter: 102 });
    // reference: the original with the removed channels' readers zeroed
    zeroSlices(W(ref, 'w2'), 0, rm1);
    zeroSlices(W(ref, 'w3'), 0, rm2);
    expectClose(await run(m, [4, 16]), await run(ref, [4, 16]));
  });

  for (const variant of ['flatten', 'reshape-1', 'reshapeK'] as const) {
    it(`CNN (${variant}): filters, BatchNorm, pooled + flattened readers shrink; ORT matches the masked reference`, async () => {
      const m = cnn(2, variant);
      const ref = cloneModel(m);
      const rm1 = expectedRemoved(W(m, 'cw1'), 0, 0.5);
      const rm2 = expectedRemoved(W(m, 'cw2'), 0, 0.5);
      const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel', scope: 'layer' }), ctx);
      expect(r.modified).toBe(true);
      expect(W(m, 'cw1').dims).toEqual([3, 2, 3, 3]);
      expect(W(m, 'cb1').dims).toEqual([3]);
      for (const p of ['bn_s', 'bn_b', 'bn_m', 'bn_v']) expect(W(m, p).dims).toEqual([3]);
      expect(W(m, 'cw2').dims).toEqual([2, 3, 3, 3]); // round(0.5·5) = 3 of 5 filters removed
      expect(W(m, 'fw').dims).toEqual([3, 32]);
      if (variant === 'reshapeK') expect(W(m, 'shape').toIntArray()).toEqual([-1, 32]);
      zeroSlices(W(ref, 'cw2'), 1, rm1);
      zeroSlices(W(ref, 'fw'), 1, rm2, 16); // 4x4 spatial positions per channel after pooling
      expectClose(await run(m, [2, 2, 8, 8]), await run(ref, [2, 2, 8, 8]));
    });
  }

  it('transformer encoder: FFN neurons go through MatMul + Add + GELU (Erf); attention and residual layers are skipped', async () => {
    const m = buildEncoder({ hidden: 16, heads: 2, ffn: 32, layers: 2, seq: 4, seed: 3 });
    const ref = cloneModel(m);
    const up = (i: number) => `encoder.layer.${i}.intermediate.dense`;
    const removed = [0, 1].map((i) => expectedRemoved(W(m, `${up(i)}.weight`), 1, 0.5));
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }), ctx);
    expect(r.stats.layersPruned).toBe(2);
    for (const i of [0, 1]) {
      expect(W(m, `${up(i)}.weight`).dims).toEqual([16, 16]);
      expect(W(m, `${up(i)}.bias`).dims).toEqual([16]);
      expect(W(m, `encoder.layer.${i}.output.dense.weight`).dims).toEqual([16, 16]);
      zeroSlices(W(ref, `encoder.layer.${i}.output.dense.weight`), 0, removed[i]);
    }
    expect(r.skipped.some((s) => /query/.test(s.node) && /Reshape/.test(s.reason))).toBe(true);
    expect(r.skipped.some((s) => /output\/dense/.test(s.node) && /residual/.test(s.reason))).toBe(true);
    const go = async (model: Model) => {
      const s = await createSession(modelToBytes(model), { intraOpThreads: 1 });
      const o = await s.run({ input: { dtype: 'float', dims: [2, 4, 16], data: randn(128, rng(4)) } });
      await s.release();
      return o.output.data as Float32Array;
    };
    expectClose(await go(m), await go(ref));
  });

  it('global scope ranks channels across layers and keeps at least one per layer', async () => {
    const m = mlp();
    expect(parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }).scope).toBe('layer');
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel', scope: 'global' }), ctx);
    expect(r.stats.channelsRemoved).toBe(10); // round(0.5 · (12 + 8))
    expect(W(m, 'w1').dims[0] + W(m, 'w2').dims[1]).toBe(10);
    await run(m, [2, 16]);
    const m2 = mlp();
    await prunePass.run(m2, parsePruneOptions({ sparsity: 0.99, pattern: 'channel', scope: 'layer' }), ctx);
    expect(W(m2, 'w1').dims[0]).toBe(1);
    await run(m2, [2, 16]);
  });

  it('skips a layer whose output feeds a residual Add or a Concat, or is a graph output', async () => {
    const r0 = rng(5);
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 8]);
    const h = b.op('Relu', [b.op('MatMul', [x, b.init('w1', [8, 8], randn(64, r0))], {}, { name: 'res_fc' })]);
    const s = b.op('Add', [h, x], {}, { name: 'residual' });
    const c = b.op('Concat', [b.op('MatMul', [s, b.init('w2', [8, 4], randn(32, r0))], {}, { name: 'cat_fc' }), x], { axis: 1 }, { name: 'cat' });
    const y = b.op('MatMul', [c, b.init('w3', [12, 3], randn(36, r0))], {}, { name: 'out_fc' });
    b.output(y, DataType.FLOAT, ['N', 3], 'logits');
    const m = b.build();
    const before = modelToBytes(m);
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }), ctx);
    expect(r.modified).toBe(false);
    expect(modelToBytes(m)).toEqual(before);
    const reasons = Object.fromEntries(r.skipped.map((k) => [k.node, k.reason]));
    expect(reasons.res_fc).toMatch(/residual/);
    expect(reasons.cat_fc).toMatch(/Concat/);
    expect(reasons.out_fc).toMatch(/graph output/);
  });
});

describe('no-op cases', () => {
  it('sparsity 0 changes nothing', async () => {
    for (const pattern of ['unstructured', 'channel']) {
      const m = mlp();
      const before = modelToBytes(m);
      const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0, pattern }), ctx);
      expect(r.modified).toBe(false);
      expect(modelToBytes(m)).toEqual(before);
    }
  });

  it('a model without constant MatMul / Gemm / Conv weights is left alone', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 4]);
    const w = b.input('w', DataType.FLOAT, [4, 4]);
    const y = b.op('Relu', [b.op('MatMul', [x, w])]);
    b.output(y, DataType.FLOAT, ['N', 4], 'logits');
    const m = b.build();
    const before = modelToBytes(m);
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.9 }), ctx);
    expect(r).toMatchObject({ modified: false, skipped: [] });
    expect(r.stats.prunableLayers).toBe(0);
    expect(modelToBytes(m)).toEqual(before);
  });

  it('IR < 4: initializers listed as graph inputs are weights; input shapes follow channel removal', async () => {
    const m = mlp();
    m.irVersion = 3;
    m.opsetImports = [{ domain: '', version: 8 }];
    for (const [name, t] of m.graph.initializers) m.graph.inputs.push({ name, type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [...t.dims] } });
    const ref = cloneModel(m);
    const rm = expectedRemoved(W(m, 'w1'), 0, 0.5);
    const rm2 = expectedRemoved(W(m, 'w2'), 1, 0.5);
    const r = await prunePass.run(m, parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }), ctx);
    expect(r.modified).toBe(true);
    const shapeOf = (n: string) => { const v = m.graph.inputs.find((i) => i.name === n)!; return v.type?.kind === 'tensor' ? v.type.shape : undefined; };
    expect(shapeOf('w1')).toEqual([6, 16]);
    expect(shapeOf('w2')).toEqual([6, 4]);
    zeroSlices(W(ref, 'w2'), 0, rm);
    zeroSlices(W(ref, 'w3'), 0, rm2);
    expectClose(await run(m, [2, 16]), await run(ref, [2, 16]));
  });

  it('an initializer that is also a graph input (overridable) is not pruned', async () => {
    const m = mlp();
    m.graph.inputs.push({ name: 'w2', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [12, 8] } });
    await prunePass.run(m, parsePruneOptions({ sparsity: 0.5 }), ctx);
    expect(countZeros(data(m, 'w2'))).toBe(0);
  });
});

describe('sparse storage', () => {
  it('stores pruned weights as sparse initializers that onnxruntime loads and runs identically', async () => {
    const m = mlp();
    await runPrune(m, parsePruneOptions({ sparsity: 0.8, scope: 'layer' }));
    const dense = cloneModel(m);
    const r = await runPrune(m, parsePruneOptions({ sparseStorage: true }));
    expect(r.modified).toBe(true);
    expect(r.stats.sparseInitializers).toBe(3);
    expect(m.graph.initializers.has('w1')).toBe(false);
    expect(m.graph.sparseInitializers.map((s) => s.values.name).sort()).toEqual(['w1', 'w2', 'w3']);
    const bytes = modelToBytes(m);
    expect(bytes.length).toBeLessThan(modelToBytes(dense).length);
    // round trip through the file format keeps them sparse
    const back = await loadModel(bytes);
    expect(back.graph.sparseInitializers.length).toBe(3);
    expectClose(await run(m, [3, 16]), await run(dense, [3, 16]), 1e-6);
  });

  it('keeps a weight dense when sparse storage would not be smaller', async () => {
    const m = mlp();
    await runPrune(m, parsePruneOptions({ sparsity: 0.5 }));
    const r = await runPrune(m, parsePruneOptions({ sparseStorage: true }));
    expect(r.modified).toBe(false);
    expect(r.skipped.every((s) => /not smaller/.test(s.reason))).toBe(true);
  });
});

describe('reconstruct (least-squares refit on samples)', () => {
  const samples = (n: number, seed: number) => ({ inputs: { input: { dtype: 'float', dims: [n, 16], data: randn(n * 16, rng(seed)) } }, count: n });
  const err = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / b.reduce((s, v) => s + v * v, 0));

  for (const [pattern, sparsity] of [['unstructured', 0.7], ['channel', 0.5], ['2:4', undefined]] as const) {
    it(`${pattern}: closer to the original on held-out inputs, pruning structure kept`, async () => {
      const runner = makeRunner({ intraOpThreads: 1 });
      try {
        const orig = mlp();
        const plain = mlp();
        const fixed = mlp();
        await runPrune(plain, parsePruneOptions({ sparsity, pattern, scope: 'layer' }));
        const r = await runPrune(fixed, parsePruneOptions({ sparsity, pattern, scope: 'layer', reconstruct: true, reconstructSamples: 200 }), { ...ctx, calibration: samples(256, 11), run: runner });
        expect(r.stats.refitLayers).toBeGreaterThan(0);
        for (const w of ['w1', 'w2', 'w3']) {
          expect(W(fixed, w).dims).toEqual(W(plain, w).dims);
          expect(countZeros(data(fixed, w))).toBe(countZeros(data(plain, w)));
        }
        const ref = await run(orig, [64, 16], 5);
        expect(err(await run(fixed, [64, 16], 5), ref)).toBeLessThan(err(await run(plain, [64, 16], 5), ref));
      } finally {
        await runner.release();
      }
    });
  }

  for (const pattern of ['unstructured', 'channel'] as const) {
    it(`CNN ${pattern}: convolutions refit on im2col patches; closer to the original`, async () => {
      const runner = makeRunner({ intraOpThreads: 1 });
      try {
        const img = (n: number, seed: number) => ({ input: { dtype: 'float', dims: [n, 2, 8, 8], data: randn(n * 128, rng(seed)) } });
        const plain = cnn();
        const fixed = cnn();
        await runPrune(plain, parsePruneOptions({ sparsity: 0.6, pattern, scope: 'layer' }));
        const r = await runPrune(fixed, parsePruneOptions({ sparsity: 0.6, pattern, scope: 'layer', reconstruct: true }), { ...ctx, calibration: { inputs: img(128, 3), count: 128 }, run: runner });
        expect(r.details!.some((d) => d.node === 'conv2' && Number(d.refitErrorAfter) < Number(d.refitErrorBefore))).toBe(true);
        expect(countZeros(data(fixed, 'cw2'))).toBe(countZeros(data(plain, 'cw2')));
        const out = async (m: Model) => (await runner(m, img(16, 4))).logits.data as Float32Array;
        const ref = await out(cnn());
        expect(err(await out(fixed), ref)).toBeLessThan(err(await out(plain), ref));
      } finally {
        await runner.release();
      }
    });
  }

  it('sequence activations (transformer FFN): one row per position; closer to the original', async () => {
    const runner = makeRunner({ intraOpThreads: 1 });
    try {
      const enc = () => buildEncoder({ hidden: 16, heads: 2, ffn: 32, layers: 1, seq: 4, seed: 5 });
      const feeds = (n: number, seed: number) => ({ input: { dtype: 'float', dims: [n, 4, 16], data: randn(n * 64, rng(seed)) } });
      const plain = enc();
      const fixed = enc();
      await runPrune(plain, parsePruneOptions({ sparsity: 0.5, pattern: 'channel' }));
      const r = await runPrune(fixed, parsePruneOptions({ sparsity: 0.5, pattern: 'channel', reconstruct: true }), { ...ctx, calibration: { inputs: feeds(64, 7), count: 64 }, run: runner });
      expect(r.stats.refitLayers).toBe(1);
      const out = async (m: Model) => (await runner(m, feeds(8, 8))).output.data as Float32Array;
      const ref = await out(enc());
      expect(err(await out(fixed), ref)).toBeLessThan(err(await out(plain), ref));
    } finally {
      await runner.release();
    }
  });

  it('needs samples', async () => {
    await expect(runPrune(mlp(), parsePruneOptions({ sparsity: 0.5, reconstruct: true }), ctx)).rejects.toThrow(/calibration-data/);
  });
});
