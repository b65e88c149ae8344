/** Text layout helpers for CLI output (numbers are formatted by src/bench/format.ts). */

export function formatShape(shape: readonly (number | string | null)[] | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** Left-aligned columns; `right` lists column indexes to right-align. */
export function table(rows: string[][], right: number[] = []): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((r) =>
    r
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i] - visibleLength(cell));
        if (i === r.length - 1 && !right.includes(i)) return cell;
        return right.includes(i) ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd(),
  );
}

function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}
