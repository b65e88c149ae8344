/**
 * A GPT-2-like decoder as PyTorch (torch.onnx + Hugging Face GPT2LMHeadModel) exports it, built
 * with the project's ModelBuilder:
 *
 * - `input_ids` int64 [batch, seq] → token embeddings Gather(wte) + position embeddings
 *   Gather(wpe, Unsqueeze(Range(0, seq))) with seq read from Shape(input_ids);
 * - per block: ln_1 → attention → residual Add → ln_2 → MLP → residual Add. Linear layers are
 *   Conv1D with [in, out] weights: `linear: 'gemm'` (default) writes the export's
 *   Reshape [-1, in] → Gemm(W, b) → Reshape back to [batch, seq, out]; `'matmul'` writes MatMul + Add;
 * - attention: c_attn → Split into q, k, v → Reshape / Transpose into heads → MatMul → Div √d →
 *   causal mask → Softmax → MatMul → merge heads → c_proj. The mask is a triangular constant
 *   [1, 1, ctx, ctx] per layer (the `attn.bias` buffer), sliced to [seq, seq]: `mask: 'where'`
 *   (default) as Where(mask, scores, float32 min) like GPT-2, `'add'` as an additive float mask
 *   (0 / −10000) added to the scores;
 * - LayerNorm as LayerNormalization (opset ≥ 17) or, with `decomposedLayerNorm`, the
 *   ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div / Mul / Add chain;
 * - GELU as GPT-2's tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Pow / Mul /
 *   Add / Tanh);
 * - tied embeddings: the LM head reads the embedding table wte [vocab, hidden], as
 *   MatMul(h, Transpose(wte)) (`lmHead: 'transpose'`, default) or, on the flattened [batch·seq,
 *   hidden] activations, Gemm(h, wte, transB = 1) (`lmHead: 'gemm'`);
 * - `dedup` (default true): like the exporter, identical initializers are stored once and the
 *   others become Identity nodes reading it (with HF's initialisation the zero biases, LayerNorm
 *   gains and offsets and the per-layer mask buffers are identical).
 *
 * Initialisation as Hugging Face GPT-2: weights normal(0, 0.02), biases 0 (`biasStd` > 0 draws
 * them normal instead), LayerNorm gains 1 and offsets 0. Every weight is allocated once and filled
 * in place with core/rng's fillNormal (seed `seed`, default 1234; a 2.5 GB model holds one copy of
 * its weights). Output: `logits` float [batch, seq, vocab].
 *
 * `kvCache`: the layout transformers.js generates text with (a `model.onnx` as optimum / the dynamo
 * exporter write it with a cache): inputs `input_ids`, `attention_mask` [batch_size,
 * total_sequence_length] and `position_ids` (int64), and per layer `past_key_values.{l}.key` /
 * `.value` float [batch_size, heads, past_sequence_length, head size]; outputs `logits` and
 * `present.{l}.key` / `.value` [batch_size, heads, total_sequence_length, head size] (the past with
 * this step's keys and values appended). The causal mask is the triangular buffer's rows
 * [past, past + seq), cut to the total length, and'ed with the attention mask. An empty past (length
 * 0) is the first step.
 */
