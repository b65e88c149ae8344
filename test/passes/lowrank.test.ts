import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/index.js';
import { AttrType, cloneModel, DataType, Model, ModelBuilder, Tensor, type AttrValue } from '../../src/ir/index.js';
import { matmul } from '../../src/math/matmul.js';
import { svdExact } from '../../src/math/svd.js';
import { loadModel, modelToBytes, saveModel } from '../../src/onnx/index.js';
import { lowrankPass, parseLowRankOptions, runLowRank } from '../../src/passes/lowrank.js';
import { seededRng, silentLogger, type PassContext } from '../../src/passes/pass.js';
import { getPass } from '../../src/passes/registry.js';
import { createSession, makeRunner } from '../../src/runtime/index.js';
import { ensureBuilt, mlc, tempDir } from '../cli/helpers.js';

const ctx = (): PassContext => ({ log: silentLogger, rng: seededRng(1) });

const rng = (seed = 1): (() => number) => seededRng(seed);

function randn(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** A rows×cols matrix of rank k (product of two random factors). */
function lowRank(rows: number, cols: number, k: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from(matmul(randn(rows * k, r), randn(k * cols, r), rows, k, cols));
}

async function run(m: Model, feeds: Record<string, { dims: number[]; seed?: number }>, output?: string): Promise<Float32Array> {
  const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
  try {
    const f: Record<string, { dtype: string; dims: number[]; data: Float32Array }> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = { dtype: 'float', dims: v.dims, data: randn(v.dims.reduce((a, b) => a * b, 1), rng(v.seed ?? 9)) };
    const out = await s.run(f);
    return out[output ?? s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return e;
}

const ops = (m: Model) => m.graph.nodes.map((n) => n.opType);

/** The original model with weight `w` replaced by the dense product of the pass's factors. */
function denseReference(original: Model, rewritten: Model, w: string): Model {
  const ref = cloneModel(original);
  const t = ref.graph.initializers.get(w)!;
  const P = rewritten.graph.initializers.get(`${w}_lowrank_u`)!;
  const Q = rewritten.graph.initializers.get(`${w}_lowrank_v`)!;
  const rows = P.dims[0];
  const r = P.dims[1];
  const cols = Q.size / r;
  ref.graph.initializers.set(w, new Tensor(w, t.dtype, t.dims, Float32Array.from(matmul(P.data as Float32Array, Q.data as Float32Array, rows, r, cols))));
  return ref;
}

describe('lowrank options', () => {
  it('validates and maps CLI flags', () => {
    expect(parseLowRankOptions({ ratio: 0.5 })).toEqual({ ratio: 0.5, minSaving: 0.1, svd: 'auto', exclude: [] });
    expect(parseLowRankOptions({ energy: '90%', svd: 'Exact', exclude: 'fc1' })).toMatchObject({ energy: 0.9, svd: 'exact', exclude: ['fc1'] });
    expect(() => parseLowRankOptions({})).toThrow(/exactly one/);
    expect(() => parseLowRankOptions({ ratio: 0.5, energy: 0.9 })).toThrow(/exactly one/);
    expect(() => parseLowRankOptions({ ratio: 0 })).toThrow(/ratio/);
    expect(() => parseLowRankOptions({ energy: 1.2 })).toThrow(/energy/);
    expect(() => parseLowRankOptions({ ratio: 0.5, minSaving: 1 })).toThrow(/minSaving/);
    expect(() => parseLowRankOptions({ ratio: 0.5, svd: 'qr' })).toThrow(/svd/);
    expect(() => parseLowRankOptions({ ratio: 'x' })).toThrow(/number/);
    expect(() => parseLowRankOptions({ ratio: 0.5, rank: 3 })).toThrow(/unknown option/);
    const cli = lowrankPass.cli!;
    expect(cli.fromFlags({ exclude: ['a'], svd: 'auto', lowrankMinSaving: '0.1' })).toBeUndefined();
    const raw = cli.fromFlags({ lowrank: '0.25', lowrankMinSaving: '0.2', svd: 'randomized', exclude: ['fc*'] });
    expect(lowrankPass.parseOptions(raw)).toMatchObject({ ratio: 0.25, minSaving: 0.2, svd: 'randomized', exclude: ['fc*'] });
    expect(lowrankPass.parseOptions(cli.fromFlags({ lowrankEnergy: '0.9', svd: 'auto' }))).toMatchObject({ energy: 0.9 });
    expect(cli.outputSuffix({})).toBe('_lowrank');
    expect(getPass('lowrank')).toBe(lowrankPass);
  });
});

describe('MatMul', () => {
  it('an exactly low-rank weight is reproduced (2-D and batched 3-D inputs), old weight removed', async () => {
    for (const shape of [
      ['N', 48],
      ['B', 'T', 48],
    ]) {
      const b = new ModelBuilder();
      const x = b.input('input', DataType.FLOAT, shape);
      const y = b.op('MatMul', [x, b.init('w', [48, 64], lowRank(48, 64, 6, 1))], {}, { name: 'fc' });
      b.output(y, DataType.FLOAT, undefined, 'logits');
      const m = b.build();
      const orig = cloneModel(m);
      const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.125 }), ctx()); // r = 6
      expect(res.modified).toBe(true);
      expect(ops(m)).toEqual(['MatMul', 'MatMul']);
      expect(m.graph.initializers.has('w')).toBe(false);
      expect(m.graph.initializers.get('w_lowrank_u')!.dims).toEqual([48, 6]);
      expect(m.graph.initializers.get('w_lowrank_v')!.dims).toEqual([6, 64]);
      const d = res.details![0] as Record<string, number>;
      expect(d).toMatchObject({ rank: 6, paramsBefore: 48 * 64, paramsAfter: 6 * 112 });
      expect(d.relError).toBeLessThan(1e-6);
      expect(d.energyKept).toBeCloseTo(1, 6);
      expect(res.stats.paramsAfter).toBe(6 * 112);
      const dims = shape.length === 2 ? [5, 48] : [2, 3, 48];
      expect(maxRelDiff(await run(m, { input: { dims } }), await run(orig, { input: { dims } }))).toBeLessThan(1e-4);
    }
  });

  it('lower rank: outputs equal the dense product of the factors; error is the Eckart–Young bound', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 40]);
    const w = randn(40 * 60, rng(3));
    const y = b.op('MatMul', [x, b.init('w', [40, 60], w)], {}, { name: 'fc' });
    b.output(y, DataType.FLOAT, ['N', 60], 'logits');
    const m = b.build();
    const orig = cloneModel(m);
    const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.25, svd: 'exact' }), ctx()); // r = 10
    const d = res.details![0] as Record<string, number>;
    expect(d.rank).toBe(10);
    const s = svdExact(w, 40, 60).S;
    const tot = s.reduce((a, v) => a + v * v, 0);
    const tail = s.slice(10).reduce((a, v) => a + v * v, 0);
    expect(d.relError).toBeCloseTo(Math.sqrt(tail / tot), 5);
    expect(d.energyKept).toBeCloseTo(1 - tail / tot, 5);
    const ref = denseReference(orig, m, 'w');
    expect(maxRelDiff(await run(m, { input: { dims: [4, 40] } }), await run(ref, { input: { dims: [4, 40] } }))).toBeLessThan(1e-4);
    // and differs from the original (the test can fail)
    expect(maxRelDiff(await run(m, { input: { dims: [4, 40] } }), await run(orig, { input: { dims: [4, 40] } }))).toBeGreaterThan(1e-3);
  });

  it('constant on the left (W·x), a Constant-node weight, and tied weights factored once', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, [32, 'N']);
    const cw = b.op('Constant', [], { value: Tensor.float32('c', [24, 32], lowRank(24, 32, 3, 4)) }, { name: 'cw' });
    const h = b.op('MatMul', [cw, x], {}, { name: 'left' }); // [24, N]
    const tied = b.init('tied', [24, 24], lowRank(24, 24, 2, 5));
    const h2 = b.op('MatMul', [tied, h], {}, { name: 'tied_a' });
    const h3 = b.op('MatMul', [tied, h2], {}, { name: 'tied_b' });
    b.output(h3, DataType.FLOAT, undefined, 'logits');
    const m = b.build();
    const orig = cloneModel(m);
    const res = await runLowRank(m, parseLowRankOptions({ energy: 0.999999 }), ctx());
    expect(res.skipped).toEqual([]);
    expect(res.details!.map((d) => [d.weight, d.rank, (d.nodes as string[]).length])).toEqual([
      ['cw_out', 3, 1],
      ['tied', 2, 2],
    ]);
    expect(ops(m)).toEqual(['MatMul', 'MatMul', 'MatMul', 'MatMul', 'MatMul', 'MatMul']); // Constant node removed
    expect(m.graph.initializers.has('tied')).toBe(false);
    expect(maxRelDiff(await run(m, { input: { dims: [32, 3] } }), await run(orig, { input: { dims: [32, 3] } }))).toBeLessThan(1e-4);
  });
});

