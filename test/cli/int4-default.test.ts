/**
 * `mlc compress --quantize int4` with no data: the int4 target (0.995 on a probe of made-up inputs)
 * is the default, so a model whose all-4-bit blocks miss the 0.99 floor reaches it.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { attrInt } from '../../src/ir/node.js';
import { cosine } from '../../src/math/stats.js';
import { buildViT, vitInputs } from '../../src/models/index.js';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { openSession } from '../../src/runtime/runtimes.js';
import { ensureBuilt, mlc, tempDir } from './helpers.js';

beforeAll(() => ensureBuilt());

describe('mlc compress --quantize int4: the default reaches the 0.99 floor', () => {
  it('a ViT (2 layers, hidden 96, seed 31: a size and seed no other test uses), in onnxruntime-node and onnxruntime-web wasm', async () => {
    // round-to-nearest all-4-bit blocks give cosine 0.987 on this model (below the floor)
    const o = { image: 32, patch: 8, hidden: 96, heads: 3, layers: 2, classes: 64, seed: 31 };
    const d = tempDir('mlc-int4-default-');
    try {
      const src = join(d, 'vit.onnx');
      await saveModel(buildViT(o), src);
      type Report = { passes: { stats: Record<string, number | string>; details?: Record<string, unknown>[] }[] };
      const r = mlc(['compress', src, '--quantize', 'int4', '-o', join(d, 'q4.onnx'), '--no-latency', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const stats = (JSON.parse(r.stdout) as Report).passes[0].stats;
      const plain = mlc(['compress', src, '--quantize', 'int4', '--int4-scales', 'rtn', '--int4-target', '0', '-o', join(d, 'rtn.onnx'), '--no-latency', '--json']);
      expect(plain.code, plain.stderr).toBe(0);
      expect((JSON.parse(plain.stdout) as Report).passes[0].stats.int4EightBit).toBe(0);

      const q = await loadModel(join(d, 'q4.onnx'));
      const nbits = q.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
      const eight = nbits.filter((n) => attrInt(n, 'bits', 0) === 8).length;
      expect(stats.int4EightBit).toBe(eight);
      expect(eight).toBeGreaterThan(0);
      expect(eight).toBeLessThan(nbits.length);
      const rtn = await loadModel(join(d, 'rtn.onnx'));
      expect(rtn.graph.nodes.filter((n) => n.opType === 'MatMulNBits').every((n) => attrInt(n, 'bits', 0) === 4 && n.inputs.length === 3)).toBe(true);

      // inputs other than the probe's
      const x = vitInputs(o, 6, 77).input;
      const feeds = { input: { dtype: 'float', dims: x.dims, data: x.data } };
      const original = await loadModel(src);
      for (const runtime of ['node', 'wasm'] as const) {
        const outs = [];
        for (const m of [original, q]) {
          const s = await openSession(runtime, m);
          try {
            outs.push((await s.run(feeds as never)).logits.data as Float32Array);
          } finally {
            await s.release();
          }
        }
        expect(cosine(outs[0], outs[1]), runtime).toBeGreaterThanOrEqual(0.99);
      }
      // the file is smaller than fp32 by more than 3x all the same
      expect(readFileSync(join(d, 'q4.onnx')).length).toBeLessThan(readFileSync(src).length / 3);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 120_000);
});
