// A fleet of models through `mlc compress "<dir>/models/**/*.onnx"` (run after `npm run build`):
//
//   node benchmarks/fleet.bench.mjs            40 models (about 5 minutes on 2 shared cores)
//   FLEET_MODELS=200 node benchmarks/fleet.bench.mjs    the 200
//
// The models are built by src/models: a mix of MLPs (tabular tasks), ResNet-like CNNs and
// BERT-like encoders, file sizes log-uniform in 0.1–5 MB, laid out as models/<country>/<task>.onnx.
// Every run uses the same 2-pass recipe (prune 50% unstructured, then dynamic int8) and gates
// (--max-size 1MB, --max-gzip-size 1MB; size gates: latency is left out with --no-latency so that
// the figures measure the fleet, not the timing loops), outputs under a separate --out-dir.
//
// Printed: wall time and models/s with --jobs 1 and --jobs 2 (side by side, same models; the
// throughput ratio is the target: >= 1.7x on 2 cores), peak RSS per worker, the workers' CPU time
// per model (each worker keeps to one core: src/cli/worker.ts); then the same list in
// 4 shards (--shard i/4, --jobs 2 each, one after the other), merged with `mlc report merge`, and
// whether the merged report equals the unsharded one model for model (exit code, sizes, gates).
// The machine is shared: the load average is printed with the figures.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const root = fileURLToPath(new URL('..', import.meta.url));
const mlcBin = join(root, 'bin', 'mlc.js');

const M = await imp('models/index.js');
const { saveModel } = await imp('onnx/index.js');
const { uniformRng } = await imp('models/common.js');

const COUNT = Number(process.env.FLEET_MODELS ?? 40);
const COUNTRIES = ['us', 'de', 'fr', 'br', 'in', 'jp', 'mx', 'ng', 'id', 'tr', 'uk', 'es', 'it', 'pl', 'eg', 'ar', 'ca', 'au', 'kr', 'za'];
const TASKS = ['demand', 'eta', 'pricing', 'fraud', 'churn', 'supply', 'surge', 'route', 'rating', 'support'];

/** A model of about `bytes` bytes: an MLP, a CNN or an encoder (by `i`). */
function build(i, bytes, seed) {
  const floats = bytes / 4;
  switch (i % 3) {
    case 0: {
      // features 64, hidden [h, h], 10 classes: about h² + 74h floats
      const h = Math.max(16, Math.round(-37 + Math.sqrt(37 * 37 + floats)));
      return { kind: 'mlp', model: M.buildMlp({ features: 64, hidden: [h, h], classes: 10, seed }) };
    }
    case 1: {
      // channels [c, 2c], one basic block each: 9·(c² + c² + 2c² + 4c²) + 2c² (shortcut) ≈ 74c² floats
      const c = Math.max(4, Math.round(Math.sqrt(floats / 74)));
      return { kind: 'cnn', model: M.buildResNet({ channels: [c, 2 * c], blocks: [1, 1], image: 32, classes: 10, seed }) };
    }
    default: {
      // 2 layers of hidden H, ffn 4H: about 2·12·H² floats
      const heads = 4;
      const hid = Math.max(heads * 4, Math.round(Math.sqrt(floats / 24) / heads) * heads);
      return { kind: 'encoder', model: M.buildEncoder({ hidden: hid, heads, ffn: 4 * hid, layers: 2, seq: 16, seed }) };
    }
  }
}

