/**
 * One-dimensional k-means (Lloyd's algorithm) for weight sharing, and the Huffman code length of
 * a symbol stream (the lower bound that storage layouts are compared against).
 *
 * k-means on scalars: the values are sorted once; then every cluster is a contiguous run of the
 * sorted values, bounded by the midpoints between neighbouring centroids, so one iteration is
 * k binary searches and k range means from prefix sums, O(k log n):
 *   assign  i → argmin_j |x_i − c_j|          (run boundaries at (c_j + c_{j+1}) / 2)
 *   update  c_j ← mean{x_i : i assigned to j}  (an empty cluster keeps its centroid)
 * until no centroid moves (or `iterations`). Initializations (Han et al. 2016 compare them):
 *   linear    c_j evenly spaced in [min, max] (keeps the rare large weights, which matter most);
 *   kmeans++  the first centroid uniform, each next one with probability ∝ D(x)², D the distance
 *             to the nearest chosen centroid (Arthur & Vassilvitskii 2007), seeded rng;
 *   density   c_j at the quantiles (j + ½)/k of the values.
 * Values with at most k distinct values are returned as they are (one cluster per value).
 *
 * With `weights` (h_i ≥ 0, one per value): weighted k-means, minimizing Σ h_i (x_i − c_j)² —
 * Hessian-weighted k-means (Choi, El-Khamy & Lee, "Towards the limit of network quantization",
 * 2017) when h_i estimates how much the loss grows per squared error of value i. Assignment is
 * unchanged (the nearest centroid, whatever h_i), the update is the weighted mean Σ h_i x_i / Σ h_i
 * (the plain mean for a cluster whose weights are all 0). `sse` stays unweighted.
 */

export type KMeansInit = 'linear' | 'kmeans++' | 'density';

export interface KMeansResult {
  /** the centroids, ascending */
  centroids: Float64Array;
  /** index into centroids of each input value */
  assign: Uint16Array;
  iterations: number;
  /** Σ (x − c_assign)² */
  sse: number;
}

/** k-means of `values` into at most k clusters (fewer when there are fewer distinct values). */
export function kmeans1d(
  values: ArrayLike<number>,
  k: number,
  opts: { init?: KMeansInit; iterations?: number; rng?: () => number; weights?: ArrayLike<number> } = {},
): KMeansResult {
  if (!(Number.isInteger(k) && k >= 1 && k <= 65535)) throw new RangeError(`k must be an integer in [1, 65535], got ${k}`);
  const n = values.length;
  if (n === 0) return { centroids: new Float64Array(0), assign: new Uint16Array(0), iterations: 0, sse: 0 };
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const x = Float64Array.from(order, (i) => values[i]);
  // distinct values: never more clusters than that
  let distinct = 1;
  for (let i = 1; i < n; i++) if (x[i] !== x[i - 1]) distinct++;
  if (distinct <= k) return exact(values, x, order, distinct);
  const prefix = new Float64Array(n + 1);
  const prefix2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    prefix[i + 1] = prefix[i] + x[i];
    prefix2[i + 1] = prefix2[i] + x[i] * x[i];
  }
  const weighted = opts.weights ? weightedPrefix(x, order, opts.weights) : undefined;
  let c = initCentroids(x, k, opts.init ?? 'linear', opts.rng ?? Math.random);
  const maxIter = opts.iterations ?? 100;
  const start = new Int32Array(k + 1); // cluster j holds sorted values [start[j], start[j+1])
  const bounds = () => {
    start[0] = 0;
    start[k] = n;
    for (let j = 1; j < k; j++) start[j] = lowerBound(x, (c[j - 1] + c[j]) / 2, start[j - 1]);
  };
  let it = 0;
  for (; it < maxIter; it++) {
    bounds();
    let moved = false;
    const next = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      const a = start[j], b = start[j + 1];
      const w = weighted ? weighted.h[b] - weighted.h[a] : 0;
      next[j] = w > 0 ? (weighted!.hx[b] - weighted!.hx[a]) / w : b > a ? (prefix[b] - prefix[a]) / (b - a) : c[j];
      if (next[j] !== c[j]) moved = true;
    }
    c = next;
    c.sort();
    if (!moved) break;
  }
  bounds();
  const assign = new Uint16Array(n);
  let sse = 0;
  for (let j = 0; j < k; j++) {
    const a = start[j], b = start[j + 1];
    for (let s = a; s < b; s++) assign[order[s]] = j;
    const m = b - a;
    if (m) sse += prefix2[b] - prefix2[a] - 2 * c[j] * (prefix[b] - prefix[a]) + m * c[j] * c[j];
  }
  return { centroids: c, assign, iterations: it, sse: Math.max(0, sse) };
}

