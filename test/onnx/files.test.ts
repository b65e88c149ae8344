/** Files: external data, bad inputs, atomic writes, never overwriting the input. */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { DataType, Model, ModelBuilder } from '../../src/ir/index.js';
import { externalDataFiles, loadModel, modelToBytes, saveModel } from '../../src/onnx/index.js';
import { decodeMessage, encodeMessage } from '../../src/onnx/proto.js';
import { createSession } from '../../src/runtime/index.js';
import { writeFileAtomic } from '../../src/util/fs.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlc-io-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** x[1,64] → MatMul w1[64,64] → Add b → MatMul w2[64,8]; weights big enough to go external. */
function mlp(): Model {
  const b = new ModelBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 64]);
  const w1 = b.init('w1', [64, 64], Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i)));
  const bias = b.init('b', [64], Float32Array.from({ length: 64 }, (_, i) => i / 64));
  const w2 = b.init('w2', [64, 8], Float32Array.from({ length: 512 }, (_, i) => Math.cos(i)));
  const h = b.op('Add', [b.op('MatMul', [x, w1]), bias]);
  b.output(b.op('MatMul', [h, w2]), DataType.FLOAT, [1, 8], 'y');
  return b.build();
}

const feeds = { x: { dtype: 'float', dims: [1, 64], data: Float32Array.from({ length: 64 }, (_, i) => (i % 7) - 3) } };

async function runOnce(model: Model | string): Promise<Float32Array> {
  const s = await createSession(model);
  try {
    return (await s.run(feeds)).y.data as Float32Array;
  } finally {
    await s.release();
  }
}

async function expectMlcError(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err) => err,
  );
  expect(e, 'expected an MlcError').toBeInstanceOf(MlcError);
  expect((e as MlcError).code).toBe(code);
  expect((e as MlcError).message).toMatch(re);
}

describe('external data', () => {
  it('saves big initializers to <model>.onnx.data at aligned offsets and loads them back', async () => {
    const m = mlp();
    const out = join(dir, 'ext.onnx');
    const res = await saveModel(m, out, { externalData: true });
    expect(res.externalDataFile).toBe(join(dir, 'ext.onnx.data'));
    expect(existsSync(join(dir, 'ext.onnx.data'))).toBe(true);
    expect(statSync(out).size).toBeLessThan(2000); // only the 64-float bias stays inline (256 B < 1 KiB)
    expect(res.bytes).toBe(statSync(out).size + statSync(join(dir, 'ext.onnx.data')).size);

    const mp = decodeMessage('ModelProto', readFileSync(out));
    const ext = mp.graph.initializer.filter((t: { dataLocation?: number }) => t.dataLocation === 1);
    expect(ext.map((t: { name: string }) => t.name).sort()).toEqual(['w1', 'w2']);
    for (const t of ext) {
      const info = Object.fromEntries(t.externalData.map((e: { key: string; value: string }) => [e.key, e.value]));
      expect(info.location).toBe('ext.onnx.data');
      expect(Number(info.offset) % 64).toBe(0);
    }

    const back = await loadModel(out);
    expect([...(back.graph.initializers.get('w1')!.data as Float32Array)]).toEqual([...(m.graph.initializers.get('w1')!.data as Float32Array)]);
    // onnxruntime reads the external file itself (from the path) and our in-memory copy alike
    const ref = await runOnce(m);
    expect([...(await runOnce(out))]).toEqual([...ref]);
    expect([...(await runOnce(back))]).toEqual([...ref]);
  });

  it('lists the external data files a model references', async () => {
    const out = join(dir, 'listed.onnx');
    await saveModel(mlp(), out, { externalData: true });
    expect(await externalDataFiles(out)).toEqual([join(dir, 'listed.onnx.data')]);
    const inline = join(dir, 'listed-inline.onnx');
    await saveModel(mlp(), inline);
    expect(await externalDataFiles(inline)).toEqual([]);
  });

  it('switches to external data automatically above the size limit', async () => {
    const out = join(dir, 'auto.onnx');
    const res = await saveModel(mlp(), out, { autoExternalAbove: 10_000 });
    expect(res.externalDataFile).toBe(join(dir, 'auto.onnx.data'));
    const small = join(dir, 'inline.onnx');
    const res2 = await saveModel(mlp(), small);
    expect(res2.externalDataFile).toBeUndefined();
    expect(existsSync(join(dir, 'inline.onnx.data'))).toBe(false);
  });

  it('fails clearly when the side file is missing or too short', async () => {
    const sub = join(dir, 'broken');
    mkdirSync(sub);
    const out = join(sub, 'm.onnx');
    await saveModel(mlp(), out, { externalData: true });
    const data = join(sub, 'm.onnx.data');
    truncateSync(data, 100);
    await expectMlcError(loadModel(out), 'INPUT', /m\.onnx: tensor w\d: external data file .*m\.onnx\.data is too short/);
    rmSync(data);
    await expectMlcError(loadModel(out), 'INPUT', /m\.onnx: tensor w\d: external data file .*m\.onnx\.data is missing/);
    await expectMlcError(loadModel(readFileSync(out)), 'INPUT', /loaded from bytes/);
  });

  it('rejects locations outside the model folder', async () => {
    const mp = decodeMessage('ModelProto', modelToBytes(mlp()));
    const w1 = mp.graph.initializer[0];
    delete w1.rawData;
    w1.dataLocation = 1;
    w1.externalData = [{ key: 'location', value: '../../etc/passwd' }];
    const p = join(dir, 'escape.onnx');
    writeFileSync(p, encodeMessage('ModelProto', mp));
    await expectMlcError(loadModel(p), 'INPUT', /must be a relative path inside the model folder/);
  });
});

