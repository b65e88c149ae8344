/**
 * `mlc sensitivity` and `mlc tune` end to end on the MNIST MLP fixture with 500 samples: the
 * reports, the written model and recipe (which `mlc compress --recipe` re-runs to the same bytes),
 * and bad input (exit 2, nothing written).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpz, writeNpz } from '../../src/data/index.js';
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

  it('refuses bad input with exit 2 and writes nothing', () => {
    const out = join(dir, 'never.onnx');
    const cases = [
      ['--objective', 'size', '-o', out], // no budget
      ['--max-accuracy-drop', '1', '--min-agreement', '0.9', '-o', out], // two budgets
      ['--max-accuracy-drop', '-1', '-o', out],
      ['--max-accuracy-drop', '1', '--time-budget', 'soon', '-o', out],
      ['--max-accuracy-drop', '1', '--passes', 'quantize,distill', '-o', out],
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
