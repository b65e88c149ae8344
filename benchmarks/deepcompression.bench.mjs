// Deep Compression, stage by stage (the table of Han et al. 2016): prune → + cluster → + storage,
// on the MNIST fixtures, with the recipe the README gives (recipes/deep-compression.json; a
// fixture-specific recipes/deep-compression-<kind>.json when one exists).
//
//   npm run build && node benchmarks/deepcompression.bench.mjs [--only mlp|cnn|cnn-plain|cnn-torch] [--recipe file]
//        [--torch-seed n] [--torch-onnx file] [--save-pruned file | --pruned file]
//
// --save-pruned file writes the model after the recipe's steps before the cluster step; --pruned
// file starts from it (the original model still the teacher) and runs the cluster step and what
// follows only: variants of the weight-sharing step measured on the same pruned weights. (The
// cluster step's seeded shuffles then start from the seed, not where the earlier steps left it.)
//
// cnn-plain: a LeNet-5 trained in the bench with a plain recipe (Adam, no weight decay, no
// augmentation; plainLenet5), compressed with the CNN recipe: the method, not the fixture.
// cnn-torch: a LeNet-5 trained and exported by PyTorch (benchmarks/lenet5_torch.py: Adam with a
// one-cycle rate, no weight decay, 20 epochs, torch.onnx.export; --torch-seed n, default 0),
// compressed with the CNN recipe; skipped without python3 + torch. --torch-onnx file: that file
// (written by lenet5_torch.py earlier) instead of training one.
//
// Stages (each measured on the model as an ONNX file):
//   fp32        the fixture
//   prune       the recipe's prune (+ distill) steps: float weights with zeros
//   + cluster   the cluster step with storage "float": shared (fine-tuned) values, still float32
//   + storage   the same values stored as indices + codebooks (the cluster pass's storage: auto),
//               onnxruntime expands them at load time; then the recipe's steps after the cluster
//               step (minify)
//   Huffman     the lower bound of the paper's storage: per-layer Huffman codes of the gap and index
//               streams (the pass's huffmanSparseBytes) + the float32 codebooks and biases as raw
//               bytes (the graph itself not counted)
// Sizes: gzip -9 and brotli -q 11 of the file; ratios against the fp32 fixture's gzip / brotli.
// Accuracy: top-1 on fixtures/mnist-test.npz (2,000 digits never seen in training). Latency:
// batch 1, 1 intra-op thread, the pruned and the stored model interleaved in one process.
// Wall time: the whole recipe (all training included), with the process's CPU time beside it (on a
// shared machine the wall time also counts the other processes' share of the cores).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, constants as zc, gzipSync } from 'node:zlib';
import { compress, getPass, load } from '../dist/index.js';
import { cloneModel } from '../dist/ir/clone.js';
import { loadDataset } from '../dist/data/index.js';
import { argmaxRows } from '../dist/bench/accuracy.js';
import { modelToBytes, saveModel } from '../dist/onnx/index.js';
import { Tensor } from '../dist/ir/tensor.js';
import { createSession, makeRunner } from '../dist/runtime/index.js';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const only = opt('--only');
const TRAIN = 'fixtures/mnist-train.npz';
const TEST = 'fixtures/mnist-test.npz';
const PLAIN = join(tmpdir(), `mlc-deepcompression-${process.pid}-lenet5-plain.onnx`);
const TORCH = join(tmpdir(), `mlc-deepcompression-${process.pid}-lenet5-torch.onnx`);
const hasTorch = () => spawnSync('python3', ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;
const FIXTURES = [
  { kind: 'mlp', file: 'fixtures/mnist-mlp.onnx', target: 50 },
  { kind: 'cnn', file: 'fixtures/mnist-cnn.onnx', target: 40 },
  // a LeNet-5 not trained by the fixture recipe: the method, not the fixture (see plainLenet5)
  { kind: 'cnn-plain', recipeKind: 'cnn', file: PLAIN, make: plainLenet5, target: 40, label: 'LeNet-5 (plain recipe)' },
  // the same architecture trained and exported by PyTorch (benchmarks/lenet5_torch.py)
  { kind: 'cnn-torch', recipeKind: 'cnn', file: TORCH, make: torchLenet5, target: 40, label: 'LeNet-5 (PyTorch, Adam)' },
].filter((f) => (only ? f.kind === only : f.kind !== 'cnn-torch' || hasTorch() || opt('--torch-onnx')));

/** A LeNet-5 trained and exported by PyTorch (Adam, one-cycle rate up to 3e-3, no weight decay, 20 epochs): benchmarks/lenet5_torch.py. */
async function torchLenet5(file) {
  if (opt('--torch-onnx')) {
    copyFileSync(opt('--torch-onnx'), file);
    console.log(`${file}: a copy of ${opt('--torch-onnx')} (--torch-onnx)`);
    return;
  }
  if (!hasTorch()) throw new Error('cnn-torch needs python3 with torch and onnx');
  const t0 = performance.now();
  const r = spawnSync('python3', ['benchmarks/lenet5_torch.py', file, opt('--torch-seed') ?? '0'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`benchmarks/lenet5_torch.py failed (exit ${r.status})`);
  console.log(`${file}: LeNet-5 trained and exported by PyTorch in ${((performance.now() - t0) / 1000).toFixed(0)} s (not counted in the recipe's wall time)`);
}

/**
 * A LeNet-5 trained here with a plain recipe, as a model trained elsewhere would be: Adam at a
 * constant 1e-3, no weight decay, no augmentation, 2 epochs, its own seed (the fixture's recipe:
 * cosine-decayed rate, random shifts, 20 epochs), on the same 8,000 digits; exported PyTorch-style
 * (Gemm transB, OIHW) by the fixtures' builder.
 */
async function plainLenet5(file) {
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  await tf.ready();
  const { splitMnist, train, buildModel } = await import('../dist/train/fixtures.js');
  const { train: digits, test } = splitMnist();
  const t0 = performance.now();
  const params = train('cnn', digits, test, { epochs: 2, batchSize: 64, lr: 1e-3, lrFloor: 1, shift: 0, seed: 777, log: (s) => process.stderr.write(`    ${s}\n`) });
  await saveModel(buildModel('cnn', params, 'LeNet-5, plain recipe (Adam 1e-3, no weight decay, no augmentation, 2 epochs)'), file, { force: true });
  console.log(`${file}: LeNet-5 trained with a plain recipe in ${((performance.now() - t0) / 1000).toFixed(0)} s (not counted in the recipe's wall time)`);
}
if (!existsSync(TRAIN) || !existsSync(TEST)) {
  console.error('deepcompression.bench: needs fixtures/mnist-train.npz and fixtures/mnist-test.npz');
  process.exit(1);
}

function recipeFor(kind) {
  const file = opt('--recipe') ?? (existsSync(`recipes/deep-compression-${kind}.json`) ? `recipes/deep-compression-${kind}.json` : 'recipes/deep-compression.json');
  return { file, steps: JSON.parse(readFileSync(file, 'utf8')) };
}

const runner = makeRunner({ intraOpThreads: 1 });
const brotli = (b) => brotliCompressSync(b, { params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_LGWIN]: 24 } }).length;

