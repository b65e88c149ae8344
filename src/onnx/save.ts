/**
 * IR Model → ModelProto bytes / file. Tensors are written as raw_data (strings as string_data);
 * fields kept in `extra` on load (unknown fields, training_info, quantization_annotation, ...) are
 * written back. With external data, initializers of at least 1 KiB go to one side file
 * `<output>.data` beside the model, each at an aligned offset.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MlcError } from '../core/errors.js';
import type { Graph } from '../ir/graph.js';
import type { FunctionDef, Model } from '../ir/model.js';
import { AttrType, type Attribute, type Int, type Node, type SparseTensor, subgraphsOf } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import type { Dim, TypeInfo, ValueInfo } from '../ir/types.js';
import { checkOutputDir, removeQuietly, writeFileAtomic } from '../util/fs.js';
import { type Msg, encodeMessage, encodeMessageChunks, toLong, unb64 } from './proto.js';
import { type ExternalWriter, tensorToProto } from './tensor.js';
import { lengthDelimitedField } from './wire.js';

const utf8 = new TextEncoder();
const MAX_PROTO = 2 ** 31 - 1;

function unknownOf(extra: Record<string, unknown> | undefined): Uint8Array[] | undefined {
  const u = extra?.unknownFields;
  return typeof u === 'string' && u.length ? [unb64(u)] : undefined;
}

function withUnknown(m: Msg, extra: Record<string, unknown> | undefined): Msg {
  const u = unknownOf(extra);
  if (u) m.$unknown = u;
  return m;
}

function dimsToProto(shape: Dim[], den?: (string | undefined)[]): Msg {
  return {
    dim: shape.map((d, i) => {
      const o: Msg = {};
      if (typeof d === 'number') o.dimValue = d;
      else if (typeof d === 'string') o.dimParam = d;
      if (den?.[i] !== undefined) o.denotation = den[i];
      return o;
    }),
  };
}

export function typeToProto(t: TypeInfo): Msg {
  const tp: Msg = {};
  switch (t.kind) {
    case 'tensor':
    case 'sparse_tensor': {
      const tt: Msg = { elemType: t.elemType };
      if (t.shape) tt.shape = dimsToProto(t.shape, t.dimDenotations);
      if (t.kind === 'tensor') tp.tensorType = tt;
      else tp.sparseTensorType = tt;
      break;
    }
    case 'sequence':
      tp.sequenceType = t.elem ? { elemType: typeToProto(t.elem) } : {};
      break;
    case 'map':
      tp.mapType = { keyType: t.keyType };
      if (t.value) tp.mapType.valueType = typeToProto(t.value);
      break;
    case 'optional':
      tp.optionalType = t.elem ? { elemType: typeToProto(t.elem) } : {};
      break;
    default:
      break;
  }
  if (t.denotation !== undefined) tp.denotation = t.denotation;
  return tp;
}

function valueInfoToProto(v: ValueInfo): Msg {
  const m: Msg = { name: v.name };
  if (v.type) m.type = typeToProto(v.type);
  if (v.docString) m.docString = v.docString;
  return withUnknown(m, v.extra);
}

function sparseToProto(s: SparseTensor, ext?: ExternalWriter): Msg {
  return { values: tensorToProto(s.values, ext), indices: tensorToProto(s.indices, ext), dims: [...s.dims] };
}

const lossy = new TextDecoder('utf-8');

/** UTF-8 bytes of `s`, or the original bytes kept on load when `s` is still their (lossy) decoding. */
function stringBytes(s: string, raw: unknown): Uint8Array {
  if (typeof raw === 'string') {
    const b = unb64(raw);
    if (lossy.decode(b) === s) return b;
  }
  return utf8.encode(s);
}

