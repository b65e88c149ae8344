/**
 * A protobuf wire-format walker for ONNX files.
 *
 * onnx-proto (protobufjs, ONNX 1.10 schema) silently drops fields it does not know. Before decoding,
 * this walker scans the bytes against the same schema, recursing into known message fields, and
 *  - validates the wire format (wire types, lengths, field numbers): garbage and truncated files
 *    fail here with a precise message instead of decoding into nonsense;
 *  - collects, per message, the raw bytes (tag included) of every field the schema does not know,
 *    as a tree parallel to the decoded message objects, so they can be attached to them and written
 *    back unchanged on save.
 */

/** How a known field is encoded: m = message, s = length-delimited (string/bytes), v = varint,
 * f = fixed32, d = fixed64; upper case = repeated scalar (packed or not). */
type FieldKind = 's' | 'v' | 'f' | 'V' | 'F' | 'D' | { m: string };

interface FieldSpec {
  name: string; // protobufjs property name
  kind: FieldKind;
}

const S = (name: string): FieldSpec => ({ name, kind: 's' });
const V = (name: string): FieldSpec => ({ name, kind: 'v' });
const M = (name: string, m: string): FieldSpec => ({ name, kind: { m } });

/** The ONNX 1.10 (IR 8) schema as onnx-proto knows it: message → field number → spec. */
export const SCHEMA: Record<string, Record<number, FieldSpec>> = {
  ModelProto: {
    1: V('irVersion'), 8: M('opsetImport', 'OperatorSetIdProto'), 2: S('producerName'), 3: S('producerVersion'),
    4: S('domain'), 5: V('modelVersion'), 6: S('docString'), 7: M('graph', 'GraphProto'),
    14: M('metadataProps', 'StringStringEntryProto'), 20: M('trainingInfo', 'TrainingInfoProto'),
    25: M('functions', 'FunctionProto'),
  },
  GraphProto: {
    1: M('node', 'NodeProto'), 2: S('name'), 5: M('initializer', 'TensorProto'),
    15: M('sparseInitializer', 'SparseTensorProto'), 10: S('docString'), 11: M('input', 'ValueInfoProto'),
    12: M('output', 'ValueInfoProto'), 13: M('valueInfo', 'ValueInfoProto'),
    14: M('quantizationAnnotation', 'TensorAnnotation'),
  },
  NodeProto: {
    1: S('input'), 2: S('output'), 3: S('name'), 4: S('opType'), 7: S('domain'),
    5: M('attribute', 'AttributeProto'), 6: S('docString'),
  },
  AttributeProto: {
    1: S('name'), 21: S('refAttrName'), 13: S('docString'), 20: V('type'), 2: { name: 'f', kind: 'f' }, 3: V('i'),
    4: S('s'), 5: M('t', 'TensorProto'), 6: M('g', 'GraphProto'), 22: M('sparseTensor', 'SparseTensorProto'),
    14: M('tp', 'TypeProto'), 7: { name: 'floats', kind: 'F' }, 8: { name: 'ints', kind: 'V' }, 9: S('strings'),
    10: M('tensors', 'TensorProto'), 11: M('graphs', 'GraphProto'), 23: M('sparseTensors', 'SparseTensorProto'),
    15: M('typeProtos', 'TypeProto'),
  },
  ValueInfoProto: { 1: S('name'), 2: M('type', 'TypeProto'), 3: S('docString') },
  TrainingInfoProto: {
    1: M('initialization', 'GraphProto'), 2: M('algorithm', 'GraphProto'),
    3: M('initializationBinding', 'StringStringEntryProto'), 4: M('updateBinding', 'StringStringEntryProto'),
  },
  StringStringEntryProto: { 1: S('key'), 2: S('value') },
  TensorAnnotation: { 1: S('tensorName'), 2: M('quantParameterTensorNames', 'StringStringEntryProto') },
  TensorProto: {
    1: { name: 'dims', kind: 'V' }, 2: V('dataType'), 3: M('segment', 'TensorProto.Segment'),
    4: { name: 'floatData', kind: 'F' }, 5: { name: 'int32Data', kind: 'V' }, 6: S('stringData'),
    7: { name: 'int64Data', kind: 'V' }, 8: S('name'), 12: S('docString'), 9: S('rawData'),
    13: M('externalData', 'StringStringEntryProto'), 14: V('dataLocation'), 10: { name: 'doubleData', kind: 'D' },
    11: { name: 'uint64Data', kind: 'V' },
  },
  'TensorProto.Segment': { 1: V('begin'), 2: V('end') },
  SparseTensorProto: { 1: M('values', 'TensorProto'), 2: M('indices', 'TensorProto'), 3: { name: 'dims', kind: 'V' } },
  TensorShapeProto: { 1: M('dim', 'TensorShapeProto.Dimension') },
  'TensorShapeProto.Dimension': { 1: V('dimValue'), 2: S('dimParam'), 3: S('denotation') },
  TypeProto: {
    1: M('tensorType', 'TypeProto.Tensor'), 4: M('sequenceType', 'TypeProto.Sequence'), 5: M('mapType', 'TypeProto.Map'),
    9: M('optionalType', 'TypeProto.Optional'), 8: M('sparseTensorType', 'TypeProto.SparseTensor'), 6: S('denotation'),
  },
  'TypeProto.Tensor': { 1: V('elemType'), 2: M('shape', 'TensorShapeProto') },
  'TypeProto.Sequence': { 1: M('elemType', 'TypeProto') },
  'TypeProto.Map': { 1: V('keyType'), 2: M('valueType', 'TypeProto') },
  'TypeProto.Optional': { 1: M('elemType', 'TypeProto') },
  'TypeProto.SparseTensor': { 1: V('elemType'), 2: M('shape', 'TensorShapeProto') },
  OperatorSetIdProto: { 1: S('domain'), 2: V('version') },
  FunctionProto: {
    1: S('name'), 4: S('input'), 5: S('output'), 6: S('attribute'), 7: M('node', 'NodeProto'), 8: S('docString'),
    9: M('opsetImport', 'OperatorSetIdProto'), 10: S('domain'),
  },
};