describe('Gemm attribute variants', () => {
  // exactly low-rank weights: the factored model must reproduce the original
  const cases: { name: string; transA: number; transB: number; alpha?: number; beta?: number; bias?: 'N' | 'MN' | 'none'; left?: boolean }[] = [
    { name: 'plain', transA: 0, transB: 0, bias: 'N' },
    { name: 'transB', transA: 0, transB: 1, bias: 'N' },
    { name: 'transA+transB, alpha, beta', transA: 1, transB: 1, alpha: 0.5, beta: 2, bias: 'N' },
    { name: 'transA, [M,N] bias, beta', transA: 1, transB: 0, beta: -1.5, bias: 'MN' },
    { name: 'no bias, alpha', transA: 0, transB: 1, alpha: 3, bias: 'none' },
    { name: 'weight as A (left)', transA: 0, transB: 0, alpha: 2, beta: 0.5, bias: 'N', left: true },
    { name: 'weight as A transposed (left)', transA: 1, transB: 1, bias: 'MN', left: true },
  ];
  const M = 6;
  const K = 40;
  const N = 30;
  for (const c of cases) {
    it(c.name, async () => {
      const b = new ModelBuilder();
      const attrs: Record<string, number> = { transA: c.transA, transB: c.transB };
      const types: Record<string, AttrType> = {};
      if (c.alpha !== undefined) (attrs.alpha = c.alpha), (types.alpha = AttrType.FLOAT);
      if (c.beta !== undefined) (attrs.beta = c.beta), (types.beta = AttrType.FLOAT);
      let inputs: string[];
      let xDims: number[];
      const r = rng(6);
      if (!c.left) {
        xDims = c.transA ? [K, M] : [M, K];
        const x = b.input('input', DataType.FLOAT, xDims);
        const w = b.init('w', c.transB ? [N, K] : [K, N], lowRank(c.transB ? N : K, c.transB ? K : N, 4, 7));
        inputs = [x, w];
      } else {
        // Y = alpha · op(W) · op(X): op(W) [M2, K], op(X) [K, N]
        const M2 = 36;
        const w = b.init('w', c.transA ? [K, M2] : [M2, K], lowRank(c.transA ? K : M2, c.transA ? M2 : K, 4, 7));
        xDims = c.transB ? [N, K] : [K, N];
        const x = b.input('input', DataType.FLOAT, xDims);
        inputs = [w, x];
      }
      const rows = c.left ? 36 : M;
      if (c.bias === 'N') inputs.push(b.init('bias', [N], randn(N, r)));
      if (c.bias === 'MN') inputs.push(b.init('bias', [rows, N], randn(rows * N, r)));
      const y = b.op('Gemm', inputs, attrs, { name: 'gemm', types });
      b.output(y, DataType.FLOAT, undefined, 'logits');
      const m = b.build();
      const orig = cloneModel(m);
      const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.1 }), ctx()); // r = 3 or 4
      expect(res.modified).toBe(true);
      const d = res.details![0] as Record<string, number>;
      expect(d.rank).toBe(c.left ? 4 : 3);
      if (d.rank === 4) expect(d.relError).toBeLessThan(1e-6);
      expect(ops(m)).toEqual(['Gemm', 'Gemm']);
      const [g1, g2] = m.graph.nodes;
      expect(g1.inputs.length).toBe(2); // the bias stays on the second op
      expect(g2.inputs.length).toBe(c.bias === 'none' ? 2 : 3);
      const out = await run(m, { input: { dims: xDims } });
      const want = await run(d.rank === 4 ? orig : denseReference(orig, m, 'w'), { input: { dims: xDims } });
      expect(maxRelDiff(out, want)).toBeLessThan(1e-4);
    });
  }
});

