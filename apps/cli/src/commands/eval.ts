// `titans eval <checkpoint>`: perplexity / bits per byte, passkey, S-NIAH, BABILong-style and
// MQAR evaluations of a checkpoint, as a table (or JSON), optionally written to --out.
import { babilongTasks, generateBabilongSample, generateNiahSample, generatePasskeySample, type BabilongTask } from '@titans/data';
import {
  HtmlReport, evaluateBabilong, evaluateMqar, niahAccuracyMatrix, niahHeatmapSvg, writeReport,
  type BabilongResult, type MqarResult, type NiahResult, type PerplexityResult,
} from '@titans/eval';
import { asGenerativeModel, asNextTokenModel } from '@titans/models';
import { EXIT, UsageError, type Command } from '../command.js';
import { selectBackend } from '../backend.js';
import { openCheckpoint, type OpenedCheckpoint } from '../checkpoint.js';
import { evaluateCorpusPerplexity, evaluatePasskey, passkeyHeatmapSvg, type PasskeyResult } from '../evaluation.js';
import { fixed, formatTable, percent } from '../format.js';
import { choiceList, choiceValue, depthList, expectPositional, integerList, integerValue, parseArgs } from '../options.js';
import { checkWritableDirectory } from '../paths.js';
import { createProgress } from '../progress.js';
import { resolve } from 'node:path';
import { evaluateNiah } from '@titans/eval';

const TASKS = ['perplexity', 'passkey', 'niah', 'babilong', 'mqar'] as const;
type EvalTask = (typeof TASKS)[number];

const usage = `usage: titans eval <checkpoint-dir> [--tasks ${TASKS.join(',')}] [options]

Evaluates a checkpoint. Long prompts stream through the model's state (memory, caches).

  --tasks LIST           which evaluations (default perplexity,passkey,niah,babilong,mqar)
  --tokens N             perplexity: predictions scored (default 4096)
  --corpus sotu|moby-dick, --split test|val|train   perplexity text (default sotu test)
  --lengths L1,L2        prompt lengths in tokens for passkey, niah, babilong
                         (default: 1x and 2x the training length, at least 512)
  --depths N|D1,D2       needle depths: a count from 0% to 100% or fractions (default 3)
  --samples N            samples per cell (default 2)
  --niah-task pk|n|w     S-NIAH variant (default pk)
  --babilong-tasks LIST  qa1..qa5 (default qa1)
  --mqar-length L, --mqar-pairs N, --mqar-samples N   MQAR (default 128, 8, 16; vocab = the model's)
  --out DIR              also write eval.json, heat maps (SVG) and eval.html there
  --backend cpu|webgpu|auto, --seed N, --json

exit codes: 0 evaluated, 2 bad input`;

interface EvalResults {
  perplexity?: PerplexityResult;
  passkey?: PasskeyResult;
  niah?: NiahResult;
  babilong?: BabilongResult;
  mqar?: MqarResult;
}