/** Names of fields added to ONNX after 1.10, for friendlier warnings. */
const LATER_FIELDS: Record<string, Record<number, string>> = {
  ModelProto: { 26: 'configuration' },
  GraphProto: { 16: 'metadata_props' },
  NodeProto: { 8: 'overload', 9: 'metadata_props', 10: 'device_configurations' },
  FunctionProto: { 11: 'attribute_proto', 12: 'value_info', 13: 'overload', 14: 'metadata_props' },
  TensorProto: { 16: 'metadata_props' },
  ValueInfoProto: { 4: 'metadata_props' },
};

export function describeUnknownField(message: string, field: number): string {
  const hint = LATER_FIELDS[message]?.[field];
  return `${message} field ${field}${hint ? ` (${hint}?)` : ''}`;
}

/** Unknown fields of one message and of the messages below it (only subtrees that have some). */
export interface UnknownTree {
  /** raw bytes of each unknown field, tag included, in file order */
  raw?: Uint8Array[];
  /** field number → occurrence index → subtree */
  children?: Map<number, (UnknownTree | undefined)[]>;
}

export interface WalkResult {
  tree?: UnknownTree;
  /** "Message field N" → count */
  unknown: Map<string, number>;
}

export class WireError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly truncated = false,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 200;

/** Walk `buf[start, end)` as message `type`. Throws WireError on malformed input. */
export function walkMessage(buf: Uint8Array, type: string, start = 0, end = buf.length): WalkResult {
  const unknown = new Map<string, number>();
  const tree = walk(buf, start, end, type, unknown, 0);
  return { tree, unknown };
}

