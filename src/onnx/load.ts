/**
 * ModelProto (bytes or file) → IR Model.
 *
 * The bytes are decoded by mlc's codec (wire.ts, the ONNX 1.18 / IR 11 schema), which validates
 * them as it goes. Fields the schema does not know, and the known fields the IR has no slot for
 * (KEEP_RAW: metadata_props below the model, node overload and device configurations, the model's
 * configuration), are kept as raw bytes in the `extra` of the IR object that holds them (model,
 * graph, node, attribute, tensor, value info, function, quantization annotation; training_info is
 * kept whole) and written back by save.ts; in the few messages the IR has no slot for (type protos,
 * shapes, opset ids, string entries, sparse tensors) unknown fields are dropped, and the warning
 * says so.
 */
import { closeSync, openSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MlcError } from '../core/errors.js';
import type { DataType } from '../ir/dtype.js';
import { Graph } from '../ir/graph.js';
import { type FunctionDef, Model, type OpsetImport } from '../ir/model.js';
import { AttrType, type AttrValue, type Attribute, type Node, type SparseTensor } from '../ir/node.js';
import type { Dim, TypeInfo, ValueInfo } from '../ir/types.js';
import { KEEP_RAW, type Msg, b64, decodeMessage, encodeMessage, has, longToInt, longToNumber } from './proto.js';
import { type Payload, scanModelFile } from './scan.js';
import { type FileRef, type ReadContext, closeFiles, fileRef, tensorFromProto } from './tensor.js';
import { WireError } from './wire.js';

export interface LoadOptions {
  /** called with warnings (unknown fields, ...); messages do not repeat the file name */
  warn?: (msg: string) => void;
  /** folder external data paths are relative to, when loading from bytes */
  baseDir?: string;
  /** name used in error messages when loading from bytes */
  name?: string;
  /**
   * (path only) read big tensors from the file(s) when first used, not now, and re-read them after
   * the garbage collector dropped them: a read-only view of a model that costs no memory until
   * used. The files stay open while such tensors exist, so they are read as they were at load
   * time even if the path is overwritten. Writes into a lazy tensor's data can be lost: assign
   * `tensor.data` instead.
   */
  lazy?: boolean;
}

/** The largest file protobuf can represent. */
const MAX_PROTO = 2 ** 31 - 1;

