/**
 * A ResNet-like CNN (basic blocks, as torchvision's resnet18/34) in the form an export without
 * Conv–BatchNorm folding writes it (the dynamo exporter, tf2onnx, training-mode exports):
 *
 *   stem     Conv 7×7 stride 2 (no bias) → BatchNormalization → Relu → MaxPool 3×3 stride 2
 *   block    Conv 3×3 → BN → Relu → Conv 3×3 → BN → Add(shortcut) → Relu; the first block of a
 *            stage after the first has stride 2 and a Conv 1×1 stride 2 → BN shortcut
 *   head     GlobalAveragePool → Flatten → Gemm (transB = 1, [classes, C] weight, bias)
 *
 * With `layout: 'nhwc'` it is tf2onnx's form of a Keras model instead: input [batch, image, image,
 * 3] with a Transpose to NCHW in front, the pooling a ReduceMean over the spatial axes (axes an
 * attribute before opset 18, an input from 18 on) and a MatMul + Add head with a [C, classes]
 * weight.
 *
 * Input `input` [batch, 3, image, image] (or [batch, 3, height, width] with `dynamicSize`), output
 * `logits` [batch, classes]. Conv weights are He-normal, BatchNorm statistics random around
 * (0, 1) so that folding or skipping them would show. Names follow torchvision's export
 * (`layer1.0.conv1.weight`, `/layer1/layer1.0/conv1/Conv`).
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import type { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import { type CommonOptions, type SampleArray, checkOpset, finish, floatSample, floatType, normalArray, uniformRng } from './common.js';

export interface ResNetOptions extends CommonOptions {
  /** output channels per stage (default [64, 128, 256, 512]) */
  channels?: number[];
  /** basic blocks per stage (default [2, 2, 2, 2]) */
  blocks?: number[];
  /** input image side (default 224) */
  image?: number;
  /** height and width are the dim_params `height` / `width` */
  dynamicSize?: boolean;
  inChannels?: number;
  classes?: number;
  /** 'nchw' (torch, default) or 'nhwc' (tf2onnx: channels-last input, ReduceMean pooling, MatMul head) */
  layout?: 'nchw' | 'nhwc';
}

