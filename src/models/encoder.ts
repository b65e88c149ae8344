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
 * With `attentionMask` / `tokenTypes` it is the BERT export (HF BertModel through torch.onnx):
 * `input_ids`, `attention_mask` and `token_type_ids`, all int64 [batch, sequence]; position ids
 * come from a constant `position_ids` row (sliced to the input's length when `dynamicSequence`)
 * through a Gather; the mask becomes (1 − Cast(Unsqueeze(mask))) · −10000 added to every
 * attention score. `dynamicSequence` names the sequence axis `sequence` (`seq` is then the longest
 * sequence the position table covers). `dtype: 'float16'` gives an fp16 export, `opset` 18+ the
 * newer op forms (with `layerNorm: 'decomposed'`, ReduceMean's axes as an input).
 *
 * Node and weight names follow the export's style (`/encoder/layer.0/attention/self/query/MatMul`,
 * `encoder.layer.0.attention.self.query.weight`) so that --exclude globs read naturally.
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import {
  type CommonOptions,
  type GeluForm,
  type SampleArray,
  checkOpset,
  finish,
  floatSample,
  floatType,
  gelu as geluOf,
  layerNorm as layerNormOf,
  normalArray,
  uniformRng,
} from './common.js';

export interface EncoderOptions extends CommonOptions {
  hidden?: number;
  heads?: number;
  ffn?: number;
  layers?: number;
  seq?: number;
  /** vocabulary size; when set the model starts from token ids with an embedding table */
  vocab?: number;
  /** an `attention_mask` int64 [batch, sequence] input (needs vocab) */
  attentionMask?: boolean;
  /** a `token_type_ids` input with this many segment types (BERT: 2; needs vocab) */
  tokenTypes?: number;
  /** the sequence axis is the dim_param `sequence` (needs vocab); `seq` is the longest sequence */
  dynamicSequence?: boolean;
  /** LayerNormalization op (default from opset 17) or written out (the only form before 17) */
  layerNorm?: 'op' | 'decomposed';
  /** GELU as exporters write it (default 'erf') */
  gelu?: GeluForm;
}

/** The BERT export's form (mask, token types, position-id Gather) rather than the plain one. */
function bertForm(o: EncoderOptions): boolean {
  return !!(o.attentionMask || o.tokenTypes || o.dynamicSequence || o.layerNorm || o.gelu || o.opset || o.dtype);
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
  const rng = uniformRng(opts.seed ?? 42);
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  const bert = bertForm(opts);
  if (bert && vocab === undefined && (opts.attentionMask || opts.tokenTypes || opts.dynamicSequence)) {
    throw new RangeError('attentionMask, tokenTypes and dynamicSequence need vocab (token-id inputs)');
  }
  const lnForm = opts.layerNorm ?? (opset >= 17 ? 'op' : 'decomposed');
  if (lnForm === 'op' && opset < 17) throw new RangeError('the LayerNormalization op needs opset 17');
  const geluForm = opts.gelu ?? 'erf';
  if (geluForm === 'op' && opset < 20) throw new RangeError('the Gelu op needs opset 20');
  const seqDim: number | string = opts.dynamicSequence ? 'sequence' : seq;

  const b = new ModelBuilder({ opset, name: 'encoder' });
  const normal = (n: number, std: number): Float32Array => normalArray(rng, n, std);
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
    if (bert) return layerNormOf(b, x, g, beta, lnForm, 1e-12, nodePrefix, opset);
    return b.op(
      'LayerNormalization',
      [x, g, beta],
      { axis: -1, epsilon: 1e-12 },
      { name: `${nodePrefix}/LayerNormalization`, types: { epsilon: AttrType.FLOAT } },
    );
  };

  let x: string;
  let maskAdd: string | undefined;
  if (vocab !== undefined && bert) {
    const ids = b.input('input_ids', DataType.INT64, ['batch', seqDim]);
    const mask = opts.attentionMask ? b.input('attention_mask', DataType.INT64, ['batch', seqDim]) : undefined;
    const types = opts.tokenTypes ? b.input('token_type_ids', DataType.INT64, ['batch', seqDim]) : undefined;
    const table = b.init('embeddings.word_embeddings.weight', [vocab, hidden], normal(vocab * hidden, 0.02));
    const posTable = b.init('embeddings.position_embeddings.weight', [seq, hidden], normal(seq * hidden, 0.02));
    let posIds = b.init('embeddings.position_ids', [1, seq], Array.from({ length: seq }, (_, i) => i), DataType.INT64);
    if (opts.dynamicSequence) {
      // position_ids[:, :seq_len], seq_len = input_ids.shape[1]
      const shape = b.op('Shape', [ids], {}, { name: '/embeddings/Shape' });
      const len = b.op('Gather', [shape, b.init('/embeddings/Constant', [], [1], DataType.INT64)], { axis: 0 }, { name: '/embeddings/Gather' });
      const end = b.op('Unsqueeze', [len, b.ints('/embeddings/Unsqueeze_axes', [0])], {}, { name: '/embeddings/Unsqueeze' });
      posIds = b.op('Slice', [posIds, b.ints('/embeddings/Slice_starts', [0]), end, b.ints('/embeddings/Slice_axes', [1])], {}, { name: '/embeddings/Slice' });
    }
    let sum = b.op('Gather', [table, ids], { axis: 0 }, { name: '/embeddings/word_embeddings/Gather' });
    if (types) {
      const typeTable = b.init('embeddings.token_type_embeddings.weight', [opts.tokenTypes!, hidden], normal(opts.tokenTypes! * hidden, 0.02));
      const te = b.op('Gather', [typeTable, types], { axis: 0 }, { name: '/embeddings/token_type_embeddings/Gather' });
      sum = b.op('Add', [sum, te], {}, { name: '/embeddings/Add' });
    }
    const pe = b.op('Gather', [posTable, posIds], { axis: 0 }, { name: '/embeddings/position_embeddings/Gather' });
    sum = b.op('Add', [sum, pe], {}, { name: '/embeddings/Add_1' });
    x = layerNorm(sum, 'embeddings.LayerNorm', '/embeddings/LayerNorm');
    if (mask) {
      // extended mask [batch, 1, 1, sequence]: (1 − mask) · −10000
      const um = b.op('Unsqueeze', [mask, b.ints('/Unsqueeze_axes', [1, 2])], {}, { name: '/Unsqueeze' });
      const fm = b.op('Cast', [um], { to: DataType.FLOAT }, { name: '/Cast' });
      const inv = b.op('Sub', [b.init('/Constant_one', [], [1]), fm], {}, { name: '/Sub' });
      maskAdd = b.op('Mul', [inv, b.init('/Constant_min', [], [-10000])], {}, { name: '/Mul' });
    }
  } else if (vocab !== undefined) {
    const ids = b.input('input_ids', DataType.INT64, ['batch', seq]);
    const table = b.init('embeddings.word_embeddings.weight', [vocab, hidden], normal(vocab * hidden, 0.02));
    const pos = b.init('embeddings.position_embeddings.weight', [seq, hidden], normal(seq * hidden, 0.02));
    const emb = b.op('Gather', [table, ids], { axis: 0 }, { name: '/embeddings/word_embeddings/Gather' });
    const sum = b.op('Add', [emb, pos], {}, { name: '/embeddings/Add' });
    x = layerNorm(sum, 'embeddings.LayerNorm', '/embeddings/LayerNorm');
  } else {
    x = b.input('input', DataType.FLOAT, ['batch', seqDim, hidden]);
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
    let scaled = b.op('Div', [scores, sqrtD], {}, { name: `${np}/attention/self/Div` });
    if (maskAdd) scaled = b.op('Add', [scaled, maskAdd], {}, { name: `${np}/attention/self/Add` });
    const probs = b.op('Softmax', [scaled], { axis: -1 }, { name: `${np}/attention/self/Softmax` });
    const ctx = b.op('MatMul', [probs, v], {}, { name: `${np}/attention/self/MatMul_1` });
    const ctxT = b.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }, { name: `${np}/attention/self/Transpose_3` });
    const merged = b.op('Reshape', [ctxT, mergeShape], {}, { name: `${np}/attention/self/Reshape_3` });
    const attnOut = linear(merged, `${p}.attention.output.dense`, `${np}/attention/output/dense`, hidden, hidden);
    const res1 = b.op('Add', [attnOut, x], {}, { name: `${np}/attention/output/Add` });
    const h1 = layerNorm(res1, `${p}.attention.output.LayerNorm`, `${np}/attention/output/LayerNorm`);

    const up = linear(h1, `${p}.intermediate.dense`, `${np}/intermediate/dense`, hidden, ffn);
    const act = bert && geluForm !== 'erf' ? geluOf(b, up, geluForm, `${np}/intermediate/intermediate_act_fn`) : undefined;
    // GELU(x) = x · 0.5 · (1 + erf(x / √2)), as torch.onnx writes it
    const erf = b.op('Erf', [b.op('Div', [up, sqrt2], {}, { name: `${np}/intermediate/intermediate_act_fn/Div` })], {}, { name: `${np}/intermediate/intermediate_act_fn/Erf` });
    const gelu = act ?? b.op(
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
  b.output(x, bert ? floatType(opts) : DataType.FLOAT, ['batch', seqDim, hidden], 'output');
  if (!bert) return b.build();
  b.graph.removeUnusedInitializers();
  return finish(b, opts);
}

