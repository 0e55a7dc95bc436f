// The figures the project reports, as SVG strings: NIAH heat map, line charts (loss curves,
// per-position perplexity), grouped bar charts (ablations) and a per-token surprise chart.

import { axes, escapeXml, formatNumber, formatTokens, legend, linearScale, logScale, niceDomain, px, SERIES_COLORS, svgDocument, textWidth, type Scale } from './svg.ts';

const VIRIDIS: readonly [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Viridis colour for t in [0, 1] (perceptually even, readable in grey and by colour-blind readers). */
export function viridis(t: number): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const scaled = clamped * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(scaled));
  const f = scaled - i;
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[i + 1]!];
  const hex = (k: number): string => Math.round(a[k]! + (b[k]! - a[k]!) * f).toString(16).padStart(2, '0');
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

/** Text colour that stays readable on a viridis cell. */
function labelColor(t: number): string {
  return t > 0.55 ? '#1a1a1a' : '#ffffff';
}

export interface HeatmapOptions {
  title: string;
  /** values[row][column]; NaN = no data (hatched grey). */
  values: readonly (readonly number[])[];
  rowLabels: readonly string[];
  columnLabels: readonly string[];
  rowTitle?: string;
  columnTitle?: string;
  /** Value range mapped onto the colour scale (default [0, 1]). */
  domain?: readonly [number, number];
  /** Text in each cell (default: value as a percentage). */
  formatValue?: (value: number) => string;
  legendTitle?: string;
  width?: number;
  height?: number;
}

