/**
 * The pass contract, for every registered pass (from the registry: registering a pass brings it
 * here, and the suite fails until OPTION_SETS says how to run it) × a set of standard models: the
 * MNIST fixtures, every builder of src/models in its small configuration (exporter shapes: BERT
 * with int64 inputs and a mask, ResNet, ViT, LSTM / GRU, If / Loop subgraphs, fp16, opset 18+,
 * dim_params), a model with nothing to do and one calling a model-local function.
 *
 * For each pass, option set and model:
 *   - the pass does not throw (a node it cannot handle is a skip with a reason);
 *   - `modified: false` ⇒ the model is byte-identical (same serialized bytes, same fingerprint);
 *   - the result loads and runs in onnxruntime-node, with the original's outputs (names, dims) and
 *     finite values; where the option set preserves the function (quantization) the first output
 *     stays close to the original's (cosine);
 *   - unknown options are rejected (USAGE).
 *
 * MLC_CONTRACT_LOG=cases.jsonl writes one line per case (modified, skips with reasons, cosine) to
 * review what each pass did on each model.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { compress } from '../../src/index.js';
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
  // 255 shared values keep the function; the tuned set runs the tied training path where it can
  cluster: [
    { label: '255 per layer, auto storage', options: { clusters: 255 }, minCosine: 0.97 },
    { label: '4 bits shared, sparse storage, half', options: { bits: 4, codebook: 'shared', storage: 'sparse', init: 'kmeans++', half: true } },
    { label: '3 bits dense, 1 tuning epoch', options: { bits: 3, storage: 'dense', epochs: 1, batchSize: 8 } },
  ],
  quantize: [
    { label: 'int8 dynamic', options: { type: 'int8' }, minCosine: 0.97 },
    { label: 'int8 dynamic standard', options: { type: 'int8', dynamicForm: 'standard' }, minCosine: 0.97 },
    { label: 'uint8 dynamic', options: { type: 'uint8' }, minCosine: 0.97 },
    { label: 'int8 static', options: { type: 'int8', mode: 'static', calibrationSamples: 16 }, minCosine: 0.97 },
    { label: 'int8 weight-only', options: { type: 'int8', mode: 'weight-only' }, minCosine: 0.99 },
    { label: 'fp16', options: { type: 'fp16' }, minCosine: 0.999 },
    { label: 'int4', options: { type: 'int4' }, minCosine: 0.95 },
  ],
  // names and doc strings only: the function is exactly the same
  minify: [{ label: 'names and doc strings', options: {}, minCosine: 0.99999 }],
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

/**
 * A model-local function, as torch's dynamo exporter (torch 2.1–2.4) wrote modules: the main graph
 * calls `pkg.torch:Linear_fc1(input, fc1.weight, fc1.bias)`, whose body is MatMul + Add + Relu.
 */
function localFunction(): Model {
  const b = new ModelBuilder({ opsets: [{ domain: '', version: 18 }, { domain: 'pkg.torch', version: 1 }], name: 'main_graph' });
  const x = b.input('input', DataType.FLOAT, ['batch', 16]);
  const rng = uniformRng(3);
  const u = (n: number, s: number) => Float32Array.from({ length: n }, () => (2 * rng() - 1) * s);
  const y = b.op('Linear_fc1', [x, b.init('fc1.weight', [16, 32], u(512, 0.4)), b.init('fc1.bias', [32], u(32, 0.1))], {}, { domain: 'pkg.torch', name: 'fc1_1' });
  b.output(b.op('MatMul', [y, b.init('fc2.weight', [32, 8], u(256, 0.3))], {}, { name: 'node_MatMul_1' }), DataType.FLOAT, ['batch', 8], 'logits');
  const m = b.build();
  m.functions.push({
    name: 'Linear_fc1',
    domain: 'pkg.torch',
    inputs: ['x', 'w', 'b'],
    outputs: ['y'],
    attributeNames: [],
    attributeDefaults: [],
    nodes: [
      { name: 'mm', opType: 'MatMul', domain: '', inputs: ['x', 'w'], outputs: ['t'], attributes: [] },
      { name: 'add', opType: 'Add', domain: '', inputs: ['t', 'b'], outputs: ['u'], attributes: [] },
      { name: 'relu', opType: 'Relu', domain: '', inputs: ['u'], outputs: ['y'], attributes: [] },
    ],
    opsetImports: [{ domain: '', version: 18 }],
    valueInfo: [],
  });
  return m;
}

