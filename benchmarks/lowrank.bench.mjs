// Low-rank pass benchmark.
//
//   npm run build && node benchmarks/lowrank.bench.mjs [--skip-encoder] [--skip-mnist] [--layers 4] [--data-aware]
//
// 1. fixtures/mnist-mlp.onnx on fixtures/mnist-test.npz (if present): --lowrank-energy 0.9 and a few
//    other settings — parameters before/after, accuracy before/after (one shot, no retraining), the
//    per-weight ranks, and the check that the rewritten model's outputs equal a dense reference
//    (the original model with each factored weight replaced by the product of its float32 factors).
//    The data-aware rows (--lowrank-data-aware) take activation statistics from fixtures/mnist-train.npz.
// 2. A BERT-like encoder (hidden 768, ffn 3072, 4 layers; src/models/encoder.ts) factored at
//    --lowrank 0.5 (target ≤ 60 s for the whole pass), then both models run once through ORT.
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { cloneModel, Tensor } from '../dist/ir/index.js';
import { matmul } from '../dist/math/matmul.js';
import { loadModel, modelToBytes } from '../dist/onnx/index.js';
import { loadDataset } from '../dist/data/index.js';
import { createSession, makeRunner } from '../dist/runtime/index.js';
import { parseLowRankOptions, runLowRank } from '../dist/passes/lowrank.js';
import { seededRng, silentLogger } from '../dist/passes/pass.js';
import { buildEncoder } from '../dist/models/encoder.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const ctx = () => ({ log: silentLogger, rng: seededRng(1) });

async function outputs(model, feeds) {
  const s = await createSession(modelToBytes(model), { intraOpThreads: 1 });
  try {
    const r = await s.run(feeds);
    return r[s.outputNames[0]];
  } finally {
    await s.release();
  }
}

function denseReference(original, rewritten, details) {
  const ref = cloneModel(original);
  for (const d of details) {
    const P = rewritten.graph.initializers.get(`${d.weight}_lowrank_u`);
    const Q = rewritten.graph.initializers.get(`${d.weight}_lowrank_v`);
    const rows = P.dims[0];
    const r = P.dims[1];
    const cols = Q.size / r;
    const t = ref.graph.constantValue(d.weight);
    ref.graph.initializers.set(d.weight, new Tensor(d.weight, t.dtype, t.dims, Float32Array.from(matmul(P.data, Q.data, rows, r, cols))));
  }
  return ref;
}

function maxAbsDiff(a, b) {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e;
}

function accuracy(logits, labels, classes) {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (best === labels[i]) ok++;
  }
  return ok / labels.length;
}

if (!args.includes('--skip-mnist')) {
  const modelPath = 'fixtures/mnist-mlp.onnx';
  const dataPath = 'fixtures/mnist-test.npz';
  if (!existsSync(modelPath) || !existsSync(dataPath)) {
    console.log(`(${modelPath} or ${dataPath} missing: MNIST part skipped)`);
  } else {
    const original = await loadModel(modelPath);
    const data = await loadDataset(dataPath, original);
    const inputName = original.graph.realInputs()[0].name;
    // data-aware rows: activation statistics from 512 training samples (not the test set)
    const train = existsSync('fixtures/mnist-train.npz') ? await loadDataset('fixtures/mnist-train.npz', original) : undefined;
    const runner = makeRunner({ intraOpThreads: 1 });
    const feeds = { [inputName]: data.inputs[inputName] };
    const base = await outputs(original, feeds);
    const classes = base.dims[base.dims.length - 1];
    const acc0 = accuracy(base.data, data.labels, classes);
    console.log(`MNIST MLP (${modelPath}, ${data.count} test images): accuracy ${(100 * acc0).toFixed(2)}%`);
    console.log('setting                         params (ratio)      accuracy   drop    ranks                       dense-ref max|Δ|   ms');
    for (const [name, opts] of [
      ['--lowrank-energy 0.9', { energy: 0.9 }],
      ['--lowrank-energy 0.95', { energy: 0.95 }],
      ['--lowrank-energy 0.8', { energy: 0.8 }],
      ['--lowrank 0.25', { ratio: 0.25 }],
      ['--lowrank 0.1', { ratio: 0.1 }],
      ['--lowrank-energy 0.9 --svd exact', { energy: 0.9, svd: 'exact' }],
      ['--lowrank-energy 0.9 --svd randomized', { energy: 0.9, svd: 'randomized' }],
      ['--lowrank 0.33 --exclude /fc3/Gemm', { ratio: 0.33, exclude: ['/fc3/Gemm'] }],
      ['data-aware --lowrank-energy 0.9', { energy: 0.9, dataAware: true }],
      ['data-aware --lowrank-energy 0.95', { energy: 0.95, dataAware: true }],
      ['data-aware --lowrank-energy 0.99', { energy: 0.99, dataAware: true }],
    ]) {
      const m = cloneModel(original);
      const t0 = performance.now();
      const res = await runLowRank(m, parseLowRankOptions(opts), { ...ctx(), calibration: train, run: runner });
      const ms = performance.now() - t0;
      const out = await outputs(m, feeds);
      const acc = accuracy(out.data, data.labels, classes);
      const ref = await outputs(denseReference(original, m, res.details), feeds);
      const diff = maxAbsDiff(out.data, ref.data);
      const ranks = /** @type {any[]} */ (res.details).map((d) => `${d.shape.join('×')}:${d.rank}`).join(' ');
      console.log(
        `${String(name).padEnd(31)} ${String(res.stats.paramsBefore).padStart(6)} → ${String(res.stats.paramsAfter).padStart(6)} (${Number(res.stats.paramsRatio).toFixed(3)})` +
          `  ${(100 * acc).toFixed(2)}%   ${(100 * (acc0 - acc)).toFixed(2)}   ${ranks.padEnd(27)} ${diff.toExponential(2).padStart(9)}   ${ms.toFixed(0)}`,
      );
      if (name === '--lowrank-energy 0.9') {
        for (const d of /** @type {any[]} */ (res.details)) console.log(`    ${d.weight} ${d.shape.join('×')} rank ${d.rank} energy ${d.energyKept} rel.err ${d.relError} ${d.svd}`);
        for (const s of res.skipped) console.log(`    skipped ${s.node}: ${s.reason}`);
      }
    }
    await runner.release();
  }
}