function attrToProto(a: Attribute, ext?: ExternalWriter): Msg {
  const m: Msg = { name: a.name };
  if (a.type !== AttrType.UNDEFINED) m.type = a.type;
  if (a.refAttrName) m.refAttrName = a.refAttrName;
  if (a.docString) m.docString = a.docString;
  const v = a.value;
  if (v !== undefined) {
    switch (a.type) {
      case AttrType.FLOAT:
        m.f = v as number;
        break;
      case AttrType.INT:
        m.i = toLong(v as Int);
        break;
      case AttrType.STRING:
        m.s = stringBytes(v as string, a.extra?.rawString);
        break;
      case AttrType.TENSOR:
        m.t = tensorToProto(v as Tensor);
        break;
      case AttrType.GRAPH:
        m.g = graphToProto(v as Graph, ext);
        break;
      case AttrType.SPARSE_TENSOR:
        m.sparseTensor = sparseToProto(v as SparseTensor);
        break;
      case AttrType.TYPE_PROTO:
        m.tp = typeToProto(v as TypeInfo);
        break;
      case AttrType.FLOATS:
        m.floats = [...(v as number[])];
        break;
      case AttrType.INTS:
        m.ints = (v as Int[]).map(toLong);
        break;
      case AttrType.STRINGS: {
        const raw = Array.isArray(a.extra?.rawStrings) ? (a.extra.rawStrings as unknown[]) : [];
        m.strings = (v as string[]).map((s, i) => stringBytes(s, raw[i]));
        break;
      }
      case AttrType.TENSORS:
        m.tensors = (v as Tensor[]).map((t) => tensorToProto(t));
        break;
      case AttrType.GRAPHS:
        m.graphs = (v as Graph[]).map((g) => graphToProto(g, ext));
        break;
      case AttrType.SPARSE_TENSORS:
        m.sparseTensors = (v as SparseTensor[]).map((s) => sparseToProto(s));
        break;
      case AttrType.TYPE_PROTOS:
        m.typeProtos = (v as TypeInfo[]).map(typeToProto);
        break;
      default:
        throw new MlcError('INTERNAL', `attribute ${a.name}: unknown attribute type ${a.type}`);
    }
  }
  return withUnknown(m, a.extra);
}

function nodeToProto(n: Node, ext?: ExternalWriter): Msg {
  const m: Msg = { input: n.inputs, output: n.outputs, opType: n.opType };
  if (n.name) m.name = n.name;
  if (n.domain) m.domain = n.domain;
  if (n.attributes.length) m.attribute = n.attributes.map((a) => attrToProto(a, ext));
  if (n.docString) m.docString = n.docString;
  return withUnknown(m, n.extra);
}

function graphToProto(g: Graph, ext?: ExternalWriter): Msg {
  const m: Msg = {
    node: g.nodes.map((n) => nodeToProto(n, ext)),
    initializer: [...g.initializers].map(([name, t]) => {
      const tp = tensorToProto(t, ext);
      if (name) tp.name = name;
      return tp;
    }),
    sparseInitializer: g.sparseInitializers.map((s) => sparseToProto(s)),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: g.valueInfo.map(valueInfoToProto),
  };
  if (g.name) m.name = g.name;
  if (g.docString) m.docString = g.docString;
  const qa = g.extra?.quantizationAnnotation as
    | { tensorName: string; quantParameterTensorNames: { key: string; value: string }[]; unknownFields?: string }[]
    | undefined;
  if (qa?.length) {
    m.quantizationAnnotation = qa.map((a) =>
      withUnknown({ tensorName: a.tensorName, quantParameterTensorNames: a.quantParameterTensorNames.map((e) => ({ ...e })) }, a as unknown as Record<string, unknown>),
    );
  }
  return withUnknown(m, g.extra);
}

function functionToProto(f: FunctionDef): Msg {
  const m: Msg = {
    name: f.name,
    input: f.inputs,
    output: f.outputs,
    attribute: f.attributeNames,
    node: f.nodes.map((n) => nodeToProto(n)),
    opsetImport: f.opsetImports.map((o) => ({ domain: o.domain, version: toLong(o.version) })),
  };
  if (f.domain) m.domain = f.domain;
  if (f.docString) m.docString = f.docString;
  if (f.attributeDefaults.length) m.attributeProto = f.attributeDefaults.map((a) => attrToProto(a));
  if (f.valueInfo.length) m.valueInfo = f.valueInfo.map(valueInfoToProto);
  if (f.overload) m.overload = f.overload;
  return withUnknown(m, f.extra);
}