function walk(buf: Uint8Array, start: number, end: number, type: string, unknown: Map<string, number>, depth: number): UnknownTree | undefined {
  if (depth > MAX_DEPTH) throw new WireError(`messages nested deeper than ${MAX_DEPTH} levels`, start);
  const schema = SCHEMA[type];
  let tree: UnknownTree | undefined;
  let counts: Map<number, number> | undefined;
  let pos = start;
  // varint reader with bounds checks; returns a number (exact up to 2^53, enough for tags/lengths)
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new WireError(`${type}: varint runs past the end of its message`, pos, true);
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new WireError(`${type}: malformed varint`, pos);
  };
  while (pos < end) {
    const tagStart = pos;
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wt = tag % 8;
    if (field === 0 || field > 536870911) throw new WireError(`${type}: invalid field number ${field}`, tagStart);
    let valStart = pos;
    switch (wt) {
      case 0:
        varint();
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = varint();
        valStart = pos;
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new WireError(`${type}: field ${field} has invalid wire type ${wt}`, tagStart);
    }
    if (pos > end) {
      throw new WireError(`${type} field ${field} runs past the end of ${depth === 0 ? 'the file' : 'its enclosing message'}`, tagStart, true);
    }
    const spec = schema[field];
    if (!spec) {
      tree ??= {};
      (tree.raw ??= []).push(buf.subarray(tagStart, pos));
      const key = describeUnknownField(type, field);
      unknown.set(key, (unknown.get(key) ?? 0) + 1);
      continue;
    }
    const k = spec.kind;
    const ok =
      typeof k === 'object' || k === 's'
        ? wt === 2
        : k === 'v'
          ? wt === 0
          : k === 'f'
            ? wt === 5
            : k === 'V'
              ? wt === 0 || wt === 2
              : k === 'F'
                ? wt === 5 || wt === 2
                : wt === 1 || wt === 2;
    if (!ok) throw new WireError(`${type} field ${field} (${spec.name}) has wire type ${wt}`, tagStart);
    if (typeof k === 'object') {
      counts ??= new Map();
      const idx = counts.get(field) ?? 0;
      counts.set(field, idx + 1);
      const sub = walk(buf, valStart, pos, k.m, unknown, depth + 1);
      if (sub) {
        tree ??= {};
        tree.children ??= new Map();
        let l = tree.children.get(field);
        if (!l) tree.children.set(field, (l = []));
        l[idx] = sub;
      }
    }
  }
  return tree;
}

/**
 * Attach the unknown fields found by the walker to the objects protobufjs decoded, as a `$unknown`
 * array of raw field bytes on each message object. Returns the unknown fields that could not be
 * attached (should be none).
 */
export function attachUnknown(obj: Record<string, unknown>, tree: UnknownTree | undefined, type: string): void {
  if (!tree || !obj) return;
  if (tree.raw) obj.$unknown = tree.raw;
  if (!tree.children) return;
  const schema = SCHEMA[type];
  for (const [field, subs] of tree.children) {
    const spec = schema[field];
    const k = spec.kind as { m: string };
    const v = obj[spec.name];
    if (Array.isArray(v)) {
      subs.forEach((s, i) => s && v[i] && attachUnknown(v[i] as Record<string, unknown>, s, k.m));
    } else if (v && typeof v === 'object') {
      // a singular message field: protobufjs keeps the last occurrence
      const last = subs.length - 1;
      if (subs[last]) attachUnknown(v as Record<string, unknown>, subs[last], k.m);
    }
  }
}

/** Encode a tagged length-delimited field (used to re-emit fields the schema lacks). */
export function lengthDelimitedField(field: number, payload: Uint8Array): Uint8Array {
  const head: number[] = [];
  const pushVarint = (v: number) => {
    while (v >= 0x80) {
      head.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    head.push(v);
  };
  pushVarint(field * 8 + 2);
  pushVarint(payload.length);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** Parse the tag of a raw field (as collected by the walker): field number, wire type, payload. */
export function parseRawField(raw: Uint8Array): { field: number; wireType: number; payload: Uint8Array } {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = raw[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  const tag = varint();
  const field = Math.floor(tag / 8);
  const wireType = tag % 8;
  if (wireType === 2) {
    const len = varint();
    return { field, wireType, payload: raw.subarray(pos, pos + len) };
  }
  return { field, wireType, payload: raw.subarray(pos) };
}
