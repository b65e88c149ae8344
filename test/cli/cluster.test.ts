/** `mlc compress --cluster…` on the MNIST MLP fixture: the flags, the default name, the report (with --brotli). */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { loadModel } from '../../src/onnx/index.js';
import { ROOT, ensureBuilt, mlc, tempDir } from './helpers.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = tempDir();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mlc compress --cluster-bits', () => {
  it('prunes and shares 15 values per weight; stored as indices; gzip and brotli in the report; accuracy measured', async () => {
    const out = join(dir, 'mlp.onnx');
    const r = mlc(['compress', join(ROOT, 'fixtures/mnist-mlp.onnx'), '--prune', '0.9', '--cluster-bits', '4', '--brotli', '--no-latency', '--json', '--data', join(ROOT, 'fixtures/mnist-test.npz'), '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.passes.map((p: { name: string }) => p.name)).toEqual(['prune', 'cluster']);
    expect(rep.passes[1].stats).toMatchObject({ clusters: 15, layersClustered: 3 });
    expect(rep.after.brotliBytes).toBeLessThan(rep.after.gzipBytes);
    expect(rep.before.brotliBytes).toBeGreaterThan(0);
    // 90 % zeros and 4-bit indices: far below the pruned float file's gzip (~125 kB)
    expect(rep.after.gzipBytes).toBeLessThan(50_000);
    expect(rep.after.accuracy).toBeGreaterThan(0.5);
    const m = await loadModel(out);
    expect(m.graph.initializers.has('fc1.weight')).toBe(false);
    expect(m.graph.nodes.some((n) => n.opType === 'Gather' || n.opType === 'ScatterElements')).toBe(true);
  });

  it('--cluster-joint --cluster-half --cluster-byte-biases: one expansion chain, int8 biases; the model still classifies', async () => {
    const out = join(dir, 'joint.onnx');
    const r = mlc(['compress', join(ROOT, 'fixtures/mnist-mlp.onnx'), '--prune', '0.9', '--cluster-bits', '4', '--cluster-storage', 'sparse', '--cluster-half', '--cluster-joint', '--cluster-byte-biases', '--no-latency', '--json', '--data', join(ROOT, 'fixtures/mnist-test.npz'), '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.passes[1].stats).toMatchObject({ jointSparseWeights: 3, byteBiases: 3 });
    expect(rep.after.accuracy).toBeGreaterThan(0.5);
    const m = await loadModel(out);
    expect(m.graph.nodes.filter((n) => n.opType === 'ScatterElements').length).toBe(1);
    expect([...m.graph.initializers.values()].filter((t) => t.dims[0] === 300 + 100 + 10).length).toBe(1);
  });

  it('refuses --cluster with --cluster-bits, and fine-tuning without training data (exit 2, nothing written)', () => {
    const out = join(dir, 'never.onnx');
    const both = mlc(['compress', join(ROOT, 'fixtures/mnist-mlp.onnx'), '--cluster', '8', '--cluster-bits', '3', '-o', out]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--cluster-bits/);
    const tune = mlc(['compress', join(ROOT, 'fixtures/mnist-mlp.onnx'), '--cluster', '8', '--cluster-epochs', '1', '-o', out]);
    expect(tune.code).toBe(2);
    expect(tune.stderr).toMatch(/train-data/);
    const bytes = mlc(['compress', join(ROOT, 'fixtures/mnist-mlp.onnx'), '--cluster', '8', '--cluster-byte-biases', '-o', out]);
    expect(bytes.code).toBe(2);
    expect(bytes.stderr).toMatch(/joint/);
  });
});
