// The whole toolkit, end to end, on models of real sizes (run after `npm run build`):
//   node benchmarks/toolkit.bench.mjs                 BERT-base, ViT-B/16, ResNet-50, GPT-2-small
//   node benchmarks/toolkit.bench.mjs bert vit        only these
// Env: STAGES=0 skips the per-stage breakdown; PY=0 skips the Python side-by-side; STATIC=0 skips
//      the static (calibrated) int8 rows.
//
// For each model (built by src/models, saved as one .onnx file):
//  1. stages of `mlc compress --quantize int8` with the default measurement, in one child process
//     going through the public API the CLI uses: seconds and peak RSS (so far) after load, pass,
//     check (onnxruntime session of the result, kept for the measurement), save, size (gzip),
//     measure (sessions, latency, throughput);
//  2. whole processes, `node bin/mlc.js compress …` under /usr/bin/time: wall, CPU (user + sys),
//     peak RSS, for int8 / int4 / fp16 with --no-latency, int8 with the default measurement, and
//     static int8 (8 calibration samples);
//  3. the same file through Python onnxruntime.quantization (quantize_dynamic, quantize_static with
//     the same 8 samples, MatMulNBitsQuantizer for int4), when python3 has onnxruntime.
// The machine is shared: wall time moves with the load (printed), CPU time much less.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const root = fileURLToPath(new URL('..', import.meta.url));
const mlcBin = join(root, 'bin', 'mlc.js');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

const MODELS = {
  bert: {
    label: 'BERT-base encoder (12 × 768, seq 128)',
    async build() {
      const { buildEncoder, encoderInputs } = await imp('models/index.js');
      const o = { hidden: 768, heads: 12, ffn: 3072, layers: 12, seq: 128, vocab: 30522 };
      return { model: buildEncoder(o), inputs: (n) => encoderInputs(o, n, 3) };
    },
  },
  vit: {
    label: 'ViT-B/16 (224², 12 × 768)',
    async build() {
      const { buildViT, vitInputs } = await imp('models/index.js');
      const o = {};
      return { model: buildViT(o), inputs: (n) => vitInputs(o, n, 3) };
    },
  },
  resnet: {
    label: 'ResNet (builder defaults, 224²)',
    async build() {
      const { buildResNet, resnetInputs } = await imp('models/index.js');
      const o = {};
      return { model: buildResNet(o), inputs: (n) => resnetInputs(o, n, 3) };
    },
  },
  decoder: {
    label: 'GPT-2-small-like decoder (12 × 768)',
    async build() {
      const { buildDecoder } = await imp('models/decoder.js');
      return { model: buildDecoder({}), inputs: null };
    },
  },
};

const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
const sec = (ms) => (ms / 1000).toFixed(2);

/** Run a command under /usr/bin/time: { ok, wallS, cpuS, rssBytes, stderr }. */
function timed(cmd, args) {
  const t0 = performance.now();
  const r = TIME
    ? spawnSync(TIME, ['-f', '@@time %e %U %S %M', cmd, ...args], { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 })
    : spawnSync(cmd, args, { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 });
  const wall = (performance.now() - t0) / 1000;
  const m = /@@time ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  const stderr = (r.stderr ?? '')
    .split('\n')
    .filter((l) => !l.startsWith('@@time') && !l.startsWith('Command exited with'))
    .join('\n')
    .trim();
  return m
    ? { ok: r.status === 0, wallS: Number(m[1]), cpuS: Number(m[2]) + Number(m[3]), rssBytes: Number(m[4]) * 1024, stderr, stdout: r.stdout }
    : { ok: r.status === 0, wallS: wall, cpuS: null, rssBytes: null, stderr, stdout: r.stdout };
}

function hasPythonOrt() {
  const r = spawnSync('python3', ['-c', 'import onnxruntime.quantization, onnx'], { encoding: 'utf8' });
  return r.status === 0;
}

