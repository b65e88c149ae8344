import { describe, expect, it } from 'vitest';
import { parseShard, resolveShard, takeShard } from '../../src/fleet/shard.js';

describe('shards', () => {
  it('parses i/n and refuses what is not a shard', () => {
    expect(parseShard('2/4')).toMatchObject({ index: 2, total: 4 });
    expect(() => parseShard('0/4')).toThrow(/shard 0 is not in 1..4/);
    expect(() => parseShard('5/4')).toThrow(/not in 1..4/);
    expect(() => parseShard('2-4')).toThrow(/expected i\/n/);
  });

  it('cuts the sorted list into n contiguous slices that cover it once, sizes within one', () => {
    for (const count of [0, 1, 7, 200, 201]) {
      for (const total of [1, 3, 4, 8]) {
        const items = Array.from({ length: count }, (_, i) => i);
        const slices = Array.from({ length: total }, (_, i) => takeShard(items, { index: i + 1, total, source: 'test' }));
        expect(slices.flat()).toEqual(items);
        const sizes = slices.map((s) => s.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
    expect(takeShard([1, 2, 3], undefined)).toEqual([1, 2, 3]);
  });

  it('reads GitLab parallel jobs (CI_NODE_INDEX is 1-based)', () => {
    expect(resolveShard(undefined, { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '4' })).toMatchObject({ index: 3, total: 4 });
    expect(() => resolveShard(undefined, { CI_NODE_INDEX: '5', CI_NODE_TOTAL: '4' })).toThrow(/GitLab.*not in 1..4/);
  });

  it('reads Kubernetes indexed Jobs (JOB_COMPLETION_INDEX is 0-based) with a total from the flag or MLC_SHARD_TOTAL', () => {
    expect(resolveShard(undefined, { JOB_COMPLETION_INDEX: '0' }, 4)).toMatchObject({ index: 1, total: 4 });
    expect(resolveShard(undefined, { JOB_COMPLETION_INDEX: '3', MLC_SHARD_TOTAL: '4' })).toMatchObject({ index: 4, total: 4 });
    expect(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '1' })).toThrow(/--shard-total|MLC_SHARD_TOTAL/);
    expect(() => resolveShard(undefined, { JOB_COMPLETION_INDEX: '4', MLC_SHARD_TOTAL: '4' })).toThrow(/shard 5 is not in 1..4/);
  });

  it('the flag wins over the environment; nothing set means everything', () => {
    expect(resolveShard('1/2', { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '4' })).toMatchObject({ index: 1, total: 2, source: '--shard' });
    expect(resolveShard(undefined, {})).toBeUndefined();
    expect(() => resolveShard(undefined, {}, 4)).toThrow(/JOB_COMPLETION_INDEX/);
  });
});
