/**
 * mlc's own protobuf codec for the ONNX messages (no protobufjs): a decoder from the wire format to
 * plain objects and an encoder back, driven by one table of the ONNX schema (SCHEMA below, onnx.proto
 * as of ONNX 1.18, IR 11).
 *
 * Decoded objects hold only the fields present, under their camelCase names (`opType`,
 * `rawData`, …): repeated fields as arrays (packed float / double fields as Float32Array /
 * Float64Array copies), strings as JS strings (lossy UTF-8), bytes as views into the input
 * (zero-copy), int32 / enum as numbers, int64 / uint64 as numbers when they are safe integers and as
 * bigints otherwise. Fields the schema does not know are kept as their raw bytes (tag included), in
 * file order, in a `$unknown` array on the message, and the encoder writes them back unchanged after
 * the known fields. A singular message field that occurs twice is merged, as protobuf specifies.
 *
 * The decoder validates the wire format as it goes (wire types, lengths, varints, field numbers,
 * nesting depth): garbage and truncated input fail with a WireError naming the message, the field
 * and the byte offset.
 *
 * The encoder writes known fields in field-number order, repeated numbers packed (as onnx-proto,
 * the protobufjs bindings mlc used before, did), in two passes: one computes every message's size,
 * one writes into a single buffer of the exact size. `encodeChunks` leaves big byte fields (tensor
 * data) out of that buffer and returns them by reference between its slices.
 */

/** s = string, b = bytes, i32 = int32 / enum, i64 = int64, u64 = uint64, f32 = float, f64 = double. */
type Scalar = 's' | 'b' | 'i32' | 'i64' | 'u64' | 'f32' | 'f64';

export interface FieldSpec {
  /** property name on decoded objects (camelCase of the proto name) */
  name: string;
  /** a scalar kind, or the name of the message type */
  kind: Scalar | { m: string };
  repeated: boolean;
}

const one = (name: string, kind: Scalar | string): FieldSpec => ({ name, kind: isScalar(kind) ? kind : { m: kind }, repeated: false });
const rep = (name: string, kind: Scalar | string): FieldSpec => ({ name, kind: isScalar(kind) ? kind : { m: kind }, repeated: true });
function isScalar(k: string): k is Scalar {
  return k === 's' || k === 'b' || k === 'i32' || k === 'i64' || k === 'u64' || k === 'f32' || k === 'f64';
}

const SSE = 'StringStringEntryProto';

