/**
 * Issue 17 ("real models, end to end"): `mlc compress` / `mlc bench` on models with dynamic
 * dimensions and no --shape, inputs onnxruntime rejects, fixed-batch models with N-sample data,
 * and the exit-code contract: 2 means nothing was written; after the write, 0 or 1 (a gate).
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataType, ModelBuilder, type Model } from '../../src/ir/index.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { writeNpz } from '../../src/data/write.js';
import { ensureBuilt, mlc, tempDir, type MlcRun } from './helpers.js';

const FAST = ['--runs', '3', '--warmup', '1'];
let dir: string;

const sinArray = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3));

/** Conv over [N, 3, H, W] (height and width dynamic), global pool, Gemm to 3 classes. */
function imageModel(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('pixels', DataType.FLOAT, ['N', 3, 'height', 'width']);
  const c = b.op('Relu', [b.op('Conv', [x, b.init('conv.w', [8, 3, 3, 3], sinArray(216)), b.init('conv.b', [8], sinArray(8, 2))], { pads: [1, 1, 1, 1] })]);
  const p = b.op('Flatten', [b.op('GlobalAveragePool', [c])]);
  const y = b.op('Gemm', [p, b.init('fc.w', [3, 8], sinArray(24, 3)), b.init('fc.b', [3], [0.1, 0, -0.1])], { transB: 1 });
  b.output(y, DataType.FLOAT, ['N', 3], 'logits');
  return b.build();
}

/** A BERT-like head: input_ids / attention_mask / token_type_ids [batch, sequence] → embedding → pooled → MatMul. */
function tokenModel(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const mask = b.input('attention_mask', DataType.INT64, ['batch', 'sequence']);
  const types = b.input('token_type_ids', DataType.INT64, ['batch', 'sequence']);
  const e = b.op('Add', [b.op('Gather', [b.init('word', [300, 16], sinArray(4800)), ids]), b.op('Gather', [b.init('type', [2, 16], sinArray(32, 5)), types])]);
  const m = b.op('Unsqueeze', [b.op('Cast', [mask], { to: DataType.FLOAT }), b.init('axis', [1], BigInt64Array.from([2n]), DataType.INT64)]);
  const pooled = b.op('ReduceMean', [b.op('Mul', [e, m])], { axes: [1], keepdims: 0 });
  const y = b.op('MatMul', [pooled, b.init('cls', [16, 200], sinArray(3200, 7))]);
  b.output(y, DataType.FLOAT, ['batch', 200], 'logits');
  return b.build();
}

/** Gemm with a corrupted attribute name: onnxruntime refuses it ("Unrecognized attribute"). */
function rejectedModel(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['N', 16]);
  const y = b.op('Gemm', [x, b.init('w', [16, 16], sinArray(256)), b.init('c', [16], sinArray(16, 2))], { alphx: 1 });
  b.output(y, DataType.FLOAT, ['N', 16], 'y');
  return b.build();
}

/** A classifier whose batch dimension is fixed to `batch`. */
function fixedBatchModel(batch: number): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, [batch, 4]);
  const y = b.op('Gemm', [x, b.init('w', [4, 3], sinArray(12, 1.7)), b.init('c', [3], [0, 0.1, 0.2])]);
  b.output(y, DataType.FLOAT, [batch, 3], 'y');
  return b.build();
}

function write(name: string, m: Model): string {
  const p = join(dir, name);
  writeFileSync(p, modelToBytes(m));
  return p;
}

function warnings(r: MlcRun): string[] {
  return r.stderr.split('\n').filter((l) => l.includes('warning:'));
}

function oneLineError(r: MlcRun, code = 2): string {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mlc: /);
  return lines[0];
}

beforeAll(() => {
  ensureBuilt();
  dir = tempDir('mlc-shapes-');
  return () => rmSync(dir, { recursive: true, force: true });
});