async function accuracy(model, data) {
  const input = model.graph.realInputs()[0].name;
  const output = model.graph.outputs[0].name;
  const out = (await runner(model, { [input]: data.inputs[input] }, [output]))[output];
  const pred = argmaxRows(/** @type {Float32Array} */ (out.data), out.dims[out.dims.length - 1], data.count);
  return pred.filter((p, i) => p === data.labels[i]).length / data.count;
}

/** non-zero float weights of MatMul / Gemm / Conv (rank ≥ 2 float initializers) */
function nonzeroWeights(m) {
  let n = 0;
  for (const t of m.graph.initializers.values()) {
    if (!t.isFloat || t.dims.length < 2) continue;
    for (let i = 0; i < t.data.length; i++) if (t.data[i] !== 0) n++;
  }
  return n;
}

async function measure(m, data) {
  const bytes = modelToBytes(m);
  return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, brotli: brotli(bytes), acc: await accuracy(m, data) };
}

/** p50 batch-1 latency of two models, interleaved, 1 intra-op thread; returns [a, b] in µs */
async function latencyPair(a, b, input, runs = 3000) {
  const sa = await createSession(modelToBytes(a), { intraOpThreads: 1 });
  const sb = await createSession(modelToBytes(b), { intraOpThreads: 1 });
  const feeds = { [input.name]: { dtype: 'float', dims: input.dims, data: input.data } };
  const ta = [];
  const tb = [];
  try {
    for (let i = 0; i < 100; i++) await Promise.all([sa.run(feeds), sb.run(feeds)]);
    const time = async (s) => {
      const t0 = process.hrtime.bigint();
      await s.run(feeds);
      return Number(process.hrtime.bigint() - t0) / 1000;
    };
    for (let i = 0; i < runs; i++) {
      // alternate which model goes first
      if (i % 2) {
        ta.push(await time(sa));
        tb.push(await time(sb));
      } else {
        tb.push(await time(sb));
        ta.push(await time(sa));
      }
    }
  } finally {
    await sa.release();
    await sb.release();
  }
  const p50 = (x) => x.sort((p, q) => p - q)[Math.floor(x.length / 2)];
  return [p50(ta), p50(tb)];
}

