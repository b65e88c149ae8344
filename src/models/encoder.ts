/**
 * A BERT-like transformer encoder built with the project's ModelBuilder, with the op pattern a
 * PyTorch (torch.onnx) export gives: MatMul + Add for every linear layer, Reshape / Transpose to
 * split and merge heads, MatMul → Div → Softmax → MatMul for attention, residual Add +
 * LayerNormalization, and GELU written out with Erf. Weights are random (seeded) with BERT's
 * initializer scale (normal, std 0.02); LayerNorm gains are 1 and offsets 0.
 *
 * Without `vocab` the model takes `input` float [batch, seq, hidden]; with `vocab` it takes
 * `input_ids` int64 [batch, seq] and starts with a word-embedding Gather plus position embeddings
 * and a LayerNormalization. The output is `output` float [batch, seq, hidden].
 *
 * Node and weight names follow the export's style (`/encoder/layer.0/attention/self/query/MatMul`,
 * `encoder.layer.0.attention.self.query.weight`) so that --exclude globs read naturally.
 */
import { normalRng, seededRng } from '../core/rng.js';
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';

export interface EncoderOptions {
  hidden?: number;
  heads?: number;
  ffn?: number;
  layers?: number;
  seq?: number;
  /** vocabulary size; when set the model starts from token ids with an embedding table */
  vocab?: number;
  seed?: number;
}

export function buildEncoder(opts: EncoderOptions = {}): Model {
  const hidden = opts.hidden ?? 768;
  const heads = opts.heads ?? 12;
  const ffn = opts.ffn ?? 3072;
  const layers = opts.layers ?? 4;
  const seq = opts.seq ?? 128;
  const vocab = opts.vocab;
  if (hidden % heads !== 0) throw new RangeError(`hidden (${hidden}) must be a multiple of heads (${heads})`);
  const headDim = hidden / heads;
  const randn = normalRng(seededRng(opts.seed ?? 42));

  const b = new ModelBuilder({ opset: 17, name: 'encoder' });
  const normal = (n: number, std: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = randn() * std;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const scalar = (name: string, v: number) => b.init(name, [], [v]);

  const linear = (x: string, prefix: string, nodePrefix: string, inF: number, outF: number): string => {
    const w = b.init(`${prefix}.weight`, [inF, outF], normal(inF * outF, 0.02));
    const bias = b.init(`${prefix}.bias`, [outF], normal(outF, 0.02));
    const mm = b.op('MatMul', [x, w], {}, { name: `${nodePrefix}/MatMul` });
    return b.op('Add', [bias, mm], {}, { name: `${nodePrefix}/Add` });
  };
  const layerNorm = (x: string, prefix: string, nodePrefix: string): string => {
    const g = b.init(`${prefix}.weight`, [hidden], ones(hidden));
    const beta = b.init(`${prefix}.bias`, [hidden], new Float32Array(hidden));
    return b.op(
      'LayerNormalization',
      [x, g, beta],
      { axis: -1, epsilon: 1e-12 },
      { name: `${nodePrefix}/LayerNormalization`, types: { epsilon: AttrType.FLOAT } },
    );
  };

  let x: string;
  if (vocab !== undefined) {
    const ids = b.input('input_ids', DataType.INT64, ['batch', seq]);
    const table = b.init('embeddings.word_embeddings.weight', [vocab, hidden], normal(vocab * hidden, 0.02));
    const pos = b.init('embeddings.position_embeddings.weight', [seq, hidden], normal(seq * hidden, 0.02));
    const emb = b.op('Gather', [table, ids], { axis: 0 }, { name: '/embeddings/word_embeddings/Gather' });
    const sum = b.op('Add', [emb, pos], {}, { name: '/embeddings/Add' });
    x = layerNorm(sum, 'embeddings.LayerNorm', '/embeddings/LayerNorm');
  } else {
    x = b.input('input', DataType.FLOAT, ['batch', seq, hidden]);
  }

  const splitShape = b.ints('split_heads_shape', [0, 0, heads, headDim]);
  const mergeShape = b.ints('merge_heads_shape', [0, 0, hidden]);
  const sqrtD = scalar('attention_scale', Math.sqrt(headDim));
  const sqrt2 = scalar('gelu_sqrt2', Math.SQRT2);
  const one = scalar('gelu_one', 1);
  const half = scalar('gelu_half', 0.5);

  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}`;
    const np = `/encoder/layer.${l}`;
    const heads4 = (t: string, perm: number[], name: string) =>
      b.op('Transpose', [b.op('Reshape', [t, splitShape], {}, { name: `${name}/Reshape` })], { perm }, { name: `${name}/Transpose` });
    const q = heads4(linear(x, `${p}.attention.self.query`, `${np}/attention/self/query`, hidden, hidden), [0, 2, 1, 3], `${np}/attention/self/q`);
    const k = heads4(linear(x, `${p}.attention.self.key`, `${np}/attention/self/key`, hidden, hidden), [0, 2, 3, 1], `${np}/attention/self/k`);
    const v = heads4(linear(x, `${p}.attention.self.value`, `${np}/attention/self/value`, hidden, hidden), [0, 2, 1, 3], `${np}/attention/self/v`);
    const scores = b.op('MatMul', [q, k], {}, { name: `${np}/attention/self/MatMul` });
    const scaled = b.op('Div', [scores, sqrtD], {}, { name: `${np}/attention/self/Div` });
    const probs = b.op('Softmax', [scaled], { axis: -1 }, { name: `${np}/attention/self/Softmax` });
    const ctx = b.op('MatMul', [probs, v], {}, { name: `${np}/attention/self/MatMul_1` });
    const ctxT = b.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }, { name: `${np}/attention/self/Transpose_3` });
    const merged = b.op('Reshape', [ctxT, mergeShape], {}, { name: `${np}/attention/self/Reshape_3` });
    const attnOut = linear(merged, `${p}.attention.output.dense`, `${np}/attention/output/dense`, hidden, hidden);
    const res1 = b.op('Add', [attnOut, x], {}, { name: `${np}/attention/output/Add` });
    const h1 = layerNorm(res1, `${p}.attention.output.LayerNorm`, `${np}/attention/output/LayerNorm`);

    const up = linear(h1, `${p}.intermediate.dense`, `${np}/intermediate/dense`, hidden, ffn);
    // GELU(x) = x · 0.5 · (1 + erf(x / √2)), as torch.onnx writes it
    const erf = b.op('Erf', [b.op('Div', [up, sqrt2], {}, { name: `${np}/intermediate/intermediate_act_fn/Div` })], {}, { name: `${np}/intermediate/intermediate_act_fn/Erf` });
    const gelu = b.op(
      'Mul',
      [b.op('Mul', [up, b.op('Add', [erf, one], {}, { name: `${np}/intermediate/intermediate_act_fn/Add` })], {}, { name: `${np}/intermediate/intermediate_act_fn/Mul` }), half],
      {},
      { name: `${np}/intermediate/intermediate_act_fn/Mul_1` },
    );
    const down = linear(gelu, `${p}.output.dense`, `${np}/output/dense`, ffn, hidden);
    const res2 = b.op('Add', [down, h1], {}, { name: `${np}/output/Add` });
    x = layerNorm(res2, `${p}.output.LayerNorm`, `${np}/output/LayerNorm`);
  }
  if (!b.graph.producer(x)) x = b.op('Identity', [x], {}, { name: '/Identity' });
  b.output(x, DataType.FLOAT, ['batch', seq, hidden], 'output');
  return b.build();
}
