// Prune benchmark: accuracy, file / gzip -9 size, parameters and batch-1 latency of pruning
// variants of an MLP (default fixtures/mnist-mlp.onnx on fixtures/mnist-test.npz).
//
//   npm run build && node benchmarks/prune.bench.mjs [model.onnx] [test.npz] [train.npz] [--rounds 2000]
//
// Variants marked "+ refit" use --prune-reconstruct with samples from train.npz (default
// fixtures/mnist-train.npz; skipped when it is missing).
//
// Latency: 1 intra-op thread, batch 1, the variants interleaved (one run of each per round, in a
// rotating order) so that machine noise hits them alike; p50 / p90 over the rounds after a warm-up.
import { gzipSync } from 'node:zlib';
import { loadModel, modelToBytes } from '../dist/onnx/index.js';
import { loadDataset } from '../dist/data/index.js';
import { createSession, makeRunner } from '../dist/runtime/index.js';
import { existsSync } from 'node:fs';
import { cloneModel } from '../dist/ir/index.js';
import { countParams } from '../dist/ir/params.js';
import { parsePruneOptions, runPrune } from '../dist/passes/prune.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const rounds = Number(flag('--rounds', '2000'));
const [modelPath = 'fixtures/mnist-mlp.onnx', dataPath = 'fixtures/mnist-test.npz', trainPath = 'fixtures/mnist-train.npz'] = args;

const original = await loadModel(modelPath);
const data = await loadDataset(dataPath, original);
const inputName = original.graph.realInputs()[0].name;
const train = existsSync(trainPath) ? await loadDataset(trainPath, original) : undefined;
const runner = makeRunner({ intraOpThreads: 1 });
const silent = { info() {}, warn() {}, debug() {} };

const variants = [
  ['original', null],
  ['0.8 global', { sparsity: 0.8 }],
  ['0.8 layer', { sparsity: 0.8, scope: 'layer' }],
  ['0.8 lamp', { sparsity: 0.8, scope: 'lamp' }],
  ['0.8 keep-first-last', { sparsity: 0.8, keepFirstLast: true }],
  ['0.8 global + sparse-storage', { sparsity: 0.8, sparseStorage: true }],
  ['0.9 global', { sparsity: 0.9 }],
  ['0.9 lamp', { sparsity: 0.9, scope: 'lamp' }],
  ['2:4', { pattern: '2:4' }],
  ['channel 0.5 layer', { sparsity: 0.5, pattern: 'channel', scope: 'layer' }],
  ['channel 0.5 global', { sparsity: 0.5, pattern: 'channel', scope: 'global' }],
  ...(train
    ? [
        ['0.8 global + refit', { sparsity: 0.8, reconstruct: true }],
        ['0.9 global + refit', { sparsity: 0.9, reconstruct: true }],
        ['2:4 + refit', { pattern: '2:4', reconstruct: true }],
        ['channel 0.5 layer + refit', { sparsity: 0.5, pattern: 'channel', scope: 'layer', reconstruct: true }],
        ['channel 0.7 layer + refit', { sparsity: 0.7, pattern: 'channel', scope: 'layer', reconstruct: true }],
      ]
    : []),
];

function argmax(a, off, n) {
  let b = 0;
  for (let j = 1; j < n; j++) if (a[off + j] > a[off + b]) b = j;
  return b;
}

const rows = [];
for (const [name, opts] of variants) {
  const m = cloneModel(original);
  let stats = {};
  let ms = 0;
  if (opts) {
    const t0 = performance.now();
    const r = await runPrune(m, parsePruneOptions(opts), { log: silent, rng: Math.random, calibration: train, run: runner });
    ms = performance.now() - t0;
    stats = r.stats;
  }
  const bytes = modelToBytes(m);
  const session = await createSession(bytes, { intraOpThreads: 1 });
  const feed = data.inputs[inputName];
  const out = await session.run({ [inputName]: feed });
  const logits = Object.values(out)[0];
  const classes = logits.dims[logits.dims.length - 1];
  let correct = 0;
  let predictions = new Int32Array(data.count);
  for (let i = 0; i < data.count; i++) {
    predictions[i] = argmax(logits.data, i * classes, classes);
    if (data.labels && predictions[i] === data.labels[i]) correct++;
  }
  const p = countParams(m.graph, { floatOnly: true, subgraphs: false });
  rows.push({ name, m, session, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, params: p.params, nonzero: p.nonzeroParams, accuracy: data.labels ? correct / data.count : NaN, predictions, ms, stats, lat: [] });
}

// interleaved batch-1 latency
const feed = data.inputs[inputName];
const per = feed.dims.slice(1).reduce((a, b) => a * b, 1);
const sample = (i) => ({ [inputName]: { dtype: feed.dtype, dims: [1, ...feed.dims.slice(1)], data: feed.data.subarray((i % data.count) * per, ((i % data.count) + 1) * per) } });
const warm = Math.min(200, rounds / 10);
for (let r = 0; r < rounds + warm; r++) {
  for (let k = 0; k < rows.length; k++) {
    const row = rows[(k + r) % rows.length];
    const f = sample(r);
    const t0 = process.hrtime.bigint();
    await row.session.run(f);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r >= warm) row.lat.push(dt);
  }
}
const q = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

const base = rows[0];
console.log(`model ${modelPath} (${data.count} samples), latency: batch 1, 1 thread, ${rounds} interleaved rounds`);
console.log(
  ['variant', 'accuracy', 'Δacc pts', 'agree', 'size B', 'gzip B', 'gzip ×', 'params', 'params ×', 'nonzero', 'p50 ms', 'p90 ms', 'p50 ×', 'prune ms'].join(' | '),
);
for (const r of rows) {
  let agree = 0;
  for (let i = 0; i < data.count; i++) if (r.predictions[i] === base.predictions[i]) agree++;
  console.log(
    [
      r.name,
      (100 * r.accuracy).toFixed(2) + '%',
      (100 * (r.accuracy - base.accuracy)).toFixed(2),
      (agree / data.count).toFixed(4),
      r.bytes,
      r.gzip,
      (r.gzip / base.gzip).toFixed(3),
      r.params,
      (r.params / base.params).toFixed(3),
      r.nonzero,
      q(r.lat, 0.5).toFixed(4),
      q(r.lat, 0.9).toFixed(4),
      (q(r.lat, 0.5) / q(base.lat, 0.5)).toFixed(3),
      r.ms.toFixed(1),
    ].join(' | '),
  );
}
for (const r of rows) await r.session.release();
await runner.release();
