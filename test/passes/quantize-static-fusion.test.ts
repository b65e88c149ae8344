/**
 * Static QDQ that onnxruntime fuses end to end on CNNs: after onnxruntime's own optimizer (the
 * model read back from `optimizedModelFilePath`), a ResNet-like (BatchNorm kept, Relu) and a
 * MobileNetV2-like (BatchNorm folded or not, ReLU6 as Clip) model quantized by mlc keep no
 * QuantizeLinear / DequantizeLinear pair between layers: only the input's Q remains. Also the
 * pieces on small graphs: BatchNorm folding, activation folds that fit or not, ops kept 8-bit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/model.js';
import { buildEncoder } from '../../src/models/encoder.js';
import { buildMobileNetV2 } from '../../src/models/mobilenet.js';
import { buildResNet } from '../../src/models/resnet.js';
import { loadModel } from '../../src/onnx/index.js';
import { createSession, makeRunner } from '../../src/runtime/index.js';
import { compare, ctxWith, dataset, opCounts, quantize, uniform } from './quantize-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mlc-qdq-fusion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The model as onnxruntime's optimizer leaves it (all levels, 1 thread), read back. */
async function optimized(model: Model, name: string): Promise<Model> {
  const path = join(dir, `${name}.opt.onnx`);
  const s = await createSession(model, { optimizedModelFilePath: path });
  await s.release();
  return loadModel(path);
}

async function staticQuant(model: Model, cal: ReturnType<typeof dataset>) {
  const run = makeRunner();
  try {
    return await quantize(model, { type: 'int8', mode: 'static', minElements: 1 }, ctxWith({ calibration: cal, run }));
  } finally {
    await run.release();
  }
}

const images = (n: number, res: number, seed: number) => dataset('input', [n, 3, res, res], seed);

describe('static QDQ fused by onnxruntime on CNNs', () => {
  // cosine floors: 8-bit noise through 50 random-init layers at 32×32 is large for the tiny
  // MobileNet (the full-size one in benchmarks/fastq.bench.mjs is at onnxruntime's own cosine)
  const cases: [string, () => Model, Record<string, number>, number][] = [
    [
      'ResNet-like (BatchNorm kept)',
      () => buildResNet({ channels: [8, 16, 24, 32], blocks: [1, 1, 1, 1], image: 32, classes: 10 }),
      { batchNormFolded: 12, reluFolded: 9, int8Add: 4, int8MaxPool: 1 },
      0.99,
    ],
    [
      'MobileNetV2-like (BatchNorm folded)',
      () => buildMobileNetV2({ width: 0.35, resolution: 32, classes: 10, dynamicBatch: true }),
      { clipFolded: 35, int8Add: 10, int8GlobalAveragePool: 1 },
      0.95,
    ],
    [
      'MobileNetV2-like (BatchNorm kept)',
      () => buildMobileNetV2({ width: 0.35, resolution: 32, classes: 10, dynamicBatch: true, foldBatchNorm: false }),
      { batchNormFolded: 52, clipFolded: 35, int8Add: 10 },
      0.95,
    ],
  ];
  for (const [name, build, stats, floor] of cases) {
    it(`${name}: no Q/DQ pair left between layers after onnxruntime's optimizer; outputs close`, async () => {
      const m = build();
      const { model: q, result } = await staticQuant(m, images(8, 32, 3));
      expect(result.stats).toMatchObject(stats);
      const c = opCounts(q);
      expect(c.BatchNormalization ?? 0).toBe(0);
      expect((c.Relu ?? 0) + (c.Clip ?? 0)).toBe(0);
      const convs = opCounts(m).Conv;
      const o = opCounts(await optimized(q, name.replace(/\W+/g, '_')));
      expect(o.QLinearConv).toBe(convs);
      expect(o.Conv ?? 0).toBe(0);
      // the input's Q is the only one; the classifier's output stays float (no Q/DQ on a graph output)
      expect(o.QuantizeLinear ?? 0).toBe(1);
      expect(o.DequantizeLinear ?? 0).toBe(0);
      expect(o.QLinearAdd).toBe(stats.int8Add);
      const feeds = { input: images(64, 32, 9).inputs.input };
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(floor);
    });
  }
});