export function buildResNet(opts: ResNetOptions = {}): Model {
  const channels = opts.channels ?? [64, 128, 256, 512];
  const blocks = opts.blocks ?? [2, 2, 2, 2];
  if (channels.length !== blocks.length || channels.length === 0) throw new RangeError('channels and blocks need one entry per stage');
  const image = opts.image ?? 224;
  const inC = opts.inChannels ?? 3;
  const classes = opts.classes ?? 1000;
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  const rng = uniformRng(opts.seed ?? 42);
  const uni = uniformRng((opts.seed ?? 42) ^ 0x5bd1e995);
  const b = new ModelBuilder({ opset, name: 'resnet' });

  const conv = (x: string, name: string, node: string, cin: number, cout: number, k: number, stride: number): string => {
    const w = b.init(`${name}.weight`, [cout, cin, k, k], normalArray(rng, cout * cin * k * k, Math.sqrt(2 / (cin * k * k))));
    const p = (k - 1) >> 1;
    return b.op(
      'Conv',
      [x, w],
      { dilations: [1, 1], group: 1, kernel_shape: [k, k], pads: [p, p, p, p], strides: [stride, stride] },
      { name: `${node}/Conv` },
    );
  };
  const bn = (x: string, name: string, node: string, c: number): string => {
    const vec = (f: () => number) => Float32Array.from({ length: c }, f);
    const scale = b.init(`${name}.weight`, [c], vec(() => 0.5 + uni()));
    const bias = b.init(`${name}.bias`, [c], vec(() => 0.2 * (uni() - 0.5)));
    const mean = b.init(`${name}.running_mean`, [c], vec(() => 0.2 * (uni() - 0.5)));
    const v = b.init(`${name}.running_var`, [c], vec(() => 0.5 + uni()));
    return b.op(
      'BatchNormalization',
      [x, scale, bias, mean, v],
      { epsilon: 1e-5, momentum: 0.9 },
      { name: `${node}/BatchNormalization`, types: { epsilon: AttrType.FLOAT, momentum: AttrType.FLOAT } },
    );
  };
  const relu = (x: string, node: string) => b.op('Relu', [x], {}, { name: `${node}/Relu` });

  const nhwc = opts.layout === 'nhwc';
  const [hd, wd] = opts.dynamicSize ? ['height', 'width'] : [image, image];
  const x0 = b.input('input', DataType.FLOAT, nhwc ? ['batch', hd, wd, inC] : ['batch', inC, hd, wd]);
  const xin = nhwc ? b.op('Transpose', [x0], { perm: [0, 3, 1, 2] }, { name: '/Transpose' }) : x0;
  let x = relu(bn(conv(xin, 'conv1', '/conv1', inC, channels[0], 7, 2), 'bn1', '/bn1', channels[0]), '/relu');
  x = b.op('MaxPool', [x], { ceil_mode: 0, kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }, { name: '/maxpool/MaxPool' });
  let c = channels[0];
  for (let s = 0; s < channels.length; s++) {
    for (let k = 0; k < blocks[s]; k++) {
      const cout = channels[s];
      const stride = s > 0 && k === 0 ? 2 : 1;
      const name = `layer${s + 1}.${k}`;
      const node = `/layer${s + 1}/layer${s + 1}.${k}`;
      let h = relu(bn(conv(x, `${name}.conv1`, `${node}/conv1`, c, cout, 3, stride), `${name}.bn1`, `${node}/bn1`, cout), `${node}/relu`);
      h = bn(conv(h, `${name}.conv2`, `${node}/conv2`, cout, cout, 3, 1), `${name}.bn2`, `${node}/bn2`, cout);
      let short = x;
      if (stride !== 1 || c !== cout) {
        short = bn(conv(x, `${name}.downsample.0`, `${node}/downsample/downsample.0`, c, cout, 1, stride), `${name}.downsample.1`, `${node}/downsample/downsample.1`, cout);
      }
      x = relu(b.op('Add', [h, short], {}, { name: `${node}/Add` }), `${node}/relu_1`);
      c = cout;
    }
  }
  let logits: string;
  if (nhwc) {
    const pooled =
      opset >= 18
        ? b.op('ReduceMean', [x, b.ints('/avgpool/axes', [2, 3])], { keepdims: 0 }, { name: '/avgpool/ReduceMean' })
        : b.op('ReduceMean', [x], { axes: [2, 3], keepdims: 0 }, { name: '/avgpool/ReduceMean' });
    const fcw = b.init('dense/kernel', [c, classes], normalArray(rng, classes * c, Math.sqrt(1 / c)));
    const fcb = b.init('dense/bias', [classes], normalArray(rng, classes, 0.01));
    logits = b.op('Add', [b.op('MatMul', [pooled, fcw], {}, { name: '/dense/MatMul' }), fcb], {}, { name: '/dense/BiasAdd' });
  } else {
    const pooled = b.op('GlobalAveragePool', [x], {}, { name: '/avgpool/GlobalAveragePool' });
    const flat = b.op('Flatten', [pooled], { axis: 1 }, { name: '/Flatten' });
    const fcw = b.init('fc.weight', [classes, c], normalArray(rng, classes * c, Math.sqrt(1 / c)));
    const fcb = b.init('fc.bias', [classes], normalArray(rng, classes, 0.01));
    logits = b.op('Gemm', [flat, fcw, fcb], { alpha: 1, beta: 1, transB: 1 }, { name: '/fc/Gemm', types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } });
  }
  b.output(logits, floatType(opts), ['batch', classes], 'logits');
  return finish(b, opts);
}

/** A batch of images uniform in [−1, 1) (`size` overrides the side for `dynamicSize` models). */
export function resnetInputs(opts: ResNetOptions, batch: number, seed = 1, size = opts.image ?? 224): Record<string, SampleArray> {
  const c = opts.inChannels ?? 3;
  return { input: floatSample(opts.layout === 'nhwc' ? [batch, size, size, c] : [batch, c, size, size], floatType(opts), uniformRng(seed)) };
}