const PY = `
import sys, time, numpy as np
kind, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if kind == 'dynamic':
    from onnxruntime.quantization import quantize_dynamic, QuantType
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
elif kind == 'static':
    from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantType, QuantFormat
    data = np.load(sys.argv[4])
    names = [k for k in data.files if k != 'labels']
    n = data[names[0]].shape[0]
    class Reader(CalibrationDataReader):
        def __init__(self): self.i = 0
        def get_next(self):
            if self.i >= n: return None
            self.i += 1
            return {k: data[k][self.i - 1:self.i] for k in names}
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
elif kind == 'int4':
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    q = MatMulNBitsQuantizer(onnx.load(src), block_size=32, is_symmetric=True)
    q.process()
    q.model.save_model_to_file(dst, False)
print('@@py %.3f' % (time.perf_counter() - t0))
`;

/** In-process stage breakdown of `compress --quantize int8` + measurement, as the CLI runs it. */
async function stagesChild(src, out) {
  const { compress } = await imp('index.js');
  const { measureModels } = await imp('bench/index.js');
  const { diskSize } = await imp('bench/size.js');
  const stages = [];
  let t = performance.now();
  const mark = (name) => {
    const now = performance.now();
    stages.push({ name, ms: now - t, peakRss: process.resourceUsage().maxRSS * 1024 });
    t = now;
  };
  const inputDisk = diskSize(undefined, { path: src });
  let passStart = 0;
  let passMs = 0;
  const r = await compress(src, [{ pass: 'quantize', options: { type: 'int8' } }], {
    output: out,
    keepSession: { intraOpThreads: 1, disabledOptimizers: [] },
    onPassStart: () => {
      mark('load');
      passStart = performance.now();
    },
    onPassEnd: (rep) => {
      passMs = rep.ms;
      const now = performance.now();
      stages.push({ name: 'pass', ms: passMs, peakRss: process.resourceUsage().maxRSS * 1024 });
      stages.push({ name: 'check (+ IR hash)', ms: now - passStart - passMs, peakRss: process.resourceUsage().maxRSS * 1024 });
      t = now;
    },
  });
  mark('save');
  const base = { model: r.original, path: src, disk: inputDisk };
  const other = { model: r.model, path: out, externalFiles: [], session: r.session };
  await Promise.all([inputDisk, diskSize(r.model, other)]);
  mark('size (gzip, thread pool)');
  const m = await measureModels(base, other, {});
  mark('measure (session, latency, throughput)');
  console.log(JSON.stringify({ stages, runs: m.settings.runs, batch: m.settings.batchSize, p50: [m.before.latencyMs?.p50, m.after?.latencyMs?.p50] }));
}

