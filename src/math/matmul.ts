/**
 * Dense matrix products on typed arrays (row-major), fast enough for SVDs of transformer weights.
 *
 *   C ← α·op(A)·op(B) + β·C      op(X) = X or Xᵀ;  op(A) is m×k, op(B) is k×n, C is m×n
 *
 * GotoBLAS-style blocking: op(B) is packed into panels of 4 columns (KC×4, contiguous), op(A) into
 * panels of 4 rows, and a 4×4 register-blocked micro-kernel accumulates one C tile over a KC slice
 * of k with both panels in L1. Packing makes the transposed cases as fast as the plain one and turns
 * Float32Array inputs into Float64Array (all arithmetic is in float64).
 *
 * The micro-kernel runs as a small hand-assembled WebAssembly SIMD function (f64x2 multiply + add,
 * the 4×4 tile in eight v128 registers; no fused multiply-add, so results are bit-identical to the
 * plain JavaScript kernel, which is the fallback when WebAssembly SIMD is unavailable). Measured
 * on this machine (one core, Node 20): a whole 423×768 · 768×3072 product at ~20 GFlop/s with the
 * WebAssembly kernel, ~5.5 GFlop/s with the JavaScript one, ~1.7 GFlop/s for a plain i-k-j loop.
 */
import { MlcError } from '../core/errors.js';

export type FloatArray = Float64Array | Float32Array;

const KC = 512; // k slice: fewer slices means fewer passes over the C block
const MC = 128; // rows of op(A) packed at a time: 128×512×8 = 512 KB
const NC = 1024; // columns of op(B) packed at a time: 512×1024×8 = 4 MB

/**
 * C ← α·op(A)·op(B) + β·C (row-major, dense, no leading-dimension padding).
 * A is stored m×k (k×m when transA), B is stored k×n (n×k when transB), C is m×n.
 * With β = 0, C's previous contents are ignored (NaN in C does not propagate).
 */
export function gemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  beta: number,
  c: FloatArray,
): void {
  if (a.length < m * k || b.length < k * n || c.length < m * n) {
    throw new MlcError('INTERNAL', `gemm: buffers too small for ${m}×${k} · ${k}×${n}`);
  }
  if (beta === 0) c.fill(0, 0, m * n);
  else if (beta !== 1) for (let i = 0; i < m * n; i++) c[i] *= beta;
  if (m === 0 || n === 0 || k === 0 || alpha === 0) return;

  const w = backend === 'wasm' ? wasmKernel() : undefined;
  const bp = w ? w.bp : new Float64Array(Math.min(KC, k) * roundUp4(Math.min(NC, n)));
  const ap = w ? w.ap : new Float64Array(Math.min(KC, k) * roundUp4(Math.min(MC, m)));
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let k0 = 0; k0 < k; k0 += KC) {
      const kc = Math.min(KC, k - k0);
      packB(transB, b, k, n, k0, kc, j0, nc, bp);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        packA(transA, a, m, k, i0, mc, k0, kc, ap);
        if (w) {
          w.run(mc, nc, kc);
          scatterTiles(w.tiles, mc, nc, alpha, c, n, i0, j0);
        } else {
          macroKernel(ap, bp, mc, nc, kc, alpha, c, n, i0, j0);
        }
      }
    }
  }
}

let backend: 'wasm' | 'js' = 'wasm';

/**
 * Choose the micro-kernel: 'wasm' (default; falls back to 'js' where WebAssembly SIMD is missing)
 * or 'js'. Both give identical results; this exists for benchmarks and tests.
 */
export function setGemmBackend(b: 'wasm' | 'js'): void {
  backend = b;
}

/** The backend gemm actually uses. */
export function gemmBackend(): 'wasm' | 'js' {
  return backend === 'wasm' && wasmKernel() ? 'wasm' : 'js';
}

interface WasmKernel {
  ap: Float64Array;
  bp: Float64Array;
  tiles: Float64Array;
  run(mc: number, nc: number, kc: number): void;
}

let wasm: WasmKernel | null | undefined;

