/**
 * Data sets for evaluation, calibration and distillation: one array per model input, matched by
 * name (`.npz` members, a single `.npy` for a single-input model) or by position (ONNX
 * `test_data_set_N/input_K.pb`), plus optional integer `labels`.
 *
 * Checks, each failing with MlcError('INPUT') that names the input, what the model wants and what
 * the file has: an input the file lacks, a dtype other than the model's, a rank or a fixed
 * dimension other than the model's (dimension 0 excepted: it counts the samples, whatever batch
 * size the model fixes), inputs whose batch sizes differ, labels that are not integers
 * or do not match the batch size.
 */
import { open, readFile, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { MlcError } from '../core/errors.js';
import { dtypeName } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { elemTypeOf, shapeOf, type Dim, type ValueInfo } from '../ir/types.js';
import type { Dataset } from '../core/types.js';
import { parseNpy, type NdArray } from './npy.js';
import { parseNpz, zipDataOffset, zipDirectory } from './npz.js';

export type { Dataset };

/** A Dataset as loaded from a file; `outputs` holds expected outputs where the file has them. */
export interface LoadedDataset extends Dataset {
  inputs: Record<string, NdArray>;
  /** expected outputs (ONNX test_data_set folders), by model output name or `output_K` */
  outputs?: Record<string, NdArray>;
  /** where the data came from, for messages */
  source: string;
}

export interface LoadDatasetOptions {
  /** told about arrays the model does not use */
  warn?: (msg: string) => void;
}

const LABEL_KEY = 'labels';
const INT_DTYPES = new Set(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);

function fmtShape(dims: readonly (Dim | undefined)[]): string {
  return `[${dims.map((d) => (d === null || d === undefined ? '?' : String(d))).join(', ')}]`;
}

function wantText(v: ValueInfo): string {
  const et = elemTypeOf(v);
  const shape = shapeOf(v);
  return `${et !== undefined ? dtypeName(et) : 'any dtype'} ${shape ? fmtShape(shape) : '(any shape)'}`;
}

function hasText(a: NdArray): string {
  return `${a.dtype} ${fmtShape(a.dims)}`;
}

function readError(path: string, e: unknown): MlcError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new MlcError('INPUT', `cannot read data file ${path}: ${why}`, { cause: e });
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    // a view of the file's buffer, not a copy of it (nothing else holds it), unless it is a slice
    // of Node's pool (small files)
    const b = await readFile(path);
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b);
  } catch (e) {
    throw readError(path, e);
  }
}

/**
 * The bytes of an `.npz` file, placed in memory so that the array data of its largest stored
 * member starts 8-byte aligned: parseNpz then hands that array out as a view of the file's bytes
 * instead of copying it (a zip puts member data at any offset). The zip directory and the
 * member's headers are read first, in three small reads; a file this does not understand is
 * read as it is.
 */
async function readNpzBytes(path: string): Promise<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw readError(path, e);
  }
  try {
    const size = (await fh.stat()).size;
    const at = async (pos: number, n: number) => {
      const b = new Uint8Array(Math.max(0, Math.min(n, size - pos)));
      await fh.read(b, 0, b.length, pos);
      return b;
    };
    let shift = 0;
    const tailLen = Math.min(size, 1 << 16);
    const biggest = zipDirectory(await at(size - tailLen, tailLen), size)
      ?.filter((e) => e.method === 0)
      .sort((a, b) => b.size - a.size)[0];
    const data = biggest && zipDataOffset(await at(biggest.local, 30), biggest);
    if (data !== undefined) {
      const npy = await at(data, 12);
      const start = data + (npy[6] === 1 ? 10 + (npy[8] | (npy[9] << 8)) : 12 + new DataView(npy.buffer).getUint32(8, true));
      shift = (8 - (start % 8)) % 8;
    }
    const bytes = new Uint8Array(new ArrayBuffer(size + shift), shift, size);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await fh.read(bytes, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return bytes;
  } catch (e) {
    throw readError(path, e);
  } finally {
    await fh.close();
  }
}

/** Read a `.npy` file (or decode `.npy` bytes). */
export async function readNpy(source: string | Uint8Array): Promise<NdArray> {
  if (typeof source !== 'string') return parseNpy(source);
  return parseNpy(await readBytes(source), source, { own: true });
}

/** Read a `.npz` file (or decode `.npz` bytes) into arrays by name. */
export async function readNpz(source: string | Uint8Array): Promise<Record<string, NdArray>> {
  if (typeof source !== 'string') return parseNpz(source);
  return parseNpz(await readNpzBytes(source), source, { own: true });
}

