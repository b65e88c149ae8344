// The web targets of issue 13 (run after `npm run build`; needs onnxruntime-web, playwright-core
// and a Chromium — Debian's `chromium` — else it says so and exits 0):
//   node benchmarks/web.bench.mjs             all sections
//   node benchmarks/web.bench.mjs fidelity    every quantize mode of the fixtures and src/models builders:
//                                             cosine to fp32 in onnxruntime-node, onnxruntime-web wasm
//                                             (Node) and headless Chromium (wasm), side by side
//   node benchmarks/web.bench.mjs latency     the BERT-like encoder in Chromium, wasm 1 thread: every
//                                             8-bit variant against fp32, interleaved in one page
//   node benchmarks/web.bench.mjs webgpu      --target webgpu on the encoder: nodes that fall back to
//                                             the CPU (op data, and onnxruntime-web's own placements)
//   node benchmarks/web.bench.mjs variants    `mlc variants` on a ViT (hidden 192, 4 layers), a BERT-like
//                                             encoder (hidden 384, opset 14, tanh GELU) and a GPT-2-like
//                                             decoder: every variant's size and cosine in node, wasm (and
//                                             Chromium when there is one) against the floors, next to the
//                                             blocks of before (round-to-nearest q4, per-channel 8-bit)
// Env: ROUNDS (default 20) interleaved latency rounds.
import { readFileSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);

const { MODEL_BUILDERS, buildEncoder, buildViT, buildDecoder, encoderInputs } = await imp('models/index.js');
const { cloneModel } = await imp('ir/clone.js');
const { getPass } = await imp('passes/registry.js');
const { silentLogger, seededRng } = await imp('passes/pass.js');
const { variantSteps, VARIANT_DTYPES } = await imp('passes/variants.js');
const { cosine } = await imp('math/stats.js');
const { halfArrayToFloat32 } = await imp('math/float16.js');
const { loadModel } = await imp('onnx/index.js');
const { openSession, holdRuntimes } = await imp('runtime/runtimes.js');
const { hasChromium, webgpuPlacements, webgpuSupport } = await imp('runtime/browser.js');
const { checkWebgpu } = await imp('bench/target.js');
const { adaptStepsToTarget } = await imp('cli/measure.js');

const only = process.argv.slice(2);
const want = (s) => only.length === 0 || only.includes(s);
const chromium = hasChromium();
if (!chromium && only.some((s) => s !== 'variants')) {
  console.log('skipped: no Chromium (apt-get install chromium, or MLC_CHROMIUM=/path)');
  process.exit(0);
}

const { makeRunner } = await imp('runtime/index.js');
const { madeUpData } = await imp('bench/inputs.js');
// as compress() gives them: a runner and made-up inputs (int4's default target measures on them)
const ctx = { log: silentLogger, rng: seededRng(1), run: makeRunner({ intraOpThreads: 1 }), madeUpData: (m, tryRun, n) => madeUpData(m, {}, tryRun, undefined, n) };
async function applySteps(model, steps) {
  const m = cloneModel(model);
  for (const s of steps) {
    const pass = getPass(s.pass);
    await pass.run(m, pass.parseOptions(s.options), ctx);
  }
  return m;
}

const floats = (o) => (o.dtype === 'float16' ? halfArrayToFloat32(o.data) : Float32Array.from(o.data, Number));

/** The quantize modes mlc has (static needs calibration data: left out). */
const MODES = [
  ['int8 dynamic', [{ pass: 'quantize', options: { type: 'int8' } }], 8],
  ['uint8 dynamic', [{ pass: 'quantize', options: { type: 'uint8' } }], 8],
  ['int8 standard ops', [{ pass: 'quantize', options: { type: 'int8', dynamicForm: 'standard' } }], 8],
  ['int8 weight-only', [{ pass: 'quantize', options: { type: 'int8', mode: 'weight-only' } }], 8],
  ['uint8 weight-only', [{ pass: 'quantize', options: { type: 'uint8', mode: 'weight-only' } }], 8],
  ['fp16', [{ pass: 'quantize', options: { type: 'fp16' } }], 16],
  ['int4 (default: target 0.995)', [{ pass: 'quantize', options: { type: 'int4' } }], 4],
  ['int4 --int4-target 0', [{ pass: 'quantize', options: { type: 'int4', int4Target: 0 } }], 4],
];