describe('Conv', () => {
  const mk = (attrs: Record<string, AttrValue>, bias: boolean, w = lowRank(8, 4 * 9, 2, 8)) => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 4, 11, 11]);
    const inputs = [x, b.init('cw', [8, 4, 3, 3], w)];
    if (bias) inputs.push(b.init('cb', [8], randn(8, rng(2))));
    const y = b.op('Conv', inputs, attrs, { name: 'conv' });
    b.output(y, DataType.FLOAT, undefined, 'logits');
    return b.build();
  };

  for (const [name, attrs, bias] of [
    ['pads + bias', { pads: [1, 1, 1, 1] }, true],
    ['strides, dilations, asymmetric pads', { strides: [2, 1], dilations: [2, 1], pads: [0, 1, 2, 1], kernel_shape: [3, 3] }, true],
    ['auto_pad SAME_UPPER, stride 2, no bias', { auto_pad: 'SAME_UPPER', strides: [2, 2] }, false],
  ] as [string, Record<string, AttrValue>, boolean][]) {
    it(`${name}: kh×kw conv to r channels + 1×1 conv, equal to the original`, async () => {
      const m = mk(attrs, bias);
      const orig = cloneModel(m);
      const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.25 }), ctx()); // min(8, 36) → r = 2
      expect(res.modified).toBe(true);
      expect(ops(m)).toEqual(['Conv', 'Conv']);
      expect(m.graph.initializers.get('cw_lowrank_v')!.dims).toEqual([2, 4, 3, 3]);
      expect(m.graph.initializers.get('cw_lowrank_u')!.dims).toEqual([8, 2, 1, 1]);
      expect(m.graph.nodes[1].inputs.length).toBe(bias ? 3 : 2);
      const dims = [2, 4, 11, 11];
      expect(maxRelDiff(await run(m, { input: { dims } }), await run(orig, { input: { dims } }))).toBeLessThan(1e-4);
    });
  }

  it('full-rank filter at lower rank equals the dense reference', async () => {
    const m = mk({ pads: [1, 1, 1, 1] }, true, randn(8 * 36, rng(12)));
    const orig = cloneModel(m);
    await runLowRank(m, parseLowRankOptions({ ratio: 0.25, minSaving: 0 }), ctx());
    const dims = [2, 4, 11, 11];
    expect(maxRelDiff(await run(m, { input: { dims } }), await run(denseReference(orig, m, 'cw'), { input: { dims } }))).toBeLessThan(1e-4);
  });

  it('grouped convs are skipped', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 4, 8, 8]);
    const y = b.op('Conv', [x, b.init('cw', [8, 2, 3, 3], randn(144, rng(1)))], { group: 2 }, { name: 'gconv' });
    b.output(y, DataType.FLOAT, undefined, 'logits');
    const m = b.build();
    const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.25 }), ctx());
    expect(res.modified).toBe(false);
    expect(res.skipped).toEqual([{ node: 'gconv', reason: 'grouped conv (group=2)' }]);
  });
});