/** A heat map with cell values and a colour legend (e.g. NIAH accuracy: depth x length). */
export function heatmapSvg(options: HeatmapOptions): string {
  const { values, rowLabels, columnLabels } = options;
  const rows = rowLabels.length;
  const cols = columnLabels.length;
  if (rows === 0 || cols === 0) throw new RangeError('heatmapSvg: need at least one row and one column');
  if (values.length !== rows || values.some((r) => r.length !== cols)) throw new RangeError(`heatmapSvg: values must be ${rows} x ${cols}`);
  const [d0, d1] = options.domain ?? [0, 1];
  const format = options.formatValue ?? ((v: number) => `${Math.round(v * 100)}`);
  const rowLabelWidth = Math.max(...rowLabels.map((l) => textWidth(l, 11)));
  const area = { left: Math.max(70, rowLabelWidth + 48), top: 60, width: 0, height: 0 };
  const width = options.width ?? Math.max(420, area.left + cols * 64 + 110);
  const height = options.height ?? Math.max(280, area.top + rows * 36 + 64);
  area.width = width - area.left - 110;
  area.height = height - area.top - 64;
  const cellW = area.width / cols;
  const cellH = area.height / rows;
  const parts: string[] = [
    '<defs><pattern id="nodata" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cccccc" stroke-width="2"/></pattern>',
    `<linearGradient id="heat-scale" x1="0" y1="1" x2="0" y2="0">${[0, 0.25, 0.5, 0.75, 1].map((t) => `<stop offset="${t}" stop-color="${viridis(t)}"/>`).join('')}</linearGradient></defs>`,
  ];
  const fontSize = Math.max(9, Math.min(13, cellH * 0.42, cellW * 0.3));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r]![c]!;
      const x = area.left + c * cellW;
      const y = area.top + r * cellH;
      const t = (v - d0) / (d1 - d0 || 1);
      const fill = Number.isFinite(v) ? viridis(t) : 'url(#nodata)';
      parts.push(`<rect x="${px(x)}" y="${px(y)}" width="${px(cellW)}" height="${px(cellH)}" fill="${fill}" stroke="#ffffff" stroke-width="1"><title>${escapeXml(`${rowLabels[r]} / ${columnLabels[c]}: ${Number.isFinite(v) ? format(v) : 'no data'}`)}</title></rect>`);
      if (Number.isFinite(v) && cellH >= 14 && cellW >= 22) {
        parts.push(`<text x="${px(x + cellW / 2)}" y="${px(y + cellH / 2 + fontSize * 0.35)}" text-anchor="middle" font-size="${px(fontSize)}" fill="${labelColor(t)}">${escapeXml(format(v))}</text>`);
      }
    }
  }
  for (let r = 0; r < rows; r++) {
    parts.push(`<text x="${px(area.left - 8)}" y="${px(area.top + (r + 0.5) * cellH + 4)}" text-anchor="end" font-size="11" fill="#444444">${escapeXml(rowLabels[r]!)}</text>`);
  }
  for (let c = 0; c < cols; c++) {
    parts.push(`<text x="${px(area.left + (c + 0.5) * cellW)}" y="${px(area.top + area.height + 18)}" text-anchor="middle" font-size="11" fill="#444444">${escapeXml(columnLabels[c]!)}</text>`);
  }
  if (options.columnTitle) parts.push(`<text x="${px(area.left + area.width / 2)}" y="${px(area.top + area.height + 42)}" text-anchor="middle" font-size="13" fill="#222222">${escapeXml(options.columnTitle)}</text>`);
  if (options.rowTitle) {
    const cx = area.left - rowLabelWidth - 26;
    const cy = area.top + area.height / 2;
    parts.push(`<text x="${px(cx)}" y="${px(cy)}" text-anchor="middle" font-size="13" fill="#222222" transform="rotate(-90 ${px(cx)} ${px(cy)})">${escapeXml(options.rowTitle)}</text>`);
  }
  // Colour legend: a vertical gradient bar with min, middle and max ticks.
  const barX = area.left + area.width + 28;
  const barH = Math.min(area.height, 180);
  const barY = area.top + (area.height - barH) / 2;
  parts.push(`<rect x="${px(barX)}" y="${px(barY)}" width="14" height="${px(barH)}" fill="url(#heat-scale)" stroke="#999999"/>`);
  for (const t of [0, 0.5, 1]) {
    const y = barY + barH * (1 - t);
    parts.push(`<line x1="${px(barX + 14)}" y1="${px(y)}" x2="${px(barX + 18)}" y2="${px(y)}" stroke="#555555"/>`);
    parts.push(`<text x="${px(barX + 21)}" y="${px(y + 4)}" font-size="11" fill="#444444">${escapeXml(format(d0 + t * (d1 - d0)))}</text>`);
  }
  if (options.legendTitle) parts.push(`<text x="${px(barX + 7)}" y="${px(barY - 10)}" text-anchor="middle" font-size="11" fill="#222222">${escapeXml(options.legendTitle)}</text>`);
  return svgDocument(width, height, options.title, parts.join('\n'));
}

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xTitle?: string;
  yTitle?: string;
  xScale?: 'linear' | 'log2' | 'log10';
  yScale?: 'linear' | 'log10';
  /** Draw a dot on every point (default: when a series has at most 40 points). */
  markers?: boolean;
  xTickFormat?: (value: number) => string;
  yTickFormat?: (value: number) => string;
  yDomain?: readonly [number, number];
  width?: number;
  height?: number;
}

function extent(values: readonly number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return [0, 1];
  return [min, max];
}

function makeScale(kind: 'linear' | 'log2' | 'log10', [min, max]: [number, number], range: [number, number]): Scale {
  if (kind === 'linear') return linearScale(niceDomain(min, max), range);
  return logAxis(kind, [min, max], range);
}

/** Like makeScale, but a linear domain gets 4% headroom so lines never run along the frame. */
function makePaddedScale(kind: 'linear' | 'log2' | 'log10', [min, max]: [number, number], range: [number, number]): Scale {
  if (kind !== 'linear') return logAxis(kind, [min, max], range);
  const pad = (max - min) * 0.04;
  return linearScale(niceDomain(min >= 0 ? Math.max(0, min - pad) : min - pad, max + pad), range);
}

function logAxis(kind: 'log2' | 'log10', [min, max]: [number, number], range: [number, number]): Scale {
  const base = kind === 'log2' ? 2 : 10;
  const lo = base ** Math.floor(Math.log(Math.max(min, Number.MIN_VALUE)) / Math.log(base) + 1e-9);
  const hi = base ** Math.ceil(Math.log(Math.max(max, lo * base)) / Math.log(base) - 1e-9);
  return logScale([lo, hi === lo ? lo * base : hi], range, base);
}

