// The demo's report: an HTML page with the comparison table, loss curves, passkey heat maps
// and per-position perplexity, plus every figure as its own SVG and the raw results as JSON.
import { HtmlReport, barChartSvg, lineChartSvg, writeReport, type LineSeries } from '@titans/eval';
import { formatDuration } from '@titans/models';
import { passkeyHeatmapSvg } from '../evaluation.js';
import { COMPARISON_NOTES, comparisonTable, passkeyDepthTable, type DemoResult } from './demo.js';

/** Moving average over `window` points (skipping missing values), as chart points. */
function smooth(values: readonly (number | null)[], window: number): [number, number][] {
  const points: [number, number][] = [];
  for (let i = 0; i < values.length; i++) {
    let sum = 0;
    let count = 0;
    for (let j = Math.max(0, i - window + 1); j <= i; j++) {
      const v = values[j];
      if (v !== null && v !== undefined && Number.isFinite(v)) {
        sum += v;
        count++;
      }
    }
    if (count > 0) points.push([i + 1, sum / count]);
  }
  return points;
}

/** Writes report.html, report.json and the SVG figures into `out`; returns the files written. */
export function writeDemoReport(out: string, result: DemoResult): string[] {
  const figures: Record<string, string> = {};
  const models = result.models;
  const window = Math.max(1, Math.round(Math.max(...models.map((m) => m.losses.length), 1) / 25));
  const lossSeries: LineSeries[] = models.map((m) => ({ name: m.label, points: smooth(m.losses, window) }));
  if (lossSeries.some((s) => s.points.length > 0)) {
    figures['loss-curves'] = lineChartSvg({ title: `Training loss (moving average over ${window} steps)`, series: lossSeries, xTitle: 'step', yTitle: 'loss (nats/token + answer term)' });
  }
  // Compiled training does not read the answer loss back at every step: its validations' answer loss is the curve then.
  const perStep = models.some((m) => m.answerLosses.some((v) => v !== null));
  const answerSeries: LineSeries[] = models.map((m) => ({
    name: m.label,
    points: perStep ? smooth(m.answerLosses, window) : m.validation.flatMap((v) => (v.answerLoss === null ? [] : [[v.step, v.answerLoss] as [number, number]])),
  }));
  if (answerSeries.some((s) => s.points.length > 0)) {
    figures['answer-loss'] = lineChartSvg({ title: perStep ? 'Training loss on the passkey answer tokens' : 'Validation loss on the passkey answer tokens', series: answerSeries, xTitle: 'step', yTitle: 'nats/token' });
  }
  const validationSeries: LineSeries[] = models.flatMap((m) => [
    { name: m.label, points: m.validation.map((v) => [v.step, v.loss] as [number, number]) },
  ]);
  if (validationSeries.some((s) => s.points.length > 0)) {
    figures['validation-loss'] = lineChartSvg({ title: 'Validation loss (SOTU val text + passkey)', series: validationSeries, xTitle: 'step', yTitle: 'nats/token' });
  }
  for (const m of models) figures[`passkey-${m.key}`] = passkeyHeatmapSvg(m.passkey, `Passkey: ${m.label}`);
  if (models.length > 0) {
    figures['passkey-by-length'] = barChartSvg({
      title: 'Passkey accuracy by prompt length (all depths, 95% CI)',
      categories: result.passkeyLengths.map((l) => `${l} bytes`),
      series: models.map((m) => ({ name: m.label, values: m.passkey.byLength.map((b) => b.accuracy), intervals: m.passkey.byLength.map((b) => b.ci95) })),
      yDomain: [0, 1], yTitle: 'accuracy', formatValue: (v) => `${Math.round(v * 100)}%`,
    });
    const positionSeries: LineSeries[] = models.map((m) => ({ name: m.label, points: m.perplexity.buckets.map((b) => [(b.start + b.end) / 2, b.perplexity] as [number, number]) }));
    if (positionSeries.some((s) => s.points.length > 0)) {
      figures['perplexity-by-position'] = lineChartSvg({ title: 'SOTU test perplexity by position in the stream', series: positionSeries, xTitle: 'position (bytes)', yTitle: 'perplexity' });
    }
  }

  const { headers, rows } = comparisonTable(result);
  const recipe = result.recipe;
  const html = new HtmlReport(`titans demo${result.quick ? ' (quick)' : ''}: Titans MAG vs sliding-window attention`)
    .paragraph(
      `Two byte-level models of about the same size, trained from scratch on this machine (${result.backend}) with the same data and steps: ` +
      `${recipe.data.passkeyRows} compact passkey rows (filler sentences, "The pass key is NNNNN.", then " The pass key is"; loss on the answer only) ` +
      `and ${recipe.data.batchSize - recipe.data.passkeyRows} rows of State of the Union text (1790-1999) per step, ${recipe.data.sequenceLength} bytes each. ` +
      `Both attend over a sliding window of ${recipe.model.window} bytes, so passkeys further back than that are out of the Transformer's direct sight ` +
      `(its ${recipe.model.layers} stacked layers reach a little further); MAG also reads its neural long-term memory, which learns at test time. ` +
      `Evaluation prompts are ${result.passkeyLengths.join(', ')} bytes long. Total time ${formatDuration(result.totalSeconds * 1000)}.`,
    )
    .table(headers, rows, COMPARISON_NOTES.join('. '))
    .heading('Training');
  for (const name of ['loss-curves', 'answer-loss', 'validation-loss']) if (figures[name]) html.figure(figures[name]!);
  html.heading('Passkey retrieval beyond the attention window');
  if (figures['passkey-by-length']) html.figure(figures['passkey-by-length']!);
  const byDepth = passkeyDepthTable(result);
  html.table(byDepth.headers, byDepth.rows, `correct answers per needle depth (0% = start of the prompt, 100% = right before the question); the attention window is ${recipe.model.window} bytes`);
  for (const m of models) html.figure(figures[`passkey-${m.key}`]!, `${m.label} (trained at ${recipe.data.sequenceLength} bytes): accuracy per (passkey depth, prompt length), ${m.passkey.samplesPerCell} samples per cell`);
  html.heading('Held-out text');
  if (figures['perplexity-by-position']) html.figure(figures['perplexity-by-position']!);
  html.heading('Recipe').json('the recipe (apps/cli/src/demo/recipe.ts)', recipe).json('raw results', result);
  return writeReport(out, { name: 'report', result, figures, html });
}
