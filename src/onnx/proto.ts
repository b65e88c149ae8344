/**
 * The onnx-proto (protobufjs static code, ONNX 1.10) bindings, with one addition: every message
 * encoder writes back the raw bytes of fields the schema does not know (collected on load by
 * wire.ts and kept in a `$unknown` array on the message object), so such fields survive a round trip.
 */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type onnx = typeof onnxProto.onnx;

/** A protobufjs message object (decoded, or a plain object built for encoding). */
export type Msg = Record<string, any>;

interface Encodable {
  encode(message: unknown, writer?: unknown): { finish(): Uint8Array };
  decode(reader: Uint8Array, length?: number): unknown;
}

function writeRaw(val: Uint8Array, buf: Uint8Array, pos: number): void {
  buf.set(val, pos);
}

const PATCHED = Symbol.for('mlc.onnx.unknownFieldsPatched');

function patch(cls: Encodable & { [PATCHED]?: boolean }): void {
  if (cls[PATCHED]) return;
  const orig = cls.encode;
  cls.encode = function encode(message: Msg, writer?: unknown) {
    const w = orig.call(this, message, writer) as unknown as { _push(fn: typeof writeRaw, len: number, val: Uint8Array): unknown };
    const extra = message.$unknown as Uint8Array[] | undefined;
    if (extra) for (const b of extra) if (b.length) w._push(writeRaw, b.length, b);
    return w as unknown as { finish(): Uint8Array };
  };
  cls[PATCHED] = true;
}

const CLASSES: Record<string, Encodable> = {
  ModelProto: onnx.ModelProto,
  GraphProto: onnx.GraphProto,
  NodeProto: onnx.NodeProto,
  AttributeProto: onnx.AttributeProto,
  ValueInfoProto: onnx.ValueInfoProto,
  TrainingInfoProto: onnx.TrainingInfoProto,
  StringStringEntryProto: onnx.StringStringEntryProto,
  TensorAnnotation: onnx.TensorAnnotation,
  TensorProto: onnx.TensorProto,
  'TensorProto.Segment': onnx.TensorProto.Segment,
  SparseTensorProto: onnx.SparseTensorProto,
  TensorShapeProto: onnx.TensorShapeProto,
  'TensorShapeProto.Dimension': onnx.TensorShapeProto.Dimension,
  TypeProto: onnx.TypeProto,
  'TypeProto.Tensor': onnx.TypeProto.Tensor,
  'TypeProto.Sequence': onnx.TypeProto.Sequence,
  'TypeProto.Map': onnx.TypeProto.Map,
  'TypeProto.Optional': onnx.TypeProto.Optional,
  'TypeProto.SparseTensor': onnx.TypeProto.SparseTensor,
  OperatorSetIdProto: onnx.OperatorSetIdProto,
  FunctionProto: onnx.FunctionProto,
} as unknown as Record<string, Encodable>;

for (const c of Object.values(CLASSES)) patch(c);

export function encodeMessage(type: string, message: Msg): Uint8Array {
  return CLASSES[type].encode(message).finish();
}

interface WriterOp {
  fn: (val: unknown, buf: Uint8Array, pos: number) => void;
  len: number;
  val: unknown;
  next?: WriterOp;
}

/**
 * Encode to a list of chunks instead of one buffer: byte fields of at least `big` bytes (tensor
 * data) are passed through as they are, the rest is packed into small buffers. Saves a copy of the
 * whole model and one allocation of its size when writing to a file.
 *
 * Walks protobufjs's writer operation list (head → next, each op {fn, len, val}), exactly as
 * Writer#finish does, but writes large byte values by reference.
 */
export function encodeMessageChunks(type: string, message: Msg, big = 1 << 16): Uint8Array[] {
  const w = CLASSES[type].encode(message) as unknown as { head: WriterOp; len: number };
  const chunks: Uint8Array[] = [];
  let start: WriterOp | undefined = w.head.next;
  let op: WriterOp | undefined = start;
  let pending = 0;
  const flush = (until: WriterOp | undefined) => {
    if (!pending) return;
    const buf = Buffer.allocUnsafe(pending);
    let pos = 0;
    for (let o = start; o && o !== until; o = o.next) {
      o.fn(o.val, buf, pos);
      pos += o.len;
    }
    chunks.push(buf);
    pending = 0;
  };
  while (op) {
    const v = op.val;
    if (op.len >= big && v instanceof Uint8Array && v.length === op.len) {
      flush(op);
      chunks.push(v);
      start = op.next;
    } else {
      pending += op.len;
    }
    op = op.next;
  }
  flush(undefined);
  let total = 0;
  for (const c of chunks) total += c.length;
  if (total !== w.len) throw new Error(`encodeMessageChunks: wrote ${total} bytes, expected ${w.len}`);
  return chunks;
}

export function decodeMessage(type: string, bytes: Uint8Array): Msg {
  return CLASSES[type].decode(bytes) as Msg;
}

/** protobufjs int64 values are Long objects ({low, high}) or numbers. */
interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

/** int64 → number when it is a safe integer, bigint otherwise. */
export function longToInt(v: unknown, unsigned = false): number | bigint {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v;
  if (v == null) return 0;
  const l = v as LongLike;
  const n = unsigned ? (l.high >>> 0) * 4294967296 + (l.low >>> 0) : (l.high | 0) * 4294967296 + (l.low >>> 0);
  if (Number.isSafeInteger(n)) return n;
  return longToBigInt(l, unsigned);
}

export function longToBigInt(v: unknown, unsigned = false): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  const l = v as LongLike;
  const b = (BigInt(l.high | 0) << 32n) | BigInt(l.low >>> 0);
  return unsigned ? BigInt.asUintN(64, b) : BigInt.asIntN(64, b);
}

/** int64 → number (for dims, versions); throws if it does not fit. */
export function longToNumber(v: unknown, what: string): number {
  const x = longToInt(v);
  if (typeof x === 'bigint') throw new RangeError(`${what} ${x} is too large`);
  return x;
}

/** A value protobufjs writes as int64 exactly: safe numbers as is, bigints as {low, high}. */
export function toLong(v: number | bigint): number | LongLike {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    v = BigInt(Math.trunc(v));
  }
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
}

export function has(m: Msg, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, key) && m[key] != null;
}

export function b64(parts: Uint8Array[]): string {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))).toString('base64');
}

export function unb64(s: string): Uint8Array {
  const b = Buffer.from(s, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
