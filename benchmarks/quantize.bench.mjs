// Quantization benchmarks (run after `npm run build`):
//   node benchmarks/quantize.bench.mjs            all sections
//   node benchmarks/quantize.bench.mjs speed      encoder fp32 vs int8 dynamic latency + cosine
//   node benchmarks/quantize.bench.mjs int4       int4 weight ratio + cosine
//   node benchmarks/quantize.bench.mjs toolkit    BERT-base-size load + quantize + save time, peak RSS
//   node benchmarks/quantize.bench.mjs mnist      MNIST fixtures: size, accuracy, latency per mode
// Env: ROUNDS (default 30) interleaved latency rounds.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);

const { buildEncoder } = await imp('models/encoder.js');
const { cloneModel } = await imp('ir/clone.js');
const { quantizePass } = await imp('passes/quantize.js');
const { createSession } = await imp('runtime/index.js');
const { silentLogger, seededRng } = await imp('passes/pass.js');
const { cosine } = await imp('math/stats.js');

const ctx = { log: silentLogger, rng: seededRng(1) };

async function quantize(model, opts) {
  const q = cloneModel(model);
  const r = await quantizePass.run(q, quantizePass.parseOptions(opts), ctx);
  return { model: q, result: r };
}

function randomInput(seq, hidden, seed) {
  const rng = seededRng(seed);
  const x = new Float32Array(seq * hidden);
  for (let i = 0; i < x.length; i++) x[i] = (rng() * 2 - 1) * 1.7; // roughly unit variance
  return { input: { dtype: 'float', dims: [1, seq, hidden], data: x } };
}

function pct(a, p) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function meanCosine(ref, other, inputs) {
  let sum = 0;
  for (const f of inputs) {
    const a = (await ref.run(f)).output.data;
    const b = (await other.run(f)).output.data;
    sum += cosine(a, b);
  }
  return sum / inputs.length;
}

const E = { hidden: 768, heads: 12, ffn: 3072, layers: 4, seq: 128 };

async function speed() {
  const rounds = Number(process.env.ROUNDS ?? 30);
  const fp32 = buildEncoder(E);
  const variants = [
    ['int8 dynamic (DynamicQuantizeMatMul)', { type: 'int8' }],
    ['int8 dynamic (DynamicQuantizeLinear+MatMulInteger)', { type: 'int8', dynamicForm: 'standard' }],
    ['int8 dynamic, per-tensor scales', { type: 'int8', perChannel: false }],
    ['uint8 dynamic (DynamicQuantizeMatMul)', { type: 'uint8' }],
  ];
  // every session gets the same options: 1 intra-op thread, onnxruntime's stock graph transformers
  const sessions = [['fp32', await createSession(fp32, { intraOpThreads: 1 })]];
  for (const [label, opts] of variants) {
    const { model } = await quantize(fp32, opts);
    sessions.push([label, await createSession(model, { intraOpThreads: 1 })]);
  }
  const feeds = randomInput(E.seq, E.hidden, 7);
  for (const [, s] of sessions) for (let i = 0; i < 3; i++) await s.run(feeds); // warm-up
  const times = sessions.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sessions.length; k++) {
      const t0 = performance.now();
      await sessions[k][1].run(feeds);
      times[k].push(performance.now() - t0);
    }
  }
  const base = pct(times[0], 50);
  const inputs = [1, 2, 3].map((s) => randomInput(E.seq, E.hidden, 100 + s));
  console.log(`encoder hidden ${E.hidden}, heads ${E.heads}, ffn ${E.ffn}, layers ${E.layers}, seq ${E.seq}; 1 thread, ${rounds} interleaved rounds`);
  for (let k = 0; k < sessions.length; k++) {
    const p50 = pct(times[k], 50);
    const line = `  ${sessions[k][0].padEnd(52)} p50 ${p50.toFixed(1).padStart(7)} ms  p90 ${pct(times[k], 90).toFixed(1).padStart(7)} ms`;
    if (k === 0) console.log(line);
    else {
      // each round runs every model back to back, so the per-round ratio is load-matched
      const perRound = pct(times[k].map((t, i) => t / times[0][i]), 50);
      const cos = await meanCosine(sessions[0][1], sessions[k][1], inputs);
      console.log(`${line}  p50 ratio ${(p50 / base).toFixed(3)} (median per-round ratio ${perRound.toFixed(3)})  mean cosine ${cos.toFixed(6)}`);
    }
  }
  for (const [, s] of sessions) await s.release();

  // the same comparison with onnxruntime's SkipLayerNormFusion turned off (the runtime wrapper keeps
  // the stock transformers by default; that fusion's CPU kernel is ~11× slower than Add + LayerNormalization)
  const stock = { intraOpThreads: 1, disabledOptimizers: ['SkipLayerNormFusion'] };
  const pair = [await createSession(fp32, stock), await createSession((await quantize(fp32, variants[0][1])).model, stock)];
  for (const s of pair) for (let i = 0; i < 3; i++) await s.run(feeds);
  const tt = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < 2; k++) {
      const t0 = performance.now();
      await pair[k].run(feeds);
      tt[k].push(performance.now() - t0);
    }
  }
  console.log(
    `  SkipLayerNormFusion off (both models): fp32 p50 ${pct(tt[0], 50).toFixed(1)} ms, ${variants[0][0]} p50 ${pct(tt[1], 50).toFixed(1)} ms, ` +
      `p50 ratio ${(pct(tt[1], 50) / pct(tt[0], 50)).toFixed(3)} (median per-round ratio ${pct(tt[1].map((t, i) => t / tt[0][i]), 50).toFixed(3)})`,
  );
  for (const s of pair) await s.release();
}

