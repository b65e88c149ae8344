/**
 * transformers.js's model variants: the dtype names its `from_pretrained(…, { dtype })` takes, the
 * file each loads (`onnx/<base><suffix>.onnx`), and the quantize-pass steps that give the format
 * transformers.js's own conversion script writes for it. Data only: `mlc variants` runs them.
 *
 * | dtype | file | format |
 * |---|---|---|
 * | fp32 | model.onnx | the model as it is |
 * | fp16 | model_fp16.onnx | float16 weights (float32 inputs and outputs) |
 * | q8 | model_quantized.onnx | dynamic integer ops, int8 weights per tensor, or uint8 when the model has Conv (no signed-weight ConvInteger in onnxruntime-web's wasm) |
 * | int8 | model_int8.onnx | dynamic integer ops, int8 weights per tensor |
 * | uint8 | model_uint8.onnx | dynamic integer ops, uint8 weights per tensor |
 *
 * (`reduceRange`: 7-bit 8-bit weights, for onnxruntime-node on x86 CPUs without VNNI, whose
 * uint8 × int8 kernels add pairs of products in saturating 16-bit sums.)
 * | q4 | model_q4.onnx | MatMulNBits, 4-bit weights in blocks of 32 (MatMul / Gemm; embedding tables stay float, as transformers.js's conversion leaves them) |
 * | q4f16 | model_q4f16.onnx | q4, then float16 for the remaining float weights (float32 inputs and outputs) |
 *
 * q4's blocks get the scale and zero point of least squared error (the quantize pass's
 * `int4Scales: 'search'`); with `q4Target` (default Q4_TARGET, the quantize pass's int4Target; null
 * writes int4Target 0) and data to measure on, the MatMuls whose 4-bit error costs the most stay at
 * 8 bits (MatMulNBits bits = 8) until the data's output cosine to fp32 reaches it. transformers.js's own conversion writes round-to-nearest symmetric
 * blocks, all at 4 bits; both load the same way (MatMulNBits is all onnxruntime needs).
 *
 * q8 / int8 / uint8 with `q8Target` (the CLI's default Q8_TARGET; null: every MatMul 8-bit) leave
 * float the MatMuls whose 8-bit weights and run-time activation quantization cost the output the
 * most, until the data's cosine reaches it (the quantize pass's `int8Target`, dynamic-target.ts).
 */
import { INT8_TARGET } from './quantize/dynamic-target.js';
import { INT4_TARGET } from './quantize/int4-mixed.js';
import type { RecipeStep } from './registry.js';

export const VARIANT_DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'] as const;
export type VariantDtype = (typeof VARIANT_DTYPES)[number];

/** The file-name suffix transformers.js adds for each dtype. */
export const VARIANT_SUFFIX: Record<VariantDtype, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
};

/** A step of a variant's pipeline: a recipe step, typed by the passes' option schemas. */
export type VariantStep = RecipeStep;

/** The probe cosine q8 / int8 / uint8 aim at by default: the dynamic pass's int8 target (the MatMuls whose 8-bit weights and activations cost the most stay float). */
export const Q8_TARGET = INT8_TARGET;

/** The probe cosine q4 / q4f16 aim at by default: the quantize pass's int4 default (above the 0.99 floor, so the full data set clears it too). */
export const Q4_TARGET = INT4_TARGET;

/**
 * The pipeline of a dtype; `hasConv` says whether the model has Conv nodes (q8 then uses uint8
 * weights); `q4Target` the cosine q4 aims at on the calibration data (null: every MatMul 4-bit).
 */
export function variantSteps(dtype: VariantDtype, hasConv: boolean, q4Target: number | null = null, reduceRange = false, q8Target: number | null = null): VariantStep[] {
  // transformers.js's conversion (scripts/quantize.py) quantizes 8-bit weights per tensor
  // (per_channel and reduce_range off unless asked)
  const q8 = (type: 'int8' | 'uint8'): VariantStep => ({
    pass: 'quantize',
    options: { type, mode: 'dynamic', perChannel: false, ...(reduceRange ? { reduceRange } : {}), ...(q8Target ? { int8Target: q8Target } : {}) },
  });
  // q4 is transformers.js's format (MatMulNBits, which its WebGPU and wasm backends run), whatever
  // this machine's CPU would prefer (--int4-compute auto)
  const q4: VariantStep = {
    pass: 'quantize',
    options: {
      type: 'int4',
      blockSize: 32,
      opTypes: ['MatMul', 'Gemm'],
      int4Scales: 'search',
      int4Compute: 'nbits',
      accuracyLevel: 4,
      int4Target: q4Target ?? 0,
    },
  };
  const fp16: VariantStep = { pass: 'quantize', options: { type: 'fp16' } };
  switch (dtype) {
    case 'fp32':
      return [];
    case 'fp16':
      return [fp16];
    case 'q8':
      return [q8(hasConv ? 'uint8' : 'int8')];
    case 'int8':
      return [q8('int8')];
    case 'uint8':
      return [q8('uint8')];
    case 'q4':
      return [q4];
    case 'q4f16':
      return [q4, fp16];
  }
}

/** Parse `--dtypes fp32,q8,…` (USAGE-style message on an unknown name is the caller's). */
export function parseVariantDtypes(text: string): VariantDtype[] | string {
  const out: VariantDtype[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(VARIANT_DTYPES as readonly string[]).includes(raw)) return `unknown dtype "${raw}" (choose from ${VARIANT_DTYPES.join(', ')})`;
    if (!out.includes(raw as VariantDtype)) out.push(raw as VariantDtype);
  }
  return out.length ? out : `no dtypes given (choose from ${VARIANT_DTYPES.join(', ')})`;
}