/**
 * A batch of sample inputs for the encoder built with `opts`: token ids uniform in [0, vocab), an
 * attention mask whose rows keep a random-length prefix (at least one token), token types 0 then
 * 1; or float values in [−1, 1) for the plain form. `seqLen` defaults to `seq`.
 */
export function encoderInputs(opts: EncoderOptions, batch: number, seed = 1, seqLen = opts.seq ?? 128): Record<string, SampleArray> {
  const rng = uniformRng(seed);
  const hidden = opts.hidden ?? 768;
  if (opts.vocab === undefined) return { input: floatSample([batch, seqLen, hidden], floatType(opts), rng) };
  const ints = (f: (bi: number, t: number) => number): SampleArray => {
    const d = new BigInt64Array(batch * seqLen);
    for (let bi = 0; bi < batch; bi++) for (let t = 0; t < seqLen; t++) d[bi * seqLen + t] = BigInt(f(bi, t));
    return { dtype: 'int64', dims: [batch, seqLen], data: d };
  };
  const out: Record<string, SampleArray> = { input_ids: ints(() => Math.floor(rng() * opts.vocab!)) };
  if (opts.attentionMask) {
    const lens = Array.from({ length: batch }, () => 1 + Math.floor(rng() * seqLen));
    out.attention_mask = ints((bi, t) => (t < lens[bi] ? 1 : 0));
  }
  if (opts.tokenTypes) {
    const cut = Array.from({ length: batch }, () => Math.floor(rng() * seqLen));
    out.token_type_ids = ints((bi, t) => (t < cut[bi] ? 0 : Math.min(1, opts.tokenTypes! - 1)));
  }
  return out;
}
