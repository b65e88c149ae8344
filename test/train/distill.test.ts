/**
 * The distillation loop on tiny models: a hand-pruned student keeps its zeros and wins back
 * agreement with the teacher; a hand-factored (low-rank) student keeps its factor shapes; the
 * written-back weights give the same outputs in onnxruntime as in tfjs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Dataset, PassContext, seededRng, silentLogger } from '../../src/passes/pass.js';
import { makeRunner } from '../../src/runtime/index.js';
import { useBackend } from '../../src/train/backend.js';
import { distill } from '../../src/train/distill.js';
import { maxAbsDiff, ortRun, randn, tfRun } from './helpers.js';

const F = DataType.FLOAT;
const runner = makeRunner();
afterAll(() => runner.release());

/** teacher: 16 → 32 (Relu) → 4, Gemm + MatMul/Add, output softmax probabilities. */
function teacherModel(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', F, ['N', 16]);
  const h = b.op('Relu', [b.op('Gemm', [x, b.init('w1', [16, 32], randn(512, 2, 0.4)), b.init('b1', [32], randn(32, 3, 0.1))])]);
  const l = b.op('Add', [b.op('MatMul', [h, b.init('w2', [32, 4], randn(128, 4, 0.4))]), b.init('b2', [4], randn(4, 5, 0.1))]);
  b.output(b.op('Softmax', [l]), F, ['N', 4], 'probs');
  return b.build();
}

async function dataset(n: number, seed: number, teacher: Model, labels: boolean): Promise<Dataset> {
  const x = randn(n * 16, seed);
  const ds: Dataset = { inputs: { input: { dtype: 'float', dims: [n, 16], data: x } }, count: n };
  if (labels) {
    const [p] = await ortRun(teacher, { input: { dtype: 'float', dims: [n, 16], data: x } });
    ds.labels = Int32Array.from({ length: n }, (_, i) => {
      let best = 0;
      for (let j = 1; j < 4; j++) if (p.data[i * 4 + j] > p.data[i * 4 + best]) best = j;
      return best;
    });
  }
  return ds;
}

function ctxFor(train: Dataset, validation?: Dataset): PassContext {
  return { log: silentLogger, rng: seededRng(7), train, validation, run: runner };
}

/** Zero the `share` smallest-|w| entries of an initializer (pruning by hand). */
function pruneByHand(m: Model, name: string, share: number): void {
  const d = m.graph.initializers.get(name)!.data as Float32Array;
  const sorted = Float32Array.from(d, Math.abs).sort();
  const thr = sorted[Math.floor(share * d.length)];
  for (let i = 0; i < d.length; i++) if (Math.abs(d[i]) < thr) d[i] = 0;
}

const cfg = { epochs: 6, batchSize: 32, lr: 5e-3, temperature: 4, alpha: 0.7, backend: 'wasm' as const };