/** Instantiate the SIMD kernel once; null when WebAssembly SIMD is not available. */
function wasmKernel(): WasmKernel | undefined {
  if (wasm === undefined) {
    try {
      const bytes = kernelModule();
      if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) {
        wasm = null;
      } else {
        const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
        const mem = inst.exports.m as WebAssembly.Memory;
        const k = inst.exports.k as (ap: number, bp: number, cp: number, mb: number, nb: number, kc: number) => void;
        const apLen = MC * KC;
        const bpLen = NC * KC;
        const tilesLen = (MC / 4) * (NC / 4) * 16;
        const pages = Math.ceil(((apLen + bpLen + tilesLen) * 8) / 65536);
        if (mem.buffer.byteLength < pages * 65536) mem.grow(pages - mem.buffer.byteLength / 65536);
        const buf = mem.buffer;
        const ap = new Float64Array(buf, 0, apLen);
        const bp = new Float64Array(buf, apLen * 8, bpLen);
        const tiles = new Float64Array(buf, (apLen + bpLen) * 8, tilesLen);
        wasm = {
          ap,
          bp,
          tiles,
          run: (mc, nc, kc) => k(0, apLen * 8, (apLen + bpLen) * 8, roundUp4(mc) >> 2, roundUp4(nc) >> 2, kc),
        };
      }
    } catch {
      wasm = null;
    }
  }
  return wasm ?? undefined;
}

/** C[i0.., j0..] += α · tiles, where tile (ib, jb) is at index jb·mb + ib, 16 values row-major. */
function scatterTiles(tiles: Float64Array, mc: number, nc: number, alpha: number, c: FloatArray, ldc: number, i0: number, j0: number): void {
  const mb = roundUp4(mc) >> 2;
  const nb = roundUp4(nc) >> 2;
  for (let jb = 0; jb < nb; jb++) {
    const j = j0 + jb * 4;
    const w = Math.min(4, j0 + nc - j);
    for (let ib = 0; ib < mb; ib++) {
      const t = (jb * mb + ib) * 16;
      const i = i0 + ib * 4;
      const h = Math.min(4, i0 + mc - i);
      for (let r = 0; r < h; r++) {
        const o = (i + r) * ldc + j;
        const tr = t + r * 4;
        if (w === 4) {
          c[o] += alpha * tiles[tr];
          c[o + 1] += alpha * tiles[tr + 1];
          c[o + 2] += alpha * tiles[tr + 2];
          c[o + 3] += alpha * tiles[tr + 3];
        } else {
          for (let q = 0; q < w; q++) c[o + q] += alpha * tiles[tr + q];
        }
      }
    }
  }
}

/**
 * The WebAssembly module (binary, assembled here): memory `m` and
 *   k(ap, bp, cp, mb, nb, kc): for jb < nb, ib < mb: tile = Σ_p A[ib][p][0..4] ⊗ B[jb][p][0..4],
 * A / B packed as in packA / packB (byte offsets ap, bp), tiles stored at cp in order jb·mb + ib.
 * Each row r of the tile is two f64x2 accumulators; per p: two v128 loads of B, four splats of A.
 */
