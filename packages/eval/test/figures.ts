// Example figures shared by the SVG tests (XML and browser rendering).

import { barChartSvg, heatmapSvg, lineChartSvg, niahHeatmapSvg, surpriseChartSvg } from '../src/index.ts';

export function exampleFigures(): Record<string, string> {
  const lengths = [1024, 4096, 16384, 65536, 262144, 1048576];
  const depths = [0, 0.25, 0.5, 0.75, 1];
  const accuracy = depths.map((d) => lengths.map((l, j) => Math.max(0, Math.min(1, 1 - j * 0.12 * (1 - d) - (l > 300000 ? 0.2 : 0)))));
  accuracy[2]![5] = Number.NaN; // a cell without data is drawn hatched
  const steps = Array.from({ length: 60 }, (_, i) => (i + 1) * 50);
  return {
    'niah-heatmap': niahHeatmapSvg({ title: 'S-NIAH-N accuracy (%) — Titans (MAC) <test> & baseline', lengths, depths, accuracy }),
    'custom-heatmap': heatmapSvg({ title: 'Perplexity by layer', values: [[12.5, 30.1], [8.25, 9.5]], rowLabels: ['layer 1', 'layer 2'], columnLabels: ['MAC', 'MAG'], domain: [5, 35], formatValue: (v) => v.toFixed(1), legendTitle: 'ppl' }),
    'loss-curves': lineChartSvg({
      title: 'Training loss',
      xTitle: 'step',
      yTitle: 'loss (nats/token)',
      series: [
        { name: 'Titans (MAC)', points: steps.map((s) => [s, 2 + 3.5 * Math.exp(-s / 600)] as const) },
        { name: 'Transformer++', points: steps.map((s) => [s, 2.2 + 3.5 * Math.exp(-s / 700)] as const) },
        { name: 'Mamba-like', points: steps.map((s) => [s, 2.3 + 3.4 * Math.exp(-s / 500)] as const), dashed: true },
      ],
    }),
    'position-perplexity': lineChartSvg({
      title: 'Perplexity by position',
      xTitle: 'position (tokens)',
      yTitle: 'perplexity',
      xScale: 'log2',
      series: [
        { name: 'with memory', points: [1024, 2048, 4096, 8192, 16384, 32768].map((p, i) => [p, 22 - i * 1.5] as const) },
        { name: 'no memory', points: [1024, 2048, 4096, 8192, 16384, 32768].map((p) => [p, 22] as const) },
      ],
    }),
    'ablation-bars': barChartSvg({
      title: 'Ablations: accuracy by task',
      yTitle: 'accuracy',
      categories: ['S-NIAH-PK', 'S-NIAH-N', 'S-NIAH-W', 'BABILong qa1'],
      yDomain: [0, 1],
      formatValue: (v) => v.toFixed(2),
      series: [
        { name: 'full', values: [0.98, 0.9, 0.84, 0.7], intervals: [[0.93, 1], [0.82, 0.95], [0.75, 0.9], [0.6, 0.78]] },
        { name: 'no momentum', values: [0.95, 0.85, 0.7, 0.62] },
        { name: 'no forgetting', values: [0.9, 0.71, 0.66, 0.5] },
      ],
    }),
    surprise: surpriseChartSvg({
      title: 'Per-token surprise',
      values: Array.from({ length: 48 }, (_, i) => (i >= 20 && i < 27 ? 6 + (i % 3) : 1 + ((i * 7) % 5) * 0.3)),
      tokens: Array.from({ length: 48 }, (_, i) => (i >= 20 && i < 27 ? String(i) : ['The', ' grass', ' is', ' green', '.'][i % 5]!)),
      highlights: [{ start: 20, end: 27, label: 'needle' }],
      yTitle: 'surprise (nats)',
    }),
  };
}
