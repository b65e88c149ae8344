/** ONNX element types (TensorProto.DataType) and their in-memory representation in mlc. */
import type { TypedArrayData } from '../core/arrays.js';
export type { NumberArray, TypedArrayData } from '../core/arrays.js';

export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
  FLOAT8E4M3FN = 17,
  FLOAT8E4M3FNUZ = 18,
  FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20,
  UINT4 = 21,
  INT4 = 22,
  FLOAT4E2M1 = 23,
}

/**
 * Typed array per dtype. float16 / bfloat16 keep their raw bits in a Uint16Array; complex types
 * interleave (re, im); bool is 0/1 bytes; the 8-bit floats are raw bytes; the 4-bit types are
 * packed two per byte (low nibble first) exactly as ONNX stores them; string is one Uint8Array per
 * element (ONNX strings are bytes).
 */
export type TensorData = TypedArrayData | Uint8Array[];


export interface DTypeInfo {
  name: string; // lower-case ONNX name as in the spec ('float', 'int64', ...)
  /** bytes per element in raw_data; 0.5 for the 4-bit types; 0 for string */
  bytes: number;
  isFloat: boolean;
}

const INFO: Record<number, DTypeInfo> = {
  [DataType.UNDEFINED]: { name: 'undefined', bytes: 0, isFloat: false },
  [DataType.FLOAT]: { name: 'float', bytes: 4, isFloat: true },
  [DataType.UINT8]: { name: 'uint8', bytes: 1, isFloat: false },
  [DataType.INT8]: { name: 'int8', bytes: 1, isFloat: false },
  [DataType.UINT16]: { name: 'uint16', bytes: 2, isFloat: false },
  [DataType.INT16]: { name: 'int16', bytes: 2, isFloat: false },
  [DataType.INT32]: { name: 'int32', bytes: 4, isFloat: false },
  [DataType.INT64]: { name: 'int64', bytes: 8, isFloat: false },
  [DataType.STRING]: { name: 'string', bytes: 0, isFloat: false },
  [DataType.BOOL]: { name: 'bool', bytes: 1, isFloat: false },
  [DataType.FLOAT16]: { name: 'float16', bytes: 2, isFloat: true },
  [DataType.DOUBLE]: { name: 'double', bytes: 8, isFloat: true },
  [DataType.UINT32]: { name: 'uint32', bytes: 4, isFloat: false },
  [DataType.UINT64]: { name: 'uint64', bytes: 8, isFloat: false },
  [DataType.COMPLEX64]: { name: 'complex64', bytes: 8, isFloat: false },
  [DataType.COMPLEX128]: { name: 'complex128', bytes: 16, isFloat: false },
  [DataType.BFLOAT16]: { name: 'bfloat16', bytes: 2, isFloat: true },
  [DataType.FLOAT8E4M3FN]: { name: 'float8e4m3fn', bytes: 1, isFloat: true },
  [DataType.FLOAT8E4M3FNUZ]: { name: 'float8e4m3fnuz', bytes: 1, isFloat: true },
  [DataType.FLOAT8E5M2]: { name: 'float8e5m2', bytes: 1, isFloat: true },
  [DataType.FLOAT8E5M2FNUZ]: { name: 'float8e5m2fnuz', bytes: 1, isFloat: true },
  [DataType.UINT4]: { name: 'uint4', bytes: 0.5, isFloat: false },
  [DataType.INT4]: { name: 'int4', bytes: 0.5, isFloat: false },
  [DataType.FLOAT4E2M1]: { name: 'float4e2m1', bytes: 0.5, isFloat: true },
};

export function dtypeInfo(dt: DataType): DTypeInfo {
  const i = INFO[dt];
  if (!i) return { name: `dtype(${dt})`, bytes: 0, isFloat: false };
  return i;
}

export function dtypeName(dt: DataType): string {
  return dtypeInfo(dt).name;
}

export function dtypeFromName(name: string): DataType | undefined {
  const n = name.toLowerCase();
  for (const [k, v] of Object.entries(INFO)) if (v.name === n) return Number(k) as DataType;
  if (n === 'float32') return DataType.FLOAT;
  if (n === 'float64') return DataType.DOUBLE;
  return undefined;
}

/** Number of elements of a shape (1 for a scalar). */
export function numElements(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Allocate zeroed storage for `count` elements of `dt`. */
export function allocData(dt: DataType, count: number): TensorData {
  switch (dt) {
    case DataType.FLOAT:
      return new Float32Array(count);
    case DataType.DOUBLE:
      return new Float64Array(count);
    case DataType.INT8:
      return new Int8Array(count);
    case DataType.UINT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
      return new Uint8Array(count);
    case DataType.INT16:
      return new Int16Array(count);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return new Uint16Array(count);
    case DataType.INT32:
      return new Int32Array(count);
    case DataType.UINT32:
      return new Uint32Array(count);
    case DataType.INT64:
      return new BigInt64Array(count);
    case DataType.UINT64:
      return new BigUint64Array(count);
    case DataType.COMPLEX64:
      return new Float32Array(count * 2);
    case DataType.COMPLEX128:
      return new Float64Array(count * 2);
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return new Uint8Array(Math.ceil(count / 2));
    case DataType.STRING:
      return Array.from({ length: count }, () => new Uint8Array(0));
    default:
      throw new Error(`cannot allocate tensor storage for ${dtypeName(dt)}`);
  }
}
