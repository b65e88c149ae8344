// Static int8 calibration speed on a MobileNetV2-sized CNN (issue 17): mlc vs onnxruntime's
// Python quantize_static on the same file and the same calibration data, side by side.
//
//   npm run build && node benchmarks/static.bench.mjs [--rounds 3] [--samples 100] [--resolution 224] [--width 1]
//
// Builds MobileNetV2 (src/models/mobilenet.ts, BatchNorm folded, dynamic batch) and `samples`
// calibration images (seeded, blocky noise around 0), writes them to a temporary folder, then per
// round, in alternating order, times whole processes (wall clock, from spawn to exit):
//   mlc       node bin/mlc.js compress m.onnx --quantize int8 --quantize-mode static
//             --calibration-data c.npz --calibration-samples N --no-latency --json
//   mlc+meas  the same without --no-latency (mlc's default measurement: size + latency of both;
//             first MEAS_ROUNDS rounds only, default 1)
//   ort       python3 quantize_static(m.onnx, QDQ, QUInt8 activations, QInt8 per-channel weights,
//             MinMax, op_types_to_quantize Conv/Gemm/MatMul = mlc's scope), one sample per
//             get_next() as its CalibrationDataReader examples do
// (skipped when python3 cannot import onnxruntime.quantization), each under /usr/bin/time when
// present (CPU seconds, user + sys, and peak RSS: the wall time moves with the machine's load).
// Prints min / median per tool and the ratio mlc / ort of the medians. Before the rounds, the
// stages of one mlc run (STAGES=0 skips them), in a child process through the API the CLI uses:
// wall and CPU seconds of load + input check + calibration data read, the quantize pass
// (calibration runs and rewrite), check + save, size (gzip). Then the quantized models: batch-1
// latency at 1 intra-op thread (interleaved rounds, p50) against fp32, and top-1 agreement / mean
// cosine with fp32 on 64 held-out images.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);

/** Stages of one static int8 run of `compress` (what the CLI does), wall and CPU seconds, as JSON. */
async function stagesChild(src, cal, samples, out) {
  const { compress } = await imp('index.js');
  const { diskSize } = await imp('bench/size.js');
  const stages = [];
  let t = performance.now();
  let c = process.cpuUsage();
  const mark = (name) => {
    const cc = process.cpuUsage(c);
    stages.push({ name, wall: (performance.now() - t) / 1000, cpu: (cc.user + cc.system) / 1e6 });
    t = performance.now();
    c = process.cpuUsage();
  };
  const inputDisk = diskSize(undefined, { path: src });
  const r = await compress(src, [{ pass: 'quantize', options: { type: 'int8', mode: 'static' } }], {
    output: out,
    calibration: cal,
    calibrationSamples: samples,
    onPassStart: () => mark('load, input check, calibration data'),
    onPassEnd: () => mark('quantize pass (calibration, rewrite)'),
  });
  mark('check + save');
  await Promise.all([inputDisk, diskSize(r.model, { model: r.model, path: out, externalFiles: [] })]);
  mark('size (gzip of input and output)');
  console.log(JSON.stringify(stages));
}
if (process.argv[2] === '--stages') {
  await stagesChild(process.argv[3], process.argv[4], Number(process.argv[5]), process.argv[6]);
  process.exit(0);
}
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const { blockyImages, buildMobileNetV2 } = await imp('models/mobilenet.js');
const { saveModel } = await imp('onnx/index.js');
const { writeNpz } = await imp('data/index.js');
const { createSession } = await imp('runtime/index.js');
const { cosine } = await imp('math/stats.js');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const rounds = opt('--rounds', Number(process.env.ROUNDS ?? 3));
const samples = opt('--samples', 100);
const res = opt('--resolution', 224);
const width = opt('--width', 1);
const mlcBin = new URL('../bin/mlc.js', import.meta.url).pathname;

const images = (n, seed) => blockyImages(n, res, seed);

const stats = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return { min: s[0], median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 };
};