/** the index streams of a stored model: as bytes (what the pass writes) and packed two per byte */
function indexPacking(m) {
  const out = { gzip: 0, brotli: 0, packedGzip: 0, packedBrotli: 0 };
  for (const [n, t] of m.graph.initializers) {
    if (!n.endsWith('_idx')) continue;
    const u = /** @type {Uint8Array} */ (t.data);
    if (u.some((x) => x > 15)) return undefined; // more than 4 bits
    const p = new Uint8Array(Math.ceil(u.length / 2));
    for (let i = 0; i < u.length; i++) p[i >> 1] |= u[i] << (4 * (i & 1));
    out.gzip += gzipSync(u, { level: 9 }).length;
    out.brotli += brotli(u);
    out.packedGzip += gzipSync(p, { level: 9 }).length;
    out.packedBrotli += brotli(p);
  }
  return out;
}

/**
 * Where the bytes of a stored model are: the graph without tensor data (node and value names,
 * attributes, value infos, doc strings) and each initializer's bytes alone and under gzip -9.
 */
function breakdown(m) {
  const skeleton = cloneModel(m);
  const g = skeleton.graph;
  for (const [n, t] of g.initializers) g.initializers.set(n, new Tensor(n, t.dtype, [0]));
  const sk = modelToBytes(skeleton);
  let names = 0;
  for (const n of m.graph.nodes) names += n.name.length + [...n.inputs, ...n.outputs].reduce((a, x) => a + x.length, 0);
  for (const n of m.graph.initializers.keys()) names += n.length;
  const rows = [...m.graph.initializers].map(([n, t]) => ({ n, bytes: t.byteLength, gzip: gzipSync(Buffer.from(t.data.buffer, t.data.byteOffset, t.byteLength), { level: 9 }).length }));
  const lines = [`graph without tensor data ${sk.length} B (gzip ${gzipSync(sk, { level: 9 }).length} B; names in nodes and initializers ${names} chars; ${m.graph.nodes.length} nodes)`];
  for (const r of rows.sort((a, b) => b.gzip - a.gzip)) lines.push(`${r.n} ${r.bytes} B (gzip alone ${r.gzip} B)`);
  return lines.join('; ');
}