const utf8 = new TextDecoder('utf-8');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(b: Uint8Array): boolean {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

interface State {
  ctx: ReadContext;
  /** message types whose unknown fields the IR cannot keep */
  dropped: Set<string>;
}

function noteDropped(m: Msg | undefined, type: string, st: State): void {
  if (m?.$unknown) st.dropped.add(type);
}

function unknownExtra(m: Msg, raw?: Uint8Array[]): Record<string, unknown> | undefined {
  const parts = raw ?? (m.$unknown as Uint8Array[] | undefined);
  return parts && parts.length ? { unknownFields: b64(parts) } : undefined;
}

// ---- types -------------------------------------------------------------------------------------

function shapeFromProto(shape: Msg, st: State): { shape: Dim[]; dimDenotations?: (string | undefined)[] } {
  noteDropped(shape, 'TensorShapeProto', st);
  const dims: Dim[] = [];
  const den: (string | undefined)[] = [];
  let anyDen = false;
  for (const d of (shape.dim ?? []) as Msg[]) {
    noteDropped(d, 'TensorShapeProto.Dimension', st);
    if (has(d, 'dimValue')) dims.push(longToNumber(d.dimValue, 'dimension'));
    else if (has(d, 'dimParam')) dims.push(d.dimParam as string);
    else dims.push(null);
    if (has(d, 'denotation')) {
      den.push(d.denotation);
      anyDen = true;
    } else den.push(undefined);
  }
  return anyDen ? { shape: dims, dimDenotations: den } : { shape: dims };
}

export function typeFromProto(tp: Msg, st: State): TypeInfo {
  noteDropped(tp, 'TypeProto', st);
  let t: TypeInfo;
  if (has(tp, 'tensorType') || has(tp, 'sparseTensorType')) {
    const sparse = !has(tp, 'tensorType');
    const tt = (sparse ? tp.sparseTensorType : tp.tensorType) as Msg;
    noteDropped(tt, sparse ? 'TypeProto.SparseTensor' : 'TypeProto.Tensor', st);
    const kind = sparse ? 'sparse_tensor' : 'tensor';
    t = { kind, elemType: (tt.elemType ?? 0) as DataType };
    if (has(tt, 'shape')) Object.assign(t, shapeFromProto(tt.shape, st));
  } else if (has(tp, 'sequenceType')) {
    noteDropped(tp.sequenceType, 'TypeProto.Sequence', st);
    t = { kind: 'sequence' };
    if (has(tp.sequenceType, 'elemType')) t.elem = typeFromProto(tp.sequenceType.elemType, st);
  } else if (has(tp, 'mapType')) {
    noteDropped(tp.mapType, 'TypeProto.Map', st);
    t = { kind: 'map', keyType: (tp.mapType.keyType ?? 0) as DataType };
    if (has(tp.mapType, 'valueType')) t.value = typeFromProto(tp.mapType.valueType, st);
  } else if (has(tp, 'optionalType')) {
    noteDropped(tp.optionalType, 'TypeProto.Optional', st);
    t = { kind: 'optional' };
    if (has(tp.optionalType, 'elemType')) t.elem = typeFromProto(tp.optionalType.elemType, st);
  } else {
    t = { kind: 'unknown' };
  }
  if (has(tp, 'denotation')) t.denotation = tp.denotation;
  return t;
}

function valueInfoFromProto(vi: Msg, st: State): ValueInfo {
  const v: ValueInfo = { name: vi.name ?? '' };
  if (has(vi, 'type')) v.type = typeFromProto(vi.type, st);
  if (has(vi, 'docString')) v.docString = vi.docString;
  const extra = unknownExtra(vi);
  if (extra) v.extra = extra;
  return v;
}

// ---- tensors, attributes, nodes, graphs ---------------------------------------------------------

function sparseFromProto(sp: Msg, st: State): SparseTensor {
  noteDropped(sp, 'SparseTensorProto', st);
  const values = tensorFromProto(sp.values ?? {}, st.ctx);
  const indices = tensorFromProto(sp.indices ?? {}, st.ctx);
  return { values, indices, dims: ((sp.dims ?? []) as unknown[]).map((d) => longToNumber(d, 'sparse dimension')) };
}

function inferAttrType(a: Msg): AttrType {
  if (has(a, 'f')) return AttrType.FLOAT;
  if (has(a, 'i')) return AttrType.INT;
  if (has(a, 's')) return AttrType.STRING;
  if (has(a, 't')) return AttrType.TENSOR;
  if (has(a, 'g')) return AttrType.GRAPH;
  if (has(a, 'sparseTensor')) return AttrType.SPARSE_TENSOR;
  if (has(a, 'tp')) return AttrType.TYPE_PROTO;
  if (a.floats?.length) return AttrType.FLOATS;
  if (a.ints?.length) return AttrType.INTS;
  if (a.strings?.length) return AttrType.STRINGS;
  if (a.tensors?.length) return AttrType.TENSORS;
  if (a.graphs?.length) return AttrType.GRAPHS;
  if (a.sparseTensors?.length) return AttrType.SPARSE_TENSORS;
  if (a.typeProtos?.length) return AttrType.TYPE_PROTOS;
  return AttrType.UNDEFINED;
}

function attrFromProto(ap: Msg, owner: Graph, st: State): Attribute {
  const type = (ap.type || inferAttrType(ap)) as AttrType;
  let value: AttrValue;
  // strings that are not UTF-8 (binary blobs, e.g. EPContext caches) are kept as bytes too
  let binary: Record<string, unknown> | undefined;
  // a scalar field left out means its default (proto3-style writers omit 0), except in a reference
  const ref = has(ap, 'refAttrName');
  switch (type) {
    case AttrType.FLOAT:
      value = has(ap, 'f') ? (ap.f as number) : ref ? undefined : 0;
      break;
    case AttrType.INT:
      value = has(ap, 'i') ? longToInt(ap.i) : ref ? undefined : 0;
      break;
    case AttrType.STRING:
      value = has(ap, 's') ? utf8.decode(ap.s as Uint8Array) : ref ? undefined : '';
      if (has(ap, 's') && !isUtf8(ap.s)) binary = { rawString: b64([ap.s]) };
      break;
    case AttrType.TENSOR:
      value = has(ap, 't') ? tensorFromProto(ap.t, st.ctx) : undefined;
      break;
    case AttrType.GRAPH:
      value = has(ap, 'g') ? graphFromProto(ap.g, owner, st) : undefined;
      break;
    case AttrType.SPARSE_TENSOR:
      value = has(ap, 'sparseTensor') ? sparseFromProto(ap.sparseTensor, st) : undefined;
      break;
    case AttrType.TYPE_PROTO:
      value = has(ap, 'tp') ? typeFromProto(ap.tp, st) : undefined;
      break;
    case AttrType.FLOATS:
      value = [...((ap.floats ?? []) as number[])];
      break;
    case AttrType.INTS:
      value = ((ap.ints ?? []) as unknown[]).map((x) => longToInt(x));
      break;
    case AttrType.STRINGS:
      value = ((ap.strings ?? []) as Uint8Array[]).map((s) => utf8.decode(s));
      if (((ap.strings ?? []) as Uint8Array[]).some((s) => !isUtf8(s))) {
        binary = { rawStrings: (ap.strings as Uint8Array[]).map((s) => (isUtf8(s) ? null : b64([s]))) };
      }
      break;
    case AttrType.TENSORS:
      value = ((ap.tensors ?? []) as Msg[]).map((t) => tensorFromProto(t, st.ctx));
      break;
    case AttrType.GRAPHS:
      value = ((ap.graphs ?? []) as Msg[]).map((g) => graphFromProto(g, owner, st));
      break;
    case AttrType.SPARSE_TENSORS:
      value = ((ap.sparseTensors ?? []) as Msg[]).map((s) => sparseFromProto(s, st));
      break;
    case AttrType.TYPE_PROTOS:
      value = ((ap.typeProtos ?? []) as Msg[]).map((t) => typeFromProto(t, st));
      break;
    default:
      value = undefined;
  }
  const a: Attribute = { name: ap.name ?? '', type, value };
  if (has(ap, 'refAttrName')) a.refAttrName = ap.refAttrName;
  if (has(ap, 'docString')) a.docString = ap.docString;
  const extra = { ...unknownExtra(ap), ...binary };
  if (Object.keys(extra).length) a.extra = extra;
  return a;
}

function nodeFromProto(np: Msg, owner: Graph, st: State): Node {
  const n: Node = {
    name: np.name ?? '',
    opType: np.opType ?? '',
    domain: np.domain ?? '',
    inputs: [...((np.input ?? []) as string[])],
    outputs: [...((np.output ?? []) as string[])],
    attributes: ((np.attribute ?? []) as Msg[]).map((a) => attrFromProto(a, owner, st)),
  };
  if (has(np, 'docString')) n.docString = np.docString;
  const extra = unknownExtra(np);
  if (extra) n.extra = extra;
  return n;
}

function graphFromProto(gp: Msg, parent: Graph | undefined, st: State): Graph {
  const g = new Graph(gp.name ?? '');
  g.parent = parent;
  g.docString = gp.docString ?? '';
  g.inputs = ((gp.input ?? []) as Msg[]).map((v) => valueInfoFromProto(v, st));
  g.outputs = ((gp.output ?? []) as Msg[]).map((v) => valueInfoFromProto(v, st));
  g.valueInfo = ((gp.valueInfo ?? []) as Msg[]).map((v) => valueInfoFromProto(v, st));
  for (const tp of (gp.initializer ?? []) as Msg[]) {
    const t = tensorFromProto(tp, st.ctx);
    g.initializers.set(t.name, t);
  }
  g.sparseInitializers = ((gp.sparseInitializer ?? []) as Msg[]).map((s) => sparseFromProto(s, st));
  g.nodes = ((gp.node ?? []) as Msg[]).map((n) => nodeFromProto(n, g, st));
  const extra: Record<string, unknown> = {};
  const qa = (gp.quantizationAnnotation ?? []) as Msg[];
  if (qa.length) {
    extra.quantizationAnnotation = qa.map((a) => {
      const o: Record<string, unknown> = {
        tensorName: a.tensorName ?? '',
        quantParameterTensorNames: ((a.quantParameterTensorNames ?? []) as Msg[]).map((e) => {
          noteDropped(e, 'StringStringEntryProto', st);
          return { key: e.key ?? '', value: e.value ?? '' };
        }),
      };
      if (a.$unknown) o.unknownFields = b64(a.$unknown);
      return o;
    });
  }
  Object.assign(extra, unknownExtra(gp));
  if (Object.keys(extra).length) g.extra = extra;
  g.touch();
  return g;
}

function opsetsFromProto(list: Msg[], st: State): OpsetImport[] {
  return list.map((o) => {
    noteDropped(o, 'OperatorSetIdProto', st);
    return { domain: o.domain ?? '', version: longToNumber(o.version ?? 0, 'opset version') };
  });
}

function functionFromProto(fp: Msg, st: State): FunctionDef {
  const scratch = new Graph('function');
  const f: FunctionDef = {
    name: fp.name ?? '',
    domain: fp.domain ?? '',
    inputs: [...((fp.input ?? []) as string[])],
    outputs: [...((fp.output ?? []) as string[])],
    attributeNames: [...((fp.attribute ?? []) as string[])],
    attributeDefaults: ((fp.attributeProto ?? []) as Msg[]).map((a) => attrFromProto(a, scratch, st)),
    nodes: ((fp.node ?? []) as Msg[]).map((n) => nodeFromProto(n, scratch, st)),
    opsetImports: opsetsFromProto((fp.opsetImport ?? []) as Msg[], st),
    valueInfo: ((fp.valueInfo ?? []) as Msg[]).map((v) => valueInfoFromProto(v, st)),
  };
  if (has(fp, 'overload')) f.overload = fp.overload;
  if (has(fp, 'docString')) f.docString = fp.docString;
  const extra = unknownExtra(fp);
  if (extra) f.extra = extra;
  return f;
}

// ---- model ---------------------------------------------------------------------------------------

function modelFromProto(mp: Msg, st: State): Model {
  const m = new Model(graphFromProto(mp.graph, undefined, st));
  m.irVersion = has(mp, 'irVersion') ? longToNumber(mp.irVersion, 'ir_version') : 0;
  m.opsetImports = opsetsFromProto((mp.opsetImport ?? []) as Msg[], st);
  m.producerName = mp.producerName ?? '';
  m.producerVersion = mp.producerVersion ?? '';
  m.domain = mp.domain ?? '';
  m.modelVersion = has(mp, 'modelVersion') ? longToNumber(mp.modelVersion, 'model_version') : 0;
  m.docString = mp.docString ?? '';
  m.metadataProps = ((mp.metadataProps ?? []) as Msg[]).map((e) => {
    noteDropped(e, 'StringStringEntryProto', st);
    return { key: e.key ?? '', value: e.value ?? '' };
  });
  m.functions = ((mp.functions ?? []) as Msg[]).map((f) => functionFromProto(f, st));
  const extra: Record<string, unknown> = {};
  const ti = (mp.trainingInfo ?? []) as Msg[];
  // training_info is kept whole, as serialized TrainingInfoProto messages (base64)
  if (ti.length) extra.trainingInfo = ti.map((t) => b64([encodeMessage('TrainingInfoProto', t)]));
  Object.assign(extra, unknownExtra(mp));
  if (Object.keys(extra).length) m.extra = extra;
  return m;
}

function looksLikeJson(bytes: Uint8Array): boolean {
  for (let i = 0; i < Math.min(bytes.length, 64); i++) {
    const c = bytes[i];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xef || c === 0xbb || c === 0xbf) continue;
    return c === 0x7b || c === 0x5b; // { or [
  }
  return false;
}

