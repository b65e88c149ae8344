/**
 * A ViT-like image classifier (timm / HF ViTForImageClassification as torch.onnx writes it):
 *
 *   patches  Conv kernel = stride = patch (with bias) → Reshape [batch, hidden, −1] → Transpose
 *   tokens   class token Expand-ed to the batch (Shape → Gather → Unsqueeze → Concat → Expand),
 *            Concat on the token axis, + position embeddings (Add)
 *   block    pre-norm: x + proj(attn(LN(x))), then x + fc2(GELU(fc1(LN(x)))); q, k, v from one fused
 *            MatMul + Add split in three (Split with `num_outputs` from opset 18, a `split` input
 *            before), heads by Reshape / Transpose, scores scaled by Mul, Softmax
 *   head     LayerNormalization → Gather token 0 → Gemm (transB = 1)
 *
 * GELU is written as `gelu` says (Erf form by default, the tanh approximation, or the Gelu op from
 * opset 20); LayerNorm as the op (opset 17+) or written out with ReduceMean (axes an input from
 * opset 18). Input `input` [batch, 3, image, image], output `logits` [batch, classes].
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import type { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import {
  type CommonOptions,
  type GeluForm,
  type SampleArray,
  checkOpset,
  finish,
  floatSample,
  floatType,
  gelu,
  layerNorm,
  normalArray,
  uniformRng,
} from './common.js';

export interface ViTOptions extends CommonOptions {
  image?: number;
  patch?: number;
  hidden?: number;
  heads?: number;
  /** MLP width (default 4 × hidden) */
  mlp?: number;
  layers?: number;
  classes?: number;
  inChannels?: number;
  gelu?: GeluForm;
  layerNorm?: 'op' | 'decomposed';
}

