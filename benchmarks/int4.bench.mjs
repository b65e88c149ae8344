// The int4 default of `mlc compress --quantize int4` (issue 13's 4-bit floor, cosine ≥ 0.99): before
// (round-to-nearest, every MatMul 4-bit: `--int4-target 0`) and the default (the int4 target 0.995 on
// made-up inputs), side by side. Run after `npm run build`:
//   node benchmarks/int4.bench.mjs            all sections
//   node benchmarks/int4.bench.mjs fidelity   src/models builders (ViT, two encoders, a GPT-2-like decoder):
//                                             cosine to fp32 on 4 inputs the probe never saw, in
//                                             onnxruntime-node and onnxruntime-web wasm; MatMuls kept 8-bit;
//                                             weight bytes; the pass's CPU seconds
//   node benchmarks/int4.bench.mjs mnist      MNIST fixtures: test accuracy (2000 digits)
//   node benchmarks/int4.bench.mjs bert       `mlc compress m.onnx --quantize int4 --no-latency` on a
//   node benchmarks/int4.bench.mjs vit gpt    BERT-base-sized encoder (12 × 768, seq 128, ~435 MB; the
//                                             default), ViT-B/16 (~346 MB), a GPT-2-small-like decoder
//                                             (~498 MB): plain 4-bit (--int4-target 0), the default (the
//                                             probe, 0.995, up to 1 GB) and --int4-target 0.99 (the probe on
//                                             one session of the switched model, against the model in 8-bit blocks), each in
//                                             its own process under /usr/bin/time: wall, CPU (user + sys),
//                                             peak RSS, probe runs, weights kept at 8 bits, then the cosine
//                                             to fp32 on 4 made-up samples the probe never saw (mean, min).
//                                             INT4_FILES=a.onnx,b.onnx … big: files too
//   node benchmarks/int4.bench.mjs groups bert gpt   data-free choices of the MatMuls kept at 8 bits: plain
//                                             4-bit with a group of MatMuls left float (an upper bound
//                                             for 8 bits) by position or kind, cosine on one made-up sample
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const root = fileURLToPath(new URL('..', import.meta.url));
const { buildViT, buildEncoder, buildDecoder } = await imp('models/index.js');
const { compress } = await imp('index.js');
const { cosine } = await imp('math/stats.js');
const { openSession } = await imp('runtime/runtimes.js');
const { inputSpecs, synthesizeFeeds, planShapes } = await imp('bench/inputs.js');

const only = process.argv.slice(2);
const want = (s) => only.length === 0 || only.includes(s);
const BEFORE = { type: 'int4', int4Target: 0 };
const DEFAULT = { type: 'int4' };
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function outputsIn(runtime, model, feeds) {
  const s = await openSession(runtime, model, { intraOpThreads: 1 });
  try {
    const o = await s.run(feeds);
    return o[Object.keys(o)[0]].data;
  } finally {
    await s.release();
  }
}

async function fidelity() {
  /** @type {{ name: string, build: () => import('../src/ir/model.js').Model }[]} */
  const models = [
    { name: 'ViT (4 layers, hidden 192, seed 3)', build: () => buildViT({ seed: 3, layers: 4, hidden: 192 }) },
    { name: 'encoder (4 × 256, seq 64, seed 11)', build: () => buildEncoder({ hidden: 256, heads: 4, ffn: 1024, layers: 4, seq: 64, vocab: 1000, seed: 11 }) },
    { name: 'encoder (6 × 384, seq 128, seed 12)', build: () => buildEncoder({ hidden: 384, heads: 6, ffn: 1536, layers: 6, seq: 128, vocab: 5000, seed: 12 }) },
    { name: 'decoder (4 × 256, vocab 2000, seed 13)', build: () => buildDecoder({ hidden: 256, heads: 4, layers: 4, vocab: 2000, ctx: 128, linear: 'matmul', seed: 13 }) },
  ];
  console.log('\n## fidelity: cosine to fp32 on 4 inputs the probe did not see (node / wasm); floor 0.99');
  console.log(['model', 'int4', 'cosine node', 'cosine wasm', '8-bit MatMuls', 'weight bytes ×', 'pass CPU s', 'floor'].join('\t'));
  let below = 0;
  for (const { name, build } of models) {
    const model = build();
    const specs = inputSpecs(model);
    const feeds = synthesizeFeeds(specs, planShapes(specs, {}, 64).at(4), 101);
    const ref = { node: await outputsIn('node', model, feeds), wasm: await outputsIn('wasm', model, feeds) };
    for (const [label, options] of [['before (rtn, all 4-bit)', BEFORE], ['default (target 0.995)', DEFAULT]]) {
      const c0 = cpuNow();
      const r = await compress(model, [{ pass: 'quantize', options }], { check: false, passThreads: 1 });
      const cpu = cpuNow() - c0;
      const st = r.passes[0].stats;
      const cos = { node: cosine(ref.node, await outputsIn('node', r.model, feeds)), wasm: cosine(ref.wasm, await outputsIn('wasm', r.model, feeds)) };
      const ok = cos.node >= 0.99 && cos.wasm >= 0.99;
      if (!ok && options === DEFAULT) below++;
      const mm = (st.MatMul ?? 0) + (st.Gemm ?? 0);
      console.log([name, label, cos.node.toFixed(5), cos.wasm.toFixed(5), `${st.int4EightBit} of ${mm}${st.int4EightBitTables ? ` + ${st.int4EightBitTables} table` : ''}`, st.weightRatio, cpu.toFixed(2), ok ? 'ok' : 'below'].join('\t'));
    }
  }
  console.log(`fidelity: ${below} model(s) below the floor with the default`);
}