/**
 * Decode model bytes. `label` names the source in messages. `payloads` (from scan.ts) gives the
 * raw_data of main-graph initializers (by index) that were left out of `bytes`.
 */
export function decodeModel(
  bytes: Uint8Array,
  label: string,
  opts: LoadOptions = {},
  baseDir?: string,
  payloads?: Map<number, Payload>,
  file?: FileRef,
): Model {
  if (bytes.length === 0) throw new MlcError('INPUT', `${label}: file is empty`);
  if (looksLikeJson(bytes)) throw new MlcError('INPUT', `${label}: this is a JSON file, not an ONNX model (ONNX models are binary protobuf)`);
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    throw new MlcError('INPUT', `${label}: this is a zip archive (a PyTorch checkpoint or an .npz?), not an ONNX model`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new MlcError('INPUT', `${label}: this file is gzip-compressed; decompress it first`);
  }
  const unknown = new Map<string, number>();
  let mp: Msg;
  try {
    mp = decodeMessage('ModelProto', bytes, { unknown, keepRaw: KEEP_RAW });
  } catch (e) {
    if (e instanceof WireError) {
      throw new MlcError(
        'INPUT',
        e.truncated
          ? `${label}: truncated or corrupt ONNX model (${e.message}; at byte ${e.offset} of ${bytes.length})`
          : `${label}: not a valid ONNX model (${e.message}; at byte ${e.offset})`,
      );
    }
    throw new MlcError('INPUT', `${label}: not a valid ONNX model (${(e as Error).message})`);
  }
  if (!has(mp, 'graph')) {
    throw new MlcError('INPUT', `${label}: not a valid ONNX model (it has no graph)`);
  }
  if (payloads) {
    const inits = (mp.graph.initializer ?? []) as Msg[];
    for (const [i, raw] of payloads) {
      if (!inits[i]) continue;
      if (raw instanceof Uint8Array) inits[i].rawData = raw;
      else if (file) inits[i].$lazy = { file, offset: raw.offset, length: raw.length };
    }
  }
  const st: State = { ctx: { baseDir, lazy: !!opts.lazy && baseDir !== undefined }, dropped: new Set() };
  let model: Model;
  try {
    model = modelFromProto(mp, st);
  } catch (e) {
    if (e instanceof MlcError) throw new MlcError(e.code, `${label}: ${e.message}`, { cause: e });
    if (e instanceof RangeError || e instanceof WireError) throw new MlcError('INPUT', `${label}: not a valid ONNX model (${e.message})`, { cause: e });
    throw e;
  } finally {
    closeFiles(st.ctx);
  }
  if (unknown.size && opts.warn) {
    const list = [...unknown].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ');
    let msg = `fields unknown to the ONNX schema mlc reads with (ONNX 1.18, IR 11): ${list}.`;
    if (st.dropped.size) msg += ` Unknown fields inside ${[...st.dropped].join(', ')} cannot be kept and will be missing when the model is saved; the others are kept and written back unchanged.`;
    else msg += ' They are kept and written back unchanged on save.';
    opts.warn(msg);
  }
  return model;
}

