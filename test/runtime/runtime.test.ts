import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { AttrType, DataType, Model, ModelBuilder } from '../../src/ir/index.js';
import { weightsAsInputs } from '../../src/ir/skeleton.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { CHECK_OPTIONS, DEFAULT_DISABLED_OPTIMIZERS, checkGraphLoads, configEntries, checkModelLoads, createSession, makeRunner, sessionKeeper } from '../../src/runtime/index.js';

/** y = Gather(table, idx) * scale; also returns idx + 1 (int64) and idx > 1 (bool). */
function gatherModel(): Model {
  const b = new ModelBuilder();
  const idx = b.input('idx', DataType.INT64, [3]);
  const table = b.init('table', [4, 2], [0, 1, 10, 11, 20, 21, 30, 31]);
  const scale = b.init('scale', [], [2]);
  b.output(b.op('Mul', [b.op('Gather', [table, idx]), scale]), DataType.FLOAT, [3, 2], 'y');
  b.output(b.op('Add', [idx, b.ints('one', [1])]), DataType.INT64, [3], 'next');
  b.output(b.op('Greater', [idx, b.ints('thr', [1])]), DataType.BOOL, [3], 'big');
  return b.build();
}

describe('createSession / run', () => {
  it('runs from a Model, bytes and a path, with plain number feeds for int64', async () => {
    const m = gatherModel();
    const d = mkdtempSync(join(tmpdir(), 'mlc-rt-'));
    const p = join(d, 'g.onnx');
    writeFileSync(p, modelToBytes(m));
    try {
      for (const src of [m, modelToBytes(m), p]) {
        const s = await createSession(src);
        try {
          expect([...s.inputNames]).toEqual(['idx']);
          expect([...s.outputNames]).toEqual(['y', 'next', 'big']);
          const out = await s.run({ idx: { dtype: 'int64', dims: [3], data: [3, 0, 2] } });
          expect(out.y).toEqual({ dtype: 'float', dims: [3, 2], data: new Float32Array([60, 62, 0, 2, 40, 42]) });
          expect(out.next.dtype).toBe('int64');
          expect([...(out.next.data as BigInt64Array)]).toEqual([4n, 1n, 3n]);
          expect(out.big.dtype).toBe('bool');
          expect([...(out.big.data as Uint8Array)]).toEqual([1, 0, 1]);
          const only = await s.run({ idx: { dtype: 'int64', dims: [3], data: new BigInt64Array([1n, 1n, 1n]) } }, ['next']);
          expect(Object.keys(only)).toEqual(['next']);
        } finally {
          await s.release();
        }
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('reports bad feeds as MlcError', async () => {
    const s = await createSession(gatherModel());
    try {
      await expect(s.run({ idx: { dtype: 'float', dims: [3], data: [1, 2, 3] } })).rejects.toThrow(/onnxruntime failed to run the model/);
      await expect(s.run({ idx: { dtype: 'bfloat16', dims: [1], data: [1] } })).rejects.toBeInstanceOf(MlcError);
      await expect(s.run({ idx: { dtype: 'int64', dims: [3], data: [0.5, 1, 2] } })).rejects.toThrow(/input idx: /);
      await expect(s.run({ idx: { dtype: 'int64', dims: [4], data: [0, 1, 2] } })).rejects.toBeInstanceOf(MlcError);
    } finally {
      await s.release();
    }
  });
});

describe('checkModelLoads', () => {
  it('passes a valid model and throws ORT’s message for a broken one', async () => {
    const m = gatherModel();
    await checkModelLoads(m);
    m.graph.makeNode('NoSuchOp', ['y'], ['z']);
    m.graph.outputs.push({ name: 'z' });
    const e = await checkModelLoads(m).catch((x) => x);
    expect(e).toBeInstanceOf(MlcError);
    expect(String(e.message)).toMatch(/onnxruntime cannot load the model: .*NoSuchOp/);
  });

  it('names the file when a path cannot be loaded', async () => {
    await expect(createSession('/nonexistent/m.onnx')).rejects.toThrow(/\/nonexistent\/m\.onnx: onnxruntime cannot load the model/);
  });
});

describe('check sessions', () => {
  it('a session without weight prepacking (CHECK_OPTIONS) loads and runs like any other', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 64]);
    const w = b.init('w', [64, 64], Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i)));
    b.output(b.op('MatMul', [x, w]), DataType.FLOAT, [2, 64], 'y');
    const m = b.build();
    const feeds = { x: { dtype: 'float', dims: [2, 64], data: Float32Array.from({ length: 128 }, (_, i) => Math.cos(i)) } };
    const a = await createSession(m);
    const c = await createSession(m, CHECK_OPTIONS);
    try {
      expect(CHECK_OPTIONS.prepack).toBe(false);
      const ya = (await a.run(feeds)).y.data as Float32Array;
      const yc = (await c.run(feeds)).y.data as Float32Array;
      expect(yc.length).toBe(128);
      for (let i = 0; i < 128; i++) expect(Math.abs(yc[i] - ya[i])).toBeLessThan(1e-4 * (1 + Math.abs(ya[i])));
    } finally {
      await a.release();
      await c.release();
    }
  });

  it('worker threads that do not spin (a pass runner) are a session config entry, beside prepacking; the values are the same', async () => {
    expect(configEntries({})).toEqual({});
    expect(configEntries({ spinning: false, prepack: false })).toEqual({ extra: { session: { disable_prepacking: '1', intra_op: { allow_spinning: '0' } } } });
    expect(configEntries({ spinning: true })).toEqual({});
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [8, 64]);
    const w = b.init('w', [64, 64], Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i)));
    b.output(b.op('Relu', [b.op('MatMul', [x, w])]), DataType.FLOAT, [8, 64], 'y');
    const m = b.build();
    const feeds = { x: { dtype: 'float', dims: [8, 64], data: Float32Array.from({ length: 512 }, (_, i) => Math.cos(i)) } };
    const a = await createSession(m);
    const c = await createSession(m, { intraOpThreads: 2, spinning: false });
    const run = makeRunner({ intraOpThreads: 2 });
    try {
      const ya = (await a.run(feeds)).y.data as Float32Array;
      for (const yc of [(await c.run(feeds)).y.data as Float32Array, (await run(m, feeds)).y.data as Float32Array]) {
        expect(yc.length).toBe(512);
        for (let i = 0; i < 512; i++) expect(Math.abs(yc[i] - ya[i])).toBeLessThan(1e-4 * (1 + Math.abs(ya[i])));
      }
    } finally {
      await a.release();
      await c.release();
      await run.release();
    }
  });
});

