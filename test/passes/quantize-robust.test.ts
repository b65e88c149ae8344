/**
 * Robustness: every quantization mode on every libonnx-testdata model gives either a model that
 * onnxruntime-node loads and whose outputs stay close to the original's on the model's own
 * test_data_set_0, or an unchanged model (with the skip reasons where there were candidates).
 *
 * Most node tests feed their weights as graph inputs, so each model whose MatMul / Gemm / Conv /
 * Gather reads a weight (or bias) from a graph input is also run as a "frozen" variant, with those
 * inputs turned into initializers from test_data_set_0: that exercises the rewrites on every
 * attribute combination the ONNX node tests cover (transA/B, alpha/beta, broadcast C, 1-D and
 * batched MatMul, Conv groups / dilations / pads...). Weights as small as 1 element are quantized
 * here (minElements 1) to reach every path.
 */
import { haveTestdata } from '../helpers/testdata.js';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/index.js';
import { cloneModel } from '../../src/ir/clone.js';
import { dtypeFromName, DataType, type TensorData } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { cosine } from '../../src/math/stats.js';
import { loadModel, modelToBytes } from '../../src/onnx/index.js';
import type { Dataset } from '../../src/passes/pass.js';
import { quantizePass } from '../../src/passes/quantize.js';
import { createSession, makeRunner, type Output } from '../../src/runtime/index.js';
import { ctxWith } from './quantize-helpers.js';

function listModels(): string[] {
  try {
    return execFileSync('dpkg', ['-L', 'libonnx-testdata'], { encoding: 'utf8' })
      .split('\n')
      .filter((p) => p.endsWith('/model.onnx'))
      .sort();
  } catch {
    return [];
  }
}

const MODES: Record<string, Record<string, unknown>> = {
  'int8-dynamic': { type: 'int8' },
  'uint8-dynamic-standard': { type: 'uint8', dynamicForm: 'standard' },
  'int8-weight-only': { type: 'int8', mode: 'weight-only' },
  'int8-static': { type: 'int8', mode: 'static' },
  fp16: { type: 'fp16' },
  int4: { type: 'int4' },
};

/** Inputs read as weights (MatMul/Gemm/Conv input 1, Gemm/Conv bias, Gather table). */
const WEIGHT_SLOTS: Record<string, number[]> = { MatMul: [1], Gemm: [1, 2], Conv: [1, 2], Gather: [0] };

/** Turn graph inputs used as weights into initializers with the test data's values. */
function freeze(model: Model, data: Dataset): { model: Model; data: Dataset } | undefined {
  const g = model.graph;
  const names = new Set<string>();
  for (const n of g.nodes) {
    for (const i of WEIGHT_SLOTS[n.opType] ?? []) {
      const x = n.inputs[i];
      const arr = x ? data.inputs[x] : undefined;
      if (arr && arr.dtype === 'float' && g.isGraphInput(x) && !g.initializers.has(x)) names.add(x);
    }
  }
  if (!names.size || names.size === g.realInputs().length) return undefined;
  const m = cloneModel(model);
  const inputs: Dataset['inputs'] = {};
  for (const [k, v] of Object.entries(data.inputs)) {
    if (!names.has(k)) {
      inputs[k] = v;
      continue;
    }
    m.graph.initializers.set(k, new Tensor(k, dtypeFromName(v.dtype) ?? DataType.FLOAT, [...v.dims], Float32Array.from(v.data as ArrayLike<number>) as TensorData));
  }
  m.graph.inputs = m.graph.inputs.filter((i) => !names.has(i.name));
  m.graph.touch();
  return { model: m, data: { inputs, count: data.count } };
}

async function runAll(model: Model | Uint8Array, feeds: Dataset['inputs']): Promise<Record<string, Output>> {
  const s = await createSession(model);
  try {
    return await s.run(feeds as never);
  } finally {
    await s.release();
  }
}

