/** The MLP builder: torch.onnx's nn.Sequential(Linear, ReLU, …) form, runs in onnxruntime-node with the expected outputs. */
import { describe, expect, it } from 'vitest';
import { modelToBytes } from '../../src/onnx/index.js';
import { buildMlp, mlpInputs } from '../../src/models/index.js';
import { countParams } from '../../src/ir/params.js';
import { createSession } from '../../src/runtime/index.js';

describe('buildMlp', () => {
  it('writes Gemm → Relu layers and a Gemm head, sized by its options, deterministic from the seed', () => {
    const m = buildMlp({ features: 8, hidden: [16, 12], classes: 3, seed: 5 });
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm']);
    expect(countParams(m).params).toBe(8 * 16 + 16 + 16 * 12 + 12 + 12 * 3 + 3);
    expect(modelToBytes(buildMlp({ features: 8, hidden: [16, 12], classes: 3, seed: 5 }))).toEqual(modelToBytes(m));
    expect(modelToBytes(buildMlp({ features: 8, hidden: [16, 12], classes: 3, seed: 6 }))).not.toEqual(modelToBytes(m));
  });

  it('runs in onnxruntime: logits [batch, classes], equal to the same layers computed by hand', async () => {
    const opts = { features: 4, hidden: [5], classes: 2, seed: 3 };
    const m = buildMlp(opts);
    const feeds = mlpInputs(opts, 3, 9);
    const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
    try {
      const out = (await s.run({ input: feeds.input as never })).logits;
      expect(out.dims).toEqual([3, 2]);
      const w = (name: string) => m.graph.initializers.get(name)!.data as Float32Array;
      const x = feeds.input.data as Float32Array;
      for (let r = 0; r < 3; r++) {
        const h = Array.from({ length: 5 }, (_, j) => Math.max(0, w('layers.0.bias')[j] + [0, 1, 2, 3].reduce((a, k) => a + x[r * 4 + k] * w('layers.0.weight')[j * 4 + k], 0)));
        for (let c = 0; c < 2; c++) {
          const y = w('layers.2.bias')[c] + h.reduce((a, v, j) => a + v * w('layers.2.weight')[c * 5 + j], 0);
          expect((out.data as Float32Array)[r * 2 + c]).toBeCloseTo(y, 4);
        }
      }
    } finally {
      await s.release();
    }
  });
});