/** input [N, 4, 6, 6] → Conv(8, 3×3, pad 1) → act → Conv(8, 1×1) → output. */
function convActConv(act: (b: ModelBuilder, x: string) => string, withBn = false): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 4, 6, 6]);
  let h = b.op(
    'Conv',
    [x, b.init('w1', [8, 4, 3, 3], uniform(288, 0.3, 1)), b.init('b1', [8], uniform(8, 0.1, 2))],
    { pads: [1, 1, 1, 1], kernel_shape: [3, 3] },
    { name: 'conv1' },
  );
  if (withBn) {
    const v = (seed: number, lo: number) => Float32Array.from(uniform(8, 0.4, seed), (a) => a + lo);
    h = b.op(
      'BatchNormalization',
      [h, b.init('g', [8], v(3, 1)), b.init('be', [8], v(4, 0)), b.init('mu', [8], v(5, 0)), b.init('var', [8], v(6, 1))],
      { epsilon: 1e-5 },
      { name: 'bn' },
    );
  }
  h = act(b, h);
  b.output(
    b.op('Conv', [h, b.init('w2', [8, 8, 1, 1], uniform(64, 0.4, 7))], { kernel_shape: [1, 1] }, { name: 'conv2' }),
    DataType.FLOAT,
    ['N', 8, 6, 6],
    'output',
  );
  return b.build();
}

