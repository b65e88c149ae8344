// Distillation benchmark: the issue-7 recipes on the MNIST fixtures, with wall time.
//
//   npm run build && node benchmarks/distill.bench.mjs [--only word] [--epochs N]
//
// For each recipe: parameters (float, and non-zero), file bytes, gzip -9 bytes, top-1 accuracy on
// fixtures/mnist-test.npz (onnxruntime, the teacher measured the same way), the drop in points, and
// the wall time of the whole compress call (load → passes → ORT check). Training data:
// fixtures/mnist-train.npz; validation: the distill pass's held-out 10% of it (the test set is
// never seen during training or checkpoint selection).
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { compress, passes } from '../dist/index.js';
import { loadModel, modelToBytes } from '../dist/onnx/index.js';
import { loadDataset } from '../dist/data/index.js';
import { makeRunner } from '../dist/runtime/index.js';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const only = opt('--only');
const epochs = opt('--epochs');
const TRAIN = 'fixtures/mnist-train.npz';
const TEST = 'fixtures/mnist-test.npz';
const MLP = 'fixtures/mnist-mlp.onnx';
const CNN = 'fixtures/mnist-cnn.onnx';

const registered = new Set(passes.map((p) => p.name));
const distill = (extra = {}) => ({ pass: 'distill', options: { ...(epochs ? { epochs: Number(epochs) } : {}), ...extra } });
const RECIPES = [
  { model: MLP, name: 'low-rank 80% energy (one shot)', steps: [{ pass: 'lowrank', options: { energy: 0.8 } }] },
  { model: MLP, name: 'low-rank 80% energy + distill', steps: [{ pass: 'lowrank', options: { energy: 0.8 } }, distill()], target: 'params ≤ 0.25×, drop ≤ 0.5' },
  { model: MLP, name: 'low-rank 50% energy + distill (T 2)', steps: [{ pass: 'lowrank', options: { energy: 0.5 } }, distill({ temperature: 2 })], target: 'params ≤ 0.25×, drop ≤ 0.5' },
  { model: MLP, name: 'prune 90% (one shot)', steps: [{ pass: 'prune', options: { sparsity: 0.9 } }] },
  { model: MLP, name: 'prune 90% + distill', steps: [{ pass: 'prune', options: { sparsity: 0.9 } }, distill()], target: 'drop ≤ 0.5' },
  {
    model: MLP,
    name: 'prune 90% + distill + int8 (Deep Compression)',
    steps: [{ pass: 'prune', options: { sparsity: 0.9 } }, distill(), { pass: 'quantize', options: { type: 'int8' } }],
    target: 'gzip ≤ 1/20, drop ≤ 0.5, ≤ 300 s',
  },
  {
    model: MLP,
    name: 'prune 93% + distill + int8',
    steps: [{ pass: 'prune', options: { sparsity: 0.93 } }, distill(), { pass: 'quantize', options: { type: 'int8' } }],
    target: 'gzip ≤ 1/20, drop ≤ 0.5, ≤ 300 s',
  },
  { model: CNN, name: 'student-width 0.5 + distill', steps: [distill({ studentWidth: 0.5 })], target: 'drop ≤ 1' },
].filter((r) => r.steps.every((s) => registered.has(s.pass)) && existsSync(r.model) && (!only || r.name.includes(only)));

if (!existsSync(TRAIN) || !existsSync(TEST)) {
  console.error('distill.bench: needs fixtures/mnist-train.npz and fixtures/mnist-test.npz');
  process.exit(1);
}

const runner = makeRunner({ intraOpThreads: 1 });
function floatParams(m) {
  let params = 0;
  let nonzero = 0;
  for (const t of m.graph.initializers.values()) {
    if (!t.isFloat && t.dtype !== 3 && t.dtype !== 2) continue; // float, int8, uint8 weights
    if (t.size <= 1) continue; // scales and zero points
    params += t.size;
    for (let i = 0; i < t.data.length; i++) if (t.data[i] !== 0) nonzero++;
  }
  for (const s of m.graph.sparseInitializers) {
    params += s.dims.reduce((a, b) => a * b, 1);
    nonzero += s.values.size;
  }
  return { params, nonzero };
}
async function accuracy(model, data) {
  const input = model.graph.realInputs()[0].name;
  const output = model.graph.outputs[0].name;
  const out = (await runner(model, { [input]: data.inputs[input] }, [output]))[output];
  const c = out.dims[out.dims.length - 1];
  let hits = 0;
  for (let i = 0; i < data.count; i++) {
    let b = 0;
    for (let j = 1; j < c; j++) if (out.data[i * c + j] > out.data[i * c + b]) b = j;
    if (b === data.labels[i]) hits++;
  }
  return hits / data.count;
}
function measure(m) {
  const bytes = modelToBytes(m);
  return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, ...floatParams(m) };
}

const base = new Map();
const rows = [];
for (const r of RECIPES) {
  if (!base.has(r.model)) {
    const m = await loadModel(r.model);
    const data = await loadDataset(TEST, m);
    base.set(r.model, { data, acc: await accuracy(m, data), ...measure(m) });
  }
  const b = base.get(r.model);
  const lines = [];
  const log = { info: (s) => lines.push(s), warn: (s) => lines.push(`warn: ${s}`), debug() {} };
  const t0 = performance.now();
  // the recipes above are checked by the run (JavaScript widens their pass names to string)
  const res = await compress(r.model, /** @type {import('../dist/index.js').PipelineStep[]} */ (/** @type {unknown} */ (r.steps)), { train: TRAIN, log });
  const secs = (performance.now() - t0) / 1000;
  const acc = await accuracy(res.model, b.data);
  const m = measure(res.model);
  const d = res.passes.find((p) => p.name === 'distill');
  rows.push({
    fixture: r.model.replace('fixtures/', ''),
    recipe: r.name,
    params: `${m.params.toLocaleString('en')} (${(m.params / b.params).toFixed(3)}×)`,
    nonzero: `${m.nonzero.toLocaleString('en')} (${(m.nonzero / b.params).toFixed(3)}×)`,
    gzip: `${(m.gzip / 1000).toFixed(1)} kB (1/${(b.gzip / m.gzip).toFixed(1)})`,
    acc: `${(100 * acc).toFixed(2)}%`,
    drop: `${(100 * (b.acc - acc)).toFixed(2)}`,
    time: `${secs.toFixed(1)} s`,
    target: r.target ?? '',
    epochs: d ? `${d.stats.epochs} (best ${d.stats.bestEpoch}, ${d.stats.backend})` : '',
  });
  console.log(`${r.model} ${r.name}: acc ${(100 * acc).toFixed(2)}% (teacher ${(100 * b.acc).toFixed(2)}%), params ${m.params} / ${b.params}, gzip ${m.gzip} / ${b.gzip} B, ${secs.toFixed(1)} s`);
  for (const l of lines.filter((l) => /epoch|before training|warn/.test(l))) console.log(`    ${l}`);
}
await runner.release();

console.log('\n| fixture | recipe | params | non-zero | gzip | test acc | drop (pts) | distill epochs | wall time | target |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [k, b] of base) {
  console.log(`| ${k.replace('fixtures/', '')} | teacher | ${b.params.toLocaleString('en')} | | ${(b.gzip / 1000).toFixed(1)} kB | ${(100 * b.acc).toFixed(2)}% | | | | |`);
}
for (const r of rows) {
  console.log(`| ${r.fixture} | ${r.recipe} | ${r.params} | ${r.nonzero} | ${r.gzip} | ${r.acc} | ${r.drop} | ${r.epochs} | ${r.time} | ${r.target} |`);
}