describe('other model forms', () => {
  it('IR 3 model (initializers listed as inputs): factors become inputs too; Gemm before opset 11 is skipped', async () => {
    const b = new ModelBuilder({ opset: 8 });
    const x = b.input('input', DataType.FLOAT, ['N', 40]);
    const h = b.op('MatMul', [x, b.init('w', [40, 50], lowRank(40, 50, 3, 31))], {}, { name: 'mm' });
    const y = b.op('Gemm', [h, b.init('g', [50, 30], lowRank(50, 30, 2, 32)), b.init('gb', [30], randn(30, rng(1)))], {}, { name: 'gemm' });
    b.output(y, DataType.FLOAT, undefined, 'logits');
    const m = b.build();
    m.irVersion = 3;
    for (const [name, t] of m.graph.initializers) m.graph.inputs.push({ name, type: { kind: 'tensor', elemType: t.dtype, shape: [...t.dims] } });
    const orig = cloneModel(m);
    const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.1 }), ctx()); // r = 4 ≥ 3
    expect(res.details!.map((d) => d.weight)).toEqual(['w']);
    expect(res.skipped).toEqual([{ node: 'gemm', reason: 'Gemm before opset 11 (its C input is required)' }]);
    const inputs = m.graph.inputs.map((i) => i.name);
    expect(inputs).toContain('w_lowrank_u');
    expect(inputs).toContain('w_lowrank_v');
    expect(inputs).not.toContain('w');
    expect(maxRelDiff(await run(m, { input: { dims: [2, 40] } }), await run(orig, { input: { dims: [2, 40] } }))).toBeLessThan(1e-4);
  });

  it('float64 weights keep float64 factors', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.DOUBLE, ['N', 24]);
    const w = Float64Array.from(lowRank(24, 36, 2, 33));
    const y = b.op('MatMul', [x, b.init('w', [24, 36], w, DataType.DOUBLE)], {}, { name: 'mm' });
    b.output(y, DataType.DOUBLE, undefined, 'logits');
    const m = b.build();
    const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.125 }), ctx()); // r = 3
    expect(res.modified).toBe(true);
    const P = m.graph.initializers.get('w_lowrank_u')!;
    expect(P.dtype).toBe(DataType.DOUBLE);
    expect(P.data).toBeInstanceOf(Float64Array);
    expect((res.details![0] as Record<string, number>).relError).toBeLessThan(1e-9);
    await createSession(modelToBytes(m), { intraOpThreads: 1 }).then((s) => s.release());
  });
});

