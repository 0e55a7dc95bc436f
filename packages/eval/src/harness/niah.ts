// S-NIAH harness: accuracy per (context length, needle depth) cell, the Titans paper's
// heat map, with Wilson intervals and optional per-sample records.

import { deriveSeed, generateNiahSample, type NiahTask, type Tokenizer } from '@titans/data';
import { checkNiahAnswer } from '../checks.ts';
import type { GenerativeModel } from '../model.ts';
import { evaluateLengthDepthGrid, generateAnswer, lengthDepthMatrix, type EvaluationProgress, type LengthDepthCell, type LengthDepthRecord, type LengthDepthResult } from './grid.ts';

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

export interface NiahRecord extends LengthDepthRecord {
  readonly key: string;
  readonly value: string;
}

export type NiahCell = LengthDepthCell;

export interface NiahResult extends LengthDepthResult<NiahRecord> {
  readonly kind: 'niah';
  readonly task: NiahTask;
}

export async function evaluateNiah(options: NiahEvalOptions): Promise<NiahResult> {
  const { model, tokenizer, task, lengths, samplesPerCell, seed } = options;
  const { depths, cells, overall, nonFinite, records, seconds } = await evaluateLengthDepthGrid('evaluateNiah', options, async ({ length, depth }, i) => {
    const sample = generateNiahSample({ task, tokenizer, length, depth, seed: deriveSeed(seed, 'niah-eval', i), ...(options.haystack ? { haystack: options.haystack } : {}) });
    const prompt = sample.tokens();
    const maxNewTokens = options.maxNewTokens ?? tokenizer.encode(` ${sample.value}.`).length + 8;
    const { output, nonFinite } = await generateAnswer(model, tokenizer, prompt, maxNewTokens, true);
    const correct = !nonFinite && checkNiahAnswer(output, sample.value);
    const record: NiahRecord = { length, depth, sample: i, promptTokens: prompt.length, key: sample.key, value: sample.value, output, correct, nonFinite };
    return { promptTokens: prompt.length, correct, nonFinite, record };
  });
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
    overall,
    nonFinite,
    records,
    seconds,
  };
}

/** Cell accuracies as a matrix [depth][length] for heat maps. */
export function niahAccuracyMatrix(result: NiahResult): number[][] {
  return lengthDepthMatrix(result);
}
