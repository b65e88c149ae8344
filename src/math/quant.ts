/**
 * Quantization arithmetic on typed arrays (pure; no graphs).
 *
 * Affine quantization maps a real value r to an integer q with a scale s > 0 and a zero point z:
 *
 *     q = clamp(round(r / s) + z, qmin, qmax)        r ≈ s·(q − z)
 *
 * Rounding is round-half-to-even, as ONNX QuantizeLinear does. The real range is always widened to
 * include 0 so that 0 is exactly representable (padding, ReLU). Degenerate ranges (an all-zero or
 * constant-zero channel, a range too small to give a finite positive scale) get s = 1, z = the
 * symmetric midpoint, so that dequantization is exact for the zeros and never divides by zero.
 */

import { type BlocksJob, WASM_MIN, type WasmKernels, wasmKernels } from './wasm.js';

export type QType = 'int8' | 'uint8' | 'int4' | 'uint4';


export interface QRange {
  qmin: number;
  qmax: number;
}

/**
 * Integer range of a type. Symmetric int8 uses the restricted range [-127, 127] (ORT's choice for
 * weights). `reduceRange` gives 8-bit weights 7 bits: int8 [-64, 64], uint8 [0, 127]. An x86 CPU
 * without VNNI multiplies uint8 activations by int8 weights with pairwise 16-bit sums that
 * saturate (255·(|w₁| + |w₂|) must stay ≤ 32767); with |w| ≤ 64 they cannot.
 */
export function qRange(qtype: QType, symmetric = false, reduceRange = false): QRange {
  switch (qtype) {
    case 'int8':
      if (reduceRange) return { qmin: -64, qmax: 64 };
      return symmetric ? { qmin: -127, qmax: 127 } : { qmin: -128, qmax: 127 };
    case 'uint8':
      return reduceRange ? { qmin: 0, qmax: 127 } : { qmin: 0, qmax: 255 };
    case 'int4':
      return symmetric ? { qmin: -7, qmax: 7 } : { qmin: -8, qmax: 7 };
    case 'uint4':
      return { qmin: 0, qmax: 15 };
  }
}

