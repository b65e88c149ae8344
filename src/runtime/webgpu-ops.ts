/**
 * Data: the ops onnxruntime-web's WebGPU execution provider has kernels for (the provider of
 * `onnxruntime-web/webgpu`, the build transformers.js loads for `device: 'webgpu'`). A node whose
 * op is not here runs on the CPU, with a copy from and back to the GPU around it.
 *
 * Read from onnxruntime's kernel registrations (onnxruntime/core/providers/webgpu/
 * webgpu_execution_provider.cc and onnxruntime/contrib_ops/webgpu/webgpu_contrib_kernels.cc) and
 * checked against onnxruntime-web WEBGPU_OPS_VERSION itself: `webgpuPlacements()`
 * (src/runtime/browser.ts) reads the node placements its session logs, and
 * test/bench/target.test.ts compares them with this list on the encoder in every quantize format.
 *
 * Each entry: op type → the opset versions covered, [first, last] (`last` undefined = open).
 * Besides the op, the element type matters: the provider has no int8 kernels for data movement
 * (a Gather of int8 rows runs on the CPU: measured) and keeps int64 index arithmetic (Shape →
 * Gather → Unsqueeze → Slice → Cast chains) on the CPU by its own choice; see WEBGPU_NO_INT8.
 */
export const WEBGPU_OPS_VERSION = '1.30.0';

type Range = readonly [number, number?];

/** ai.onnx ops. */
export const WEBGPU_ONNX_OPS: Readonly<Record<string, Range>> = {
  Abs: [6], Neg: [6], Floor: [6], Ceil: [6], Reciprocal: [6], Sqrt: [6], Exp: [6], Erf: [9], Sigmoid: [6], HardSigmoid: [6], Log: [6],
  Sin: [7], Cos: [7], Tan: [7], Asin: [7], Acos: [7], Atan: [7], Sinh: [9], Cosh: [9], Asinh: [9], Acosh: [9], Atanh: [9], Tanh: [6], Not: [1],
  Cast: [6], Clip: [11], Elu: [6], Relu: [6], LeakyRelu: [6], ThresholdedRelu: [10], Gelu: [20],
  ReduceMax: [1], ReduceMean: [1], ReduceMin: [1], ReduceProd: [1], ReduceSum: [1], ReduceL1: [1], ReduceL2: [1], ReduceLogSum: [1],
  ReduceSumSquare: [1], ReduceLogSumExp: [1],
  Add: [7], Sub: [7], Mul: [7], Div: [7], Pow: [7], Equal: [7], Greater: [7], GreaterOrEqual: [12], Less: [7], LessOrEqual: [12],
  Shape: [1], Reshape: [5], Squeeze: [1], Unsqueeze: [1], Where: [9], Transpose: [1, 20], DepthToSpace: [11],
  Conv: [1], ConvTranspose: [1], MaxPool: [1], AveragePool: [7], GlobalAveragePool: [1], GlobalMaxPool: [1],
  Gemm: [7], MatMul: [1], ArgMax: [1], ArgMin: [1], Softmax: [1], Concat: [1], Split: [1], Expand: [8], Resize: [10],
  Gather: [1], GatherElements: [11], Slice: [1], Flatten: [1], Tile: [6], LayerNormalization: [1], Range: [11], Pad: [2], If: [1],
  BatchNormalization: [7], CumSum: [11], DequantizeLinear: [10], SimplifiedLayerNormalization: [1],
};

/** com.microsoft ops. */
export const WEBGPU_MS_OPS: Readonly<Record<string, Range>> = {
  Attention: [1], BiasAdd: [1], BiasGelu: [1], BiasSplitGelu: [1], FastGelu: [1], FusedConv: [1], GatherBlockQuantized: [1], Gelu: [1],
  GroupQueryAttention: [1], MatMulNBits: [1], MultiHeadAttention: [1], QuickGelu: [1], RotaryEmbedding: [1], SkipLayerNormalization: [1],
  SkipSimplifiedLayerNormalization: [1], QMoE: [1],
};

/** Ops that move or index data and have no int8 kernel on WebGPU (their int8 nodes run on the CPU). */
export const WEBGPU_NO_INT8: ReadonlySet<string> = new Set([
  'Gather', 'GatherElements', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Split', 'Squeeze', 'Unsqueeze', 'Flatten', 'Expand', 'Tile', 'Pad', 'Where',
]);
