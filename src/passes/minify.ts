/**
 * minify — the bytes of a model that are not weights: names and doc strings. On a small model
 * stored in a few kB (a clustered LeNet-5), the graph's names are a large share of the file even
 * under gzip; this pass shortens them. The weights and what the model computes are unchanged.
 *
 * Rewrites (main graph):
 *   - names: every value that is not a graph input or output (node outputs, initializers) gets a
 *     short name (base-36 counter: `a`, `b`, …, `z0`, …, never one of the kept names), every node
 *     name becomes empty (ONNX allows it), value_info entries follow the renaming; graph inputs
 *     and outputs keep their names, so feeds and outputs stay as they were;
 *   - docStrings: doc strings of the model, the graph, its nodes, attributes, value infos and
 *     initializers are dropped.
 * Left alone, with a Skip: names in a model whose nodes hold subgraphs (If / Loop / Scan bodies
 * read outer values by name) or that has local functions; doc strings are still dropped there.
 * Metadata (metadata_props), the producer and the opsets are kept.
 */
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { subgraphsOf } from '../ir/node.js';
import { definePass, optionSchema, parseWithSchema } from './options.js';
import type { Pass, PassResult, Skip } from './pass.js';

export interface MinifyOptions {
  /** short value names, empty node names (graph inputs and outputs keep theirs) */
  names: boolean;
  /** drop doc strings */
  docStrings: boolean;
}

export const MINIFY_SCHEMA = optionSchema<MinifyOptions>()({
  pass: 'minify',
  options: [
    { key: 'names', type: 'boolean', default: true, help: 'short value names and empty node names (graph inputs and outputs keep their names)' },
    { key: 'docStrings', type: 'boolean', default: true, help: 'drop doc strings' },
  ],
  cli: { triggers: ['minify'], extraFlags: [{ flag: '--minify', help: 'shorten value names, drop node names and doc strings (graph inputs and outputs keep their names; for the smallest file)' }], outputSuffix: () => '_min' },
});

export function parseMinifyOptions(raw: unknown): MinifyOptions {
  return parseWithSchema(MINIFY_SCHEMA, raw);
}

/** Short names a, b, …, z, a0, … (base 36, first character a letter), skipping the reserved ones. */
export function shortNames(reserved: Set<string>): () => string {
  let i = 0;
  return () => {
    for (;;) {
      const n = i++;
      const name = String.fromCharCode(97 + (n % 26)) + (n >= 26 ? Math.floor(n / 26 - 1).toString(36) : '');
      if (!reserved.has(name)) return name;
    }
  };
}

/** Rename the graph's values and clear its node names; returns how many names changed. */
function renameValues(g: Graph): number {
  const keep = new Set<string>([...g.inputs.map((v) => v.name), ...g.outputs.map((v) => v.name)]);
  const next = shortNames(keep);
  const map = new Map<string, string>();
  const rename = (x: string) => {
    if (x === '' || keep.has(x)) return x;
    let y = map.get(x);
    if (y === undefined) map.set(x, (y = next()));
    return y;
  };
  let changed = 0;
  for (const n of g.nodes) {
    if (n.name) changed++;
    n.name = '';
    n.inputs = n.inputs.map(rename);
    n.outputs = n.outputs.map(rename);
  }
  const inits = [...g.initializers.values()];
  g.initializers.clear();
  for (const t of inits) {
    t.name = rename(t.name);
    g.initializers.set(t.name, t);
  }
  g.valueInfo = g.valueInfo.filter((v) => map.has(v.name)).map((v) => ({ ...v, name: map.get(v.name)! }));
  for (const [a, b] of map) if (a !== b) changed++;
  g.touch();
  g.resetNames();
  return changed;
}

function dropDocStrings(m: Model): number {
  let n = 0;
  const clear = (o: { docString?: string }) => {
    if (o.docString) {
      n += o.docString.length;
      o.docString = '';
    }
  };
  clear(m);
  const ofGraph = (g: Graph) => {
    clear(g);
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) clear(v);
    for (const t of g.initializers.values()) clear(t);
    for (const node of g.nodes) {
      clear(node);
      for (const a of node.attributes) clear(a);
      for (const s of subgraphsOf(node)) ofGraph(s);
    }
  };
  ofGraph(m.graph);
  return n;
}

export async function runMinify(model: Model, opts: MinifyOptions): Promise<PassResult> {
  const g = model.graph;
  const skipped: Skip[] = [];
  const stats: PassResult['stats'] = {};
  let modified = false;
  if (opts.docStrings) {
    stats.docStringChars = dropDocStrings(model);
    modified ||= stats.docStringChars > 0;
  }
  if (opts.names) {
    const nested = g.nodes.find((n) => subgraphsOf(n).length > 0);
    if (nested) skipped.push({ node: nested.name || nested.opType, reason: 'names kept: the model has subgraphs, which read outer values by name' });
    else if (model.functions.length) skipped.push({ node: '(model)', reason: 'names kept: the model has local functions' });
    else {
      stats.namesChanged = renameValues(g);
      modified ||= stats.namesChanged > 0;
    }
  }
  return { modified, stats, skipped };
}

export const minifyPass: Pass<MinifyOptions> = definePass(MINIFY_SCHEMA, {
  describe: 'Short value names, no node names, no doc strings: the smallest file for the same graph (inputs and outputs keep their names)',
  run: (model, options) => runMinify(model, options),
});

export default minifyPass;