export function modelToProto(model: Model, ext?: ExternalWriter): Msg {
  const m: Msg = {
    opsetImport: model.opsetImports.map((o) => ({ domain: o.domain, version: toLong(o.version) })),
    graph: graphToProto(model.graph, ext),
  };
  if (model.irVersion) m.irVersion = toLong(model.irVersion);
  if (model.producerName) m.producerName = model.producerName;
  if (model.producerVersion) m.producerVersion = model.producerVersion;
  if (model.domain) m.domain = model.domain;
  if (model.modelVersion) m.modelVersion = toLong(model.modelVersion);
  if (model.docString) m.docString = model.docString;
  if (model.metadataProps.length) m.metadataProps = model.metadataProps.map((p) => ({ key: p.key, value: p.value }));
  if (model.functions.length) m.functions = model.functions.map(functionToProto);
  const raw: Uint8Array[] = [];
  const ti = model.extra?.trainingInfo;
  if (Array.isArray(ti)) for (const s of ti) raw.push(lengthDelimitedField(20, unb64(s as string)));
  raw.push(...(unknownOf(model.extra) ?? []));
  if (raw.length) m.$unknown = raw;
  return m;
}

/** Bytes of all tensors in the model (initializers, sparse initializers, attribute tensors), recursively. */
export function tensorBytesTotal(model: Model): number {
  let total = 0;
  const ofTensor = (t: Tensor) => (total += t.byteLength);
  const ofGraph = (g: Graph) => {
    for (const t of g.initializers.values()) ofTensor(t);
    for (const s of g.sparseInitializers) {
      ofTensor(s.values);
      ofTensor(s.indices);
    }
    for (const n of g.nodes) ofNode(n);
  };
  const ofNode = (n: Node) => {
    for (const a of n.attributes) {
      const v = a.value;
      if (v instanceof Tensor) ofTensor(v);
      else if (Array.isArray(v)) for (const x of v as unknown[]) if (x instanceof Tensor) ofTensor(x);
    }
    for (const g of subgraphsOf(n)) ofGraph(g);
  };
  ofGraph(model.graph);
  for (const f of model.functions) f.nodes.forEach(ofNode);
  return total;
}

/** Serialize a model to ONNX bytes (all data inline). Throws if it exceeds protobuf's 2 GB limit. */
export function modelToBytes(model: Model): Uint8Array {
  if (tensorBytesTotal(model) > MAX_PROTO) {
    throw new MlcError('UNSUPPORTED', `model is larger than protobuf's 2 GB limit; save it to a file with external data instead`);
  }
  const bytes = encodeMessage('ModelProto', modelToProto(model));
  if (bytes.length > MAX_PROTO) {
    throw new MlcError('UNSUPPORTED', `model is ${bytes.length} bytes, larger than protobuf's 2 GB limit; save it to a file with external data instead`);
  }
  return bytes;
}

export interface SaveOptions {
  /** write initializers of at least `externalThreshold` bytes to `<output>.data` */
  externalData?: boolean;
  /** bytes; default 1024 */
  externalThreshold?: number;
  /**
   * switch to external data automatically when the model's tensors exceed this many bytes
   * (default: protobuf's 2 GB limit minus 64 MiB for the graph structure)
   */
  autoExternalAbove?: number;
  /** the external data file (default `<output>.data`; transformers.js loads `<output>_data`) */
  externalDataPath?: string;
  /** allow overwriting `inputPath` */
  force?: boolean;
  /** the path the model was loaded from (never overwritten without force) */
  inputPath?: string;
  /**
   * Called with the written model file (a temp file beside `path`, its external data already in
   * place) before it takes `path`'s place; when it throws, nothing is written (the external data
   * file is removed too) and the error is rethrown as is.
   */
  verify?: (tmpPath: string) => Promise<void>;
}

export interface SaveResult {
  /** total bytes written (model file + external data file) */
  bytes: number;
  modelBytes: number;
  externalDataFile?: string;
  externalDataBytes?: number;
  /**
   * `<path>.data` that the replaced file at `path` stored its tensors in (an earlier
   * --external-data run), removed after a self-contained write so that no stale side file stays
   */
  removedDataFile?: string;
}

