// SVD engine benchmark.
//
//   npm run build && node benchmarks/svd.bench.mjs [--exact] [--sweep] [--js]
//
// 1. Target: rank-192 truncated SVD of a 768×3072 matrix with a decaying spectrum in ≤ 2 s, with a
//    relative Frobenius error within 1% of the exact truncated SVD's. The matrix is built from a
//    known SVD (random orthonormal U, V; σ_i given), so the exact truncated error is known
//    analytically (Eckart–Young: √(Σ_{i>r} σ_i² / Σ σ_i²)). Three spectra: exponential, 1/i and
//    1/√i (slow). The randomized engine runs with the pass's defaults (p = max(10, r/10), q = 3).
//    --exact also times ml-matrix's exact SVD on the 1/√i matrix (about 30 s) and reports its error.
// 2. --sweep: exact vs randomized time at ratio 0.25 over a range of shapes — the measurements behind
//    `--svd auto` (randomized from min(m, n) ≥ 256).
import { loadavg } from 'node:os';
import { gemmBackend, matmul, setGemmBackend } from '../dist/math/matmul.js';
import { orthonormalizeRows, relativeError, scaledLeft, svdExact, svdRandomized, truncatedSvd } from '../dist/math/svd.js';
import { seededRng } from '../dist/passes/pass.js';

const args = process.argv.slice(2);
if (args.includes('--js')) setGemmBackend('js'); // the plain JavaScript micro-kernel, for comparison

const rng = (seed = 1) => seededRng(seed);

function known(m, n, sigma, seed) {
  const r = rng(seed);
  const k = sigma.length;
  const Ut = Float64Array.from({ length: k * m }, () => r() - 0.5);
  orthonormalizeRows(Ut, k, m, r);
  const Vt = Float64Array.from({ length: k * n }, () => r() - 0.5);
  orthonormalizeRows(Vt, k, n, r);
  const US = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) US[i * k + c] = Ut[c * m + i] * sigma[c];
  return Float32Array.from(matmul(US, Vt, m, k, n)); // weights are float32
}

function bestError(sigma, r) {
  let tot = 0;
  let tail = 0;
  sigma.forEach((s, i) => {
    tot += s * s;
    if (i >= r) tail += s * s;
  });
  return Math.sqrt(tail / tot);
}

const m = 768;
const n = 3072;
const r = 192;
const spectra = {
  'exp(-i/100)': (i) => Math.exp(-i / 100),
  '1/(1+i)': (i) => 1 / (1 + i),
  '1/sqrt(1+i)': (i) => 1 / Math.sqrt(1 + i),
};
console.log(`GEMM kernel: ${gemmBackend()}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`rank-${r} truncated SVD of a ${m}×${n} float32 matrix (randomized: p = max(10, r/10), q = 3)`);
console.log('spectrum        time ms   rel. error   exact (E–Y)   excess');
let slow;
for (const [name, f] of Object.entries(spectra)) {
  const sigma = Array.from({ length: m }, (_, i) => f(i));
  const a = known(m, n, sigma, 7);
  if (name === '1/sqrt(1+i)') slow = { a, sigma };
  const best = bestError(sigma, r);
  const times = [];
  const cpus = [];
  let err;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const s = truncatedSvd(a, m, n, { rank: r, method: 'randomized', rng: rng(rep + 1) });
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
    err = relativeError(a, m, n, scaledLeft(s), s.Vt, r);
  }
  const t = Math.min(...times);
  console.log(
    `${name.padEnd(14)} ${t.toFixed(0).padStart(7)}   ${err.toFixed(6)}     ${best.toFixed(6)}     ${(100 * (err / best - 1)).toFixed(2)}%` +
      `   (wall: ${times.map((x) => x.toFixed(0)).join(', ')} ms; CPU: ${cpus.map((x) => x.toFixed(0)).join(', ')} ms)`,
  );
}

if (args.includes('--exact')) {
  const t0 = performance.now();
  const s = svdExact(slow.a, m, n);
  const t = performance.now() - t0;
  const L = scaledLeft({ ...s, U: s.U, k: s.k });
  // truncate to r
  const Lr = new Float64Array(m * r);
  for (let i = 0; i < m; i++) for (let c = 0; c < r; c++) Lr[i * r + c] = L[i * s.k + c];
  const err = relativeError(slow.a, m, n, Lr, s.Vt.subarray(0, r * n), r);
  console.log(`exact (ml-matrix) on 1/sqrt(1+i): ${(t / 1000).toFixed(1)} s, rel. error ${err.toFixed(6)} (E–Y ${bestError(slow.sigma, r).toFixed(6)})`);
}

if (args.includes('--sweep')) {
  console.log('\nexact vs randomized at ratio 0.25 (random uniform matrices; time ms, rel. error)');
  console.log('shape          rank   exact ms   rand ms   exact err   rand err');
  for (const [mm, nn] of [
    [64, 256],
    [128, 384],
    [200, 300],
    [256, 256],
    [256, 784],
    [300, 784],
    [512, 512],
    [768, 768],
  ]) {
    const rr = Math.round(0.25 * Math.min(mm, nn));
    const g = rng(mm + nn);
    const a = Float32Array.from({ length: mm * nn }, () => g() - 0.5);
    let t0 = performance.now();
    const e = truncatedSvd(a, mm, nn, { rank: rr, method: 'exact' });
    const te = performance.now() - t0;
    t0 = performance.now();
    const q = svdRandomized(a, mm, nn, rr, { rng: rng(1) });
    const tr = performance.now() - t0;
    const ee = relativeError(a, mm, nn, scaledLeft(e), e.Vt, rr);
    const er = relativeError(a, mm, nn, scaledLeft(q), q.Vt, rr);
    console.log(`${`${mm}×${nn}`.padEnd(14)} ${String(rr).padStart(4)}   ${te.toFixed(0).padStart(8)}   ${tr.toFixed(0).padStart(7)}   ${ee.toFixed(5)}     ${er.toFixed(5)}`);
  }
}