/** Round half to even (numpy.rint, ONNX QuantizeLinear). */
export function rint(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; fix the ties that land on an odd integer
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/**
 * 1.5·2^52: adding and subtracting it rounds a float64 |x| < 2^51 to the nearest integer, ties to
 * even (the FPU's default rounding), without a branch. Larger |x| pass through and are clamped.
 */
const RINT_MAGIC = 6755399441055744;

/** Smallest scale accepted before a range counts as degenerate. */
const MIN_SCALE = 1e-30;

export interface ScaleZp {
  scale: number;
  zeroPoint: number;
}

/**
 * Scale and zero point for the real range [rmin, rmax] (widened to include 0).
 * symmetric: s = max(|rmin|, |rmax|) / ((qmax − qmin) / 2), z = the midpoint of the range (0 for
 * int8, 128 for uint8). asymmetric: s = (rmax − rmin) / (qmax − qmin), z = round(qmin − rmin / s).
 */
export function computeScaleZp(rmin: number, rmax: number, range: QRange, symmetric: boolean): ScaleZp {
  const { qmin, qmax } = range;
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = Number.isFinite(lo) ? lo : -3.4e38;
    hi = Number.isFinite(hi) ? hi : 3.4e38;
  }
  if (symmetric) {
    const absmax = Math.max(-lo, hi);
    const z = Math.ceil((qmin + qmax) / 2);
    const scale = absmax / ((qmax - qmin) / 2);
    if (!(scale >= MIN_SCALE) || !Number.isFinite(scale)) return { scale: 1, zeroPoint: z };
    return { scale, zeroPoint: z };
  }
  const scale = (hi - lo) / (qmax - qmin);
  if (!(scale >= MIN_SCALE) || !Number.isFinite(scale)) return { scale: 1, zeroPoint: clampInt(0, qmin, qmax) };
  const zeroPoint = clampInt(rint(qmin - lo / scale), qmin, qmax);
  return { scale, zeroPoint };
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** q = clamp(round(r / s) + z, qmin, qmax). */
export function quantizeValue(r: number, scale: number, zeroPoint: number, range: QRange): number {
  const v = rint(r / scale) + zeroPoint;
  return v < range.qmin ? range.qmin : v > range.qmax ? range.qmax : v;
}

/** min and max of finite values; [0, 0] for an empty array. NaN values are ignored. */
export function minMax(data: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  let i = 0;
  const f32 = data instanceof Float32Array && data.length >= WASM_MIN ? data : null;
  const wasm = f32 ? wasmKernels() : null;
  if (wasm && f32) {
    // as rows of 4 channels; the lanes' results and the tail below combine the same way
    const n4 = data.length & ~3;
    const mins = new Float64Array(4);
    const maxs = new Float64Array(4);
    wasm.minMaxChannels(f32.subarray(0, n4), 4, mins, maxs);
    for (let k = 0; k < 4; k++) {
      if (mins[k] < lo) lo = mins[k];
      if (maxs[k] > hi) hi = maxs[k];
    }
    i = n4;
  }
  for (; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo > hi ? [0, 0] : [lo, hi];
}

/** True when every value is finite. */
export function allFinite(data: ArrayLike<number>): boolean {
  const wasm = data instanceof Float32Array && data.length >= WASM_MIN ? wasmKernels() : null;
  if (wasm) return wasm.allFinite(data as Float32Array);
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return false;
  return true;
}

/**
 * Per-channel min/max along `axis` of a row-major tensor with shape `dims`.
 * Returns arrays of length dims[axis].
 */
export function minMaxPerChannel(data: ArrayLike<number>, dims: readonly number[], axis: number): { min: Float64Array; max: Float64Array } {
  const c = dims[axis];
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
  const outer = c === 0 ? 0 : data.length / (c * inner);
  const min = new Float64Array(c).fill(Infinity);
  const max = new Float64Array(c).fill(-Infinity);
  const f32 = inner === 1 && data instanceof Float32Array && data.length >= WASM_MIN ? data : null;
  const wasm = f32 ? wasmKernels() : null;
  if (wasm && f32) wasm.minMaxChannels(f32, c, min, max);
  else if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const base = o * c;
      for (let ch = 0; ch < c; ch++) {
        const v = data[base + ch];
        if (v < min[ch]) min[ch] = v;
        if (v > max[ch]) max[ch] = v;
      }
    }
  } else {
    for (let o = 0; o < outer; o++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (o * c + ch) * inner;
        let lo = min[ch];
        let hi = max[ch];
        for (let i = 0; i < inner; i++) {
          const v = data[base + i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        min[ch] = lo;
        max[ch] = hi;
      }
    }
  }
  for (let ch = 0; ch < c; ch++) {
    if (min[ch] > max[ch]) {
      min[ch] = 0;
      max[ch] = 0;
    }
  }
  return { min, max };
}

export interface QuantizedTensor {
  /** Int8Array for int8, Uint8Array for uint8 */
  q: Int8Array | Uint8Array;
  /** one scale per channel (length 1 when per tensor) */
  scale: Float32Array;
  /** one zero point per channel, same typed array kind as q */
  zeroPoint: Int8Array | Uint8Array;
  /** channel axis, or undefined for per-tensor */
  axis?: number;
}

/**
 * Quantize a float tensor to 8 bits, per tensor (axis undefined) or per channel along `axis`.
 * Weights conventionally use symmetric int8; uint8 is asymmetric.
 */
export function quantizeTensor(
  data: Float32Array,
  dims: readonly number[],
  opts: { qtype: 'int8' | 'uint8'; symmetric: boolean; axis?: number; reduceRange?: boolean; pairs?: PairLayout },
): QuantizedTensor {
  const range = qRange(opts.qtype, opts.symmetric, opts.reduceRange);
  const n = data.length;
  const q = opts.qtype === 'int8' ? new Int8Array(n) : new Uint8Array(n);
  // pair-safe symmetric int8: each channel's (or the tensor's) range is its largest pair sum
  const pm = opts.pairs && opts.qtype === 'int8' && opts.symmetric && !opts.reduceRange ? pairRanges(data, dims, opts.pairs, opts.axis) : undefined;
  if (opts.axis === undefined) {
    let [lo, hi] = minMax(data);
    if (pm) {
      hi = pm.reduce((a, b) => (b > a ? b : a), 0);
      lo = -hi;
    }
    const { scale, zeroPoint } = computeScaleZp(lo, hi, range, opts.symmetric);
    quantizeRun(data, q, 0, n, scale, zeroPoint, range);
    const zp = opts.qtype === 'int8' ? Int8Array.of(zeroPoint) : Uint8Array.of(zeroPoint);
    return { q, scale: Float32Array.of(scale), zeroPoint: zp };
  }
  const axis = opts.axis;
  const c = dims[axis];
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
  const outer = c === 0 ? 0 : n / (c * inner);
  const { min, max } = pm ? { min: pm.map((v) => -v), max: pm } : minMaxPerChannel(data, dims, axis);
  const scale = new Float32Array(c);
  const zeroPoint = opts.qtype === 'int8' ? new Int8Array(c) : new Uint8Array(c);
  for (let ch = 0; ch < c; ch++) {
    const p = computeScaleZp(min[ch], max[ch], range, opts.symmetric);
    scale[ch] = p.scale;
    zeroPoint[ch] = p.zeroPoint;
  }
  if (inner === 1) return quantizeLastAxis(data, q, scale, zeroPoint, range, axis);
  for (let o = 0; o < outer; o++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (o * c + ch) * inner;
      // quantize with the float32-rounded scale the model will store
      quantizeRun(data, q, base, base + inner, scale[ch], zeroPoint[ch], range);
    }
  }
  return { q, scale, zeroPoint, axis };
}

