// `titans niah <checkpoint>`: the paper's S-NIAH grid (context lengths x needle depths) for
// one checkpoint, printed as a table and written as JSON, an SVG heat map and an HTML page.
import { generateNiahSample } from '@titans/data';
import { HtmlReport, evaluateNiah, niahAccuracyMatrix, niahHeatmapSvg, writeReport } from '@titans/eval';
import { asGenerativeModel } from '@titans/models';
import { EXIT, UsageError, type Command } from '../command.js';
import { selectBackend } from '../backend.js';
import { openCheckpoint } from '../checkpoint.js';
import { formatTable, percent } from '../format.js';
import { choiceValue, depthList, expectPositional, integerList, integerValue, parseArgs } from '../options.js';
import { checkWritableDirectory, makeOutputDirectory, outputDirectory } from '../paths.js';
import { checkLengthsFit } from '../limits.js';
import { createProgress } from '../progress.js';

const usage = `usage: titans niah <checkpoint-dir> [--task pk|n|w] [--lengths L1,L2,...] [--depths N|D1,D2,...] [options]

Runs single-needle-in-a-haystack (RULER S-NIAH) over a grid of context lengths and needle
depths and writes niah.json, niah-heatmap.svg and niah.html into --out.

  --task pk|n|w          pass-key in repeated filler, number in essays, UUID in essays (default pk)
  --lengths L1,L2,...    context lengths in tokens (default 512,1024,2048)
  --depths N|D1,D2,...   N evenly spaced depths from 0% to 100%, or fractions (default 5)
  --samples N            samples per cell (default 2)
  --out DIR              where the report goes (default runs/niah-<timestamp>)
  --allow-revision-mismatch   load weights saved by another revision of the architecture
  --backend cpu|webgpu|auto, --seed N, --json

exit codes: 0 done, 2 bad input`;

export const niahCommand: Command = {
  name: 'niah',
  summary: 'S-NIAH grid (lengths x depths) on a checkpoint; heat map SVG + HTML in --out',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['task', 'lengths', 'depths', 'samples'], flags: ['allow-revision-mismatch'] });
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory');
    const v = parsed.values;
    const task = v.task ? choiceValue('task', v.task, ['pk', 'n', 'w'] as const) : 'pk';
    const lengths = v.lengths ? integerList('lengths', v.lengths, { min: 1 }) : [512, 1024, 2048];
    checkLengthsFit(lengths);
    const depths = v.depths ? depthList('depths', v.depths) : 5;
    const samples = v.samples ? integerValue('samples', v.samples, { min: 1, max: 100_000 }) : 2;
    const out = outputDirectory(parsed.global.out, 'niah', context);
    checkWritableDirectory(out);
    const backend = await selectBackend(parsed.global.backend);
    if (backend.note) context.err(backend.note);
    try {
      const { model, tokenizer, config, dir } = await openCheckpoint(parsed.positional[0]!, context, { allowRevisionMismatch: parsed.flags.has('allow-revision-mismatch') });
      for (const length of lengths) {
        try {
          generateNiahSample({ task, tokenizer, length, depth: 0.5, seed: 0 });
        } catch (error) {
          throw new UsageError(`--lengths ${length}: ${(error as Error).message}`);
        }
      }
      const name = config.architecture;
      const depthCount = typeof depths === 'number' ? depths : depths.length;
      const progress = createProgress(`niah ${name}`, lengths.length * depthCount * samples);
      const result = await evaluateNiah({
        model: asGenerativeModel(model, { name, chunkLength: 256 }), tokenizer, task, lengths, depths, samplesPerCell: samples, seed: parsed.global.seed,
        onProgress: (p) => progress.update(p.done, p.cell),
      });
      progress.finish();
      const matrix = niahAccuracyMatrix(result);
      const svg = niahHeatmapSvg({ title: `S-NIAH-${task.toUpperCase()}: ${name} (${dir.split('/').pop()})`, lengths: result.lengths, depths: result.depths, accuracy: matrix });
      const headers = ['depth', ...result.lengths.map(String)];
      const rows = result.depths.map((d, i) => [`${Math.round(d * 100)}%`, ...matrix[i]!.map(percent)]);
      const html = new HtmlReport(`S-NIAH-${task.toUpperCase()}: ${name}`)
        .paragraph(`checkpoint ${dir}; ${samples} samples per cell; overall accuracy ${percent(result.overall.accuracy)} (95% CI ${percent(result.overall.ci95[0])}-${percent(result.overall.ci95[1])})`)
        .figure(svg, 'accuracy per (needle depth, context length)')
        .table(headers, rows)
        .json('raw results', result);
      makeOutputDirectory(out);
      const files = writeReport(out, { name: 'niah', result, figures: { 'niah-heatmap': svg }, html });
      if (parsed.global.json) context.out(JSON.stringify({ ...result, files }, null, 2));
      else {
        context.out(formatTable(headers, rows));
        context.out(`overall ${percent(result.overall.accuracy)} (${result.overall.correct}/${result.overall.total}); heat map: ${files.find((f) => f.endsWith('.svg'))}`);
      }
      return EXIT.ok;
    } finally {
      backend.close();
    }
  },
};