describe('data-aware mode (whitened by input activations)', () => {
  // inputs in a 4-dimensional subspace of R^32: the best rank-4 factors for the data reproduce x·W
  const K = 32;
  const N = 40;
  const R = randn(4 * K, rng(41));
  const sample = (count: number, seed: number) => {
    const z = randn(count * 4, rng(seed));
    return Float32Array.from(matmul(z, R, count, 4, K));
  };
  const build = (transB: boolean) => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', K]);
    const w = randn(K * N, rng(42));
    const wt = transB ? Float32Array.from({ length: K * N }, (_, i) => w[(i % K) * N + Math.floor(i / K)]) : w;
    const y = b.op('Gemm', [x, b.init('w', transB ? [N, K] : [K, N], wt), b.init('bias', [N], randn(N, rng(43)))], { transB: transB ? 1 : 0 }, { name: 'fc' });
    b.output(y, DataType.FLOAT, ['N', N], 'logits');
    return b.build();
  };
  const outputsOn = async (m: Model, data: Float32Array, count: number) => {
    const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
    try {
      return (await s.run({ input: { dtype: 'float', dims: [count, K], data } })).logits.data as Float32Array;
    } finally {
      await s.release();
    }
  };

  for (const transB of [false, true]) {
    it(`rank 4 reproduces the outputs on the data's subspace, where the plain SVD does not (transB=${transB})`, async () => {
      const runner = makeRunner({ intraOpThreads: 1 });
      try {
        const calib = { inputs: { input: { dtype: 'float', dims: [200, K], data: sample(200, 44) } }, count: 200 };
        const aware = build(transB);
        const plain = build(transB);
        const orig = build(transB);
        const opts = { ratio: 0.125, minSaving: 0 }; // r = 4
        const ra = await runLowRank(aware, parseLowRankOptions({ ...opts, dataAware: true }), { ...ctx(), calibration: calib, run: runner });
        await runLowRank(plain, parseLowRankOptions(opts), ctx());
        expect(ra.details![0]).toMatchObject({ rank: 4, whitened: true });
        expect(ra.details![0].energyKept as number).toBeGreaterThan(0.999);
        const test = sample(16, 45); // new samples from the same subspace
        const want = await outputsOn(orig, test, 16);
        expect(maxRelDiff(await outputsOn(aware, test, 16), want)).toBeLessThan(1e-2);
        expect(maxRelDiff(await outputsOn(plain, test, 16), want)).toBeGreaterThan(0.1);
        // and the rewritten model is exactly the product of its factors
        const ref = denseReference(orig, aware, 'w');
        expect(maxRelDiff(await outputsOn(aware, test, 16), await outputsOn(ref, test, 16))).toBeLessThan(1e-4);
      } finally {
        await runner.release();
      }
    });
  }

  it('needs data; the option parses from flags', async () => {
    await expect(runLowRank(build(false), parseLowRankOptions({ ratio: 0.5, dataAware: true }), ctx())).rejects.toThrow(/needs data/);
    expect(lowrankPass.parseOptions(lowrankPass.cli!.fromFlags({ lowrankEnergy: '0.99', lowrankDataAware: true, svd: 'auto' }))).toMatchObject({ energy: 0.99, dataAware: true });
    expect(() => parseLowRankOptions({ ratio: 0.5, dataAware: 'yes' })).toThrow(/boolean/);
  });
});