/** Channels on the last axis (MatMul weights [K, N], scales per column): one pass over rows. */
function quantizeLastAxis(data: Float32Array, q: Int8Array | Uint8Array, scale: Float32Array, zeroPoint: Int8Array | Uint8Array, range: QRange, axis: number): QuantizedTensor {
  const c = scale.length;
  const n = data.length;
  const outer = c === 0 ? 0 : n / c;
  const { qmin, qmax } = range;
  const inv = new Float64Array(c);
  const zf = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    inv[ch] = 1 / scale[ch];
    zf[ch] = zeroPoint[ch];
  }
  const wasm = n >= WASM_MIN ? wasmKernels() : null;
  if (wasm) {
    wasm.quantize8Channels(data, q, c, inv, zeroPoint, qmin, qmax);
    return { q, scale, zeroPoint, axis };
  }
  for (let o = 0; o < outer; o++) {
    const base = o * c;
    for (let ch = 0; ch < c; ch++) {
      const x = data[base + ch] * inv[ch];
      let v = x + RINT_MAGIC - RINT_MAGIC + zf[ch];
      if (v < qmin) v = qmin;
      else if (v > qmax) v = qmax;
      else if (v !== v) v = zf[ch];
      q[base + ch] = v;
    }
  }
  return { q, scale, zeroPoint, axis };
}