describe('static QDQ pieces', () => {
  const cal = dataset('input', [16, 4, 6, 6], 11);
  const feeds = { input: dataset('input', [4, 4, 6, 6], 12).inputs.input };
  const clip = (lo: number, hi: number) => (b: ModelBuilder, x: string) =>
    b.op('Clip', [x, b.init(`lo${lo}`, [], [lo]), b.init(`hi${hi}`, [], [hi])], {}, { name: 'clip' });

  it('BatchNormalization after a Conv is folded before calibration (same function), the ReLU then folds too', async () => {
    const m = convActConv((b, x) => b.op('Relu', [x], {}, { name: 'relu' }), true);
    const { model: q, result } = await staticQuant(m, cal);
    expect(result.stats).toMatchObject({ batchNormFolded: 1, reluFolded: 1 });
    const c = opCounts(q);
    expect(c.BatchNormalization ?? 0).toBe(0);
    expect(c.Relu ?? 0).toBe(0);
    for (const n of ['g', 'be', 'mu', 'var', 'w1', 'b1']) expect(q.graph.initializers.has(n)).toBe(false);
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.995);
  });

  it('Clip(0, 6) folds into the Conv output; Clip(0.5, 6) does not fit a range that holds 0 and stays', async () => {
    const { model: q6, result: r6 } = await staticQuant(convActConv(clip(0, 6)), cal);
    expect(r6.stats.clipFolded).toBe(1);
    expect(opCounts(q6).Clip ?? 0).toBe(0);
    expect(q6.graph.consumers(q6.graph.nodes.find((n) => n.name === 'conv1')!.outputs[0]).map((n) => n.opType)).toEqual(['QuantizeLinear']);
    const m = convActConv(clip(0.5, 6));
    const { model: q, result } = await staticQuant(m, cal);
    expect(result.stats.clipFolded).toBeUndefined();
    expect(opCounts(q).Clip).toBe(1);
    // the Conv output's own range (measured in a second run, as the fold did not fit) quantizes it
    expect(result.stats.Conv).toBe(2);
    expect(q.graph.consumers(q.graph.nodes.find((n) => n.name === 'conv1')!.outputs[0]).map((n) => n.opType)).toEqual(['QuantizeLinear']);
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);
  });

  it('SiLU (Sigmoid · Mul) stays 8-bit (QLinearSigmoid, QLinearMul); HardSwish stays float between a DQ and a Q', async () => {
    const silu = (b: ModelBuilder, x: string) => b.op('Mul', [x, b.op('Sigmoid', [x], {}, { name: 'sig' })], {}, { name: 'mul' });
    const m = convActConv(silu);
    const { model: q, result } = await staticQuant(m, cal);
    expect(result.stats).toMatchObject({ int8Sigmoid: 1, int8Mul: 1 });
    const o = opCounts(await optimized(q, 'silu'));
    // conv2 writes the graph output, which stays float: onnxruntime runs it as DQ → Conv (its input and weight DQs)
    expect([o.QLinearSigmoid, o.QLinearMul, o.QLinearConv, o.QuantizeLinear ?? 0, o.DequantizeLinear ?? 0]).toEqual([1, 1, 1, 1, 2]);
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);
    const hs = convActConv((b, x) => b.op('HardSwish', [x], {}, { name: 'hswish' }));
    const { model: qh } = await staticQuant(hs, cal);
    const h = qh.graph.nodes.find((n) => n.opType === 'HardSwish')!;
    expect(qh.graph.producer(h.inputs[0])!.opType).toBe('DequantizeLinear');
    expect(qh.graph.consumers(h.outputs[0]).map((n) => n.opType)).toEqual(['QuantizeLinear']);
    expect((await compare(hs, qh, feeds)).cos).toBeGreaterThan(0.99);
  });

  it('an FPN-style upsample (Resize nearest → Concat) stays 8-bit: Resize shares its input Q, Concat gets QLinearConcat', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', DataType.FLOAT, ['N', 4, 8, 8]);
    const conv = (i: string, cin: number, stride: number, n: string, seed: number) =>
      b.op(
        'Relu',
        [
          b.op(
            'Conv',
            [i, b.init(`${n}.w`, [8, cin, 3, 3], uniform(72 * cin, 0.3, seed))],
            { pads: [1, 1, 1, 1], kernel_shape: [3, 3], strides: [stride, stride] },
            { name: n },
          ),
        ],
        {},
        { name: `${n}_relu` },
      );
    const hi = conv(x, 4, 1, 'c1', 1);
    const lo = conv(hi, 8, 2, 'c2', 2);
    const up = b.op('Resize', [lo, '', b.init('scales', [4], [1, 1, 2, 2])], { mode: 'nearest' }, { name: 'up' });
    const cat = b.op('Concat', [hi, up], { axis: 1 }, { name: 'cat' });
    const y = b.op('Conv', [cat, b.init('c3.w', [8, 16, 1, 1], uniform(128, 0.3, 3))], { kernel_shape: [1, 1] }, { name: 'c3' });
    b.output(b.op('GlobalAveragePool', [y], {}, { name: 'gap' }), DataType.FLOAT, ['N', 8, 1, 1], 'output');
    const m = b.build();
    const { model: q, result } = await staticQuant(m, dataset('input', [16, 4, 8, 8], 13));
    expect(result.stats).toMatchObject({ int8Resize: 1, int8Concat: 1, reluFolded: 2 });
    const o = opCounts(await optimized(q, 'fpn'));
    expect([o.QLinearConv, o.QLinearConcat, o.QuantizeLinear ?? 0]).toEqual([3, 1, 1]);
    expect((await compare(m, q, { input: dataset('input', [4, 4, 8, 8], 14).inputs.input })).cos).toBeGreaterThan(0.99);
  });

  it('keeps activations 8-bit only where every input already is: a bias Add of a transformer stays float', async () => {
    const e = buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 1, seq: 8 });
    const run = makeRunner();
    try {
      const { result } = await quantize(
        e,
        { type: 'int8', mode: 'static' },
        ctxWith({ calibration: dataset('input', [8, 8, 32], 5, 1.7), run }),
      );
      expect(result.stats.int8Add).toBeUndefined();
      expect(result.stats.batchNormFolded).toBeUndefined();
    } finally {
      await run.release();
    }
  });
});
