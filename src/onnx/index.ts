/**
 * ONNX IO: load a model file or bytes into the IR, and save the IR back, losslessly.
 * Protobuf is mlc's own codec (wire.ts): no protobuf package.
 */
export { loadModel, decodeModel, readModelFile, externalDataFiles } from './load.js';
export type { LoadOptions } from './load.js';
export { saveModel, modelToBytes, tensorBytesTotal } from './save.js';
export type { SaveOptions, SaveResult } from './save.js';
export { decodeTensorProto, encodeTensorProto } from './tensor.js';
export { walkMessage, describeUnknownField } from './wire.js';
