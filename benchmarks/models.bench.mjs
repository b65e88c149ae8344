// Real-size builder models (src/models) through the toolkit: build time, parameters and bytes,
// then int8 (dynamic; static for the CNN) and fp16: file-size ratio, output cosine against fp32, and
// batch-1 latency p50 of both models at 1 intra-op thread, timed interleaved (A B B A ...) in one
// process so machine noise hits both alike. Run after `npm run build`:
//
//   node benchmarks/models.bench.mjs                 every model
//   node benchmarks/models.bench.mjs resnet bert     only those whose name contains a word
//
// Env: ROUNDS (default 20) interleaved latency rounds per pair.
const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);

const M = await imp('models/index.js');
const { cloneModel } = await imp('ir/clone.js');
const { getPass } = await imp('passes/registry.js');
const { createSession, makeRunner } = await imp('runtime/index.js');
const { silentLogger, seededRng } = await imp('passes/pass.js');
const { cosine } = await imp('math/stats.js');
const { modelToBytes } = await imp('onnx/index.js');

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const only = process.argv.slice(2);

const bert = { hidden: 768, heads: 12, ffn: 3072, layers: 4, seq: 128, vocab: 30522, attentionMask: true, tokenTypes: 2, dynamicSequence: true };
const MODELS = [
  { name: 'resnet18 224', build: () => M.buildResNet({}), inputs: (s, n = 1) => M.resnetInputs({}, n, s), static: true },
  { name: 'bert-base export, 4 layers, seq 128', build: () => M.buildEncoder(bert), inputs: (s, n = 1) => M.encoderInputs(bert, n, s) },
  { name: 'vit-b/16 224, 4 layers', build: () => M.buildViT({ layers: 4 }), inputs: (s, n = 1) => M.vitInputs({}, n, s) },
  { name: 'lstm 2x512, seq 64', build: () => M.buildRnn({ features: 128, hidden: 512, layers: 2, seq: 64 }), inputs: (s, n = 1) => M.rnnInputs({ features: 128, seq: 64 }, n, s) },
].filter((m) => only.length === 0 || only.some((w) => m.name.includes(w)));

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function floats(o) {
  return Float64Array.from(o.data, Number);
}

async function timePair(a, b, feeds) {
  const ta = [];
  const tb = [];
  for (let i = 0; i < 3; i++) {
    await a.run(feeds);
    await b.run(feeds);
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [[b, tb], [a, ta]] : [[a, ta], [b, tb]];
    for (const [s, t] of order) {
      const t0 = performance.now();
      await s.run(feeds);
      t.push(performance.now() - t0);
    }
  }
  return { a: median(ta), b: median(tb), aMin: Math.min(...ta), bMin: Math.min(...tb) };
}

const runner = makeRunner();
for (const spec of MODELS) {
  const t0 = performance.now();
  const model = spec.build();
  const buildMs = performance.now() - t0;
  let params = 0;
  for (const t of model.graph.initializers.values()) params += t.size;
  const bytes = modelToBytes(model).length;
  console.log(`\n${spec.name}: built in ${buildMs.toFixed(0)} ms, ${(params / 1e6).toFixed(2)} M parameters, ${(bytes / 1e6).toFixed(1)} MB`);
  const feeds = spec.inputs(3);
  const base = await createSession(model);
  const want = await base.run(feeds);
  const outName = model.graph.outputs[0].name;
  const variants = [
    { label: 'int8 dynamic', options: { type: 'int8' } },
    ...(spec.static ? [{ label: 'int8 static', options: { type: 'int8', mode: 'static', calibrationSamples: 8 } }] : []),
    { label: 'fp16', options: { type: 'fp16' } },
  ];
  for (const { label, options } of variants) {
    const q = cloneModel(model);
    const calibration = { inputs: spec.inputs(11, 4), count: 4 };
    const ctx = { log: silentLogger, rng: seededRng(1), run: runner, original: model, calibration };
    const t1 = performance.now();
    const r = await getPass('quantize').run(q, getPass('quantize').parseOptions(options), ctx);
    const passMs = performance.now() - t1;
    const qBytes = modelToBytes(q).length;
    const s = await createSession(q);
    const got = await s.run(feeds);
    const cos = cosine(floats(got[outName]), floats(want[outName]));
    const t = await timePair(base, s, feeds);
    console.log(
      `  ${label.padEnd(13)} pass ${passMs.toFixed(0).padStart(5)} ms, file ${(qBytes / bytes).toFixed(3)}x, cosine ${cos.toFixed(6)}, ` +
        `p50 fp32 ${t.a.toFixed(2)} ms / ${label} ${t.b.toFixed(2)} ms = ${(t.b / t.a).toFixed(2)}x (min ${t.aMin.toFixed(2)} / ${t.bMin.toFixed(2)}), ` +
        `modified ${r.modified}, skipped ${r.skipped.length}`,
    );
    await s.release();
  }
  await base.release();
}
await runner.release();
console.log(`\n(1 intra-op thread, batch 1, ${ROUNDS} interleaved rounds per pair after 3 warm-up runs; median and min)`);
