/**
 * On the real fixtures (fixtures/mnist-mlp.onnx, fixtures/mnist-test.npz): mlc's accuracy equals an
 * independent evaluation — the .npz unzipped with fflate and parsed here, the model run with a
 * plain onnxruntime-node loop — and the CLI gates flip between exit 0 and exit 1 around it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { measureModels } from '../../src/bench/index.js';
import { loadDataset } from '../../src/data/index.js';
import { loadModel } from '../../src/onnx/index.js';
import { gzipSync } from 'node:zlib';
import { ensureBuilt, mlc, ROOT, tempDir } from '../cli/helpers.js';

const MODEL = join(ROOT, 'fixtures/mnist-mlp.onnx');
const DATA = join(ROOT, 'fixtures/mnist-test.npz');
const have = existsSync(MODEL) && existsSync(DATA);

/** Minimal .npy reader: little-endian <f4 / <i8 arrays, C order (what the fixtures hold). */
function npy(bytes: Uint8Array): { descr: string; shape: number[]; data: Float32Array | BigInt64Array } {
  const headerLen = bytes[8] | (bytes[9] << 8);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').filter((s) => s.trim()).map(Number);
  const body = bytes.slice(10 + headerLen);
  const data = descr === '<f4' ? new Float32Array(body.buffer) : descr === '<i8' ? new BigInt64Array(body.buffer) : null;
  if (!data) throw new Error(`unexpected dtype ${descr}`);
  return { descr, shape, data };
}

async function independentAccuracy(modelPath = MODEL): Promise<{ accuracy: number; n: number }> {
  const files = unzipSync(readFileSync(DATA));
  const x = npy(files['input.npy']);
  const y = npy(files['labels.npy']);
  const [n, d] = x.shape;
  const s = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const inName = s.inputNames[0];
  const outName = s.outputNames[0];
  let correct = 0;
  for (let i = 0; i < n; i += 500) {
    const m = Math.min(500, n - i);
    const out = await s.run({ [inName]: new ort.Tensor('float32', (x.data as Float32Array).slice(i * d, (i + m) * d), [m, d]) });
    const logits = out[outName].data as Float32Array;
    const c = logits.length / m;
    for (let r = 0; r < m; r++) {
      let best = 0;
      for (let k = 1; k < c; k++) if (logits[r * c + k] > logits[r * c + best]) best = k;
      if (BigInt(best) === (y.data as BigInt64Array)[i + r]) correct++;
    }
  }
  await s.release();
  return { accuracy: correct / n, n };
}

describe.skipIf(!have)('on the MNIST fixtures', () => {
  it('accuracy equals an independent onnxruntime evaluation, in the API and the CLI', async () => {
    const ref = await independentAccuracy();
    expect(ref.n).toBe(2000);
    expect(ref.accuracy).toBeGreaterThan(0.9);
    const model = await loadModel(MODEL);
    const data = await loadDataset(DATA, model);
    const m = await measureModels({ model, path: MODEL }, undefined, { data, latency: false, batchSize: 128 });
    expect(m.before.accuracy).toBe(ref.accuracy);
    expect(m.settings.samples).toBe(2000);

    ensureBuilt();
    const r = mlc(['bench', MODEL, '--data', DATA, '--json', '--runs', '5', '--warmup', '1']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.before.accuracy).toBe(ref.accuracy);
    expect(doc.before.sizeBytes).toBe(readFileSync(MODEL).length);

    // gates around the true figures: just below passes (exit 0), just above fails (exit 1)
    const pct = ref.accuracy * 100;
    const loose = mlc(['bench', MODEL, '--data', DATA, '--no-latency', '--min-accuracy', `${(pct - 0.05).toFixed(2)}%`, '--max-size', String(doc.before.sizeBytes)]);
    expect(loose.code).toBe(0);
    const tight = mlc(['bench', MODEL, '--data', DATA, '--no-latency', '--min-accuracy', `${(pct + 0.05).toFixed(2)}%`, '--max-size', String(doc.before.sizeBytes - 1)]);
    expect(tight.code).toBe(1);
    expect(tight.stderr).toMatch(/gate min-accuracy failed: actual [\d.]+% < limit/);
    expect(tight.stderr).toMatch(/gate max-size failed/);
  });

  it('mlc compress --prune 0.8: accuracy of the result matches an independent evaluation; gates flip at the measured figures', async () => {
    ensureBuilt();
    const out = join(tempDir('mlc-bench-fx-'), 'mlp_p80.onnx');
    const base = ['compress', MODEL, '-o', out, '--prune', '0.8', '--data', DATA, '--no-latency'];
    const r = mlc([...base, '--json', '--max-accuracy-drop', '100', '--min-agreement', '0', '--max-gzip-size', '1GB']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.passes.map((p: { name: string }) => p.name)).toEqual(['prune']);
    expect(doc.after.accuracy).toBe((await independentAccuracy(out)).accuracy);
    expect(doc.before.accuracy).toBe((await independentAccuracy()).accuracy);
    expect(doc.after.nonzeroParams / doc.before.nonzeroParams).toBeCloseTo(0.2, 1);
    expect(doc.after.gzipBytes).toBeLessThan(doc.before.gzipBytes * 0.5);
    expect(doc.after.gzipBytes).toBe(gzipSync(readFileSync(out), { level: 9 }).length);
    const drop = doc.gates.find((g: { name: string }) => g.name === 'max-accuracy-drop').actual as number;
    const agreement = doc.after.agreement as number;
    expect(drop).toBeCloseTo((doc.before.accuracy - doc.after.accuracy) * 100, 6);

    const tight = mlc([...base, '--max-accuracy-drop', String(Math.max(0, drop - 0.05)), '--min-agreement', String(Math.min(1, agreement + 0.0005)), '--max-gzip-size', String(doc.after.gzipBytes - 1)]);
    expect(tight.code).toBe(1);
    expect(tight.stderr.trim().split('\n').filter((l) => l.includes('gate '))).toHaveLength(drop > 0 ? 3 : 2);
    const loose = mlc([...base, '--max-accuracy-drop', String(drop + 0.05), '--min-agreement', String(agreement - 0.0005), '--max-gzip-size', String(doc.after.gzipBytes)]);
    expect(loose.code).toBe(0);
  });
});