async function fidelity() {
  const RUNTIMES = ['node', 'wasm', 'browser'];
  const release = await holdRuntimes(RUNTIMES);
  const cases = [];
  for (const f of ['mnist-mlp', 'mnist-cnn']) {
    const model = await loadModel(`fixtures/${f}.onnx`);
    const x = Float32Array.from({ length: 4 * 784 }, (_, i) => ((i * 37) % 101) / 101);
    cases.push({ name: f, model, feeds: { input: { dtype: 'float', dims: [4, 784], data: x } } });
  }
  for (const b of MODEL_BUILDERS) cases.push({ name: b.name, model: b.build(), feeds: b.inputs(2, 3) });
  const rows = [];
  let worstGap = 0;
  let failures = 0;
  try {
    for (const c of cases) {
      const hasConv = c.model.graph.nodes.some((n) => n.opType === 'Conv');
      const modes = [...MODES, ...VARIANT_DTYPES.filter((d) => d !== 'fp32').map((d) => [`variant ${d}`, variantSteps(d, hasConv), d.startsWith('q4') ? 4 : d === 'fp16' ? 16 : 8])];
      const ref = {};
      for (const rt of RUNTIMES) {
        const s = await openSession(rt, c.model);
        ref[rt] = await s.run(c.feeds);
        await s.release();
      }
      const out0 = Object.keys(ref.node)[0];
      for (const [label, steps, bits] of modes) {
        let q;
        try {
          q = await applySteps(c.model, steps);
        } catch (e) {
          rows.push([c.name, label, `pass failed: ${e.message}`]);
          continue;
        }
        const cos = {};
        for (const rt of RUNTIMES) {
          try {
            const s = await openSession(rt, q);
            const o = (await s.run(c.feeds))[out0];
            await s.release();
            cos[rt] = cosine(floats(ref[rt][out0]), floats(o));
          } catch (e) {
            cos[rt] = `ERROR ${e.message.slice(0, 80)}`;
          }
        }
        const floor = bits === 4 ? 0.99 : 0.999;
        const nums = RUNTIMES.map((r) => cos[r]).filter((v) => typeof v === 'number');
        const gap = nums.length === RUNTIMES.length ? Math.max(...nums) - Math.min(...nums) : Infinity;
        worstGap = Math.max(worstGap, Number.isFinite(gap) ? gap : 0);
        const webOk = ['wasm', 'browser'].every((r) => typeof cos[r] === 'number' && (cos[r] >= floor || cos[r] >= cos.node - 1e-3));
        if (!webOk) failures++;
        rows.push([c.name, label, ...RUNTIMES.map((r) => (typeof cos[r] === 'number' ? cos[r].toFixed(6) : cos[r])), webOk ? 'ok' : 'FAIL']);
      }
    }
  } finally {
    await release();
  }
  console.log('\n## fidelity: cosine to fp32 in each runtime (made-up inputs); ok = the web runtimes reach the floor (0.999 8-bit/fp16, 0.99 4-bit) or match onnxruntime-node within 1e-3');
  console.log(['model', 'mode', ...RUNTIMES, 'web'].join('\t'));
  for (const r of rows) console.log(r.join('\t'));
  console.log(`fidelity: ${rows.length} model × mode rows, ${failures} failing in a web runtime, largest cosine gap between runtimes ${worstGap.toExponential(2)}`);
}

const ENC = { hidden: 256, heads: 4, ffn: 1024, layers: 4, seq: 128, vocab: 1000, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 3 };