describe('compress without --shape or --data', () => {
  it('an image model with dynamic height and width: written, sizes reported, latency skipped with one warning, exit 0', () => {
    const p = write('image.onnx', imageModel());
    const out = join(dir, 'image_out.onnx');
    const r = mlc(['compress', p, '-o', out, '--json', ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    const w = warnings(r);
    expect(w, r.stderr).toHaveLength(1);
    expect(w[0]).toMatch(/input "pixels" \[N, 3, height, width\] has dynamic "height" \(dimension 2\), "width" \(dimension 3\); give it with --shape pixels=1,3,N,N/);
    const doc = JSON.parse(r.stdout);
    expect(doc.before.sizeBytes).toBeGreaterThan(0);
    expect(doc.after.params).toBe(doc.before.params);
    expect(doc.before.latencyMs).toBeNull();
    expect(doc.after.latencyMs).toBeNull();
    expect(doc.speedup).toBeNull();
    expect(doc.settings.notMeasured).toMatch(/--shape pixels=/);
    expect(doc.passed).toBe(true);
  });

  it('the same with a pass (quantize int8), and --shape measures it', () => {
    const p = join(dir, 'image.onnx');
    const out = join(dir, 'image_int8.onnx');
    const r = mlc(['compress', p, '-o', out, '--quantize', 'int8', ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(warnings(r)).toHaveLength(1);
    const s = mlc(['compress', p, '-o', out, '--quantize', 'int8', '--shape', 'pixels=1,3,20,24', '--json', ...FAST]);
    expect(s.code, s.stderr).toBe(0);
    expect(warnings(s)).toEqual([]);
    const doc = JSON.parse(s.stdout);
    expect(doc.after.latencyMs.p50).toBeGreaterThan(0);
    expect(doc.settings.inputShapes).toEqual({ pixels: [1, 3, 20, 24] });
  });

  it('a gate that needs the skipped latency fails (exit 1) instead of passing silently; the model is still written', () => {
    const p = join(dir, 'image.onnx');
    const out = join(dir, 'image_gated.onnx');
    const r = mlc(['compress', p, '-o', out, '--max-latency', '10s', '--max-size', '10MB', ...FAST]);
    expect(r.code, r.stderr).toBe(1);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/gate max-latency failed: actual not measured vs limit 10 s/);
    expect(r.stderr).not.toMatch(/gate max-size failed/);
  });

  it('token inputs sharing [batch, sequence] are measured at batch 1 × 128 with ids inside the vocabulary and ones as mask', () => {
    const p = write('tokens.onnx', tokenModel());
    const out = join(dir, 'tokens_out.onnx');
    const r = mlc(['compress', p, '-o', out, '--json', ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r)).toEqual([]);
    const doc = JSON.parse(r.stdout);
    expect(doc.settings.inputShapes).toEqual({ input_ids: [1, 128], attention_mask: [1, 128], token_type_ids: [1, 128] });
    expect(doc.before.latencyMs.p50).toBeGreaterThan(0);
    expect(doc.after.latencyMs.p50).toBeGreaterThan(0);
    // mlc bench follows the same rules
    const b = mlc(['bench', p, '--json', ...FAST]);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).settings.inputShapes).toEqual(doc.settings.inputShapes);
    // --verbose says how each dimension was chosen
    const v = mlc(['bench', p, '--verbose', ...FAST]);
    expect(v.stderr).toContain('shape: input_ids: "sequence" = 128 (sequence-like name)');
  });

  it('an input onnxruntime cannot run on made-up values is skipped with one warning, not an error', () => {
    // Reshape to a shape read from an int64 input: made-up zeros are not a valid target shape
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 6]);
    const shape = b.input('target', DataType.INT64, [3]);
    b.output(b.op('Reshape', [b.op('Relu', [x]), shape]), DataType.FLOAT, undefined, 'y');
    const p = write('reshape.onnx', b.build());
    const out = join(dir, 'reshape_out.onnx');
    const r = mlc(['compress', p, '-o', out, ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    const w = warnings(r);
    expect(w, r.stderr).toHaveLength(1);
    expect(w[0]).toMatch(/latency not measured: onnxruntime cannot run the model on made-up inputs \(x \[\d, 6\], target \[3\]\).*--shape.*--data/);
    const bench = mlc(['bench', p, ...FAST]);
    expect(bench.code, bench.stderr).toBe(0);
    expect(warnings(bench)).toHaveLength(1);
  });
});

describe('the input is checked by onnxruntime before any pass', () => {
  it('a model onnxruntime rejects: exit 2, one line naming the file and the reason, nothing written', () => {
    const p = write('rejected.onnx', rejectedModel());
    const before = readdirSync(dir).sort();
    for (const args of [[], ['--quantize', 'int8'], ['--prune', '0.5']]) {
      const r = mlc(['compress', p, ...args, ...FAST]);
      const line = oneLineError(r);
      expect(line).toContain(p);
      expect(line).toMatch(/onnxruntime cannot load the input model: .*Unrecognized attribute: alphx.*--no-check/);
      expect(readdirSync(dir).sort()).toEqual(before);
    }
    const j = mlc(['compress', p, '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe('INPUT');
  });

  it('--no-check writes what the passes produce; the measurements that need onnxruntime are skipped with a warning (exit 0)', () => {
    const p = join(dir, 'rejected.onnx');
    const out = join(dir, 'rejected_int8.onnx');
    const r = mlc(['compress', p, '-o', out, '--quantize', 'int8', '--no-check', '--json', ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(warnings(r)).toHaveLength(1);
    expect(warnings(r)[0]).toMatch(/not measured: .*onnxruntime cannot load the model/);
    const doc = JSON.parse(r.stdout);
    expect(doc.passes[0].modified).toBe(true);
    expect(doc.after.latencyMs).toBeNull();
  });

  it('--shape and --data that do not fit the model fail before anything is written', async () => {
    const p = join(dir, 'image.onnx');
    const out = join(dir, 'never.onnx');
    let r = mlc(['compress', p, '-o', out, '--shape', 'pixels=1,4,8,8']);
    expect(oneLineError(r)).toMatch(/--shape pixels=1,4,8,8: dimension 1 is fixed to 3/);
    r = mlc(['compress', p, '-o', out, '--shape', 'image=1,3,8,8']);
    expect(oneLineError(r)).toMatch(/no input "image"/);
    const npz = join(dir, 'wrong.npz');
    await writeNpz(npz, { pixels: { dtype: 'float', dims: [2, 1, 4, 4], data: new Float32Array(32) } });
    r = mlc(['compress', p, '-o', out, '--data', npz]);
    expect(oneLineError(r)).toMatch(/wrong\.npz: input 'pixels'.*dimension 1 must be 3/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('the compress() API', () => {
  it('refuses an input onnxruntime rejects (INPUT, nothing written, beforePasses not called); check: false writes it', async () => {
    const api = await import('../../src/index.js');
    const p = write('rejected-api.onnx', rejectedModel());
    const out = join(dir, 'rejected-api_out.onnx');
    let called = false;
    await expect(api.compress(p, [{ pass: 'quantize', options: { type: 'int8' } }], { output: out, beforePasses: () => void (called = true) })).rejects.toMatchObject({
      code: 'INPUT',
      message: expect.stringMatching(/rejected-api\.onnx: onnxruntime cannot load the input model: .*alphx/),
    });
    expect(called).toBe(false);
    expect(existsSync(out)).toBe(false);
    const r = await api.compress(p, [{ pass: 'quantize', options: { type: 'int8' } }], { output: out, check: false });
    expect(r.passes[0].modified).toBe(true);
    expect(existsSync(out)).toBe(true);
  });

  it('a beforePasses hook that throws stops before any pass and any write', async () => {
    const api = await import('../../src/index.js');
    const p = write('hook.onnx', imageModel());
    const out = join(dir, 'hook_out.onnx');
    await expect(api.compress(p, [], { output: out, beforePasses: () => { throw new api.MlcError('USAGE', 'no thanks'); } })).rejects.toThrow('no thanks');
    expect(existsSync(out)).toBe(false);
  });
});

describe('after the write, the exit code is 0 or 1', () => {
  it('a --report path that cannot be written fails before any work (exit 2, nothing written)', () => {
    const p = join(dir, 'image.onnx');
    const out = join(dir, 'report_never.onnx');
    const r = mlc(['compress', p, '-o', out, '--report', join(dir, 'no-such-folder', 'r.md')]);
    expect(oneLineError(r)).toMatch(/cannot write .*r\.md: folder .* does not exist/);
    expect(existsSync(out)).toBe(false);
  });

  it('with --json too: one JSON document (the error), exit 2, nothing written', () => {
    const p = join(dir, 'image.onnx');
    const out = join(dir, 'report_never_json.onnx');
    const r = mlc(['compress', p, '-o', out, '--prune', '0.5', '--json', '--report', join(dir, 'no-such-folder', 'r.json')]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'OUTPUT', message: expect.stringMatching(/cannot write .*r\.json: folder .* does not exist/) } });
    expect(existsSync(out)).toBe(false);
  });
});

describe('fixed-batch models with N-sample data', () => {
  it.each([1, 4])('batch fixed to %i: every sample is scored, in batches of the fixed size', async (batch) => {
    const p = write(`fixed${batch}.onnx`, fixedBatchModel(batch));
    const n = 10;
    const x = sinArray(n * 4, 0.9);
    // labels: the reference model's own argmax for the first 7 samples, wrong for the last 3
    const w = sinArray(12, 1.7);
    const c = [0, 0.1, 0.2];
    const labels = new BigInt64Array(n);
    for (let s = 0; s < n; s++) {
      let best = 0;
      let bv = -Infinity;
      for (let k = 0; k < 3; k++) {
        let v = c[k];
        for (let i = 0; i < 4; i++) v += x[s * 4 + i] * w[i * 3 + k];
        if (v > bv) [bv, best] = [v, k];
      }
      labels[s] = BigInt(s < 7 ? best : (best + 1) % 3);
    }
    const npz = join(dir, `fixed${batch}.npz`);
    await writeNpz(npz, { x: { dtype: 'float', dims: [n, 4], data: x }, labels: { dtype: 'int64', dims: [n], data: labels } });
    const out = join(dir, `fixed${batch}_out.onnx`);
    const r = mlc(['compress', p, '-o', out, '--data', npz, '--json', '--min-agreement', '1', ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.settings.samples).toBe(n);
    expect(doc.before.accuracy).toBeCloseTo(0.7, 10);
    expect(doc.after.agreement).toBe(1);
    expect(doc.settings.batchSize).toBe(batch);
    const b = mlc(['bench', p, '--data', npz, '--json', ...FAST]);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).before.accuracy).toBeCloseTo(0.7, 10);
  });
});