/** Compact rows for the summary table. */
function summaryRows(results: EvalResults): (string | number)[][] {
  const rows: (string | number)[][] = [];
  if (results.perplexity) {
    const p = results.perplexity;
    rows.push(['perplexity', `${p.predictions} tokens`, `ppl ${fixed(p.perplexity, 2)}, ${fixed(p.bitsPerByte, 3)} bits/byte`]);
  }
  for (const [name, result] of [['passkey', results.passkey], ['niah', results.niah]] as const) {
    if (!result) continue;
    for (const length of result.lengths) {
      const cells = result.cells.filter((c) => c.length === length);
      const correct = cells.reduce((n, c) => n + c.correct, 0);
      const total = cells.reduce((n, c) => n + c.total, 0);
      rows.push([name, `length ${length}`, `${percent(correct / total)} (${correct}/${total})`]);
    }
  }
  if (results.babilong) {
    for (const c of results.babilong.cells) rows.push(['babilong', `${c.task} length ${c.length}`, `${percent(c.accuracy)} (${c.correct}/${c.total})`]);
  }
  if (results.mqar) {
    const m = results.mqar;
    rows.push(['mqar', `L ${m.sequenceLength}, ${m.numPairs} pairs`, `${percent(m.accuracy)} (${m.correct}/${m.total})`]);
  }
  return rows;
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'evaluate a checkpoint: perplexity, passkey, S-NIAH, BABILong, MQAR',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, {
      values: ['tasks', 'tokens', 'corpus', 'split', 'lengths', 'depths', 'samples', 'niah-task', 'babilong-tasks', 'mqar-length', 'mqar-pairs', 'mqar-samples'],
    });
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory (e.g. runs/train-.../)');
    const v = parsed.values;
    const tasks: EvalTask[] = v.tasks ? choiceList('tasks', v.tasks, TASKS) : [...TASKS];
    const tokens = v.tokens ? integerValue('tokens', v.tokens, { min: 2 }) : 4096;
    const corpus = v.corpus ? choiceValue('corpus', v.corpus, ['sotu', 'moby-dick'] as const) : 'sotu';
    const split = v.split ? choiceValue('split', v.split, ['test', 'val', 'train'] as const) : 'test';
    const depths = v.depths ? depthList('depths', v.depths) : [0, 0.5, 1];
    const samples = v.samples ? integerValue('samples', v.samples, { min: 1 }) : 2;
    const niahTask = v['niah-task'] ? choiceValue('niah-task', v['niah-task'], ['pk', 'n', 'w'] as const) : 'pk';
    const babilong: BabilongTask[] = v['babilong-tasks'] ? choiceList('babilong-tasks', v['babilong-tasks'], babilongTasks as readonly BabilongTask[]) : ['qa1'];
    const mqarLength = v['mqar-length'] ? integerValue('mqar-length', v['mqar-length'], { min: 4 }) : 128;
    const mqarPairs = v['mqar-pairs'] ? integerValue('mqar-pairs', v['mqar-pairs'], { min: 1 }) : 8;
    const mqarSamples = v['mqar-samples'] ? integerValue('mqar-samples', v['mqar-samples'], { min: 1 }) : 16;
    const out = parsed.global.out === undefined ? undefined : resolve(context.cwd, parsed.global.out);
    if (out) checkWritableDirectory(out);
    const backend = await selectBackend(parsed.global.backend);
    if (backend.note) context.err(backend.note);
    try {
      const checkpoint = await openCheckpoint(parsed.positional[0]!, context);
      const trainLength = checkpoint.run?.data.sequenceLength ?? 256;
      const lengths = v.lengths ? integerList('lengths', v.lengths, { min: 1 }) : [Math.max(512, trainLength), Math.max(1024, 2 * trainLength)];
      checkLengths(checkpoint, tasks, lengths, babilong, niahTask, checkpoint.run?.data.digits ?? 5);
      const vocab = checkpoint.config.vocabSize;
      if (tasks.includes('mqar')) {
        if (vocab <= mqarLength) throw new UsageError(`MQAR needs a vocabulary larger than --mqar-length (${vocab} <= ${mqarLength})`);
        if (4 * mqarPairs > mqarLength) throw new UsageError(`MQAR needs 4 * --mqar-pairs <= --mqar-length (${mqarPairs} pairs, length ${mqarLength})`);
      }
      const name = checkpoint.config.architecture;
      const { model, tokenizer } = checkpoint;
      const seed = parsed.global.seed;
      const results: EvalResults = {};
      if (tasks.includes('perplexity')) {
        results.perplexity = await evaluateCorpusPerplexity({ model, name, tokenizer, corpus, split, tokens });
      }
      if (tasks.includes('passkey')) {
        results.passkey = await evaluatePasskey({ model, name, tokenizer, lengths, depths, samplesPerCell: samples, digits: checkpoint.run?.data.digits ?? 5, seed });
      }
      if (tasks.includes('niah')) {
        const progress = createProgress(`niah ${name}`, lengths.length * depths.length * samples);
        results.niah = await evaluateNiah({
          model: asGenerativeModel(model, { name, chunkLength: 256 }), tokenizer, task: niahTask, lengths, depths, samplesPerCell: samples, seed,
          onProgress: (p) => progress.update(p.done, p.cell),
        });
        progress.finish();
      }
      if (tasks.includes('babilong')) {
        const progress = createProgress(`babilong ${name}`, babilong.length * lengths.length * samples);
        results.babilong = await evaluateBabilong({
          model: asGenerativeModel(model, { name, chunkLength: 256 }), tokenizer, tasks: babilong, lengths, samplesPerCell: samples, seed,
          onProgress: (p) => progress.update(p.done, p.cell),
        });
        progress.finish();
      }
      if (tasks.includes('mqar')) {
        const progress = createProgress(`mqar ${name}`, mqarSamples);
        results.mqar = await evaluateMqar({
          model: asNextTokenModel(model, { name, chunkLength: 256 }), vocabSize: vocab, sequenceLength: mqarLength, numPairs: mqarPairs, samples: mqarSamples, seed,
          onProgress: (p) => progress.update(p.done),
        });
        progress.finish();
      }
      const report = { checkpoint: checkpoint.dir, architecture: name, step: checkpoint.trainer?.step ?? null, backend: backend.name, results };
      let written: string[] = [];
      if (out) written = writeEvalReport(out, report, results);
      if (parsed.global.json) context.out(JSON.stringify({ ...report, files: written }, null, 2));
      else {
        context.out(`${name} from ${checkpoint.dir}${checkpoint.trainer ? ` (step ${checkpoint.trainer.step})` : ''}`);
        context.out(formatTable(['task', 'setting', 'result'], summaryRows(results)));
        if (out) context.out(`report: ${written.find((f) => f.endsWith('.html')) ?? out}`);
      }
      return EXIT.ok;
    } finally {
      backend.close();
    }
  },
};

