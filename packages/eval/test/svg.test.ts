import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeXml, formatTokens, HtmlReport, lineChartSvg, linearScale, logScale, niceDomain, toJson, viridis, writeReport } from '../src/index.ts';
import { exampleFigures } from './figures.ts';

const figures = exampleFigures();

describe('SVG figures', () => {
  for (const [name, svg] of Object.entries(figures)) {
    it(`${name} is well-formed XML with a title and no NaN`, () => {
      expect(XMLValidator.validate(svg)).toBe(true);
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
      const parsed = new XMLParser({ ignoreAttributes: false }).parse(svg) as { svg: { title: string } };
      expect(parsed.svg.title.length).toBeGreaterThan(3);
    });
  }

  it('escapes text and draws one labelled cell per heat-map value', () => {
    const svg = figures['niah-heatmap']!;
    expect(svg).toContain('&lt;test&gt; &amp; baseline');
    expect(svg.match(/<rect [^>]*fill="#[0-9a-f]{6}" stroke="#ffffff"/g)).toHaveLength(29); // 30 cells, one without data
    expect(svg).toContain('url(#nodata)');
    for (const label of ['1K', '4K', '16K', '64K', '256K', '1M', '0%', '50%', '100%', 'needle depth', 'context length (tokens)']) expect(svg).toContain(`>${label}<`);
  });

  it('draws a legend entry per series', () => {
    const svg = figures['loss-curves']!;
    for (const name of ['Titans (MAC)', 'Transformer++', 'Mamba-like']) expect(svg).toContain(`>${name}<`);
    expect(svg.match(/<path d="M/g)!.length).toBe(3);
    expect(() => lineChartSvg({ title: 'empty', series: [] })).toThrow(/no points/);
  });
});

describe('SVG helpers', () => {
  it('formats token counts and scales', () => {
    expect([1024, 16384, 1048576, 2097152, 1536, 1000, 12].map(formatTokens)).toEqual(['1K', '16K', '1M', '2M', '1.5K', '1000', '12']);
    expect(niceDomain(0.13, 0.87)).toEqual([0, 1]);
    expect(niceDomain(3, 97)).toEqual([0, 100]);
    expect(niceDomain(2.05, 2.95)).toEqual([2, 3]);
    expect(linearScale([0, 10], [0, 100]).ticks(5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(logScale([1024, 1048576], [0, 100], 2).ticks(6)).toEqual([1024, 4096, 16384, 65536, 262144, 1048576]);
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(viridis(0)).toBe('#440154');
    expect(viridis(1)).toBe('#fde725');
  });
});

describe('reports', () => {
  it('builds an HTML page with figures and tables and writes a bundle', () => {
    const html = new HtmlReport('Run <1>')
      .heading('Needles')
      .paragraph('Accuracy per cell & depth.')
      .figure(figures['niah-heatmap']!, 'S-NIAH heat map')
      .table(['length', 'accuracy'], [[1024, 0.95], [2048, null]])
      .json('raw', { a: Number.NaN, b: new Float32Array([1, 2]) });
    const page = html.toString();
    expect(page).toContain('<title>Run &lt;1&gt;</title>');
    expect(page).toContain('<td class="num">0.95</td>');
    expect(page).toContain('<svg xmlns');
    expect(toJson({ a: Number.NaN, b: new Int32Array([3]) })).toBe('{\n  "a": null,\n  "b": [\n    3\n  ]\n}\n');
    const dir = mkdtempSync(join(tmpdir(), 'titans-report-'));
    const written = writeReport(dir, { name: 'niah', result: { accuracy: 1 }, figures: { heatmap: figures['niah-heatmap']! }, html });
    expect(written).toHaveLength(3);
    expect(readdirSync(dir).sort()).toEqual(['heatmap.svg', 'niah.html', 'niah.json']);
    expect(JSON.parse(readFileSync(join(dir, 'niah.json'), 'utf8'))).toEqual({ accuracy: 1 });
    expect(() => writeReport(dir, { name: '../x', result: {} })).toThrow(/plain file stem/);
  });
});
