/**
 * Feeds and outputs between mlc's dtype names ('float', 'int64', … as in src/ir/dtype.ts) and the
 * onnxruntime-common tensors every onnxruntime JavaScript package shares (onnxruntime-node,
 * onnxruntime-web). The tensor class is passed in, so this file imports no runtime package.
 */
import type { TypedArrayData } from '../core/arrays.js';
import { MlcError } from '../core/errors.js';
import { DataType, dtypeFromName } from '../ir/dtype.js';
import type { Tensor } from '../ir/tensor.js';

export interface Feed {
  dtype: string;
  dims: readonly number[];
  data: ArrayLike<number> | ArrayLike<bigint> | readonly string[];
}

export type OutputData = TypedArrayData | string[];

export interface Output {
  dtype: string;
  dims: number[];
  data: OutputData;
}

/** onnxruntime-common's tensor type names. */
export type OrtType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string'
  | 'float16';

/** What the conversions need of onnxruntime-common's Tensor. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}
export type OrtTensorCtor<T extends OrtTensorLike> = new (type: OrtType, data: unknown, dims: readonly number[]) => T;

/** mlc dtype → onnxruntime tensor type. */
export const ORT_TYPE: Partial<Record<DataType, OrtType>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT8]: 'int8',
  [DataType.UINT8]: 'uint8',
  [DataType.INT16]: 'int16',
  [DataType.UINT16]: 'uint16',
  [DataType.INT32]: 'int32',
  [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64',
  [DataType.UINT64]: 'uint64',
  [DataType.BOOL]: 'bool',
  [DataType.STRING]: 'string',
  [DataType.FLOAT16]: 'float16',
};

const FROM_ORT: Record<string, string> = { float32: 'float', float64: 'double' };

type ArrayCtor = { new (n: number): ArrayLike<unknown>; from(a: ArrayLike<unknown>, f?: (x: unknown) => unknown): ArrayLike<unknown> };

/** The typed array class of each onnxruntime tensor type (float16 travels as its bits). */
export const CTOR: Partial<Record<OrtType, ArrayCtor>> = {
  float32: Float32Array as unknown as ArrayCtor,
  float64: Float64Array as unknown as ArrayCtor,
  int8: Int8Array as unknown as ArrayCtor,
  uint8: Uint8Array as unknown as ArrayCtor,
  int16: Int16Array as unknown as ArrayCtor,
  uint16: Uint16Array as unknown as ArrayCtor,
  int32: Int32Array as unknown as ArrayCtor,
  uint32: Uint32Array as unknown as ArrayCtor,
  int64: BigInt64Array as unknown as ArrayCtor,
  uint64: BigUint64Array as unknown as ArrayCtor,
  bool: Uint8Array as unknown as ArrayCtor,
  float16: Uint16Array as unknown as ArrayCtor,
};

/** The onnxruntime type of a feed ('float' → 'float32'); UNSUPPORTED for types onnxruntime cannot take. */
export function ortTypeOf(name: string, f: Feed, runtime = 'onnxruntime-node'): OrtType {
  const dt = dtypeFromName(f.dtype);
  const type = dt === undefined ? undefined : ORT_TYPE[dt];
  if (!type) throw new MlcError('UNSUPPORTED', `input ${name}: ${runtime} cannot take ${f.dtype} tensors`);
  return type;
}

/** A feed's data as the typed array of its onnxruntime type (strings as string[]). */
export function feedArray(type: OrtType, f: Feed): ArrayLike<unknown> {
  if (type === 'string') {
    const d = f.data as ArrayLike<unknown>;
    return Array.from(d, (x) => (typeof x === 'string' ? x : new TextDecoder().decode(x as Uint8Array)));
  }
  const C = CTOR[type]!;
  const data = f.data as ArrayLike<unknown>;
  if (data instanceof (C as unknown as typeof Object)) return data;
  return type === 'int64' || type === 'uint64' ? C.from(data, (x) => BigInt(x as number)) : C.from(data, (x) => Number(x));
}

/** A feed as an onnxruntime-common tensor of the given class. */
export function toOrtTensor<T extends OrtTensorLike>(Ctor: OrtTensorCtor<T>, name: string, f: Feed, runtime?: string): T {
  const type = ortTypeOf(name, f, runtime);
  return new Ctor(type, feedArray(type, f), [...f.dims]);
}

/** mlc's dtype name of an onnxruntime type name. */
export function dtypeOfOrt(type: string): string {
  return FROM_ORT[type] ?? type;
}

export function fromOrt(t: OrtTensorLike): Output {
  return { dtype: dtypeOfOrt(t.type), dims: [...t.dims], data: t.data as OutputData };
}

/** An IR tensor as a feed (strings decoded as UTF-8). */
export function feedFromTensor(t: Tensor): Feed {
  if (t.dtype === DataType.STRING) {
    const dec = new TextDecoder();
    return { dtype: 'string', dims: [...t.dims], data: (t.data as Uint8Array[]).map((b) => dec.decode(b)) };
  }
  return { dtype: nameOf(t.dtype), dims: [...t.dims], data: t.data as ArrayLike<number> };
}

function nameOf(dt: DataType): string {
  const v = ORT_TYPE[dt];
  if (v === undefined) throw new MlcError('UNSUPPORTED', `onnxruntime-node cannot take tensors of ONNX type ${dt}`);
  return dtypeOfOrt(v);
}

export function errorMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim();
}
