/**
 * Recipe steps are typed in the API from each pass's option schema (RecipeStep): this file is
 * type-checked by `npm run typecheck` (tsconfig.test.json), where every `@ts-expect-error` must
 * meet an error, and run by vitest, which checks that the type covers every registered pass.
 */
import { describe, expect, it } from 'vitest';
import type { PipelineStep, RecipeStep } from '../../src/index.js';
import { passes } from '../../src/passes/registry.js';

// what compiles: each pass with its own options, fractions as numbers or percentages, lists as a string or an array
const good: PipelineStep[] = [
  { pass: 'lowrank', options: { ratio: 0.5, svd: 'randomized', exclude: ['head*'] } },
  { pass: 'prune', options: { sparsity: '90%', exclude: 'fc1*' } },
  { pass: 'distill', options: { epochs: 3, alpha: 0.7 } },
  { pass: 'quantize', options: { type: 'int8', mode: 'static', perChannel: false } },
  { pass: 'quantize' },
];

// what does not
const bad: PipelineStep[] = [
  // @ts-expect-error: no pass is called 'prun'
  { pass: 'prun', options: { sparsity: 0.9 } },
  // @ts-expect-error: a typo'd option key
  { pass: 'prune', options: { sparsty: 0.9 } },
  // @ts-expect-error: a number written as a string (refused at run time too)
  { pass: 'prune', options: { sparsity: '0.9' } },
  // @ts-expect-error: not one of the quantize types
  { pass: 'quantize', options: { type: 'int7' } },
  // @ts-expect-error: an option of another pass
  { pass: 'quantize', options: { sparsity: 0.5 } },
];

/** One entry per name RecipeStep allows: fails to compile when a name is missing or extra. */
const names: Record<RecipeStep['pass'], true> = { lowrank: true, prune: true, distill: true, cluster: true, quantize: true, minify: true };

describe('typed recipe steps', () => {
  it('cover exactly the registered passes', () => {
    expect(Object.keys(names).sort()).toEqual(passes.map((p) => p.name).sort());
  });

  it('type what the run-time parser accepts (and the refused ones fail there too)', () => {
    for (const s of good) {
      const pass = passes.find((p) => p.name === s.pass)!;
      expect(() => pass.parseOptions(s.options ?? {}), JSON.stringify(s)).not.toThrow();
    }
    for (const s of bad) {
      const pass = passes.find((p) => p.name === s.pass);
      if (pass) expect(() => pass.parseOptions(s.options ?? {}), JSON.stringify(s)).toThrow();
    }
  });
});