function mlc(args, cwd) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [mlcBin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', GITHUB_STEP_SUMMARY: '', GITHUB_ACTIONS: '' }, maxBuffer: 1 << 30 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

const comparable = (d) => ({
  exitCode: d.exitCode,
  summary: d.summary,
  models: d.models.map((m) => ({ model: m.model, code: m.code, error: m.error?.code, after: m.report?.after?.sizeBytes, gzip: m.report?.after?.gzipBytes, gates: m.report?.gates })),
});

const dir = mkdtempSync(join(tmpdir(), 'mlc-fleet-bench-'));
try {
  // 1. the fleet
  const rng = uniformRng(2026);
  const t0 = performance.now();
  const kinds = {};
  let total = 0;
  for (let i = 0; i < COUNT; i++) {
    const bytes = 1e5 * 50 ** rng(); // log-uniform in [0.1, 5) MB
    const { kind, model } = build(i, bytes, 1000 + i);
    const country = COUNTRIES[Math.floor(i / TASKS.length) % COUNTRIES.length];
    const task = TASKS[i % TASKS.length] + (i >= COUNTRIES.length * TASKS.length ? `-${Math.floor(i / (COUNTRIES.length * TASKS.length))}` : '');
    mkdirSync(join(dir, 'models', country), { recursive: true });
    const file = join(dir, 'models', country, `${task}.onnx`);
    await saveModel(model, file);
    const { statSync } = await import('node:fs');
    const size = statSync(file).size;
    total += size;
    (kinds[kind] ??= []).push(size);
  }
  const mb = (b) => `${(b / 1e6).toFixed(2)} MB`;
  console.log(`${COUNT} models built in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${mb(total)} in all`);
  for (const [k, s] of Object.entries(kinds)) console.log(`  ${k}: ${s.length} models, ${mb(Math.min(...s))} – ${mb(Math.max(...s))}`);
  writeFileSync(join(dir, 'recipe.json'), JSON.stringify([{ pass: 'prune', options: { sparsity: 0.5 } }, { pass: 'quantize', options: { type: 'int8' } }]));
  const common = ['compress', 'models/**/*.onnx', '--recipe', 'recipe.json', '--max-size', '1MB', '--max-gzip-size', '1MB', '--no-latency', '--json'];

  // 2. throughput, --jobs 1 and --jobs 2 side by side
  const runs = {};
  for (const jobs of [1, 2]) {
    const load = loadavg()[0].toFixed(2);
    const r = mlc([...common, '--jobs', String(jobs), '--out-dir', `out-${jobs}`], dir);
    if (r.code === null || r.code === 3 || !r.stdout.trim().startsWith('{')) throw new Error(`--jobs ${jobs}: exit ${r.code}\n${r.stderr}`);
    const doc = JSON.parse(r.stdout);
    runs[jobs] = { doc, ms: r.ms };
    const rss = doc.run.workers.map((w) => `${(w.peakRssBytes / 1e6).toFixed(0)} MB`).join(', ');
    const cpu = doc.run.workers.reduce((a, w) => a + w.cpuMs, 0);
    console.log(
      `--jobs ${jobs}: wall ${(r.ms / 1000).toFixed(1)} s, ${((COUNT / r.ms) * 1000).toFixed(2)} models/s, exit ${doc.exitCode} (${doc.summary.passed} passed, ${doc.summary.failedGates} over budget, ${doc.summary.errors} errors); peak RSS per worker ${rss}; workers' CPU ${(cpu / 1000).toFixed(1)} s, ${(cpu / COUNT).toFixed(0)} ms per model (load avg before: ${load})`,
    );
  }
  const ratio = runs[1].ms / runs[2].ms;
  console.log(`throughput --jobs 2 / --jobs 1: ${ratio.toFixed(2)}x (target >= 1.7x; ${availableParallelism()} cores, shared: load average now ${loadavg()[0].toFixed(2)})`);
  const same12 = JSON.stringify(comparable(runs[1].doc)) === JSON.stringify(comparable(runs[2].doc));
  console.log(`--jobs 1 and --jobs 2 reports equal model for model: ${same12 ? 'yes' : 'NO'}`);

  // 3. four shards, merged
  mkdirSync(join(dir, 'reports'));
  let shardMs = 0;
  for (let i = 1; i <= 4; i++) {
    const r = mlc([...common, '--jobs', '2', '--out-dir', 'out-shards', '--shard', `${i}/4`, '--report', `reports/shard-${i}.json`], dir);
    shardMs += r.ms;
    const doc = JSON.parse(r.stdout);
    console.log(`shard ${i}/4: ${doc.models.length} models, exit ${doc.exitCode}, wall ${(r.ms / 1000).toFixed(1)} s`);
  }
  const merged = mlc(['report', 'merge', 'reports/*.json', '--json'], dir);
  const doc = JSON.parse(merged.stdout);
  const equal = JSON.stringify(comparable(doc)) === JSON.stringify(comparable(runs[2].doc));
  console.log(`4 shards: ${(shardMs / 1000).toFixed(1)} s in all; merged exit ${merged.code} (unsharded ${runs[2].doc.exitCode}); merged report equals the unsharded one model for model: ${equal ? 'yes' : 'NO'}`);
  if (!equal || !same12 || merged.code !== runs[2].doc.exitCode) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
