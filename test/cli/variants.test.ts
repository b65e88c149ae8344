/**
 * `mlc variants` tested with its real consumer: a small BERT-like model (src/models encoder), a
 * config.json and a WordPiece tokenizer.json; every variant loads in @huggingface/transformers
 * (feature-extraction pipeline, local files only) and in onnxruntime-web, and its embeddings stay
 * within cosine 0.99 of fp32 (0.999 for the 8-bit ones).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosine } from '../../src/math/stats.js';
import { buildDecoder, buildEncoder, buildViT } from '../../src/models/index.js';
import { saveModel } from '../../src/onnx/index.js';
import { ensureBuilt, mlc, tempDir } from './helpers.js';

const WORDS = ['the', 'a', 'model', 'runs', 'in', 'browser', 'fast', 'small', 'web', 'page', 'loads', 'file', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'hello', 'world', 'text', 'embed', '##s', '##ing', '##ed', '.', ','];
const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const VOCAB = [...SPECIAL, ...WORDS];

/** A tiny WordPiece tokenizer.json in the format of the Hugging Face tokenizers library. */
function tokenizerJson(): object {
  const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tok = (id: string, i: number) => ({ id, ids: [i], tokens: [id] });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((s, i) => special(s, i)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': tok('[CLS]', 2), '[SEP]': tok('[SEP]', 3) },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(VOCAB.map((w, i) => [w, i])) },
  };
}

const DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'] as const;
const FILES = ['model.onnx', 'model_fp16.onnx', 'model_quantized.onnx', 'model_int8.onnx', 'model_uint8.onnx', 'model_q4.onnx', 'model_q4f16.onnx'];
const EIGHT_BIT = new Set(['q8', 'int8', 'uint8']);
const SENTENCES = ['the quick brown fox jumps over the lazy dog.', 'a small model runs in the browser', 'hello world, embedding texts'];

let dir: string;
beforeAll(() => ensureBuilt());
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

