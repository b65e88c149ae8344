import { TESTDATA, haveTestdata } from '../helpers/testdata.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset, readNpy, readNpz, writeNpy, writeNpz } from '../../src/data/index.js';
import { MlcError } from '../../src/core/errors.js';
import { DataType, ModelBuilder, Tensor, type Dim } from '../../src/ir/index.js';
import { encodeTensorProto, loadModel } from '../../src/onnx/index.js';

const dir = join(__dirname, 'files');
const f = (name: string) => join(dir, name);
const tmp = mkdtempSync(join(tmpdir(), 'mlc-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A model with the given inputs (all fed to one Identity each; outputs irrelevant here). */
function modelWith(inputs: { name: string; type: DataType; shape: Dim[] }[]) {
  const b = new ModelBuilder();
  for (const i of inputs) {
    const x = b.input(i.name, i.type, i.shape);
    b.output(b.op('Identity', [x]), i.type, i.shape, `${i.name}_out`);
  }
  return b.build();
}
const single = modelWith([{ name: 'input', type: DataType.FLOAT, shape: ['N', 4] }]);

async function inputError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MlcError);
  expect((err as MlcError).code).toBe('INPUT');
  return (err as Error).message;
}

describe('loadDataset: npz', () => {
  it('matches arrays to inputs by name and turns int64 labels into an Int32Array', async () => {
    for (const name of ['stored.npz', 'deflated.npz']) {
      const ds = await loadDataset(f(name), single);
      expect(ds.count).toBe(5);
      expect(Object.keys(ds.inputs)).toEqual(['input']);
      expect(ds.inputs.input.dims).toEqual([5, 4]);
      expect(ds.labels).toBeInstanceOf(Int32Array);
      expect(Array.from(ds.labels!)).toEqual([0, 1, 2, 1, 0]);
    }
  });

  it("accepts numpy.savez's positional 'arr_0' for a single-input model", async () => {
    const ds = await loadDataset(f('positional.npz'), single);
    expect(Object.keys(ds.inputs)).toEqual(['input']);
    expect(ds.labels).toBeUndefined();
  });

  it('feeds several inputs by name, checks shared symbolic dims, warns about unused arrays', async () => {
    const m = modelWith([
      { name: 'a', type: DataType.FLOAT, shape: ['N', 2] },
      { name: 'b', type: DataType.INT64, shape: ['N'] },
    ]);
    const warnings: string[] = [];
    const ds = await loadDataset(f('two_inputs.npz'), m, { warn: (w) => warnings.push(w) });
    expect(Object.keys(ds.inputs).sort()).toEqual(['a', 'b']);
    expect(ds.count).toBe(3);
    expect(Array.from(ds.inputs.b.data as BigInt64Array)).toEqual([1n, 2n, 3n]);
    expect(warnings).toEqual([expect.stringMatching(/arrays not used by the model: extra/)]);

    const bad = modelWith([
      { name: 'a', type: DataType.FLOAT, shape: ['N', 2] },
      { name: 'extra', type: DataType.FLOAT, shape: ['N'] },
    ]);
    expect(await inputError(loadDataset(f('two_inputs.npz'), bad))).toMatch(/input 'extra': dimension 'N' is 1 here but 3 in another input/);
  });

  it('without a model, every array but labels is an input', async () => {
    const ds = await loadDataset(f('two_inputs.npz'));
    expect(Object.keys(ds.inputs).sort()).toEqual(['a', 'b', 'extra']);
  });
});

describe('loadDataset: errors name the input, what the model wants and what the file has', () => {
  it('a missing input', async () => {
    const msg = await inputError(loadDataset(f('two_inputs.npz'), single));
    expect(msg).toMatch(/missing input 'input': the model wants float \[N, 4\], the file has 'a' float \[3, 2\], 'b' int64 \[3\], 'extra' float \[1\]/);
  });

  it('a wrong dtype', async () => {
    const msg = await inputError(loadDataset(f('float64_input.npz'), single));
    expect(msg).toMatch(/float64_input\.npz: input 'input': the model wants float \[N, 4\], the file has double \[5, 4\]: wrong dtype/);
  });

  it('a wrong shape and a wrong rank', async () => {
    expect(await inputError(loadDataset(f('wrong_shape.npz'), single))).toMatch(
      /input 'input': the model wants float \[N, 4\], the file has float \[5, 3\]: dimension 1 must be 4/,
    );
    expect(await inputError(loadDataset(f('f32_le.npy'), modelWith([{ name: 'x', type: DataType.FLOAT, shape: ['N', 3, 4] }])))).toMatch(
      /input 'x': the model wants float \[N, 3, 4\], the file has float \[3, 4\]: wrong rank/,
    );
  });

  it('labels that are not integers, or not one per sample', async () => {
    expect(await inputError(loadDataset(f('float_labels.npz'), single))).toMatch(/'labels' must hold integer class ids, the file has float \[5\]/);
    expect(await inputError(loadDataset(f('short_labels.npz'), single))).toMatch(/'labels' must be \[5\] \(one label per sample\), the file has int64 \[4\]/);
  });

  it('a single .npy for a multi-input model, a missing file, an unknown format', async () => {
    const two = modelWith([
      { name: 'a', type: DataType.FLOAT, shape: ['N', 4] },
      { name: 'b', type: DataType.FLOAT, shape: ['N', 4] },
    ]);
    expect(await inputError(loadDataset(f('f32_le.npy'), two))).toMatch(/a single \.npy feeds a single-input model; this model has 2 inputs \('a', 'b'\)/);
    expect(await inputError(loadDataset(join(tmp, 'nope.npz'), single))).toMatch(/nope\.npz: no such file/);
    writeFileSync(join(tmp, 'data.csv'), '1,2,3\n');
    expect(await inputError(loadDataset(join(tmp, 'data.csv'), single))).toMatch(/unknown format/);
  });
});

