// Dependency-free SVG building blocks: escaping, number formatting, scales with readable
// ticks, and the frame every chart shares (background, title, axes, grid, axis titles).

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate for an attribute: finite, at most two decimals. */
export function px(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`svg: non-finite coordinate ${value}`);
  return String(Math.round(value * 100) / 100);
}

/** Token counts the way papers write them: 1024 -> '1K', 1048576 -> '1M', 1500 -> '1.5K'. */
export function formatTokens(value: number): string {
  const abs = Math.abs(value);
  const pick = (unit: number, suffix: string): string => `${Number((value / unit).toFixed(unit === 1 ? 0 : 1))}${suffix}`;
  if (abs >= 1 << 20 && value % (1 << 18) === 0) return pick(1 << 20, 'M');
  if (abs >= 1024 && value % 256 === 0) return pick(1024, 'K');
  if (abs >= 1e6) return pick(1e6, 'M');
  if (abs >= 1e4) return pick(1e3, 'K');
  return String(value);
}

/** A short, readable number for ticks and labels. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(1).replace('e+', 'e');
  if (abs >= 1e4) return `${Number((value / 1e3).toFixed(1))}k`;
  if (abs >= 100) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

export interface Scale {
  (value: number): number;
  readonly kind: 'linear' | 'log';
  readonly domain: readonly [number, number];
  readonly range: readonly [number, number];
  ticks(count?: number): number[];
}

/** Round tick step (1, 2 or 5 times a power of ten) for about `count` ticks. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** Domain widened to round numbers, so the axis starts and ends on ticks. */
export function niceDomain(min: number, max: number, count = 5): [number, number] {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return [min - pad, max + pad];
  }
  const step = niceStep(max - min, count);
  return [Math.floor(min / step) * step, Math.ceil(max / step) * step];
}

export function linearScale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  const scale = ((value: number) => r0 + ((value - d0) / span) * (r1 - r0)) as Scale;
  return Object.assign(scale, {
    kind: 'linear' as const,
    domain,
    range,
    ticks(count = 5): number[] {
      const step = niceStep(d1 - d0, count);
      const out: number[] = [];
      for (let v = Math.ceil(d0 / step - 1e-9) * step; v <= d1 + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
      return out;
    },
  });
}

/** Log scale; ticks at powers of `base` (2 for token lengths, 10 otherwise). */
export function logScale(domain: readonly [number, number], range: readonly [number, number], base = 10): Scale {
  const [d0, d1] = domain;
  if (!(d0 > 0 && d1 > 0)) throw new RangeError('logScale: domain must be positive');
  const [r0, r1] = range;
  const l0 = Math.log(d0);
  const span = Math.log(d1) - l0 || 1;
  const scale = ((value: number) => r0 + ((Math.log(value) - l0) / span) * (r1 - r0)) as Scale;
  return Object.assign(scale, {
    kind: 'log' as const,
    domain,
    range,
    ticks(count = 6): number[] {
      const first = Math.ceil(Math.log(d0) / Math.log(base) - 1e-9);
      const last = Math.floor(Math.log(d1) / Math.log(base) + 1e-9);
      const every = Math.max(1, Math.ceil((last - first + 1) / count));
      const out: number[] = [];
      for (let e = first; e <= last; e += every) out.push(base ** e);
      return out;
    },
  });
}

export const FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif";

/** Ten distinguishable series colours (Tableau 10). */
export const SERIES_COLORS: readonly string[] = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Wraps chart markup in an <svg> document with a white background and a title. */
export function svgDocument(width: number, height: number, title: string, body: string, description?: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" font-family="${escapeXml(FONT)}" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    description ? `<desc>${escapeXml(description)}</desc>` : '',
    `<rect x="0" y="0" width="${px(width)}" height="${px(height)}" fill="#ffffff"/>`,
    `<text x="${px(width / 2)}" y="26" text-anchor="middle" font-size="16" font-weight="600" fill="#222222">${escapeXml(title)}</text>`,
    body,
    '</svg>',
  ].join('\n');
}

