/**
 * The model list of a fleet run: paths and globs expanded (sorted, without duplicates), mlc's own
 * outputs of an earlier run left out, and where each model's output goes.
 *
 * An earlier output is a glob match named `<stem><suffix>.onnx` where `<stem>.onnx` is matched too
 * and `<suffix>` is one of the default output suffixes (`_int8`, `_compressed`, `_copy`, … from
 * the passes), or any match under the output folder. A path named without wildcards is always
 * taken, and `includeOutputs` takes everything.
 */
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { MlcError } from '../core/errors.js';
import type { Pass } from '../passes/pass.js';
import { expandGlob, globBase, hasGlob } from '../util/glob.js';

export interface ModelInput {
  /** the path as matched (relative patterns give relative paths) */
  model: string;
  /** the folder of the pattern before its first wildcard: --out-dir keeps paths relative to it */
  base: string;
}

/** Every suffix a default output name can have: `_copy`, `_compressed`, and each pass's (per choice of its enum options). */
export function defaultSuffixes(passes: readonly Pass<any>[]): string[] {
  const out = new Set(['_copy', '_compressed']);
  for (const p of passes) {
    if (!p.cli) continue;
    const tries: unknown[] = [undefined, {}];
    for (const o of p.schema?.options ?? []) if (o.type === 'enum') for (const c of o.choices) tries.push({ [o.key]: c });
    for (const t of tries) {
      try {
        const s = p.cli.outputSuffix(t);
        out.add(s.startsWith('_') ? s : `_${s}`);
      } catch {
        // an option set the pass refuses names no suffix
      }
    }
    out.add(`_${p.name}`);
  }
  return [...out].sort();
}

/** Expand `patterns` into the sorted model list. A glob that matches nothing is a usage error. */
export function listModels(
  patterns: readonly string[],
  opts: { suffixes: readonly string[]; includeOutputs?: boolean; outDir?: string; cwd?: string },
): ModelInput[] {
  const cwd = opts.cwd ?? process.cwd();
  const found = new Map<string, ModelInput>();
  const globbed = new Set<string>();
  const named = new Set<string>();
  for (const pattern of patterns) {
    if (!hasGlob(pattern)) {
      named.add(pattern);
      if (!found.has(pattern)) found.set(pattern, { model: pattern, base: dirname(pattern) });
      continue;
    }
    const matches = expandGlob(pattern, cwd);
    if (matches.length === 0) throw new MlcError('USAGE', `no file matches ${pattern}`);
    for (const m of matches) {
      globbed.add(m);
      if (!found.has(m)) found.set(m, { model: m, base: globBase(pattern) });
    }
  }
  if (!opts.includeOutputs) {
    const outDir = opts.outDir ? resolve(cwd, opts.outDir) + sep : undefined;
    const onnx = (p: string) => p.toLowerCase().endsWith('.onnx');
    for (const m of globbed) {
      if (named.has(m)) continue;
      if (outDir && resolve(cwd, m).startsWith(outDir)) {
        found.delete(m);
        continue;
      }
      if (!onnx(m)) continue;
      const stem = m.slice(0, -'.onnx'.length);
      for (const s of opts.suffixes) {
        if (stem.endsWith(s) && globbed.has(`${stem.slice(0, -s.length)}.onnx`)) {
          found.delete(m);
          break;
        }
      }
    }
  }
  return [...found.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
}

/** The output of `input`: `defaultOutput` (beside the input), or the same name under `outDir` at the input's path relative to its base. */
export function outputPath(input: ModelInput, defaultOutput: string, outDir?: string): string {
  if (!outDir) return defaultOutput;
  return join(outDir, relative(input.base || '.', dirname(input.model)), basename(defaultOutput));
}
