// GPT-2-like decoder (src/models/decoder.ts, exporter-style Identity dedup on) through mlc's int8
// dynamic quantization, side by side with fp32 and, when python3 has onnxruntime, with
// onnxruntime.quantization.quantize_dynamic run on the same fp32 file (run after `npm run build`):
//   node benchmarks/decoder.bench.mjs
// Env: LAYERS (12), HIDDEN (768), HEADS (12), VOCAB (50257), CTX (1024), SEQ (128), ROUNDS (15),
//      LINEAR (gemm | matmul), LMHEAD (transpose | gemm), PROFILE (1: where the time goes, per op
//      type in the graph onnxruntime optimized, for every model).
// Latency: batch 1, 1 intra-op thread, onnxruntime's stock graph transformers, all sessions in
// this process, runs interleaved (each round runs every model once, in rotating order).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const { buildDecoder } = await imp('models/decoder.js');
const { quantizePass } = await imp('passes/quantize.js');
const { createSession } = await imp('runtime/index.js');
const { saveModel, loadModel } = await imp('onnx/index.js');
const { silentLogger, seededRng } = await imp('passes/pass.js');
const { cosine } = await imp('math/stats.js');

const env = (k, d) => (process.env[k] !== undefined ? process.env[k] : d);
const D = {
  layers: Number(env('LAYERS', 12)),
  hidden: Number(env('HIDDEN', 768)),
  heads: Number(env('HEADS', 12)),
  vocab: Number(env('VOCAB', 50257)),
  ctx: Number(env('CTX', 1024)),
  linear: env('LINEAR', 'gemm'),
  lmHead: env('LMHEAD', 'transpose'),
};
const SEQ = Number(env('SEQ', 128));
const ROUNDS = Number(env('ROUNDS', 15));

