/**
 * The model builders: synthetic models in the shapes real exporters write (torch.onnx classic and
 * dynamo, tf2onnx), with seeded weights and any size. `MODEL_BUILDERS` lists them with a small
 * configuration for tests (a few ms to run) and a sample-input function; benchmarks call the
 * builders with real sizes (the defaults are the usual base sizes).
 */
import type { Model } from '../ir/model.js';
import { uniformRng, type SampleArray } from './common.js';
import { buildControlFlow, controlFlowInputs, type ControlFlowOptions } from './control.js';
import { buildDecoder, type DecoderOptions } from './decoder.js';
import { buildEncoder, encoderInputs, type EncoderOptions } from './encoder.js';
import { buildResNet, resnetInputs, type ResNetOptions } from './resnet.js';
import { buildRnn, rnnInputs, type RnnOptions } from './rnn.js';
import { buildViT, vitInputs, type ViTOptions } from './vit.js';

export * from './common.js';
export { buildControlFlow, controlFlowInputs, type ControlFlowOptions } from './control.js';
export { buildDecoder, dedupInitializers, type DecoderOptions } from './decoder.js';
export { buildEncoder, encoderInputs, type EncoderOptions } from './encoder.js';
export { buildMlp, mlpInputs, type MlpOptions } from './mlp.js';
export { buildResNet, resnetInputs, type ResNetOptions } from './resnet.js';
export { buildRnn, rnnInputs, type RnnOptions } from './rnn.js';
export { buildViT, vitInputs, type ViTOptions } from './vit.js';

export interface BuiltModel {
  /** short name for test titles */
  name: string;
  /** what it stands for */
  describe: string;
  build(): Model;
  /** a batch of sample inputs, by input name */
  inputs(batch: number, seed?: number): Record<string, SampleArray>;
}

function entry<O>(name: string, describe: string, opts: O, build: (o: O) => Model, inputs: (o: O, batch: number, seed?: number) => Record<string, SampleArray>): BuiltModel {
  return { name, describe, build: () => build(opts), inputs: (batch, seed) => inputs(opts, batch, seed) };
}

/** Token ids uniform in [0, vocab) for a decoder built with `opts`, `seqLen` tokens (default: seq, else 8). */
export function decoderInputs(opts: DecoderOptions, batch: number, seed = 1, seqLen = opts.seq ?? 8): Record<string, SampleArray> {
  const rng = uniformRng(seed);
  const vocab = opts.vocab ?? 50257;
  const d = BigInt64Array.from({ length: batch * seqLen }, () => BigInt(Math.floor(rng() * vocab)));
  return { input_ids: { dtype: 'int64', dims: [batch, seqLen], data: d } };
}

const bert: EncoderOptions = { hidden: 32, heads: 2, ffn: 64, layers: 2, seq: 16, vocab: 100, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 7 };
const resnet: ResNetOptions = { channels: [8, 16], blocks: [1, 1], image: 32, classes: 10, seed: 7 };
const vit: ViTOptions = { image: 16, patch: 4, hidden: 32, heads: 2, layers: 2, classes: 10, seed: 7 };

/** Small configurations of every builder and exporter variant (tests, the pass contract suite). */
export const MODEL_BUILDERS: BuiltModel[] = [
  entry('encoder', 'BERT-like encoder, float input (the benchmarks\' form)', { hidden: 32, heads: 2, ffn: 64, layers: 2, seq: 8, seed: 7 } as EncoderOptions, buildEncoder, encoderInputs),
  entry('bert', 'BERT export: input_ids, attention_mask, token_type_ids int64, dynamic sequence', bert, buildEncoder, encoderInputs),
  entry('bert-opset18', 'BERT export, opset 18, LayerNorm written out (ReduceMean axes input), tanh GELU', { ...bert, opset: 18, layerNorm: 'decomposed', gelu: 'tanh' } as EncoderOptions, buildEncoder, encoderInputs),
  entry('bert-fp16', 'BERT export in float16', { ...bert, dtype: 'float16' } as EncoderOptions, buildEncoder, encoderInputs),
  entry('resnet', 'ResNet-like CNN: Conv + BatchNorm, residual Add, GlobalAveragePool, Flatten, Gemm', resnet, buildResNet, resnetInputs),
  entry('resnet-dynamic', 'ResNet-like CNN with height / width dim_params', { ...resnet, dynamicSize: true } as ResNetOptions, buildResNet, (o, n, s) => resnetInputs(o, n, s, 24)),
  entry('resnet-nhwc', 'tf2onnx form: NHWC input + Transpose, ReduceMean pooling (axes input, opset 18), MatMul + Add head', { ...resnet, layout: 'nhwc', opset: 18 } as ResNetOptions, buildResNet, resnetInputs),
  entry('resnet-fp16', 'ResNet-like CNN in float16', { ...resnet, dtype: 'float16' } as ResNetOptions, buildResNet, resnetInputs),
  entry('vit', 'ViT-like: patch Conv, class token Concat, position Add, LayerNormalization, Erf GELU', vit, buildViT, vitInputs),
  entry('vit-opset20', 'ViT-like, opset 20: Split num_outputs, Gelu op', { ...vit, opset: 20, gelu: 'op' } as ViTOptions, buildViT, vitInputs),
  entry('vit-opset18-ln', 'ViT-like, opset 18, LayerNorm written out with ReduceMean axes inputs', { ...vit, opset: 18, layerNorm: 'decomposed' } as ViTOptions, buildViT, vitInputs),
  entry('lstm', 'two-layer bidirectional LSTM classifier, dynamic sequence', { cell: 'LSTM', features: 8, hidden: 16, layers: 2, bidirectional: true, seq: 6, dynamicSequence: true, classes: 5, seed: 7 } as RnnOptions, buildRnn, rnnInputs),
  entry('gru', 'GRU classifier (linear_before_reset)', { cell: 'GRU', features: 8, hidden: 16, seq: 6, classes: 10, seed: 7 } as RnnOptions, buildRnn, rnnInputs),
  entry('gpt2', 'GPT-2-like decoder (src/models/decoder.ts): Gemm linears, causal Where mask, tied LM head, deduplicated weights', { layers: 2, hidden: 32, heads: 2, vocab: 128, ctx: 16, seed: 7 } as DecoderOptions, buildDecoder, decoderInputs),
  entry('gpt2-matmul-opset18', 'GPT-2-like decoder: MatMul + Add linears, Gemm transB LM head, additive mask, LayerNorm written out (opset 18), non-zero biases', { layers: 2, hidden: 32, heads: 2, vocab: 128, ctx: 16, seed: 7, linear: 'matmul', lmHead: 'gemm', mask: 'add', decomposedLayerNorm: true, opset: 18, biasStd: 0.02 } as DecoderOptions, buildDecoder, decoderInputs),
  entry('control-flow', 'If and Loop subgraphs reading outer-scope weights', { features: 16, hidden: 32, classes: 5, seed: 7 } as ControlFlowOptions, buildControlFlow, controlFlowInputs),
];