const MODELS: StandardModel[] = [
  fixture('mnist-mlp', 'fixtures/mnist-mlp.onnx'),
  fixture('mnist-cnn', 'fixtures/mnist-cnn.onnx'),
  ...MODEL_BUILDERS,
  { name: 'nothing-to-do', build: nothingToDo, inputs: (n, s) => inputsFromMetadata(nothingToDo(), n, s) },
  { name: 'local-function', build: localFunction, inputs: (n, s) => inputsFromMetadata(localFunction(), n, s) },
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

describe('pass contract: weights a pass leaves alone are named', () => {
  it('quantize int4, prune and lowrank list LSTM / GRU nodes, whose W and R they do not rewrite', async () => {
    const runs: [string, Record<string, unknown>, RegExp][] = [
      ['quantize', { type: 'int4' }, /are not quantized/],
      ['prune', { sparsity: 0.5 }, /are not pruned/],
      ['lowrank', { ratio: 0.5 }, /are not factored/],
      ['cluster', { clusters: 15 }, /are not clustered/],
    ];
    for (const name of ['lstm', 'gru']) {
      const e = MODEL_BUILDERS.find((x) => x.name === name)!;
      for (const [passName, options, reason] of runs) {
        const m = e.build();
        const pass = passes.find((p) => p.name === passName)!;
        const r = await pass.run(m, pass.parseOptions(options), { log: silentLogger, rng: seededRng(1) });
        const rnn = m.graph.nodes.filter((n) => n.opType === 'LSTM' || n.opType === 'GRU');
        expect(rnn.length).toBeGreaterThan(0);
        for (const n of rnn) expect(r.skipped.some((s) => s.node.includes(n.name) && reason.test(s.reason)), `${passName} on ${name}`).toBe(true);
      }
    }
  });

  it('8-bit quantization (dynamic, weight-only) stores LSTM / GRU weights W and R 8-bit, dequantized by a Cast and a Mul onnxruntime folds at load', async () => {
    for (const name of ['lstm', 'gru']) {
      const e = MODEL_BUILDERS.find((x) => x.name === name)!;
      for (const mode of ['dynamic', 'weight-only']) {
        const m = e.build();
        const pass = passes.find((p) => p.name === 'quantize')!;
        const r = await pass.run(m, pass.parseOptions({ type: 'int8', mode }), { log: silentLogger, rng: seededRng(1) });
        const rnn = m.graph.nodes.filter((n) => n.opType === 'LSTM' || n.opType === 'GRU');
        expect(rnn.length).toBeGreaterThan(0);
        for (const n of rnn) {
          expect(r.skipped.some((s) => s.node.includes(n.name)), `${name} ${mode}: ${JSON.stringify(r.skipped)}`).toBe(false);
          for (const i of [1, 2]) {
            expect(m.graph.constantValue(n.inputs[i]), `${name} ${mode} input ${i} is no float constant any more`).toBeUndefined();
            expect(m.graph.producer(n.inputs[i])?.opType).toBe('Mul');
          }
        }
        const key = mode === 'dynamic' ? `${rnn[0].opType}(weight-only)` : rnn[0].opType;
        expect(r.stats?.[key]).toBe(2 * rnn.length);
      }
    }
  });

  it('the same passes list a call of a model-local function that takes a weight', async () => {
    for (const [passName, options, what] of [['quantize', { type: 'int8' }, 'quantized'], ['prune', { sparsity: 0.5 }, 'pruned'], ['lowrank', { ratio: 0.5 }, 'factored']] as const) {
      const pass = passes.find((p) => p.name === passName)!;
      const r = await pass.run(localFunction(), pass.parseOptions(options), { log: silentLogger, rng: seededRng(1) });
      expect(r.skipped.some((s) => s.node.includes('fc1_1') && s.reason.includes(`fc1.weight, fc1.bias used inside the model-local function pkg.torch:Linear_fc1: not ${what}`))).toBe(true);
    }
  });
});

describe('pass contract: a whole recipe through the API', () => {
  // low-rank → prune → quantize on each model, as `compress` runs it: the pipeline checks the model
  // loads after every modifying pass and that a pass reporting no change changed nothing
  for (const model of MODELS) {
    it(`lowrank → prune → quantize int8 on ${model.name}`, async () => {
      const m = await model.build();
      const r = await compress(m, [
        { pass: 'lowrank', options: { ratio: 0.5, svd: 'randomized', powerIters: 1 } },
        { pass: 'prune', options: { sparsity: 0.5 } },
        { pass: 'quantize', options: { type: 'int8' } },
      ]);
      expect(r.passes.map((p) => p.name)).toEqual(['lowrank', 'prune', 'quantize']);
      const feeds = model.inputs(2, 7);
      const want = await runOrt(m, feeds);
      const got = await runOrt(r.model, feeds);
      for (const [k, w] of Object.entries(want)) {
        expect(got[k].dims).toEqual(w.dims);
        if (w.dtype === 'float' || w.dtype === 'float16') expect(asNumbers(got[k]).every(Number.isFinite)).toBe(true);
      }
    });
  }
});
