/**
 * The message layer the rest of src/onnx uses: encode / decode ONNX messages as plain objects
 * (wire.ts, mlc's own codec), and the int64 and base64 helpers around them.
 */
import { type DecodeOptions, type Msg, decode, encode, encodeChunks } from './wire.js';

export type { Msg } from './wire.js';

/** Serialize message `type` (e.g. 'ModelProto', 'TypeProto.Tensor') into one buffer. */
export function encodeMessage(type: string, message: Msg): Uint8Array {
  return encode(type, message);
}

/**
 * Encode to a list of chunks instead of one buffer: byte fields of at least `big` bytes (tensor
 * data) are passed through as they are, the rest is written into one buffer whose slices lie
 * between them. Saves a copy of the whole model and one allocation of its size when writing to a
 * file.
 */
export function encodeMessageChunks(type: string, message: Msg, big = 1 << 16): Uint8Array[] {
  return encodeChunks(type, message, big);
}

/** Decode message `type`; bytes fields are views into `bytes`. Throws WireError on malformed input. */
export function decodeMessage(type: string, bytes: Uint8Array, opts?: DecodeOptions): Msg {
  return decode(bytes, type, opts);
}

/**
 * Known fields the IR has no slot for, kept as raw bytes with the unknown fields of their message
 * (and so written back unchanged): message → field numbers.
 */
export const KEEP_RAW: Record<string, readonly number[]> = {
  ModelProto: [26], // configuration
  GraphProto: [16], // metadata_props
  NodeProto: [8, 9, 10], // overload, metadata_props, device_configurations
  TensorProto: [16], // metadata_props
  ValueInfoProto: [4], // metadata_props
  FunctionProto: [14], // metadata_props
};

/** A Long as protobufjs gave int64 values ({low, high}); still accepted everywhere an int64 is. */
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
  if (typeof v === 'bigint') return unsigned ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
  if (typeof v === 'number') return unsigned ? BigInt.asUintN(64, BigInt(v)) : BigInt(v);
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

/** A value the encoder writes as int64 exactly: safe numbers as they are, others as bigints. */
export function toLong(v: number | bigint): number | bigint {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : BigInt(Math.trunc(v));
  return v;
}

export function has(m: Msg, key: string): boolean {
  return  Object.hasOwn(m, key) && m[key] != null;
}

export function b64(parts: Uint8Array[]): string {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))).toString('base64');
}

export function unb64(s: string): Uint8Array {
  const b = Buffer.from(s, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