/** Size of a model file, with clear errors for missing, empty, folder and > 2 GB files. */
async function modelFileSize(path: string): Promise<number> {
  let size: number;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new MlcError('INPUT', `${path}: is a directory, not a model file`);
    size = s.size;
  } catch (e) {
    if (e instanceof MlcError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MlcError('INPUT', `${path}: file not found`);
    throw new MlcError('INPUT', `${path}: cannot read (${code ?? (e as Error).message})`);
  }
  if (size === 0) throw new MlcError('INPUT', `${path}: file is empty`);
  if (size > MAX_PROTO) throw new MlcError('INPUT', `${path}: file is ${size} bytes, larger than protobuf's 2 GB limit; not a valid ONNX model file`);
  return size;
}

function cannotRead(path: string, e: unknown): MlcError {
  const code = (e as NodeJS.ErrnoException).code;
  return new MlcError('INPUT', `${path}: cannot read (${code === 'EACCES' ? 'permission denied' : (code ?? (e as Error).message)})`);
}

/** Read a model file with clear errors (into one buffer of its own, read in large slices). */
export async function readModelFile(path: string): Promise<Uint8Array> {
  const size = await modelFileSize(path);
  try {
    const fh = await open(path, 'r');
    try {
      const out = Buffer.allocUnsafeSlow(size);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(out, done, Math.min(1 << 30, size - done), done);
        if (bytesRead <= 0) break;
        done += bytesRead;
      }
      return new Uint8Array(out.buffer, 0, done);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw cannotRead(path, e);
  }
}