/** Generates one prompt per length up front so a too-short length fails before any work. */
function checkLengths(checkpoint: OpenedCheckpoint, tasks: readonly EvalTask[], lengths: readonly number[], babilong: readonly BabilongTask[], niahTask: 'pk' | 'n' | 'w', digits: number): void {
  const { tokenizer } = checkpoint;
  for (const length of lengths) {
    try {
      if (tasks.includes('passkey')) generatePasskeySample({ tokenizer, length, depth: 0.5, digits, seed: 0 });
      if (tasks.includes('niah')) generateNiahSample({ task: niahTask, tokenizer, length, depth: 0.5, seed: 0 });
      if (tasks.includes('babilong')) for (const task of babilong) generateBabilongSample({ task, tokenizer, length, seed: 0 });
    } catch (error) {
      throw new UsageError(`--lengths ${length}: ${(error as Error).message}`);
    }
  }
}

function writeEvalReport(out: string, report: object, results: EvalResults): string[] {
  const html = new HtmlReport('titans eval');
  const figures: Record<string, string> = {};
  html.table(['task', 'setting', 'result'], summaryRows(results));
  if (results.passkey) {
    figures['passkey-heatmap'] = passkeyHeatmapSvg(results.passkey, `Passkey retrieval: ${results.passkey.model}`);
    html.heading('Passkey retrieval').figure(figures['passkey-heatmap']!, 'accuracy per (depth, length)');
  }
  if (results.niah) {
    figures['niah-heatmap'] = niahHeatmapSvg({ title: `S-NIAH-${results.niah.task.toUpperCase()}: ${results.niah.model}`, lengths: results.niah.lengths, depths: results.niah.depths, accuracy: niahAccuracyMatrix(results.niah) });
    html.heading('S-NIAH').figure(figures['niah-heatmap']!, 'accuracy per (depth, length)');
  }
  html.json('raw results', report);
  return writeReport(out, { name: 'eval', result: report, figures, html });
}