function kernelModule(): Uint8Array<ArrayBuffer> {
  const uleb = (n: number): number[] => {
    const o: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      o.push(b);
    } while (n);
    return o;
  };
  const sleb = (n: number): number[] => {
    const o: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...o, b];
      o.push(b | 0x80);
    }
  };
  const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes];
  const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
  const name = (s: string) => [...uleb(s.length), ...[...s].map((ch) => ch.charCodeAt(0))];
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const tee = (i: number) => [0x22, i];
  const i32 = (v: number) => [0x41, ...sleb(v)];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const vload = (off: number) => [...simd(0x00), 3, ...uleb(off)];
  const vstore = (off: number) => [...simd(0x0b), 3, ...uleb(off)];
  const f64load = (off: number) => [0x2b, 3, ...uleb(off)];
  const splat = simd(0x14); // f64x2.splat
  const fadd = simd(0xf0); // f64x2.add
  const fmul = simd(0xf2); // f64x2.mul
  const vzero = [...simd(0x0c), ...new Array<number>(16).fill(0)]; // v128.const 0
  const [ADD, MUL, SHL, LTU, LOOP, END, BR_IF] = [0x6a, 0x6c, 0x74, 0x49, 0x03, 0x0b, 0x0d];
  // params 0..5: ap bp cp mb nb kc; i32 locals 6..12; v128 locals 13..23
  const [AP, BP, CP, MB, NB, KCL, JB, IB, APTR, BPTR, AEND, CPTR, STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const C = (r: number, h: number) => 13 + r * 2 + h;
  const [B01, B23, X] = [21, 22, 23];
  const rows = [0, 1, 2, 3];
  const body = [
    ...get(KCL), ...i32(5), SHL, ...set(STRIDE), // 32 bytes per p
    ...get(CP), ...set(CPTR),
    ...i32(0), ...set(JB),
    LOOP, 0x40,
    ...i32(0), ...set(IB),
    LOOP, 0x40,
    ...rows.flatMap((r) => [0, 1].flatMap((h) => [...vzero, ...set(C(r, h))])),
    ...get(AP), ...get(IB), ...get(STRIDE), MUL, ADD, ...set(APTR),
    ...get(BP), ...get(JB), ...get(STRIDE), MUL, ADD, ...set(BPTR),
    ...get(APTR), ...get(STRIDE), ADD, ...set(AEND),
    LOOP, 0x40,
    ...get(BPTR), ...vload(0), ...set(B01),
    ...get(BPTR), ...vload(16), ...set(B23),
    ...rows.flatMap((r) => [
      ...get(APTR), ...f64load(8 * r), ...splat, ...set(X),
      ...get(C(r, 0)), ...get(X), ...get(B01), ...fmul, ...fadd, ...set(C(r, 0)),
      ...get(C(r, 1)), ...get(X), ...get(B23), ...fmul, ...fadd, ...set(C(r, 1)),
    ]),
    ...get(APTR), ...i32(32), ADD, ...set(APTR),
    ...get(BPTR), ...i32(32), ADD, ...set(BPTR),
    ...get(APTR), ...get(AEND), LTU, BR_IF, 0,
    END,
    ...rows.flatMap((r) => [0, 1].flatMap((h) => [...get(CPTR), ...get(C(r, h)), ...vstore(16 * (2 * r + h))])),
    ...get(CPTR), ...i32(128), ADD, ...set(CPTR),
    ...get(IB), ...i32(1), ADD, ...tee(IB), ...get(MB), LTU, BR_IF, 0,
    END,
    ...get(JB), ...i32(1), ADD, ...tee(JB), ...get(NB), LTU, BR_IF, 0,
    END,
    END,
  ];
  const func = [...vec([[...uleb(7), 0x7f], [...uleb(11), 0x7b]]), ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[0x7f], [0x7f], [0x7f], [0x7f], [0x7f], [0x7f]]), 0x00]])),
    ...section(3, vec([[0x00]])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...name('k'), 0x00, 0x00], [...name('m'), 0x02, 0x00]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
}

function roundUp4(x: number): number {
  return (x + 3) & ~3;
}

/** Pack rows i0..i0+mc of op(A), k-slice k0..k0+kc, as panels [ib][p][4] (missing rows are 0). */
function packA(
  trans: boolean,
  a: ArrayLike<number>,
  m: number,
  k: number,
  i0: number,
  mc: number,
  k0: number,
  kc: number,
  out: Float64Array,
): void {
  const mb = roundUp4(mc) >> 2;
  for (let ib = 0; ib < mb; ib++) {
    const base = ib * kc * 4;
    for (let r = 0; r < 4; r++) {
      const i = i0 + ib * 4 + r;
      if (i >= i0 + mc) {
        for (let p = 0; p < kc; p++) out[base + p * 4 + r] = 0;
      } else if (!trans) {
        const row = i * k + k0; // A[i, k0 + p]
        for (let p = 0; p < kc; p++) out[base + p * 4 + r] = a[row + p];
      } else {
        // A stored k×m: op(A)[i, p] = A[p, i]
        for (let p = 0; p < kc; p++) out[base + p * 4 + r] = a[(k0 + p) * m + i];
      }
    }
  }
}

/** Pack columns j0..j0+nc of op(B), k-slice k0..k0+kc, as panels [jb][p][4] (missing columns are 0). */
function packB(
  trans: boolean,
  b: ArrayLike<number>,
  k: number,
  n: number,
  k0: number,
  kc: number,
  j0: number,
  nc: number,
  out: Float64Array,
): void {
  const nb = roundUp4(nc) >> 2;
  for (let jb = 0; jb < nb; jb++) {
    const base = jb * kc * 4;
    const j = j0 + jb * 4;
    const w = Math.min(4, j0 + nc - j);
    if (!trans) {
      if (w === 4) {
        for (let p = 0, src = k0 * n + j, dst = base; p < kc; p++, src += n, dst += 4) {
          out[dst] = b[src]; // B[k0 + p, j]
          out[dst + 1] = b[src + 1];
          out[dst + 2] = b[src + 2];
          out[dst + 3] = b[src + 3];
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const src = (k0 + p) * n + j;
          const dst = base + p * 4;
          for (let q = 0; q < 4; q++) out[dst + q] = q < w ? b[src + q] : 0;
        }
      }
    } else {
      // B stored n×k: op(B)[p, j] = B[j, p]
      for (let q = 0; q < 4; q++) {
        if (q >= w) {
          for (let p = 0; p < kc; p++) out[base + p * 4 + q] = 0;
        } else {
          const row = (j + q) * k + k0;
          for (let p = 0; p < kc; p++) out[base + p * 4 + q] = b[row + p];
        }
      }
    }
  }
}