export function buildViT(opts: ViTOptions = {}): Model {
  const image = opts.image ?? 224;
  const patch = opts.patch ?? 16;
  const hidden = opts.hidden ?? 768;
  const heads = opts.heads ?? 12;
  const mlp = opts.mlp ?? 4 * hidden;
  const layers = opts.layers ?? 12;
  const classes = opts.classes ?? 1000;
  const inC = opts.inChannels ?? 3;
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  if (image % patch !== 0) throw new RangeError(`image (${image}) must be a multiple of patch (${patch})`);
  if (hidden % heads !== 0) throw new RangeError(`hidden (${hidden}) must be a multiple of heads (${heads})`);
  const lnForm = opts.layerNorm ?? (opset >= 17 ? 'op' : 'decomposed');
  if (lnForm === 'op' && opset < 17) throw new RangeError('the LayerNormalization op needs opset 17');
  const geluForm = opts.gelu ?? 'erf';
  if (geluForm === 'op' && opset < 20) throw new RangeError('the Gelu op needs opset 20');
  const headDim = hidden / heads;
  const tokens = (image / patch) ** 2 + 1;
  const rng = uniformRng(opts.seed ?? 42);
  const b = new ModelBuilder({ opset, name: 'vit' });
  const w = (name: string, dims: number[], std = 0.02) => b.init(name, dims, normalArray(rng, dims.reduce((a, c) => a * c, 1), std));

  const linear = (x: string, name: string, node: string, inF: number, outF: number): string => {
    const mm = b.op('MatMul', [x, w(`${name}.weight`, [inF, outF])], {}, { name: `${node}/MatMul` });
    return b.op('Add', [w(`${name}.bias`, [outF]), mm], {}, { name: `${node}/Add` });
  };
  const norm = (x: string, name: string, node: string): string => {
    const g = b.init(`${name}.weight`, [hidden], normalArray(rng, hidden, 0.1).map((v) => 1 + v));
    const beta = b.init(`${name}.bias`, [hidden], normalArray(rng, hidden, 0.02));
    return layerNorm(b, x, g, beta, lnForm, 1e-6, node, opset);
  };

  const x0 = b.input('input', DataType.FLOAT, ['batch', inC, image, image]);
  const pw = w('patch_embed.proj.weight', [hidden, inC, patch, patch], Math.sqrt(1 / (inC * patch * patch)));
  const pb = w('patch_embed.proj.bias', [hidden]);
  const conv = b.op('Conv', [x0, pw, pb], { dilations: [1, 1], group: 1, kernel_shape: [patch, patch], pads: [0, 0, 0, 0], strides: [patch, patch] }, { name: '/patch_embed/proj/Conv' });
  const flat = b.op('Reshape', [conv, b.ints('/patch_embed/Constant', [0, hidden, -1])], {}, { name: '/patch_embed/Reshape' });
  const seqX = b.op('Transpose', [flat], { perm: [0, 2, 1] }, { name: '/patch_embed/Transpose' });
  // the class token, expanded to the batch: cls.expand(x.shape[0], -1, -1)
  const cls = w('cls_token', [1, 1, hidden]);
  const batchDim = b.op('Gather', [b.op('Shape', [x0], {}, { name: '/Shape' }), b.init('/Constant', [], [0], DataType.INT64)], { axis: 0 }, { name: '/Gather' });
  const shape = b.op('Concat', [b.op('Unsqueeze', [batchDim, b.ints('/Unsqueeze_axes', [0])], {}, { name: '/Unsqueeze' }), b.ints('/Constant_1', [1, hidden])], { axis: 0 }, { name: '/Concat' });
  const clsB = b.op('Expand', [cls, shape], {}, { name: '/Expand' });
  const cat = b.op('Concat', [clsB, seqX], { axis: 1 }, { name: '/Concat_1' });
  let x = b.op('Add', [cat, w('pos_embed', [1, tokens, hidden])], {}, { name: '/Add' });

  const splitHeads = b.ints('split_heads_shape', [0, 0, heads, headDim]);
  const merge = b.ints('merge_heads_shape', [0, 0, hidden]);
  const scale = b.init('attention_scale', [], [1 / Math.sqrt(headDim)]);
  for (let l = 0; l < layers; l++) {
    const p = `blocks.${l}`;
    const np = `/blocks/blocks.${l}`;
    const h = norm(x, `${p}.norm1`, `${np}/norm1`);
    const qkv = linear(h, `${p}.attn.qkv`, `${np}/attn/qkv`, hidden, 3 * hidden);
    const parts =
      opset >= 18
        ? b.opN('Split', [qkv], { axis: -1, num_outputs: 3 }, { name: `${np}/attn/Split`, outputs: 3 })
        : b.opN('Split', [qkv, b.ints(`${np}/attn/split`, [hidden, hidden, hidden])], { axis: -1 }, { name: `${np}/attn/Split`, outputs: 3 });
    const toHeads = (t: string, perm: number[], n: string) =>
      b.op('Transpose', [b.op('Reshape', [t, splitHeads], {}, { name: `${np}/attn/Reshape_${n}` })], { perm }, { name: `${np}/attn/Transpose_${n}` });
    const q = toHeads(parts[0], [0, 2, 1, 3], 'q');
    const k = toHeads(parts[1], [0, 2, 3, 1], 'k');
    const v = toHeads(parts[2], [0, 2, 1, 3], 'v');
    const scores = b.op('Mul', [b.op('MatMul', [q, k], {}, { name: `${np}/attn/MatMul` }), scale], {}, { name: `${np}/attn/Mul` });
    const probs = b.op('Softmax', [scores], { axis: -1 }, { name: `${np}/attn/Softmax` });
    const ctx = b.op('Transpose', [b.op('MatMul', [probs, v], {}, { name: `${np}/attn/MatMul_1` })], { perm: [0, 2, 1, 3] }, { name: `${np}/attn/Transpose` });
    const attn = linear(b.op('Reshape', [ctx, merge], {}, { name: `${np}/attn/Reshape` }), `${p}.attn.proj`, `${np}/attn/proj`, hidden, hidden);
    x = b.op('Add', [x, attn], {}, { name: `${np}/Add` });
    const h2 = norm(x, `${p}.norm2`, `${np}/norm2`);
    const up = gelu(b, linear(h2, `${p}.mlp.fc1`, `${np}/mlp/fc1`, hidden, mlp), geluForm, `${np}/mlp/act`);
    x = b.op('Add', [x, linear(up, `${p}.mlp.fc2`, `${np}/mlp/fc2`, mlp, hidden)], {}, { name: `${np}/Add_1` });
  }
  const last = norm(x, 'norm', '/norm');
  const clsOut = b.op('Gather', [last, b.init('/Constant_2', [], [0], DataType.INT64)], { axis: 1 }, { name: '/Gather_1' });
  const hw = w('head.weight', [classes, hidden], Math.sqrt(1 / hidden));
  const hb = w('head.bias', [classes]);
  const logits = b.op('Gemm', [clsOut, hw, hb], { alpha: 1, beta: 1, transB: 1 }, { name: '/head/Gemm', types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } });
  b.output(logits, floatType(opts), ['batch', classes], 'logits');
  return finish(b, opts);
}

export function vitInputs(opts: ViTOptions, batch: number, seed = 1): Record<string, SampleArray> {
  const image = opts.image ?? 224;
  return { input: floatSample([batch, opts.inChannels ?? 3, image, image], floatType(opts), uniformRng(seed)) };
}
