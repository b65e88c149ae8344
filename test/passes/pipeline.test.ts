import { describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { DataType, ModelBuilder, Tensor, cloneModel, type Model } from '../../src/ir/index.js';
import { seededRng, silentLogger, type Pass, type PassContext } from '../../src/passes/pass.js';
import { runPipeline as pipeline } from '../../src/passes/pipeline.js';
import { checkModelLoads } from '../../src/runtime/index.js';
import { getPass, passes } from '../../src/passes/registry.js';
import { modelToBytes } from '../../src/onnx/index.js';

function model(): Model {
  const b = new ModelBuilder();
  const x = b.input('input', DataType.FLOAT, ['N', 2]);
  const y = b.op('MatMul', [x, b.init('w', [2, 2], [1, 2, 3, 4])]);
  b.output(b.op('Relu', [y]), DataType.FLOAT, ['N', 2], 'out');
  return b.build();
}

// the pipeline checks with what its caller injects (compress() gives an onnxruntime check)
const runPipeline: typeof pipeline = (m, steps, c, o = {}) => pipeline(m, steps, c, { check: checkModelLoads, ...o });

const ctx = (extra: Partial<PassContext> = {}): PassContext => ({ log: silentLogger, rng: seededRng(1), ...extra });

/** Does nothing and says so. */
const noop: Pass<{ tag: string }> = {
  name: 'noop',
  describe: 'does nothing',
  options: { tag: 'a label' },
  parseOptions(raw) {
    const r = (raw ?? {}) as { tag?: unknown };
    if (r.tag !== undefined && typeof r.tag !== 'string') throw new MlcError('USAGE', 'noop: tag must be a string');
    return { tag: r.tag ?? 'none' };
  },
  async run(_m, o) {
    return { modified: false, stats: { tag: o.tag }, skipped: [{ node: 'MatMul', reason: 'nothing to do' }] };
  },
};

/** Scales the weight: modifies the model and keeps it valid. */
const scale: Pass<{ by: number }> = {
  name: 'scale',
  describe: 'multiplies w',
  options: { by: 'factor' },
  parseOptions: (raw) => ({ by: Number((raw as { by?: number })?.by ?? 2) }),
  async run(m, o) {
    const w = m.graph.initializers.get('w')!;
    const d = w.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] *= o.by;
    return { modified: true, stats: { scaled: d.length }, skipped: [], details: [{ weight: 'w', factor: o.by }] };
  },
};

/** Breaks the model: the weight gets a shape MatMul cannot take, which onnxruntime rejects. */
const breaker: Pass<Record<string, never>> = {
  name: 'breaker',
  describe: 'breaks the model',
  options: {},
  parseOptions: () => ({}),
  async run(m) {
    m.graph.initializers.set('w', Tensor.float32('w', [3, 5], new Float32Array(15)));
    m.graph.nodes[0].inputs[1] = 'w';
    m.graph.makeNode('NoSuchOp', ['out'], ['junk']);
    m.graph.outputs.push({ name: 'junk' });
    return { modified: true, stats: {}, skipped: [] };
  },
};