describe('skips and no-ops', () => {
  it('non-constant weights, small savings, shared weights, exclusions, energy out of reach', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 32]);
    const x2 = b.input('other', DataType.FLOAT, [32, 32]);
    const dyn = b.op('MatMul', [x, x2], {}, { name: 'dynamic' });
    const sq = b.op('MatMul', [dyn, b.init('sq', [32, 32], randn(1024, rng(1)))], {}, { name: 'square' }); // ratio 0.5 saves 0%
    const shared = b.init('shared', [32, 32], randn(1024, rng(2)));
    const s1 = b.op('MatMul', [sq, shared], {}, { name: 'shared_mm' });
    const s2 = b.op('Add', [s1, shared], {}, { name: 'shared_add' });
    const ex = b.op('MatMul', [s2, b.init('wex', [32, 64], randn(2048, rng(3)))], {}, { name: 'excluded_fc' });
    const y = b.op('MatMul', [ex, b.init('w3', [64, 8], randn(512, rng(4)))], {}, { name: 'tiny' });
    b.output(y, DataType.FLOAT, undefined, 'logits');
    const m = b.build();
    const before = modelToBytes(m);
    const res = await runLowRank(m, parseLowRankOptions({ ratio: 0.5, exclude: ['excluded_*', 'tiny'] }), ctx());
    expect(res.modified).toBe(false);
    const reasons = Object.fromEntries(res.skipped.map((s) => [s.node, s.reason]));
    expect(reasons.dynamic).toBe('no constant weight');
    expect(reasons.square).toMatch(/rank 16 of 32×32 saves 0\.0% .*< 10%/);
    expect(reasons.shared_mm).toMatch(/also read by shared_add \(Add\)/);
    expect(reasons.excluded_fc).toBe('excluded');
    expect(reasons.tiny).toBe('excluded');
    expect(modelToBytes(m)).toEqual(before);

    // energy: 0.999 of a random 64×8 needs ~all 8 ranks — beyond what saves 10%
    const e = await runLowRank(m, parseLowRankOptions({ energy: 0.999, exclude: ['excluded_*', 'square', 'shared*'] }), ctx());
    expect(e.modified).toBe(false);
    expect(Object.fromEntries(e.skipped.map((s) => [s.node, s.reason])).tiny).toMatch(/needs rank \d+, which saves < 10%/);
  });

  it('a model without candidates is left alone', async () => {
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 4]);
    b.output(b.op('Relu', [x]), DataType.FLOAT, undefined, 'logits');
    const m = b.build();
    const before = modelToBytes(m);
    const res = await lowrankPass.run(m, lowrankPass.parseOptions({ ratio: 0.5 }), ctx());
    expect(res).toMatchObject({ modified: false, skipped: [] });
    expect(res.stats.weightsFactored).toBe(0);
    expect(modelToBytes(m)).toEqual(before);
  });
});

