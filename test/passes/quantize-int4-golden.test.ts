/**
 * The int4 default changed (the target, #13); what it did before is `int4Target: 0`, byte for
 * byte. The hashes were taken from the code before that change (commit 0fc3bba) on the MNIST
 * fixtures and a small encoder, with the formats no other branch works on (fp16, weight-only)
 * beside them: a change to these files' bytes must be on purpose (then update the hash).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cloneModel } from '../../src/ir/clone.js';
import type { Model } from '../../src/ir/model.js';
import { buildEncoder } from '../../src/models/encoder.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { quantizePass } from '../../src/passes/quantize.js';
import { ctxWith } from './quantize-helpers.js';

const MODES: [string, Record<string, unknown>][] = [
  ['int4 rtn, target 0', { type: 'int4', int4Target: 0 }],
  ['int4 search (q4 variant), target 0', { type: 'int4', int4Scales: 'search', opTypes: ['MatMul', 'Gemm'], int4Target: 0 }],
  ['int8 weight-only', { type: 'int8', mode: 'weight-only' }],
  ['uint8 weight-only', { type: 'uint8', mode: 'weight-only' }],
  ['fp16', { type: 'fp16' }],
];

const GOLDEN: Record<string, string[]> = {
  mlp: ['76f4b1a67e488417', '21820f9623293f48', '355abae1f2cfedd1', 'aafff06173a12de9', '3d7c428977023051'],
  cnn: ['30ec2899db10efae', '2e816d3d22574b56', 'c7a0162ecf88be5d', '3cab00e61c179736', '6fb93616b02c62f8'],
  enc: ['8cf5b51723602297', '771392fa37f8b10d', '838aa2352de4626a', 'ed4b0ebd10d7b33a', '5fa1312fa08f7a3f'],
};

describe('int4 with --int4-target 0 (and the formats beside it) write the bytes of before', () => {
  it('MNIST fixtures and an encoder', async () => {
    const models: Record<string, Model> = {
      mlp: await loadModel('fixtures/mnist-mlp.onnx'),
      cnn: await loadModel('fixtures/mnist-cnn.onnx'),
      enc: buildEncoder({ hidden: 64, heads: 4, ffn: 256, layers: 2, seq: 16, seed: 5 }),
    };
    for (const [name, m] of Object.entries(models)) {
      const got = [];
      for (const [, raw] of MODES) {
        const q = cloneModel(m);
        await quantizePass.run(q, quantizePass.parseOptions(raw), ctxWith());
        got.push(createHash('sha256').update(modelToBytes(q)).digest('hex').slice(0, 16));
      }
      expect(got, name).toEqual(GOLDEN[name]);
    }
  });
});

describe('int4 default on a large model', () => {
  const build = async (floats: number) => {
    const { ModelBuilder } = await import('../../src/ir/builder.js');
    const { DataType } = await import('../../src/ir/dtype.js');
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    const w = b.init('W', [64, 64], new Float32Array(64 * 64).map((_, i) => Math.sin(i)));
    // a float constant that takes the model over the limit (no pass touches an Add operand)
    const big = b.init('big', [floats], new Float32Array(floats));
    b.output(b.op('MatMul', [x, w]), DataType.FLOAT, [1, 64], 'y');
    b.output(b.op('Add', [big, big]), DataType.FLOAT, [floats], 'z');
    return b.build();
  };
  const quiet = (infos: string[], counter: { runs: number }, warns: string[] = []) => ({
    ...ctxWith({}),
    log: { info: (s: string) => infos.push(s), warn: (s: string) => warns.push(s), debug: () => {} },
    run: async () => ((counter.runs++, {}) as never),
  });

  it('above int4TargetMaxBytes of float weights the target is off by default (no model run), with a note', async () => {
    const m = await build(1000);
    const infos: string[] = [];
    const counter = { runs: 0 };
    const r = await quantizePass.run(m, quantizePass.parseOptions({ type: 'int4', minElements: 1, int4TargetMaxBytes: 10_000 }), quiet(infos, counter));
    expect(counter.runs).toBe(0);
    expect(r.stats.int4EightBit).toBe(0);
    expect(infos.join('\n')).toMatch(/no fidelity probe by default above 0 MB.*--int4-target 0\.995/);
    expect(r.details?.some((d) => String(d.probe).startsWith('off'))).toBe(true);
  });

  it('a large model with no MatMul to quantize (a CNN) runs no probe', async () => {
    const { ModelBuilder } = await import('../../src/ir/builder.js');
    const { DataType } = await import('../../src/ir/dtype.js');
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 8, 16, 16]);
    const w = b.init('W', [8, 8, 3, 3], new Float32Array(8 * 8 * 9).map((_, i) => Math.sin(i)));
    b.output(b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }), DataType.FLOAT, [1, 8, 16, 16], 'y');
    const m = b.build();
    const counter = { runs: 0 };
    const warns: string[] = [];
    const r = await quantizePass.run(m, quantizePass.parseOptions({ type: 'int4', minElements: 1, int4ProbeMaxBytes: 100 }), quiet([], counter, warns));
    expect(counter.runs).toBe(0);
    expect(warns).toEqual([]);
    expect(r.stats.int4EightBit).toBe(0);
    expect(r.stats.int4ProbeRuns).toBeUndefined();
  });

  it('between int4ProbeMaxBytes and int4TargetMaxBytes the target is on by default (the probe is tried)', async () => {
    const { INT4_TARGET_MAX_BYTES } = await import('../../src/passes/quantize/int4.js');
    expect(INT4_TARGET_MAX_BYTES).toBeGreaterThan(434e6); // BERT-base's weights
    const m = await build(1000);
    const infos: string[] = [];
    const warns: string[] = [];
    await quantizePass.run(m, quantizePass.parseOptions({ type: 'int4', minElements: 1, int4ProbeMaxBytes: 10_000 }), quiet(infos, { runs: 0 }, warns));
    expect(infos.join('\n')).not.toMatch(/no fidelity probe/);
    // this context has no data to probe on: the target says so (it was on)
    expect(warns.join('\n')).toMatch(/int4 target: no calibration data to measure on/);
  });
});