/** The ONNX schema (onnx.proto, ONNX 1.18 / IR 11): message → field number → spec. */
export const SCHEMA: Record<string, Record<number, FieldSpec>> = {
  ModelProto: {
    1: one('irVersion', 'i64'), 8: rep('opsetImport', 'OperatorSetIdProto'), 2: one('producerName', 's'), 3: one('producerVersion', 's'),
    4: one('domain', 's'), 5: one('modelVersion', 'i64'), 6: one('docString', 's'), 7: one('graph', 'GraphProto'),
    14: rep('metadataProps', SSE), 20: rep('trainingInfo', 'TrainingInfoProto'), 25: rep('functions', 'FunctionProto'),
    26: rep('configuration', 'DeviceConfigurationProto'),
  },
  DeviceConfigurationProto: { 1: one('name', 's'), 2: one('numDevices', 'i32'), 3: rep('device', 's') },
  GraphProto: {
    1: rep('node', 'NodeProto'), 2: one('name', 's'), 5: rep('initializer', 'TensorProto'), 15: rep('sparseInitializer', 'SparseTensorProto'),
    10: one('docString', 's'), 11: rep('input', 'ValueInfoProto'), 12: rep('output', 'ValueInfoProto'), 13: rep('valueInfo', 'ValueInfoProto'),
    14: rep('quantizationAnnotation', 'TensorAnnotation'), 16: rep('metadataProps', SSE),
  },
  NodeProto: {
    1: rep('input', 's'), 2: rep('output', 's'), 3: one('name', 's'), 4: one('opType', 's'), 7: one('domain', 's'), 8: one('overload', 's'),
    5: rep('attribute', 'AttributeProto'), 6: one('docString', 's'), 9: rep('metadataProps', SSE),
    10: rep('deviceConfigurations', 'NodeDeviceConfigurationProto'),
  },
  NodeDeviceConfigurationProto: { 1: one('configurationId', 's'), 2: rep('shardingSpec', 'ShardingSpecProto'), 3: one('pipelineStage', 'i32') },
  ShardingSpecProto: {
    1: one('tensorName', 's'), 2: rep('device', 'i64'), 3: rep('indexToDeviceGroupMap', 'IntIntListEntryProto'), 4: rep('shardedDim', 'ShardedDimProto'),
  },
  IntIntListEntryProto: { 1: one('key', 'i64'), 2: rep('value', 'i64') },
  ShardedDimProto: { 1: one('axis', 'i64'), 2: rep('simpleSharding', 'SimpleShardedDimProto') },
  SimpleShardedDimProto: { 1: one('dimValue', 'i64'), 2: one('dimParam', 's'), 3: one('numShards', 'i64') },
  AttributeProto: {
    1: one('name', 's'), 21: one('refAttrName', 's'), 13: one('docString', 's'), 20: one('type', 'i32'), 2: one('f', 'f32'), 3: one('i', 'i64'),
    4: one('s', 'b'), 5: one('t', 'TensorProto'), 6: one('g', 'GraphProto'), 22: one('sparseTensor', 'SparseTensorProto'), 14: one('tp', 'TypeProto'),
    7: rep('floats', 'f32'), 8: rep('ints', 'i64'), 9: rep('strings', 'b'), 10: rep('tensors', 'TensorProto'), 11: rep('graphs', 'GraphProto'),
    23: rep('sparseTensors', 'SparseTensorProto'), 15: rep('typeProtos', 'TypeProto'),
  },
  ValueInfoProto: { 1: one('name', 's'), 2: one('type', 'TypeProto'), 3: one('docString', 's'), 4: rep('metadataProps', SSE) },
  TrainingInfoProto: {
    1: one('initialization', 'GraphProto'), 2: one('algorithm', 'GraphProto'), 3: rep('initializationBinding', SSE), 4: rep('updateBinding', SSE),
  },
  StringStringEntryProto: { 1: one('key', 's'), 2: one('value', 's') },
  TensorAnnotation: { 1: one('tensorName', 's'), 2: rep('quantParameterTensorNames', SSE) },
  TensorProto: {
    1: rep('dims', 'i64'), 2: one('dataType', 'i32'), 3: one('segment', 'TensorProto.Segment'), 4: rep('floatData', 'f32'), 5: rep('int32Data', 'i32'),
    6: rep('stringData', 'b'), 7: rep('int64Data', 'i64'), 8: one('name', 's'), 12: one('docString', 's'), 9: one('rawData', 'b'),
    13: rep('externalData', SSE), 14: one('dataLocation', 'i32'), 10: rep('doubleData', 'f64'), 11: rep('uint64Data', 'u64'), 16: rep('metadataProps', SSE),
  },
  'TensorProto.Segment': { 1: one('begin', 'i64'), 2: one('end', 'i64') },
  SparseTensorProto: { 1: one('values', 'TensorProto'), 2: one('indices', 'TensorProto'), 3: rep('dims', 'i64') },
  TensorShapeProto: { 1: rep('dim', 'TensorShapeProto.Dimension') },
  'TensorShapeProto.Dimension': { 1: one('dimValue', 'i64'), 2: one('dimParam', 's'), 3: one('denotation', 's') },
  TypeProto: {
    1: one('tensorType', 'TypeProto.Tensor'), 4: one('sequenceType', 'TypeProto.Sequence'), 5: one('mapType', 'TypeProto.Map'),
    9: one('optionalType', 'TypeProto.Optional'), 8: one('sparseTensorType', 'TypeProto.SparseTensor'), 6: one('denotation', 's'),
  },
  'TypeProto.Tensor': { 1: one('elemType', 'i32'), 2: one('shape', 'TensorShapeProto') },
  'TypeProto.Sequence': { 1: one('elemType', 'TypeProto') },
  'TypeProto.Map': { 1: one('keyType', 'i32'), 2: one('valueType', 'TypeProto') },
  'TypeProto.Optional': { 1: one('elemType', 'TypeProto') },
  'TypeProto.SparseTensor': { 1: one('elemType', 'i32'), 2: one('shape', 'TensorShapeProto') },
  OperatorSetIdProto: { 1: one('domain', 's'), 2: one('version', 'i64') },
  FunctionProto: {
    1: one('name', 's'), 4: rep('input', 's'), 5: rep('output', 's'), 6: rep('attribute', 's'), 11: rep('attributeProto', 'AttributeProto'),
    7: rep('node', 'NodeProto'), 8: one('docString', 's'), 9: rep('opsetImport', 'OperatorSetIdProto'), 10: one('domain', 's'), 13: one('overload', 's'),
    12: rep('valueInfo', 'ValueInfoProto'), 14: rep('metadataProps', SSE),
  },
};

