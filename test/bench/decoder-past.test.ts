/**
 * A decoder export with a KV cache, in the dim_params exporters write: input_ids
 * [batch, sequence_length], past_key [batch, heads, past_sequence_length, d] and an attention mask
 * whose length is an expression. Without --shape, mlc settles every dimension from the names and
 * the expression, and falls back to a shorter sequence when the guess does not run.
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
  it('mask length "past_sequence_length + sequence_length": batch 1, 128 + 128', async () => {
    const m = await measureModels({ model: decoderWithPast('past_sequence_length + sequence_length') }, undefined, FAST);
    expect(m.warnings).toEqual([]);
    expect(m.settings.inputShapes).toEqual({ input_ids: [1, 128], past_key: [1, 2, 128, 4], attention_mask: [1, 256] });
    expect(m.before.latencyMs!.p50).toBeGreaterThan(0);
  });

  it('mask length "past_sequence_length + 1" (one new token): the guess 128 fails, halving reaches 1 token', async () => {
    const m = await measureModels({ model: decoderWithPast('past_sequence_length + 1') }, undefined, FAST);
    expect(m.warnings).toEqual([]);
    expect(m.settings.inputShapes).toEqual({ input_ids: [1, 1], past_key: [1, 2, 1, 4], attention_mask: [1, 2] });
  });
});
