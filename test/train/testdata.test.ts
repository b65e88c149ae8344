/**
 * The executor on the ONNX project's node tests (Debian package libonnx-testdata): every test model
 * made only of ops in the executor's set either compiles and reproduces the reference outputs, or
 * is refused with MlcError('UNSUPPORTED') naming the node. No other failure is allowed.
 */
import { TESTDATA, TESTDATA_SUITES, haveTestdata } from '../helpers/testdata.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { decodeTensorProto, loadModel } from '../../src/onnx/index.js';
import { useBackend } from '../../src/train/backend.js';
import { GraphExecutor, SUPPORTED_OPS } from '../../src/train/executor.js';

const DATA = TESTDATA;
const ROOTS = TESTDATA_SUITES.map((d) => join(DATA, d));
const supported = new Set(SUPPORTED_OPS);

function readPbs(dir: string, prefix: string): Tensor[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')))
    .map((f) => decodeTensorProto(readFileSync(join(dir, f))));
}

describe.skipIf(!haveTestdata()).each(['cpu', 'wasm'] as const)('executor on libonnx-testdata models (%s)', (backend) => {
  it('reproduces the reference outputs or refuses cleanly', async () => {
    if (!existsSync(DATA)) throw new Error(`libonnx-testdata is not installed (${DATA} missing): apt-get install -y libonnx-testdata`);
    const { tf } = await useBackend(backend);
    const failures: string[] = [];
    let checked = 0;
    let refused = 0;
    for (const [root, name] of ROOTS.filter(existsSync).flatMap((r) => readdirSync(r).sort().map((n) => [r, n]))) {
      const dir = join(root, name);
      const file = join(dir, 'model.onnx');
      const data = join(dir, 'test_data_set_0');
      if (!existsSync(file) || !existsSync(data)) continue;
      const model = await loadModel(file);
      const ops = model.graph.nodes.map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType));
      if (!ops.every((o) => supported.has(o))) continue;
      const realInputs = model.graph.realInputs();
      let ins: Tensor[];
      let outs: Tensor[];
      try {
        ins = readPbs(data, 'input_');
        outs = readPbs(data, 'output_');
      } catch {
        continue; // sequences / optionals: not tensors
      }
      const okTypes = [DataType.FLOAT, DataType.INT64, DataType.INT32, DataType.BOOL];
      if (ins.length !== realInputs.length || ![...ins, ...outs].every((t) => okTypes.includes(t.dtype))) continue;
      let exec: GraphExecutor | undefined;
      try {
        exec = new GraphExecutor(tf, model);
        const feeds: Record<string, ReturnType<typeof tf.tensor>> = {};
        realInputs.forEach((v, i) => {
          const t = ins[i];
          feeds[v.name] = t.dtype === DataType.FLOAT ? tf.tensor(t.toFloat32(), [...t.dims], 'float32') : tf.tensor(Int32Array.from(t.toNumbers()), [...t.dims], t.dtype === DataType.BOOL ? 'bool' : 'int32');
        });
        const got = tf.tidy(() => exec!.run(feeds)).map((t) => ({ dims: t.shape, data: t.dataSync() as ArrayLike<number> }));
        outs.forEach((want, i) => {
          const g = got[i];
          const w = want.toNumbers();
          if (g.dims.join() !== want.dims.join()) {
            failures.push(`${name}: output ${i} shape [${g.dims}] ≠ [${want.dims}]`);
            return;
          }
          for (let k = 0; k < w.length; k++) {
            const a = Number(g.data[k]);
            if (!(Math.abs(a - w[k]) <= 1e-4 + 1e-3 * Math.abs(w[k])) && !(Number.isNaN(a) && Number.isNaN(w[k]))) {
              failures.push(`${name}: output ${i}[${k}] = ${a}, want ${w[k]}`);
              return;
            }
          }
        });
        checked++;
      } catch (e) {
        if (e instanceof MlcError && e.code === 'UNSUPPORTED' && /node '/.test(e.message)) {
          refused++;
          if (process.env.DISTILL_DEBUG) console.log(name, e.message.slice(0, 160));
        }
        else failures.push(`${name}: ${(e as Error).message}`);
      } finally {
        exec?.dispose();
      }
    }
    if (process.env.DISTILL_DEBUG) console.log({ checked, refused });
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(300);
  });
});
