// `mlc tune` against the targets of issue 14, each search run as the CLI runs it (its own process,
// --json), with its wall time:
//   1. CNN fixture, --objective latency --max-accuracy-drop 0.3 (quantize): faster than fp32 at
//      batch 1, or the tuner says no candidate is and keeps fp32;
//   2. MLP fixture, --objective gzip --max-accuracy-drop 0.5 with prune, lowrank and quantize:
//      gzip ≤ 1/25 of fp32, within 10 minutes;
//   3. a BERT-like encoder (src/models/encoder.ts: hidden 256, 4 heads, ffn 1024, 4 layers, seq 32,
//      token ids, seeded random weights) on 600 seeded random samples (no labels),
//      --objective size --min-agreement 0.99: a recipe that meets it, within 10 minutes;
//   4. MLP fixture, --objective gzip --max-accuracy-drop 0.3 with prune and distill: the near misses
//      distilled (each against the one it came from);
//   5. CNN fixture, --objective latency --max-accuracy-drop 0.3 with quantize and prune (channel
//      pruning can make it faster): the confident timing's interval and the held-out re-check;
//   6. the target of 2 on MLPs the repository did not train with an L2 penalty (mlp-plain: mlc's
//      trainer with --l2=0; torch-mlp: PyTorch, Adam, no weight decay; skipped without torch);
//   and, for each, the held-out figure beside the tuning one, the rule that picked the winner and
//   the held-out checks it made (a candidate whose held-out figure misses the budget is set aside);
//   plus `mlc sensitivity` on the encoder (every weight layer, int8 dynamic) with its wall time.
//   The load average is printed first and last: figures from a loaded machine are slower.
//
//   npm run build && node benchmarks/tune.bench.mjs [cnn] [mlp] [mlp-plain] [torch-mlp] [encoder] [distill] [cnn-prune]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
const want = (k) => only.length === 0 || only.includes(k);
const dir = mkdtempSync(join(tmpdir(), 'mlc-tune-bench-'));
const bin = join(root, 'bin/mlc.js');
const fixtures = join(root, 'fixtures');

