// MatMulNBits block packing (the int4 pass and its fidelity probe) on BERT-base's weight shapes:
// the WebAssembly path (W transposed a band at a time, each column's codes written in place) against
// the JavaScript loops (the reference, MLC_NO_WASM=1's path) and, with MLC_PACK_BASELINE=<dir> (the
// dist/ folder of an older build, e.g. `git worktree add /tmp/old <commit> && cd /tmp/old && npm run
// build`), against that build's functions: same inputs, interleaved rounds, one thread.
//
//   npm run build && node benchmarks/pack.bench.mjs [--rounds 7] [--only 4|8|err|table]
//
// Rows: quantizeInt4Blocks (symmetric and asymmetric), quantizeInt8Blocks, the int4 target's row
// errors (quantizeInt4BlocksWithErrors, 256 columns; the baseline: quantizeInt4Blocks then
// int4RowErrors), the same with the 8-bit blocks (what `--int4-target` packs per weight above
// 64 MB; the baseline: then quantizeInt8Blocks) on 768×768, 768×3072 and 3072×768, and
// quantizeTableRows (4 and 8 bits) on the
// 30522×768 word table; min and median ms over the rounds, and the ratio of medians to the
// WebAssembly path. "BERT-base" sums each function over the encoder's 72 MatMul weights (12 layers
// of 4 × 768×768, 768×3072, 3072×768) from the medians. Every path's bytes are compared: exit 1 on
// any difference.
import { loadavg } from 'node:os';

const dist = new URL('../dist/', import.meta.url);
const imp = (base, p) => import(new URL(p, base).href);
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const rounds = Number(arg('rounds', 7));
const only = arg('only', '');

const cur = { quant: await imp(dist, 'math/quant.js'), bq: await imp(dist, 'math/blockquant.js'), wasm: await imp(dist, 'math/wasm.js') };
const { fillNormal, seededRng } = await imp(dist, 'core/rng.js');
const baseDir = process.env.MLC_PACK_BASELINE;
const baseUrl = baseDir && new URL(`file://${baseDir.replace(/\/?$/, '/')}`);
const base = baseUrl && { quant: await imp(baseUrl, 'math/quant.js'), bq: await imp(baseUrl, 'math/blockquant.js') };

const BS = 32;
const COLUMNS = 256;
const shapes = [
  [768, 768, 48],
  [768, 3072, 12],
  [3072, 768, 12],
];
const weights = new Map(shapes.map(([K, N], i) => [`${K}×${N}`, fillNormal(new Float32Array(K * N), seededRng(11 + i), 0.02)]));
const V = 30522;
const H = 768;
const table = fillNormal(new Float32Array(V * H), seededRng(7), 0.02);

const withErrors = (m, eight) => (w, K, N) => m.bq.quantizeInt4BlocksWithErrors(w, K, N, BS, true, COLUMNS, eight);
const rowErrorsAfter = (m, eight) => (w, K, N) => {
  const blocks = m.quant.quantizeInt4Blocks(w, K, N, BS, true);
  const energy = new Float64Array(1);
  const rows = m.bq.int4RowErrors(w, K, N, BS, blocks, COLUMNS, energy);
  return { blocks, rows, energy: energy[0], eight: eight ? m.bq.quantizeInt8Blocks(w, K, N, BS) : undefined };
};
// name, group, function of (module set) → (w, K, N) => result
const fns = [
  ['quantizeInt4Blocks sym', '4', (m) => (w, K, N) => m.quant.quantizeInt4Blocks(w, K, N, BS, true)],
  ['quantizeInt4Blocks asym', '4', (m) => (w, K, N) => m.quant.quantizeInt4Blocks(w, K, N, BS, false)],
  ['quantizeInt8Blocks', '8', (m) => (w, K, N) => m.bq.quantizeInt8Blocks(w, K, N, BS)],
  ['4-bit + row errors', 'err', (m, isBase) => (isBase ? rowErrorsAfter(m, false) : withErrors(m, false))],
  ['4 + 8-bit + row errors', 'err', (m, isBase) => (isBase ? rowErrorsAfter(m, true) : withErrors(m, true))],
].filter(([, g]) => !only || only === g);