describe('mlc variants', () => {
  it('writes all seven transformers.js files from one load, and every one loads in transformers.js and onnxruntime-web with the fidelity floor', async () => {
    dir = tempDir('mlc-variants-');
    const model = buildEncoder({ hidden: 64, heads: 4, ffn: 128, layers: 2, seq: 32, vocab: VOCAB.length, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 11 });
    // transformers.js's feature-extraction reads `last_hidden_state`, as a BertModel export names it
    model.graph.replaceAllUses('output', 'last_hidden_state', true);
    for (const n of model.graph.nodes) n.outputs = n.outputs.map((o) => (o === 'output' ? 'last_hidden_state' : o));
    model.graph.touch();
    const src = join(dir, 'src', 'model.onnx');
    mkdirSync(join(dir, 'src'));
    await saveModel(model, src);
    const repo = join(dir, 'tiny-bert');
    const out = join(repo, 'onnx');

    const r = mlc(['variants', src, '--out-dir', out, '--runtime', 'node,wasm', '--no-latency', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([...FILES].sort());
    const doc = JSON.parse(r.stdout) as { variants: { dtype: string; file: string; sizeBytes: number; gzipBytes: number; brotliBytes: number; runtimes: { runtime: string; cosine: number | null }[] }[] };
    expect(doc.variants.map((v) => v.dtype)).toEqual([...DTYPES]);
    for (const v of doc.variants) {
      expect(v.gzipBytes).toBeLessThan(v.sizeBytes);
      expect(v.brotliBytes).toBeGreaterThan(0);
      expect(v.runtimes.map((x) => x.runtime)).toEqual(['node', 'wasm']);
      // onnxruntime-web (wasm) runs every variant, with the fidelity onnxruntime-node gives
      for (const x of v.runtimes) expect(x.cosine!, `${v.dtype} ${x.runtime}`).toBeGreaterThanOrEqual(EIGHT_BIT.has(v.dtype) ? 0.999 : 0.99);
    }
    const size = (d: string) => doc.variants.find((v) => v.dtype === d)!.sizeBytes;
    expect(size('q8')).toBeLessThan(size('fp32') / 2);
    expect(size('q4f16')).toBeLessThan(size('q4'));

    writeFileSync(
      join(repo, 'config.json'),
      JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 128, vocab_size: VOCAB.length, max_position_embeddings: 32, type_vocab_size: 2 }),
    );
    writeFileSync(join(repo, 'tokenizer.json'), JSON.stringify(tokenizerJson()));
    writeFileSync(
      join(repo, 'tokenizer_config.json'),
      JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 32, cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]' }),
    );

    const { env, pipeline } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dir;
    const embed = async (dtype: string) => {
      const p = await pipeline('feature-extraction', 'tiny-bert', { dtype: dtype as 'fp32', local_files_only: true });
      try {
        return await Promise.all(SENTENCES.map(async (s) => Float32Array.from((await p(s)).data as Float32Array)));
      } finally {
        await p.dispose();
      }
    };
    const ref = await embed('fp32');
    expect(ref[0].length % 64).toBe(0);
    for (const dtype of DTYPES.slice(1)) {
      const got = await embed(dtype);
      for (let i = 0; i < SENTENCES.length; i++) {
        expect(got[i].length).toBe(ref[i].length);
        const c = cosine(ref[i], got[i], 0, ref[i].length);
        expect(c, `${dtype}: "${SENTENCES[i]}"`).toBeGreaterThanOrEqual(EIGHT_BIT.has(dtype) ? 0.999 : 0.99);
      }
      // the variant's own file was loaded: its embeddings are not fp32's bit for bit
      expect(got[0].some((v, k) => v !== ref[0][k]), dtype).toBe(true);
    }
    expect(existsSync(join(out, 'model.onnx_data'))).toBe(false);
  });

  it('a ViT (patch Conv, 3 layers, seed 19: a size and seed no other test uses): every variant reaches the floor in onnxruntime-node and onnxruntime-web', async () => {
    // all-4-bit round-to-nearest blocks give cosine 0.987 here and per-channel int8 0.998 in
    // onnxruntime-node on x86 CPUs without VNNI: q4 keeps its costliest MatMuls at 8 bits, the
    // 8-bit variants use per-tensor scales as transformers.js's conversion does
    const d = tempDir('mlc-variants-vit-');
    try {
      const src = join(d, 'model.onnx');
      await saveModel(buildViT({ image: 32, patch: 8, hidden: 96, heads: 3, layers: 3, classes: 100, seed: 19 }), src);
      // two runs (the 8-bit and 16-bit files, then the 4-bit ones), each well inside the helper's time-out
      type Doc = { variants: { dtype: string; sizeBytes: number; runtimes: { runtime: string; cosine: number | null }[] }[] };
      const variants: Doc['variants'] = [];
      for (const list of ['fp32,fp16,q8,int8,uint8', 'q4,q4f16']) {
        const r = mlc(['variants', src, '--out-dir', join(d, 'onnx'), '--dtypes', list, '--runtime', 'node,wasm', '--no-latency', '--json']);
        expect(r.code, r.stderr).toBe(0);
        variants.push(...(JSON.parse(r.stdout) as Doc).variants);
      }
      expect(variants.map((v) => v.dtype)).toEqual([...DTYPES]);
      for (const v of variants) for (const x of v.runtimes) expect(x.cosine!, `${v.dtype} ${x.runtime}`).toBeGreaterThanOrEqual(EIGHT_BIT.has(v.dtype) ? 0.999 : 0.99);
      const size = (t: string) => variants.find((v) => v.dtype === t)!.sizeBytes;
      expect(size('q4')).toBeLessThan(size('fp32') / 3);
      // a target out of range is a usage error
      const bad = mlc(['variants', src, '--out-dir', join(d, 'bad'), '--q4-target', '1.5']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--q4-target/);
      expect(existsSync(join(d, 'bad'))).toBe(false);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 300_000);

  it('a GPT-2-like decoder with a KV cache (no --shape): every variant generates in transformers.js with the cache, logits at the floor', async () => {
    const d = tempDir('mlc-variants-kv-');
    try {
      const cfg = { layers: 2, hidden: 64, heads: 4, vocab: 100, ctx: 64, seed: 23 };
      mkdirSync(join(d, 'src'));
      const src = join(d, 'src', 'model.onnx');
      await saveModel(buildDecoder({ ...cfg, kvCache: true }), src);
      const repo = join(d, 'tiny-gpt2');
      const r = mlc(['variants', src, '--out-dir', join(repo, 'onnx'), '--runtime', 'node', '--no-latency', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as { variants: { dtype: string; runtimes: { runtime: string; cosine: number | null }[] }[] };
      for (const v of doc.variants) expect(v.runtimes[0].cosine!, v.dtype).toBeGreaterThanOrEqual(EIGHT_BIT.has(v.dtype) ? 0.999 : 0.99);
      writeFileSync(
        join(repo, 'config.json'),
        JSON.stringify({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_head: cfg.heads, n_layer: cfg.layers, n_embd: cfg.hidden, vocab_size: cfg.vocab, n_positions: cfg.ctx, bos_token_id: 0, eos_token_id: 0 }),
      );
      const { env, AutoModelForCausalLM, Tensor } = await import('@huggingface/transformers');
      env.allowRemoteModels = false;
      env.allowLocalModels = true;
      env.localModelPath = d;
      const i64 = (a: number[]) => new Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
      const prompt = [5, 17, 42, 8];
      let refTokens: number[] = [];
      let refLogits: number[] = [];
      for (const dtype of DTYPES) {
        const model = await AutoModelForCausalLM.from_pretrained('tiny-gpt2', { dtype: dtype as 'fp32', local_files_only: true });
        try {
          // greedy generation through transformers.js's own cache handling
          const out = (await model.generate({ input_ids: i64(prompt), attention_mask: i64(prompt.map(() => 1)), max_new_tokens: 8, do_sample: false } as never)) as { data: BigInt64Array };
          const tokens = Array.from(out.data, Number);
          expect(tokens.length, dtype).toBe(prompt.length + 8);
          if (dtype === 'fp32') refTokens = tokens;
          // the logits of every step on fp32's tokens, the cache fed back step by step
          const logits: number[] = [];
          let past: Record<string, unknown> | null = null;
          const forward = async (step: number[], start: number) => {
            const o = (await model({ input_ids: i64(step), attention_mask: i64(Array(start + step.length).fill(1)), past_key_values: past } as never)) as Record<string, { data: Float32Array; dims: number[] }>;
            const V = o.logits.dims[2];
            logits.push(...o.logits.data.subarray(o.logits.data.length - V));
            past = Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith('present')).map(([k, v]) => [k.replace('present', 'past_key_values'), v]));
          };
          await forward(refTokens.slice(0, prompt.length), 0);
          for (let t = prompt.length; t < refTokens.length - 1; t++) await forward([refTokens[t]], t);
          if (dtype === 'fp32') refLogits = logits;
          else expect(cosine(Float32Array.from(refLogits), Float32Array.from(logits), 0, logits.length), dtype).toBeGreaterThanOrEqual(EIGHT_BIT.has(dtype) ? 0.999 : 0.99);
        } finally {
          await model.dispose();
        }
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('--external-data: tensors in <file>_data, the name transformers.js loads; the measurement reads them', () => {
    const d = tempDir();
    try {
      const out = join(d, 'onnx');
      const src = join(d, 'mnist.onnx');
      writeFileSync(src, readFileSync('fixtures/mnist-mlp.onnx'));
      const r = mlc(['variants', src, '--out-dir', out, '--dtypes', 'fp32,q8', '--external-data', '--no-latency', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(out).sort()).toEqual(['mnist.onnx', 'mnist.onnx_data', 'mnist_quantized.onnx', 'mnist_quantized.onnx_data']);
      const doc = JSON.parse(r.stdout);
      expect(doc.variants[1].files.map((f: string) => basename(f))).toEqual(['mnist_quantized.onnx', 'mnist_quantized.onnx_data']);
      expect(doc.variants[1].runtimes[0].cosine).toBeGreaterThan(0.99);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('bad flags are usage errors and nothing is written (exit 2)', () => {
    const d = tempDir();
    try {
      const out = join(d, 'onnx');
      const r = mlc(['variants', 'fixtures/mnist-mlp.onnx', '--out-dir', out, '--dtypes', 'fp32,q3']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--dtypes: unknown dtype "q3"/);
      expect(existsSync(out)).toBe(false);
      const m = mlc(['variants', join(d, 'missing.onnx'), '--out-dir', out]);
      expect(m.code).toBe(2);
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