async function mnist() {
  const { loadModel } = await imp('onnx/index.js');
  const { loadDataset } = await imp('data/index.js');
  const path = (f) => join(root, 'fixtures', f);
  if (!existsSync(path('mnist-test.npz'))) return console.log('mnist: fixtures missing');
  console.log('\n## MNIST fixtures: test accuracy (2000 digits), onnxruntime-node');
  for (const name of ['mnist-mlp.onnx', 'mnist-cnn.onnx']) {
    const m = await loadModel(path(name));
    const test = await loadDataset(path('mnist-test.npz'), m);
    const acc = async (model) => {
      const out = await outputsIn('node', model, { input: test.inputs.input });
      let ok = 0;
      for (let i = 0; i < test.count; i++) {
        let b = 0;
        for (let c = 1; c < 10; c++) if (out[i * 10 + c] > out[i * 10 + b]) b = c;
        if (b === test.labels[i]) ok++;
      }
      return (100 * ok) / test.count;
    };
    const row = [name, `fp32 ${(await acc(m)).toFixed(2)}`];
    for (const [label, options] of [['before', BEFORE], ['default', DEFAULT]]) {
      const r = await compress(m, [{ pass: 'quantize', options }], { check: false, passThreads: 1 });
      row.push(`${label} ${(await acc(r.model)).toFixed(2)} (${r.passes[0].stats.int4EightBit} 8-bit)`);
    }
    console.log(row.join('\t'));
  }
}

/** Models above INT4_PROBE_MAX_BYTES (64 MB of float weights: the probe's reference is the model in 8-bit blocks): built by src/models, or a file given in INT4_FILES. */
const BIG = {
  bert: { label: 'BERT-base-sized encoder (12 × 768, seq 128, vocab 30522)', build: () => buildEncoder({ hidden: 768, heads: 12, ffn: 3072, layers: 12, seq: 128, vocab: 30522, seed: 1 }) },
  vit: { label: 'ViT-B/16 (224², 12 × 768)', build: () => buildViT({}) },
  gpt: { label: 'GPT-2-small-like decoder (12 × 768, vocab 50257)', build: () => buildDecoder({}) },
};