/** The test_data_set folder's `<prefix>_K.pb` files, ordered by K. */
async function pbFiles(dir: string, prefix: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => new RegExp(`^${prefix}_\\d+\\.pb$`).test(n));
  return names.sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0])).map((n) => join(dir, n));
}

async function readTensorPb(path: string): Promise<NdArray> {
  const { decodeTensorProto } = await import('../onnx/index.js');
  const bytes = await readBytes(path);
  let t;
  try {
    t = decodeTensorProto(bytes);
  } catch (e) {
    throw new MlcError('INPUT', `${path}: not a TensorProto: ${(e as Error).message}`, { cause: e });
  }
  if (Array.isArray(t.data)) throw new MlcError('INPUT', `${path}: string tensors are not supported as model inputs`);
  return { dtype: dtypeName(t.dtype), dims: [...t.dims], data: t.data as NdArray['data'] };
}

/** Read arrays from a file or folder, before matching them to a model. */
async function readArrays(path: string): Promise<{ arrays: Record<string, NdArray>; ordered?: NdArray[]; outputs?: NdArray[] }> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new MlcError('INPUT', `cannot read data ${path}: no such file or folder`, { cause: e });
  }
  if (st.isDirectory()) {
    const inputs = await pbFiles(path, 'input');
    if (inputs.length === 0) {
      const sets = (await readdir(path)).filter((n) => /^test_data_set_\d+$/.test(n));
      const hint = sets.length ? ` (it holds ${sets.join(', ')}: pass one of those folders)` : '';
      throw new MlcError('INPUT', `data folder ${path} has no input_0.pb; expected an ONNX test_data_set_N folder${hint}`);
    }
    const ordered = await Promise.all(inputs.map(readTensorPb));
    const outputs = await Promise.all((await pbFiles(path, 'output')).map(readTensorPb));
    const arrays: Record<string, NdArray> = {};
    ordered.forEach((a, i) => (arrays[`input_${i}`] = a));
    return { arrays, ordered, outputs };
  }
  const ext = extname(path).toLowerCase();
  const bytes = ext === '.npz' ? await readNpzBytes(path) : await readBytes(path);
  if (ext === '.npy') return { arrays: { [basename(path, extname(path))]: parseNpy(bytes, path, { own: true }) }, ordered: undefined };
  if (ext === '.npz') return { arrays: parseNpz(bytes, path, { own: true }) };
  // sniff the content for other names
  if (bytes[0] === 0x93 && bytes[1] === 0x4e) return { arrays: { [basename(path, extname(path))]: parseNpy(bytes, path, { own: true }) } };
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return { arrays: parseNpz(bytes, path, { own: true }) };
  throw new MlcError('INPUT', `data file ${path}: unknown format (expected .npz, .npy or an ONNX test_data_set folder)`);
}

