// BABILong-style harness: accuracy per (task, context length), scored with the BABILong
// rule (the first sentence holds the target label and no other label).

import { babilongLabels, deriveSeed, generateBabilongSample, type BabilongTask, type Tokenizer } from '@titans/data';
import { checkBabilongAnswer } from '../checks.ts';
import { accuracyStat, type AccuracyStat } from '../metrics.ts';
import type { GenerativeModel } from '../model.ts';
import type { EvaluationProgress } from './niah.ts';

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
  readonly output: string;
  readonly correct: boolean;
}

export interface BabilongCell extends AccuracyStat {
  readonly task: BabilongTask;
  readonly length: number;
  readonly meanPromptTokens: number;
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
  readonly records: readonly BabilongRecord[];
  readonly seconds: number;
}

export async function evaluateBabilong(options: BabilongEvalOptions): Promise<BabilongResult> {
  const { model, tokenizer, tasks, lengths, samplesPerCell, seed } = options;
  if (!Number.isInteger(samplesPerCell) || samplesPerCell < 1) throw new RangeError(`evaluateBabilong: samplesPerCell must be a positive integer, got ${samplesPerCell}`);
  const started = performance.now();
  const total = tasks.length * lengths.length * samplesPerCell;
  const cells: BabilongCell[] = [];
  const records: BabilongRecord[] = [];
  let done = 0;
  let correctOverall = 0;
  for (const task of tasks) {
    const labels = babilongLabels(task);
    for (const length of lengths) {
      let correct = 0;
      let promptTokens = 0;
      for (let i = 0; i < samplesPerCell; i++) {
        const sample = generateBabilongSample({ task, tokenizer, length, seed: deriveSeed(seed, 'babilong-eval', i), ...(options.background ? { background: options.background } : {}) });
        const prompt = sample.tokens();
        const generated = await model.generate(prompt, { maxNewTokens: options.maxNewTokens ?? 16, ...(tokenizer.eosId === undefined ? {} : { stopIds: [tokenizer.eosId] }) });
        const output = tokenizer.decode(generated);
        const ok = checkBabilongAnswer(output, sample.target, labels);
        if (ok) correct++;
        promptTokens += prompt.length;
        if (options.keepRecords ?? true) records.push({ task, length, sample: i, promptTokens: prompt.length, question: sample.question, target: sample.target, output, correct: ok });
        done++;
        options.onProgress?.({ done, total, cell: `task=${task} length=${length}`, correct: ok });
      }
      correctOverall += correct;
      cells.push({ task, length, meanPromptTokens: promptTokens / samplesPerCell, ...accuracyStat(correct, samplesPerCell) });
    }
  }
  return {
    kind: 'babilong',
    model: model.name,
    tokenizer: tokenizer.name,
    seed,
    tasks: [...tasks],
    lengths: [...lengths],
    samplesPerCell,
    cells,
    overall: accuracyStat(correctOverall, total),
    records,
    seconds: (performance.now() - started) / 1000,
  };
}
