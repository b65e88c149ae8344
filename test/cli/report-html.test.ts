/** `--report <file>.html` on mlc compress and mlc bench: the HTML page; other names: markdown as before. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, mlc, ROOT, tempDir } from './helpers.js';

const CNN = join(ROOT, 'fixtures/mnist-cnn.onnx');
const DATA = join(ROOT, 'fixtures/mnist-test.npz');

describe('--report r.html', () => {
  beforeAll(() => ensureBuilt(), 300_000);

  it('mlc compress writes the HTML report (per-layer int8 bytes, latency runs); .md stays markdown; --json has no samples or layers', () => {
    const dir = tempDir();
    const html = join(dir, 'r.HTML');
    const out = join(dir, 'q.onnx');
    const r = mlc(['compress', CNN, '--quantize', 'int8', '--data', DATA, '-o', out, '--runs', '20', '--warmup', '2', '--report', html, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    for (const id of ['summary', 'size', 'layers', 'latency']) expect(page).toContain(`<section id="${id}"`);
    expect(page).toContain('/fc1/Gemm');
    expect(page).toMatch(/\/fc1\/Gemm \(after\): int8 /);
    expect(page).toMatch(/<title>after: \d+ run\(s\) in /);
    expect(page).not.toMatch(/<script/i);
    const doc = JSON.parse(r.stdout);
    expect(doc.layers).toBeUndefined();
    expect(doc.before.latencyMs.samples).toBeUndefined();
    expect(doc.before.latencyMs.p50).toBeGreaterThan(0);

    const md = join(dir, 'r.md');
    const b = mlc(['bench', CNN, '--no-latency', '--report', md]);
    expect(b.code, b.stderr).toBe(0);
    expect(readFileSync(md, 'utf8')).toMatch(/^### mlc bench: /);
  }, 120_000);

  it('mlc bench of one model writes the HTML report of that model; a report that cannot be written fails the command and leaves no file', () => {
    const dir = tempDir();
    const html = join(dir, 'b.html');
    const r = mlc(['bench', CNN, '--no-latency', '--report', html]);
    expect(r.code, r.stderr).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<title>mlc bench: ');
    expect(page).toContain('<section id="layers"');
    expect(page).not.toContain('<section id="latency"');

    const bad = join(dir, 'no-such-dir', 'b.html');
    const e = mlc(['bench', CNN, '--no-latency', '--report', bad]);
    expect(e.code).not.toBe(0);
    expect(existsSync(bad)).toBe(false);
  }, 120_000);
});