/**
 * Where a weight's pairs of adjacent K values lie, as onnxruntime's int8 GEMMs read them:
 * - 'rows': a MatMul weight [K, N] (pairs of rows (2j, 2j + 1) in each column);
 * - 'columns': a weight [N, K] read transposed (Gemm transB, a tied embedding table [V, H] read by
 *   the LM head): pairs of columns in each row;
 * - 'conv': a Conv filter [M, C, k…]: onnxruntime's QLinearConv reorders it so that K runs over
 *   the kernel positions with the input channels fastest (K = position · C + c) and pairs (2j,
 *   2j + 1) of that order; its indirect (ConvSym) kernels pad the channels of each position, pairing
 *   channels (2i, 2i + 1) of one position. The two agree when C is even; with C odd both are taken.
 *
 * An x86 CPU without VNNI multiplies uint8 activations by int8 weights with vpmaddubsw, which adds
 * the two products of such a pair in 16 bits and saturates: 255·(q₁ + q₂) must stay ≤ 32767. The
 * range pairRanges gives a channel is its largest same-signed pair sum max(w₁⁺ + w₂⁺, w₁⁻ + w₂⁻)
 * (a lone value counts alone, so never less than the largest |w|): with the scale range / 127 the
 * codes of every pair add up to at most 128 after rounding (255 · 128 = 32640), so the product is
 * exact on every CPU, at the price of a scale at most twice the plain absmax / 127 (about 1.4× on
 * Gaussian weights: half a bit, where --reduce-range's [-64, 64] costs a whole one).
 */
export type PairLayout = 'rows' | 'columns' | 'conv';

/** Per channel of `axis` (or one value when per tensor): the range that keeps every pair of the layout within 127 codes; undefined when the axis is not the layout's channel axis. */
export function pairRanges(w: ArrayLike<number>, dims: readonly number[], layout: PairLayout, axis: number | undefined): Float64Array | undefined {
  if (layout === 'conv') {
    if (dims.length < 3 || (axis !== undefined && axis !== 0)) return undefined;
    const M = dims[0];
    const C = dims[1];
    let P = 1;
    for (let i = 2; i < dims.length; i++) P *= dims[i];
    const out = new Float64Array(M);
    for (let m = 0; m < M; m++) {
      const base = m * C * P;
      const at = (kk: number) => w[base + (kk % C) * P + Math.floor(kk / C)]; // K order: position-major, channel fastest
      let best = 0;
      for (let kk = 0; kk < C * P; kk += 2) best = Math.max(best, pairSum(at(kk), kk + 1 < C * P ? at(kk + 1) : 0));
      if (C % 2 === 1) {
        // channels (2i, 2i + 1) of one position, the odd last channel alone
        for (let p = 0; p < P; p++) for (let c = 0; c < C; c += 2) best = Math.max(best, pairSum(w[base + c * P + p], c + 1 < C ? w[base + (c + 1) * P + p] : 0));
      }
      out[m] = best;
    }
    return out;
  }
  if (dims.length !== 2) return undefined;
  const [R, Cn] = dims;
  if (layout === 'rows') {
    if (axis !== undefined && axis !== 1) return undefined;
    const out = new Float64Array(Cn);
    for (let k = 0; k < R; k += 2) {
      for (let n = 0; n < Cn; n++) {
        const m = pairSum(w[k * Cn + n], k + 1 < R ? w[(k + 1) * Cn + n] : 0);
        if (m > out[n]) out[n] = m;
      }
    }
    return out;
  }
  if (axis !== undefined && axis !== 0) return undefined;
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let best = 0;
    for (let c = 0; c < Cn; c += 2) best = Math.max(best, pairSum(w[r * Cn + c], c + 1 < Cn ? w[r * Cn + c + 1] : 0));
    out[r] = best;
  }
  return out;
}

/** The larger same-signed sum of a pair: max(a⁺ + b⁺, a⁻ + b⁻). */
export function pairSum(a: number, b: number): number {
  const pos = (a > 0 ? a : 0) + (b > 0 ? b : 0);
  const neg = (a < 0 ? -a : 0) + (b < 0 ? -b : 0);
  return pos > neg ? pos : neg;
}

function quantizeRun(
  src: Float32Array,
  dst: Int8Array | Uint8Array,
  from: number,
  to: number,
  scale: number,
  zeroPoint: number,
  range: QRange,
): void {
  const inv = 1 / Math.fround(scale);
  const { qmin, qmax } = range;
  const wasm = to - from >= WASM_MIN ? wasmKernels() : null;
  if (wasm) {
    wasm.quantize8(src, dst, from, to, inv, zeroPoint, qmin, qmax);
    return;
  }
  for (let i = from; i < to; i++) {
    const x = src[i] * inv;
    let v = x + RINT_MAGIC - RINT_MAGIC + zeroPoint;
    if (v < qmin) v = qmin;
    else if (v > qmax) v = qmax;
    else if (v !== v) v = zeroPoint; // NaN input
    dst[i] = v;
  }
}