import { fillNormal, seededRng } from '../core/rng.js';
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import type { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import { irVersionFor } from './common.js';

export interface DecoderOptions {
  layers?: number;
  hidden?: number;
  heads?: number;
  vocab?: number;
  /** context length (size of the position table and of the causal-mask buffer) */
  ctx?: number;
  /** MLP width (default 4·hidden) */
  ffn?: number;
  /** fixed sequence length of `input_ids` (default: a symbolic `seq`) */
  seq?: number;
  /** fixed batch size (default: a symbolic `batch`) */
  batch?: number;
  linear?: 'gemm' | 'matmul';
  lmHead?: 'transpose' | 'gemm';
  mask?: 'where' | 'add';
  decomposedLayerNorm?: boolean;
  /** identical initializers stored once + Identity nodes, as torch.onnx does (default true) */
  dedup?: boolean;
  /** standard deviation of biases (default 0: HF's zero init) */
  biasStd?: number;
  /** ai.onnx opset, ≥ 13 (default 17); LayerNormalization needs 17, else the decomposed form is used */
  opset?: number;
  seed?: number;
  /** past / present key-value inputs and outputs, as transformers.js generates with (default false) */
  kvCache?: boolean;
}

export function buildDecoder(opts: DecoderOptions = {}): Model {
  const L = opts.layers ?? 12;
  const H = opts.hidden ?? 768;
  const nh = opts.heads ?? 12;
  const V = opts.vocab ?? 50257;
  const ctxLen = opts.ctx ?? 1024;
  const F = opts.ffn ?? 4 * H;
  const opset = opts.opset ?? 17;
  const linearKind = opts.linear ?? 'gemm';
  const lmHead = opts.lmHead ?? 'transpose';
  const maskKind = opts.mask ?? 'where';
  const decomposed = opts.decomposedLayerNorm ?? opset < 17;
  const biasStd = opts.biasStd ?? 0;
  if (H % nh !== 0) throw new RangeError(`hidden (${H}) must be a multiple of heads (${nh})`);
  if (opset < 13) throw new RangeError(`opset ${opset}: the decoder needs opset ≥ 13`);
  if (!decomposed && opset < 17) throw new RangeError('LayerNormalization needs opset ≥ 17 (use decomposedLayerNorm)');
  if (opts.seq !== undefined && opts.seq > ctxLen) throw new RangeError(`seq (${opts.seq}) exceeds ctx (${ctxLen})`);
  const hd = H / nh;
  const rng = seededRng(opts.seed ?? 1234);

  const b = new ModelBuilder({ opset, name: 'decoder' });
  const g = b.graph;
  /** a float32 initializer allocated once and filled in place */
  const weight = (name: string, dims: number[], fill: (a: Float32Array) => void): string => {
    const t = new Tensor(name, DataType.FLOAT, dims);
    fill(t.data as Float32Array);
    return g.addInitializer(t);
  };
  const normal = (std: number) => (a: Float32Array) => {
    if (std !== 0) fillNormal(a, rng, std);
  };
  const constant = (v: number) => (a: Float32Array) => a.fill(v);
  const scalar = (name: string, v: number) => b.init(name, [], [v]);
  const ints = (name: string, v: number[]) => b.ints(name, v);
  const op = (type: string, inputs: string[], name: string, attrs: Record<string, unknown> = {}, types?: Record<string, AttrType>) =>
    b.op(type, inputs, attrs as never, { name, types });

  const cache = opts.kvCache ?? false;
  const batchDim = opts.batch ?? (cache ? 'batch_size' : 'batch');
  const seqDim = opts.seq ?? (cache ? 'sequence_length' : 'seq');
  const ids = b.input('input_ids', DataType.INT64, [batchDim, seqDim]);
  const attnMask = cache ? b.input('attention_mask', DataType.INT64, [batchDim, 'total_sequence_length']) : '';
  const posInput = cache ? b.input('position_ids', DataType.INT64, [batchDim, seqDim]) : '';
  const pastDims = [batchDim, nh, 'past_sequence_length', hd];
  const pastKV = cache ? Array.from({ length: L }, (_, l) => ['key', 'value'].map((kv) => b.input(`past_key_values.${l}.${kv}`, DataType.FLOAT, pastDims))) : [];
  const presentKV: string[][] = [];

  const wte = weight('transformer.wte.weight', [V, H], normal(0.02));
  const wpe = weight('transformer.wpe.weight', [ctxLen, H], normal(0.01));

  // seq = Shape(input_ids)[1]; position_ids = Unsqueeze(Range(0, seq, 1), 0)
  const idsShape = op('Shape', [ids], '/transformer/Shape');
  const seqLen = op('Gather', [idsShape, b.init('/transformer/Constant_output_0', [], [1], DataType.INT64)], '/transformer/Gather', { axis: 0 });
  const posIds = cache
    ? posInput
    : op(
        'Unsqueeze',
        [
          op('Range', [b.init('/transformer/Constant_1_output_0', [], [0], DataType.INT64), seqLen, b.init('/transformer/Constant_2_output_0', [], [1], DataType.INT64)], '/transformer/Range'),
          ints('/transformer/Constant_3_output_0', [0]),
        ],
        '/transformer/Unsqueeze',
      );
  const tokEmb = op('Gather', [wte, ids], '/transformer/wte/Gather', { axis: 0 });
  const posEmb = op('Gather', [wpe, posIds], '/transformer/wpe/Gather', { axis: 0 });
  let x = op('Add', [tokEmb, posEmb], '/transformer/Add');

  // seq as a 1-element tensor, for the mask slice and the Conv1D reshapes
  const seq1 = op('Unsqueeze', [seqLen, ints('/transformer/Constant_4_output_0', [0])], '/transformer/Unsqueeze_1');
  const xShape2 = op('Slice', [op('Shape', [ids], '/transformer/Shape_1'), ints('/transformer/Constant_5_output_0', [0]), ints('/transformer/Constant_6_output_0', [2])], '/transformer/Slice');

  const layerNorm = (v: string, prefix: string, np: string): string => {
    const gamma = weight(`${prefix}.weight`, [H], constant(1));
    const beta = weight(`${prefix}.bias`, [H], constant(0));
    if (!decomposed) return op('LayerNormalization', [v, gamma, beta], `${np}/LayerNormalization`, { axis: -1, epsilon: 1e-5 }, { epsilon: AttrType.FLOAT });
    const reduce = (t: string, name: string) =>
      opset >= 18
        ? op('ReduceMean', [t, ints(`${np}/${name}_axes`, [-1])], `${np}/${name}`, { keepdims: 1 })
        : op('ReduceMean', [t], `${np}/${name}`, { axes: [-1], keepdims: 1 });
    const mean = reduce(v, 'ReduceMean');
    const d = op('Sub', [v, mean], `${np}/Sub`);
    const varc = reduce(op('Pow', [d, scalar(`${np}/Constant_output_0`, 2)], `${np}/Pow`), 'ReduceMean_1');
    const std = op('Sqrt', [op('Add', [varc, scalar(`${np}/Constant_1_output_0`, 1e-5)], `${np}/Add`)], `${np}/Sqrt`);
    const n = op('Div', [d, std], `${np}/Div`);
    return op('Add', [op('Mul', [n, gamma], `${np}/Mul`), beta], `${np}/Add_1`);
  };

  /** Conv1D: x [B, S, inF] · W [inF, outF] + b */
  const conv1d = (v: string, prefix: string, np: string, inF: number, outF: number): string => {
    const w = weight(`${prefix}.weight`, [inF, outF], normal(0.02));
    const bias = weight(`${prefix}.bias`, [outF], normal(biasStd));
    if (linearKind === 'matmul') return op('Add', [bias, op('MatMul', [v, w], `${np}/MatMul`)], `${np}/Add`);
    const flat = op('Reshape', [v, ints(`${np}/Constant_output_0`, [-1, inF])], `${np}/Reshape`);
    const y = op('Gemm', [flat, w, bias], `${np}/Gemm`, { alpha: 1.0, beta: 1.0 }, { alpha: AttrType.FLOAT, beta: AttrType.FLOAT });
    const outShape = op('Concat', [xShape2, ints(`${np}/Constant_1_output_0`, [outF])], `${np}/Concat`, { axis: 0 });
    return op('Reshape', [y, outShape], `${np}/Reshape_1`);
  };

  const minF32 = -3.4028234663852886e38;
  const plainStarts = cache ? '' : ints('/transformer/mask_starts', [0, 0]);
  const maskAxes = ints('/transformer/mask_axes', [2, 3]);
  // with a cache: rows [past, past + seq) and columns [0, past + seq) of the triangle, and'ed with the attention mask
  let maskEnds: string;
  let padMask = '';
  let pastLen1 = '';
  if (cache) {
    const ps = op('Shape', [pastKV[0][0]], '/transformer/past_Shape');
    pastLen1 = op('Slice', [ps, ints('/transformer/past_start', [2]), ints('/transformer/past_end', [3])], '/transformer/past_Slice');
    const total1 = op('Add', [pastLen1, seq1], '/transformer/total_Add');
    maskEnds = op('Concat', [total1, total1], '/transformer/mask_ends', { axis: 0 });
    padMask = op('Cast', [op('Unsqueeze', [attnMask, ints('/transformer/pad_axes', [1, 2])], '/transformer/pad_Unsqueeze')], '/transformer/pad_Cast', { to: DataType.BOOL });
  } else maskEnds = op('Concat', [seq1, seq1], '/transformer/mask_ends', { axis: 0 });
  const maskStarts = cache ? op('Concat', [pastLen1, ints('/transformer/mask_col_start', [0])], '/transformer/mask_starts', { axis: 0 }) : plainStarts;
  const sqrtD = scalar('/transformer/attn_scale', Math.sqrt(hd));
  const splitSizes = ints('/transformer/split_sizes', [H, H, H]);
  const headShape = ints('/transformer/head_shape', [0, 0, nh, hd]);
  const mergeShape = ints('/transformer/merge_shape', [0, 0, H]);
  const geluC = scalar('/transformer/gelu_c', 0.044715);
  const geluS = scalar('/transformer/gelu_sqrt_2_over_pi', Math.sqrt(2 / Math.PI));
  const geluOne = scalar('/transformer/gelu_one', 1);
  const geluHalf = scalar('/transformer/gelu_half', 0.5);
  const geluThree = scalar('/transformer/gelu_three', 3);
  const maskFill = scalar('/transformer/mask_value', minF32);

  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}`;
    const np = `/transformer/h.${l}`;
    const h1 = layerNorm(x, `${p}.ln_1`, `${np}/ln_1`);
    const qkv = conv1d(h1, `${p}.attn.c_attn`, `${np}/attn/c_attn`, H, 3 * H);
    const [q0, k0, v0] = b.opN('Split', [qkv, splitSizes], { axis: 2 }, { name: `${np}/attn/Split`, outputs: 3 });
    const heads = (t: string, perm: number[], name: string) =>
      op('Transpose', [op('Reshape', [t, headShape], `${np}/attn/${name}/Reshape`)], `${np}/attn/${name}/Transpose`, { perm });
    const q = heads(q0, [0, 2, 1, 3], 'q');
    let k: string;
    let v: string;
    if (cache) {
      // present = Concat(past, this step) along the sequence; the scores read it transposed
      const pk = op('Concat', [pastKV[l][0], heads(k0, [0, 2, 1, 3], 'k')], `${np}/attn/present_key`, { axis: 2 });
      const pv = op('Concat', [pastKV[l][1], heads(v0, [0, 2, 1, 3], 'v')], `${np}/attn/present_value`, { axis: 2 });
      presentKV.push([pk, pv]);
      k = op('Transpose', [pk], `${np}/attn/k/Transpose_present`, { perm: [0, 1, 3, 2] });
      v = pv;
    } else {
      k = heads(k0, [0, 2, 3, 1], 'k');
      v = heads(v0, [0, 2, 1, 3], 'v');
    }
    const scores = op('Div', [op('MatMul', [q, k], `${np}/attn/MatMul`), sqrtD], `${np}/attn/Div`);
    // the layer's causal-mask buffer, sliced to [1, 1, seq, seq]
    let masked: string;
    if (maskKind === 'where') {
      const tri = new Uint8Array(ctxLen * ctxLen);
      for (let i = 0; i < ctxLen; i++) tri.fill(1, i * ctxLen, i * ctxLen + i + 1);
      const buf = b.init(`${p}.attn.bias`, [1, 1, ctxLen, ctxLen], tri, DataType.BOOL);
      const tm = op('Slice', [buf, maskStarts, maskEnds, maskAxes], `${np}/attn/Slice`);
      const m = cache ? op('And', [tm, padMask], `${np}/attn/And`) : tm;
      masked = op('Where', [m, scores, maskFill], `${np}/attn/Where`);
    } else {
      const add = weight(`${p}.attn.masked_bias`, [1, 1, ctxLen, ctxLen], (a) => {
        for (let i = 0; i < ctxLen; i++) a.fill(-10000, i * ctxLen + i + 1, (i + 1) * ctxLen);
      });
      if (cache) throw new RangeError("kvCache needs mask 'where'");
      const m = op('Slice', [add, maskStarts, maskEnds, maskAxes], `${np}/attn/Slice`);
      masked = op('Add', [scores, m], `${np}/attn/Add`);
    }
    const probs = op('Softmax', [masked], `${np}/attn/Softmax`, { axis: -1 });
    const ctxV = op('MatMul', [probs, v], `${np}/attn/MatMul_1`);
    const merged = op('Reshape', [op('Transpose', [ctxV], `${np}/attn/Transpose_3`, { perm: [0, 2, 1, 3] }), mergeShape], `${np}/attn/Reshape_3`);
    const attnOut = conv1d(merged, `${p}.attn.c_proj`, `${np}/attn/c_proj`, H, H);
    x = op('Add', [attnOut, x], `${np}/Add`);

    const h2 = layerNorm(x, `${p}.ln_2`, `${np}/ln_2`);
    const up = conv1d(h2, `${p}.mlp.c_fc`, `${np}/mlp/c_fc`, H, F);
    const ga = `${np}/mlp/act`;
    const inner = op('Add', [up, op('Mul', [geluC, op('Pow', [up, geluThree], `${ga}/Pow`)], `${ga}/Mul`)], `${ga}/Add`);
    const th = op('Tanh', [op('Mul', [geluS, inner], `${ga}/Mul_1`)], `${ga}/Tanh`);
    const gelu = op('Mul', [op('Mul', [geluHalf, up], `${ga}/Mul_2`), op('Add', [geluOne, th], `${ga}/Add_1`)], `${ga}/Mul_3`);
    const down = conv1d(gelu, `${p}.mlp.c_proj`, `${np}/mlp/c_proj`, F, H);
    x = op('Add', [x, down], `${np}/Add_1`);
  }
  const hf = layerNorm(x, 'transformer.ln_f', '/transformer/ln_f');
  let logits: string;
  if (lmHead === 'transpose') {
    const wt = op('Transpose', [wte], '/lm_head/Transpose', { perm: [1, 0] });
    logits = op('MatMul', [hf, wt], '/lm_head/MatMul');
  } else {
    const flat = op('Reshape', [hf, ints('/lm_head/Constant_output_0', [-1, H])], '/lm_head/Reshape');
    const y = op('Gemm', [flat, wte], '/lm_head/Gemm', { transB: 1 });
    const outShape = op('Concat', [xShape2, ints('/lm_head/Constant_1_output_0', [V])], '/lm_head/Concat', { axis: 0 });
    logits = op('Reshape', [y, outShape], '/lm_head/Reshape_1');
  }
  b.output(logits, DataType.FLOAT, [batchDim, seqDim, V], 'logits');
  presentKV.forEach(([pk, pv], l) => {
    b.output(pk, DataType.FLOAT, [batchDim, nh, 'total_sequence_length', hd], `present.${l}.key`);
    b.output(pv, DataType.FLOAT, [batchDim, nh, 'total_sequence_length', hd], `present.${l}.value`);
  });
  const model = b.build();
  model.irVersion = irVersionFor(opset);
  model.producerName = 'pytorch';
  if (opts.dedup ?? true) dedupInitializers(model);
  return model;
}

/**
 * Store identical initializers once: every later duplicate (same dtype, dims and bytes) becomes an
 * Identity node reading the first, under the duplicate's name — what torch.onnx's initializer
 * deduplication leaves in an exported graph. Returns how many initializers were folded.
 */
export function dedupInitializers(model: Model): number {
  const g = model.graph;
  const groups = new Map<string, Tensor[]>();
  const identities: { from: string; to: string }[] = [];
  for (const [name, t] of g.initializers) {
    if (g.isGraphInput(name) || Array.isArray(t.data)) continue;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const key = `${t.dtype}|${t.dims.join(',')}|${sampleHash(bytes)}`;
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    const same = list.find((o) => {
      const ob = o.data as Uint8Array;
      const obytes = new Uint8Array(ob.buffer, ob.byteOffset, ob.byteLength);
      return Buffer.compare(Buffer.from(obytes.buffer, obytes.byteOffset, obytes.byteLength), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) === 0;
    });
    if (same) identities.push({ from: same.name, to: name });
    else list.push(t);
  }
  for (const { from, to } of identities) {
    g.initializers.delete(to);
    g.nodes.unshift({ name: g.uniqueName(`Identity_${to}`), opType: 'Identity', domain: '', inputs: [from], outputs: [to], attributes: [] });
  }
  g.touch();
  return identities.length;
}

/** FNV-1a over up to 4096 evenly spaced bytes and the length. */
function sampleHash(b: Uint8Array): number {
  let h = 0x811c9dc5 ^ b.length;
  const step = Math.max(1, Math.floor(b.length / 4096));
  for (let i = 0; i < b.length; i += step) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

