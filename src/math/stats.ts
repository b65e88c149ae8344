/** Small statistics on typed arrays. */

/**
 * Cosine similarity of a[off..off+n) and b[off..off+n) (the whole arrays by default):
 * a·b / (|a|·|b|); 1 when both are all-zero, 0 when only one is.
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>, off = 0, n = a.length - off): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = off; i < off + n; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}