describe('distill', () => {
  it('pruned student: zeros stay zero, agreement with the teacher improves, export round-trips', async () => {
    const teacher = teacherModel();
    const student = cloneModel(teacher);
    pruneByHand(student, 'w1', 0.85);
    pruneByHand(student, 'w2', 0.85);
    const zerosBefore = ['w1', 'w2'].map((n) => (student.graph.initializers.get(n)!.data as Float32Array).map((v) => (v === 0 ? 1 : 0)));
    const initialB1 = Float32Array.from(student.graph.initializers.get('b1')!.data as Float32Array);

    const train = await dataset(1200, 11, teacher, false);
    const rep = await distill(teacher, student, cfg, ctxFor(train));

    if (process.env.DISTILL_DEBUG) console.log(rep);
    expect(rep.metric).toBe('agreement');
    expect(rep.maskedWeights).toBe(2);
    expect(rep.studentValAfter).toBeGreaterThan(rep.studentValBefore + 0.05);
    expect(rep.bestEpoch).toBeGreaterThan(0);
    // masks: every weight that was zero is still exactly zero
    ['w1', 'w2'].forEach((n, k) => {
      const d = student.graph.initializers.get(n)!.data as Float32Array;
      for (let i = 0; i < d.length; i++) if (zerosBefore[k][i]) expect(d[i]).toBe(0);
    });
    // the weights did change
    expect(maxAbsDiff(student.graph.initializers.get('b1')!.data as Float32Array, initialB1)).toBeGreaterThan(1e-4);
    // export round trip: onnxruntime on the written model equals tfjs on it
    const feeds = { input: { dtype: 'float', dims: [50, 16], data: randn(800, 99) } };
    const { tf } = await useBackend('wasm');
    const [o] = await ortRun(student, feeds);
    const [t] = tfRun(tf, student, feeds);
    expect(maxAbsDiff(o.data, t.data)).toBeLessThan(1e-4);
    expect(rep.exportMaxAbsDiff).toBeLessThan(1e-4);
  });

  it('low-rank student with labels: factor shapes stay, accuracy does not drop', async () => {
    const teacher = teacherModel();
    // w1 [16, 32] ≈ A [16, 6] · B [6, 32]: a crude rank-6 factorization (random A, first 6 rows of w1 as B)
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', F, ['N', 16]);
    const w1 = teacher.graph.initializers.get('w1')!.data as Float32Array;
    const f1 = b.op('MatMul', [x, b.init('A', [16, 6], randn(96, 21, 0.3))]);
    const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [f1, b.init('B', [6, 32], w1.slice(0, 192))]), b.init('b1', [32], teacher.graph.initializers.get('b1')!.data as Float32Array)])]);
    const l = b.op('Gemm', [h, b.init('w2', [32, 4], teacher.graph.initializers.get('w2')!.data as Float32Array), b.init('b2', [4], teacher.graph.initializers.get('b2')!.data as Float32Array)]);
    b.output(l, F, ['N', 4], 'probs'); // student outputs logits: compared as logits with the teacher's log-probabilities
    const student = b.build();

    const train = await dataset(1200, 12, teacher, true);
    const val = await dataset(300, 13, teacher, true);
    const rep = await distill(teacher, student, { ...cfg, epochs: 4, augment: 'none' }, ctxFor(train, val));
    if (process.env.DISTILL_DEBUG) console.log(rep);
    expect(rep.metric).toBe('accuracy');
    expect(rep.valSamples).toBe(300);
    expect(rep.teacherVal).toBe(1);
    expect(rep.studentValAfter).toBeGreaterThanOrEqual(rep.studentValBefore);
    expect(rep.studentValAfter).toBeGreaterThan(rep.studentValBefore + 0.1);
    expect(student.graph.initializers.get('A')!.dims).toEqual([16, 6]);
    expect(student.graph.initializers.get('B')!.dims).toEqual([6, 32]);
    expect(rep.maskedWeights).toBe(0);
  });

  it('falls back to the cpu backend when the wasm backend lacks a kernel the student needs', async () => {
    const { tf } = await useBackend('wasm');
    const relu = tf.getKernel('Relu', 'wasm')!;
    tf.unregisterKernel('Relu', 'wasm');
    try {
      const teacher = teacherModel();
      const student = cloneModel(teacher);
      const warnings: string[] = [];
      const train = await dataset(200, 14, teacher, false);
      const rep = await distill(teacher, student, { ...cfg, epochs: 1 }, { ...ctxFor(train), log: { ...silentLogger, warn: (m) => warnings.push(m) } });
      expect(rep.backend).toBe('cpu');
      expect(warnings.join('\n')).toMatch(/lacks a kernel.*Relu.*cpu backend/s);
    } finally {
      tf.registerKernel(relu);
    }
  });

  it('refuses without training data and names missing inputs', async () => {
    const teacher = teacherModel();
    await expect(distill(teacher, cloneModel(teacher), cfg, { log: silentLogger, rng: seededRng(1), run: runner })).rejects.toThrow(/--train-data/);
    const bad: Dataset = { inputs: { other: { dtype: 'float', dims: [4, 16], data: new Float32Array(64) } }, count: 4 };
    await expect(distill(teacher, cloneModel(teacher), cfg, ctxFor(bad))).rejects.toThrow(/input 'input'/);
  });
});
