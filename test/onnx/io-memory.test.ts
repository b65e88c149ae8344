/**
 * ONNX IO memory behaviour: tensors loaded from a path own their buffers (no file-sized buffer
 * kept alive), views of caller bytes where aligned and copies where not, lazy loads, external data
 * beyond 2 GB (a sparse file), automatic external data with a lowered threshold.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, Model, ModelBuilder, Tensor } from '../../src/ir/index.js';
import { loadModel, modelToBytes, saveModel } from '../../src/onnx/index.js';
import { decodeMessage, encodeMessage } from '../../src/onnx/proto.js';
import { createSession } from '../../src/runtime/index.js';
import { compress } from '../../src/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlc-io-mem-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));

/** x[1,64] → MatMul through `k` 64×64 weights; names of different lengths shift raw_data offsets. */
function chain(k: number, seed = 0): Model {
  const b = new ModelBuilder();
  let h = b.input('x', DataType.FLOAT, [1, 64]);
  for (let i = 0; i < k; i++) h = b.op('MatMul', [h, b.init('w'.repeat(i + 1), [64, 64], values(4096, seed + i))]);
  b.output(h, DataType.FLOAT, [1, 64], 'y');
  return b.build();
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function expectSameWeights(a: Model, b: Model): void {
  expect([...b.graph.initializers.keys()]).toEqual([...a.graph.initializers.keys()]);
  for (const [name, t] of a.graph.initializers) {
    expect(Buffer.from(bytesOf(b.graph.initializers.get(name)!)).equals(Buffer.from(bytesOf(t))), name).toBe(true);
  }
}

describe('loading from a path', () => {
  it('reads each big tensor into a buffer of its own, whatever its offset in the file', async () => {
    const m = chain(8);
    const p = join(dir, 'chain.onnx');
    await saveModel(m, p);
    const fileSize = statSync(p).size;
    const loaded = await loadModel(p);
    expectSameWeights(m, loaded);
    for (const t of loaded.graph.initializers.values()) {
      const d = t.data as Float32Array;
      // its own allocation: not a view into a buffer holding the whole file
      expect(d.byteOffset).toBe(0);
      expect(d.buffer.byteLength).toBe(d.byteLength);
      expect(d.buffer.byteLength).toBeLessThan(fileSize);
    }
  });

  it('tensors stay intact when another model is loaded or the file is rewritten', async () => {
    const a = chain(4, 0);
    const b = chain(4, 100);
    const pa = join(dir, 'a.onnx');
    const pb = join(dir, 'b.onnx');
    await saveModel(a, pa);
    await saveModel(b, pb);
    const la = await loadModel(pa);
    const lb = await loadModel(pb);
    await saveModel(b, pa); // same path, other content
    expectSameWeights(a, la);
    expectSameWeights(b, lb);
  });

  it('falls back to the whole-file reader for files the scan does not expect (same errors)', async () => {
    const p = join(dir, 'trunc.onnx');
    await saveModel(chain(2), p);
    const full = readFileSync(p);
    const fd = openSync(join(dir, 'trunc2.onnx'), 'w');
    writeSync(fd, full.subarray(0, full.length - 100));
    closeSync(fd);
    await expect(loadModel(join(dir, 'trunc2.onnx'))).rejects.toThrow(/truncated or corrupt/);
  });
});

describe('loading from bytes', () => {
  it('views aligned raw_data in place and copies unaligned raw_data, which then ignores later writes', async () => {
    const m = chain(8);
    const bytes = modelToBytes(m);
    // one buffer with the model at offset 0
    const copy = new Uint8Array(new ArrayBuffer(bytes.length));
    copy.set(bytes);
    const loaded = await loadModel(copy);
    expectSameWeights(m, loaded);
    let views = 0;
    let copies = 0;
    for (const t of loaded.graph.initializers.values()) {
      const d = t.data as Float32Array;
      if (d.buffer === copy.buffer) views++;
      else copies++;
    }
    // names w, ww, www, ... put raw_data at offsets of every residue mod 4
    expect(views).toBeGreaterThan(0);
    expect(copies).toBeGreaterThan(0);
    copy.fill(0x7f); // the caller reuses its buffer
    for (const [name, t] of loaded.graph.initializers) {
      const d = t.data as Float32Array;
      const orig = m.graph.initializers.get(name)!.data as Float32Array;
      if (d.buffer === copy.buffer) expect(d[0]).not.toBe(orig[0]); // a documented view
      else expect(Buffer.from(bytesOf(t)).equals(Buffer.from(bytesOf(m.graph.initializers.get(name)!)))).toBe(true);
    }
  });
});

describe('lazy loads', () => {
  it('read the same values, from the file as it was at load time, and take assignments', async () => {
    const m = chain(6, 3);
    const p = join(dir, 'lazy.onnx');
    await saveModel(m, p);
    const lazy = await loadModel(p, { lazy: true });
    await saveModel(chain(6, 50), p); // overwritten (temp file + rename): lazy still reads the old one
    expectSameWeights(m, lazy);
    const t = lazy.graph.initializers.get('w')!;
    const fresh = new Float32Array(4096).fill(2);
    t.data = fresh;
    expect(t.data).toBe(fresh);
  });

  it('work with external data, and save like an eager load', async () => {
    const m = chain(3, 7);
    const p = join(dir, 'lazy_ext.onnx');
    await saveModel(m, p, { externalData: true });
    const lazy = await loadModel(p, { lazy: true });
    const out = join(dir, 'lazy_ext_copy.onnx');
    await saveModel(lazy, out);
    expectSameWeights(m, await loadModel(out));
  });
});

describe('compress keeps the original as a lazy load', () => {
  it('reads the input as it was, even when the output overwrites it (--force)', async () => {
    const m = chain(4, 11);
    const p = join(dir, 'force.onnx');
    await saveModel(m, p);
    const r = await compress(p, [{ pass: 'quantize', options: { type: 'fp16' } }], { output: p, force: true });
    expect([...r.model.graph.initializers.values()].every((t) => t.dtype === DataType.FLOAT16)).toBe(true);
    expect((await loadModel(p)).graph.initializers.size).toBe(4); // the file now holds the fp16 model
    expect([...(await loadModel(p)).graph.initializers.values()][0].dtype).toBe(DataType.FLOAT16);
    expectSameWeights(m, r.original);
  });
});

describe('beyond 2 GB', () => {
  it('saves with external data automatically above the threshold, and onnxruntime loads it from the path', async () => {
    const m = chain(3, 1);
    const p = join(dir, 'auto.onnx');
    const r = await saveModel(m, p, { autoExternalAbove: 10_000 });
    expect(r.externalDataFile).toBe(join(dir, 'auto.onnx.data'));
    expect(statSync(p).size).toBeLessThan(2000);
    const loaded = await loadModel(p);
    expectSameWeights(m, loaded);
    const x = { x: { dtype: 'float', dims: [1, 64], data: values(64, 9) } };
    const viaPath = await createSession(p);
    const viaModel = await createSession(m);
    try {
      const a = (await viaPath.run(x)).y.data as Float32Array;
      const b = (await viaModel.run(x)).y.data as Float32Array;
      expect(Array.from(a)).toEqual(Array.from(b));
    } finally {
      await viaPath.release();
      await viaModel.release();
    }
  });

  it('reads external data past the 2 GB and 4 GB offsets of a (sparse) data file', async () => {
    const m = chain(2, 5);
    const p = join(dir, 'far.onnx');
    await saveModel(m, p, { externalData: true });
    // move the tensors far into a sparse data file: offsets past 2^31 and 2^32
    const data = readFileSync(p + '.data');
    const proto = decodeMessage('ModelProto', readFileSync(p));
    const far = [2 ** 31 + 4096, 2 ** 32 + 8192];
    const fd = openSync(join(dir, 'far.bin'), 'w');
    try {
      proto.graph.initializer.forEach((tp: Record<string, any>, i: number) => {
        const get = (k: string) => Number(tp.externalData.find((e: { key: string }) => e.key === k).value);
        writeSync(fd, data.subarray(get('offset'), get('offset') + get('length')), 0, get('length'), far[i]);
        tp.externalData = [
          { key: 'location', value: 'far.bin' },
          { key: 'offset', value: String(far[i]) },
          { key: 'length', value: String(get('length')) },
        ];
      });
    } finally {
      closeSync(fd);
    }
    const q = join(dir, 'far_model.onnx');
    const fd2 = openSync(q, 'w');
    writeSync(fd2, encodeMessage('ModelProto', proto));
    closeSync(fd2);
    expect(statSync(join(dir, 'far.bin')).size).toBeGreaterThan(2 ** 32);
    expectSameWeights(m, await loadModel(q));
    expectSameWeights(m, await loadModel(q, { lazy: true }));
  });
});
