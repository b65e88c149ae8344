import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/index.js';
import { createSession } from '../../src/runtime/index.js';
import { openSession, parseRuntimes } from '../../src/runtime/runtimes.js';
import { ROOT } from '../cli/helpers.js';
import { join } from 'node:path';
import { DataType, ModelBuilder } from '../../src/ir/index.js';

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 101);
}

describe('parseRuntimes', () => {
  it('takes a comma list in order and refuses unknown or repeated names', () => {
    expect(parseRuntimes('node')).toEqual(['node']);
    expect(parseRuntimes('browser, node,wasm')).toEqual(['browser', 'node', 'wasm']);
    expect(() => parseRuntimes('node,gpu')).toThrow(/unknown runtime "gpu"/);
    expect(() => parseRuntimes('wasm,wasm')).toThrow(/given twice/);
    expect(() => parseRuntimes(',')).toThrow(/one or more/);
  });
});

describe('the wasm runtime (onnxruntime-web in Node)', () => {
  it('gives the MNIST fixtures the outputs onnxruntime-node gives', async () => {
    for (const f of ['mnist-mlp.onnx', 'mnist-cnn.onnx']) {
      const model = await loadModel(join(ROOT, 'fixtures', f));
      const feeds = { input: { dtype: 'float', dims: [3, 784], data: ramp(3 * 784) } };
      const node = await createSession(model);
      const wasm = await openSession('wasm', model);
      try {
        const a = (await node.run(feeds)).logits;
        const b = (await wasm.run(feeds)).logits;
        expect(b.dims).toEqual([3, 10]);
        expect(b.dtype).toBe('float');
        const d = Math.max(...Array.from(a.data as Float32Array, (x, i) => Math.abs(x - (b.data as Float32Array)[i])));
        expect(d).toBeLessThan(1e-4);
      } finally {
        await node.release();
        await wasm.release();
      }
    }
  });

  it('takes int64 feeds and returns int64 and bool outputs; a model it cannot load is one INPUT error', async () => {
    const b = new ModelBuilder();
    const idx = b.input('idx', DataType.INT64, [3]);
    b.output(b.op('Add', [idx, b.ints('one', [1])]), DataType.INT64, [3], 'next');
    b.output(b.op('Greater', [idx, b.ints('thr', [1])]), DataType.BOOL, [3], 'big');
    const s = await openSession('wasm', b.build());
    try {
      const out = await s.run({ idx: { dtype: 'int64', dims: [3], data: [3, 0, 2] } });
      expect([...(out.next.data as BigInt64Array)]).toEqual([4n, 1n, 3n]);
      expect([...(out.big.data as Uint8Array)]).toEqual([1, 0, 1]);
    } finally {
      await s.release();
    }
    const bad = new ModelBuilder();
    const x = bad.input('x', DataType.FLOAT, [2]);
    bad.output(bad.op('NoSuchOp', [x]), DataType.FLOAT, [2], 'y');
    await expect(openSession('wasm', bad.build())).rejects.toThrow(/^onnxruntime-web \(wasm\) cannot load the model: .*NoSuchOp/);
  });
});
