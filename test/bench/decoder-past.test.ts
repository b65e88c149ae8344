/**
 * A decoder export with a KV cache, in the dim_params exporters write: input_ids
 * [batch, sequence_length], past_key [batch, heads, past_sequence_length, d] and an attention mask
 * whose length is an expression. Without --shape, mlc settles every dimension from the names and
 * the expression (the cache empty, as transformers.js feeds a decoder's first step), and falls back
 * to a shorter sequence when the guess does not run.
 */
import { describe, expect, it } from 'vitest';
import { measureModels } from '../../src/bench/index.js';
import { DataType, ModelBuilder } from '../../src/ir/index.js';

const FAST = { runs: 1, warmup: 0, minTimeMs: 0, batchSize: 2 };

function decoderWithPast(maskLength: string) {
  const b = new ModelBuilder({ opset: 17 });
  const ids = b.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const past = b.input('past_key', DataType.FLOAT, ['batch_size', 2, 'past_sequence_length', 4]);
  const mask = b.input('attention_mask', DataType.INT64, ['batch_size', maskLength]);
  const vals = Float32Array.from({ length: 50 * 8 }, (_, i) => Math.sin(i));
  const h = b.op('Gather', [b.init('wte', [50, 8], vals), ids]); // [B, S, 8]
  const heads = b.op('Transpose', [b.op('Reshape', [h, b.ints('split_heads', [0, 0, 2, 4])])], { perm: [0, 2, 1, 3] }); // [B, 2, S, 4]
  const key = b.op('Concat', [past, heads], { axis: 2 }); // [B, 2, P+S, 4]
  const scores = b.op('MatMul', [heads, b.op('Transpose', [key], { perm: [0, 1, 3, 2] })]); // [B, 2, S, P+S]
  const m = b.op('Unsqueeze', [b.op('Cast', [mask], { to: DataType.FLOAT }), b.ints('axes12', [1, 2])]); // [B, 1, 1, P+S]
  b.output(b.op('Softmax', [b.op('Add', [scores, m])], { axis: -1 }), DataType.FLOAT, undefined, 'probs');
  b.output(key, DataType.FLOAT, undefined, 'present_key');
  return b.build();
}

describe('a decoder with a KV cache, without --shape', () => {
  it('mask length "past_sequence_length + sequence_length": batch 1, an empty cache + 128', async () => {
    const m = await measureModels({ model: decoderWithPast('past_sequence_length + sequence_length') }, undefined, FAST);
    expect(m.warnings).toEqual([]);
    expect(m.settings.inputShapes).toEqual({ input_ids: [1, 128], past_key: [1, 2, 0, 4], attention_mask: [1, 128] });
    expect(m.before.latencyMs!.p50).toBeGreaterThan(0);
  });

  it('mask length "past_sequence_length + 1" (one new token): the expression over an empty cache', async () => {
    const m = await measureModels({ model: decoderWithPast('past_sequence_length + 1') }, undefined, FAST);
    expect(m.warnings).toEqual([]);
    // (this toy model broadcasts a [1, 1] mask over 128 tokens; a real one fails there and mlc halves the sequence)
    expect(m.settings.inputShapes).toEqual({ input_ids: [1, 128], past_key: [1, 2, 0, 4], attention_mask: [1, 1] });
  });

  it('past dims named by the dynamo exporter (s12, s40: a symbol per input) and a mask of its own symbol: an empty cache', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const ids = b.input('input_ids', DataType.INT64, ['s0', 's1']);
    const mask = b.input('attention_mask', DataType.INT64, ['s0', 's7']);
    const pk = b.input('past_key_values.0.key', DataType.FLOAT, ['s0', 2, 's12', 4]);
    const pv = b.input('past_key_values.0.value', DataType.FLOAT, ['s0', 2, 's40', 4]);
    const h = b.op('Gather', [b.init('wte', [50, 8], Float32Array.from({ length: 400 }, (_, i) => Math.cos(i))), ids]);
    const heads = b.op('Transpose', [b.op('Reshape', [h, b.ints('split_heads', [0, 0, 2, 4])])], { perm: [0, 2, 1, 3] });
    const key = b.op('Concat', [pk, heads], { axis: 2 });
    const value = b.op('Concat', [pv, heads], { axis: 2 });
    const m4 = b.op('Unsqueeze', [b.op('Cast', [mask], { to: DataType.FLOAT }), b.ints('axes12', [1, 2])]);
    const probs = b.op('Softmax', [b.op('Add', [b.op('MatMul', [heads, b.op('Transpose', [key], { perm: [0, 1, 3, 2] })]), m4])], { axis: -1 });
    b.output(b.op('MatMul', [probs, value]), DataType.FLOAT, undefined, 'context');
    b.output(key, DataType.FLOAT, undefined, 'present.0.key');
    b.output(value, DataType.FLOAT, undefined, 'present.0.value');
    const m = await measureModels({ model: b.build() }, undefined, FAST);
    expect(m.warnings).toEqual([]);
    expect(m.settings.inputShapes).toEqual({ input_ids: [1, 128], attention_mask: [1, 128], 'past_key_values.0.key': [1, 2, 0, 4], 'past_key_values.0.value': [1, 2, 0, 4] });
  });
});
