// Beyond 2 GB: a transformer encoder whose weights exceed protobuf's 2 GB limit (saved with external
// data), run through `mlc inspect` and `mlc compress --quantize int8 | int4 | fp16`, each in its own
// process under /usr/bin/time: wall time, peak RSS against the model's size, and the outputs' files.
//
//   npm run build && node benchmarks/big.bench.mjs [--arch encoder|decoder] [--hidden 2048] [--layers 12] [--vocab N] [--keep]
//
// Default model: a BERT-like encoder (src/models/encoder.ts), hidden 2048, 16 heads, ffn 8192,
// 12 layers, vocab 30522 → 665 M float32 parameters, 2.67 GB. `--arch decoder`: the GPT-2-like
// decoder (src/models/decoder.ts, MatMul linears, tied LM head; default vocab 50257 → 2.84 GB).
// It is built in a child process (seeded) and written with external data, so the model is never
// held twice. Needs ~6 GB of free memory and ~8 GB of disk in $TMPDIR.
// Measurement flags: --no-latency (sizes only; a 2.5 GB fp32 session would time out the shared box).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};

// child mode: build the model and save it with external data
if (args[0] === '--build') {
  const [, out, hidden, layers, vocab, kind] = args;
  const { saveModel } = await import('../dist/onnx/index.js');
  const H = Number(hidden);
  let model;
  if (kind === 'decoder') {
    const { buildDecoder } = await import('../dist/models/decoder.js');
    model = buildDecoder({ hidden: H, heads: H / 64, layers: Number(layers), vocab: Number(vocab), ctx: 1024, linear: 'matmul', seed: 1 });
  } else {
    const { buildEncoder } = await import('../dist/models/encoder.js');
    model = buildEncoder({ hidden: H, heads: H / 128, ffn: 4 * H, layers: Number(layers), vocab: Number(vocab) || undefined, seq: 128, seed: 1 });
  }
  const r = await saveModel(model, out, { externalData: true });
  console.log(JSON.stringify(r));
  process.exit(0);
}

const archAt = args.indexOf('--arch');
const arch = archAt >= 0 ? args[archAt + 1] : 'encoder';
if (arch !== 'encoder' && arch !== 'decoder') throw new Error(`--arch encoder|decoder, not ${arch}`);
const hidden = arg('--hidden', 2048);
const layers = arg('--layers', 12);
const vocab = arg('--vocab', arch === 'decoder' ? 50257 : 30522);
const keep = args.includes('--keep');

if (!existsSync('/usr/bin/time')) {
  console.log('skipped: needs /usr/bin/time (GNU time) for peak RSS');
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'mlc-big-bench-'));
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;

/** Run a command under GNU time; returns wall seconds, peak RSS bytes, exit status, output. */
function timed(label, cmd, cmdArgs) {
  const tf = join(dir, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', '-o', tf, cmd, ...cmdArgs], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  const [wall, kb] = readFileSync(tf, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
  return { label, wall, rss: kb * 1024, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function filesOf(prefix) {
  const base = prefix.split('/').pop();
  return readdirSync(dir)
    .filter((f) => f === base || f.startsWith(base + '.'))
    .filter((f) => !f.endsWith('.tmp'))
    .map((f) => `${f} ${mb(statSync(join(dir, f)).size)}`);
}

try {
  const model = join(dir, 'big.onnx');
  const b = timed('build + save (external data)', process.execPath, [fileURLToPath(import.meta.url), '--build', model, String(hidden), String(layers), String(vocab), arch]);
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  const size = statSync(model).size + statSync(model + '.data').size;
  console.log(`model: ${arch} hidden ${hidden}, ${layers} layers, vocab ${vocab}: ${mb(size)} (${filesOf(model).join(', ')})`);
  const rows = [b];
  const mlc = join(root, 'bin', 'mlc.js');
  const runs = [
    ['inspect', ['inspect', model]],
    ['compress --quantize int8', ['compress', model, '--quantize', 'int8', '-o', join(dir, 'big_int8.onnx'), '--no-latency', '--json']],
    ['compress --quantize int4', ['compress', model, '--quantize', 'int4', '-o', join(dir, 'big_q4.onnx'), '--no-latency', '--json']],
    ['compress --quantize fp16', ['compress', model, '--quantize', 'fp16', '-o', join(dir, 'big_fp16.onnx'), '--no-latency', '--json']],
  ];
  for (const [label, a] of runs) {
    const r = timed(label, process.execPath, [mlc, ...a]);
    rows.push(r);
    if (r.status !== 0) console.log(`${label}: exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const out = a.includes('-o') ? a[a.indexOf('-o') + 1] : undefined;
    if (out && r.status === 0) {
      const rep = JSON.parse(r.stdout);
      const after = rep.after ?? {};
      console.log(`${label}: output ${filesOf(out).join(', ')}${after.cosine != null ? `, cosine ${after.cosine.toFixed(6)}` : ''}`);
      for (const f of readdirSync(dir)) if (f.startsWith(out.split('/').pop())) rmSync(join(dir, f), { force: true });
    }
  }
  console.log('');
  console.log(`${'step'.padEnd(32)} ${'wall s'.padStart(7)} ${'peak RSS'.padStart(10)} ${'x model'.padStart(8)}  exit`);
  for (const r of rows) {
    console.log(`${r.label.padEnd(32)} ${r.wall.toFixed(1).padStart(7)} ${mb(r.rss).padStart(10)} ${(r.rss / size).toFixed(2).padStart(8)}  ${r.status}`);
  }
  if (rows.some((r) => r.status !== 0)) process.exitCode = 1;
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`files kept in ${dir}`);
}
