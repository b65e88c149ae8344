// ONNX IO benchmark: serialize / save / load a BERT-base-sized model (~110M float32 parameters,
// ~440 MB), inline and with external data, and check the loaded weights are identical.
// Side by side, `--reps` times each, interleaved (min / median):
//   - load from the path (src/onnx/scan.ts: each big raw_data read straight into its own buffer)
//   - load from the whole file's bytes (what the path route did before: one file-sized buffer,
//     raw_data viewed in place where aligned, copied where not) — with the memory each keeps.
//
//   npm run build && node benchmarks/io.bench.mjs [--layers 12] [--reps 3] [--keep]
//
// The model: token embeddings [30522, 768] (Gather) and `layers` blocks of four 768×768 and two
// 768×3072 / 3072×768 MatMul weights with biases, like BERT-base's parameter layout.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, ModelBuilder } from '../dist/ir/index.js';
import { loadModel, modelToBytes, readModelFile, saveModel } from '../dist/onnx/index.js';

const args = process.argv.slice(2);
const layersArg = args.indexOf('--layers');
const layers = layersArg >= 0 ? Number(args[layersArg + 1]) : 12;
const keep = args.includes('--keep');
const repsArg = args.indexOf('--reps');
const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : 3;

let seed = 1;
function weights(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    a[i] = (seed / 4294967296 - 0.5) * 0.02;
  }
  return a;
}

function build() {
  const H = 768;
  const F = 3072;
  const b = new ModelBuilder({ name: 'bert_like' });
  const ids = b.input('input_ids', DataType.INT64, ['batch', 'seq']);
  let h = b.op('Gather', [b.init('embeddings', [30522, H], weights(30522 * H)), ids]);
  for (let l = 0; l < layers; l++) {
    const lin = (x, i, o, name) => b.op('Add', [b.op('MatMul', [x, b.init(`l${l}.${name}.w`, [i, o], weights(i * o))]), b.init(`l${l}.${name}.b`, [o], weights(o))]);
    const q = lin(h, H, H, 'q');
    const k = lin(h, H, H, 'k');
    const v = lin(h, H, H, 'v');
    const att = lin(b.op('Add', [b.op('Add', [q, k]), v]), H, H, 'o');
    h = lin(b.op('Relu', [lin(att, H, F, 'ff1')]), F, H, 'ff2');
  }
  b.output(h, DataType.FLOAT, ['batch', 'seq', H], 'hidden');
  return b.build();
}

// wall time, and CPU time (user + system) of this process: on a shared machine the CPU time is the
// steadier figure; the difference is waiting (disk, other processes)
const time = async (label, f) => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await f();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  console.log(`${label.padEnd(40)} wall ${(ms / 1000).toFixed(2).padStart(6)} s   cpu ${((c.user + c.system) / 1e6).toFixed(2).padStart(6)} s`);
  return r;
};

const model = await time('build model (fill weights)', () => build());
let params = 0;
for (const t of model.graph.initializers.values()) params += t.size;
console.log(`parameters: ${(params / 1e6).toFixed(1)} M (${model.graph.initializers.size} initializers)`);

const dir = mkdtempSync(join(tmpdir(), 'mlc-io-bench-'));
try {
  const bytes = await time('modelToBytes (in memory)', () => modelToBytes(model));
  console.log(`serialized: ${(bytes.length / 1e6).toFixed(1)} MB`);
  const inline = join(dir, 'bert.onnx');
  await time('saveModel inline (atomic, fsync)', () => saveModel(model, inline));
  const loaded = await time('loadModel inline', () => loadModel(inline));
  const ext = join(dir, 'bert_ext.onnx');
  await time('saveModel with external data', () => saveModel(model, ext, { externalData: true }));
  console.log(`external: model ${statSync(ext).size} B, data ${(statSync(ext + '.data').size / 1e6).toFixed(1)} MB`);
  const loadedExt = await time('loadModel with external data', () => loadModel(ext));
  await time('load + save (inline, no pass)', () => loadModel(inline).then((m) => saveModel(m, join(dir, 'again.onnx'))));

  // side by side: path (scan) vs whole-file bytes, interleaved; memory the loaded model keeps
  const retained = (m) => {
    const bufs = new Set();
    for (const t of m.graph.initializers.values()) bufs.add(t.data.buffer);
    let n = 0;
    for (const b of bufs) n += b.byteLength;
    return n;
  };
  const ways = {
    'load inline from path (scan)': () => loadModel(inline),
    'load inline from whole-file bytes': async () => loadModel(await readModelFile(inline)),
  };
  const wall = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  const kept = {};
  for (let r = 0; r < reps; r++) {
    for (const [k, f] of Object.entries(ways)) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const m = await f();
      wall[k].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[k].push((c.user + c.system) / 1000);
      kept[k] = retained(m);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const sec = (ms) => (ms / 1000).toFixed(2);
  console.log(`\nside by side, ${reps} interleaved runs each (min / median seconds), and the buffers the model keeps:`);
  for (const k of Object.keys(ways)) {
    console.log(
      `${k.padEnd(36)} wall ${sec(Math.min(...wall[k]))} / ${sec(med(wall[k]))}   cpu ${sec(Math.min(...cpu[k]))} / ${sec(med(cpu[k]))}   keeps ${(kept[k] / 1e6).toFixed(0)} MB`,
    );
  }

  // identical weights after both loads
  for (const m of [loaded, loadedExt]) {
    for (const [name, t] of model.graph.initializers) {
      const u = m.graph.initializers.get(name);
      const a = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const c = Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength);
      if (!a.equals(c)) throw new Error(`weights of ${name} differ after load`);
    }
  }
  console.log('weights identical after load (inline and external): yes');
  const mem = process.memoryUsage();
  console.log(`rss ${(mem.rss / 1e6).toFixed(0)} MB, arrayBuffers ${(mem.arrayBuffers / 1e6).toFixed(0)} MB`);
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`files kept in ${dir}`);
}