async function latency() {
  const rounds = Number(process.env.ROUNDS ?? 20);
  const fp32 = buildEncoder(ENC);
  const feeds = encoderInputs(ENC, 1, 5, 128);
  const variants = [['fp32', fp32]];
  for (const d of ['q8', 'int8', 'uint8']) variants.push([d, await applySteps(fp32, variantSteps(d, false))]);
  const wasmSteps = [{ pass: 'quantize', options: { type: 'int8' } }];
  adaptStepsToTarget(wasmSteps, 'wasm');
  variants.push(['--target wasm (int8 asked)', await applySteps(fp32, wasmSteps)]);
  const sessions = [];
  for (const [, m] of variants) sessions.push(await openSession('browser', m, { intraOpThreads: 1 }));
  try {
    for (const s of sessions) for (let i = 0; i < 3; i++) await s.time(feeds);
    const times = sessions.map(() => []);
    for (let r = 0; r < rounds; r++) {
      const order = sessions.map((_, i) => i);
      if (r % 2) order.reverse();
      for (const k of order) times[k].push(await sessions[k].time(feeds));
    }
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const base = med(times[0]);
    console.log(`\n## latency: BERT-like encoder (hidden ${ENC.hidden}, ${ENC.layers} layers, seq 128) in headless Chromium, onnxruntime-web wasm, 1 thread, ${rounds} interleaved rounds (median; page clock)`);
    let best = { label: 'none', m: Infinity };
    variants.forEach(([label], k) => {
      const m = med(times[k]);
      console.log(`${label.padEnd(28)} ${m.toFixed(1).padStart(8)} ms  ${k ? `${(base / m).toFixed(2)}x vs fp32` : ''}`);
      if (k && k < 4 && m < best.m) best = { label, m };
    });
    console.log(`latency: best 8-bit variant (${best.label}) is ${(base / best.m).toFixed(2)}x fp32's speed in the browser (target: > 1)`);
  } finally {
    for (const s of sessions) await s.release();
  }
}

async function webgpu() {
  const fp32 = buildEncoder(ENC);
  const cases = [['fp32', []], ['q8 (dynamic int8)', variantSteps('q8', false)], ['int8 weight-only', [{ pass: 'quantize', options: { type: 'int8', mode: 'weight-only' } }]]];
  const target = [{ pass: 'quantize', options: { type: 'int8' } }];
  adaptStepsToTarget(target, 'webgpu');
  cases.push(['--target webgpu (int8 asked)', target], ['q4', variantSteps('q4', false)], ['fp16', variantSteps('fp16', false)]);
  const models = [];
  for (const [, steps] of cases) models.push(await applySteps(fp32, steps));
  const support = await webgpuSupport();
  let placed = null;
  if (support.available) placed = await webgpuPlacements(models);
  console.log(`\n## webgpu: the encoder's nodes that fall back to the CPU (op data: onnxruntime-web ${JSON.parse(readFileSync('node_modules/onnxruntime-web/package.json', 'utf8')).version}; placements: ${support.available ? `onnxruntime-web webgpu on ${support.adapter}` : `not measured: ${support.reason}`})`);
  const byChoice = placed ? new Set((placed[0].byProvider.CPUExecutionProvider ?? []).map((n) => n.name)) : new Set();
  cases.forEach(([label], i) => {
    const c = checkWebgpu(models[i]);
    let measured = '';
    if (placed) {
      const cpu = (placed[i].byProvider.CPUExecutionProvider ?? []).filter((n) => !byChoice.has(n.name));
      measured = `; placements: ${cpu.length} on the CPU beyond fp32's int64 index math, ${placed[i].copies} copies in all`;
    }
    console.log(`${label.padEnd(30)} ${String(c.fallbacks.length).padStart(3)} fall back, ${c.copies} copies (op data)${measured}`);
  });
  const t = checkWebgpu(models[3]);
  console.log(`webgpu: --target webgpu on the encoder: ${t.fallbacks.length} nodes fall back to the CPU (target: 0)`);
}