/** Hints for fields that ONNX variants define and this schema does not. */
const HINTS: Record<string, Record<number, string>> = {
  TypeProto: { 7: 'opaque_type of ONNX-ML' },
};

export function describeUnknownField(message: string, field: number): string {
  const hint = HINTS[message]?.[field];
  return `${message} field ${field}${hint ? ` (${hint}?)` : ''}`;
}

/** A decoded message, or a plain object to encode. */
export type Msg = Record<string, any>;

export class WireError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly truncated = false,
  ) {
    super(message);
  }
}

// ---- compiled schema -------------------------------------------------------------------------------

interface Compiled {
  type: string;
  /** field number → spec (sparse array) */
  byNumber: (FieldSpec | undefined)[];
  /** known fields in field-number order, with their number and precomputed tags */
  ordered: { num: number; spec: FieldSpec; tag: number; sub?: Compiled }[];
  /** field number → compiled sub-message type */
  subs: (Compiled | undefined)[];
}

const COMPILED = new Map<string, Compiled>();
for (const [type, fields] of Object.entries(SCHEMA)) {
  const byNumber: (FieldSpec | undefined)[] = [];
  for (const [n, s] of Object.entries(fields)) byNumber[Number(n)] = s;
  COMPILED.set(type, { type, byNumber, ordered: [], subs: [] });
}
for (const c of COMPILED.values()) {
  c.byNumber.forEach((spec, num) => {
    if (!spec) return;
    const sub = typeof spec.kind === 'object' ? COMPILED.get(spec.kind.m) : undefined;
    if (typeof spec.kind === 'object' && !sub) throw new Error(`onnx schema: ${c.type}.${spec.name} refers to unknown ${spec.kind.m}`);
    c.subs[num] = sub;
    c.ordered.push({ num, spec, tag: num * 8 + wireTypeOf(spec), sub });
  });
  c.ordered.sort((a, b) => a.num - b.num);
}

/** The wire type a field is written with (repeated numbers are packed). */
function wireTypeOf(spec: FieldSpec): number {
  const k = spec.kind;
  if (typeof k === 'object' || k === 's' || k === 'b' || spec.repeated) return 2;
  if (k === 'f32') return 5;
  if (k === 'f64') return 1;
  return 0;
}

function compiled(type: string): Compiled {
  const c = COMPILED.get(type);
  if (!c) throw new Error(`onnx schema: no message type ${type}`);
  return c;
}

// ---- decoding ------------------------------------------------------------------------------------

const MAX_DEPTH = 200;
const utf8 = new TextDecoder('utf-8');