/** The bytes of a result, to compare paths. */
function bytesOf(r) {
  const b = r.blocks ?? r;
  const parts = [b.packed, new Uint8Array(b.scales.buffer, b.scales.byteOffset, b.scales.byteLength)];
  if (b.zeroPoints) parts.push(b.zeroPoints);
  if (r.rows) parts.push(new Uint8Array(r.rows.buffer), new Uint8Array(Float64Array.of(r.energy).buffer));
  if (r.eight) parts.push(r.eight.packed, new Uint8Array(r.eight.scales.buffer));
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

/** @type {{ name: string, pick: (f: Function) => Function, wasm: boolean }[]} */
const paths = [
  { name: 'wasm', pick: (f) => f(cur), wasm: true },
  { name: 'js', pick: (f) => f(cur), wasm: false },
  ...(base ? [{ name: 'baseline', pick: (f) => f(base, true), wasm: true }] : []),
];

let failed = false;
const stat = (t) => {
  const s = [...t].sort((a, b) => a - b);
  return { min: s[0], med: s[Math.floor(s.length / 2)] };
};
/** Times each path on `run` (interleaved rounds after one warm-up each); checks the bytes agree. */
function measure(label, make) {
  const t = new Map(paths.map(({ name }) => [name, []]));
  const ref = new Map();
  for (let r = -1; r < rounds; r++) {
    for (const { name: p, pick, wasm } of paths) {
      cur.wasm.useWasmKernels(wasm);
      const run = make(pick);
      const t0 = performance.now();
      const out = run();
      const ms = performance.now() - t0;
      if (r < 0) ref.set(p, bytesOf(out));
      else t.get(p).push(ms);
    }
  }
  cur.wasm.useWasmKernels(true);
  const want = ref.get('wasm');
  for (const [p, b] of ref) {
    if (!b.equals(want)) {
      failed = true;
      console.log(`  ${label}: ${p} bytes differ from the WebAssembly path`);
    }
  }
  const out = {};
  for (const [p, s] of t) out[p] = stat(s);
  return out;
}

const pad = (s, n) => String(s).padEnd(n);
const fmt = (x) => x.toFixed(2).padStart(8);
const head = paths.map(({ name: p }) => `${pad(`${p} min`, 8)} ${pad(`${p} med`, 8)}`).join(' ');
console.log(`block size ${BS}, ${rounds} rounds, load average ${loadavg()[0].toFixed(2)}; ms`);
console.log(`${pad('function', 26)} ${pad('shape', 11)} ${head}  ${paths.slice(1).map(({ name: p }) => `${p}/wasm`).join('  ')}`);
const totals = new Map();
const row = (name, shape, r, count) => {
  const ratios = paths.slice(1).map(({ name: p }) => `${(r[p].med / r.wasm.med).toFixed(2)}×`.padStart(p.length + 5));
  console.log(`${pad(name, 26)} ${pad(shape, 11)} ${paths.map(({ name: p }) => `${fmt(r[p].min)} ${fmt(r[p].med)}`).join(' ')}  ${ratios.join('  ')}`);
  const tot = totals.get(name) ?? Object.fromEntries(paths.map(({ name: p }) => [p, 0]));
  for (const { name: p } of paths) tot[p] += r[p].med * count;
  totals.set(name, tot);
};
for (const [name, , f] of fns) {
  for (const [K, N, count] of shapes) {
    const w = weights.get(`${K}×${N}`);
    row(name, `${K}×${N}`, measure(`${name} ${K}×${N}`, (pick) => () => pick(f)(w, K, N)), count);
  }
}
if (!only || only === 'table') {
  for (const bits of [4, 8]) {
    const name = `quantizeTableRows ${bits}`;
    row(name, `${V}×${H}`, measure(name, (pick) => () => pick((m) => m.bq.quantizeTableRows)(table, V, H, BS, bits)), 1);
  }
}
console.log('\nBERT-base (72 MatMul weights, the word table once), ms from the medians');
for (const [name, tot] of totals) {
  const ratios = paths.slice(1).map(({ name: p }) => `${p}/wasm ${(tot[p] / tot.wasm).toFixed(2)}×`);
  console.log(`${pad(name, 26)} ${paths.map(({ name: p }) => `${p} ${tot[p].toFixed(0)}`).join('  ')}  ${ratios.join('  ')}`);
}
if (failed) {
  console.log('FAILED: some path gave other bytes');
  process.exit(1);
}