function tune(model, data, args, name) {
  const out = join(dir, `${name}-tuned.onnx`);
  const recipe = join(dir, `${name}-tuned.json`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bin, 'tune', model, '--data', data, ...args, '-o', out, '--save-recipe', recipe, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = (Date.now() - t0) / 1000;
  // exit 1: no candidate met the budget (the JSON report still says what was tried)
  if (r.status !== 0 && r.status !== 1) throw new Error(`mlc tune ${name} exited ${r.status}: ${r.stderr}`);
  return { doc: JSON.parse(r.stdout), seconds, recipe };
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(', ');
console.log(`load average (1, 5, 15 min): ${load()}`);

const pct = (f) => (f === null || f === undefined ? '-' : `${(f * 100).toFixed(2)}%`);

function show(name, { doc, seconds }, objectiveText) {
  const t = doc.tune;
  const c = t.chosen === null ? null : t.candidates[t.chosen];
  console.log(`\n${name}: ${t.candidates.length} candidates, search ${t.seconds.toFixed(1)} s (process ${seconds.toFixed(1)} s); split ${doc.split.tuning} tuning / ${doc.split.heldOut} held-out`);
  console.log(`  original: ${objectiveText(t.baseline.objective)}, ${t.metric} ${pct(t.baseline.score)} tuning, ${pct(t.baseline.heldOutScore)} held-out`);
  if (!c) {
    console.log(`  kept the original: ${doc.keptOriginal} (${t.choice.heldOutChecks} held-out check(s))`);
    for (const x of t.candidates.filter((x) => x.speedup)) console.log(`  timed:    ${JSON.stringify(x.recipe.map((s) => s.options?.mode ?? s.options?.type ?? s.pass))} ${speedupText(x.speedup)}`);
    return { t, c };
  }
  console.log(`  chosen:   ${objectiveText(c.objective)}, ${t.metric} ${pct(c.score)} tuning, ${pct(c.heldOutScore)} held-out`);
  console.log(`  recipe:   ${JSON.stringify(c.recipe)}`);
  if (c.speedup) console.log(`  speedup:  ${speedupText(c.speedup)}`);
  console.log(`  rule:     ${t.choice.rule} (${t.choice.heldOutChecks} held-out check(s))`);
  return { t, c };
}

const speedupText = (s) => `${s.median.toFixed(3)}× (${(s.level * 100).toFixed(2)}% interval ${s.ci ? `${s.ci[0].toFixed(3)}–${s.ci[1].toFixed(3)}` : 'none'}, ${s.rounds} rounds: ${s.verdict} against ${s.threshold.toFixed(3)}×)`;

const verdict = (ok) => (ok ? 'MET' : 'NOT MET');

// the held-out drop against the budget at the split's resolution, as the tuner compares it
// (0.945 - 0.94 is 0.5000000000000004 points in floating point: 3 digits of 600, within 0.5)
const heldOutWithin = (t, c, points) => 100 * (t.baseline.heldOutScore - c.heldOutScore) <= points + 1e-9;

// the gzip floor, its size and its time apart (a loaded machine stretches the wall time: the CPU
// seconds of the search say how much of it the search had)
const gzipVerdict = (t, ratio) =>
  `target gzip ≤ 1/25 of fp32: ${verdict(ratio >= 25)} (1/${ratio.toFixed(1)}); in ≤ 10 min: ${verdict(t.seconds <= 600)} (${t.seconds.toFixed(0)} s wall, ${t.cpuSeconds?.toFixed(0) ?? '?'} CPU s${t.timedOut ? ', stopped by the time budget' : ''})`;

if (want('cnn')) {
  const r = tune(join(fixtures, 'mnist-cnn.onnx'), join(fixtures, 'mnist-test.npz'), ['--objective', 'latency', '--max-accuracy-drop', '0.3'], 'cnn');
  const { t, c } = show('CNN, latency, max drop 0.3 pt', r, (ms) => `${ms.toFixed(3)} ms p50 batch 1`);
  const heldOk = !c || 100 * (t.baseline.heldOutScore - c.heldOutScore) <= 0.3;
  console.log(`  target (faster than fp32, or says none is and keeps fp32): ${verdict(c ? c.objective < t.baseline.objective : r.doc.keptOriginal !== undefined)}; speedup ${c ? (t.baseline.objective / c.objective).toFixed(2) : '1.00 (fp32 kept)'}×; held-out within budget: ${verdict(heldOk)}`);
}

if (want('cnn-prune')) {
  const r = tune(join(fixtures, 'mnist-cnn.onnx'), join(fixtures, 'mnist-test.npz'), ['--objective', 'latency', '--max-accuracy-drop', '0.3', '--passes', 'quantize,prune'], 'cnn-prune');
  const { t, c } = show('CNN, latency, max drop 0.3 pt, quantize + prune', r, (ms) => `${ms.toFixed(3)} ms p50 batch 1`);
  for (const x of t.candidates.filter((x) => x.heldOutScore !== null && !x.chosen)) {
    console.log(`  set aside: ${pct(x.score)} tuning, ${pct(x.heldOutScore)} held-out (${(100 * (t.baseline.heldOutScore - x.heldOutScore)).toFixed(2)} pt) — ${JSON.stringify(x.recipe)}`);
  }
  console.log(`  held-out drop within 0.3 pt: ${verdict(!c || 100 * (t.baseline.heldOutScore - c.heldOutScore) <= 0.3 + 1e-9)}`);
}

if (want('mlp')) {
  const r = tune(join(fixtures, 'mnist-mlp.onnx'), join(fixtures, 'mnist-test.npz'), ['--objective', 'gzip', '--max-accuracy-drop', '0.5', '--passes', 'quantize,prune,lowrank'], 'mlp');
  const { t, c } = show('MLP, gzip, max drop 0.5 pt, quantize + prune + lowrank', r, (b) => `${(b / 1000).toFixed(1)} kB gzip`);
  const ratio = c ? t.baseline.objective / c.objective : 1;
  console.log(`  ${gzipVerdict(t, ratio)}; held-out within budget: ${verdict(c && heldOutWithin(t, c, 0.5))}`);
}

// MLPs the repository did not train the way its fixture was (no L2 penalty): the same gzip target.
//   mlp-plain: mlc's own trainer with --l2=0 (6 epochs; needs TensorFlow.js, skipped without);
//   torch-mlp: PyTorch, Adam, no weight decay, 5 epochs (benchmarks/torch/train-mlp.py; skipped
//   without python3 and torch), exported by torch.onnx.export.
function gzipTarget(name, model, label) {
  const r = tune(model, join(fixtures, 'mnist-test.npz'), ['--objective', 'gzip', '--max-accuracy-drop', '0.5', '--passes', 'quantize,prune,lowrank'], name);
  const { t, c } = show(label, r, (b) => `${(b / 1000).toFixed(1)} kB gzip`);
  const ratio = c ? t.baseline.objective / c.objective : 1;
  const drop = (s) => (100 * (t.baseline.heldOutScore - s)).toFixed(2);
  console.log(`  search: ${t.seconds.toFixed(0)} s wall, ${t.cpuSeconds?.toFixed(0) ?? '?'} CPU s`);
  console.log(
    `  ${gzipVerdict(t, ratio)}; drop tuning ${c ? (100 * (t.baseline.score - c.score)).toFixed(2) : '-'} pt, held-out ${c ? drop(c.heldOutScore) : '-'} pt: ${verdict(c && heldOutWithin(t, c, 0.5))}`,
  );
}

if (want('mlp-plain')) {
  const out = join(dir, 'plain');
  const tr = spawnSync(process.execPath, [join(root, 'dist/train/fixtures.js'), out, '--mlp', '--l2=0', '--epochs=6'], { encoding: 'utf8' });
  if (tr.status !== 0) console.log(`
mlp-plain: skipped (training failed: ${(tr.stderr || '').trim().split('\n').pop()})`);
  else gzipTarget('mlp-plain', join(out, 'mnist-mlp.onnx'), 'MLP trained without L2 (mlc trainer, 6 epochs), gzip, max drop 0.5 pt, quantize + prune + lowrank');
}

if (want('torch-mlp')) {
  const model = join(dir, 'torch-mlp.onnx');
  const tr = spawnSync('python3', [join(root, 'benchmarks/torch/train-mlp.py'), join(fixtures, 'mnist-train.npz'), model, '5'], { encoding: 'utf8' });
  if (tr.status !== 0) console.log(`
torch-mlp: skipped (python3 with torch needed: ${(tr.stderr || tr.error?.message || '').trim().split('\n').pop()})`);
  else gzipTarget('torch-mlp', model, 'MLP trained by PyTorch (Adam, no weight decay, 5 epochs), gzip, max drop 0.5 pt, quantize + prune + lowrank');
}

if (want('encoder')) {
  const { buildEncoder, encoderInputs } = await import('../dist/models/encoder.js');
  const { saveModel } = await import('../dist/onnx/index.js');
  const { writeNpz } = await import('../dist/data/index.js');
  const opts = { hidden: 256, heads: 4, ffn: 1024, layers: 4, seq: 32, vocab: 1000, seed: 1 };
  const model = join(dir, 'encoder.onnx');
  await saveModel(buildEncoder(opts), model);
  const data = join(dir, 'encoder.npz');
  await writeNpz(data, encoderInputs(opts, 600, 11));
  // the per-layer analysis alone, as `mlc sensitivity` runs it
  const s0 = Date.now();
  const sr = spawnSync(process.execPath, [bin, 'sensitivity', model, '--data', data, '--samples', '200', '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (sr.status !== 0) throw new Error(`mlc sensitivity exited ${sr.status}: ${sr.stderr}`);
  const sens = JSON.parse(sr.stdout).sensitivity;
  const worst = [...sens.rows].sort((a, b) => b.drop - a.drop)[0];
  console.log(`\nBERT-like encoder, mlc sensitivity (quantize int8 dynamic, 200 samples): ${sens.rows.length} layers in ${sens.seconds.toFixed(1)} s (process ${((Date.now() - s0) / 1000).toFixed(1)} s); most sensitive ${worst.node} (${worst.drop.toFixed(2)} pt)`);
  const r = tune(model, data, ['--objective', 'size', '--min-agreement', '0.99'], 'encoder');
  const { t, c } = show('BERT-like encoder, size, min agreement 0.99 (no labels)', r, (b) => `${(b / 1e6).toFixed(2)} MB`);
  console.log(`  target (a recipe meeting it in ≤ 10 min): ${verdict(!!c && t.seconds <= 600)}; ${c ? `${(t.baseline.objective / c.objective).toFixed(2)}× smaller` : ''}; held-out agreement ≥ 0.99: ${verdict(c && c.heldOutScore >= 0.99)}`);
}

if (want('distill')) {
  const r = tune(join(fixtures, 'mnist-mlp.onnx'), join(fixtures, 'mnist-test.npz'), ['--objective', 'gzip', '--max-accuracy-drop', '0.3', '--passes', 'prune,distill'], 'mlp-distill');
  const { t } = show('MLP, gzip, max drop 0.3 pt, prune + distill', r, (b) => `${(b / 1000).toFixed(1)} kB gzip`);
  for (const d of t.distilled) {
    const f = t.candidates[d.from];
    const c = d.candidate === null ? null : t.candidates[d.candidate];
    console.log(
      `  distilled #${d.from + 1} (${pct(f.score)} tuning) in ${d.seconds.toFixed(1)} s: ${c ? `#${d.candidate + 1}, ${pct(c.score)} tuning, in budget: ${c.meetsBudget ? 'yes' : 'no'}${c.chosen ? ', chosen' : ''}` : 'training did not improve on its start'}`,
    );
  }
  if (!t.distilled.length) console.log('  no near miss to distill (none within twice the budget that would beat the best)');
}

console.log(`\nload average (1, 5, 15 min): ${load()}`);
rmSync(dir, { recursive: true, force: true });