async function int4() {
  const fp32 = buildEncoder(E);
  const { model, result } = await quantize(fp32, { type: 'int4' });
  const a = await createSession(fp32);
  const b = await createSession(model);
  const inputs = [1, 2, 3].map((s) => randomInput(E.seq, E.hidden, 200 + s));
  const cos = await meanCosine(a, b, inputs);
  const st = result.stats;
  console.log(
    `int4 (block 32, symmetric): MatMul weights ${st.weightBytesBefore} B → ${st.weightBytesAfter} B = ${st.weightRatio}× fp32; ` +
      `${st.MatMul} MatMulNBits; mean cosine ${cos.toFixed(6)}`,
  );
  await a.release();
  await b.release();
}

// BERT-base size: 12 layers + 30522×768 embedding. The model is built and saved by this process;
// load + quantize + save is timed in a fresh child process that reports its own peak RSS.
async function toolkit() {
  const { saveModel } = await imp('onnx/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'mlc-qbench-'));
  try {
    const src = join(dir, 'bert-base.onnx');
    const model = buildEncoder({ hidden: 768, heads: 12, ffn: 3072, layers: 12, seq: 128, vocab: 30522 });
    let params = 0;
    for (const t of model.graph.initializers.values()) params += t.size;
    await saveModel(model, src, { externalData: false });
    const bytes = statSync(src).size;
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', src, join(dir, 'bert-base_int8.onnx')], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop());
    console.log(
      `BERT-base-size model: ${(params / 1e6).toFixed(1)} M params, ${(bytes / 1e6).toFixed(1)} MB → int8 dynamic ${(r.outBytes / 1e6).toFixed(1)} MB (${(r.outBytes / bytes).toFixed(3)}×)`,
    );
    console.log(
      `  load ${r.loadMs.toFixed(0)} ms + quantize ${r.quantizeMs.toFixed(0)} ms + save ${r.saveMs.toFixed(0)} ms = ${(r.totalMs / 1000).toFixed(2)} s; ` +
        `peak RSS ${(r.maxRssBytes / 1e6).toFixed(0)} MB = ${(r.maxRssBytes / bytes).toFixed(2)}× the model file`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function child(src, out) {
  const { loadModel, saveModel } = await imp('onnx/index.js');
  const t0 = performance.now();
  const model = await loadModel(src);
  const t1 = performance.now();
  await quantizePass.run(model, quantizePass.parseOptions({ type: 'int8' }), ctx);
  const t2 = performance.now();
  const saved = await saveModel(model, out, {});
  const t3 = performance.now();
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ loadMs: t1 - t0, quantizeMs: t2 - t1, saveMs: t3 - t2, totalMs: t3 - t0, maxRssBytes, outBytes: saved.bytes }));
}

// MNIST fixtures: every mode's file size, test accuracy and batch-64 latency (1 thread, interleaved)
async function mnist() {
  const { existsSync, statSync: st } = await import('node:fs');
  const { loadModel, modelToBytes } = await imp('onnx/index.js');
  const { loadDataset, takeDataset } = await imp('data/index.js');
  const { makeRunner } = await imp('runtime/index.js');
  const root = new URL('../fixtures/', import.meta.url);
  const path = (f) => fileURLToPath(new URL(f, root));
  if (!existsSync(path('mnist-test.npz'))) return console.log('mnist: fixtures missing');
  const run = makeRunner();
  for (const name of ['mnist-mlp.onnx', 'mnist-cnn.onnx']) {
    if (!existsSync(path(name))) continue;
    const m = await loadModel(path(name));
    const test = await loadDataset(path('mnist-test.npz'), m);
    const calib = takeDataset(await loadDataset(path('mnist-train.npz'), m), 200);
    const modes = [
      ['fp32', null],
      ['int8 dynamic', { type: 'int8' }],
      ['int8 weight-only', { type: 'int8', mode: 'weight-only' }],
      ['int8 static minmax', { type: 'int8', mode: 'static' }],
      ['int8 static percentile', { type: 'int8', mode: 'static', calibrationMethod: 'percentile' }],
      ['int8 static entropy', { type: 'int8', mode: 'static', calibrationMethod: 'entropy' }],
      ['fp16', { type: 'fp16' }],
      ['int4', { type: 'int4' }],
    ];
    const rows = [];
    for (const [label, opts] of modes) {
      const q = cloneModel(m);
      if (opts) await quantizePass.run(q, quantizePass.parseOptions(opts), { ...ctx, calibration: calib, run });
      const s = await createSession(q, { intraOpThreads: 1 });
      const out = (await s.run({ input: test.inputs.input }))[s.outputNames[0]].data;
      let ok = 0;
      for (let i = 0; i < test.count; i++) {
        let b = 0;
        for (let c = 1; c < 10; c++) if (out[i * 10 + c] > out[i * 10 + b]) b = c;
        if (b === test.labels[i]) ok++;
      }
      rows.push({ label, s, bytes: modelToBytes(q).length, acc: (100 * ok) / test.count, t: [] });
    }
    const feeds = { input: { dtype: 'float', dims: [64, 784], data: test.inputs.input.data.subarray(0, 64 * 784) } };
    for (const r of rows) for (let i = 0; i < 3; i++) await r.s.run(feeds);
    for (let k = 0; k < 30; k++) for (const r of rows) {
      const t0 = performance.now();
      await r.s.run(feeds);
      r.t.push(performance.now() - t0);
    }
    console.log(`${name} (file ${st(path(name)).size} B; test accuracy on 2000 digits; static calibrated on 200 training digits; batch 64, 1 thread)`);
    for (const r of rows) {
      console.log(
        `  ${String(r.label).padEnd(24)} size ${(r.bytes / rows[0].bytes).toFixed(4)}×  accuracy ${r.acc.toFixed(2)} (${(r.acc - rows[0].acc).toFixed(2)})  ` +
          `p50 ${pct(r.t, 50).toFixed(3)} ms (per-round ratio ${pct(r.t.map((v, i) => v / rows[0].t[i]), 50).toFixed(2)})`,
      );
      await r.s.release();
    }
  }
  await run.release();
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  await child(args[1], args[2]);
} else {
  const which = args[0];
  if (!which || which === 'speed') await speed();
  if (!which || which === 'int4') await int4();
  if (!which || which === 'toolkit') await toolkit();
  if (!which || which === 'mnist') await mnist();
}