/** C[i0.., j0..] += α · Apanels · Bpanels over one KC slice. */
function macroKernel(
  ap: Float64Array,
  bp: Float64Array,
  mc: number,
  nc: number,
  kc: number,
  alpha: number,
  c: FloatArray,
  ldc: number,
  i0: number,
  j0: number,
): void {
  const mb = roundUp4(mc) >> 2;
  const nb = roundUp4(nc) >> 2;
  const stride = kc * 4;
  for (let jb = 0; jb < nb; jb++) {
    const bBase = jb * stride;
    const j = j0 + jb * 4;
    const w = Math.min(4, j0 + nc - j);
    for (let ib = 0; ib < mb; ib++) {
      let ao = ib * stride;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      const aEnd = ao + stride;
      const dB = bBase - ao; // bo = ao + dB: one induction variable in the hot loop
      for (; ao < aEnd; ao += 4) {
        const bo = ao + dB;
        const b0 = bp[bo], b1 = bp[bo + 1], b2 = bp[bo + 2], b3 = bp[bo + 3];
        const x0 = ap[ao], x1 = ap[ao + 1], x2 = ap[ao + 2], x3 = ap[ao + 3];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      const i = i0 + ib * 4;
      const h = Math.min(4, i0 + mc - i);
      const o = i * ldc + j;
      if (h === 4 && w === 4) {
        c[o] += alpha * c00; c[o + 1] += alpha * c01; c[o + 2] += alpha * c02; c[o + 3] += alpha * c03;
        const o1 = o + ldc, o2 = o1 + ldc, o3 = o2 + ldc;
        c[o1] += alpha * c10; c[o1 + 1] += alpha * c11; c[o1 + 2] += alpha * c12; c[o1 + 3] += alpha * c13;
        c[o2] += alpha * c20; c[o2 + 1] += alpha * c21; c[o2 + 2] += alpha * c22; c[o2 + 3] += alpha * c23;
        c[o3] += alpha * c30; c[o3 + 1] += alpha * c31; c[o3 + 2] += alpha * c32; c[o3 + 3] += alpha * c33;
      } else {
        const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
        for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) c[o + r * ldc + q] += alpha * t[r * 4 + q];
      }
    }
  }
}

/** op(A)·op(B) as a new Float64Array (m×n). */
export function matmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  opts: { transA?: boolean; transB?: boolean } = {},
): Float64Array {
  const c = new Float64Array(m * n);
  gemm(!!opts.transA, !!opts.transB, m, n, k, 1, a, b, 0, c);
  return c;
}

/** Transpose of a row-major rows×cols matrix, as a new array of the same kind. */
export function transpose<T extends FloatArray>(a: T, rows: number, cols: number): T {
  const out = new (a.constructor as new (n: number) => T)(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = a[i * cols + j];
    }
  }
  return out;
}

/** Frobenius norm ‖A‖_F (summed in float64). */
export function frobeniusNorm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/**
 * Lower Cholesky factor of a symmetric positive definite K×K matrix, C = L·Lᵀ, in place (row-major;
 * the strict upper triangle is zeroed). Right-looking blocked algorithm: factor a 128-wide diagonal
 * block, solve the panel below it, and update the trailing matrix with one GEMM (T = P·Pᵀ).
 * Throws when a pivot is not positive (tryCholesky returns undefined instead).
 */
export function cholesky(c: Float64Array, K: number): Float64Array {
  const pivot = factorInPlace(c, K);
  if (pivot >= 0) throw new MlcError('INTERNAL', `cholesky: matrix is not positive definite (pivot ${pivot})`);
  return c;
}

/** cholesky(), or undefined when the matrix is not positive definite (c is then overwritten). */
export function tryCholesky(c: Float64Array, K: number): Float64Array | undefined {
  return factorInPlace(c, K) >= 0 ? undefined : c;
}

/**
 * Solve (H + λI)·X = B by Cholesky (H + λI = L·Lᵀ, then L·Z = B and Lᵀ·X = Z), H symmetric
 * positive semi-definite k×k, B k×m (row-major). Returns X (k×m), or undefined when H + λI is not
 * positive definite.
 */