export interface PlotArea {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export interface AxisOptions {
  readonly area: PlotArea;
  readonly x: Scale;
  readonly y: Scale;
  readonly xTitle?: string;
  readonly yTitle?: string;
  readonly xTickFormat?: (value: number) => string;
  readonly yTickFormat?: (value: number) => string;
  readonly xTicks?: readonly number[];
  readonly yTicks?: readonly number[];
  readonly grid?: boolean;
}

/** Axes with ticks, labels, light grid lines and axis titles. */
export function axes(options: AxisOptions): string {
  const { area, x, y } = options;
  const bottom = area.top + area.height;
  const right = area.left + area.width;
  const xFormat = options.xTickFormat ?? formatNumber;
  const yFormat = options.yTickFormat ?? formatNumber;
  const parts: string[] = [];
  const xTicks = options.xTicks ?? x.ticks();
  const yTicks = options.yTicks ?? y.ticks();
  for (const t of yTicks) {
    const yy = y(t);
    if (yy < area.top - 0.5 || yy > bottom + 0.5) continue;
    if (options.grid ?? true) parts.push(`<line x1="${px(area.left)}" y1="${px(yy)}" x2="${px(right)}" y2="${px(yy)}" stroke="#e6e6e6" stroke-width="1"/>`);
    parts.push(`<line x1="${px(area.left - 5)}" y1="${px(yy)}" x2="${px(area.left)}" y2="${px(yy)}" stroke="#555555"/>`);
    parts.push(`<text x="${px(area.left - 8)}" y="${px(yy + 4)}" text-anchor="end" font-size="11" fill="#444444">${escapeXml(yFormat(t))}</text>`);
  }
  for (const t of xTicks) {
    const xx = x(t);
    if (xx < area.left - 0.5 || xx > right + 0.5) continue;
    if (options.grid ?? true) parts.push(`<line x1="${px(xx)}" y1="${px(area.top)}" x2="${px(xx)}" y2="${px(bottom)}" stroke="#f0f0f0" stroke-width="1"/>`);
    parts.push(`<line x1="${px(xx)}" y1="${px(bottom)}" x2="${px(xx)}" y2="${px(bottom + 5)}" stroke="#555555"/>`);
    parts.push(`<text x="${px(xx)}" y="${px(bottom + 18)}" text-anchor="middle" font-size="11" fill="#444444">${escapeXml(xFormat(t))}</text>`);
  }
  parts.push(`<line x1="${px(area.left)}" y1="${px(bottom)}" x2="${px(right)}" y2="${px(bottom)}" stroke="#555555"/>`);
  parts.push(`<line x1="${px(area.left)}" y1="${px(area.top)}" x2="${px(area.left)}" y2="${px(bottom)}" stroke="#555555"/>`);
  if (options.xTitle) parts.push(`<text x="${px(area.left + area.width / 2)}" y="${px(bottom + 40)}" text-anchor="middle" font-size="13" fill="#222222">${escapeXml(options.xTitle)}</text>`);
  if (options.yTitle) {
    const cx = area.left - 50;
    const cy = area.top + area.height / 2;
    parts.push(`<text x="${px(cx)}" y="${px(cy)}" text-anchor="middle" font-size="13" fill="#222222" transform="rotate(-90 ${px(cx)} ${px(cy)})">${escapeXml(options.yTitle)}</text>`);
  }
  return parts.join('\n');
}

export interface LegendEntry {
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly shape?: 'line' | 'box';
}

/** A legend block (line or box swatches) with its top-left corner at (x, y). */
export function legend(entries: readonly LegendEntry[], x: number, y: number): string {
  const rowHeight = 18;
  const width = 28 + Math.max(...entries.map((e) => textWidth(e.label, 11)));
  const parts = [`<g class="legend"><rect x="${px(x)}" y="${px(y)}" width="${px(width + 12)}" height="${px(entries.length * rowHeight + 8)}" fill="#ffffff" fill-opacity="0.9" stroke="#cccccc" rx="3"/>`];
  entries.forEach((entry, i) => {
    const cy = y + 4 + rowHeight * i + rowHeight / 2;
    if (entry.shape === 'box') parts.push(`<rect x="${px(x + 8)}" y="${px(cy - 5)}" width="14" height="10" fill="${entry.color}"/>`);
    else parts.push(`<line x1="${px(x + 6)}" y1="${px(cy)}" x2="${px(x + 24)}" y2="${px(cy)}" stroke="${entry.color}" stroke-width="2.5"${entry.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    parts.push(`<text x="${px(x + 30)}" y="${px(cy + 4)}" font-size="11" fill="#222222">${escapeXml(entry.label)}</text>`);
  });
  parts.push('</g>');
  return parts.join('\n');
}

/** Rough rendered width of text in a sans-serif font (for layout, no font metrics needed). */
export function textWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.58;
}
