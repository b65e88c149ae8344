/**
 * A MobileNetV2 (torchvision `mobilenet_v2`) built with the project's ModelBuilder, with the op
 * pattern torch.onnx writes for it in eval mode:
 *
 * - Conv (3×3 stem stride 2, then per inverted-residual block: 1×1 expand, 3×3 depthwise with
 *   group = channels, 1×1 project), with BatchNorm folded into the Conv weight and bias (the
 *   export's default constant folding; weights named `onnx::Conv_<n>` as the exporter names them)
 *   or, with `foldBatchNorm: false`, as Conv (no bias) → BatchNormalization with the
 *   `features.*.weight / bias / running_mean / running_var` initializers;
 * - ReLU6 as Clip with min / max inputs (opset ≥ 11), from Constant nodes as the exporter
 *   writes them;
 * - a residual Add where stride is 1 and in = out channels;
 * - GlobalAveragePool → Flatten → Gemm (transB = 1) classifier (Dropout is gone in eval).
 *
 * Input `input` float [N, 3, R, R] (N fixed or, with `dynamicBatch`, the symbolic 'batch'),
 * output `output` float [N, classes]. `width` is torchvision's width multiplier (channels rounded
 * to multiples of 8), `resolution` the input side, so tests can build tiny ones. Weights are
 * seeded: He-normal Conv weights (fan-in), BatchNorm statistics drawn around (γ 1, β 0, μ 0,
 * σ² 1) so folding changes every weight, classifier normal(0, 0.01) as torchvision does.
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import type { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import { fillNormal, normalRng, seededRng } from '../core/rng.js';

export interface MobileNetOptions {
  /** width multiplier (torchvision's width_mult); default 1 */
  width?: number;
  /** input height = width; default 224 */
  resolution?: number;
  /** classifier outputs; default 1000 */
  classes?: number;
  /** fixed batch size of the input; default 1 */
  batch?: number;
  /** symbolic batch dimension 'batch' instead of a fixed one; default false */
  dynamicBatch?: boolean;
  /** BatchNorm folded into the Conv (default true) or kept as BatchNormalization nodes */
  foldBatchNorm?: boolean;
  /** inverted-residual settings [t, c, n, s]; default torchvision's */
  blocks?: readonly (readonly [number, number, number, number])[];
  opset?: number;
  seed?: number;
}

/** torchvision's MobileNetV2 settings: expansion t, channels c, repeats n, first stride s. */
export const MOBILENET_V2_BLOCKS: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** torchvision's _make_divisible: nearest multiple of `d`, not below 90% of v. */
function makeDivisible(v: number, d = 8): number {
  let n = Math.max(d, Math.floor(v + d / 2) - (Math.floor(v + d / 2) % d));
  if (n < 0.9 * v) n += d;
  return n;
}