const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const dir = mkdtempSync(join(tmpdir(), 'mlc-decoder-bench-'));
try {
  const t0 = performance.now();
  const fp32 = buildDecoder(D);
  const fp32Path = join(dir, 'gpt2.onnx');
  await saveModel(fp32, fp32Path, {});
  const nodes = fp32.graph.nodes;
  const count = (op) => nodes.filter((n) => n.opType === op).length;
  const withWeight = nodes.filter((n) => (n.opType === 'Gemm' || n.opType === 'MatMul') && !/attn\/MatMul/.test(n.name)).length;
  console.log(
    `GPT-2-like decoder: layers ${D.layers}, hidden ${D.hidden}, heads ${D.heads}, vocab ${D.vocab}, ctx ${D.ctx}, linear ${D.linear}, lm head ${D.lmHead}; ` +
      `${(statSync(fp32Path).size / 1e6).toFixed(1)} MB, ${count('Identity')} Identity (deduplicated initializers), ` +
      `${count('Gemm')} Gemm + ${count('MatMul')} MatMul (${withWeight} with a constant weight); built + saved in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // mlc int8 dynamic, on the model as loaded from the file (what `mlc compress` sees)
  const loaded = await loadModel(fp32Path);
  const t1 = performance.now();
  const r = await quantizePass.run(loaded, quantizePass.parseOptions({ type: 'int8' }), { log: silentLogger, rng: seededRng(1) });
  const qMs = performance.now() - t1;
  const mlcPath = join(dir, 'gpt2_int8.onnx');
  await saveModel(loaded, mlcPath, {});
  const st = r.stats;
  const skippedMm = r.skipped.filter((s) => !/attn\/MatMul/.test(s.node) && /Gemm|MatMul/.test(s.node));
  console.log(
    `mlc int8 dynamic: ${st.quantized} quantized (Gemm ${st.Gemm ?? 0}, MatMul ${st.MatMul ?? 0}, embeddings ${st['Gather(weight-only)'] ?? 0}) of ${withWeight} MatMul/Gemm with a constant weight, ` +
      `${skippedMm.length} weight MatMul/Gemm skipped; ${(statSync(mlcPath).size / 1e6).toFixed(1)} MB (${(statSync(mlcPath).size / statSync(fp32Path).size).toFixed(3)}×); quantize ${(qMs / 1000).toFixed(1)} s`,
  );
  for (const s of skippedMm.slice(0, 5)) console.log(`  skipped ${s.node}: ${s.reason}`);

  const models = [
    ['fp32', fp32Path],
    ['mlc int8 dynamic', mlcPath],
  ];
  // on an x86 CPU without VNNI onnxruntime's u8·s8 kernels saturate: also the 7-bit-weight variant
  const { int8Saturates } = await imp('runtime/cpu.js');
  if (int8Saturates()) {
    const m7 = await loadModel(fp32Path);
    await quantizePass.run(m7, quantizePass.parseOptions({ type: 'int8', reduceRange: true }), { log: silentLogger, rng: seededRng(1) });
    const p7 = join(dir, 'gpt2_int8_rr.onnx');
    await saveModel(m7, p7, {});
    models.push(['mlc int8 dynamic --reduce-range', p7]);
  }
  const py = spawnSync('python3', ['-c', 'import onnxruntime, onnx; print(onnxruntime.__version__)'], { encoding: 'utf8' });
  if (py.status === 0) {
    const ortPath = join(dir, 'gpt2_ort_int8.onnx');
    const script = join(dir, 'q.py');
    writeFileSync(
      script,
      [
        'import sys, time',
        'from onnxruntime.quantization import quantize_dynamic, QuantType',
        't = time.time()',
        'quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)',
        'print(time.time() - t)',
      ].join('\n'),
    );
    const q = spawnSync('python3', [script, fp32Path, ortPath], { encoding: 'utf8' });
    if (q.status === 0) {
      console.log(
        `onnxruntime ${py.stdout.trim()} quantize_dynamic (QInt8 weights, defaults): ${(statSync(ortPath).size / 1e6).toFixed(1)} MB (${(statSync(ortPath).size / statSync(fp32Path).size).toFixed(3)}×); ` +
          `quantize ${Number(q.stdout.trim().split('\n').pop()).toFixed(1)} s`,
      );
      models.push(['onnxruntime quantize_dynamic', ortPath]);
    } else console.log(`python quantize_dynamic failed: ${q.stderr.trim().split('\n').pop()}`);
  } else console.log('python3 with onnxruntime not found: no quantize_dynamic comparison');

  const sessions = [];
  for (const [label, p] of models) sessions.push([label, await createSession(p, { intraOpThreads: 1 })]);
  const ids = new BigInt64Array(SEQ);
  const rng = seededRng(7);
  for (let i = 0; i < SEQ; i++) ids[i] = BigInt(Math.floor(rng() * D.vocab));
  const feeds = { input_ids: { dtype: 'int64', dims: [1, SEQ], data: ids } };
  const outs = [];
  for (const [, s] of sessions) outs.push((await s.run(feeds)).logits.data);
  for (const [, s] of sessions) await s.run(feeds);
  // wall time, and the process's CPU time (user + system) per run: on a shared, loaded machine the
  // CPU time leaves out the time the run waited for a core
  const times = sessions.map(() => []);
  const cpu = sessions.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < sessions.length; j++) {
      const k = (round + j) % sessions.length;
      const c0 = process.cpuUsage();
      const t = performance.now();
      await sessions[k][1].run(feeds);
      times[k].push(performance.now() - t);
      const c = process.cpuUsage(c0);
      cpu[k].push((c.user + c.system) / 1000);
    }
  }
  console.log(`batch 1, seq ${SEQ}, 1 thread, ${ROUNDS} interleaved rounds:`);
  for (let k = 0; k < sessions.length; k++) {
    const p50 = pct(times[k], 50);
    let line = `  ${sessions[k][0].padEnd(32)} wall min ${Math.min(...times[k]).toFixed(1).padStart(7)} ms  p50 ${p50.toFixed(1).padStart(7)} ms;  CPU min ${Math.min(...cpu[k]).toFixed(1).padStart(7)} ms  p50 ${pct(cpu[k], 50).toFixed(1).padStart(7)} ms`;
    if (k > 0) {
      const ratio = pct(times[k].map((t, i) => t / times[0][i]), 50);
      line +=
        `\n      wall p50 ratio ${(p50 / pct(times[0], 50)).toFixed(3)} (median per-round ${ratio.toFixed(3)}, min/min ${(Math.min(...times[k]) / Math.min(...times[0])).toFixed(3)}); ` +
        `CPU p50 ratio ${(pct(cpu[k], 50) / pct(cpu[0], 50)).toFixed(3)} (min/min ${(Math.min(...cpu[k]) / Math.min(...cpu[0])).toFixed(3)}); logits cosine ${cosine(outs[0], outs[k]).toFixed(6)}`;
    }
    console.log(line);
  }
  for (const [, s] of sessions) await s.release();
  if (env('PROFILE', '') === '1') {
    const { profileNodes } = await imp('runtime/profile.js');
    console.log('where the time goes (onnxruntime profiler, optimized graph, 1 thread, op types by share):');
    for (const [label, p] of models) {
      const prof = await profileNodes(await loadModel(p), feeds, 3, { optimization: 'all' });
      const top = [...prof.ops].sort((a, b) => b[1] - a[1]).slice(0, 8);
      console.log(`  ${label.padEnd(32)} ${(prof.totalUs / 1000).toFixed(1).padStart(7)} ms: ${top.map(([o, us]) => `${o} ${((100 * us) / prof.totalUs).toFixed(1)}%`).join(', ')}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
