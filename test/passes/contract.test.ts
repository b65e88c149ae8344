/**
 * The pass contract, for every registered pass (from the registry: registering a pass brings it
 * here, and the suite fails until OPTION_SETS says how to run it) × a set of standard models: the
 * MNIST fixtures, every builder of src/models in its small configuration (exporter shapes: BERT
 * with int64 inputs and a mask, ResNet, ViT, LSTM / GRU, If / Loop subgraphs, fp16, opset 18+,
 * dim_params), and a model with nothing to do.
 *
 * For each pass, option set and model:
 *   - the pass does not throw (a node it cannot handle is a skip with a reason);
 *   - `modified: false` ⇒ the model is byte-identical (same serialized bytes, same fingerprint);
 *   - the result loads and runs in onnxruntime-node, with the original's outputs (names, dims) and
 *     finite values; where the option set preserves the function (quantization) the first output
 *     stays close to the original's (cosine);
 *   - unknown options are rejected (USAGE).
 */
import { appendFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import { DataType } from '../../src/ir/dtype.js';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import type { Model } from '../../src/ir/model.js';
import { halfToFloat } from '../../src/math/float16.js';
import { cosine } from '../../src/math/stats.js';
import { MODEL_BUILDERS, floatSample, uniformRng, type SampleArray } from '../../src/models/index.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import { seededRng, silentLogger, type Dataset, type PassContext } from '../../src/passes/pass.js';
import { passes } from '../../src/passes/registry.js';
import { createSession, makeRunner, type Output } from '../../src/runtime/index.js';

interface OptionSet {
  label: string;
  options: Record<string, unknown>;
  /** the pass should keep the outputs: minimum cosine with the original's first output */
  minCosine?: number;
}

/** How the suite runs each registered pass: small, fast settings; every quantize type and mode. */
const OPTION_SETS: Record<string, OptionSet[]> = {
  lowrank: [
    { label: 'ratio 0.5 randomized', options: { ratio: 0.5, minSaving: 0, svd: 'randomized', powerIters: 1 } },
    { label: 'energy 0.9 data-aware', options: { energy: 0.9, dataAware: true, dataSamples: 16 } },
  ],
  prune: [
    { label: 'unstructured 0.5', options: { sparsity: 0.5 } },
    { label: '2:4 sparse storage', options: { pattern: '2:4', sparseStorage: true } },
    { label: 'channel 0.25', options: { pattern: 'channel', sparsity: 0.25 } },
  ],
  // narrowing where the model allows it, then one epoch (the training path runs either way)
  distill: [{ label: 'student-width 0.5, 1 epoch', options: { studentWidth: 0.5, epochs: 1, batchSize: 8 } }],
  quantize: [
    { label: 'int8 dynamic', options: { type: 'int8' }, minCosine: 0.9 },
    { label: 'int8 dynamic standard', options: { type: 'int8', dynamicForm: 'standard' }, minCosine: 0.9 },
    { label: 'uint8 dynamic', options: { type: 'uint8' }, minCosine: 0.9 },
    { label: 'int8 static', options: { type: 'int8', mode: 'static', calibrationSamples: 16 }, minCosine: 0.9 },
    { label: 'int8 weight-only', options: { type: 'int8', mode: 'weight-only' }, minCosine: 0.95 },
    { label: 'fp16', options: { type: 'fp16' }, minCosine: 0.999 },
    { label: 'int4', options: { type: 'int4' }, minCosine: 0.8 },
  ],
};

interface StandardModel {
  name: string;
  build(): Model | Promise<Model>;
  inputs(batch: number, seed?: number): Record<string, SampleArray>;
}

/** Float inputs in [0, 1) from the model's metadata, dynamic dims set to `batch`. */
function inputsFromMetadata(m: Model, batch: number, seed = 1): Record<string, SampleArray> {
  const rng = uniformRng(seed);
  const out: Record<string, SampleArray> = {};
  for (const i of m.graph.realInputs()) {
    const t = i.type;
    if (!t || t.kind !== 'tensor' || !t.shape) throw new Error(`input ${i.name}: no tensor shape`);
    const dims = t.shape.map((d) => (typeof d === 'number' ? d : batch));
    out[i.name] = floatSample(dims, t.elemType, rng, 0, 1);
  }
  return out;
}

function fixture(name: string, file: string): StandardModel {
  let m: Model | undefined;
  return {
    name,
    build: async () => cloneModel((m ??= await loadModel(file))),
    inputs: (batch, seed) => inputsFromMetadata(m!, batch, seed),
  };
}

/** Nothing to compress: no weights, only element-wise ops and a small constant. */
function nothingToDo(): Model {
  const b = new ModelBuilder({ opset: 17, name: 'nothing' });
  const x = b.input('input', DataType.FLOAT, ['batch', 6]);
  const y = b.op('Mul', [b.op('Relu', [x]), b.init('scale', [6], [1, 2, 3, 4, 5, 6])]);
  b.output(b.op('Softmax', [y], { axis: -1 }), DataType.FLOAT, ['batch', 6], 'probs');
  return b.build();
}

const MODELS: StandardModel[] = [
  fixture('mnist-mlp', 'fixtures/mnist-mlp.onnx'),
  fixture('mnist-cnn', 'fixtures/mnist-cnn.onnx'),
  ...MODEL_BUILDERS,
  { name: 'nothing-to-do', build: nothingToDo, inputs: (n, s) => inputsFromMetadata(nothingToDo(), n, s) },
];

const runner = makeRunner();
afterAll(() => runner.release());

function dataset(arrays: Record<string, SampleArray>): Dataset {
  const count = Object.values(arrays)[0].dims[0];
  return { inputs: arrays, count };
}

function asNumbers(o: Output): Float64Array {
  if (o.dtype === 'float16') return Float64Array.from(o.data as Uint16Array, halfToFloat);
  return Float64Array.from(o.data as ArrayLike<number>, Number);
}

async function runOrt(m: Model, feeds: Record<string, SampleArray>): Promise<Record<string, Output>> {
  const s = await createSession(m);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

describe('pass contract: options', () => {
  it('every registered pass has option sets here (add yours to OPTION_SETS)', () => {
    const missing = passes.map((p) => p.name).filter((n) => !OPTION_SETS[n]);
    expect(missing, `passes without contract option sets: ${missing.join(', ')}`).toEqual([]);
  });

  for (const pass of passes) {
    it(`${pass.name}: unknown options are rejected (USAGE), the suite's option sets parse`, () => {
      let err: unknown;
      try {
        pass.parseOptions({ ...(OPTION_SETS[pass.name]?.[0]?.options ?? {}), noSuchOption: 1 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MlcError);
      expect((err as MlcError).code).toBe('USAGE');
      expect((err as MlcError).message).toMatch(/noSuchOption/);
      for (const o of OPTION_SETS[pass.name] ?? []) expect(() => pass.parseOptions(o.options)).not.toThrow();
    });
  }
});

for (const model of MODELS) {
  describe(`pass contract on ${model.name}`, () => {
    for (const pass of passes) {
      for (const set of OPTION_SETS[pass.name] ?? []) {
        it(`${pass.name} (${set.label})`, async () => {
          const m = await model.build();
          const original = cloneModel(m);
          const bytesBefore = modelToBytes(m);
          const fpBefore = fingerprintModel(m);
          const ctx: PassContext = {
            log: silentLogger,
            rng: seededRng(5),
            original,
            run: runner,
            calibration: dataset(model.inputs(16, 2)),
            train: dataset(model.inputs(24, 3)),
          };
          const options = pass.parseOptions(set.options);
          let r;
          try {
            r = await pass.run(m, options, ctx);
          } catch (e) {
            throw new Error(`${pass.name} (${set.label}) threw on ${model.name} instead of skipping: ${(e as Error).message}`, { cause: e });
          }
          for (const s of r.skipped) {
            expect(typeof s.node).toBe('string');
            expect(s.reason.length, `skip of ${s.node} has no reason`).toBeGreaterThan(0);
          }
          if (!r.modified) {
            expect(fingerprintModel(m), 'modified: false but the model changed').toBe(fpBefore);
            expect(Buffer.from(modelToBytes(m)).equals(Buffer.from(bytesBefore)), 'modified: false but the bytes changed').toBe(true);
          }
          const feeds = model.inputs(2, 99);
          const want = await runOrt(original, feeds);
          let got: Record<string, Output>;
          try {
            got = await runOrt(m, feeds);
          } catch (e) {
            throw new Error(`${pass.name} (${set.label}) on ${model.name}: the result does not run in onnxruntime: ${(e as Error).message}`, { cause: e });
          }
          expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
          for (const [k, w] of Object.entries(want)) {
            expect(got[k].dims, `output ${k} dims`).toEqual(w.dims);
            expect(got[k].dtype, `output ${k} dtype`).toBe(w.dtype);
            if (w.dtype === 'float' || w.dtype === 'float16') {
              const g = asNumbers(got[k]);
              expect(g.every(Number.isFinite), `output ${k} has non-finite values`).toBe(true);
            }
          }
          let cos: number | undefined;
          if (set.minCosine !== undefined) {
            const k = original.graph.outputs[0].name;
            cos = cosine(asNumbers(got[k]), asNumbers(want[k]));
            expect(cos, `cosine of ${k} with the original`).toBeGreaterThanOrEqual(set.minCosine);
          }
          // MLC_CONTRACT_LOG=file.jsonl: one line per case (what was modified / skipped), to review the matrix
          if (process.env.MLC_CONTRACT_LOG) {
            const line = { model: model.name, pass: pass.name, set: set.label, modified: r.modified, skipped: r.skipped, cosine: cos };
            appendFileSync(process.env.MLC_CONTRACT_LOG, JSON.stringify(line) + '\n');
          }
        });
      }
    }
  });
}
