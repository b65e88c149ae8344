import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/model.js';
import { AttrType } from '../../src/ir/node.js';
import { buildEncoder } from '../../src/models/encoder.js';
import { compare, opCounts, quantize, uniform } from './quantize-helpers.js';

/**
 * input [N, 8, 32] → MatMul(W) → Add(b) → Add(input) → LayerNormalization → output.
 * `rAlsoOutput`: the residual sum is a second graph output; `biasFirst`: Add(b, mm) as torch writes it.
 */
function buildResidual(opts: { rAlsoOutput?: boolean; biasFirst?: boolean; noBias?: boolean } = {}): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 8, 32]);
  const w = b.init('W', [32, 32], uniform(32 * 32, 0.3, 1));
  const bias = b.init('bias', [32], uniform(32, 0.5, 2));
  const mm = b.op('MatMul', [x, w], {}, { name: 'mm' });
  const y = opts.noBias ? mm : b.op('Add', opts.biasFirst ? [bias, mm] : [mm, bias], {}, { name: 'add_bias' });
  const r = b.op('Add', [y, x], {}, { name: 'residual' });
  const g = b.init('ln.weight', [32], new Float32Array(32).fill(1));
  const beta = b.init('ln.bias', [32], new Float32Array(32));
  const out = b.op('LayerNormalization', [r, g, beta], { axis: -1, epsilon: 1e-5 }, { name: 'ln', types: { epsilon: AttrType.FLOAT } });
  b.output(out, DataType.FLOAT, ['N', 8, 32], 'output');
  if (opts.rAlsoOutput) b.output(r, DataType.FLOAT, ['N', 8, 32], 'sum');
  return b.build();
}

const feeds = { input: { dtype: 'float', dims: [3, 8, 32], data: uniform(3 * 8 * 32, 1.5, 9) } };

/** The node writing LayerNormalization's input, and whether it adds a 1-D constant. */
function lnInputs(q: Model) {
  const g = q.graph;
  return g.nodes
    .filter((n) => n.opType === 'LayerNormalization')
    .map((ln) => {
      const p = g.producer(ln.inputs[0])!;
      const oneD = p.inputs.some((i) => g.constantValue(i)?.dims.length === 1);
      return { op: p.opType, oneD };
    });
}

describe('dynamic int8: residual bias reassociated past the skip Add', () => {
  for (const biasFirst of [false, true]) {
    it(`contrib form (bias ${biasFirst ? 'first' : 'second'}): LayerNorm reads (y + skip) + bias; outputs match the original`, async () => {
      const m = buildResidual({ biasFirst });
      const { model: q, result } = await quantize(m, { type: 'int8' });
      expect(result.stats.residualBiasReordered).toBe(1);
      expect(result.stats.quantized).toBe(1);
      const c = opCounts(q);
      expect(c.DynamicQuantizeMatMul).toBe(1);
      expect(c.Add).toBe(2);
      const dq = q.graph.nodes.find((n) => n.opType === 'DynamicQuantizeMatMul')!;
      expect(dq.inputs.length).toBeLessThanOrEqual(3); // no bias input any more
      const res = q.graph.consumers(dq.outputs[0]);
      expect(res.map((n) => n.opType)).toEqual(['Add']);
      expect(res[0].inputs).toContain('input');
      expect(lnInputs(q)).toEqual([{ op: 'Add', oneD: true }]);
      expect(q.graph.initializers.get(q.graph.producer(q.graph.nodes.find((n) => n.opType === 'LayerNormalization')!.inputs[0])!.inputs[1])!.dims).toEqual([32]);
      const { cos, maxAbs, refMax } = await compare(m, q, feeds);
      expect(cos).toBeGreaterThan(0.999);
      expect(maxAbs).toBeLessThan(0.05 * refMax);
    });
  }

  it('standard form: the bias Add moves behind the residual Add', async () => {
    const m = buildResidual();
    const { model: q, result } = await quantize(m, { type: 'int8', dynamicForm: 'standard' });
    expect(result.stats.residualBiasReordered).toBe(1);
    expect(opCounts(q).Add).toBe(2);
    const mul = q.graph.nodes.find((n) => n.opType === 'Mul' && q.graph.consumers(n.outputs[0]).some((c) => c.opType === 'Add'))!;
    const res = q.graph.consumers(mul.outputs[0])[0];
    expect(res.inputs).toContain('input');
    expect(lnInputs(q)).toEqual([{ op: 'Add', oneD: true }]);
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.999);
  });

  it('encoder: both residual blocks of every layer reordered, Q/K/V and FFN-up keep their fused bias', async () => {
    const m = buildEncoder({ hidden: 64, heads: 4, ffn: 128, layers: 2, seq: 16 });
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(result.stats.residualBiasReordered).toBe(4);
    expect(lnInputs(q)).toEqual(Array(4).fill({ op: 'Add', oneD: true }));
    const dq = q.graph.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul');
    expect(dq.filter((n) => (n.inputs[4] ?? '') !== '')).toHaveLength(8); // q, k, v, intermediate × 2 layers
    const encFeeds = { input: { dtype: 'float', dims: [2, 16, 64], data: uniform(2 * 16 * 64, 1.7, 3) } };
    expect((await compare(m, q, encFeeds)).cos).toBeGreaterThan(0.999);
  });

  it('no-op when the pattern is absent: residual sum also an output, no bias, excluded producer', async () => {
    for (const [m, raw] of [
      [buildResidual({ rAlsoOutput: true }), { type: 'int8' }],
      [buildResidual({ noBias: true }), { type: 'int8' }],
      [buildResidual(), { type: 'int8', exclude: ['mm'] }],
    ] as const) {
      const { model: q, result } = await quantize(m, raw);
      expect(result.stats.residualBiasReordered).toBeUndefined();
      const ln = q.graph.nodes.find((n) => n.opType === 'LayerNormalization')!;
      expect(q.graph.producer(ln.inputs[0])!.name).toBe('residual');
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.999);
    }
    const { model: q } = await quantize(buildResidual({ rAlsoOutput: true }), { type: 'int8' });
    const dq = q.graph.nodes.find((n) => n.opType === 'DynamicQuantizeMatMul')!;
    expect(q.graph.initializers.get(dq.inputs[4])!.dims).toEqual([32]); // the bias stays fused
  });
});
