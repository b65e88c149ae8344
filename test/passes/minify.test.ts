/**
 * The minify pass: short value names, empty node names, no doc strings; inputs and outputs keep
 * their names; the model computes the same; no-op and refused cases; the flag.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelBuilder } from '../../src/ir/builder.js';
import { DataType, type Model } from '../../src/ir/index.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { minifyPass, parseMinifyOptions, runMinify, shortNames } from '../../src/passes/minify.js';
import { createSession } from '../../src/runtime/index.js';
import { cnn, randn, rng } from './prune-helpers.js';

const sessions: { release(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of sessions) await s.release();
});

async function run(m: Model): Promise<Float32Array> {
  const s = await createSession(modelToBytes(m), { intraOpThreads: 1 });
  sessions.push(s);
  const x = randn(2 * 2 * 8 * 8, rng(5));
  return (await s.run({ input: { dtype: 'float', dims: [2, 2, 8, 8], data: x } })).logits.data as Float32Array;
}

describe('minify', () => {
  it('options and flag', () => {
    expect(parseMinifyOptions({})).toEqual({ names: true, docStrings: true });
    expect(parseMinifyOptions({ names: false })).toEqual({ names: false, docStrings: true });
    expect(() => parseMinifyOptions({ names: 'yes' })).toThrow(/names/);
    expect(minifyPass.cli!.fromFlags({})).toBeUndefined();
    expect(minifyPass.parseOptions(minifyPass.cli!.fromFlags({ minify: true }))).toEqual({ names: true, docStrings: true });
  });

  it('short names skip the reserved ones and never repeat', () => {
    const next = shortNames(new Set(['b', 'a0']));
    const names = Array.from({ length: 60 }, next);
    expect(names.slice(0, 3)).toEqual(['a', 'c', 'd']);
    expect(new Set(names).size).toBe(60);
    expect(names).not.toContain('b');
    expect(names).not.toContain('a0');
  });

  it('renames values, clears node names and doc strings; same outputs, smaller file', async () => {
    const m = cnn();
    m.docString = 'a model';
    m.graph.nodes[0].docString = 'the first conv';
    m.graph.initializers.get('cw1')!.docString = 'weights';
    const before = modelToBytes(m).length;
    const y0 = await run(m);
    const r = await runMinify(m, parseMinifyOptions({}));
    expect(r.modified).toBe(true);
    expect(r.stats.docStringChars).toBe('a model'.length + 'the first conv'.length + 'weights'.length);
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['input']);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['logits']);
    expect(m.graph.nodes.every((n) => n.name === '')).toBe(true);
    for (const n of m.graph.initializers.keys()) expect(n.length).toBeLessThanOrEqual(2);
    expect(m.graph.nodes.at(-1)!.outputs).toEqual(['logits']);
    expect(modelToBytes(m).length).toBeLessThan(before);
    expect(Array.from(await run(m))).toEqual(Array.from(y0));
    // a second run changes nothing
    expect((await runMinify(m, parseMinifyOptions({}))).modified).toBe(false);
  });

  it('names off: only doc strings go; nothing to do is no change', async () => {
    const m = cnn();
    const names = m.graph.nodes.map((n) => n.name);
    expect((await runMinify(m, parseMinifyOptions({ names: false }))).modified).toBe(false);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(names);
  });

  it('keeps names in a model with subgraphs (outer values are read by name), with a skip', async () => {
    const sub = new ModelBuilder({ opset: 17 });
    sub.output(sub.op('Identity', ['x']), DataType.FLOAT, [2], 'z');
    const body = sub.build().graph;
    const b = new ModelBuilder({ opset: 17 });
    b.input('x', DataType.FLOAT, [2]);
    const c = b.init('cond', [], new Uint8Array([1]), DataType.BOOL);
    const y = b.op('If', [c], { then_branch: body, else_branch: body }, { name: 'branch' });
    b.output(y, DataType.FLOAT, [2], 'y');
    const m = b.build();
    const r = await runMinify(m, parseMinifyOptions({ docStrings: false }));
    expect(r.modified).toBe(false);
    expect(r.skipped[0].reason).toMatch(/subgraphs/);
    expect(m.graph.nodes[0].name).toBe('branch');
  });
});