/** Several series over a shared x axis, with a legend (loss curves, per-position perplexity). */
export function lineChartSvg(options: LineChartOptions): string {
  const series = options.series.filter((s) => s.points.length > 0);
  if (series.length === 0) throw new RangeError('lineChartSvg: no points');
  const legendWidth = series.length > 1 ? 44 + Math.max(...series.map((s) => textWidth(s.name, 11))) : 0;
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const area = { left: 72, top: 48, width: width - 72 - 24 - legendWidth, height: height - 48 - 60 };
  const xKind = options.xScale ?? 'linear';
  const yKind = options.yScale ?? 'linear';
  const positive = (kind: string, v: number): boolean => kind === 'linear' || v > 0;
  const allPoints = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && positive(xKind, x) && positive(yKind, y)));
  if (allPoints.length === 0) throw new RangeError('lineChartSvg: no finite points');
  const x = makeScale(xKind, extent(allPoints.map((p) => p[0])), [area.left, area.left + area.width]);
  const y = options.yDomain ? linearScale(options.yDomain, [area.top + area.height, area.top]) : makePaddedScale(yKind === 'log10' ? 'log10' : 'linear', extent(allPoints.map((p) => p[1])), [area.top + area.height, area.top]);
  const xFormat = options.xTickFormat ?? (xKind === 'log2' ? formatTokens : formatNumber);
  const parts = [axes({ area, x, y, xTickFormat: xFormat, ...(options.yTickFormat ? { yTickFormat: options.yTickFormat } : {}), ...(options.xTitle ? { xTitle: options.xTitle } : {}), ...(options.yTitle ? { yTitle: options.yTitle } : {}) })];
  parts.push(`<clipPath id="plot-clip"><rect x="${px(area.left)}" y="${px(area.top - 4)}" width="${px(area.width + 4)}" height="${px(area.height + 8)}"/></clipPath>`);
  series.forEach((s, i) => {
    const color = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]!;
    const points = s.points.filter(([px0, py0]) => Number.isFinite(px0) && Number.isFinite(py0) && positive(xKind, px0) && positive(yKind, py0));
    const d = points.map(([px0, py0], k) => `${k === 0 ? 'M' : 'L'}${px(x(px0))} ${px(y(py0))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round" clip-path="url(#plot-clip)"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (options.markers ?? points.length <= 40) {
      for (const [px0, py0] of points) parts.push(`<circle cx="${px(x(px0))}" cy="${px(y(py0))}" r="3" fill="${color}" stroke="#ffffff" stroke-width="1"/>`);
    }
  });
  if (series.length > 1) {
    parts.push(legend(series.map((s, i) => ({ label: s.name, color: s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]!, ...(s.dashed ? { dashed: true } : {}) })), area.left + area.width + 14, area.top));
  }
  return svgDocument(width, height, options.title, parts.join('\n'));
}

export interface BarSeries {
  name: string;
  values: readonly number[];
  /** Optional [low, high] per category, drawn as error bars. */
  intervals?: readonly (readonly [number, number])[];
  color?: string;
}

export interface BarChartOptions {
  title: string;
  categories: readonly string[];
  series: readonly BarSeries[];
  yTitle?: string;
  xTitle?: string;
  yDomain?: readonly [number, number];
  formatValue?: (value: number) => string;
  width?: number;
  height?: number;
}

/** Grouped bars with value labels and optional error bars (ablations, per-task accuracy). */
export function barChartSvg(options: BarChartOptions): string {
  const { categories, series } = options;
  if (categories.length === 0 || series.length === 0) throw new RangeError('barChartSvg: need categories and series');
  for (const s of series) if (s.values.length !== categories.length) throw new RangeError(`barChartSvg: series '${s.name}' has ${s.values.length} values for ${categories.length} categories`);
  const format = options.formatValue ?? formatNumber;
  const legendWidth = series.length > 1 ? 44 + Math.max(...series.map((s) => textWidth(s.name, 11))) : 0;
  const width = options.width ?? Math.max(480, 120 + categories.length * (series.length * 28 + 24) + legendWidth);
  const height = options.height ?? 400;
  const area = { left: 72, top: 48, width: width - 72 - 24 - legendWidth, height: height - 48 - 60 };
  const allValues = series.flatMap((s) => [...s.values, ...(s.intervals ?? []).flat()]);
  const [, maxValue] = extent(allValues);
  const [minValue] = extent(allValues);
  const y = linearScale(options.yDomain ?? niceDomain(Math.min(0, minValue), Math.max(0, maxValue)), [area.top + area.height, area.top]);
  const groupWidth = area.width / categories.length;
  const barWidth = Math.min(40, (groupWidth * 0.8) / series.length);
  const x = linearScale([0, categories.length], [area.left, area.left + area.width]);
  const parts = [axes({ area, x, y, xTicks: [], grid: true, ...(options.yTitle ? { yTitle: options.yTitle } : {}), ...(options.xTitle ? { xTitle: options.xTitle } : {}) })];
  const zero = y(Math.max(y.domain[0], Math.min(y.domain[1], 0)));
  categories.forEach((category, c) => {
    const groupLeft = area.left + c * groupWidth + (groupWidth - barWidth * series.length) / 2;
    series.forEach((s, k) => {
      const v = s.values[c]!;
      if (!Number.isFinite(v)) return;
      const color = s.color ?? SERIES_COLORS[k % SERIES_COLORS.length]!;
      const bx = groupLeft + k * barWidth;
      const top = Math.min(y(v), zero);
      parts.push(`<rect x="${px(bx + 1)}" y="${px(top)}" width="${px(barWidth - 2)}" height="${px(Math.abs(zero - y(v)))}" fill="${color}"><title>${escapeXml(`${s.name} / ${category}: ${format(v)}`)}</title></rect>`);
      const interval = s.intervals?.[c];
      if (interval) {
        const cx = bx + barWidth / 2;
        parts.push(`<path d="M${px(cx)} ${px(y(interval[0]))} V${px(y(interval[1]))} M${px(cx - 4)} ${px(y(interval[0]))} H${px(cx + 4)} M${px(cx - 4)} ${px(y(interval[1]))} H${px(cx + 4)}" stroke="#333333" stroke-width="1.2" fill="none"/>`);
      }
      const labelY = (interval ? Math.min(y(interval[1]), top) : top) - 4;
      if (barWidth >= 16) parts.push(`<text x="${px(bx + barWidth / 2)}" y="${px(labelY)}" text-anchor="middle" font-size="10" fill="#333333">${escapeXml(format(v))}</text>`);
    });
    parts.push(`<text x="${px(area.left + (c + 0.5) * groupWidth)}" y="${px(area.top + area.height + 18)}" text-anchor="middle" font-size="11" fill="#444444">${escapeXml(category)}</text>`);
  });
  if (series.length > 1) parts.push(legend(series.map((s, k) => ({ label: s.name, color: s.color ?? SERIES_COLORS[k % SERIES_COLORS.length]!, shape: 'box' as const })), area.left + area.width + 14, area.top));
  return svgDocument(width, height, options.title, parts.join('\n'));
}

export interface SurpriseChartOptions {
  title: string;
  /** Surprise per token (e.g. -log p in nats or bits). */
  values: readonly number[];
  /** Token texts; shown under the strip when there are few enough to read. */
  tokens?: readonly string[];
  /** Shaded position ranges [start, end) with a label (e.g. where the needle is). */
  highlights?: readonly { start: number; end: number; label: string }[];
  yTitle?: string;
  xTitle?: string;
  width?: number;
  height?: number;
}

/**
 * Per-token surprise: a line over positions plus a colour strip (bright = surprising), the
 * quantity the neural memory writes on. Token texts are printed when they fit.
 */
export function surpriseChartSvg(options: SurpriseChartOptions): string {
  const { values } = options;
  if (values.length === 0) throw new RangeError('surpriseChartSvg: no values');
  const width = options.width ?? 720;
  const showTokens = options.tokens !== undefined && options.tokens.length === values.length && values.length <= 64;
  const height = options.height ?? (showTokens ? 440 : 400);
  const stripHeight = 18;
  // Below the plot, top to bottom: tick labels, colour strip, token texts, x-axis title.
  const area = { left: 72, top: 60, width: width - 72 - 24, height: height - 60 - 28 - stripHeight - (showTokens ? 44 : 0) - 34 };
  const x = linearScale([0, values.length], [area.left, area.left + area.width]);
  const [, max] = extent(values);
  const y = linearScale(niceDomain(0, Math.max(max * 1.05, 1e-6)), [area.top + area.height, area.top]);
  const parts: string[] = [];
  for (const h of options.highlights ?? []) {
    const x0 = x(Math.max(0, h.start));
    const x1 = x(Math.min(values.length, h.end));
    parts.push(`<rect x="${px(x0)}" y="${px(area.top)}" width="${px(Math.max(2, x1 - x0))}" height="${px(area.height)}" fill="#f28e2b" fill-opacity="0.18"/>`);
    parts.push(`<text x="${px((x0 + x1) / 2)}" y="${px(area.top - 6)}" text-anchor="middle" font-size="11" fill="#b35900">${escapeXml(h.label)}</text>`);
  }
  parts.push(axes({ area, x, y, yTitle: options.yTitle ?? 'surprise (nats)', xTickFormat: formatNumber }));
  parts.push(`<text x="${px(area.left + area.width / 2)}" y="${px(height - 12)}" text-anchor="middle" font-size="13" fill="#222222">${escapeXml(options.xTitle ?? 'token position')}</text>`);
  const step = area.width / values.length;
  const d = values.map((v, i) => `${i === 0 ? 'M' : 'L'}${px(x(i + 0.5))} ${px(y(Number.isFinite(v) ? v : 0))}`).join(' ');
  // Same polyline closed down to zero: a light area under the line.
  parts.push(`<path d="M${px(x(0.5))} ${px(y(0))} L${d.slice(1)} L${px(x(values.length - 0.5))} ${px(y(0))} Z" fill="#4e79a7" fill-opacity="0.15" stroke="none"/>`);
  parts.push(`<path d="${d}" fill="none" stroke="#4e79a7" stroke-width="${values.length > 400 ? 1 : 1.8}" stroke-linejoin="round"/>`);
  // Colour strip below the axis: one cell per token (or per pixel-wide group when dense).
  const stripTop = area.top + area.height + 26;
  const groups = Math.min(values.length, Math.floor(area.width));
  for (let g = 0; g < groups; g++) {
    const from = Math.floor((g * values.length) / groups);
    const to = Math.max(from + 1, Math.floor(((g + 1) * values.length) / groups));
    let peak = 0;
    for (let i = from; i < to; i++) peak = Math.max(peak, Number.isFinite(values[i]!) ? values[i]! : 0);
    parts.push(`<rect x="${px(x(from))}" y="${px(stripTop)}" width="${px(Math.max(step, x(to) - x(from)) + 0.3)}" height="${stripHeight}" fill="${viridis(peak / (y.domain[1] || 1))}"/>`);
  }
  if (showTokens) {
    options.tokens!.forEach((token, i) => {
      const cx = x(i + 0.5);
      const cy = stripTop + stripHeight + 10;
      const label = token.replace(/\s/g, '·').slice(0, 8);
      parts.push(`<text x="${px(cx)}" y="${px(cy)}" font-size="10" fill="#333333" text-anchor="end" transform="rotate(-60 ${px(cx)} ${px(cy)})">${escapeXml(label)}</text>`);
    });
  }
  return svgDocument(width, height, options.title, parts.join('\n'));
}

/** NIAH heat map straight from cell accuracies (rows: depth, columns: context length). */
export function niahHeatmapSvg(options: { title: string; lengths: readonly number[]; depths: readonly number[]; accuracy: readonly (readonly number[])[] }): string {
  return heatmapSvg({
    title: options.title,
    values: options.accuracy,
    rowLabels: options.depths.map((d) => `${Math.round(d * 100)}%`),
    columnLabels: options.lengths.map(formatTokens),
    rowTitle: 'needle depth',
    columnTitle: 'context length (tokens)',
    legendTitle: 'accuracy %',
  });
}