/** Outputs close: cosine ≥ minCos, or max abs error ≤ relErr of the largest reference value. */
function close(a: Output, b: Output, minCos: number, relErr: number): string | undefined {
  if (JSON.stringify(a.dims) !== JSON.stringify(b.dims)) return `dims ${JSON.stringify(a.dims)} vs ${JSON.stringify(b.dims)}`;
  const x = a.data as ArrayLike<number>;
  const y = b.data as ArrayLike<number>;
  if (!(x instanceof Float32Array || x instanceof Float64Array)) return undefined; // ints / bools may flip near a threshold
  let ref = 0;
  let err = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) continue;
    ref = Math.max(ref, Math.abs(x[i]));
    err = Math.max(err, Math.abs(x[i] - y[i]));
  }
  const fin = (v: number) => (Number.isFinite(v) ? v : 0);
  const cos = cosine(Array.from(x, fin), Array.from(y, fin));
  if (err <= relErr * ref + 1e-5 || cos >= minCos) return undefined;
  return `cosine ${cos.toFixed(4)}, max abs error ${err.toExponential(2)} of ${ref.toExponential(2)}`;
}

type Tally = Record<string, { modified: number; unchanged: number; noRef: number }>;

/** All modes on one model; problems are appended to `problems`. */
async function checkModel(name: string, model: Model, data: Dataset | undefined, run: ReturnType<typeof makeRunner>, tally: Tally, problems: string[]) {
  const before = modelToBytes(model);
  let reference: Record<string, Output> | null | undefined;
  let origLoads: boolean | undefined;
  for (const [mode, raw] of Object.entries(MODES)) {
    const q = cloneModel(model);
    let result;
    try {
      result = await quantizePass.run(q, quantizePass.parseOptions({ ...raw, minElements: 1 }), ctxWith({ calibration: data, run }));
    } catch (e) {
      const code = (e as { code?: string }).code;
      // static mode with candidates but no readable data set: a usage error, not a crash
      if (mode === 'int8-static' && !data && code === 'USAGE') continue;
      problems.push(`${name} [${mode}]: threw ${String(e).slice(0, 300)}`);
      continue;
    }
    if (!result.modified) {
      tally[mode].unchanged++;
      if (Buffer.compare(Buffer.from(modelToBytes(q)), Buffer.from(before)) !== 0) problems.push(`${name} [${mode}]: not modified but changed`);
      continue;
    }
    tally[mode].modified++;
    if (origLoads === undefined) {
      try {
        await (await createSession(before)).release();
        origLoads = true;
      } catch {
        origLoads = false;
      }
    }
    if (!origLoads) {
      tally[mode].noRef++; // onnxruntime-node cannot load the original either
      continue;
    }
    if (reference === undefined) {
      try {
        reference = data ? await runAll(before, data.inputs) : null;
      } catch {
        reference = null; // the original does not run on this data: only check loading
      }
    }
    try {
      if (!reference || !data) {
        tally[mode].noRef++;
        await (await createSession(q)).release();
        continue;
      }
      const out = await runAll(q, data.inputs);
      for (const [k, v] of Object.entries(reference)) {
        const why = out[k] ? (mode === 'fp16' ? close(v, out[k], 0.99999, 1e-3) : close(v, out[k], 0.99, 0.05)) : 'missing output';
        if (why) problems.push(`${name} [${mode}] output ${k}: ${why}`);
      }
    } catch (e) {
      problems.push(`${name} [${mode}]: ${String(e).slice(0, 300)}`);
    }
  }
}

const models = listModels();

describe.skipIf(!haveTestdata() || models.length === 0)('every quantization mode on every libonnx-testdata model', () => {
  it(`${models.length} models (+ frozen-weight variants) × ${Object.keys(MODES).length} modes`, async () => {
    const problems: string[] = [];
    const tally: Tally = {};
    for (const k of Object.keys(MODES)) tally[k] = { modified: 0, unchanged: 0, noRef: 0 };
    let frozen = 0;
    const run = makeRunner();
    try {
      for (const path of models) {
        const name = path.split('/').slice(-3, -1).join('/');
        let model: Model;
        try {
          model = await loadModel(path);
        } catch {
          continue; // not a model mlc can read: loader tests cover that
        }
        const dataDir = join(dirname(path), 'test_data_set_0');
        let data: Dataset | undefined;
        try {
          if (existsSync(dataDir)) data = await loadDataset(dataDir, model);
        } catch {
          data = undefined;
        }
        await checkModel(name, model, data, run, tally, problems);
        const f = data && freeze(model, data);
        if (f) {
          frozen++;
          await checkModel(`${name} (frozen weights)`, f.model, f.data, run, tally, problems);
        }
      }
    } finally {
      await run.release();
    }
    console.log(`frozen-weight variants: ${frozen}; per mode: ${JSON.stringify(tally)}`);
    expect(problems).toEqual([]);
  });
});
