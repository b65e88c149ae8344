/** Number formatting shared by reports, gate messages and `mlc inspect`. Sizes are decimal: 1 MB = 1,000,000 B. */

/** Decimal units (kB = 1000 B), three significant digits. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

/** A duration given in milliseconds, in µs, ms or s, three significant digits. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${formatSignificant(ms * 1000, 3)} µs`;
  if (ms < 1000) return `${formatSignificant(ms, 3)} ms`;
  return `${formatSignificant(ms / 1000, 3)} s`;
}

/** `digits` significant digits, no exponent for ordinary magnitudes. */
export function formatSignificant(v: number, digits: number): string {
  if (v === 0) return '0';
  return String(Number(v.toPrecision(digits)));
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatPercent(f: number, digits = 1): string {
  return `${(f * 100).toFixed(digits)}%`;
}
