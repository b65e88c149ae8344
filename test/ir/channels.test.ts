/**
 * The channel tracer (src/ir/channels.ts) on its own: what a removal touches (biases, per-channel
 * constants, normalization parameters, Flatten / Reshape blocks, the readers' weights, value_info),
 * fan-out, and the reasons it gives when it cannot follow. The passes that use it (channel pruning,
 * --student-width) are tested end to end in onnxruntime in test/passes/prune.test.ts and
 * test/train/student.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { applyChannels, channelNorms, narrowChannels, planChannels, type ChannelLayer, type ChannelPlan } from '../../src/ir/channels.js';
import { DataType, type Graph, type Model, ModelBuilder } from '../../src/ir/index.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { createSession } from '../../src/runtime/index.js';
import { cnn } from '../passes/prune-helpers.js';

const F = DataType.FLOAT;

function values(n: number, seed: number): Float32Array {
  const r = seededRng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}
const w = (b: ModelBuilder, name: string, dims: number[], seed: number) => b.init(name, dims, values(dims.reduce((p, q) => p * q, 1), seed));

/** The layer of node `name` whose weight is input 1, output channels along `outputAxis`. */
function layer(g: Graph, name: string, outputAxis: number): ChannelLayer {
  const node = g.nodes.find((n) => n.name === name)!;
  return { node, op: node.opType, inputIndex: 1, weightName: node.inputs[1], tensor: g.initializers.get(node.inputs[1])!, outputAxis };
}

async function run(m: Model): Promise<void> {
  const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
  try {
    await s.run({ input: { dtype: 'float', dims: [1, 2, 8, 8], data: values(128, 9) } });
  } finally {
    await s.release();
  }
}

const T = (m: Model, name: string) => m.graph.initializers.get(name)!;

/** Rows `keep` of a [rows, cols] matrix. */
const rows = (d: Float32Array, cols: number, keep: number[]) => keep.flatMap((k) => [...d.slice(k * cols, (k + 1) * cols)]);

describe('planChannels / applyChannels', () => {
  it('dense: the bias, the Add constant behind the activation and the next weight lose the same channels', () => {
    const b = new ModelBuilder();
    const x = b.input('input', F, ['N', 5]);
    let h = b.op('MatMul', [x, w(b, 'w1', [5, 4], 1)], {}, { name: 'fc1' });
    h = b.op('Relu', [b.op('Add', [h, w(b, 'b1', [4], 2)])]);
    h = b.op('Gemm', [h, w(b, 'w2', [3, 4], 3), w(b, 'b2', [3], 4)], { transB: 1 }, { name: 'fc2' });
    b.output(h, F, ['N', 3], 'y');
    const m = b.build();
    const w2 = T(m, 'w2').data as Float32Array;
    const plan = planChannels(m.graph, layer(m.graph, 'fc1', 1)) as ChannelPlan;
    expect(typeof plan).toBe('object');
    expect(plan.n).toBe(4);
    expect(plan.readers).toEqual(['w2']);
    expect(planChannels(m.graph, layer(m.graph, 'fc2', 0))).toBe('y is a graph output');

    applyChannels(m.graph, plan, [1, 3]);
    expect(T(m, 'w1').dims).toEqual([5, 2]);
    expect([...(T(m, 'b1').data as Float32Array)]).toEqual([values(4, 2)[1], values(4, 2)[3]]);
    // Gemm transB: the next weight is [out, in]; its columns 1 and 3 remain
    expect(T(m, 'w2').dims).toEqual([3, 2]);
    expect([...(T(m, 'w2').data as Float32Array)]).toEqual([w2[1], w2[3], w2[5], w2[7], w2[9], w2[11]]);
  });

  it('follows a fan-out: every reader of the output loses the rows', () => {
    const b = new ModelBuilder();
    const x = b.input('input', F, ['N', 6]);
    const h = b.op('Tanh', [b.op('MatMul', [x, w(b, 'w1', [6, 8], 1)], {}, { name: 'trunk' })]);
    b.output(b.op('MatMul', [h, w(b, 'wa', [8, 2], 2)], {}, { name: 'headA' }), F, ['N', 2], 'a');
    b.output(b.op('MatMul', [h, w(b, 'wb', [8, 3], 3)], {}, { name: 'headB' }), F, ['N', 3], 'b');
    const m = b.build();
    const wa = T(m, 'wa').data.slice() as Float32Array;
    const norms = channelNorms(layer(m.graph, 'trunk', 1));
    const layers = ['trunk', 'headA', 'headB'].map((n) => layer(m.graph, n, 1));
    const r = narrowChannels(m.graph, layers, (p) => p.n / 2);
    expect(r.skipped).toEqual([
      { node: 'headA', reason: 'a is a graph output' },
      { node: 'headB', reason: 'b is a graph output' },
    ]);
    expect(r.narrowed.map((l) => [l.layer.node.name, l.before, l.keep.length])).toEqual([['trunk', 8, 4]]);
    const keep = r.narrowed[0].keep;
    // the largest-norm channels are kept
    const minKept = Math.min(...keep.map((i) => norms[i]));
    for (let i = 0; i < 8; i++) if (!keep.includes(i)) expect(norms[i]).toBeLessThanOrEqual(minKept);
    expect(T(m, 'wa').dims).toEqual([4, 2]);
    expect(T(m, 'wb').dims).toEqual([4, 3]);
    expect([...(T(m, 'wa').data as Float32Array)]).toEqual(rows(wa, 2, keep));
  });

  it('conv: PRelu slope, InstanceNormalization parameters and the next filters shrink; a Reshape K is rewritten', () => {
    const b = new ModelBuilder();
    const x = b.input('input', F, ['N', 2, 4, 4]);
    let h = b.op('Conv', [x, w(b, 'c1', [4, 2, 3, 3], 1), w(b, 'c1b', [4], 2)], { pads: [1, 1, 1, 1] }, { name: 'conv1' });
    h = b.op('PRelu', [h, w(b, 'slope', [4, 1, 1], 3)]);
    h = b.op('InstanceNormalization', [h, w(b, 'in_s', [4], 4), w(b, 'in_b', [4], 5)]);
    h = b.op('Conv', [h, w(b, 'c2', [3, 4, 1, 1], 6)], {}, { name: 'conv2' });
    h = b.op('Reshape', [h, b.ints('shape', [-1, 48])]);
    b.output(b.op('MatMul', [h, w(b, 'fw', [48, 2], 7)], {}, { name: 'fc' }), F, ['N', 2], 'y');
    const m = b.build();
    const p1 = planChannels(m.graph, layer(m.graph, 'conv1', 0)) as ChannelPlan;
    const p2 = planChannels(m.graph, layer(m.graph, 'conv2', 0)) as ChannelPlan;
    expect(typeof p1).toBe('object');
    expect(typeof p2).toBe('object');
    applyChannels(m.graph, p1, [0, 3]);
    applyChannels(m.graph, p2, [2]);
    for (const [name, dims] of Object.entries({ c1: [2, 2, 3, 3], c1b: [2], slope: [2, 1, 1], in_s: [2], in_b: [2], c2: [1, 2, 1, 1], fw: [16, 2] }))
      expect(T(m, name).dims, name).toEqual(dims);
    expect(T(m, 'shape').toIntArray()).toEqual([-1, 16]);
  });

  it('updates the shapes recorded in value_info along the trace; onnxruntime loads the result', async () => {
    const m = cnn(2, 'flatten');
    const shapes: Record<string, (number | string)[]> = {
      conv1_out: ['N', 6, 8, 8], bn1_out: ['N', 6, 8, 8], relu1_out: ['N', 6, 8, 8], pool1_out: ['N', 6, 4, 4],
      conv2_out: ['N', 5, 4, 4], relu2_out: ['N', 5, 4, 4], flat_out: ['N', 80],
    };
    for (const [name, shape] of Object.entries(shapes)) {
      expect(m.graph.producer(name)).toBeDefined();
      m.graph.valueInfo.push({ name, type: { kind: 'tensor', elemType: DataType.FLOAT, shape } });
    }
    await run(m); // the original loads with them
    const r = narrowChannels(m.graph, [layer(m.graph, 'conv1', 0), layer(m.graph, 'conv2', 0)], (p) => p.n - Math.round(p.n / 2));
    expect(r.narrowed.map((l) => l.keep.length)).toEqual([3, 2]);
    const got = Object.fromEntries(m.graph.valueInfo.map((v) => [v.name, v.type?.kind === 'tensor' ? v.type.shape : undefined]));
    expect(got.pool1_out).toEqual(['N', 3, 4, 4]);
    expect(got.relu2_out).toEqual(['N', 2, 4, 4]);
    expect(got.flat_out).toEqual(['N', 32]);
    await run(m);
  });
});

