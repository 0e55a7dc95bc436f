// BABILong-style harness: accuracy per (task, context length), scored with the BABILong
// rule (the first sentence holds the target label and no other label).

import { babilongLabels, deriveSeed, generateBabilongSample, type BabilongTask, type Tokenizer } from '@titans/data';
import { checkBabilongAnswer } from '../checks.ts';
import type { AccuracyStat } from '../metrics.ts';
import type { GenerativeModel } from '../model.ts';
import { checkPositiveInteger, evaluateGrid, generateAnswer, type EvaluationProgress } from './grid.ts';

export interface BabilongEvalOptions {
  model: GenerativeModel;
  tokenizer: Tokenizer;
  tasks: readonly BabilongTask[];
  /** Target prompt lengths in tokens (0 = facts only). */
  lengths: readonly number[];
  samplesPerCell: number;
  seed: number;
  background?: 'moby-dick' | 'sotu';
  /** Tokens to generate (default 16). */
  maxNewTokens?: number;
  keepRecords?: boolean;
  onProgress?: (progress: EvaluationProgress) => void;
}

export interface BabilongRecord {
  readonly task: BabilongTask;
  readonly length: number;
  readonly sample: number;
  readonly promptTokens: number;
  readonly question: string;
  readonly target: string;
  /** The decoded answer ('' when the outputs were not finite). */
  readonly output: string;
  readonly correct: boolean;
  /** The model's outputs were not finite on this prompt (counted as wrong). */
  readonly nonFinite: boolean;
}

export interface BabilongCell extends AccuracyStat {
  readonly task: BabilongTask;
  readonly length: number;
  readonly meanPromptTokens: number;
  /** Samples whose outputs were not finite. */
  readonly nonFinite: number;
}

export interface BabilongResult {
  readonly kind: 'babilong';
  readonly model: string;
  readonly tokenizer: string;
  readonly seed: number;
  readonly tasks: readonly BabilongTask[];
  readonly lengths: readonly number[];
  readonly samplesPerCell: number;
  readonly cells: readonly BabilongCell[];
  readonly overall: AccuracyStat;
  /** Samples of every cell whose outputs were not finite. */
  readonly nonFinite: number;
  readonly records: readonly BabilongRecord[];
  readonly seconds: number;
}

export async function evaluateBabilong(options: BabilongEvalOptions): Promise<BabilongResult> {
  const { model, tokenizer, tasks, lengths, samplesPerCell, seed } = options;
  checkPositiveInteger('evaluateBabilong: samplesPerCell', samplesPerCell);
  const started = performance.now();
  const { cells, overall, nonFinite, records } = await evaluateGrid({
    cells: tasks.flatMap((task) => lengths.map((length) => ({ task, length }))),
    samplesPerCell,
    keepRecords: options.keepRecords ?? true,
    label: ({ task, length }) => `task=${task} length=${length}`,
    onProgress: options.onProgress,
    sample: async ({ task, length }, i) => {
      const sample = generateBabilongSample({ task, tokenizer, length, seed: deriveSeed(seed, 'babilong-eval', i), ...(options.background ? { background: options.background } : {}) });
      const prompt = sample.tokens();
      const answer = await generateAnswer(model, tokenizer, prompt, options.maxNewTokens ?? 16, true);
      const { output } = answer;
      const correct = !answer.nonFinite && checkBabilongAnswer(output, sample.target, babilongLabels(task));
      const record: BabilongRecord = { task, length, sample: i, promptTokens: prompt.length, question: sample.question, target: sample.target, output, correct, nonFinite: answer.nonFinite };
      return { promptTokens: prompt.length, correct, nonFinite: answer.nonFinite, record };
    },
  });
  return {
    kind: 'babilong',
    model: model.name,
    tokenizer: tokenizer.name,
    seed,
    tasks: [...tasks],
    lengths: [...lengths],
    samplesPerCell,
    cells,
    overall,
    nonFinite,
    records,
    seconds: (performance.now() - started) / 1000,
  };
}