/** Inverse of quantizeTensor: r = s·(q − z) per channel. */
export function dequantizeTensor(qt: QuantizedTensor, dims: readonly number[]): Float32Array {
  const n = qt.q.length;
  const out = new Float32Array(n);
  if (qt.axis === undefined) {
    const s = qt.scale[0];
    const z = qt.zeroPoint[0];
    for (let i = 0; i < n; i++) out[i] = s * (qt.q[i] - z);
    return out;
  }
  const c = dims[qt.axis];
  let inner = 1;
  for (let i = qt.axis + 1; i < dims.length; i++) inner *= dims[i];
  for (let i = 0; i < n; i++) {
    const ch = Math.floor(i / inner) % c;
    out[i] = qt.scale[ch] * (qt.q[i] - qt.zeroPoint[ch]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Calibration: histograms, percentile and entropy (KL) thresholds
// ---------------------------------------------------------------------------------------------

/**
 * A fixed-range histogram of values over [lo, hi] with `bins` equal bins; values outside the range
 * go to the first / last bin. Build the range from a first min/max pass.
 */
export class Histogram {
  readonly counts: Float64Array;
  readonly lo: number;
  readonly hi: number;
  total = 0;

  constructor(lo: number, hi: number, bins = 2048) {
    this.lo = lo;
    this.hi = hi > lo ? hi : lo + 1e-12;
    this.counts = new Float64Array(bins);
  }

  get bins(): number {
    return this.counts.length;
  }

  get binWidth(): number {
    return (this.hi - this.lo) / this.counts.length;
  }

  add(data: ArrayLike<number>): void {
    const b = this.counts.length;
    const inv = b / (this.hi - this.lo);
    const lo = this.lo;
    const counts = this.counts;
    let added = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v !== v) continue;
      let k = Math.floor((v - lo) * inv);
      if (k < 0) k = 0;
      else if (k >= b) k = b - 1;
      counts[k]++;
      added++;
    }
    this.total += added;
  }

  /** add(|x|) without a temporary array */
  addAbs(data: ArrayLike<number>): void {
    const b = this.counts.length;
    const inv = b / (this.hi - this.lo);
    const lo = this.lo;
    const counts = this.counts;
    let added = 0;
    for (let i = 0; i < data.length; i++) {
      const v = Math.abs(data[i]);
      if (v !== v) continue;
      let k = Math.floor((v - lo) * inv);
      if (k < 0) k = 0;
      else if (k >= b) k = b - 1;
      counts[k]++;
      added++;
    }
    this.total += added;
  }

  /** The value below which a fraction `q` (0..1) of the samples lie (linear inside the bin). */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const target = q * this.total;
    let acc = 0;
    for (let k = 0; k < this.counts.length; k++) {
      const c = this.counts[k];
      if (acc + c >= target && c > 0) {
        const f = (target - acc) / c;
        return this.lo + (k + f) * this.binWidth;
      }
      acc += c;
    }
    return this.hi;
  }
}

/**
 * Percentile range: clip the lowest and highest (100 − p)% of samples, e.g. p = 99.99 keeps
 * [quantile(0.0001), quantile(0.9999)]. The range is never wider than the observed min/max.
 */
export function percentileRange(h: Histogram, percentile: number, observed: [number, number]): [number, number] {
  const tail = Math.max(0, Math.min(50, 100 - percentile)) / 100;
  const lo = Math.max(observed[0], h.quantile(tail));
  const hi = Math.min(observed[1], h.quantile(1 - tail));
  return lo <= hi ? [lo, hi] : [observed[0], observed[1]];
}

