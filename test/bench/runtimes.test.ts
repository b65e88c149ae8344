/** `--runtime` on mlc bench and mlc compress: the same figures from every runtime, side by side. */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasChromium } from '../../src/runtime/browser.js';
import { ensureBuilt, mlc, tempDir } from '../cli/helpers.js';

const haveChromium = hasChromium();

beforeAll(() => ensureBuilt());

interface RuntimeDoc {
  runtime: string;
  before: { latencyMs: { p50: number } | null; accuracy: number | null };
  after: { cosine: number | null; agreement: number | null; accuracy: number | null; latencyMs: { p50: number } | null } | null;
  speedup: number | null;
  notMeasured: string | null;
}

describe('--runtime', () => {
  it('bad names are usage errors (exit 2)', () => {
    const r = mlc(['bench', 'fixtures/mnist-mlp.onnx', '--runtime', 'node,gpu']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown runtime "gpu"/);
  });

  it('a missing Chromium is a usage error before any work (exit 2, nothing written)', () => {
    const d = tempDir();
    try {
      const r = mlc(['compress', 'fixtures/mnist-mlp.onnx', '--quantize', 'int8', '-o', join(d, 'q.onnx'), '--runtime', 'node,browser'], {
        env: { MLC_CHROMIUM: join(d, 'no-chromium') },
      });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/MLC_CHROMIUM is .*no-chromium, which does not exist/);
      expect(readdirSync(d)).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('mlc compress --runtime node,wasm: one row per runtime with latency, accuracy and fidelity; gates read the first', () => {
    const d = tempDir();
    try {
      const out = join(d, 'q.onnx');
      const r = mlc([
        'compress', 'fixtures/mnist-mlp.onnx', '--quantize', 'int8', '-o', out, '--runtime', 'wasm,node',
        '--data', 'fixtures/mnist-test.npz', '--runs', '5', '--warmup', '2', '--json', '--min-agreement', '0.97',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.settings.runtime).toBe('wasm');
      const rows = doc.runtimes as RuntimeDoc[];
      expect(rows.map((x) => x.runtime)).toEqual(['wasm', 'node']);
      for (const x of rows) {
        expect(x.notMeasured).toBeNull();
        expect(x.before.latencyMs!.p50).toBeGreaterThan(0);
        expect(x.after!.latencyMs!.p50).toBeGreaterThan(0);
        expect(x.after!.cosine!).toBeGreaterThan(0.99);
        expect(x.before.accuracy!).toBeGreaterThan(0.9);
      }
      // (not equal: onnxruntime-node's u8·s8 kernels saturate on x86-64 without VNNI, the wasm ones do not)
      // the report's before/after are the first runtime's
      expect(doc.after.cosine).toBe(rows[0].after!.cosine);
      expect(doc.gates[0]).toMatchObject({ name: 'min-agreement', passed: true });
      expect(readdirSync(d)).toEqual(['q.onnx']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it.skipIf(!haveChromium)('mlc bench --runtime browser: the page measures, and the webgpu row is measured or says why not', () => {
    const r = mlc(['bench', 'fixtures/mnist-cnn.onnx', '--compare', 'fixtures/mnist-cnn.onnx', '--runtime', 'node,browser', '--data', 'fixtures/mnist-test.npz', '--runs', '5', '--warmup', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('by runtime'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 2]).toMatch(/^ {2}node +\S+ (µs|ms) +\S+ (µs|ms)/);
    expect(lines[at + 3]).toMatch(/^ {2}browser +\S+ (µs|ms) +\S+ (µs|ms) .* 1\.000000/);
    expect(lines[at + 4]).toMatch(/^ {2}webgpu +(not measured: not available: .+|\S+ (µs|ms) .*)$/);
    expect(existsSync('fixtures/mnist-cnn_copy.onnx')).toBe(false);
  });
});