describe('sessionKeeper', () => {
  it('keeps the session of the latest check of each model and hands it over once', async () => {
    const keeper = sessionKeeper({ intraOpThreads: 1 });
    const feeds = { idx: { dtype: 'int64', dims: [3], data: [1, 1, 1] } };
    try {
      const m = gatherModel();
      const other = gatherModel();
      await keeper.check(m);
      await keeper.check(other);
      (m.graph.initializers.get('scale')!.data as Float32Array)[0] = 3; // a pass edits in place...
      await keeper.check(m); // ...and the pipeline checks again: the stale session is replaced
      const s = keeper.take(m)!;
      expect(keeper.take(m)).toBeUndefined();
      try {
        expect([...((await s.run(feeds, ['y'])).y.data as Float32Array)]).toEqual([30, 33, 30, 33, 30, 33]);
      } finally {
        await s.release();
      }
      const o = keeper.take(other)!;
      expect([...((await o.run(feeds, ['y'])).y.data as Float32Array)]).toEqual([20, 22, 20, 22, 20, 22]);
      await o.release();
      m.graph.makeNode('NoSuchOp', ['y'], ['z']);
      m.graph.outputs.push({ name: 'z' });
      await expect(keeper.check(m)).rejects.toThrow(/onnxruntime cannot load the model: .*NoSuchOp/);
      expect(keeper.take(m)).toBeUndefined();
    } finally {
      await keeper.release();
    }
  });

  it('creates the session from the file when given its path', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mlc-rt-'));
    const keeper = sessionKeeper();
    try {
      const m = gatherModel();
      await expect(keeper.check(m, join(d, 'missing.onnx'))).rejects.toThrow(/missing\.onnx: onnxruntime cannot load the model/);
      writeFileSync(join(d, 'g.onnx'), modelToBytes(m));
      await keeper.check(m, join(d, 'g.onnx'));
      const s = keeper.take(m)!;
      expect([...s.outputNames]).toEqual(['y', 'next', 'big']);
      await s.release();
    } finally {
      await keeper.release();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('makeRunner', () => {
  it('runs models and sees in-place edits between calls', async () => {
    const run = makeRunner();
    try {
      const m = gatherModel();
      const feeds = { idx: { dtype: 'int64', dims: [3], data: [1, 1, 1] } };
      const a = await run(m, feeds, ['y']);
      expect([...(a.y.data as Float32Array)]).toEqual([20, 22, 20, 22, 20, 22]);
      const again = await run(m, feeds, ['y']);
      expect([...(again.y.data as Float32Array)]).toEqual([20, 22, 20, 22, 20, 22]);
      (m.graph.initializers.get('scale')!.data as Float32Array)[0] = 3;
      const b = await run(m, feeds, ['y']);
      expect([...(b.y.data as Float32Array)]).toEqual([30, 33, 30, 33, 30, 33]);
    } finally {
      await run.release();
    }
  });

  it('with `unchanged` it reuses the session without looking at the model (what the caller vouches for)', async () => {
    const run = makeRunner();
    try {
      const m = gatherModel();
      const feeds = { idx: { dtype: 'int64', dims: [3], data: [1, 1, 1] } };
      // no session yet: `unchanged` cannot skip the first one
      expect([...((await run(m, feeds, ['y'], { unchanged: true })).y.data as Float32Array)]).toEqual([20, 22, 20, 22, 20, 22]);
      // an edit the caller does not report is not seen (the session is reused as is) ...
      (m.graph.initializers.get('scale')!.data as Float32Array)[0] = 3;
      expect([...((await run(m, feeds, ['y'], { unchanged: true })).y.data as Float32Array)]).toEqual([20, 22, 20, 22, 20, 22]);
      // ... and is without it
      expect([...((await run(m, feeds, ['y'])).y.data as Float32Array)]).toEqual([30, 33, 30, 33, 30, 33]);
    } finally {
      await run.release();
    }
  });
});

describe('disabledOptimizers', () => {
  it("keeps onnxruntime's stock transformers by default; Add + LayerNormalization gives the same values with fusions off", async () => {
    expect(DEFAULT_DISABLED_OPTIMIZERS).toEqual([]);
    const H = 8;
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [1, 3, H]);
    const r = b.input('r', DataType.FLOAT, [1, 3, H]);
    const g = b.init('g', [H], Array.from({ length: H }, (_, i) => 1 + i / 10));
    const beta = b.init('beta', [H], Array.from({ length: H }, (_, i) => i / 20));
    b.output(b.op('LayerNormalization', [b.op('Add', [x, r]), g, beta], { axis: -1 }), DataType.FLOAT, [1, 3, H], 'y');
    const m = b.build();
    const xs = Float32Array.from({ length: 3 * H }, (_, i) => Math.sin(i));
    const rs = Float32Array.from({ length: 3 * H }, (_, i) => Math.cos(3 * i));
    const feeds = { x: { dtype: 'float', dims: [1, 3, H], data: xs }, r: { dtype: 'float', dims: [1, 3, H], data: rs } };
    const want = new Float32Array(3 * H);
    for (let t = 0; t < 3; t++) {
      const row = Array.from({ length: H }, (_, i) => xs[t * H + i] + rs[t * H + i]);
      const mean = row.reduce((a, v) => a + v, 0) / H;
      const vr = row.reduce((a, v) => a + (v - mean) ** 2, 0) / H;
      for (let i = 0; i < H; i++) want[t * H + i] = ((row[i] - mean) / Math.sqrt(vr + 1e-5)) * (1 + i / 10) + i / 20;
    }
    for (const opts of [{}, { disabledOptimizers: ['SkipLayerNormFusion'] }, { disabledOptimizers: ['SkipLayerNormFusion', 'GeluFusion'] }]) {
      const s = await createSession(m, opts);
      try {
        const y = (await s.run(feeds)).y.data as Float32Array;
        for (let i = 0; i < want.length; i++) expect(y[i]).toBeCloseTo(want[i], 4);
      } finally {
        await s.release();
      }
    }
  });
});

describe('checkGraphLoads (the skeleton check)', () => {
  /** y = x · W (W 64×64: a weight the skeleton turns into an input) + b (4 elements: kept) */
  function matmulModel(): Model {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    const w = b.init('W', [64, 64], Array.from({ length: 64 * 64 }, (_, i) => (i % 7) - 3));
    const bias = b.init('B', [64], Array.from({ length: 64 }, (_, i) => i));
    b.output(b.op('Add', [b.op('MatMul', [x, w]), bias]), DataType.FLOAT, [1, 64], 'y');
    return b.build();
  }

  it('turns large weights into inputs of the same type and shape without reading them', async () => {
    const m = matmulModel();
    const w = m.graph.initializers.get('W')!;
    Object.defineProperty(w, 'data', {
      get() {
        throw new Error('the skeleton read the weight');
      },
    });
    const sk = weightsAsInputs(m);
    expect([...sk.graph.initializers.keys()]).toEqual(['B']);
    expect(sk.graph.inputs.map((i) => i.name)).toEqual(['x', 'W']);
    expect(sk.graph.inputs[1].type).toEqual({ kind: 'tensor', elemType: DataType.FLOAT, shape: [64, 64] });
    expect(m.graph.initializers.has('W')).toBe(true); // the model itself is untouched
    await checkGraphLoads(m, matmulModel());
  });

  it("refuses what onnxruntime refuses, with onnxruntime's message", async () => {
    const m = matmulModel();
    m.graph.nodes[0].attributes.push({ name: 'not_an_attribute', type: AttrType.INT, value: 1 });
    const e = await checkGraphLoads(m).catch((x) => x);
    expect(e).toBeInstanceOf(MlcError);
    expect(String(e.message)).toMatch(/onnxruntime cannot load the model: .*not_an_attribute/);
  });
});