describe('runPipeline', () => {
  it('runs passes in order and collects modified / stats / skipped / details / ms', async () => {
    const m = model();
    const seen: string[] = [];
    const r = await runPipeline(
      m,
      [
        { pass: noop, options: { tag: 'x' } },
        { pass: scale, options: { by: 3 } },
        { pass: scale },
      ],
      ctx(),
      { onPassStart: (n, i, total) => seen.push(`${n} ${i + 1}/${total}`) },
    );
    expect(seen).toEqual(['noop 1/3', 'scale 2/3', 'scale 3/3']);
    expect(r.model).toBe(m);
    expect(r.passes.map((p) => [p.name, p.modified])).toEqual([
      ['noop', false],
      ['scale', true],
      ['scale', true],
    ]);
    expect(r.passes[0].stats).toEqual({ tag: 'x' });
    expect(r.passes[0].skipped).toEqual([{ node: 'MatMul', reason: 'nothing to do' }]);
    expect(r.passes[1].details).toEqual([{ weight: 'w', factor: 3 }]);
    expect(r.passes[0].details).toBeUndefined();
    for (const p of r.passes) expect(p.ms).toBeGreaterThanOrEqual(0);
    expect(Array.from(m.graph.initializers.get('w')!.data as Float32Array)).toEqual([6, 12, 18, 24]);
  });

  it('a pass that does nothing leaves the model byte-identical', async () => {
    const m = model();
    const before = modelToBytes(m);
    const r = await runPipeline(m, [{ pass: noop }], ctx());
    expect(r.passes[0].modified).toBe(false);
    expect(modelToBytes(m)).toEqual(before);
    expect((await runPipeline(m, [], ctx())).passes).toEqual([]);
  });

  it('reports a pass that breaks the model as PASS_BROKE_MODEL and stops there', async () => {
    const m = model();
    let ranAfter = false;
    const after: Pass<Record<string, never>> = { ...breaker, name: 'after', run: async () => ((ranAfter = true), { modified: false, stats: {}, skipped: [] }) };
    const err = await runPipeline(m, [{ pass: scale }, { pass: breaker }, { pass: after }], ctx({ original: model() })).catch((e) => e);
    expect(err).toBeInstanceOf(MlcError);
    expect(err.code).toBe('PASS_BROKE_MODEL');
    expect(err.message).toMatch(/^pass breaker produced a model onnxruntime rejects: /);
    expect(err.message).not.toContain('\n');
    expect(ranAfter).toBe(false);
  });

  it('deferLastCheck: a pass is checked before the next one runs, the last is left to the caller', async () => {
    const checked: number[] = [];
    let step = 0;
    const counting: Pass<{ by: number }> = { ...scale, name: 'counting', run: async (mm, o, c) => (step++, scale.run(mm, o, c)) };
    const check = async () => {
      checked.push(step);
    };
    const r = await runPipeline(model(), [{ pass: counting }, { pass: counting }], ctx(), { check, deferLastCheck: true });
    // the first pass's output is checked before the second runs; the second's is not checked here
    expect(checked).toEqual([1]);
    expect(r.unchecked).toBe('counting');
    const all = await runPipeline(model(), [{ pass: counting }, { pass: noop }], ctx(), { check: async () => void checked.push(-1), deferLastCheck: true });
    expect(all.unchecked).toBeUndefined(); // checked before the no-op pass ran
    // a broken middle pass is still caught before the next pass runs
    let ranAfter = false;
    const after: Pass<Record<string, never>> = { ...breaker, name: 'after', run: async () => ((ranAfter = true), { modified: false, stats: {}, skipped: [] }) };
    const err = await runPipeline(model(), [{ pass: breaker }, { pass: after }], ctx({ original: model() }), { deferLastCheck: true }).catch((e) => e);
    expect(err.code).toBe('PASS_BROKE_MODEL');
    expect(ranAfter).toBe(false);
  });

  it('does not blame the pass when onnxruntime cannot load the input either', async () => {
    const bad = model();
    bad.graph.makeNode('NoSuchOp', ['out'], ['junk']);
    bad.graph.outputs.push({ name: 'junk' });
    const err = await runPipeline(cloneModel(bad), [{ pass: scale }], ctx({ original: bad })).catch((e) => e);
    expect(err).toBeInstanceOf(MlcError);
    expect(err.code).toBe('UNSUPPORTED');
  });

  it('skips the check for passes that report no change, and when disabled', async () => {
    const m = model();
    const liar: Pass<Record<string, never>> = { ...breaker, name: 'liar', run: async (mm) => ({ ...(await breaker.run(mm, {}, ctx())), modified: false }) };
    // (the runner's modified:false ⇒ unchanged check would catch this liar: turned off here)
    await expect(runPipeline(m, [{ pass: liar }], ctx(), { verifyUnchanged: false })).resolves.toBeDefined();
    await expect(runPipeline(model(), [{ pass: breaker }], ctx(), { check: false })).resolves.toBeDefined();
    const checked: Model[] = [];
    await runPipeline(model(), [{ pass: scale }, { pass: noop }], ctx(), { check: async (mm) => void checked.push(mm) });
    expect(checked).toHaveLength(1);
    // without an injected check the pipeline loads no runtime and checks nothing
    await expect(pipeline(model(), [{ pass: breaker }], ctx())).resolves.toBeDefined();
  });

  it('a pass that reports modified: false but changed the model is an internal error', async () => {
    const sneaky = (edit: (m: Model) => void): Pass<Record<string, never>> => ({
      name: 'sneaky',
      describe: 'changes the model and says it did not',
      options: {},
      parseOptions: () => ({}),
      run: async (m) => (edit(m), { modified: false, stats: {}, skipped: [] }),
    });
    const edits: ((m: Model) => void)[] = [
      (m) => void ((m.graph.initializers.get('w')!.data as Float32Array)[3] = 4.0000005), // one weight, by one ulp
      (m) => void (m.graph.nodes[1].opType = 'Sigmoid'),
      (m) => void m.metadataProps.push({ key: 'k', value: 'v' }),
      (m) => void (m.graph.outputs[0].type = undefined),
    ];
    for (const edit of edits) {
      const err = await runPipeline(model(), [{ pass: scale }, { pass: sneaky(edit) }], ctx(), { check: false }).catch((e) => e);
      expect(err).toBeInstanceOf(MlcError);
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toBe('pass sneaky reported modified: false but changed the model (a bug in the pass)');
    }
    // an honest no-op and an honest change pass
    await expect(runPipeline(model(), [{ pass: noop }, { pass: scale }, { pass: noop }], ctx(), { check: false })).resolves.toBeDefined();
  });

  it('validates every step before running any', async () => {
    const m = model();
    const before = modelToBytes(m);
    await expect(runPipeline(m, [{ pass: scale }, { pass: noop, options: { tag: 5 } }], ctx())).rejects.toMatchObject({ code: 'USAGE' });
    expect(modelToBytes(m)).toEqual(before);
    // @ts-expect-error: a name that is no registered pass does not compile; from JavaScript it throws
    await expect(runPipeline(m, [{ pass: 'no-such-pass' }], ctx())).rejects.toThrow(/unknown pass "no-such-pass"/);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(runPipeline(model(), [{ pass: noop }], ctx({ signal: ac.signal }))).rejects.toThrow(/aborted/);
  });
});

describe('registry', () => {
  it('has unique kebab-case names in canonical order, each with a describe and a working getPass', () => {
    const names = passes.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of passes) {
      expect(p.name).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(p.describe.length).toBeGreaterThan(0);
      expect(getPass(p.name)).toBe(p);
    }
    const canonical = ['lowrank', 'prune', 'distill', 'quantize'];
    const ranks = names.map((n) => canonical.indexOf(n)).filter((i) => i >= 0);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(() => getPass('nope')).toThrow(MlcError);
  });
});