export interface DecodeOptions {
  /** counts unknown fields: "Message field N" → occurrences */
  unknown?: Map<string, number>;
  /**
   * message type → field numbers to keep as raw bytes in `$unknown` instead of decoding (they are
   * still validated): for fields the caller has no place for but wants written back unchanged
   */
  keepRaw?: Record<string, readonly number[]>;
}

class Reader {
  pos = 0;
  lo = 0;
  hi = 0;
  readonly view: DataView;
  private readonly keep = new Map<Compiled, Set<number>>();
  constructor(
    readonly buf: Uint8Array,
    readonly opts: DecodeOptions,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (const [t, nums] of Object.entries(opts.keepRaw ?? {})) this.keep.set(compiled(t), new Set(nums));
  }

  keepRaw(c: Compiled): Set<number> | undefined {
    return this.keep.size ? this.keep.get(c) : undefined;
  }

  /** A varint up to 2^53 (tags, lengths); exact below that. */
  uint(end: number, type: string): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos < end) {
      const b = buf[pos];
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new WireError(`${type}: varint runs past the end of its message`, pos, true);
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
    throw new WireError(`${type}: malformed varint (more than 10 bytes)`, this.pos);
  }

  /** A varint as 64 bits: sets lo and hi (unsigned 32-bit halves). */
  bits(end: number, type: string): void {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    // at most 10 bytes, none past `end`
    const stop = Math.min(end, pos + 10);
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= stop) throw this.cut(pos, end, type);
      b = buf[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (pos >= stop) throw this.cut(pos, end, type);
    b = buf[pos++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    for (let shift = 3; b >= 0x80; shift += 7) {
      if (pos >= stop) throw this.cut(pos, end, type);
      b = buf[pos++];
      hi |= (b & 0x7f) << shift;
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** The error for a varint that stops at `pos`: past the end, or longer than 10 bytes. */
  private cut(pos: number, end: number, type: string): WireError {
    if (pos >= end) return new WireError(`${type}: varint runs past the end of its message`, pos, true);
    return new WireError(`${type}: malformed varint (more than 10 bytes)`, this.pos);
  }

  int32(end: number, type: string): number {
    const b = this.buf[this.pos];
    if (b < 0x80 && this.pos < end) {
      this.pos++;
      return b;
    }
    this.bits(end, type);
    return this.lo | 0;
  }

  int64(end: number, type: string): number | bigint {
    const b = this.buf[this.pos];
    if (b < 0x80 && this.pos < end) {
      this.pos++;
      return b;
    }
    this.bits(end, type);
    const n = (this.hi | 0) * 4294967296 + this.lo;
    if (Number.isSafeInteger(n)) return n;
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  uint64(end: number, type: string): number | bigint {
    this.bits(end, type);
    const n = this.hi * 4294967296 + this.lo;
    if (Number.isSafeInteger(n)) return n;
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

function readString(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n < 48) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
  }
  return utf8.decode(buf.subarray(start, end));
}

/** Decode `buf[start, end)` as message `type`. Throws WireError on malformed input. */
export function decode(buf: Uint8Array, type: string, opts: DecodeOptions = {}, start = 0, end = buf.length): Msg {
  const r = new Reader(buf, opts);
  r.pos = start;
  const out: Msg = {};
  decodeInto(r, out, compiled(type), end, 0, start === 0 && end === buf.length);
  return out;
}

/** Validate `buf` as message `type` and count its unknown fields (a decode whose result is dropped). */
export function walkMessage(buf: Uint8Array, type: string): { unknown: Map<string, number> } {
  const unknown = new Map<string, number>();
  decode(buf, type, { unknown });
  return { unknown };
}

function decodeInto(r: Reader, out: Msg, c: Compiled, end: number, depth: number, top: boolean): void {
  if (depth > MAX_DEPTH) throw new WireError(`messages nested deeper than ${MAX_DEPTH} levels`, r.pos);
  const buf = r.buf;
  const type = c.type;
  const keep = r.keepRaw(c);
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.uint(end, type);
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 0 || field > 536870911) throw new WireError(`${type}: invalid field number ${field}`, tagStart);
    const spec = c.byNumber[field];
    if (spec && keep?.has(field)) {
      // kept raw, but validated like any other field
      readField(r, {}, c, spec, field, wt, end, depth, tagStart, top);
    } else if (!spec) {
      skipValue(r, wt, field, end, type, tagStart, top);
      const key = describeUnknownField(type, field);
      r.opts.unknown?.set(key, (r.opts.unknown.get(key) ?? 0) + 1);
    }
    if (!spec || keep?.has(field)) {
      ((out.$unknown ??= []) as Uint8Array[]).push(buf.subarray(tagStart, r.pos));
      continue;
    }
    readField(r, out, c, spec, field, wt, end, depth, tagStart, top);
  }
}

function wrongWireType(type: string, field: number, name: string, wt: number, tagStart: number): WireError {
  return new WireError(`${type} field ${field} (${name}) has wire type ${wt}`, tagStart);
}

function pastEnd(type: string, field: number, tagStart: number, top: boolean): WireError {
  return new WireError(`${type} field ${field} runs past the end of ${top ? 'the file' : 'its enclosing message'}`, tagStart, true);
}

function skipValue(r: Reader, wt: number, field: number, end: number, type: string, tagStart: number, top: boolean): void {
  switch (wt) {
    case 0:
      r.uint(end, type);
      return;
    case 1:
      r.pos += 8;
      break;
    case 2: {
      const len = r.uint(end, type);
      r.pos += len;
      break;
    }
    case 5:
      r.pos += 4;
      break;
    default:
      throw new WireError(`${type}: field ${field} has invalid wire type ${wt}`, tagStart);
  }
  if (r.pos > end) throw pastEnd(type, field, tagStart, top);
}

/** Read one occurrence of known field `spec` (its tag already read, wire type `wt`) into `out`. */
function readField(r: Reader, out: Msg, c: Compiled, spec: FieldSpec, field: number, wt: number, end: number, depth: number, tagStart: number, top: boolean): void {
  const type = c.type;
  const k = spec.kind;
  const name = spec.name;
  if (typeof k === 'object' || k === 's' || k === 'b') {
    if (wt !== 2) throw wrongWireType(type, field, name, wt, tagStart);
    const len = r.uint(end, type);
    const s = r.pos;
    const e = s + len;
    if (e > end) throw pastEnd(type, field, tagStart, top);
    let v: unknown;
    if (typeof k === 'object') {
      const sub = c.subs[field]!;
      r.pos = s;
      if (!spec.repeated && out[name]) {
        decodeInto(r, out[name], sub, e, depth + 1, false); // merge
        return;
      }
      const m: Msg = {};
      decodeInto(r, m, sub, e, depth + 1, false);
      v = m;
    } else if (k === 's') {
      v = readString(r.buf, s, e);
    } else {
      v = r.buf.subarray(s, e);
    }
    r.pos = e;
    if (spec.repeated) ((out[name] ??= []) as unknown[]).push(v);
    else out[name] = v;
    return;
  }
  // numbers
  if (wt === 2 && spec.repeated) {
    const len = r.uint(end, type);
    const s = r.pos;
    const e = s + len;
    if (e > end) throw pastEnd(type, field, tagStart, top);
    readPacked(r, out, spec, s, e, type, field, tagStart);
    r.pos = e;
    return;
  }
  let v: number | bigint;
  switch (k) {
    case 'f32':
      if (wt !== 5) throw wrongWireType(type, field, name, wt, tagStart);
      if (r.pos + 4 > end) throw pastEnd(type, field, tagStart, top);
      v = r.view.getFloat32(r.pos, true);
      r.pos += 4;
      break;
    case 'f64':
      if (wt !== 1) throw wrongWireType(type, field, name, wt, tagStart);
      if (r.pos + 8 > end) throw pastEnd(type, field, tagStart, top);
      v = r.view.getFloat64(r.pos, true);
      r.pos += 8;
      break;
    case 'i32':
      if (wt !== 0) throw wrongWireType(type, field, name, wt, tagStart);
      v = r.int32(end, type);
      break;
    case 'i64':
      if (wt !== 0) throw wrongWireType(type, field, name, wt, tagStart);
      v = r.int64(end, type);
      break;
    default:
      if (wt !== 0) throw wrongWireType(type, field, name, wt, tagStart);
      v = r.uint64(end, type);
  }
  if (!spec.repeated) {
    out[name] = v;
    return;
  }
  const cur = out[name];
  if (cur === undefined) out[name] = [v];
  else if (Array.isArray(cur)) cur.push(v);
  else out[name] = [...(cur as Float32Array), v]; // unpacked after packed
}

function readPacked(r: Reader, out: Msg, spec: FieldSpec, s: number, e: number, type: string, field: number, tagStart: number): void {
  const name = spec.name;
  const k = spec.kind;
  const buf = r.buf;
  let vals: ArrayLike<number | bigint>;
  if (k === 'f32' || k === 'f64') {
    const el = k === 'f32' ? 4 : 8;
    if ((e - s) % el) throw new WireError(`${type} field ${field} (${name}): packed length ${e - s} is not a multiple of ${el}`, tagStart);
    // a copy of the bytes (offset 0: aligned), as a typed array
    const copy = new Uint8Array(e - s);
    copy.set(buf.subarray(s, e));
    vals = k === 'f32' ? new Float32Array(copy.buffer, 0, (e - s) / 4) : new Float64Array(copy.buffer, 0, (e - s) / 8);
  } else {
    const list: (number | bigint)[] = [];
    r.pos = s;
    if (k === 'i32') while (r.pos < e) list.push(r.int32(e, type));
    else if (k === 'i64') while (r.pos < e) list.push(r.int64(e, type));
    else while (r.pos < e) list.push(r.uint64(e, type));
    vals = list;
  }
  const cur = out[name];
  if (cur === undefined) out[name] = vals;
  else out[name] = [...(cur as ArrayLike<number | bigint> & Iterable<number | bigint>), ...(vals as unknown as Iterable<number | bigint>)];
}

// ---- encoding ------------------------------------------------------------------------------------

const ENC = new TextEncoder();

/** Two 32-bit halves of an int64 / uint64 value (number, bigint or a {low, high} Long). */
let LO = 0;
let HI = 0;
function split(v: unknown): void {
  if (typeof v === 'number') {
    if (v >= 0 && v < 4294967296 && v === Math.floor(v)) {
      LO = v;
      HI = 0;
      return;
    }
    if (!Number.isSafeInteger(v)) {
      if (!Number.isFinite(v)) throw new RangeError(`not an integer: ${v}`);
      return split(BigInt(Math.trunc(v)));
    }
    const neg = v < 0;
    const a = neg ? -v : v;
    let lo = a >>> 0;
    let hi = ((a - lo) / 4294967296) >>> 0;
    if (neg) {
      hi = ~hi >>> 0;
      lo = ~lo >>> 0;
      if (++lo > 4294967295) {
        lo = 0;
        hi = (hi + 1) >>> 0;
      }
    }
    LO = lo;
    HI = hi;
    return;
  }
  if (typeof v === 'bigint') {
    const u = BigInt.asUintN(64, v);
    LO = Number(u & 0xffffffffn);
    HI = Number(u >> 32n);
    return;
  }
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    LO = (v as { low: number }).low >>> 0;
    HI = (v as { high: number }).high >>> 0;
    return;
  }
  if (typeof v === 'string') return split(BigInt(v));
  throw new RangeError(`not an integer: ${String(v)}`);
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : v < 2 ** 35 ? 5 : v < 2 ** 42 ? 6 : v < 2 ** 49 ? 7 : 8;
}

