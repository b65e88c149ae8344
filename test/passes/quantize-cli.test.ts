/** `mlc compress --quantize ...` end to end through the built CLI, with --json. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpz } from '../../src/data/index.js';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { ensureBuilt, mlc, tempDir } from '../cli/helpers.js';
import { buildCnn, buildMlp, opCounts, uniform } from './quantize-helpers.js';

const compress = (args: string[]) => mlc(['compress', ...args, '--no-latency', '--json']);
let dir: string;
let mlp: string;
let cnn: string;
let calib: string;

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('mlc-quantize-cli-');
  mlp = join(dir, 'mlp.onnx');
  cnn = join(dir, 'cnn.onnx');
  calib = join(dir, 'calib.npz');
  await saveModel(buildMlp(), mlp);
  await saveModel(buildCnn(), cnn);
  await writeNpz(calib, { input: { dtype: 'float32', dims: [16, 1, 8, 8], data: uniform(16 * 64, 1, 3) } as never });
});

describe('mlc compress --quantize', () => {
  it('int8 (dynamic by default) writes <name>_int8.onnx and reports the pass', async () => {
    const r = compress([mlp, '--quantize', 'int8']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const out = join(dir, 'mlp_int8.onnx');
    expect(doc.output).toBe(out);
    expect(doc.passes).toHaveLength(1);
    expect(doc.passes[0]).toMatchObject({ name: 'quantize', modified: true, stats: { type: 'int8', mode: 'dynamic', quantized: 3 }, skipped: [] });
    expect(doc.after.sizeBytes).toBeLessThan(0.35 * doc.before.sizeBytes);
    expect(opCounts(await loadModel(out)).DynamicQuantizeMatMul).toBe(3);
  });

  it('fp16, int4 and uint8 weight-only name their outputs _fp16, _q4, _uint8_weight_only', async () => {
    for (const [args, suffix, op] of [
      [['--quantize', 'fp16'], '_fp16', 'Cast'],
      [['--quantize', 'int4', '--int4-block-size', '16', '--int4-compute', 'nbits'], '_q4', 'MatMulNBits'],
      [['--quantize', 'uint8', '--quantize-mode', 'weight-only', '--no-per-channel'], '_uint8_weight_only', 'DequantizeLinear'],
    ] as const) {
      const r = compress([mlp, ...args]);
      expect(r.code, r.stderr).toBe(0);
      const out = join(dir, `mlp${suffix}.onnx`);
      expect(JSON.parse(r.stdout).output).toBe(out);
      expect(opCounts(await loadModel(out))[op]).toBeGreaterThan(0);
    }
  });

  it('--exclude and --op-types leave nodes alone and list them', async () => {
    const out = join(dir, 'mlp_partial.onnx');
    const r = compress([mlp, '--quantize', 'int8', '--exclude', 'mm1', '--op-types', 'MatMul', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.passes[0].skipped).toEqual([{ node: 'mm1', reason: 'excluded' }]);
    const c = opCounts(await loadModel(out));
    expect([c.MatMul, c.Gemm, c.DynamicQuantizeMatMul]).toEqual([1, 1, 1]);
  });

  it('static with --calibration-data and --calibration-method; without data it is a usage error', async () => {
    const r = compress([cnn, '--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', calib, '--calibration-method', 'percentile']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    // conv1's 36-element weight is below the default minElements (128): tiny tensors stay float
    expect(doc.passes[0].stats).toMatchObject({ mode: 'static', calibration: 'percentile', Conv: 1, Gemm: 1 });
    expect(doc.passes[0].skipped).toEqual([{ node: 'conv1', reason: expect.stringMatching(/tiny/) }]);
    expect(opCounts(await loadModel(join(dir, 'cnn_int8_static.onnx'))).QuantizeLinear).toBeGreaterThan(0);

    const out = join(dir, 'never.onnx');
    const bad = compress([cnn, '--quantize', 'int8', '--quantize-mode', 'static', '-o', out]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.message).toMatch(/calibration data/);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects a bad block size', () => {
    const r = compress([mlp, '--quantize', 'int4', '--int4-block-size', '20']);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/power of two/);
  });
});
