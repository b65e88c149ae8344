/**
 * A multilayer perceptron as torch.onnx writes `nn.Sequential(Linear, ReLU, …, Linear)`: tabular
 * models (demand, ETA, pricing, fraud, churn scores).
 *
 *   layer i  Gemm (transB = 1, [out, in] weight, bias) → Relu
 *   head     Gemm → logits
 *
 * Input `input` [batch, features], output `logits` [batch, classes]. He-normal weights.
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import type { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import { type CommonOptions, type SampleArray, checkOpset, finish, floatSample, floatType, normalArray, uniformRng } from './common.js';

export interface MlpOptions extends CommonOptions {
  /** input features (default 64) */
  features?: number;
  /** hidden layer widths (default [256, 256]) */
  hidden?: number[];
  /** outputs (default 10) */
  classes?: number;
}

export function buildMlp(opts: MlpOptions = {}): Model {
  const features = opts.features ?? 64;
  const widths = [...(opts.hidden ?? [256, 256]), opts.classes ?? 10];
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  const rng = uniformRng(opts.seed ?? 42);
  const b = new ModelBuilder({ opset, name: 'mlp' });
  let x = b.input('input', DataType.FLOAT, ['batch', features]);
  let cin = features;
  widths.forEach((cout, i) => {
    const w = b.init(`layers.${2 * i}.weight`, [cout, cin], normalArray(rng, cout * cin, Math.sqrt(2 / cin)));
    const bias = b.init(`layers.${2 * i}.bias`, [cout], normalArray(rng, cout, 0.01));
    x = b.op('Gemm', [x, w, bias], { alpha: 1, beta: 1, transB: 1 }, { name: `/layers.${2 * i}/Gemm`, types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } });
    if (i < widths.length - 1) x = b.op('Relu', [x], {}, { name: `/layers.${2 * i + 1}/Relu` });
    cin = cout;
  });
  b.output(x, DataType.FLOAT, ['batch', cin], 'logits');
  return finish(b, opts);
}

/** A batch of features uniform in [−1, 1). */
export function mlpInputs(opts: MlpOptions, batch: number, seed = 1): Record<string, SampleArray> {
  return { input: floatSample([batch, opts.features ?? 64], floatType(opts), uniformRng(seed)) };
}
