// Plain-text tables and number formatting for terminal output.

/** A left/right aligned text table (numbers right-aligned). */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const cells = rows.map((row) => row.map((v) => (v === null ? '-' : String(v))));
  const numeric = headers.map((_, c) => rows.every((row) => row[c] === null || typeof row[c] === 'number' || /^[\d.,%+-]+$/.test(String(row[c]))));
  const widths = headers.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]?.length ?? 0)));
  const line = (values: readonly string[]): string =>
    values.map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** 0.4167 -> '41.7%'. */
export function percent(value: number): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : '-';
}

/** Fixed decimals, '-' for non-finite. */
export function fixed(value: number | null | undefined, digits: number): string {
  return value !== null && value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** 1234567 -> '1,234,567'. */
export function grouped(value: number): string {
  return value.toLocaleString('en-US');
}

/** Bytes as B / KiB / MiB / GiB / TiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'an unbounded amount';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes < 1024 ** 4) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${(bytes / 1024 ** 4).toFixed(1)} TiB`;
}
