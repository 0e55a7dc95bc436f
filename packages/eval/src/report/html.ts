// A tiny HTML report builder: headings, paragraphs, tables and inline SVG figures in one
// self-contained file that opens in any browser.

import { escapeXml } from './svg.ts';

export type TableCell = string | number | boolean | null;

export class HtmlReport {
  private readonly blocks: string[] = [];

  constructor(readonly title: string) {}

  heading(text: string, level: 2 | 3 | 4 = 2): this {
    this.blocks.push(`<h${level}>${escapeXml(text)}</h${level}>`);
    return this;
  }

  paragraph(text: string): this {
    this.blocks.push(`<p>${escapeXml(text)}</p>`);
    return this;
  }

  /** Inlines an SVG string (from the chart functions) with an optional caption. */
  figure(svg: string, caption?: string): this {
    const body = svg.replace(/^<\?xml[^>]*>\s*/, '');
    this.blocks.push(`<figure>${body}${caption ? `<figcaption>${escapeXml(caption)}</figcaption>` : ''}</figure>`);
    return this;
  }

  table(headers: readonly string[], rows: readonly (readonly TableCell[])[], caption?: string): this {
    const cell = (v: TableCell): string => {
      if (typeof v === 'number') return `<td class="num">${escapeXml(Number.isInteger(v) ? String(v) : v.toFixed(4).replace(/0+$/, '').replace(/\.$/, ''))}</td>`;
      return `<td>${escapeXml(v === null ? '–' : String(v))}</td>`;
    };
    this.blocks.push(
      `<table>${caption ? `<caption>${escapeXml(caption)}</caption>` : ''}<thead><tr>${headers.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`,
    );
    return this;
  }

  /** A collapsible block with pretty-printed JSON (raw results next to the figures). */
  json(label: string, data: unknown): this {
    this.blocks.push(`<details><summary>${escapeXml(label)}</summary><pre>${escapeXml(toJson(data))}</pre></details>`);
    return this;
  }

  toString(): string {
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(this.title)}</title>
<style>
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 960px; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
figure { margin: 1.5rem 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; } caption { text-align: left; color: #555; padding-bottom: 0.3rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; } th { background: #f5f5f5; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.8rem; overflow: auto; font-size: 0.8rem; }
</style>
</head>
<body>
<h1>${escapeXml(this.title)}</h1>
${this.blocks.join('\n')}
</body>
</html>
`;
  }
}

/** Stable, readable JSON: 2-space indent, non-finite numbers as null, typed arrays as arrays. */
export function toJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (_key, v: unknown) => {
        if (typeof v === 'number' && !Number.isFinite(v)) return null;
        if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
        return v;
      },
      2,
    ) + '\n'
  );
}
