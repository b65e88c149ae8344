/**
 * Measurements without --shape or --data on every model builder (models in the shapes real
 * exporters write): each is measured with shapes taken from the model, except an image whose height
 * and width are dim_params, which gets exactly one warning naming the input and --shape.
 */
import { describe, expect, it } from 'vitest';
import { inputSpecs, measureModels } from '../../src/bench/index.js';
import { MODEL_BUILDERS } from '../../src/models/index.js';

const FAST = { runs: 1, warmup: 0, minTimeMs: 0, batchSize: 2 };

describe('measuring the model builders without --shape', () => {
  it.each(MODEL_BUILDERS.map((b) => [b.name, b] as const))('%s', async (_name, builder) => {
    const model = builder.build();
    const specs = inputSpecs(model);
    const imageDims = specs.some((s) => s.shape?.some((d) => d === 'height' || d === 'width'));
    const m = await measureModels({ model }, { model: builder.build() }, FAST);
    expect(m.before.sizeBytes).toBeGreaterThan(0);
    if (imageDims) {
      expect(m.before.latencyMs).toBeNull();
      expect(m.warnings).toHaveLength(1);
      expect(m.warnings[0]).toMatch(/latency not measured: input "\w+" \[.*height.*width.*\] has dynamic .*; give it with --shape \w+=1,/);
      expect(m.settings.notMeasured).toBe(m.warnings[0].replace(/^latency not measured: /, ''));
      return;
    }
    expect(m.warnings).toEqual([]);
    expect(m.before.latencyMs!.p50).toBeGreaterThan(0);
    expect(m.after!.latencyMs!.p50).toBeGreaterThan(0);
    expect(m.before.throughputPerSec).toBeGreaterThan(0);
    // the shapes used fit what the model declares
    for (const s of specs) {
      const used = m.settings.inputShapes![s.name];
      expect(used).toHaveLength(s.shape!.length);
      s.shape!.forEach((d, i) => typeof d === 'number' && expect(used[i]).toBe(d));
    }
  });

  it('a BERT export whose position table is shorter than 128 runs at the longest sequence that fits (halving from 128)', async () => {
    const bert = MODEL_BUILDERS.find((b) => b.name === 'bert')!;
    const m = await measureModels({ model: bert.build() }, undefined, FAST);
    expect(m.warnings).toEqual([]);
    // the small test configuration has fewer positions than 128 (16): 128 → 64 → 32 → 16
    const len = m.settings.inputShapes!.input_ids[1];
    expect([64, 32, 16, 8, 4, 2, 1]).toContain(len);
    expect(m.settings.inputShapes).toEqual({ input_ids: [1, len], attention_mask: [1, len], token_type_ids: [1, len] });
    // and the length really is the longest that runs: twice that fails
    const { createSession } = await import('../../src/runtime/index.js');
    const { planShapes, synthesizeFeeds } = await import('../../src/bench/inputs.js');
    const model = bert.build();
    const s = await createSession(model);
    try {
      const specs = inputSpecs(model);
      await expect(s.run(synthesizeFeeds(specs, planShapes(specs, {}, len * 2).at(1)))).rejects.toThrow();
      await s.run(synthesizeFeeds(specs, planShapes(specs, {}, len).at(1)));
    } finally {
      await s.release();
    }
  });
});