async function big(key) {
  if (!existsSync('/usr/bin/time')) return console.log(`${key}: skipped (needs /usr/bin/time)`);
  const dir = mkdtempSync(join(tmpdir(), 'mlc-int4-bench-'));
  try {
    const given = BIG[key] === undefined;
    const src = given ? key : join(dir, `${key}.onnx`);
    const { saveModel, loadModel } = await imp('onnx/index.js');
    if (!given) await saveModel(BIG[key].build(), src);
    const label = given ? src : BIG[key].label;
    console.log(`\n## ${label} (${(readFileSync(src).length / 1e6).toFixed(0)} MB): mlc compress --quantize int4 --no-latency, one process each (load average ${(await import('node:os')).loadavg()[0].toFixed(1)})`);
    console.log(
      ['setting', 'wall s', 'CPU s (user + sys)', 'peak RSS MB', 'RSS × file', 'probe runs', '8-bit MatMuls', '8-bit tables', 'weight bytes ×', 'cosine (mean of 4 fresh samples)', 'min'].join('\t'),
    );
    const specs = inputSpecs(await loadModel(src));
    // four samples the probe never sees (its made-up inputs use seed 7)
    const fresh = [101, 102, 103, 104].map((seed) => synthesizeFeeds(specs, planShapes(specs, {}).at(1), seed));
    const refs = [];
    for (const f of fresh) refs.push(await outputsIn('node', src, f).catch(() => null));
    const fileBytes = readFileSync(src).length;
    const settings = [
      ['--int4-target 0 (plain 4-bit)', ['--int4-target', '0']],
      ['--int4-target 0.99', ['--int4-target', '0.99']],
      ['default (--int4-target 0.995 up to 1 GB)', []],
    ];
    for (const [name, extra] of settings) {
      const out = join(dir, 'q4.onnx');
      const tf = join(dir, 'time.txt');
      const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', tf, process.execPath, join(root, 'bin/mlc.js'), 'compress', src, '--quantize', 'int4', ...extra, '-o', out, '--no-latency', '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(`mlc failed: ${r.stderr}`);
      const [wall, user, sys, kb] = readFileSync(tf, 'utf8').trim().split('\n').pop().split(/\s+/).map(Number);
      const st = JSON.parse(r.stdout).passes[0].stats;
      const q = await loadModel(out);
      const cos = [];
      for (let i = 0; i < fresh.length; i++) if (refs[i]) cos.push(cosine(refs[i], await outputsIn('node', q, fresh[i])));
      const mean = cos.length ? (cos.reduce((a, b) => a + b, 0) / cos.length).toFixed(5) : '—';
      const min = cos.length ? Math.min(...cos).toFixed(5) : '—';
      console.log(
        [name, wall.toFixed(1), (user + sys).toFixed(1), (kb / 1024).toFixed(0), ((kb * 1024) / fileBytes).toFixed(2), st.int4ProbeRuns ?? 0, st.int4EightBit, st.int4EightBitTables ?? 0, st.weightRatio, mean, min].join('\t'),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Groups of MatMuls (node-name patterns per model) left float, the rest plain 4-bit: which data-free choice reaches 0.99? */
const GROUPS = {
  bert: [
    ['tables float', { opTypes: ['MatMul', 'Gemm'] }],
    ['first half of the layers float', /layer\.[0-5]\//],
    ['last half of the layers float', /layer\.([6-9]|1[01])\//],
    ['value + FFN down float, every layer', /self\/value|layer\.[0-9]+\/output\/dense/],
    ["llama.cpp use_more_bits layers: value + FFN down float", /layer\.(0|1|3|6|9|10|11)\/(attention\/self\/value|output\/dense)/],
  ],
  gpt: [
    ['tables + tied LM head float', { opTypes: ['MatMul', 'Gemm'], lmHead: true }],
    ['first half of the layers float', /h\.[0-5]\//],
    ['first 9 of 12 layers float', /h\.[0-8]\//],
    ['last half of the layers float', /h\.([6-9]|1[01])\//],
    ['attention + MLP output projections float', /c_proj/],
    ["llama.cpp use_more_bits layers: QKV + MLP down float", /h\.(0|1|3|6|9|10|11)\/(attn\/c_attn|mlp\/c_proj)/],
  ],
};

async function groups(key) {
  const model = BIG[key].build();
  const specs = inputSpecs(model);
  const feeds = synthesizeFeeds(specs, planShapes(specs, {}).at(1), 101);
  const ref = await outputsIn('node', model, feeds);
  const mm = model.graph.nodes.filter((n) => n.opType === 'MatMul' || n.opType === 'Gemm').map((n) => n.name);
  console.log(`\n## ${BIG[key].label}: plain 4-bit (--int4-target 0) with a group of MatMuls left float; cosine on one made-up sample`);
  console.log(['group', 'MatMul / Gemm names excluded', 'cosine'].join('\t'));
  for (const [label, g] of [['none (all 4-bit)', null], ...GROUPS[key]]) {
    /** @type {Record<string, unknown>} */
    const options = { ...BEFORE };
    if (g instanceof RegExp) options.exclude = mm.filter((n) => g.test(n));
    else if (g) {
      options.opTypes = g.opTypes;
      if (g.lmHead) options.exclude = mm.filter((n) => /lm_head/.test(n));
    }
    const r = await compress(model, [{ pass: 'quantize', options }], { check: false });
    console.log([label, /** @type {string[] | undefined} */ (options.exclude)?.length ?? 0, cosine(ref, await outputsIn('node', r.model, feeds)).toFixed(5)].join('\t'));
  }
}

if (want('fidelity') && !only.includes('groups')) await fidelity();
if (want('mnist') && !only.includes('groups')) await mnist();
if (only.includes('groups')) for (const key of Object.keys(GROUPS)) if (only.includes(key)) await groups(key);
for (const key of Object.keys(BIG)) if (!only.includes('groups') && (want(key) || (only.length === 0 && key === 'bert'))) await big(key);
// files above the threshold that are not in the repository (e.g. a transformers-exported BERT-base):
// INT4_FILES=/tmp/hfbert/bert.onnx node benchmarks/int4.bench.mjs big
for (const f of (process.env.INT4_FILES ?? '').split(',').filter(Boolean)) if (want('big')) await big(f);
