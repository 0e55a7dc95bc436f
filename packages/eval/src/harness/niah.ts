// S-NIAH harness: accuracy per (context length, needle depth) cell, the Titans paper's
// heat map, with Wilson intervals and optional per-sample records.

import { deriveSeed, evenlySpacedDepths, generateNiahSample, type NiahTask, type Tokenizer } from '@titans/data';
import { checkNiahAnswer } from '../checks.ts';
import { accuracyStat, type AccuracyStat } from '../metrics.ts';
import type { GenerativeModel } from '../model.ts';

export interface EvaluationProgress {
  readonly done: number;
  readonly total: number;
  /** Label of the cell just finished a sample of, e.g. 'length=16384 depth=0.5'. */
  readonly cell: string;
  readonly correct: boolean;
}

export interface NiahEvalOptions {
  model: GenerativeModel;
  tokenizer: Tokenizer;
  task: NiahTask;
  /** Target prompt lengths in tokens. */
  lengths: readonly number[];
  /** Depths in [0, 1], or a count of evenly spaced depths from 0 to 1. */
  depths: readonly number[] | number;
  samplesPerCell: number;
  seed: number;
  haystack?: 'moby-dick' | 'sotu';
  /** Tokens to generate (default: the answer's length + 8). */
  maxNewTokens?: number;
  /** Keep one record per sample with the model's output (default true). */
  keepRecords?: boolean;
  onProgress?: (progress: EvaluationProgress) => void;
}

export interface NiahRecord {
  readonly length: number;
  readonly depth: number;
  readonly sample: number;
  readonly promptTokens: number;
  readonly key: string;
  readonly value: string;
  readonly output: string;
  readonly correct: boolean;
}

export interface NiahCell extends AccuracyStat {
  readonly length: number;
  readonly depth: number;
  readonly meanPromptTokens: number;
}

export interface NiahResult {
  readonly kind: 'niah';
  readonly task: NiahTask;
  readonly model: string;
  readonly tokenizer: string;
  readonly seed: number;
  readonly lengths: readonly number[];
  readonly depths: readonly number[];
  readonly samplesPerCell: number;
  readonly cells: readonly NiahCell[];
  readonly overall: AccuracyStat;
  readonly records: readonly NiahRecord[];
  readonly seconds: number;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

export async function evaluateNiah(options: NiahEvalOptions): Promise<NiahResult> {
  const { model, tokenizer, task, lengths, samplesPerCell, seed } = options;
  const depths = typeof options.depths === 'number' ? evenlySpacedDepths(options.depths) : [...options.depths];
  checkPositiveInteger('evaluateNiah: samplesPerCell', samplesPerCell);
  if (lengths.length === 0 || depths.length === 0) throw new RangeError('evaluateNiah: need at least one length and one depth');
  const started = performance.now();
  const total = lengths.length * depths.length * samplesPerCell;
  const cells: NiahCell[] = [];
  const records: NiahRecord[] = [];
  let done = 0;
  let correctOverall = 0;
  for (const length of lengths) {
    for (const depth of depths) {
      let correct = 0;
      let promptTokens = 0;
      for (let i = 0; i < samplesPerCell; i++) {
        const sample = generateNiahSample({ task, tokenizer, length, depth, seed: deriveSeed(seed, 'niah-eval', i), ...(options.haystack ? { haystack: options.haystack } : {}) });
        const prompt = sample.tokens();
        const maxNewTokens = options.maxNewTokens ?? tokenizer.encode(` ${sample.value}.`).length + 8;
        const generated = await model.generate(prompt, { maxNewTokens, ...(tokenizer.eosId === undefined ? {} : { stopIds: [tokenizer.eosId] }) });
        const output = tokenizer.decode(generated);
        const ok = checkNiahAnswer(output, sample.value);
        if (ok) correct++;
        promptTokens += prompt.length;
        if (options.keepRecords ?? true) records.push({ length, depth, sample: i, promptTokens: prompt.length, key: sample.key, value: sample.value, output, correct: ok });
        done++;
        options.onProgress?.({ done, total, cell: `length=${length} depth=${depth}`, correct: ok });
      }
      correctOverall += correct;
      cells.push({ length, depth, meanPromptTokens: promptTokens / samplesPerCell, ...accuracyStat(correct, samplesPerCell) });
    }
  }
  return {
    kind: 'niah',
    task,
    model: model.name,
    tokenizer: tokenizer.name,
    seed,
    lengths: [...lengths],
    depths,
    samplesPerCell,
    cells,
    overall: accuracyStat(correctOverall, total),
    records,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Cell accuracies as a matrix [depth][length] for heat maps. */
export function niahAccuracyMatrix(result: NiahResult): number[][] {
  return result.depths.map((depth) => result.lengths.map((length) => result.cells.find((c) => c.length === length && c.depth === depth)?.accuracy ?? Number.NaN));
}