/** Prefix sums of the weights and of weight × value in sorted order (weighted k-means). */
function weightedPrefix(x: Float64Array, order: number[], weights: ArrayLike<number>): { h: Float64Array; hx: Float64Array } {
  if (weights.length !== x.length) throw new RangeError(`weights: ${weights.length} for ${x.length} values`);
  const h = new Float64Array(x.length + 1);
  const hx = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) {
    const w = weights[order[i]];
    if (!(w >= 0 && Number.isFinite(w))) throw new RangeError(`weights must be finite and ≥ 0, got ${w}`);
    h[i + 1] = h[i] + w;
    hx[i + 1] = hx[i] + w * x[i];
  }
  return { h, hx };
}

/** At most k distinct values: each its own cluster (already shared values stay exactly as they are). */
function exact(values: ArrayLike<number>, x: Float64Array, order: number[], distinct: number): KMeansResult {
  const centroids = new Float64Array(distinct);
  const assign = new Uint16Array(values.length);
  let j = 0;
  centroids[0] = x[0];
  for (let s = 0; s < x.length; s++) {
    if (x[s] !== centroids[j]) centroids[++j] = x[s];
    assign[order[s]] = j;
  }
  return { centroids, assign, iterations: 0, sse: 0 };
}

/** First index i ≥ from with x[i] ≥ v (x ascending). */
function lowerBound(x: Float64Array, v: number, from: number): number {
  let lo = from, hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function initCentroids(x: Float64Array, k: number, init: KMeansInit, rng: () => number): Float64Array {
  const n = x.length;
  const lo = x[0], hi = x[n - 1];
  const c = new Float64Array(k);
  if (init === 'linear') {
    for (let j = 0; j < k; j++) c[j] = k === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * j) / (k - 1);
    return c;
  }
  if (init === 'density') {
    for (let j = 0; j < k; j++) c[j] = x[Math.min(n - 1, Math.floor(((j + 0.5) * n) / k))];
    return c;
  }
  // k-means++ on the sorted values: D² of each value to its nearest chosen centroid
  const d2 = new Float64Array(n).fill(Infinity);
  const chosen: number[] = [];
  let pick = Math.min(n - 1, Math.floor(rng() * n));
  for (let j = 0; j < k; j++) {
    chosen.push(x[pick]);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = (x[i] - x[pick]) ** 2;
      if (d < d2[i]) d2[i] = d;
      total += d2[i];
    }
    if (j === k - 1) break;
    if (total === 0) break;
    let r = rng() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= d2[i];
      if (r < 0) {
        pick = i;
        break;
      }
    }
  }
  // a repeated pick (rounding at the end of the D² walk): fill with values not chosen yet
  const uniq = [...new Set(chosen)];
  for (let i = 0; uniq.length < k && i < n; i++) if (!uniq.includes(x[i])) uniq.push(x[i]);
  return Float64Array.from(uniq.slice(0, k)).sort();
}

/**
 * Bits of an optimal prefix (Huffman) code of `symbols` plus nothing for the table:
 * Σ count(s) · length(s). A single distinct symbol costs 1 bit each (a code needs one bit).
 */
export function huffmanBits(symbols: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < symbols.length; i++) counts.set(symbols[i], (counts.get(symbols[i]) ?? 0) + 1);
  const w = [...counts.values()];
  if (w.length === 0) return 0;
  if (w.length === 1) return w[0];
  // Σ length·count = Σ of the merged weights (each merge adds one bit to every symbol below it)
  const heap = w.sort((a, b) => a - b);
  let bits = 0;
  // two queues: the sorted leaves and the merged nodes (created in non-decreasing order)
  const merged: number[] = [];
  let i = 0, m = 0;
  const take = () => (m >= merged.length || (i < heap.length && heap[i] <= merged[m]) ? heap[i++] : merged[m++]);
  for (let left = heap.length; left > 1; left--) {
    const s = take() + take();
    bits += s;
    merged.push(s);
  }
  return bits;
}