describe('reasons', () => {
  function chain(after: (b: ModelBuilder, h: string, x: string) => string, opts: { domain?: string } = {}): Model {
    const b = new ModelBuilder({ opsets: [{ domain: '', version: 17 }, { domain: 'com.example', version: 1 }] });
    const x = b.input('input', F, ['N', 4]);
    const h = b.op('MatMul', [x, w(b, 'w1', [4, 4], 1)], {}, { name: 'fc1', domain: opts.domain });
    b.output(b.op('MatMul', [after(b, h, x), w(b, 'w2', [4, 2], 2)], {}, { name: 'fc2' }), F, ['N', 2], 'y');
    return b.build();
  }
  const reason = (m: Model, exclude?: string[]) => planChannels(m.graph, layer(m.graph, 'fc1', 1), { exclude }) as string;

  it('names what stops the trace', () => {
    expect(reason(chain((b, h, x) => b.op('Add', [h, x])))).toMatch(/residual/);
    expect(reason(chain((b, h, x) => b.op('Concat', [h, x], { axis: 1 }, { name: 'cat' })))).toMatch(/Concat cat: removal would cross a Concat/);
    expect(reason(chain((b, h) => b.op('Softmax', [h], {}, { name: 'sm' })))).toBe('Softmax sm cannot be followed');
    expect(reason(chain((b, h) => b.op('Custom', [h], {}, { name: 'c', domain: 'com.example' })))).toBe('Custom c (domain com.example) cannot be followed');
    expect(reason(chain((_, h) => h), ['fc2'])).toBe('consumer MatMul fc2 is excluded');
    expect(reason(chain((b, h) => b.op('Add', [h, w(b, 'bias', [3], 5)])))).toMatch(/has 3 channels, expected 4/);
    expect(reason(chain((_, h) => h))).toBeTypeOf('object');
  });

  it('a constant another node reads is not edited', () => {
    const m = chain((b, h) => b.op('Add', [h, w(b, 'bias', [4], 5)]));
    const g = m.graph;
    g.nodes.push({ name: 'other', opType: 'Identity', domain: '', inputs: ['bias'], outputs: ['bias_copy'], attributes: [] });
    g.outputs.push({ name: 'bias_copy', type: { kind: 'tensor', elemType: F, shape: [4] } });
    g.touch();
    expect(reason(m)).toBe('constant bias is shared');
  });
});