/** Size of the varint of LO / HI. */
function bitsSize(): number {
  if (HI === 0) return varintSize(LO);
  // bits above 32: 5 bytes hold 35 bits, each further byte 7
  const hiBits = 32 - Math.clz32(HI);
  return Math.ceil((32 + hiBits) / 7);
}

function int32Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) len += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else len += 2; // 3 bytes (a lone surrogate becomes U+FFFD, 3 bytes)
  }
  return len;
}

const present = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * Sizes pass. Pushes, in the order the writer consumes them: for each message field its body size,
 * for each string its UTF-8 length, for each packed field its payload size. Returns the body size.
 */
function sizeOf(m: Msg, c: Compiled, plan: number[], big: number, acc: { big: number }, depth: number): number {
  if (depth > MAX_DEPTH) throw new RangeError(`messages nested deeper than ${MAX_DEPTH} levels`);
  let size = 0;
  for (const f of c.ordered) {
    const v = m[f.spec.name];
    if (!present(v)) continue;
    const k = f.spec.kind;
    const tagSize = varintSize(f.tag);
    if (f.spec.repeated) {
      const list = v as ArrayLike<unknown>;
      const n = list.length;
      if (!n) continue;
      if (f.sub) {
        for (let i = 0; i < n; i++) {
          const at = plan.length;
          plan.push(0);
          const s = sizeOf(list[i] as Msg, f.sub, plan, big, acc, depth + 1);
          plan[at] = s;
          size += tagSize + varintSize(s) + s;
        }
      } else if (k === 's') {
        for (let i = 0; i < n; i++) {
          const s = utf8Length(list[i] as string);
          plan.push(s);
          size += tagSize + varintSize(s) + s;
        }
      } else if (k === 'b') {
        for (let i = 0; i < n; i++) {
          const s = (list[i] as Uint8Array).length;
          if (s >= big) acc.big += s;
          size += tagSize + varintSize(s) + s;
        }
      } else {
        let s = 0;
        if (k === 'f32') s = 4 * n;
        else if (k === 'f64') s = 8 * n;
        else if (k === 'i32') for (let i = 0; i < n; i++) s += int32Size(list[i] as number);
        else
          for (let i = 0; i < n; i++) {
            split(list[i]);
            s += bitsSize();
          }
        plan.push(s);
        size += tagSize + varintSize(s) + s;
      }
      continue;
    }
    size += tagSize;
    if (f.sub) {
      const at = plan.length;
      plan.push(0);
      const s = sizeOf(v as Msg, f.sub, plan, big, acc, depth + 1);
      plan[at] = s;
      size += varintSize(s) + s;
    } else if (k === 's') {
      const s = utf8Length(v as string);
      plan.push(s);
      size += varintSize(s) + s;
    } else if (k === 'b') {
      const s = (v as Uint8Array).length;
      if (s >= big) acc.big += s;
      size += varintSize(s) + s;
    } else if (k === 'f32') size += 4;
    else if (k === 'f64') size += 8;
    else if (k === 'i32') size += int32Size(v as number);
    else {
      split(v);
      size += bitsSize();
    }
  }
  const unk = m.$unknown as Uint8Array[] | undefined;
  if (unk) for (const u of unk) size += u.length;
  return size;
}

