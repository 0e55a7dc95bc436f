// `titans eval <checkpoint>`: perplexity / bits per byte, passkey, S-NIAH, BABILong-style and
// MQAR evaluations of a checkpoint, as a table (or JSON), optionally written to --out.
import { babilongTasks, generateBabilongSample, generateNiahSample, generatePasskeySample, type BabilongTask, type TextSplit } from '@titans/data';
import {
  HtmlReport, evaluateBabilong, evaluateMqar, niahAccuracyMatrix, niahHeatmapSvg, writeReport,
  type BabilongResult, type MqarResult, type NiahResult, type PerplexityResult,
} from '@titans/eval';
import { asGenerativeModel, asNextTokenModel } from '@titans/models';
import { EXIT, UsageError, resolveUserPath, type Command } from '../command.js';
import { selectBackend } from '../backend.js';
import { openCheckpoint, type OpenedCheckpoint } from '../checkpoint.js';
import { corpusTokens, evaluateCorpusPerplexity, evaluatePasskey, passkeyHeatmapSvg, type PasskeyResult } from '../evaluation.js';
import { fixed, formatTable, percent } from '../format.js';
import { choiceList, choiceValue, depthList, expectPositional, integerList, integerValue, parseArgs } from '../options.js';
import { checkWritableDirectory, makeOutputDirectory } from '../paths.js';
import { checkLengthsFit } from '../limits.js';
import { createProgress } from '../progress.js';
import { resolve } from 'node:path';
import { userTextDocuments } from '../text-data.js';
import { evaluateNiah } from '@titans/eval';

const TASKS = ['perplexity', 'passkey', 'niah', 'babilong', 'mqar'] as const;
type EvalTask = (typeof TASKS)[number];

const usage = `usage: titans eval <checkpoint-dir> [--tasks ${TASKS.join(',')}] [--text FILE]... [options]

Evaluates a checkpoint. Long prompts stream through the model's state (memory, caches).

  --tasks LIST           which evaluations (default perplexity,passkey,niah,babilong,mqar)
  --tokens N             perplexity: predictions scored (default 4096; with --text all)
  --corpus sotu|moby-dick, --split test|val|train   perplexity text (default sotu test)
  --text FILE            perplexity on your own UTF-8 text instead (repeatable; implies
                         --tasks perplexity unless --tasks is given): by default the held-out
                         last 10% of each file, the part \`titans train --text\` never trains
                         on (--split all: the whole file; --split train: the rest)
  --lengths L1,L2        prompt lengths in tokens for passkey, niah, babilong
                         (default: 1x and 2x the training length, at least 512)
  --depths N|D1,D2       needle depths: a count from 0% to 100% or fractions (default 3)
  --samples N            samples per cell (default 2)
  --niah-task pk|n|w     S-NIAH variant (default pk)
  --babilong-tasks LIST  qa1..qa5 (default qa1)
  --mqar-length L, --mqar-pairs N, --mqar-samples N   MQAR (default 128, 8, 16; vocab = the model's)
  --out DIR              also write eval.json, heat maps (SVG) and eval.html there
  --allow-revision-mismatch   load weights saved by another revision of the architecture
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
      repeated: ['text'],
      flags: ['allow-revision-mismatch'],
    });
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory (e.g. runs/train-.../)');
    const v = parsed.values;
    const textFiles = (parsed.repeated.text ?? []).map((file) => ({ path: resolveUserPath(file, context), shown: file }));
    const tasks: EvalTask[] = v.tasks ? choiceList('tasks', v.tasks, TASKS) : textFiles.length > 0 ? ['perplexity'] : [...TASKS];
    if (textFiles.length > 0 && !tasks.includes('perplexity')) throw new UsageError('--text is scored by the perplexity task; add perplexity to --tasks');
    if (textFiles.length > 0 && v.corpus !== undefined) throw new UsageError('--text and --corpus both name the perplexity text; give one');
    const tokens = v.tokens ? integerValue('tokens', v.tokens, { min: 2 }) : 4096;
    if (v.lengths) checkLengthsFit(integerList('lengths', v.lengths, { min: 1 }));
    const corpus = v.corpus ? choiceValue('corpus', v.corpus, ['sotu', 'moby-dick'] as const) : 'sotu';
    const split = textFiles.length > 0
      ? (v.split ? choiceValue('split', v.split, ['val', 'train', 'all'] as const) : 'val')
      : (v.split ? choiceValue('split', v.split, ['test', 'val', 'train'] as const) : 'test');
    // The user's files are read and checked before the model loads (one line per problem, exit 2).
    const textDocuments = textFiles.length > 0 ? userTextDocuments(textFiles.map((f) => f.path), split as TextSplit, (path) => textFiles.find((f) => f.path === path)!.shown) : null;
    const depths = v.depths ? depthList('depths', v.depths) : [0, 0.5, 1];
    const samples = v.samples ? integerValue('samples', v.samples, { min: 1, max: 100_000 }) : 2;
    const niahTask = v['niah-task'] ? choiceValue('niah-task', v['niah-task'], ['pk', 'n', 'w'] as const) : 'pk';
    const babilong: BabilongTask[] = v['babilong-tasks'] ? choiceList('babilong-tasks', v['babilong-tasks'], babilongTasks as readonly BabilongTask[]) : ['qa1'];
    const mqarLength = v['mqar-length'] ? integerValue('mqar-length', v['mqar-length'], { min: 4, max: 2 ** 20 }) : 128;
    const mqarPairs = v['mqar-pairs'] ? integerValue('mqar-pairs', v['mqar-pairs'], { min: 1, max: 2 ** 18 }) : 8;
    const mqarSamples = v['mqar-samples'] ? integerValue('mqar-samples', v['mqar-samples'], { min: 1, max: 100_000 }) : 16;
    const out = parsed.global.out === undefined ? undefined : resolve(context.cwd, parsed.global.out);
    if (out) checkWritableDirectory(out);
    const backend = await selectBackend(parsed.global.backend);
    if (backend.note) context.err(backend.note);
    try {
      const checkpoint = await openCheckpoint(parsed.positional[0]!, context, { allowRevisionMismatch: parsed.flags.has('allow-revision-mismatch') });
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
        let scored = tokens;
        if (textDocuments) {
          // The user's text: all of it (the chosen part) by default, and a clear limit when --tokens asks for more.
          const available = corpusTokens(textDocuments, 'all', tokenizer, Number.MAX_SAFE_INTEGER).length - 1;
          const what = `the ${split === 'val' ? 'held-out ' : split === 'train' ? 'training part of the ' : ''}text of ${textFiles.map((f) => f.shown).join(', ')}`;
          if (available < 1) throw new UsageError(`${what} has no tokens to score`);
          if (v.tokens !== undefined && tokens > available) throw new UsageError(`--tokens ${tokens}: ${what} has ${available} predictions to score (ask for at most that many)`);
          scored = v.tokens !== undefined ? tokens : available;
        }
        results.perplexity = await evaluateCorpusPerplexity({ model, name, tokenizer, corpus: textDocuments ?? corpus, split: split === 'all' ? 'all' : split, tokens: scored });
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
      if (out) {
        makeOutputDirectory(out);
        written = writeEvalReport(out, report, results);
      }
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
