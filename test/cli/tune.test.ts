/**
 * `mlc sensitivity` and `mlc tune` end to end on the MNIST MLP fixture with 500 samples: the
 * reports, the written model and recipe (which `mlc compress --recipe` re-runs to the same bytes),
 * and bad input (exit 2, nothing written).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sliceDataset } from '../../src/data/batch.js';
import { loadDataset, readNpz, writeNpz } from '../../src/data/index.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { makeApplier } from '../../src/tune/apply.js';
import { ensureBuilt, mlc, ROOT, tempDir } from './helpers.js';

const MLP = join(ROOT, 'fixtures/mnist-mlp.onnx');
let dir: string;
let data: string;
let unlabelled: string;

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('mlc-tune-');
  const all = await readNpz(join(ROOT, 'fixtures/mnist-test.npz'));
  const n = 500;
  const input = { dtype: all.input.dtype, dims: [n, ...all.input.dims.slice(1)], data: all.input.data.slice(0, n * 784) };
  data = join(dir, 'val.npz');
  unlabelled = join(dir, 'unlabelled.npz');
  await writeNpz(data, { input, labels: { dtype: all.labels.dtype, dims: [n], data: all.labels.data.slice(0, n) } });
  await writeNpz(unlabelled, { input });
}, 120_000);

describe('mlc sensitivity', () => {
  it('prints a table sorted by drop, and the report with --json', () => {
    const html = join(dir, 'sensitivity.html');
    const r = mlc(['sensitivity', MLP, '--data', data, '--samples', '200', '--no-gzip', '--json', '--report', html]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    // the HTML report draws the sensitivity bars, one per probed layer
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!doctype html>/i);
    expect(page).toContain('Sensitivity');
    for (const row of doc.sensitivity.rows) expect(page).toContain(row.node);
    expect(doc.sensitivity.metric).toBe('accuracy');
    expect(doc.sensitivity.rows).toHaveLength(3);
    expect(doc.sensitivity.rows[0]).toMatchObject({ op: 'Gemm', pass: 'quantize int8 dynamic', gzipBytesSaved: null });
    const t = mlc(['sensitivity', MLP, '--data', unlabelled, '--passes', 'prune', '--sparsity', '0.7', '--samples', '100', '--no-profile']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/agreement 100\.00% \(original\)/);
    const lines = t.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^node\s+op\s+pass\s+drop/);
    const drops = lines.slice(2).map((l) => Number(l.split(/\s{2,}/)[3]));
    expect(drops).toHaveLength(3);
    expect([...drops].sort((a, b) => b - a)).toEqual(drops);
  });

  it('refuses bad flags with exit 2', () => {
    expect(mlc(['sensitivity', MLP, '--data', data, '--passes', 'distill']).code).toBe(2);
    expect(mlc(['sensitivity', MLP, '--data', data, '--samples', '0']).code).toBe(2);
    expect(mlc(['sensitivity', MLP]).code).toBe(2);
  });
});

describe('mlc tune', () => {
  it('writes the chosen model and a recipe that mlc compress re-runs to the same bytes', () => {
    const out = join(dir, 'tuned.onnx');
    const recipe = join(dir, 'tuned.json');
    const r = mlc(['tune', MLP, '--data', data, '--objective', 'size', '--max-accuracy-drop', '1', '-o', out, '--save-recipe', recipe, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const t = doc.tune;
    expect(doc.split).toEqual({ tuning: 350, heldOut: 150, seed: 42 });
    expect(t.objective).toBe('size');
    expect(t.candidates.length).toBeGreaterThanOrEqual(4);
    expect(t.chosen).not.toBeNull();
    const c = t.candidates[t.chosen];
    expect(c).toMatchObject({ chosen: true, pareto: true, meetsBudget: true });
    expect(c.objective).toBeLessThan(t.baseline.objective / 3);
    expect(c.heldOutScore).toBeGreaterThan(0.8);
    expect(100 * (t.baseline.score - c.score)).toBeLessThanOrEqual(1 + 1e-9);
    // the chosen one is the smallest within the budget
    for (const o of t.candidates) if (o.meetsBudget) expect(o.objective).toBeGreaterThanOrEqual(c.objective);
    expect(JSON.parse(readFileSync(recipe, 'utf8'))).toEqual(c.recipe);
    expect(readFileSync(out).length).toBe(c.objective);
    const again = join(dir, 'again.onnx');
    const re = mlc(['compress', MLP, '--recipe', recipe, '--calibration-data', data, '-o', again, '--no-latency']);
    expect(re.code).toBe(0);
    expect(readFileSync(again).equals(readFileSync(out))).toBe(true);
  });

  it('prints the Pareto front and tuning vs held-out; min-agreement works without labels', () => {
    const md = join(dir, 'tune.md');
    const r = mlc(['tune', MLP, '--data', unlabelled, '--objective', 'gzip', '--min-agreement', '0.98', '--report', md]);
    expect(r.code).toBe(0);
    // a markdown report: one table row per candidate, the chosen one in bold
    const report = readFileSync(md, 'utf8');
    expect(report).toMatch(/^## mlc tune: /);
    expect(report).toMatch(/^\| \*\*\d+\*\* \|/m);
    expect(r.stdout).toMatch(/Pareto front/);
    expect(r.stdout).toMatch(/agreement \(tuning\)\s+agreement \(held-out\)/);
    expect(r.stdout).toMatch(/^tuned\s/m);
  });

  it('--passes lowrank,distill: near misses distilled on the tuning samples only; mlc compress --recipe --train-data re-runs one to the same bytes', async () => {
    const r = mlc(['tune', MLP, '--data', data, '--objective', 'size', '--max-accuracy-drop', '1.2', '--passes', 'lowrank,distill', '--distill-epochs', '4', '--margin', '1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout).tune;
    expect(t.budget).toEqual({ maxAccuracyDrop: 1.2, margin: 1 });
    const distilled = t.candidates.filter((c: { distilledFrom?: number }) => c.distilledFrom !== undefined);
    expect(distilled.length).toBeGreaterThan(0);
    const d = distilled[0];
    const from = t.candidates[d.distilledFrom];
    expect(t.distilled).toContainEqual(expect.objectContaining({ from: d.distilledFrom, candidate: t.candidates.indexOf(d) }));
    // a near miss: out of the budget, by at most twice it (the loss counts one standard error)
    const loss = 100 * (t.baseline.score - from.score) + 100 * from.se;
    expect(from.meetsBudget).toBe(false);
    expect(loss).toBeGreaterThan(1.2);
    expect(loss).toBeLessThanOrEqual(2.4 + 1e-9);
    // trained on the 350 tuning samples: the held-out ones (the last 150) are not in its data
    expect(d.recipe).toEqual([...from.recipe, { pass: 'distill', options: { epochs: 4, trainSamples: 350 } }]);
    const recipe = join(dir, 'distilled.json');
    writeFileSync(recipe, JSON.stringify(d.recipe));
    const out = join(dir, 'distilled.onnx');
    const re = mlc(['compress', MLP, '--recipe', recipe, '--train-data', data, '-o', out, '--no-latency']);
    expect(re.code).toBe(0);
    // what the tuner built and scored (its applier, the tuning range as training data)
    const model = await loadModel(MLP);
    const ds = await loadDataset(data, model);
    const applier = makeApplier(model, { calibration: sliceDataset(ds, 0, 350), train: sliceDataset(ds, 0, 350), seed: 42 });
    try {
      const bytes = modelToBytes((await applier.apply(d.recipe)).model);
      expect(bytes.length).toBe(d.objective);
      expect(Buffer.from(bytes).equals(readFileSync(out))).toBe(true);
    } finally {
      await applier.release();
    }
  }, 120_000);

  it('refuses bad input with exit 2 and writes nothing', () => {
    const out = join(dir, 'never.onnx');
    const cases = [
      ['--objective', 'size', '-o', out], // no budget
      ['--max-accuracy-drop', '1', '--min-agreement', '0.9', '-o', out], // two budgets
      ['--max-accuracy-drop', '-1', '-o', out],
      ['--max-accuracy-drop', '1', '--time-budget', 'soon', '-o', out],
      ['--max-accuracy-drop', '1', '--passes', 'quantize,distill', '-o', out], // distill needs prune or lowrank
      ['--max-accuracy-drop', '1', '--margin', '-1', '-o', out],
      ['--max-accuracy-drop', '1', '--distill-epochs', '0', '-o', out],
    ];
    for (const c of cases) {
      const r = mlc(['tune', MLP, '--data', data, ...c]);
      expect(r.code, c.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const nolabels = mlc(['tune', MLP, '--data', unlabelled, '--max-accuracy-drop', '1', '-o', out]);
    expect(nolabels.code).toBe(2);
    expect(nolabels.stderr).toMatch(/needs labels/);
    expect(mlc(['tune', MLP, '--data', data, '--max-accuracy-drop', '1', '-o', MLP]).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

describe('mlc tune time budget', () => {
  it('stops at the budget, keeps the original and writes nothing (exit 1: no candidate met the budget)', () => {
    const out = join(dir, 'late.onnx');
    const r = mlc(['tune', MLP, '--data', data, '--max-accuracy-drop', '1', '--time-budget', '1ms', '-o', out, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.tune).toMatchObject({ timedOut: true, chosen: null, candidates: [] });
    expect(doc.keptOriginal).toMatch(/time budget ran out/);
    expect(doc.output).toBeNull();
    expect(existsSync(out)).toBe(false);
  });
});
