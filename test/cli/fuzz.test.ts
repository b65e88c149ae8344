/**
 * Fuzz: seeded byte-level mutants of small models and of the bundled fixtures (bit flips,
 * truncations, byte inserts / deletes, overwritten runs, corrupted names: op types, attribute
 * names, tensor names), each through `mlc compress` with a random pipeline.
 *
 * Property: every run either succeeds (exit 0) with an output onnxruntime loads, or fails with
 * exit 2 and exactly one error line, and leaves no output and no temporary file behind. Never
 * exit 3, never a stack trace. Most mutants run the real CLI in-process (`run(argv)`, stdout and
 * stderr captured); a small sample is spawned through bin/mlc.js.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/program.js';
import { DataType, ModelBuilder, type Model } from '../../src/ir/index.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { seededRng } from '../../src/passes/pass.js';
import { createSession } from '../../src/runtime/index.js';
import { ROOT, ensureBuilt, mlc, smallMlp, tempDir } from './helpers.js';

const SEED = 20261129;
const PIPELINES: string[][] = [[], ['--quantize', 'int8'], ['--quantize', 'fp16'], ['--prune', '0.5'], ['--quantize', 'uint8']];
const MEASURE = ['--runs', '1', '--warmup', '0', '--batch-size', '2'];

const sinArray = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.5));

function convNet(): Model {
  const b = new ModelBuilder({ opset: 17, name: 'conv' });
  const x = b.input('image', DataType.FLOAT, ['N', 2, 8, 8]);
  const c = b.op('Relu', [b.op('Conv', [x, b.init('conv.w', [4, 2, 3, 3], sinArray(72)), b.init('conv.b', [4], sinArray(4, 3))], { pads: [1, 1, 1, 1] })]);
  const p = b.op('Flatten', [b.op('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2] })]);
  const y = b.op('Gemm', [p, b.init('fc.w', [64, 5], sinArray(320, 0.7)), b.init('fc.b', [5], sinArray(5, 2))]);
  b.output(b.op('Softmax', [y], { axis: 1 }), DataType.FLOAT, ['N', 5], 'probs');
  return b.build();
}

function tokenNet(): Model {
  const b = new ModelBuilder({ opset: 17, name: 'tokens' });
  const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const mask = b.input('attention_mask', DataType.INT64, ['batch', 'sequence']);
  const e = b.op('Gather', [b.init('embeddings', [40, 8], sinArray(320, 0.3)), ids]);
  const m = b.op('Unsqueeze', [b.op('Cast', [mask], { to: DataType.FLOAT }), b.init('axis', [1], BigInt64Array.from([2n]), DataType.INT64)]);
  const h = b.op('MatMul', [b.op('Mul', [e, m]), b.init('proj', [8, 8], sinArray(64, 1.3))]);
  b.output(b.op('LayerNormalization', [h, b.init('ln.g', [8], sinArray(8, 0.1)), b.init('ln.b', [8], new Float32Array(8))], { axis: -1 }), DataType.FLOAT, ['batch', 'sequence', 8], 'hidden');
  return b.build();
}

/** Runs of 3+ identifier characters: op types, attribute names, tensor names, domains. */
function nameRuns(bytes: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= bytes.length; i++) {
    const c = bytes[i];
    const ident = c !== undefined && ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e || (c >= 0x30 && c <= 0x39));
    if (ident && start < 0) start = i;
    else if (!ident && start >= 0) {
      if (i - start >= 3) runs.push([start, i]);
      start = -1;
    }
  }
  return runs;
}

type Mutant = { label: string; bytes: Uint8Array };

function mutate(src: Uint8Array, rng: () => number, names: [number, number][]): Mutant {
  const int = (n: number) => Math.floor(rng() * n);
  const kind = int(7);
  const b = Uint8Array.from(src);
  switch (kind) {
    case 0: {
      const flips = 1 + int(4);
      for (let k = 0; k < flips; k++) {
        const i = int(b.length);
        b[i] ^= 1 << int(8);
      }
      return { label: `flip ${flips} bit(s)`, bytes: b };
    }
    case 1: {
      const n = int(b.length);
      return { label: `truncate to ${n}`, bytes: b.subarray(0, n) };
    }
    case 2: {
      const i = int(b.length + 1);
      const out = new Uint8Array(b.length + 1);
      out.set(b.subarray(0, i));
      out[i] = int(256);
      out.set(b.subarray(i), i + 1);
      return { label: `insert a byte at ${i}`, bytes: out };
    }
    case 3: {
      const i = int(b.length);
      const out = new Uint8Array(b.length - 1);
      out.set(b.subarray(0, i));
      out.set(b.subarray(i + 1), i);
      return { label: `delete byte ${i}`, bytes: out };
    }
    case 4: {
      const i = int(b.length);
      const n = 1 + int(8);
      for (let k = i; k < Math.min(b.length, i + n); k++) b[k] = [0x00, 0xff, 0x7f, 0x80][int(4)];
      return { label: `overwrite ${n} byte(s) at ${i}`, bytes: b };
    }
    default: {
      // corrupt a name: one character changed (op type, attribute, tensor, domain)
      const [s, e] = names[int(names.length)];
      const i = s + int(e - s);
      const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_';
      let c = b[i];
      while (c === b[i]) c = letters.charCodeAt(int(letters.length));
      const before = new TextDecoder().decode(src.subarray(s, e));
      b[i] = c;
      return { label: `rename "${before}" → "${new TextDecoder().decode(b.subarray(s, e))}"`, bytes: b };
    }
  }
}

interface Source {
  name: string;
  bytes: Uint8Array;
  count: number;
}