if (!args.includes('--skip-encoder')) {
  const layers = Number(flag('--layers', '4'));
  const t0 = performance.now();
  const enc = buildEncoder({ layers, seq: 32 });
  const original = cloneModel(enc);
  console.log(`\nload average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`BERT-like encoder: ${layers} layers, hidden 768, ffn 3072 (built in ${(performance.now() - t0).toFixed(0)} ms)`);
  const c0 = process.cpuUsage();
  const t1 = performance.now();
  const res = await runLowRank(enc, parseLowRankOptions({ ratio: 0.5 }), ctx());
  const wall = performance.now() - t1;
  const cpu = process.cpuUsage(c0);
  console.log(
    `--lowrank 0.5: ${(wall / 1000).toFixed(1)} s wall (${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU), ` +
      `${res.stats.weightsFactored} weights factored, ${res.skipped.length} skipped, params ${res.stats.paramsBefore} → ${res.stats.paramsAfter} (${res.stats.paramsRatio})`,
  );
  const byShape = new Map();
  for (const d of /** @type {any[]} */ (res.details)) {
    const k = `${d.shape.join('×')} rank ${d.rank} (${d.svd})`;
    const v = byShape.get(k) ?? { count: 0, ms: 0, err: 0 };
    v.count++;
    v.ms += d.ms;
    v.err = Math.max(v.err, d.relError);
    byShape.set(k, v);
  }
  for (const [k, v] of byShape) console.log(`    ${k}: ${v.count}×, ${(v.ms / v.count).toFixed(0)} ms each, rel. error ≤ ${v.err}`);
  const reasons = new Map();
  for (const s of res.skipped) reasons.set(s.reason.replace(/\d+(\.\d+)?%/g, '#%'), (reasons.get(s.reason.replace(/\d+(\.\d+)?%/g, '#%')) ?? 0) + 1);
  for (const [r, c] of reasons) console.log(`    skipped ${c}×: ${r}`);
  if (args.includes('--data-aware')) {
    // the same at --lowrank 0.5 --lowrank-data-aware on 64 random sequences (2048 token vectors)
    const calib = { inputs: { input: { dtype: 'float', dims: [64, 32, 768], data: Float32Array.from({ length: 64 * 32 * 768 }, (_, i) => Math.sin(i * 0.61) + Math.cos(i * 0.013)) } }, count: 64 };
    const runner = makeRunner({ intraOpThreads: 1 });
    const m2 = cloneModel(original);
    const c1 = process.cpuUsage();
    const t2 = performance.now();
    const r2 = await runLowRank(m2, parseLowRankOptions({ ratio: 0.5, dataAware: true }), { ...ctx(), calibration: calib, run: runner });
    const cpu2 = process.cpuUsage(c1);
    await runner.release();
    console.log(
      `--lowrank 0.5 --lowrank-data-aware: ${((performance.now() - t2) / 1000).toFixed(1)} s wall (${((cpu2.user + cpu2.system) / 1e6).toFixed(1)} s CPU), ` +
        `${r2.details.filter((d) => d.whitened).length} of ${r2.stats.weightsFactored} weights whitened`,
    );
  }
  const x = Float32Array.from({ length: 2 * 32 * 768 }, (_, i) => Math.sin(i * 0.37));
  const feeds = { input: { dtype: 'float', dims: [2, 32, 768], data: x } };
  const [a, b] = [await outputs(original, feeds), await outputs(enc, feeds)];
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.data.length; i++) {
    const [u, v] = [Number(a.data[i]), Number(b.data[i])];
    dot += u * v;
    na += u ** 2;
    nb += v ** 2;
  }
  console.log(`    ORT runs the factored encoder; output cosine vs original ${(dot / Math.sqrt(na * nb)).toFixed(4)} (random weights: a flat spectrum)`);
}
