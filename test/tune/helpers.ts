import { getPass } from '../../src/passes/registry.js';

/** Parse a recipe step's options with its pass's schema (throws on a bad step). */
export function parsePass(step: { pass: string; options?: unknown }): unknown {
  return getPass(step.pass).parseOptions(step.options ?? {});
}
