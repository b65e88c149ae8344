/**
 * The cluster pass: options and flags; structure of the dense and sparse index forms; the stored
 * model computes exactly what the clustered float weights compute (onnxruntime folds the
 * expansion back); zeros stay zero; no-op cases; centroid fine-tuning keeps the sharing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cloneModel, DataType, type Model } from '../../src/ir/index.js';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { clusterPass, parseClusterOptions, runCluster, sparseStreams } from '../../src/passes/cluster.js';
import { type Dataset, type PassContext, seededRng, silentLogger } from '../../src/passes/pass.js';
import { runPrune, parsePruneOptions } from '../../src/passes/prune.js';
import { createSession, makeRunner } from '../../src/runtime/index.js';
import { cnn, mlp, randn, rng } from './prune-helpers.js';

const runner = makeRunner();
afterAll(() => runner.release());
const ctx = (): PassContext => ({ log: silentLogger, rng: seededRng(1), run: runner });

async function run(m: Model, dims: number[], seed = 9): Promise<Float32Array> {
  const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
  try {
    const x = randn(dims.reduce((a, b) => a * b), rng(seed));
    return (await s.run({ input: { dtype: 'float', dims, data: x } })).logits.data as Float32Array;
  } finally {
    await s.release();
  }
}

async function pruned(m: Model, sparsity = 0.6): Promise<Model> {
  await runPrune(m, parsePruneOptions({ sparsity }), ctx());
  return m;
}

function distinctNonzero(m: Model, name: string): number {
  return new Set(Array.from(m.graph.initializers.get(name)!.data as Float32Array).filter((v) => v !== 0)).size;
}

const ops = (m: Model) => m.graph.nodes.map((n) => n.opType);

describe('cluster options', () => {
  it('clusters or bits, exclusive; defaults', () => {
    expect(parseClusterOptions({ clusters: 16 })).toMatchObject({ clusters: 16, init: 'linear', codebook: 'layer', storage: 'auto', epochs: 0 });
    expect(parseClusterOptions({ bits: 4 }).clusters).toBe(15);
    expect(parseClusterOptions({ bits: 5 }).clusters).toBe(31);
    expect(() => parseClusterOptions({ bits: '5' })).toThrow(/without quotes/);
    expect(() => parseClusterOptions({})).toThrow(/clusters is required/);
    expect(() => parseClusterOptions({ clusters: 8, bits: 3 })).toThrow(/cannot be combined/);
    expect(() => parseClusterOptions({ clusters: 256 })).toThrow(/clusters/);
    expect(() => parseClusterOptions({ bits: 9 })).toThrow(/bits/);
    expect(() => parseClusterOptions({ clusters: 8, storage: 'packed' })).toThrow(/storage/);
  });

  it('CLI flags map to options; no cluster flag means no pass', () => {
    const cli = clusterPass.cli!;
    expect(cli.fromFlags({ exclude: ['a'] })).toBeUndefined();
    expect(clusterPass.parseOptions(cli.fromFlags({ clusterBits: '4', clusterStorage: 'sparse', clusterEpochs: '2', exclude: ['fc1'] }))).toMatchObject({
      clusters: 15,
      storage: 'sparse',
      epochs: 2,
      exclude: ['fc1'],
    });
    expect(cli.outputSuffix({})).toBe('_clustered');
  });
});

describe('sparseStreams', () => {
  it('gap-codes positions from 0 and splits gaps over 255 with index-0 fillers', () => {
    const s = sparseStreams([0, 3, 600], [5, 6, 7]);
    expect(Array.from(s.gap)).toEqual([0, 3, 255, 255, 87]);
    expect(Array.from(s.idx)).toEqual([5, 6, 0, 0, 7]);
    // positions are the running sums of the gaps
    let p = 0;
    const pos = Array.from(s.gap, (g) => (p += g));
    expect(pos.filter((_, i) => s.idx[i] !== 0)).toEqual([0, 3, 600]);
  });
});

describe('weight clustering', () => {
  for (const storage of ['dense', 'sparse', 'auto'] as const) {
    it(`${storage} storage: indices + codebook expanded by Gather compute what the clustered float weights compute`, async () => {
      const m = await pruned(mlp());
      const asFloat = cloneModel(m);
      const rf = await runCluster(asFloat, parseClusterOptions({ clusters: 3, storage: 'float' }), ctx());
      expect(rf.modified).toBe(true);
      for (const w of ['w1', 'w2', 'w3']) expect(distinctNonzero(asFloat, w)).toBeLessThanOrEqual(3);
      const zerosBefore = ['w1', 'w2', 'w3'].map((w) => Array.from(m.graph.initializers.get(w)!.data as Float32Array, (v) => v === 0));
      zerosBefore.forEach((z, i) => {
        const after = asFloat.graph.initializers.get(`w${i + 1}`)!.data as Float32Array;
        expect(Array.from(after, (v) => v === 0)).toEqual(z);
      });

      const r = await runCluster(m, parseClusterOptions({ clusters: 3, storage }), ctx());
      expect(r.modified).toBe(true);
      expect(r.stats.layersClustered).toBe(3);
      for (const w of ['w1', 'w2', 'w3']) {
        expect(m.graph.initializers.has(w)).toBe(false);
        const idx = m.graph.initializers.get(`${w}_idx`)!;
        expect(idx.dtype).toBe(DataType.UINT8);
        const cb = m.graph.initializers.get(`${w}_cb`)!;
        expect(cb.dims).toEqual([4]);
        expect((cb.data as Float32Array)[0]).toBe(0);
        expect(m.graph.producer(w)?.opType).toMatch(/Gather|Reshape/);
      }
      const d = r.details!.map((x) => x.storage);
      if (storage !== 'auto') expect(d).toEqual([storage, storage, storage]);
      // codes in order of frequency: code 1 the most frequent cluster, code 2 the next, …
      for (const w of ['w1', 'w2', 'w3']) {
        const count = [0, 0, 0, 0];
        for (const c of m.graph.initializers.get(`${w}_idx`)!.data as Uint8Array) count[c]++;
        expect(count[1]).toBeGreaterThanOrEqual(count[2]);
        expect(count[2]).toBeGreaterThanOrEqual(count[3]);
        expect(count[1]).toBeGreaterThan(count[3]);
      }
      if (storage === 'dense') expect(ops(m).filter((o) => o === 'Gather').length).toBe(3);
      if (storage === 'sparse') expect(ops(m).filter((o) => o === 'ScatterElements').length).toBe(3);
      expect(Number(r.stats.weightBytesAfter)).toBeLessThan(Number(r.stats.weightBytesBefore));
      expect(Number(r.stats.huffmanSparseBytes)).toBeGreaterThan(0);
      const a = await run(asFloat, [5, 16]);
      const b = await run(m, [5, 16]);
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 5);
    });
  }

  it('a shared codebook: one initializer, read by every Gather; Conv weights too', async () => {
    const m = await pruned(cnn(), 0.5);
    const r = await runCluster(m, parseClusterOptions({ bits: 2, codebook: 'shared', storage: 'dense' }), ctx());
    expect(r.stats.layersClustered).toBe(3);
    const gathers = m.graph.nodes.filter((n) => n.opType === 'Gather');
    expect(new Set(gathers.map((n) => n.inputs[0]))).toEqual(new Set(['codebook']));
    expect(m.graph.initializers.get('codebook')!.dims).toEqual([4]);
    const out = await run(m, [2, 2, 8, 8]);
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('half: float16 codebooks and Gemm / Conv biases, cast back to float; outputs within float16 rounding', async () => {
    const m = await pruned(cnn(), 0.5);
    const full = cloneModel(m);
    await runCluster(full, parseClusterOptions({ bits: 3, storage: 'sparse' }), ctx());
    const r = await runCluster(m, parseClusterOptions({ bits: 3, storage: 'sparse', half: true }), ctx());
    // the Conv bias cb1 and the Gemm bias fb; the BatchNorm's parameters are not a layer's bias
    expect(r.stats.halfBiases).toBe(2);
    for (const b of ['cb1', 'fb']) {
      expect(m.graph.initializers.has(b)).toBe(false);
      expect(m.graph.initializers.get(`${b}_h`)!.dtype).toBe(DataType.FLOAT16);
      expect(m.graph.producer(b)?.opType).toBe('Cast');
    }
    expect(m.graph.initializers.get('bn_s')!.dtype).toBe(DataType.FLOAT);
    for (const w of ['cw1', 'cw2', 'fw']) expect(m.graph.initializers.get(`${w}_cb`)!.dtype).toBe(DataType.FLOAT16);
    const tensorBytes = (x: Model) => [...x.graph.initializers.values()].reduce((s, t) => s + t.byteLength, 0);
    expect(tensorBytes(m)).toBeLessThan(tensorBytes(full));
    const a = await run(full, [2, 2, 8, 8]);
    const b = await run(m, [2, 2, 8, 8]);
    const scale = Math.max(...Array.from(a, Math.abs));
    for (let i = 0; i < a.length; i++) expect(Math.abs(b[i] - a[i])).toBeLessThan(5e-3 * scale);
    expect(parseClusterOptions({ bits: 3 }).half).toBe(false);
    expect(clusterPass.parseOptions(clusterPass.cli!.fromFlags({ clusterBits: '3', clusterHalf: true })).half).toBe(true);
  });

  for (const opset of [17, 12]) {
    it(`joint (opset ${opset}): one scatter for all sparse weights, one float vector for codebooks and half biases; same outputs, fewer nodes`, async () => {
      const m = await pruned(cnn(), 0.8);
      m.opsetImports = [{ domain: '', version: opset }];
      const asFloat = cloneModel(m);
      await runCluster(asFloat, parseClusterOptions({ bits: 3, storage: 'float' }), ctx());
      const apart = cloneModel(m);
      await runCluster(apart, parseClusterOptions({ bits: 3, storage: 'sparse', half: true }), ctx());
      const r = await runCluster(m, parseClusterOptions({ bits: 3, storage: 'sparse', half: true, joint: true }), ctx());
      expect(r.stats.jointSparseWeights).toBe(3);
      expect(ops(m).filter((o) => o === 'ScatterElements').length).toBe(1);
      expect(ops(m).filter((o) => o === 'Split').length).toBe(2); // the index arrays; the floats
      expect(m.graph.nodes.length).toBeLessThan(apart.graph.nodes.length);
      // one float16 vector: 3 codebooks of 8 values and the biases cb1 (6) and fb (3)
      const halves = [...m.graph.initializers.values()].filter((t) => t.dtype === DataType.FLOAT16);
      expect(halves.map((t) => t.dims)).toEqual([[3 * 8 + 6 + 3]]);
      for (const w of ['cw1', 'cw2', 'fw', 'cb1', 'fb']) expect(m.graph.initializers.has(w)).toBe(false);
      const split = m.graph.nodes.find((n) => n.opType === 'Split' && n.outputs.includes('cb1'))!;
      if (opset >= 13) expect(split.inputs.length).toBe(2);
      else expect(split.attributes.find((a) => a.name === 'split')?.value).toEqual([8, 8, 8, 6, 3]);
      const a = await run(apart, [2, 2, 8, 8]);
      const b = await run(m, [2, 2, 8, 8]);
      expect(Array.from(b)).toEqual(Array.from(a));
      const f = await run(asFloat, [2, 2, 8, 8]);
      const scale = Math.max(...Array.from(f, Math.abs));
      for (let i = 0; i < f.length; i++) expect(Math.abs(b[i] - f[i])).toBeLessThan(5e-3 * scale);
      expect(parseClusterOptions({ bits: 3 }).joint).toBe(false);
      expect(clusterPass.parseOptions(clusterPass.cli!.fromFlags({ clusterBits: '3', clusterJoint: true })).joint).toBe(true);
    });
  }

  it('byte biases (with joint): the clustered layers\' biases int8 on one grid, Cast and Mul back; within half a step', async () => {
    const m = await pruned(cnn(), 0.8);
    const full = cloneModel(m);
    await runCluster(full, parseClusterOptions({ bits: 3, storage: 'sparse', joint: true }), ctx());
    expect(() => parseClusterOptions({ bits: 3, byteBiases: true })).toThrow(/joint/);
    expect(clusterPass.parseOptions(clusterPass.cli!.fromFlags({ clusterBits: '3', clusterJoint: true, clusterByteBiases: true })).byteBiases).toBe(true);
    const biases = ['cb1', 'fb'].map((b) => m.graph.initializers.get(b)!.toNumbers());
    const r = await runCluster(m, parseClusterOptions({ bits: 3, storage: 'sparse', joint: true, byteBiases: true }), ctx());
    expect(r.stats.byteBiases).toBe(2);
    const bytes = [...m.graph.initializers.values()].filter((t) => t.dtype === DataType.INT8);
    expect(bytes.map((t) => t.dims)).toEqual([[9]]);
    const q = Array.from(bytes[0].data as Int8Array);
    expect(Math.max(...q.map(Math.abs))).toBe(127);
    const mul = m.graph.nodes.find((n) => n.opType === 'Mul')!;
    const scale = m.graph.initializers.get(mul.inputs[1])!.toNumbers()[0];
    const all = biases.flatMap((b) => Array.from(b));
    expect(scale).toBeCloseTo(Math.max(...all.map(Math.abs)) / 127, 6);
    all.forEach((v, i) => expect(Math.abs(q[i] * scale - v)).toBeLessThanOrEqual(scale / 2 + 1e-7));
    const a = await run(full, [2, 2, 8, 8]);
    const b = await run(m, [2, 2, 8, 8]);
    const top = Math.max(...Array.from(a, Math.abs));
    for (let i = 0; i < a.length; i++) expect(Math.abs(b[i] - a[i])).toBeLessThan(2e-2 * top);
  });

  it('joint with dense storage and float32 codebooks: one codebook vector split by size, the Gathers read its parts', async () => {
    const m = await pruned(mlp(), 0.5);
    const apart = cloneModel(m);
    await runCluster(apart, parseClusterOptions({ clusters: 3, storage: 'dense' }), ctx());
    const r = await runCluster(m, parseClusterOptions({ clusters: 3, storage: 'dense', joint: true }), ctx());
    expect(r.stats.jointSparseWeights).toBe(0);
    expect(ops(m).filter((o) => o === 'Split').length).toBe(1);
    expect(ops(m).filter((o) => o === 'Cast').length).toBe(3); // the index casts only
    const a = await run(apart, [5, 16]);
    const b = await run(m, [5, 16]);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('allocate sensitivity: bits per weight from the measured output error, averaging the requested bits; needs samples', async () => {
    const m = await pruned(cnn(), 0.5);
    const x = randn(32 * 2 * 8 * 8, rng(6));
    const train: Dataset = { inputs: { input: { dtype: 'float', dims: [32, 2, 8, 8], data: x } }, count: 32 };
    expect(() => parseClusterOptions({ bits: 3, allocate: 'sensitivity', codebook: 'shared' })).toThrow(/allocate/);
    expect(clusterPass.parseOptions(clusterPass.cli!.fromFlags({ clusterBits: '3', clusterAllocate: 'sensitivity' })).allocate).toBe('sensitivity');
    expect(parseClusterOptions({ bits: 3 }).allocate).toBe('uniform');
    await expect(runCluster(cloneModel(m), parseClusterOptions({ bits: 3, allocate: 'sensitivity' }), ctx())).rejects.toThrow(/train-data/);
    const r = await runCluster(m, parseClusterOptions({ bits: 3, allocate: 'sensitivity', storage: 'dense' }), { ...ctx(), train });
    const bits = new Map(String(r.stats.allocatedBits).split(',').map((p) => p.split(':') as [string, string]));
    expect([...bits.keys()]).toEqual(['cw1', 'cw2', 'fw']);
    let used = 0;
    let nz = 0;
    for (const d of r.details!) {
      const b = Number(bits.get(String(d.weight)));
      expect(b).toBeGreaterThanOrEqual(1);
      expect(b).toBeLessThanOrEqual(5);
      // the codebook: the zero and at most 2^b − 1 values
      expect(m.graph.initializers.get(`${d.weight}_cb`)!.dims[0]).toBeLessThanOrEqual(2 ** b);
      used += b * Number(d.nonzero);
      nz += Number(d.nonzero);
    }
    expect(used / nz).toBeLessThanOrEqual(3);
    expect(used / nz).toBeGreaterThan(2.5);
    expect((await run(m, [2, 2, 8, 8])).every(Number.isFinite)).toBe(true);
  });

  it('weighting activation: centroids are means weighted by E[x²] of each weight\'s input; inputs that are always zero do not pull them; needs samples', async () => {
    const m = await pruned(mlp(), 0.25);
    // features 0-7 of the input are always zero, 8-15 random with growing scale
    const x = randn(64 * 16, rng(5));
    for (let i = 0; i < x.length; i++) x[i] = i % 16 < 8 ? 0 : x[i] * (1 + (i % 16) / 4);
    const train: Dataset = { inputs: { input: { dtype: 'float', dims: [64, 16], data: x } }, count: 64 };
    const ex2 = Float64Array.from({ length: 16 }, (_, k) => {
      let s = 0;
      for (let n = 0; n < 64; n++) s += x[n * 16 + k] ** 2;
      return s / 64;
    });
    expect(parseClusterOptions({ bits: 2 }).weighting).toBe('none');
    expect(clusterPass.parseOptions(clusterPass.cli!.fromFlags({ clusterBits: '2', clusterWeighting: 'activation' })).weighting).toBe('activation');
    expect(() => parseClusterOptions({ bits: 2, weighting: 'hessian' })).toThrow(/weighting/);
    const opts = { bits: 2, storage: 'float', exclude: ['w2', 'w3'] };
    await expect(runCluster(cloneModel(m), parseClusterOptions({ ...opts, weighting: 'activation' }), ctx())).rejects.toThrow(/train-data/);
    const w = Array.from(m.graph.initializers.get('w1')!.data as Float32Array); // [12, 16], transB: feature k = column
    const check = async (weighting: 'none' | 'activation') => {
      const c = cloneModel(m);
      const r = await runCluster(c, parseClusterOptions({ ...opts, weighting }), { ...ctx(), train });
      const shared = c.graph.initializers.get('w1')!.data as Float32Array;
      // each shared value is the (weighted) mean of the weights that took it
      const members = new Map<number, number[]>();
      shared.forEach((v, i) => {
        if (v !== 0) members.set(v, [...(members.get(v) ?? []), i]);
      });
      expect(members.size).toBe(3);
      for (const [v, idx] of members) {
        const h = idx.map((i) => (weighting === 'activation' ? ex2[i % 16] : 1));
        const mean = idx.reduce((s, i, j) => s + h[j] * w[i], 0) / h.reduce((a, b) => a + b, 0);
        expect(v).toBeCloseTo(mean, 5);
      }
      return { r, shared };
    };
    const plain = await check('none');
    const weighted = await check('activation');
    expect(weighted.r.stats.weighting).toBe('activation');
    expect(weighted.r.stats.weightedLayers).toBe(1);
    expect(plain.r.stats.weighting).toBeUndefined();
    // the layer's output error on the samples: smaller with the weighting
    const err = (s: Float32Array) => s.reduce((a, v, i) => (w[i] !== 0 ? a + ex2[i % 16] * (v - w[i]) ** 2 : a), 0);
    expect(err(weighted.shared)).toBeLessThan(err(plain.shared));
  });

  it('no-ops: all-zero weights, excluded weights, float storage of already shared values', async () => {
    const m = mlp();
    for (const w of ['w1', 'w2', 'w3']) (m.graph.initializers.get(w)!.data as Float32Array).fill(0);
    const fp = fingerprintModel(m);
    const r = await runCluster(m, parseClusterOptions({ clusters: 4 }), ctx());
    expect(r.modified).toBe(false);
    expect(fingerprintModel(m)).toBe(fp);
    expect(r.skipped.filter((s) => /no non-zero value/.test(s.reason)).length).toBe(3);

    const e = mlp();
    const fe = fingerprintModel(e);
    const re = await runCluster(e, parseClusterOptions({ clusters: 4, exclude: ['fc*'] }), ctx());
    expect(re.modified).toBe(false);
    expect(fingerprintModel(e)).toBe(fe);

    const s = mlp();
    await runCluster(s, parseClusterOptions({ clusters: 4, storage: 'float' }), ctx());
    const fs = fingerprintModel(s);
    const again = await runCluster(s, parseClusterOptions({ clusters: 4, storage: 'float' }), ctx());
    expect(again.modified).toBe(false);
    expect(fingerprintModel(s)).toBe(fs);
  });

  it('fine-tuning moves the shared values and keeps them shared; zeros stay zero; needs training data', async () => {
    const teacher = mlp();
    const m = await pruned(cloneModel(teacher), 0.5);
    const zeros = Array.from(m.graph.initializers.get('w1')!.data as Float32Array, (v) => v === 0);
    const x = randn(64 * 16, rng(4));
    const train: Dataset = { inputs: { input: { dtype: 'float', dims: [64, 16], data: x } }, count: 64 };
    await expect(runCluster(cloneModel(m), parseClusterOptions({ clusters: 4, epochs: 1 }), ctx())).rejects.toThrow(/training data/);
    const untuned = cloneModel(m);
    await runCluster(untuned, parseClusterOptions({ clusters: 4, storage: 'float' }), ctx());
    const r = await runCluster(m, parseClusterOptions({ clusters: 4, storage: 'float', epochs: 3, lr: 0.01, batchSize: 8 }), { ...ctx(), train, original: teacher });
    expect(r.stats.tiedWeights).toBe(3);
    for (const w of ['w1', 'w2', 'w3']) expect(distinctNonzero(m, w)).toBeLessThanOrEqual(4);
    expect(Array.from(m.graph.initializers.get('w1')!.data as Float32Array, (v) => v === 0)).toEqual(zeros);
    const moved = ['w1', 'w2', 'w3'].some((w) => {
      const a = m.graph.initializers.get(w)!.data as Float32Array;
      const b = untuned.graph.initializers.get(w)!.data as Float32Array;
      return a.some((v, i) => v !== b[i]);
    });
    expect(r.stats.tuneBestEpoch).toBeGreaterThan(0);
    expect(moved).toBe(true);
  });
});
