/** Data files: .npy / .npz readers and writers, ONNX test_data_set folders, data sets, batching. */
export { parseNpy, encodeNpy, type NdArray, type NdData } from './npy.js';
export { parseNpz, encodeNpz, type NpzWriteOptions } from './npz.js';
export { loadDataset, readNpy, readNpz, type LoadedDataset, type LoadDatasetOptions, type Dataset } from './dataset.js';
export { writeNpy, writeNpz } from './write.js';
export { batches, sliceDataset, takeDataset } from './batch.js';