class Writer {
  pos = 0;
  next = 0;
  chunkStart = 0;
  readonly chunks: Uint8Array[] = [];
  readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    readonly plan: number[],
    readonly big: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  uint(v: number): void {
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  bits(): void {
    const buf = this.buf;
    let lo = LO;
    let hi = HI;
    while (hi) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 0x7f) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  int32(v: number): void {
    if (v >= 0) this.uint(v);
    else {
      split(v);
      this.bits();
    }
  }

  string(s: string, len: number): void {
    if (len === s.length) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < len; i++) buf[p++] = s.charCodeAt(i);
    } else {
      const { written } = ENC.encodeInto(s, this.buf.subarray(this.pos, this.pos + len));
      if (written !== len) throw new Error(`string encoding: wrote ${written} bytes, expected ${len}`);
    }
    this.pos += len;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    if (b.length >= this.big) {
      // passed by reference between slices of the buffer
      this.chunks.push(this.buf.subarray(this.chunkStart, this.pos), b);
      this.chunkStart = this.pos;
    } else {
      this.buf.set(b, this.pos);
      this.pos += b.length;
    }
  }

  message(m: Msg, c: Compiled): void {
    const plan = this.plan;
    for (const f of c.ordered) {
      const v = m[f.spec.name];
      if (!present(v)) continue;
      const k = f.spec.kind;
      if (f.spec.repeated) {
        const list = v as ArrayLike<unknown>;
        const n = list.length;
        if (!n) continue;
        if (f.sub) {
          for (let i = 0; i < n; i++) {
            this.uint(f.tag);
            this.uint(plan[this.next++]);
            this.message(list[i] as Msg, f.sub);
          }
        } else if (k === 's') {
          for (let i = 0; i < n; i++) {
            this.uint(f.tag);
            const len = plan[this.next++];
            this.uint(len);
            this.string(list[i] as string, len);
          }
        } else if (k === 'b') {
          for (let i = 0; i < n; i++) {
            this.uint(f.tag);
            this.bytes(list[i] as Uint8Array);
          }
        } else {
          this.uint(f.tag);
          this.uint(plan[this.next++]);
          if (k === 'f32') for (let i = 0; i < n; i++, this.pos += 4) this.view.setFloat32(this.pos, list[i] as number, true);
          else if (k === 'f64') for (let i = 0; i < n; i++, this.pos += 8) this.view.setFloat64(this.pos, list[i] as number, true);
          else if (k === 'i32') for (let i = 0; i < n; i++) this.int32(list[i] as number);
          else
            for (let i = 0; i < n; i++) {
              split(list[i]);
              this.bits();
            }
        }
        continue;
      }
      this.uint(f.tag);
      if (f.sub) {
        this.uint(plan[this.next++]);
        this.message(v as Msg, f.sub);
      } else if (k === 's') {
        const len = plan[this.next++];
        this.uint(len);
        this.string(v as string, len);
      } else if (k === 'b') this.bytes(v as Uint8Array);
      else if (k === 'f32') {
        this.view.setFloat32(this.pos, v as number, true);
        this.pos += 4;
      } else if (k === 'f64') {
        this.view.setFloat64(this.pos, v as number, true);
        this.pos += 8;
      } else if (k === 'i32') this.int32(v as number);
      else {
        split(v);
        this.bits();
      }
    }
    const unk = m.$unknown as Uint8Array[] | undefined;
    if (unk)
      for (const u of unk) {
        this.buf.set(u, this.pos);
        this.pos += u.length;
      }
  }
}

/**
 * Encode `m` as message `type`, byte fields of at least `big` bytes passed by reference: the
 * result is slices of one buffer with those fields' bytes between them (concatenated, the message).
 */
export function encodeChunks(type: string, m: Msg, big = Number.POSITIVE_INFINITY): Uint8Array[] {
  const c = compiled(type);
  const plan: number[] = [];
  const acc = { big: 0 };
  const total = sizeOf(m, c, plan, big, acc, 0);
  const w = new Writer(Buffer.allocUnsafe(total - acc.big), plan, big);
  w.message(m, c);
  if (w.pos !== w.buf.length || w.next !== plan.length) {
    throw new Error(`onnx encoder: wrote ${w.pos} of ${w.buf.length} bytes (${w.next} of ${plan.length} sizes); the message changed while it was encoded?`);
  }
  if (!w.chunks.length) return [w.buf];
  w.chunks.push(w.buf.subarray(w.chunkStart));
  return w.chunks.filter((x) => x.length);
}

/** Encode `m` as message `type` into one buffer. */
export function encode(type: string, m: Msg): Uint8Array {
  return encodeChunks(type, m)[0];
}

/** Encode a tagged length-delimited field (used to re-emit raw fields). */
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