describe('loadDataset: npy', () => {
  it('feeds a single-input model from one .npy (any name), and names it after the file without a model', async () => {
    const m = modelWith([{ name: 'pixels', type: DataType.FLOAT, shape: ['batch', 4] }]);
    const ds = await loadDataset(f('f32_be.npy'), m);
    expect(Object.keys(ds.inputs)).toEqual(['pixels']);
    expect(ds.count).toBe(3);
    expect((await loadDataset(f('f32_be.npy'))).inputs.f32_be.dims).toEqual([3, 4]);
  });

  it('reads float16 and bool arrays for inputs of those types', async () => {
    const half = await loadDataset(f('f16_be.npy'), modelWith([{ name: 'h', type: DataType.FLOAT16, shape: [8] }]));
    expect(half.inputs.h.dtype).toBe('float16');
    expect((half.inputs.h.data as Uint16Array)[1]).toBe(0x3c00);
    const b = await loadDataset(f('bool.npy'), modelWith([{ name: 'm', type: DataType.BOOL, shape: [2, 3] }]));
    expect(Array.from(b.inputs.m.data as Uint8Array)).toEqual([1, 0, 1, 0, 0, 1]);
  });
});

describe('loadDataset: ONNX test_data_set folders', () => {
  it('matches input_K.pb by position and reads output_K.pb as expected outputs', async () => {
    const set = join(tmp, 'test_data_set_0');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(set, { recursive: true });
    writeFileSync(join(set, 'input_0.pb'), encodeTensorProto(Tensor.float32('whatever', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8])));
    writeFileSync(join(set, 'input_1.pb'), encodeTensorProto(Tensor.int64('x', [2], [7, 9])));
    writeFileSync(join(set, 'output_0.pb'), encodeTensorProto(Tensor.float32('y', [2, 4], [8, 7, 6, 5, 4, 3, 2, 1])));
    const m = modelWith([
      { name: 'pix', type: DataType.FLOAT, shape: ['N', 4] },
      { name: 'ids', type: DataType.INT64, shape: ['N'] },
    ]);
    const ds = await loadDataset(set, m);
    expect(Object.keys(ds.inputs)).toEqual(['pix', 'ids']);
    expect(Array.from(ds.inputs.pix.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(ds.inputs.ids.data as BigInt64Array)).toEqual([7n, 9n]);
    expect(Object.keys(ds.outputs!)).toEqual(['pix_out']);
    expect(ds.count).toBe(2);

    const three = modelWith([
      { name: 'a', type: DataType.FLOAT, shape: ['N', 4] },
      { name: 'b', type: DataType.INT64, shape: ['N'] },
      { name: 'c', type: DataType.FLOAT, shape: [1] },
    ]);
    expect(await inputError(loadDataset(set, three))).toMatch(/the model has 3 inputs, the folder has 2 input_K\.pb files; missing input 'c' \(input_2\.pb\), the model wants float \[1\]/);
    const wrongType = modelWith([
      { name: 'a', type: DataType.FLOAT, shape: ['N', 4] },
      { name: 'b', type: DataType.INT32, shape: ['N'] },
    ]);
    expect(await inputError(loadDataset(set, wrongType))).toMatch(/input 'b': the model wants int32 \[N\], the file has int64 \[2\]: wrong dtype/);
    expect(await inputError(loadDataset(tmp, m))).toMatch(/has no input_0\.pb.*it holds test_data_set_0/);
  });

  const add = `${TESTDATA}/node/test_add`;
  it.skipIf(!haveTestdata())("reads the ONNX project's own test_add data set", async () => {
    const model = await loadModel(join(add, 'model.onnx'));
    const ds = await loadDataset(join(add, 'test_data_set_0'), model);
    expect(Object.keys(ds.inputs)).toEqual(model.graph.realInputs().map((i) => i.name));
    const x = ds.inputs[Object.keys(ds.inputs)[0]];
    const y = ds.inputs[Object.keys(ds.inputs)[1]];
    const z = Object.values(ds.outputs!)[0];
    expect(x.dims).toEqual([3, 4, 5]);
    for (let i = 0; i < 60; i++) expect((z.data as Float32Array)[i]).toBeCloseTo((x.data as Float32Array)[i] + (y.data as Float32Array)[i], 5);
  });
});

describe('writeNpy / writeNpz / readNpy / readNpz on files', () => {
  it('round-trips through files', async () => {
    const a = { dtype: 'int32', dims: [2, 2], data: new Int32Array([1, -2, 3, -4]) };
    await writeNpy(join(tmp, 'a.npy'), a);
    expect(await readNpy(join(tmp, 'a.npy'))).toEqual(a);
    await writeNpz(join(tmp, 'a.npz'), { a, b: a }, { compress: true });
    expect(await readNpz(join(tmp, 'a.npz'))).toEqual({ a, b: a });
    expect(await readNpz(new Uint8Array(readFileSync(join(tmp, 'a.npz'))))).toEqual({ a, b: a });
  });
});