async function bench(key) {
  const spec = MODELS[key];
  const dir = mkdtempSync(join(tmpdir(), `mlc-toolkit-${key}-`));
  try {
    const { saveModel } = await imp('onnx/index.js');
    const { writeNpz } = await imp('data/write.js');
    const built = await spec.build();
    let params = 0;
    for (const t of built.model.graph.initializers.values()) params += t.size;
    const src = join(dir, `${key}.onnx`);
    await saveModel(built.model, src, {});
    const bytes = statSync(src).size;
    let calib = null;
    if (built.inputs && process.env.STATIC !== '0') {
      calib = join(dir, 'calib.npz');
      await writeNpz(calib, built.inputs(8));
    }
    built.model = null;
    console.log(`\n${spec.label}: ${(params / 1e6).toFixed(1)} M parameters, ${mb(bytes)} file (load average ${loadavg()[0].toFixed(1)})`);

    if (process.env.STAGES !== '0' && built.inputs) {
      const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--stages', src, join(dir, 'stages_int8.onnx')], { encoding: 'utf8', cwd: root });
      if (c.status !== 0) console.log(`  stages: failed: ${c.stderr.trim().split('\n').pop()}`);
      else {
        const s = JSON.parse(c.stdout.trim().split('\n').pop());
        console.log(`  stages of compress --quantize int8 + measurement (${s.runs} timed runs, throughput batch ${s.batch}):`);
        for (const st of s.stages) console.log(`    ${st.name.padEnd(40)} ${sec(st.ms).padStart(7)} s   peak RSS so far ${mb(st.peakRss).padStart(8)} (${(st.peakRss / bytes).toFixed(2)}× file)`);
      }
    }

    const rows = [];
    const mlc = (label, args) => {
      const out = join(dir, `out_${rows.length}.onnx`);
      const r = timed(process.execPath, [mlcBin, 'compress', src, '-o', out, '--quiet', ...args]);
      const outBytes = existsSync(out) ? statSync(out).size : null;
      rows.push({ tool: 'mlc', label, ...r, outBytes });
      if (!r.ok) console.log(`  mlc ${label}: failed: ${r.stderr.split('\n').pop()}`);
    };
    const noLat = ['--no-latency'];
    mlc('int8 --no-latency', ['--quantize', 'int8', ...noLat]);
    mlc('int4 --no-latency', ['--quantize', 'int4', ...noLat]);
    mlc('fp16 --no-latency', ['--quantize', 'fp16', ...noLat]);
    if (built.inputs) mlc('int8 (default measurement)', ['--quantize', 'int8']);
    if (calib) mlc('int8 static, 8 samples --no-latency', ['--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', calib, '--no-latency']);

    if (process.env.PY !== '0' && hasPythonOrt()) {
      const py = (label, kind, extra = []) => {
        const out = join(dir, `py_${rows.length}.onnx`);
        const r = timed('python3', ['-c', PY, kind, src, out, ...extra]);
        const inner = /@@py ([\d.]+)/.exec(r.stdout ?? '');
        rows.push({ tool: 'python ort', label, ...r, inner: inner ? Number(inner[1]) : null, outBytes: existsSync(out) ? statSync(out).size : null });
        if (!r.ok) console.log(`  python ${label}: failed: ${r.stderr.split('\n').pop()}`);
      };
      py('quantize_dynamic int8', 'dynamic');
      py('MatMulNBits int4', 'int4');
      if (calib) py('quantize_static int8, 8 samples', 'static', [calib]);
    } else if (process.env.PY !== '0') console.log('  (python3 without onnxruntime: no side-by-side)');

    console.log(`  ${'tool'.padEnd(11)} ${'recipe'.padEnd(36)} ${'wall s'.padStart(7)} ${'cpu s'.padStart(7)} ${'peak RSS'.padStart(9)} ${'RSS/file'.padStart(8)} ${'output'.padStart(8)}`);
    for (const r of rows) {
      const f = (v, d = 2) => (v == null ? '—' : v.toFixed(d));
      console.log(
        `  ${r.tool.padEnd(11)} ${r.label.padEnd(36)} ${f(r.wallS).padStart(7)} ${f(r.cpuS).padStart(7)} ${(r.rssBytes ? mb(r.rssBytes) : '—').padStart(9)} ${(r.rssBytes ? (r.rssBytes / bytes).toFixed(2) + '×' : '—').padStart(8)} ${(r.outBytes ? mb(r.outBytes) : r.ok ? '—' : 'FAILED').padStart(8)}${r.inner ? `  (quantizer call ${r.inner.toFixed(1)} s)` : ''}`,
      );
    }
    const pick = (tool, label) => rows.find((r) => r.tool === tool && r.label.startsWith(label) && r.ok);
    for (const [m, p] of [['int8 --no-latency', 'quantize_dynamic'], ['int4 --no-latency', 'MatMulNBits'], ['int8 static', 'quantize_static']]) {
      const a = pick('mlc', m);
      const b = pick('python ort', p);
      if (a && b) {
        const cpu = a.cpuS && b.cpuS ? `, CPU ${(a.cpuS / b.cpuS).toFixed(2)}×` : '';
        console.log(`  mlc ${m} / python ${p}: wall ${(a.wallS / b.wallS).toFixed(2)}×${cpu}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--stages') {
  await stagesChild(process.argv[3], process.argv[4]);
} else {
  const want = process.argv.slice(2).filter((a) => MODELS[a]);
  const keys = want.length ? want : Object.keys(MODELS);
  if (!TIME) console.log('(no /usr/bin/time: wall time only, no CPU time or peak RSS)');
  for (const k of keys) {
    try {
      await bench(k);
    } catch (e) {
      console.log(`${k}: failed: ${e.message}`);
      process.exitCode = 1;
    }
  }
}