let dir: string;
let sources: Source[];

beforeAll(() => {
  ensureBuilt();
  dir = tempDir('mlc-fuzz-');
  sources = [
    { name: 'mlp', bytes: modelToBytes(smallMlp()), count: 90 },
    { name: 'conv', bytes: modelToBytes(convNet()), count: 80 },
    { name: 'tokens', bytes: modelToBytes(tokenNet()), count: 80 },
  ];
  const cnn = join(ROOT, 'fixtures/mnist-cnn.onnx');
  if (existsSync(cnn)) sources.push({ name: 'mnist-cnn', bytes: new Uint8Array(readFileSync(cnn)), count: 30 });
  const mlp = join(ROOT, 'fixtures/mnist-mlp.onnx');
  if (existsSync(mlp)) sources.push({ name: 'mnist-mlp', bytes: new Uint8Array(readFileSync(mlp)), count: 10 });
});

afterAll(() => {
  process.exitCode = 0;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every mutant: [source, index, mutant, pipeline] (deterministic from SEED). */
function mutants(): { source: string; mutant: Mutant; pipeline: string[] }[] {
  const rng = seededRng(SEED);
  const out: { source: string; mutant: Mutant; pipeline: string[] }[] = [];
  for (const s of sources) {
    const names = nameRuns(s.bytes);
    for (let i = 0; i < s.count; i++) {
      out.push({ source: s.name, mutant: mutate(s.bytes, rng, names), pipeline: PIPELINES[Math.floor(rng() * PIPELINES.length)] });
    }
  }
  return out;
}

async function ortLoads(path: string): Promise<string | undefined> {
  try {
    await (await createSession(path)).release();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** Check one finished run against the property; returns the violations. */
async function check(code: number, stderr: string, input: string, output: string, what: string): Promise<string[]> {
  const bad: string[] = [];
  const listing = readdirSync(dir).sort();
  const errors = stderr.split('\n').filter((l) => l.startsWith('mlc: ') && !l.startsWith('mlc: warning:'));
  if (/\n\s+at \S+ \(|^\s+at /m.test(stderr)) bad.push(`${what}: a stack trace on stderr`);
  if (code === 0) {
    if (!existsSync(output)) bad.push(`${what}: exit 0 but no output`);
    else {
      const why = await ortLoads(output);
      if (why) bad.push(`${what}: exit 0 but onnxruntime rejects the output: ${why}`);
    }
    if (errors.length) bad.push(`${what}: exit 0 with an error line: ${errors[0]}`);
  } else if (code === 2 || code === 1) {
    if (errors.length !== 1) bad.push(`${what}: exit ${code} with ${errors.length} error lines: ${stderr.slice(0, 300)}`);
    if (code === 2 && existsSync(output)) bad.push(`${what}: exit 2 but an output was written`);
  } else {
    bad.push(`${what}: exit ${code}: ${stderr.trim().split('\n')[0]}`);
  }
  const extra = listing.filter((f) => f !== input.slice(dir.length + 1) && f !== output.slice(dir.length + 1));
  if (extra.length) bad.push(`${what}: files left behind: ${extra.join(', ')}`);
  return bad;
}

describe('fuzz: byte-level mutants through mlc compress', () => {
  it('every run succeeds with a model onnxruntime loads, or fails with exit 2, one line and nothing written', { timeout: 240_000 }, async () => {
    const all = mutants();
    expect(all.length).toBeGreaterThanOrEqual(250);
    const stdout: string[] = [];
    const stderr: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((c: unknown) => (stdout.push(String(c)), true));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation((c: unknown) => (stderr.push(String(c)), true));
    const bad: string[] = [];
    const codes = new Map<number, number>();
    const t0 = performance.now();
    try {
      for (let i = 0; i < all.length; i++) {
        const { source, mutant, pipeline } = all[i];
        const input = join(dir, `m${i}.onnx`);
        const output = join(dir, `m${i}_out.onnx`);
        writeFileSync(input, mutant.bytes);
        stdout.length = 0;
        stderr.length = 0;
        const code = await run(['compress', input, '-o', output, ...pipeline, ...MEASURE]);
        process.exitCode = 0;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        bad.push(...(await check(code, stderr.join(''), input, output, `#${i} ${source} ${mutant.label} [${pipeline.join(' ') || 're-export'}]`)));
        rmSync(input, { force: true });
        rmSync(output, { force: true });
      }
    } finally {
      so.mockRestore();
      se.mockRestore();
    }
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`fuzz: ${all.length} mutants in ${s} s; exit codes ${[...codes].sort().map(([c, n]) => `${c}: ${n}`).join(', ')}; ${bad.length} violations`);
    expect(bad, bad.slice(0, 20).join('\n')).toEqual([]);
    // the mutants exercise both outcomes
    expect(codes.get(0) ?? 0).toBeGreaterThan(20);
    expect(codes.get(2) ?? 0).toBeGreaterThan(20);
  });

  it('a sample through the real binary behaves the same', async () => {
    const sample = mutants().filter((_, i) => i % 41 === 0).slice(0, 6);
    const bad: string[] = [];
    for (const [k, { source, mutant, pipeline }] of sample.entries()) {
      const input = join(dir, `s${k}.onnx`);
      const output = join(dir, `s${k}_out.onnx`);
      writeFileSync(input, mutant.bytes);
      const r = mlc(['compress', input, '-o', output, ...pipeline, ...MEASURE]);
      bad.push(...(await check(r.code, r.stderr, input, output, `spawned ${source} ${mutant.label}`)));
      rmSync(input, { force: true });
      rmSync(output, { force: true });
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });
});
