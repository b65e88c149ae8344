/** The typed-array unions every layer speaks (tensors, data files, kernels, onnxruntime feeds). */

/** Numeric typed arrays other than the 64-bit integer ones. */
export type NumberArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** Every typed array a tensor can hold. */
export type TypedArrayData = NumberArray | BigInt64Array | BigUint64Array;
