/** `mlc compress` end to end with the prune flags (spawns the built binary). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { countZeros } from '../../src/math/sparsity.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { ensureBuilt, mlc, tempDir } from '../cli/helpers.js';
import { mlp } from './prune-helpers.js';

let dir: string;
let input: string;

beforeAll(() => {
  ensureBuilt();
  dir = tempDir('mlc-prune-');
  input = join(dir, 'mlp.onnx');
  writeFileSync(input, modelToBytes(mlp()));
}, 300_000);

describe('mlc compress --prune', () => {
  it('channel pruning writes a smaller model and reports what it skipped', async () => {
    const out = join(dir, 'ch.onnx');
    const r = mlc(['compress', input, '--no-latency', '--prune', '0.5', '--prune-pattern', 'channel', '--prune-scope', 'layer', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    const p = rep.passes.find((x: { name: string }) => x.name === 'prune');
    expect(p.modified).toBe(true);
    expect(p.stats.channelsRemoved).toBe(10);
    expect(p.skipped).toContainEqual({ node: 'fc3', reason: 'logits is a graph output' });
    const m = await loadModel(out);
    expect(m.graph.initializers.get('w1')!.dims).toEqual([6, 16]);
    expect(rep.after.params).toBeLessThan(rep.before.params);
  });

  it('2:4 and the default output name', async () => {
    const r = mlc(['compress', input, '--no-latency', '--prune-pattern', '2:4']);
    expect(r.code, r.stderr).toBe(0);
    const m = await loadModel(join(dir, 'mlp_pruned.onnx'));
    const w = m.graph.initializers.get('w1')!.data as Float32Array; // [12, 16], groups along axis 1
    for (let g = 0; g < w.length; g += 4) expect(4 - countZeros(w.subarray(g, g + 4))).toBe(2);
  });

  it('--exclude keeps a layer dense; a contradictory N:M sparsity is a usage error', async () => {
    const out = join(dir, 'ex.onnx');
    const r = mlc(['compress', input, '--no-latency', '--prune', '0.8', '--exclude', 'fc2', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = await loadModel(out);
    expect(countZeros(m.graph.initializers.get('w2')!.data as Float32Array)).toBe(0);
    expect(countZeros(m.graph.initializers.get('w1')!.data as Float32Array)).toBeGreaterThan(0);
    const bad = mlc(['compress', input, '--no-latency', '--prune', '0.8', '--prune-pattern', '2:4', '-o', join(dir, 'bad.onnx')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/2:4/);
  });
});