describe('bad inputs', () => {
  const good = () => modelToBytes(mlp());

  it('missing file', async () => {
    await expectMlcError(loadModel(join(dir, 'nope.onnx')), 'INPUT', /nope\.onnx: file not found/);
  });
  it('empty file', async () => {
    const p = join(dir, 'empty.onnx');
    writeFileSync(p, '');
    await expectMlcError(loadModel(p), 'INPUT', /empty\.onnx: file is empty/);
  });
  it('a directory', async () => {
    await expectMlcError(loadModel(dir), 'INPUT', /is a directory/);
  });
  it('garbage bytes', async () => {
    const p = join(dir, 'garbage.onnx');
    let seed = 7;
    const bytes = Uint8Array.from({ length: 4096 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24) & 0xff);
    writeFileSync(p, bytes);
    await expectMlcError(loadModel(p), 'INPUT', /garbage\.onnx: (not a valid ONNX model|truncated or corrupt)/);
    const text = join(dir, 'text.onnx');
    writeFileSync(text, 'hello, this is not a model\n');
    await expectMlcError(loadModel(text), 'INPUT', /text\.onnx: (not a valid ONNX model|truncated or corrupt)/);
  });
  it('truncated model', async () => {
    const p = join(dir, 'trunc.onnx');
    const b = good();
    writeFileSync(p, b.subarray(0, Math.floor(b.length / 2)));
    await expectMlcError(loadModel(p), 'INPUT', /trunc\.onnx: truncated or corrupt ONNX model/);
  });
  it('a JSON file named .onnx', async () => {
    const p = join(dir, 'json.onnx');
    writeFileSync(p, JSON.stringify({ irVersion: 8, graph: {} }));
    await expectMlcError(loadModel(p), 'INPUT', /json\.onnx: this is a JSON file/);
  });
  it('zip and gzip files', async () => {
    const z = join(dir, 'zip.onnx');
    writeFileSync(z, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]));
    await expectMlcError(loadModel(z), 'INPUT', /zip\.onnx: this is a zip archive/);
    const g = join(dir, 'gz.onnx');
    writeFileSync(g, gzipSync(good()));
    await expectMlcError(loadModel(g), 'INPUT', /gz\.onnx: this file is gzip-compressed/);
  });
  it('a model with no graph', async () => {
    const p = join(dir, 'nograph.onnx');
    writeFileSync(p, encodeMessage('ModelProto', { irVersion: 8, producerName: 'x' }));
    await expectMlcError(loadModel(p), 'INPUT', /nograph\.onnx: not a valid ONNX model \(it has no graph\)/);
  });
});

describe('writes', () => {
  const leftovers = (d: string) => readdirSync(d).filter((f) => f.includes('.tmp'));

  it('writes atomically and leaves no temp file', async () => {
    const p = join(dir, 'atomic.bin');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(p, [new Uint8Array([4]), new Uint8Array([5, 6])]);
    expect([...readFileSync(p)]).toEqual([4, 5, 6]);
    expect(leftovers(dir)).toEqual([]);
  });

  it('missing output folder', async () => {
    const p = join(dir, 'no', 'such', 'out.onnx');
    await expectMlcError(saveModel(mlp(), p), 'OUTPUT', /output folder .* does not exist/);
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });

  it('output path is a directory', async () => {
    const d = join(dir, 'isdir.onnx');
    mkdirSync(d);
    await expectMlcError(saveModel(mlp(), d), 'OUTPUT', /is a directory/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('unwritable output', async () => {
    let target: string;
    let cleanup = () => {};
    if (process.getuid?.() === 0) {
      // root ignores file modes; sysfs refuses new files even to root
      target = '/sys/mlc-io-test.onnx';
    } else {
      const ro = join(dir, 'readonly');
      mkdirSync(ro);
      chmodSync(ro, 0o555);
      cleanup = () => chmodSync(ro, 0o755);
      target = join(ro, 'out.onnx');
    }
    try {
      await expectMlcError(saveModel(mlp(), target), 'OUTPUT', /cannot write \((permission denied|read-only file system)\)/);
      expect(existsSync(target)).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('refuses to overwrite the input unless forced', async () => {
    const p = join(dir, 'input.onnx');
    await saveModel(mlp(), p);
    const before = readFileSync(p);
    const m = await loadModel(p);
    m.producerName = 'changed';
    await expectMlcError(saveModel(m, p, { inputPath: p }), 'OUTPUT', /refusing to overwrite the input model/);
    await expectMlcError(saveModel(m, join(dir, '.', 'input.onnx'), { inputPath: p }), 'OUTPUT', /refusing/);
    expect(readFileSync(p).equals(before)).toBe(true);
    await saveModel(m, p, { inputPath: p, force: true });
    expect((await loadModel(p)).producerName).toBe('changed');
  });
});