export function buildMobileNetV2(opts: MobileNetOptions = {}): Model {
  const width = opts.width ?? 1;
  const res = opts.resolution ?? 224;
  const classes = opts.classes ?? 1000;
  const fold = opts.foldBatchNorm ?? true;
  const opset = opts.opset ?? 17;
  if (!(width > 0)) throw new RangeError(`width must be > 0 (got ${width})`);
  if (!Number.isInteger(res) || res < 8) throw new RangeError(`resolution must be an integer ≥ 8 (got ${res})`);
  if (opset < 11) throw new RangeError('opset must be ≥ 11 (Clip with min / max inputs)');
  const weightRng = seededRng(opts.seed ?? 7);
  const uni = seededRng((opts.seed ?? 7) + 1);
  const b = new ModelBuilder({ opset, name: 'mobilenet_v2' });
  const batch = opts.dynamicBatch ? 'batch' : (opts.batch ?? 1);
  const x0 = b.input('input', DataType.FLOAT, [batch, 3, res, res]);

  let folded = 0;
  const foldedName = () => `onnx::Conv_${++folded}`;
  const constant = (node: string, v: number): string =>
    b.op('Constant', [], { value: Tensor.float32('', [], [v]) }, { name: node, outputs: [`${node}_output_0`] });

  /** Conv(k, stride, groups) + BN (folded or not); `path` like features.1.conv.0.0 */
  const convBn = (x: string, cin: number, cout: number, k: number, stride: number, groups: number, convPath: string, bnPath: string, nodePath: string, bnNodePath: string): string => {
    const fanIn = (cin / groups) * k * k;
    const std = Math.sqrt(2 / fanIn);
    const n = cout * (cin / groups) * k * k;
    const w = fillNormal(new Float32Array(n), weightRng, std);
    const gamma = new Float32Array(cout);
    const beta = fillNormal(new Float32Array(cout), weightRng, 0.1);
    const mean = fillNormal(new Float32Array(cout), weightRng, 0.1);
    const variance = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      gamma[c] = 0.5 + uni();
      variance[c] = 0.5 + uni();
    }
    const eps = 1e-5;
    const attrs = { dilations: [1, 1], group: groups, kernel_shape: [k, k], pads: [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2], strides: [stride, stride] };
    const dims = [cout, cin / groups, k, k];
    if (fold) {
      // y = γ (conv(x) − μ) / √(σ² + ε) + β  →  W' = W·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε)
      const per = n / cout;
      const bias = new Float32Array(cout);
      for (let c = 0; c < cout; c++) {
        const s = gamma[c] / Math.sqrt(variance[c] + eps);
        for (let i = 0; i < per; i++) w[c * per + i] *= s;
        bias[c] = beta[c] - mean[c] * s;
      }
      const wn = b.init(foldedName(), dims, w);
      const bn = b.init(foldedName(), [cout], bias);
      return b.op('Conv', [x, wn, bn], attrs, { name: `${nodePath}/Conv`, outputs: [`${nodePath}/Conv_output_0`] });
    }
    const wn = b.init(`${convPath}.weight`, dims, w);
    const y = b.op('Conv', [x, wn], attrs, { name: `${nodePath}/Conv`, outputs: [`${nodePath}/Conv_output_0`] });
    const ins = [y, b.init(`${bnPath}.weight`, [cout], gamma), b.init(`${bnPath}.bias`, [cout], beta), b.init(`${bnPath}.running_mean`, [cout], mean), b.init(`${bnPath}.running_var`, [cout], variance)];
    return b.op('BatchNormalization', ins, { epsilon: eps, momentum: 0.9 }, {
      name: `${bnNodePath}/BatchNormalization`,
      outputs: [`${bnNodePath}/BatchNormalization_output_0`],
      types: { epsilon: AttrType.FLOAT, momentum: AttrType.FLOAT },
    });
  };
  const relu6 = (x: string, nodePath: string): string => {
    const lo = constant(`${nodePath}/Constant`, 0);
    const hi = constant(`${nodePath}/Constant_1`, 6);
    return b.op('Clip', [x, lo, hi], {}, { name: `${nodePath}/Clip`, outputs: [`${nodePath}/Clip_output_0`] });
  };
  /**
   * torchvision Conv2dNormActivation: parameters under `path` (features.0, features.1.conv.0),
   * nodes under `scope`/`local`.k as the exporter names them (/features/features.0/features.0.0/Conv,
   * /features/features.1/conv/conv.0/conv.0.0/Conv)
   */
  const convBnAct = (x: string, cin: number, cout: number, k: number, stride: number, groups: number, path: string, scope: string, local: string): string => {
    const y = convBn(x, cin, cout, k, stride, groups, `${path}.0`, `${path}.1`, `${scope}/${local}.0`, `${scope}/${local}.1`);
    return relu6(y, `${scope}/${local}.2`);
  };

  let cin = makeDivisible(32 * width);
  const last = makeDivisible(1280 * Math.max(1, width));
  let x = convBnAct(x0, 3, cin, 3, 2, 1, 'features.0', '/features/features.0', 'features.0');
  let idx = 1;
  for (const [t, c, n, s] of opts.blocks ?? MOBILENET_V2_BLOCKS) {
    const cout = makeDivisible(c * width);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = Math.round(cin * t);
      const p = `features.${idx}.conv`;
      const node = `/features/features.${idx}/conv`;
      let h = x;
      let j = 0;
      if (t !== 1) {
        h = convBnAct(h, cin, hidden, 1, 1, 1, `${p}.${j}`, `${node}/conv.${j}`, `conv.${j}`);
        j++;
      }
      h = convBnAct(h, hidden, hidden, 3, stride, hidden, `${p}.${j}`, `${node}/conv.${j}`, `conv.${j}`);
      j++;
      // pw-linear: Conv j, BN j+1 (no activation)
      h = convBn(h, hidden, cout, 1, 1, 1, `${p}.${j}`, `${p}.${j + 1}`, `${node}/conv.${j}`, `${node}/conv.${j + 1}`);
      if (stride === 1 && cin === cout) h = b.op('Add', [x, h], {}, { name: `/features/features.${idx}/Add`, outputs: [`/features/features.${idx}/Add_output_0`] });
      x = h;
      cin = cout;
      idx++;
    }
  }
  x = convBnAct(x, cin, last, 1, 1, 1, `features.${idx}`, `/features/features.${idx}`, `features.${idx}`);
  x = b.op('GlobalAveragePool', [x], {}, { name: '/GlobalAveragePool', outputs: ['/GlobalAveragePool_output_0'] });
  x = b.op('Flatten', [x], { axis: 1 }, { name: '/Flatten', outputs: ['/Flatten_output_0'] });
  const wc = fillNormal(new Float32Array(classes * last), weightRng, 0.01);
  const bc = new Float32Array(classes);
  x = b.op('Gemm', [x, b.init('classifier.1.weight', [classes, last], wc), b.init('classifier.1.bias', [classes], bc)], { alpha: 1, beta: 1, transB: 1 }, {
    name: '/classifier/classifier.1/Gemm',
    types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT },
  });
  b.output(x, DataType.FLOAT, [batch, classes], 'output');
  return b.build();
}

/**
 * n images [n, 3, res, res] for calibrating and evaluating an image model: 8×8 blocks of normal
 * noise plus fine noise (roughly unit variance), seeded (the static-int8 benchmarks' data).
 */
export function blockyImages(n: number, res: number, seed: number): Float32Array {
  const normal = normalRng(seededRng(seed));
  const x = new Float32Array(n * 3 * res * res);
  const cb = Math.ceil(res / 8);
  for (let s = 0; s < n; s++) {
    for (let c = 0; c < 3; c++) {
      const coarse = Array.from({ length: cb * cb }, normal);
      const base = (s * 3 + c) * res * res;
      for (let i = 0; i < res; i++) for (let j = 0; j < res; j++) x[base + i * res + j] = coarse[(i >> 3) * cb + (j >> 3)] + 0.3 * normal();
    }
  }
  return x;
}
