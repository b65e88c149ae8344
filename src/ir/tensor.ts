/** A constant tensor (initializer, Constant value, tensor attribute): typed array + dims. */
import { DataType, TensorData, allocData, dtypeInfo, dtypeName, numElements } from './dtype.js';
import { bfloat16ToFloat, halfArrayToFloat32, halfToFloatTable } from '../math/float16.js';

export class Tensor {
  name: string;
  dtype: DataType;
  dims: readonly number[];
  data: TensorData;
  docString: string;
  /**
   * Fields of TensorProto the IR does not model (e.g. segment), kept by src/onnx so that a
   * load → save round trip loses nothing. Passes leave it alone.
   */
  extra?: Record<string, unknown>;

  constructor(name: string, dtype: DataType, dims: readonly number[], data?: TensorData, docString = '') {
    this.name = name;
    this.dtype = dtype;
    this.dims = dims;
    this.data = data ?? allocData(dtype, numElements(dims));
    this.docString = docString;
  }

  /** Element count. */
  get size(): number {
    return numElements(this.dims);
  }

  /** Bytes this tensor takes when stored as raw_data (strings: sum of their byte lengths). */
  get byteLength(): number {
    if (this.dtype === DataType.STRING) return (this.data as Uint8Array[]).reduce((s, b) => s + b.length, 0);
    return Math.ceil(this.size * dtypeInfo(this.dtype).bytes);
  }

  get isFloat(): boolean {
    return dtypeInfo(this.dtype).isFloat;
  }

  static float32(name: string, dims: readonly number[], values?: ArrayLike<number>): Tensor {
    const t = new Tensor(name, DataType.FLOAT, dims);
    if (values) (t.data as Float32Array).set(values);
    return t;
  }

  static int64(name: string, dims: readonly number[], values: ArrayLike<number | bigint>): Tensor {
    const data = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
    return new Tensor(name, DataType.INT64, dims, data);
  }

  /**
   * The values for reading as numbers without a float64 copy: float32 data itself (a view: do not
   * write to it), float16 and bfloat16 decoded to float32, other types as `toNumbers()`.
   */
  readValues(): Float32Array | Float64Array {
    if (this.dtype === DataType.FLOAT) return this.data as Float32Array;
    if (this.dtype === DataType.FLOAT16) return halfArrayToFloat32(this.data as Uint16Array);
    return this.toNumbers();
  }

  /** Numeric values as float64 numbers (int64 converted with Number(); float16 decoded). */
  toNumbers(): Float64Array {
    const n = this.size;
    const out = new Float64Array(n);
    const d = this.data;
    switch (this.dtype) {
      case DataType.FLOAT16: {
        const table = halfToFloatTable();
        for (let i = 0; i < n; i++) out[i] = table[(d as Uint16Array)[i]];
        return out;
      }
      case DataType.BFLOAT16:
        for (let i = 0; i < n; i++) out[i] = bfloat16ToFloat((d as Uint16Array)[i]);
        return out;
      case DataType.INT64:
      case DataType.UINT64:
        for (let i = 0; i < n; i++) out[i] = Number((d as BigInt64Array)[i]);
        return out;
      case DataType.FLOAT:
      case DataType.DOUBLE:
      case DataType.INT8:
      case DataType.UINT8:
      case DataType.INT16:
      case DataType.UINT16:
      case DataType.INT32:
      case DataType.UINT32:
      case DataType.BOOL:
        out.set(d as ArrayLike<number>);
        return out;
      default:
        throw new Error(`tensor ${this.name}: cannot read ${dtypeName(this.dtype)} as numbers`);
    }
  }

  /** Values as a Float32Array (a copy, except for float tensors where it is the data itself). */
  toFloat32(): Float32Array {
    if (this.dtype === DataType.FLOAT) return this.data as Float32Array;
    return Float32Array.from(this.toNumbers());
  }

  /** Integer values as plain numbers (for shapes, axes, ...). */
  toIntArray(): number[] {
    return Array.from(this.toNumbers());
  }

  clone(name = this.name): Tensor {
    const d = this.data;
    const data: TensorData = Array.isArray(d) ? d.map((b) => b.slice()) : (d.slice() as TensorData);
    const t = new Tensor(name, this.dtype, [...this.dims], data, this.docString);
    if (this.extra) t.extra = structuredClone(this.extra);
    return t;
  }
}
