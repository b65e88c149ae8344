/**
 * The registered passes, in canonical order: lowrank → prune → distill → cluster → quantize.
 * `mlc compress` derives its flags from this list and builds the pipeline in this order.
 *
 * A pass engineer adds ONE import and ONE list entry here.
 */
import { MlcError } from '../core/errors.js';
import type { Pass } from './pass.js';
import { lowrankPass } from './lowrank.js';
import { prunePass } from './prune.js';
import { distillPass } from './distill.js';
import { clusterPass } from './cluster.js';
import { quantizePass } from './quantize.js';

export const passes: Pass<any>[] = [lowrankPass, prunePass, distillPass, clusterPass, quantizePass];

/** The registered pass called `name`; throws MlcError('USAGE') listing the known names. */
export function getPass(name: string): Pass<any> {
  const p = passes.find((x) => x.name === name);
  if (!p) {
    const known = passes.map((x) => x.name).join(', ') || '(none)';
    throw new MlcError('USAGE', `unknown pass "${name}" (known: ${known})`);
  }
  return p;
}
