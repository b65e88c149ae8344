// Before/after results of every available recipe on every fixture → benchmarks/results.md.
//
//   npm run build && node benchmarks/results.bench.mjs [--runs N] [--only word] [--fixtures dir --data test.npz --out file.md]
//
// For each fixtures/*.onnx and each recipe below whose flags the registered passes declare (so a
// pass appears here as soon as it is registered), it runs the real CLI,
//   mlc compress <fixture> -o <tmp> --data fixtures/mnist-test.npz --json [recipe flags]
// and renders the report with mlc's own markdown writer. Latency: 1 intra-op thread, batch 1,
// original and result interleaved in blocks in one process (defaults: 10 warm-up, at least 50
// runs and 2 s); throughput at batch 64.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { passes } from '../dist/passes/registry.js';
import { formatBytes, formatMs } from '../dist/bench/format.js';
import { reportToMarkdown } from '../dist/bench/report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const runs = opt('--runs');
const only = opt('--only');

const FIXTURES = opt('--fixtures') ?? join(root, 'fixtures');
const TEST = opt('--data') ?? join(root, 'fixtures/mnist-test.npz');
const TRAIN = join(root, 'fixtures/mnist-train.npz');
const OUT = opt('--out') ?? join(root, 'benchmarks/results.md');

// Typical flags of each pass (the README's examples). A recipe runs when every flag it uses is
// declared by a registered pass.
const RECIPES = [
  { name: 'prune 50% (global magnitude)', args: ['--prune', '0.5'] },
  { name: 'prune 80% (global magnitude)', args: ['--prune', '0.8'] },
  { name: 'prune 2:4', args: ['--prune-pattern', '2:4'] },
  { name: 'prune 50% of channels', args: ['--prune', '0.5', '--prune-pattern', 'channel', '--prune-scope', 'layer'] },
  { name: 'low-rank 0.5', args: ['--lowrank', '0.5'] },
  { name: 'low-rank 90% energy', args: ['--lowrank-energy', '0.9'] },
  { name: 'int8 dynamic', args: ['--quantize', 'int8'] },
  { name: 'int8 static (minmax, 200 digits)', args: ['--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', TRAIN, '--calibration-samples', '200'] },
  { name: 'int8 weight-only', args: ['--quantize', 'int8', '--quantize-mode', 'weight-only'] },
  { name: 'fp16', args: ['--quantize', 'fp16'] },
  { name: 'int4', args: ['--quantize', 'int4'] },
  { name: 'prune 80% + int8', args: ['--prune', '0.8', '--quantize', 'int8'] },
  { name: 'low-rank 0.5 + int8', args: ['--lowrank', '0.5', '--quantize', 'int8'] },
  { name: 'low-rank 80% energy + distill', args: ['--lowrank-energy', '0.8', '--distill', '--train-data', TRAIN] },
  { name: 'prune 90% + distill', args: ['--prune', '0.9', '--distill', '--train-data', TRAIN] },
  { name: 'prune 90% + distill + int8 (Deep Compression)', args: ['--prune', '0.9', '--distill', '--quantize', 'int8', '--train-data', TRAIN] },
  { name: 'distill into a half-width student', args: ['--student-width', '0.5', '--train-data', TRAIN] },
  {
    name: 'gradual prune 95% + distill + 4-bit weight sharing (recipes/deep-compression.json)',
    args: ['--prune-schedule', '0.5,0.8,0.9,0.95', '--distill', '--epochs', '6', '--cluster-bits', '4', '--cluster-epochs', '2', '--train-data', TRAIN],
  },
];

const declared = new Set();
for (const p of passes) {
  for (const f of p.cli?.flags ?? []) {
    const long = /--[a-z0-9-]+/.exec(f.flags)?.[0];
    if (long) declared.add(long);
  }
}
const SHARED = new Set(['--calibration-data', '--calibration-samples', '--train-data', '--val-data', '--exclude']);
const available = (r) => r.args.filter((a) => a.startsWith('--')).every((a) => declared.has(a) || SHARED.has(a));
const recipes = RECIPES.filter(available).filter((r) => !only || r.name.includes(only));
const covered = new Set(recipes.flatMap((r) => r.args));
const uncovered = passes.filter((p) => !(p.cli?.flags ?? []).some((f) => covered.has(/--[a-z0-9-]+/.exec(f.flags)?.[0])));