/**
 * Entropy (KL-divergence) calibration, as in TensorRT's int8 calibrator: over a histogram of |x|
 * with B bins, try thresholds i = L..B (L = number of quantization levels); for each, P is the
 * first i bins with the clipped tail added to bin i−1, Q is P merged into L levels and expanded
 * back over the non-empty bins; pick the threshold minimizing KL(P‖Q).
 *
 * `absHist` must be a histogram over [0, absmax]. Returns the threshold T (the range is then
 * [−T, T] intersected with the observed range).
 *
 * skipZeroBin leaves out the first bin: zeros are exact at any threshold, and the spike a ReLU
 * leaves there otherwise dominates both distributions, so that clipping most of the real range
 * looks cheap (on the MNIST CNN: a 4-point accuracy drop with it, 0.1 without).
 */
export function entropyThreshold(absHist: Histogram, levels = 128, skipZeroBin = false): number {
  const hist = skipZeroBin ? Float64Array.from(absHist.counts, (c, k) => (k === 0 ? 0 : c)) : absHist.counts;
  const B = hist.length;
  const width = absHist.binWidth;
  if (absHist.total === 0 || (skipZeroBin && absHist.total === absHist.counts[0])) return absHist.hi;
  if (B <= levels) return absHist.hi;
  let bestKl = Infinity;
  let bestI = B;
  // coarse step keeps the search O(B²/step) cheap for B = 2048
  const step = Math.max(1, Math.floor(B / 512));
  // suffix[i] = mass of the bins at or beyond i (the clipped tail of threshold i)
  const suffix = new Float64Array(B + 1);
  for (let k = B - 1; k >= 0; k--) suffix[k] = suffix[k + 1] + hist[k];
  const p = new Float64Array(B);
  const q = new Float64Array(B);
  for (let i = levels; i <= B; i += step) {
    // reference distribution P: first i bins, outliers folded into the last one
    for (let k = 0; k < i; k++) p[k] = hist[k];
    p[i - 1] += suffix[i];
    // candidate Q: merge hist[0..i) into `levels` groups, spread each group's mass evenly over
    // its non-empty bins
    const per = i / levels;
    for (let j = 0; j < levels; j++) {
      const start = Math.floor(j * per);
      const end = j === levels - 1 ? i : Math.floor((j + 1) * per);
      let sum = 0;
      let nonzero = 0;
      for (let k = start; k < end; k++) {
        sum += hist[k];
        if (hist[k] !== 0) nonzero++;
      }
      const v = nonzero ? sum / nonzero : 0;
      for (let k = start; k < end; k++) q[k] = hist[k] !== 0 ? v : 0;
    }
    const kl = klDivergence(p, q, i);
    if (kl < bestKl) {
      bestKl = kl;
      bestI = i;
    }
  }
  return Math.min(absHist.hi, bestI * width);
}

/** KL(P‖Q) over the first n entries, both normalized; bins where P = 0 contribute 0, Q = 0 is smoothed. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>, n = p.length): number {
  let sp = 0;
  let sq = 0;
  for (let k = 0; k < n; k++) {
    sp += p[k];
    sq += q[k];
  }
  if (sp === 0 || sq === 0) return Infinity;
  const eps = 1e-10;
  let kl = 0;
  for (let k = 0; k < n; k++) {
    if (p[k] === 0) continue;
    const pk = p[k] / sp;
    const qk = Math.max(q[k] / sq, eps);
    kl += pk * Math.log(pk / qk);
  }
  return kl;
}

// ---------------------------------------------------------------------------------------------
// 4-bit block quantization in onnxruntime's MatMulNBits layout
// ---------------------------------------------------------------------------------------------

export interface Int4Blocks {
  /** [N, kBlocks, blockSize / 2] uint8, two values per byte, element 2i in the low nibble */
  packed: Uint8Array;
  /** [N * kBlocks] float32, block (n, b) at n * kBlocks + b */
  scales: Float32Array;
  /** [N * ceil(kBlocks / 2)] uint8 (asymmetric only), block 2i in the low nibble */
  zeroPoints?: Uint8Array;
  kBlocks: number;
}