function toLabels(a: NdArray, count: number, source: string, key: string): Int32Array {
  if (!INT_DTYPES.has(a.dtype)) {
    throw new MlcError('INPUT', `${source}: '${key}' must hold integer class ids, the file has ${hasText(a)}`);
  }
  const flat = a.dims.length === 1 || (a.dims.length === 2 && a.dims[1] === 1);
  if (!flat || a.dims[0] !== count) {
    throw new MlcError('INPUT', `${source}: '${key}' must be [${count}] (one label per sample), the file has ${hasText(a)}`);
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(a.data[i]);
  return out;
}

/** Check one array against the model input it feeds. */
function checkInput(v: ValueInfo, a: NdArray, source: string, symbols: Map<string, number>): void {
  const et = elemTypeOf(v);
  const where = `${source}: input '${v.name}'`;
  if (et !== undefined && dtypeName(et) !== a.dtype) {
    const hint = a.dtype === 'double' && dtypeName(et) === 'float' ? ' (convert with a.astype(numpy.float32))' : '';
    throw new MlcError('INPUT', `${where}: the model wants ${wantText(v)}, the file has ${hasText(a)}: wrong dtype${hint}`);
  }
  const shape = shapeOf(v);
  if (!shape) return;
  if (shape.length !== a.dims.length) {
    throw new MlcError('INPUT', `${where}: the model wants ${wantText(v)}, the file has ${hasText(a)}: wrong rank`);
  }
  shape.forEach((d, i) => {
    // dimension 0 is the sample count: a model with a fixed batch (e.g. 1) runs the samples that
    // many at a time
    if (i > 0 && typeof d === 'number' && d >= 0 && a.dims[i] !== d) {
      throw new MlcError('INPUT', `${where}: the model wants ${wantText(v)}, the file has ${hasText(a)}: dimension ${i} must be ${d}`);
    }
    if (typeof d === 'string' && d !== '') {
      const seen = symbols.get(d);
      if (seen !== undefined && seen !== a.dims[i]) {
        throw new MlcError(
          'INPUT',
          `${where}: dimension '${d}' is ${a.dims[i]} here but ${seen} in another input (the file has ${hasText(a)})`,
        );
      }
      symbols.set(d, a.dims[i]);
    }
  });
}

/**
 * Load a data set from `.npz`, `.npy` or an ONNX `test_data_set_N/` folder. With a model, arrays
 * are matched to its real inputs (by name; by position for .pb files; a single .npy feeds a
 * single-input model) and checked against their dtype and shape. Without a model every array
 * except the labels is an input.
 */
export async function loadDataset(path: string, model?: Model, opts: LoadDatasetOptions = {}): Promise<LoadedDataset> {
  const { arrays, ordered, outputs } = await readArrays(path);
  const labelKey =
    !ordered && LABEL_KEY in arrays && !(model && model.graph.realInputs().some((i) => i.name === LABEL_KEY)) ? LABEL_KEY : undefined;
  const inputs: Record<string, NdArray> = {};
  let expected: Record<string, NdArray> | undefined;

  if (model) {
    const real = model.graph.realInputs();
    if (ordered) {
      if (ordered.length < real.length) {
        const miss = real.slice(ordered.length);
        throw new MlcError(
          'INPUT',
          `${path}: the model has ${real.length} inputs, the folder has ${ordered.length} input_K.pb files; missing input '${miss[0].name}' (input_${ordered.length}.pb), the model wants ${wantText(miss[0])}`,
        );
      }
      real.forEach((v, i) => (inputs[v.name] = ordered[i]));
      if (outputs && outputs.length) {
        expected = {};
        outputs.forEach((a, i) => (expected![model.graph.outputs[i]?.name ?? `output_${i}`] = a));
      }
    } else {
      if (extname(path).toLowerCase() === '.npy') {
        if (real.length !== 1) {
          throw new MlcError(
            'INPUT',
            `${path}: a single .npy feeds a single-input model; this model has ${real.length} inputs (${real.map((r) => `'${r.name}'`).join(', ')}); use an .npz with one array per input`,
          );
        }
        inputs[real[0].name] = Object.values(arrays)[0];
      } else {
        // numpy.savez(f, a) names a positional array 'arr_0': accept it for a single-input model
        const named = Object.keys(arrays).filter((k) => k !== labelKey);
        if (real.length === 1 && !(real[0].name in arrays) && named.length === 1 && named[0] === 'arr_0') {
          arrays[real[0].name] = arrays.arr_0;
          delete arrays.arr_0;
        }
        for (const v of real) {
          const a = arrays[v.name];
          if (!a) {
            const has = Object.entries(arrays).map(([k, x]) => `'${k}' ${hasText(x)}`);
            throw new MlcError(
              'INPUT',
              `${path}: missing input '${v.name}': the model wants ${wantText(v)}, the file has ${has.length ? has.join(', ') : 'no arrays'}`,
            );
          }
          inputs[v.name] = a;
        }
        const unused = Object.keys(arrays).filter((k) => !(k in inputs) && k !== labelKey);
        if (unused.length && opts.warn) opts.warn(`${path}: arrays not used by the model: ${unused.join(', ')}`);
      }
    }
    const symbols = new Map<string, number>();
    for (const v of real) checkInput(v, inputs[v.name], path, symbols);
  } else {
    for (const [k, a] of Object.entries(arrays)) if (k !== labelKey) inputs[k] = a;
    if (outputs && outputs.length) {
      expected = {};
      outputs.forEach((a, i) => (expected![`output_${i}`] = a));
    }
  }

  const names = Object.keys(inputs);
  if (names.length === 0) throw new MlcError('INPUT', `${path}: no input arrays`);
  const first = inputs[names[0]];
  const count = first.dims.length > 0 ? first.dims[0] : 1;
  const ds: LoadedDataset = { inputs, count, source: path };
  if (labelKey) ds.labels = toLabels(arrays[labelKey], count, path, labelKey);
  if (expected) ds.outputs = expected;
  return ds;
}