const fixtures = existsSync(FIXTURES)
  ? readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.onnx') && !/_(int8|uint8|fp16|q4|pruned|lowrank|distilled|compressed|copy)\.onnx$/.test(f))
      .sort()
  : [];
if (!fixtures.length || !existsSync(TEST)) {
  console.error('results.bench: needs fixtures/*.onnx and fixtures/mnist-test.npz (npm run fixtures)');
  process.exit(1);
}

const tmp = mkdtempSync(join(tmpdir(), 'mlc-results-'));
const bin = join(root, 'bin/mlc.js');
const summary = [];
const sections = [];
for (const fx of fixtures) {
  const model = join(FIXTURES, fx);
  sections.push(`## ${fx}\n`);
  for (const r of recipes) {
    const out = join(tmp, `${basename(fx, '.onnx')}_${summary.length}.onnx`);
    const cmd = ['compress', model, '-o', out, '--data', TEST, '--json', ...(runs ? ['--runs', runs] : []), ...r.args];
    process.stdout.write(`${fx} · ${r.name} ... `);
    const t0 = Date.now();
    const p = spawnSync(process.execPath, [bin, ...cmd], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    let rep;
    try {
      rep = JSON.parse(p.stdout);
    } catch {
      rep = undefined;
    }
    if (!rep || rep.error || (p.status !== 0 && p.status !== 1)) {
      const why = rep?.error?.message ?? (p.stderr.trim().split('\n').pop() || `exit ${p.status}`);
      console.log(`failed (${why})`);
      summary.push({ fx, recipe: r.name, error: why });
      sections.push(`### ${r.name}\n\nfailed: ${why}\n`);
      continue;
    }
    console.log(`${secs} s`);
    // the JSON document carries the same fields as the report object the markdown writer takes
    const report = { ...rep, input: `fixtures/${fx}`, output: `${basename(fx, '.onnx')} · ${r.name}` };
    sections.push(reportToMarkdown(report, `${r.name}  \`mlc compress fixtures/${fx} ${r.args.map((a) => a.replace(root + '/', '')).join(' ')}\``));
    summary.push({ fx, recipe: r.name, rep });
  }
}
rmSync(tmp, { recursive: true, force: true });

const pct = (v) => (v == null ? '—' : `${(v * 100).toFixed(2)}%`);
const lines = [
  '# mlc results',
  '',
  `Generated by \`npm run bench\` (benchmarks/results.bench.mjs) on ${new Date().toISOString().slice(0, 10)},`,
  `node ${process.version}, ${process.platform}/${process.arch}. Accuracy: top-1 on fixtures/mnist-test.npz`,
  '(2,000 held-out MNIST digits); agreement: top-1 agreement with the original on the same digits.',
  'Latency: batch 1, 1 intra-op thread, original and result interleaved in one process; figures on a',
  'shared machine are indicative, ratios more than absolutes.',
  '',
  '| fixture | recipe | size | gzip | non-zero params | accuracy | agreement | p50 before → after | speedup |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
];
for (const s of summary) {
  if (s.error) {
    lines.push(`| ${s.fx} | ${s.recipe} | failed: ${s.error.replace(/\|/g, '\\|')} | | | | | | |`);
    continue;
  }
  const b = s.rep.before;
  const a = s.rep.after;
  lines.push(
    `| ${s.fx} | ${s.recipe} | ${formatBytes(b.sizeBytes)} → ${formatBytes(a.sizeBytes)} | ${formatBytes(b.gzipBytes)} → ${formatBytes(a.gzipBytes)} | ` +
      `${a.nonzeroParams.toLocaleString('en-US')} / ${b.nonzeroParams.toLocaleString('en-US')} | ${pct(b.accuracy)} → ${pct(a.accuracy)} | ${pct(a.agreement)} | ` +
      `${b.latencyMs ? formatMs(b.latencyMs.p50) : '—'} → ${a.latencyMs ? formatMs(a.latencyMs.p50) : '—'} | ${s.rep.speedup == null ? '—' : `${s.rep.speedup.toFixed(2)}x`} |`,
  );
}
if (uncovered.length) {
  lines.push('', `Registered passes without a recipe here yet: ${uncovered.map((p) => p.name).join(', ')}.`);
}
lines.push('', ...sections);
writeFileSync(OUT, lines.join('\n') + '\n');
console.log(`wrote ${OUT} (${summary.length} runs, ${summary.filter((s) => s.error).length} failed)`);
if (summary.some((s) => s.error)) process.exitCode = 1;