const kB = (b) => `${(b / 1000).toFixed(1)} kB`;
const tables = [];
for (const f of FIXTURES) {
  if (f.make) await f.make(f.file);
  const { file: recipeFile, steps } = recipeFor(f.recipeKind ?? f.kind);
  const ci = steps.findIndex((s) => s.pass === 'cluster');
  if (ci < 0) throw new Error(`${recipeFile}: no cluster step`);
  const t0 = performance.now();
  // each line with the seconds since the recipe started (where the wall time goes)
  const at = () => `[${((performance.now() - t0) / 1000).toFixed(1)} s]`;
  const log = { info: (s) => process.stderr.write(`    ${at()} ${s}\n`), warn: (s) => process.stderr.write(`    ${at()} warn: ${s}\n`), debug() {} };
  console.log(`${f.file}: ${recipeFile}`);
  const cpu0 = process.cpuUsage();
  // prune (+ distill): the recipe up to the cluster step (--pruned: a model saved by --save-pruned
  // instead, the original model as the teacher; only the cluster step then counts in wall and CPU)
  const r1 = opt('--pruned')
    ? { ...(await compress(f.file, [], { train: TRAIN, log })), model: await load(opt('--pruned')) }
    : await compress(f.file, steps.slice(0, ci), { train: TRAIN, log });
  if (opt('--pruned')) console.log(`    the steps before the cluster step: ${opt('--pruned')} (--pruned)`);
  const pruned = cloneModel(r1.model);
  if (opt('--save-pruned')) await saveModel(pruned, opt('--save-pruned'), { force: true });
  // + cluster: the cluster step as the recipe gives it, its values kept as float weights
  const cluster = getPass('cluster');
  const clustered = r1.model;
  const c2 = await cluster.run(clustered, cluster.parseOptions({ ...steps[ci].options, storage: 'float', half: false, byteBiases: false, joint: false }), r1.context);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = process.cpuUsage(cpu0);
  const cpu = (cpu1.user + cpu1.system) / 1e6;
  // + storage: the same shared values as indices + codebooks (k-means returns them exactly)
  const stored = cloneModel(clustered);
  // (every weight holds at most 255 distinct values now: k-means with k = 255 keeps them as they are)
  const { bits: _b, clusters: _k, allocate: _a, ...storeOpts } = steps[ci].options;
  const c3 = await cluster.run(stored, cluster.parseOptions({ ...storeOpts, clusters: 255, epochs: 0, storage: 'auto' }), r1.context);
  const pk = indexPacking(stored); // before minify renames the `_idx` streams
  // the recipe's steps after the cluster step (e.g. minify)
  for (const s of steps.slice(ci + 1)) await getPass(s.pass).run(stored, getPass(s.pass).parseOptions(s.options ?? {}), r1.context);
  const data = await loadDataset(TEST, r1.original);
  const m0 = await measure(r1.original, data);
  const m1 = await measure(pruned, data);
  const m2 = await measure(clustered, data);
  const m3 = await measure(stored, data);
  // lower bound: Huffman-coded indices + raw float32 codebooks and biases
  let rawFloats = 0;
  for (const t of stored.graph.initializers.values()) if (t.isFloat) rawFloats += t.byteLength;
  const huff = Number(c3.stats.huffmanSparseBytes) + rawFloats;
  const input = r1.original.graph.realInputs()[0].name;
  const one = { name: input, dims: [1, ...data.inputs[input].dims.slice(1)], data: data.inputs[input].data.slice(0, data.inputs[input].dims.slice(1).reduce((a, b) => a * b, 1)) };
  const [lp, ls] = await latencyPair(pruned, stored, one);
  const nz0 = nonzeroWeights(r1.original);
  const nz1 = nonzeroWeights(pruned);
  const bits = `${steps[ci].options.bits ?? Math.ceil(Math.log2((steps[ci].options.clusters ?? 15) + 1))}${c2.stats.allocatedBits ? ' (average)' : ''}`;
  const name = f.label ?? f.file.replace('fixtures/', '');
  const pts = (m) => (100 * (m.acc - m0.acc)).toFixed(2);
  const row = (stage, kept, b, m) =>
    `| ${name} | ${stage} | ${kept} | ${b} | ${kB(m.gzip)} | ${(m0.gzip / m.gzip).toFixed(1)}× | ${kB(m.brotli)} | ${(m0.brotli / m.brotli).toFixed(1)}× | ${(100 * m.acc).toFixed(2)}% | ${pts(m)} |`;
  const lines = [
    row('fp32', '100%', 32, m0),
    row(`prune (${steps.slice(0, ci).map((s) => s.pass).join(' + ')})`, `${((100 * nz1) / nz0).toFixed(1)}%`, 32, m1),
    row('+ cluster (float weights)', `${((100 * nz1) / nz0).toFixed(1)}%`, bits, m2),
    row(`+ storage (${[...new Set(c3.details.map((d) => d.storage))].join(' / ')} indices)`, `${((100 * nz1) / nz0).toFixed(1)}%`, bits, m3),
    `| ${name} | Huffman bound (indices Huffman-coded, floats raw) | | ${bits} | ${kB(huff)} | ${(m0.gzip / huff).toFixed(1)}× | | | | |`,
  ];
  tables.push(...lines);
  const ratio = m0.gzip / m3.gzip;
  // in points, rounded to the test set's resolution (one digit of 2,000 is 0.05 points): 0.9885 − 0.9835
  // in floating point is 0.005000000000000004, which is 10 digits, not more than the 0.5 the floor allows
  const drop = Math.round(100 * (m0.acc - m3.acc) * 1e6) / 1e6;
  console.log(
    `${f.file}: gzip 1/${ratio.toFixed(1)} (target ≥ ${f.target}: ${ratio >= f.target ? 'met' : 'NOT met'}), brotli 1/${(m0.brotli / m3.brotli).toFixed(1)}, ` +
      `accuracy ${(100 * m3.acc).toFixed(2)}% (drop ${drop.toFixed(2)} pts, target ≤ 0.5: ${drop <= 0.5 ? 'met' : 'NOT met'}), ` +
      `latency p50 pruned ${lp.toFixed(1)} µs, stored ${ls.toFixed(1)} µs (${(ls / lp).toFixed(2)}×, target ≤ 1.1), wall ${wall.toFixed(0)} s (target ≤ 300; CPU ${cpu.toFixed(0)} s of this process)`,
  );
  console.log(`    cluster: ${JSON.stringify(c2.stats)}`);
  if (pk) console.log(`    index streams as bytes: gzip ${pk.gzip} B, brotli ${pk.brotli} B; packed two per byte: gzip ${pk.packedGzip} B, brotli ${pk.packedBrotli} B`);
  console.log(`    bytes: file ${m3.bytes} B, gzip ${m3.gzip} B; ${breakdown(stored)}`);
  if (opt('--save')) {
    await saveModel(clustered, `${opt('--save')}/${f.kind}_clustered.onnx`, { force: true });
    await saveModel(stored, `${opt('--save')}/${f.kind}_stored.onnx`, { force: true });
  }
  if (f.make) rmSync(f.file, { force: true });
  console.log(`    storage: ${c3.details.map((d) => `${d.weight} ${d.storage} (gzip dense ${d.denseGzip ?? '-'} / sparse ${d.sparseGzip ?? '-'}, brotli ${d.denseBrotli ?? '-'} / ${d.sparseBrotli ?? '-'}, Huffman ${d.huffmanSparseBytes})`).join('; ')}`);
}
await runner.release();

console.log('\n| fixture | stage | weights kept | bits | gzip | ratio | brotli | ratio | accuracy | Δ pts |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const l of tables) console.log(l);
