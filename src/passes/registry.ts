/**
 * The registered passes, in canonical order: lowrank → prune → distill → cluster → quantize → minify.
 * `mlc compress` derives its flags from this list and builds the pipeline in this order.
 *
 * A pass engineer adds ONE import and ONE list entry here.
 */
import { MlcError } from '../core/errors.js';
import type { Pass } from './pass.js';
import type { RecipeStepOf } from './options.js';
import { LOWRANK_SCHEMA, lowrankPass } from './lowrank.js';
import { PRUNE_SCHEMA, prunePass } from './prune.js';
import { DISTILL_SCHEMA, distillPass } from './distill.js';
import { CLUSTER_SCHEMA, clusterPass } from './cluster.js';
import { QUANTIZE_SCHEMA, quantizePass } from './quantize.js';
import { MINIFY_SCHEMA, minifyPass } from './minify.js';

export const passes: Pass<any>[] = [lowrankPass, prunePass, distillPass, clusterPass, quantizePass, minifyPass];

/**
 * A recipe step of a registered pass, typed from its option schema: `{ pass: 'prune', options:
 * { sparsity: 0.9 } }` compiles, `pass: 'prun'` or `options: { sparsty: 0.9 }` does not. One
 * schema per entry of `passes` (test/passes/recipe-types.test.ts fails when one is missing).
 */
export type RecipeStep = RecipeStepOf<typeof LOWRANK_SCHEMA | typeof PRUNE_SCHEMA | typeof DISTILL_SCHEMA | typeof CLUSTER_SCHEMA | typeof QUANTIZE_SCHEMA | typeof MINIFY_SCHEMA>;

/** The registered pass called `name`; throws MlcError('USAGE') listing the known names. */
export function getPass(name: string): Pass<any> {
  const p = passes.find((x) => x.name === name);
  if (!p) {
    const known = passes.map((x) => x.name).join(', ') || '(none)';
    throw new MlcError('USAGE', `unknown pass "${name}" (known: ${known})`);
  }
  return p;
}