/**
 * Load a model from a path (external data relative to its folder) or from bytes.
 *
 * From a path, each big initializer's data (inline raw_data or external data) is read straight
 * into a buffer of its own (see scan.ts): one copy from the page cache, no file-sized buffer.
 * From bytes, tensor data is viewed in place where aligned, else copied once: a model loaded from
 * bytes may share memory with them (do not reuse the bytes for something else while the model is
 * in use).
 */
export async function loadModel(source: string | Uint8Array, opts: LoadOptions = {}): Promise<Model> {
  if (typeof source === 'string') {
    const size = await modelFileSize(source);
    const baseDir = dirname(resolve(source));
    let fd: number | undefined;
    try {
      fd = openSync(source, 'r');
    } catch {
      // the ordinary read below reports why
    }
    if (fd !== undefined) {
      let sk;
      let keep = false;
      try {
        sk = scanModelFile(fd, size, { lazy: opts.lazy });
        if (sk) {
          // lazy: the tensors keep the file open (closed when the last of them is gone)
          const file = opts.lazy ? fileRef(fd, resolve(source)) : undefined;
          keep = !!file;
          return decodeModel(sk.bytes, source, opts, baseDir, sk.payloads, file);
        }
      } finally {
        if (!keep) closeSync(fd);
      }
    }
    const bytes = await readModelFile(source);
    return decodeModel(bytes, source, opts, baseDir);
  }
  return decodeModel(source, opts.name ?? '<model bytes>', opts, opts.baseDir);
}