export function choleskySolve(h: ArrayLike<number>, k: number, b: ArrayLike<number>, m: number, lambda: number): Float64Array | undefined {
  const c = Float64Array.from(h);
  for (let i = 0; i < k; i++) c[i * k + i] += lambda;
  const L = tryCholesky(c, k);
  if (!L) return undefined;
  return solveLowerTransposed(L, k, solveLower(L, k, b, m), m);
}

/** Solve L·X = Y for X (K×r) with L lower triangular K×K (row-major), by forward substitution. */
export function solveLower(L: Float64Array, K: number, Y: ArrayLike<number>, r: number): Float64Array {
  const X = Float64Array.from(Y);
  for (let i = 0; i < K; i++) {
    const xi = i * r;
    for (let p = 0; p < i; p++) {
      const l = L[i * K + p];
      if (l === 0) continue;
      const xp = p * r;
      for (let c = 0; c < r; c++) X[xi + c] -= l * X[xp + c];
    }
    const inv = 1 / L[i * K + i];
    for (let c = 0; c < r; c++) X[xi + c] *= inv;
  }
  return X;
}

/** The blocked factorization behind cholesky(): -1 when done, else the first non-positive pivot. */
function factorInPlace(c: Float64Array, K: number): number {
  const NB = 128;
  for (let k0 = 0; k0 < K; k0 += NB) {
    const kb = Math.min(NB, K - k0);
    // 1. diagonal block (already updated by the previous steps)
    for (let j = k0; j < k0 + kb; j++) {
      let d = c[j * K + j];
      for (let p = k0; p < j; p++) d -= c[j * K + p] * c[j * K + p];
      if (!(d > 0)) return j;
      const ljj = Math.sqrt(d);
      c[j * K + j] = ljj;
      for (let i = j + 1; i < k0 + kb; i++) {
        let s = c[i * K + j];
        for (let p = k0; p < j; p++) s -= c[i * K + p] * c[j * K + p];
        c[i * K + j] = s / ljj;
      }
    }
    const rest = K - k0 - kb;
    if (rest === 0) continue;
    // 2. panel: L[i, k0..] · L_kkᵀ = C[i, k0..] for the rows below, copied out contiguously
    const P = new Float64Array(rest * kb);
    for (let r = 0; r < rest; r++) {
      const i = k0 + kb + r;
      for (let j = 0; j < kb; j++) {
        let s = c[i * K + k0 + j];
        for (let p = 0; p < j; p++) s -= P[r * kb + p] * c[(k0 + j) * K + k0 + p];
        const v = s / c[(k0 + j) * K + k0 + j];
        P[r * kb + j] = v;
        c[i * K + k0 + j] = v;
      }
    }
    // 3. trailing update C22 −= P·Pᵀ (lower triangle is what later steps read)
    const T = new Float64Array(rest * rest);
    gemm(false, true, rest, rest, kb, 1, P, P, 0, T);
    for (let r = 0; r < rest; r++) {
      const row = (k0 + kb + r) * K + k0 + kb;
      for (let q = 0; q <= r; q++) c[row + q] -= T[r * rest + q];
    }
  }
  for (let i = 0; i < K; i++) for (let j = i + 1; j < K; j++) c[i * K + j] = 0;
  return -1;
}

/** Solve Lᵀ·X = Y for X (K×r) with L lower triangular K×K (row-major); blocked, products by GEMM. */
export function solveLowerTransposed(L: Float64Array, K: number, Y: ArrayLike<number>, r: number): Float64Array {
  const X = Float64Array.from(Y);
  const NB = 128;
  for (let i1 = K; i1 > 0; i1 -= NB) {
    const i0 = Math.max(0, i1 - NB);
    const b = i1 - i0;
    const below = K - i1;
    if (below > 0) {
      // X_I −= (L[i1.., i0..i1])ᵀ · X[i1..]
      const Lb = new Float64Array(below * b);
      for (let j = 0; j < below; j++) for (let q = 0; q < b; q++) Lb[j * b + q] = L[(i1 + j) * K + i0 + q];
      gemm(true, false, b, r, below, -1, Lb, X.subarray(i1 * r), 1, X.subarray(i0 * r, i1 * r));
    }
    // back substitution inside the block: (Lᵀ)[i, j] = L[j, i]
    for (let i = i1 - 1; i >= i0; i--) {
      const xi = i * r;
      for (let j = i + 1; j < i1; j++) {
        const l = L[j * K + i];
        if (l === 0) continue;
        const xj = j * r;
        for (let c = 0; c < r; c++) X[xi + c] -= l * X[xj + c];
      }
      const inv = 1 / L[i * K + i];
      for (let c = 0; c < r; c++) X[xi + c] *= inv;
    }
  }
  return X;
}