const dir = mkdtempSync(join(tmpdir(), 'mlc-static-bench-'));
try {
  const fp32Path = join(dir, 'mobilenetv2.onnx');
  const calPath = join(dir, 'c.npz');
  await saveModel(buildMobileNetV2({ width, resolution: res, dynamicBatch: true }), fp32Path);
  await writeNpz(calPath, { input: { dtype: 'float', dims: [samples, 3, res, res], data: images(samples, 1) } });
  console.log(`MobileNetV2 width ${width}, ${res}×${res}, ${samples} calibration samples (${((samples * 3 * res * res * 4) / 1e6).toFixed(0)} MB); load average ${loadavg()[0].toFixed(1)}`);
  if (process.env.STAGES !== '0') {
    const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--stages', fp32Path, calPath, String(samples), join(dir, 'stages.onnx')], { encoding: 'utf8' });
    if (c.status !== 0) console.log(`stages: failed: ${c.stderr.trim().split('\n').pop()}`);
    else {
      console.log('stages of one mlc run (compress through the API, as the CLI; s):');
      for (const st of JSON.parse(c.stdout.trim().split('\n').pop())) console.log(`  ${st.name.padEnd(40)} wall ${st.wall.toFixed(2).padStart(6)}   CPU ${st.cpu.toFixed(2).padStart(6)}`);
    }
  }

  const py = spawnSync('python3', ['-c', 'import onnxruntime, onnxruntime.quantization; print(onnxruntime.__version__)'], { encoding: 'utf8' });
  const ortVersion = py.status === 0 ? py.stdout.trim() : undefined;
  if (!ortVersion) console.log('python3 onnxruntime not found: onnxruntime quantize_static skipped');
  const pyScript = join(dir, 'ort_static.py');
  writeFileSync(
    pyScript,
    `import sys, numpy as np
from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantFormat, QuantType, CalibrationMethod
class Reader(CalibrationDataReader):
    def __init__(self, path, n):
        self.x = np.load(path)['input'][:n]
        self.i = 0
    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += 1
        return {'input': self.x[self.i - 1:self.i]}
quantize_static(sys.argv[1], sys.argv[2], Reader(sys.argv[3], int(sys.argv[4])), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=['Conv', 'Gemm', 'MatMul'])
`,
  );

  const tools = {
    mlc: (out) => [process.execPath, [mlcBin, 'compress', fp32Path, '-o', out, '--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', calPath, '--calibration-samples', String(samples), '--no-latency', '--json']],
    'mlc+meas': (out) => [process.execPath, [mlcBin, 'compress', fp32Path, '-o', out, '--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', calPath, '--calibration-samples', String(samples), '--json']],
  };
  if (ortVersion) tools.ort = (out) => ['python3', [pyScript, fp32Path, out, calPath, String(samples)]];
  const names = Object.keys(tools);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const cpus = Object.fromEntries(names.map((n) => [n, []]));
  const rss = Object.fromEntries(names.map((n) => [n, []]));
  const outs = Object.fromEntries(names.map((n) => [n, join(dir, `mobilenetv2_${n.replace('+', '_')}.onnx`)]));
  // the default measurement (latency of both models, throughput at batch 64) is slow on a CNN
  // this size: it runs in the first MEAS_ROUNDS rounds only
  const measRounds = Number(process.env.MEAS_ROUNDS ?? 1);
  for (let r = 0; r < rounds; r++) {
    const order = (r % 2 ? [...names].reverse() : names).filter((n) => n !== 'mlc+meas' || r < measRounds);
    for (const n of order) {
      rmSync(outs[n], { force: true });
      const [cmd, argv] = tools[n](outs[n]);
      const t0 = performance.now();
      const p = TIME
        ? spawnSync(TIME, ['-f', '@@time %U %S %M', cmd, ...argv], { encoding: 'utf8', maxBuffer: 64 << 20 })
        : spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20 });
      const s = (performance.now() - t0) / 1000;
      if (p.status !== 0) throw new Error(`${n} failed (exit ${p.status}): ${p.stderr.slice(-800)}`);
      times[n].push(s);
      const m = /@@time ([\d.]+) ([\d.]+) (\d+)/.exec(p.stderr ?? '');
      if (m) {
        cpus[n].push(Number(m[1]) + Number(m[2]));
        rss[n].push(Number(m[3]) / 1024);
      }
      console.log(`round ${r + 1} ${n.padEnd(8)} ${s.toFixed(2)} s${m ? `, CPU ${(Number(m[1]) + Number(m[2])).toFixed(2)} s, peak RSS ${(Number(m[3]) / 1024).toFixed(0)} MB` : ''} (load ${loadavg()[0].toFixed(1)})`);
    }
  }
  console.log('\nwhole-process wall time, s (min / median):');
  for (const n of names) {
    if (!times[n].length) continue;
    const t = stats(times[n]);
    const cpu = cpus[n].length ? `   CPU ${stats(cpus[n]).min.toFixed(2)} / ${stats(cpus[n]).median.toFixed(2)}, peak RSS ${stats(rss[n]).median.toFixed(0)} MB` : '';
    console.log(`  ${n.padEnd(8)} ${t.min.toFixed(2)} / ${t.median.toFixed(2)}${cpu}`);
  }
  if (ortVersion) {
    for (const n of ['mlc', 'mlc+meas']) {
      if (!times[n].length) continue;
      const a = stats(times[n]);
      const b = stats(times.ort);
      const cpu = cpus[n].length && cpus.ort.length ? `; CPU ${(stats(cpus[n]).median / stats(cpus.ort).median).toFixed(2)}× (median)` : '';
      console.log(`  ${n} / onnxruntime ${ortVersion} quantize_static: ${(a.median / b.median).toFixed(2)}× (median), ${(a.min / b.min).toFixed(2)}× (min)${cpu}`);
    }
  }

  // the quantized models: latency (1 thread, batch 1) and agreement with fp32
  const models = { fp32: fp32Path, 'mlc int8': outs.mlc, ...(ortVersion ? { 'ort int8': outs.ort } : {}) };
  const sessions = {};
  for (const [k, p] of Object.entries(models)) sessions[k] = await createSession(p, { intraOpThreads: 1 });
  const evalN = 64;
  const x = images(evalN, 2);
  const per = 3 * res * res;
  const outputs = Object.fromEntries(Object.keys(models).map((k) => [k, []]));
  for (let s = 0; s < evalN; s++) {
    const feed = { input: { dtype: 'float', dims: [1, 3, res, res], data: x.subarray(s * per, (s + 1) * per) } };
    for (const k of Object.keys(models)) outputs[k].push((await sessions[k].run(feed)).output.data);
  }
  const argmax = (v) => v.reduce((bi, x, i, a) => (x > a[bi] ? i : bi), 0);
  const feed1 = { input: { dtype: 'float', dims: [1, 3, res, res], data: x.subarray(0, per) } };
  const lat = Object.fromEntries(Object.keys(models).map((k) => [k, []]));
  const latRounds = Number(process.env.LAT_ROUNDS ?? 40);
  for (let r = 0; r < latRounds + 5; r++) {
    const order = Object.keys(models);
    if (r % 2) order.reverse();
    for (const k of order) {
      const t0 = performance.now();
      await sessions[k].run(feed1);
      if (r >= 5) lat[k].push(performance.now() - t0);
    }
  }
  const p50 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const base = p50(lat.fp32);
  console.log(`\nquantized models (batch 1, 1 intra-op thread, ${latRounds} interleaved rounds; ${evalN} held-out images):`);
  for (const k of Object.keys(models)) {
    let agree = 0;
    let cos = 0;
    for (let s = 0; s < evalN; s++) {
      agree += argmax(outputs[k][s]) === argmax(outputs.fp32[s]) ? 1 : 0;
      cos += cosine(outputs[k][s], outputs.fp32[s]);
    }
    const size = statSync(models[k]).size;
    console.log(
      `  ${k.padEnd(9)} p50 ${p50(lat[k]).toFixed(1)} ms (${(p50(lat[k]) / base).toFixed(2)}× fp32), file ${(size / 1e6).toFixed(2)} MB, top-1 agreement ${((100 * agree) / evalN).toFixed(1)}%, cosine ${(cos / evalN).toFixed(5)}`,
    );
  }
  for (const s of Object.values(sessions)) await s.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
