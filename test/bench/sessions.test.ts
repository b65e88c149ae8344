/** One onnxruntime session per model: compress() hands its checked sessions to the measurement. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { compress, save, type Pass } from '../../src/index.js';
import { measureModels } from '../../src/bench/index.js';
import { smallMlp, tempDir } from '../cli/helpers.js';

const dir = tempDir('mlc-sessions-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const zeroBias: Pass<Record<string, never>> = {
  name: 'zero-bias',
  describe: 'zeroes fc2.bias',
  options: {},
  parseOptions: () => ({}),
  async run(m) {
    (m.graph.initializers.get('fc2.bias')!.data as Float32Array).fill(0);
    return { modified: true, stats: {}, skipped: [] };
  },
};

describe('compress keepSession', () => {
  it('returns the checked sessions of the result (and of the input when asked); the measurement uses and releases them', async () => {
    const file = join(dir, 'm.onnx');
    await save(smallMlp(), file);
    const out = join(dir, 'm_out.onnx');
    const r = await compress(file, [{ pass: zeroBias }], { output: out, keepSession: { intraOpThreads: 1 }, keepInputSession: true });
    expect(r.session).toBeDefined();
    expect(r.originalSession).toBeDefined();
    const released: string[] = [];
    const track = (s: NonNullable<typeof r.session>, name: string) => {
      const release = s.release.bind(s);
      s.release = async () => void (released.push(name), await release());
      return s;
    };
    const m = await measureModels(
      { model: r.original, path: file, session: track(r.originalSession!, 'original') },
      { model: r.model, path: out, session: track(r.session!, 'result') },
      { runs: 3, warmup: 1 },
    );
    expect(m.before.latencyMs).not.toBeNull();
    expect(m.after!.latencyMs).not.toBeNull();
    expect(released.sort()).toEqual(['original', 'result']);

    // without keepInputSession only the result's; without keepSession none
    const r2 = await compress(file, [{ pass: zeroBias }], { output: out, keepSession: {} });
    expect(r2.originalSession).toBeUndefined();
    expect(r2.session).toBeDefined();
    await r2.session!.release();
    const r3 = await compress(file, [{ pass: zeroBias }], { output: out });
    expect(r3.session).toBeUndefined();
    // a pass that changes nothing leaves no result session (nothing was checked after it)
    const r4 = await compress(file, [], { output: out, keepSession: {} });
    expect(r4.session).toBeUndefined();
  });
});

describe('the speedup figure', () => {
  it('is the median of the per-round ratios: the point of its own interval; countInput gives the counts of the input', async () => {
    const file = join(dir, 'p.onnx');
    await save(smallMlp(), file);
    const out = join(dir, 'p_out.onnx');
    const r = await compress(file, [{ pass: zeroBias }], { output: out, countInput: true });
    const m = await measureModels({ model: r.original, path: file }, { model: r.model, path: out }, { runs: 60, warmup: 2, minTimeMs: 0 });
    expect(m.speedupCi).not.toBeNull();
    const [lo, hi] = m.speedupCi!;
    expect(m.speedup!).toBeGreaterThanOrEqual(lo);
    expect(m.speedup!).toBeLessThanOrEqual(hi);
    const plain = await measureModels({ model: smallMlp() }, undefined, { latency: false });
    expect(m.before.params).toBe(plain.before.params);
    expect(m.before.nonzeroParams).toBe(plain.before.nonzeroParams);
  });
});
