import { describe, expect, it } from 'vitest';
import { attrInt } from '../../src/ir/node.js';
import { buildMobileNetV2 } from '../../src/models/mobilenet.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { seededRng } from '../../src/passes/pass.js';
import { createSession } from '../../src/runtime/index.js';

function images(n: number, res: number, seed: number): Float32Array {
  const r = seededRng(seed);
  const x = new Float32Array(n * 3 * res * res);
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * 2;
  return x;
}

async function run(model: ReturnType<typeof buildMobileNetV2>, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await createSession(modelToBytes(model));
  try {
    return (await s.run({ input: { dtype: 'float', dims, data: x } })).output.data as Float32Array;
  } finally {
    await s.release();
  }
}

function counts(model: ReturnType<typeof buildMobileNetV2>): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of model.graph.nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
}

describe('buildMobileNetV2', () => {
  it('has torchvision mobilenet_v2 structure and parameter count (3,504,872 with BatchNorm kept)', () => {
    const m = buildMobileNetV2({ foldBatchNorm: false });
    const c = counts(m);
    expect(c).toMatchObject({ Conv: 52, BatchNormalization: 52, Clip: 35, Add: 10, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
    let params = 0;
    for (const [name, t] of m.graph.initializers) if (!/running_(mean|var)$/.test(name)) params += t.size;
    expect(params).toBe(3504872);
    // depthwise 3×3 convolutions: group = channels
    const dw = m.graph.nodes.filter((n) => n.opType === 'Conv' && attrInt(n, 'group', 1) > 1);
    expect(dw).toHaveLength(17);
    for (const n of dw) expect(m.graph.initializers.get(n.inputs[1])!.dims[1]).toBe(1);
    expect(m.graph.inputs[0].type).toMatchObject({ kind: 'tensor' });
    const folded = buildMobileNetV2();
    expect(counts(folded)).toMatchObject({ Conv: 52, Clip: 35, Add: 10, Gemm: 1 });
    expect(counts(folded).BatchNormalization).toBeUndefined();
    // ReLU6 as the exporter writes it: Clip with min / max from Constant nodes
    const clip = folded.graph.nodes.find((n) => n.opType === 'Clip')!;
    expect(clip.inputs).toHaveLength(3);
    expect(folded.graph.constantValue(clip.inputs[1])!.data[0]).toBe(0);
    expect(folded.graph.constantValue(clip.inputs[2])!.data[0]).toBe(6);
    expect(folded.graph.nodes[0].name).toBe('/features/features.0/features.0.0/Conv');
  });

  it('folded and unfolded BatchNorm compute the same function; dynamic batch equals one sample at a time', async () => {
    const o = { width: 0.25, resolution: 32, classes: 10, seed: 3 };
    const folded = buildMobileNetV2({ ...o, dynamicBatch: true });
    const bn = buildMobileNetV2({ ...o, foldBatchNorm: false, dynamicBatch: true });
    const x = images(3, 32, 5);
    const a = await run(folded, x, [3, 3, 32, 32]);
    const b = await run(bn, x, [3, 3, 32, 32]);
    expect(a).toHaveLength(30);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(a[i]));
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    }
    expect(maxAbs).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(1e-4 * Math.max(1, maxAbs));
    const fixed = buildMobileNetV2({ ...o, batch: 1 });
    expect(fixed.graph.inputs[0].type).toMatchObject({ shape: [1, 3, 32, 32] });
    for (let s = 0; s < 3; s++) {
      const one = await run(fixed, x.subarray(s * 3072, (s + 1) * 3072), [1, 3, 32, 32]);
      for (let k = 0; k < 10; k++) expect(one[k]).toBeCloseTo(a[s * 10 + k], 4);
    }
  });

  it('is seeded: same seed same weights, other seed other weights; rejects bad options', () => {
    const w = (seed: number) => [...buildMobileNetV2({ width: 0.25, resolution: 16, classes: 4, seed }).graph.initializers.values()][0].data[0];
    expect(w(1)).toBe(w(1));
    expect(w(1)).not.toBe(w(2));
    expect(() => buildMobileNetV2({ width: 0 })).toThrow(RangeError);
    expect(() => buildMobileNetV2({ resolution: 4 })).toThrow(RangeError);
  });
});