/** Empty arrays of the 4-bit MatMulNBits layout for W [K, N] in blocks of blockSize along K. */
export function int4Layout(K: number, N: number, blockSize: number, withZeroPoints: boolean): Int4Blocks & { blob: number; zpStride: number } {
  if (blockSize < 2 || blockSize % 2 !== 0) throw new RangeError(`block size must be even, got ${blockSize}`);
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const zpStride = Math.ceil(kBlocks / 2);
  return {
    packed: new Uint8Array(N * kBlocks * blob),
    scales: new Float32Array(N * kBlocks),
    zeroPoints: withZeroPoints ? new Uint8Array(N * zpStride) : undefined,
    kBlocks,
    blob,
    zpStride,
  };
}

/**
 * For each of the N columns of the row-major [K, N] weights `w`, the value of largest magnitude
 * (sign kept) among rows k0 … k0 + len − 1, into `out` (the extreme a symmetric block scale is
 * taken from; rows are read whole, contiguous).
 */
export function blockColumnExtremes(w: ArrayLike<number>, N: number, k0: number, len: number, out: Float32Array): void {
  out.fill(0);
  for (let r = 0; r < len; r++) {
    const row = (k0 + r) * N;
    for (let n = 0; n < N; n++) {
      const v = w[row + n];
      if (Math.abs(v) > Math.abs(out[n])) out[n] = v;
    }
  }
}

/**
 * Block-wise 4-bit quantization of a row-major weight W [K, N] (MatMul's B) along K, in the layout
 * of com.microsoft MatMulNBits (bits = 4): for column n and block b, the values W[b·bs .. b·bs+bs, n]
 * (zero-padded past K) are packed into packed[n][b][·].
 *
 * symmetric (no zero-point input; the kernel uses z = 8): m = the value with the largest |m| in the
 * block, s = m / −8, q = clamp(round(w / s) + 8, 0, 15), so m itself maps to q = 0 exactly.
 * asymmetric: range [min(0, lo), max(0, hi)], s = (hi − lo) / 15, z = round(−lo / s).
 * Dequantization in both: w ≈ s·(q − z).
 */
export function quantizeInt4Blocks(
  w: Float32Array,
  K: number,
  N: number,
  blockSize: number,
  symmetric = true,
): Int4Blocks {
  const wasm = K * N >= WASM_MIN ? wasmKernels() : null;
  if (wasm) return int4BlocksWasm(wasm, w, K, N, blockSize, symmetric);
  const { packed, scales, zeroPoints, kBlocks, blob, zpStride } = int4Layout(K, N, blockSize, !symmetric);
  // one block row (blockSize rows of W) at a time, reading W row by row (contiguous) rather than
  // column by column: per column n the block's extreme (sym) or range (asym), then its scale, then
  // two rows at a time packed into one byte per column
  const ext = new Float32Array(N);
  const lo = new Float32Array(N);
  const hi = new Float32Array(N);
  const sc = new Float64Array(N);
  const zps = new Float64Array(N);
  const stride = kBlocks * blob;
  const blockScale = (b: number, n: number, e: number, l: number, h: number): [number, number] => {
    let scale: number;
    let zp: number;
    if (symmetric) {
      scale = Math.fround(e / -8);
      zp = 8;
      if (!(Math.abs(scale) >= MIN_SCALE) || !Number.isFinite(scale)) scale = 1;
    } else {
      const p = computeScaleZp(l, h, { qmin: 0, qmax: 15 }, false);
      scale = Math.fround(p.scale);
      zp = p.zeroPoint;
    }
    scales[n * kBlocks + b] = scale;
    if (zeroPoints) zeroPoints[n * zpStride + (b >> 1)] |= (b & 1) === 0 ? zp : zp << 4;
    return [scale, zp];
  };
  for (let b = 0; b < kBlocks; b++) {
    const k0 = b * blockSize;
    const len = Math.min(blockSize, K - k0);
    if (symmetric) {
      blockColumnExtremes(w, N, k0, len, ext);
    } else {
      lo.fill(0);
      hi.fill(0);
      for (let r = 0; r < len; r++) {
        const row = (k0 + r) * N;
        for (let n = 0; n < N; n++) {
          const v = w[row + n];
          if (v < lo[n]) lo[n] = v;
          if (v > hi[n]) hi[n] = v;
        }
      }
    }
    for (let n = 0; n < N; n++) [sc[n], zps[n]] = blockScale(b, n, ext[n], lo[n], hi[n]);
    // q = clamp(rint(w / s) + z, 0, 15) (x + M − M rounds half to even); rows past K are zeros,
    // which quantize to z
    for (let r = 0; r < blockSize; r += 2) {
      const row0 = r < len ? (k0 + r) * N : -1;
      const row1 = r + 1 < len ? (k0 + r + 1) * N : -1;
      let out = b * blob + (r >> 1);
      for (let n = 0; n < N; n++, out += stride) {
        const s = sc[n];
        const z = zps[n];
        let q0 = row0 < 0 ? z : w[row0 + n] / s + RINT_MAGIC - RINT_MAGIC + z;
        if (q0 < 0) q0 = 0;
        else if (q0 > 15) q0 = 15;
        else if (q0 !== q0) q0 = z;
        let q1 = row1 < 0 ? z : w[row1 + n] / s + RINT_MAGIC - RINT_MAGIC + z;
        if (q1 < 0) q1 = 0;
        else if (q1 > 15) q1 = 15;
        else if (q1 !== q1) q1 = z;
        packed[out] = q0 | (q1 << 4);
      }
    }
  }
  return { packed, scales, zeroPoints, kBlocks };
}