/** @type {[string, () => import("../dist/ir/model.js").Model][]} */
const VARIANT_MODELS = [
  ['vit (hidden 192, 4 layers, seed 3)', () => buildViT({ seed: 3, layers: 4, hidden: 192 })],
  ['encoder (hidden 384, opset 14, tanh GELU, seed 7)', () => buildEncoder({ hidden: 384, heads: 6, ffn: 1536, layers: 4, seq: 128, vocab: 1000, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 7, opset: 14, gelu: 'tanh' })],
  ['decoder (hidden 256, 4 layers, seed 5)', () => buildDecoder({ layers: 4, hidden: 256, heads: 4, vocab: 2000, ctx: 64, seed: 5 })],
];

/** `mlc variants` as a user runs it, and the blocks of before (in-process, same made-up inputs) side by side. */
async function variantsSection() {
  const runtimes = chromium ? ['node', 'wasm', 'browser'] : ['node', 'wasm'];
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { execFileSync } = await import('node:child_process');
  const { saveModel } = await imp('onnx/index.js');
  const BEFORE = [
    ['q4 before (round-to-nearest, all 4-bit)', [{ pass: 'quantize', options: { type: 'int4', blockSize: 32, int4Scales: 'rtn', int4Target: 0 } }], 4],
    ['int8 before (per-channel)', [{ pass: 'quantize', options: { type: 'int8', mode: 'dynamic' } }], 8],
  ];
  console.log(`\n## variants: \`mlc variants --runtime ${runtimes.join(',')} --no-latency\` (cosine to fp32 on its 8 made-up samples; floors 0.99 for q4 / q4f16, 0.999 for 8-bit) and the blocks of before`);
  console.log(['model', 'variant', 'size', ...runtimes.map((r) => `cosine ${r}`), 'floor'].join('\t'));
  let failures = 0;
  for (const [name, build] of VARIANT_MODELS) {
    const dir = mkdtempSync(join(tmpdir(), 'mlc-web-bench-'));
    try {
      const model = build();
      const src = join(dir, 'model.onnx');
      await saveModel(model, src);
      const out = execFileSync(process.execPath, [new URL('../bin/mlc.js', import.meta.url).pathname, 'variants', src, '--out-dir', join(dir, 'onnx'), '--runtime', runtimes.join(','), '--no-latency', '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
      const doc = JSON.parse(out);
      const fp32 = doc.variants.find((v) => v.dtype === 'fp32').sizeBytes;
      for (const v of doc.variants) {
        const floor = v.dtype.startsWith('q4') ? 0.99 : 0.999;
        const ok = v.runtimes.every((x) => typeof x.cosine === 'number' && x.cosine >= floor);
        if (!ok) failures++;
        console.log([name, v.dtype, `${(v.sizeBytes / 1e6).toFixed(2)} MB (${(fp32 / v.sizeBytes).toFixed(2)}x smaller)`, ...v.runtimes.map((x) => (x.cosine === null ? '—' : x.cosine.toFixed(5))), ok ? 'ok' : 'FAIL'].join('\t'));
      }
      // before: the same made-up inputs as the command's
      // (madeUpData halves a guessed sequence length until the model runs, as the command does:
      // the decoder's 64 positions)
      const s0 = await openSession('node', model);
      const feeds = (await madeUpData(model, {}, (f) => s0.run(f))).data.inputs;
      await s0.release();
      const ref = {};
      for (const rt of runtimes) {
        const s = await openSession(rt, model);
        ref[rt] = await s.run(feeds);
        await s.release();
      }
      const out0 = Object.keys(ref.node)[0];
      for (const [label, steps, bits] of BEFORE) {
        const q = await applySteps(model, steps);
        const cos = [];
        for (const rt of runtimes) {
          const s = await openSession(rt, q);
          cos.push(cosine(floats(ref[rt][out0]), floats((await s.run(feeds))[out0])));
          await s.release();
        }
        const floor = bits === 4 ? 0.99 : 0.999;
        console.log([name, label, '', ...cos.map((c) => c.toFixed(5)), cos.every((c) => c >= floor) ? 'ok' : 'below'].join('\t'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`variants: ${failures} variant × model rows below their floor in some runtime`);
}

if (want('fidelity')) await fidelity();
if (want('latency')) await latency();
if (want('webgpu')) await webgpu();
if (want('variants')) await variantsSection();
await ctx.run.release();