/** The model file without its big inline tensor data (read through scan.ts), or the whole file. */
async function skeletonOf(path: string): Promise<Uint8Array> {
  const size = await modelFileSize(path);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
  } catch {
    // the ordinary read below reports why
  }
  if (fd !== undefined) {
    try {
      const sk = scanModelFile(fd, size, { lazy: true });
      if (sk) return sk.bytes;
    } finally {
      closeSync(fd);
    }
  }
  return readModelFile(path);
}

/**
 * Absolute paths of the distinct external data files a model file references ([] if none),
 * without reading the tensor data. Files that do not exist are listed too.
 */
export async function externalDataFiles(modelPath: string): Promise<string[]> {
  const bytes = await skeletonOf(modelPath);
  let mp: Msg;
  try {
    mp = decodeMessage('ModelProto', bytes);
  } catch (e) {
    throw new MlcError('INPUT', `${modelPath}: not a valid ONNX model (${(e as Error).message})`);
  }
  const dir = dirname(resolve(modelPath));
  const found = new Set<string>();
  const visit = (v: unknown): void => {
    if (!v || typeof v !== 'object' || ArrayBuffer.isView(v)) return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    const m = v as Msg;
    if (m.dataLocation === 1 && Array.isArray(m.externalData)) {
      const loc = (m.externalData as Msg[]).find((e) => e.key === 'location')?.value;
      if (loc) found.add(resolve(dir, loc));
    }
    for (const k of Object.keys(m)) if (k !== '$unknown') visit(m[k]);
  };
  visit(mp);
  return [...found].sort();
}