/**
 * quantizeInt4Blocks in WebAssembly (W transposed a band at a time: the same arithmetic, the same
 * bytes); with `errors`, also the sums of int4RowErrors on every `errors.step`-th column, with
 * `eight` the 8-bit blocks of quantizeInt8Blocks, from the same pass (see BlocksJob).
 */
export function int4BlocksWasm(
  wasm: WasmKernels,
  w: Float32Array,
  K: number,
  N: number,
  blockSize: number,
  symmetric: boolean,
  errors?: BlocksJob['errors'],
  eight?: BlocksJob['eight'],
): Int4Blocks {
  const { packed, scales, zeroPoints, kBlocks, zpStride } = int4Layout(K, N, blockSize, !symmetric);
  const zb = zeroPoints && new Uint8Array(N * kBlocks);
  wasm.blocks({ w, K, N, bs: blockSize, mode: symmetric ? 'int4' : 'int4-asym', packed, scales, zeroPoints: zb, errors, eight });
  if (zb && zeroPoints) {
    // one a byte → two a byte, block 2i in the low nibble
    for (let n = 0; n < N; n++) {
      for (let b = 0; b < kBlocks; b++) zeroPoints[n * zpStride + (b >> 1)] |= zb[n * kBlocks + b] << ((b & 1) * 4);
    }
  }
  return { packed, scales, zeroPoints, kBlocks };
}

/** Inverse of quantizeInt4Blocks: the dequantized W [K, N]. */
export function dequantizeInt4Blocks(blocks: Int4Blocks, K: number, N: number, blockSize: number): Float32Array {
  const out = new Float32Array(K * N);
  const { packed, scales, zeroPoints, kBlocks } = blocks;
  const blob = blockSize / 2;
  const zpStride = Math.ceil(kBlocks / 2);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const idx = n * kBlocks + b;
      const s = scales[idx];
      let z = 8;
      if (zeroPoints) {
        const byte = zeroPoints[n * zpStride + (b >> 1)];
        z = (b & 1) === 0 ? byte & 0x0f : byte >> 4;
      }
      for (let i = 0; i < blockSize; i++) {
        const k = b * blockSize + i;
        if (k >= K) break;
        const byte = packed[idx * blob + (i >> 1)];
        const q = (i & 1) === 0 ? byte & 0x0f : byte >> 4;
        out[k * N + n] = s * (q - z);
      }
    }
  }
  return out;
}