describe('MNIST MLP fixture (--lowrank-energy 0.9)', () => {
  const modelPath = 'fixtures/mnist-mlp.onnx';
  const dataPath = 'fixtures/mnist-test.npz';
  it.skipIf(!existsSync(modelPath) || !existsSync(dataPath))('fewer parameters, accuracy drop ≤ 1.5 points, outputs equal the dense reference', async () => {
    const original = await loadModel(modelPath);
    const data = await loadDataset(dataPath, original);
    const m = cloneModel(original);
    const res = await runLowRank(m, parseLowRankOptions({ energy: 0.9 }), ctx());
    expect(res.modified).toBe(true);
    for (const d of res.details!) expect(d.energyKept as number).toBeGreaterThanOrEqual(0.9);
    expect(res.stats.paramsAfter as number).toBeLessThan(res.stats.paramsBefore as number);
    const run2 = async (model: Model) => {
      const s = await createSession(modelToBytes(model), { intraOpThreads: 1 });
      try {
        return (await s.run({ input: data.inputs.input as never })).logits.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    const acc = (logits: Float32Array) => {
      let ok = 0;
      for (let i = 0; i < data.count; i++) {
        let best = 0;
        for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
        if (best === data.labels![i]) ok++;
      }
      return (100 * ok) / data.count;
    };
    const out = await run2(m);
    expect(acc(await run2(original)) - acc(out)).toBeLessThanOrEqual(1.5);
    let ref = original;
    for (const d of res.details!) ref = denseReference(ref, m, d.weight as string);
    const want = await run2(ref);
    let e = 0;
    for (let i = 0; i < out.length; i++) e = Math.max(e, Math.abs(out[i] - want[i]));
    expect(e).toBeLessThan(1e-4);
  });
});

describe('mlc compress --lowrank (CLI end to end)', () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    ensureBuilt();
    dir = tempDir('mlc-lowrank-');
    model = join(dir, 'net.onnx');
    const b = new ModelBuilder();
    const x = b.input('input', DataType.FLOAT, ['N', 64]);
    const h = b.op('Relu', [b.op('Gemm', [x, b.init('fc1.weight', [96, 64], lowRank(96, 64, 8, 21)), b.init('fc1.bias', [96], randn(96, rng(2)))], { transB: 1 }, { name: 'fc1' })]);
    const y = b.op('MatMul', [h, b.init('fc2.weight', [96, 40], randn(96 * 40, rng(3)))], {}, { name: 'fc2' });
    b.output(y, DataType.FLOAT, ['N', 40], 'logits');
    await saveModel(b.build(), model);
  });

  it('writes <name>_lowrank.onnx with the factored layers and reports per-weight details', async () => {
    const r = mlc(['compress', model, '--lowrank', '0.125', '--exclude', 'fc2', '--json', '--no-latency']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.output).toBe(join(dir, 'net_lowrank.onnx'));
    expect(doc.passes[0]).toMatchObject({ name: 'lowrank', modified: true, skipped: [{ node: 'fc2', reason: 'excluded' }] });
    expect(doc.passes[0].stats).toMatchObject({ weightsFactored: 1, factoredParamsBefore: 96 * 64, factoredParamsAfter: 8 * 160 });
    expect(doc.after.params).toBe(doc.before.params - 96 * 64 + 8 * 160);
    const out = await loadModel(doc.output);
    expect(out.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Gemm', 'Relu', 'MatMul']);
    const orig = await loadModel(model);
    expect(maxRelDiff(await run(out, { input: { dims: [3, 64] } }), await run(orig, { input: { dims: [3, 64] } }))).toBeLessThan(1e-4);
  });

  it('--lowrank-energy with --svd exact; both modes at once is a usage error', () => {
    const r = mlc(['compress', model, '--lowrank-energy', '0.999', '--svd', 'exact', '-o', join(dir, 'e.onnx'), '--json', '--no-latency']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout).passes[0];
    expect(p.stats).toMatchObject({ weightsFactored: 1, factoredParamsAfter: 8 * 160, randomizedSvds: 0, energy: 0.999 });
    expect(p.skipped).toEqual([{ node: 'fc2', reason: expect.stringMatching(/needs rank \d+/) }]);
    const bad = mlc(['compress', model, '--lowrank', '0.5', '--lowrank-energy', '0.9', '-o', join(dir, 'x.onnx')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/exactly one/);
  });
});