/**
 * `<path>.data` when the file now at `path` references it (or it is empty, as saveModel leaves it
 * when no tensor reaches the threshold): the side file of the model about to be replaced. A side
 * file that model does not reference (or no model, or one mlc cannot read) is not ours to remove.
 */
async function replacedDataFile(path: string): Promise<string | undefined> {
  const data = resolve(`${path}.data`);
  try {
    const st = statSync(data);
    if (!st.isFile() || !statSync(path).isFile()) return undefined;
    if (st.size === 0) return `${path}.data`;
    const { externalDataFiles } = await import('./load.js');
    return (await externalDataFiles(path)).includes(data) ? `${path}.data` : undefined;
  } catch {
    return undefined;
  }
}

function samePath(a: string, b: string): boolean {
  const ra = resolve(a);
  const rb = resolve(b);
  if (ra === rb) return true;
  try {
    const sa = statSync(ra);
    const sb = statSync(rb);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    try {
      return realpathSync(dirname(ra)) === realpathSync(dirname(rb)) && basename(ra) === basename(rb);
    } catch {
      return false;
    }
  }
}

/** Collects external data chunks at aligned offsets. */
class ExternalData implements ExternalWriter {
  chunks: Uint8Array[] = [];
  size = 0;
  constructor(
    readonly location: string,
    readonly threshold: number,
  ) {}
  add(bytes: Uint8Array): number {
    // page-align large tensors (lets runtimes mmap them), 64-byte-align the rest
    const align = bytes.length >= 1 << 20 ? 4096 : 64;
    const pad = (align - (this.size % align)) % align;
    if (pad) {
      this.chunks.push(new Uint8Array(pad));
      this.size += pad;
    }
    const offset = this.size;
    this.chunks.push(bytes);
    this.size += bytes.length;
    return offset;
  }
}

/**
 * Save atomically to `path`. External data is used when asked for, and automatically when the
 * model would exceed protobuf's 2 GB limit.
 */
export async function saveModel(model: Model, path: string, opts: SaveOptions = {}): Promise<SaveResult> {
  if (opts.inputPath && !opts.force && samePath(path, opts.inputPath)) {
    throw new MlcError('OUTPUT', `${path}: refusing to overwrite the input model (use --force)`);
  }
  checkOutputDir(path);
  const threshold = opts.externalThreshold ?? 1024;
  const limit = opts.autoExternalAbove ?? MAX_PROTO - (64 << 20); // leave room for the graph structure
  let external = !!opts.externalData || tensorBytesTotal(model) > limit;
  if (!external) {
    const chunks = encodeMessageChunks('ModelProto', modelToProto(model));
    const size = chunks.reduce((s, c) => s + c.length, 0);
    if (size <= MAX_PROTO) {
      const stale = await replacedDataFile(path);
      await writeFileAtomic(path, chunks, { beforeRename: opts.verify });
      if (stale) await removeQuietly(stale);
      return { bytes: size, modelBytes: size, ...(stale ? { removedDataFile: stale } : {}) };
    }
    external = true;
  }
  let bytes: Uint8Array;
  const dataFile = opts.externalDataPath ?? `${path}.data`;
  const ext = new ExternalData(basename(dataFile), threshold);
  bytes = encodeMessage('ModelProto', modelToProto(model, ext));
  if (bytes.length > MAX_PROTO) {
    throw new MlcError('UNSUPPORTED', `${path}: even with external data the model is ${bytes.length} bytes, larger than protobuf's 2 GB limit`);
  }
  await writeFileAtomic(dataFile, ext.chunks);
  try {
    await writeFileAtomic(path, bytes, { beforeRename: opts.verify });
  } catch (e) {
    await removeQuietly(dataFile);
    throw e;
  }
  return { bytes: bytes.length + ext.size, modelBytes: bytes.length, externalDataFile: join(dirname(path), basename(dataFile)), externalDataBytes: ext.size };
}
