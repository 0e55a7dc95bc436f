// Passkey retrieval harness: accuracy per (prompt length, passkey depth) cell and per prompt
// length, with Wilson intervals and optional per-sample records. The answer is decoded
// greedily for a few tokens (no early stop) and is correct when the passkey appears whole.

import { deriveSeed, generatePasskeySample, type Tokenizer } from '@titans/data';
import { checkNiahAnswer } from '../checks.ts';
import { accuracyStat, type AccuracyStat } from '../metrics.ts';
import type { GenerativeModel } from '../model.ts';
import {
  checkPositiveInteger, evaluateLengthDepthGrid, generateAnswer, lengthDepthMatrix, type EvaluationProgress, type LengthDepthCell, type LengthDepthRecord, type LengthDepthResult,
} from './grid.ts';

/** One passkey prompt: what a custom `prompt` builder returns. */
export interface PasskeyPrompt {
  readonly passkey: string;
  /** The expected continuation, e.g. ' 12345.'. */
  readonly answer: string;
  tokens(): Int32Array | number[];
}

export interface PasskeyPromptOptions {
  readonly length: number;
  readonly depth: number;
  readonly digits: number;
  readonly seed: number;
}

export interface PasskeyEvalOptions {
  model: GenerativeModel;
  tokenizer: Tokenizer;
  /** Target prompt lengths (in tokens for the default prompts). */
  lengths: readonly number[];
  /** Depths in [0, 1], or a count of evenly spaced depths from 0 to 1. */
  depths: readonly number[] | number;
  samplesPerCell: number;
  seed: number;
  /** Digits of the passkey, 1 to 15 (default 5). */
  digits?: number;
  /** Tokens to generate (default: the answer's length + 2). */
  maxNewTokens?: number;
  /** Builds sample prompts (default: @titans/data's generatePasskeySample with this tokenizer). */
  prompt?: (options: PasskeyPromptOptions) => PasskeyPrompt;
  /** Keep one record per sample with the model's output (default true). */
  keepRecords?: boolean;
  onProgress?: (progress: EvaluationProgress) => void;
}

export interface PasskeyRecord extends LengthDepthRecord {
  readonly passkey: string;
}

export type PasskeyCell = LengthDepthCell;

/** Accuracy at one prompt length, all depths together, and its samples with non-finite outputs. */
export interface PasskeyLengthStat extends AccuracyStat {
  readonly length: number;
  readonly nonFinite: number;
}

export interface PasskeyResult extends LengthDepthResult<PasskeyRecord> {
  readonly kind: 'passkey';
  readonly digits: number;
  /** Accuracy per prompt length (all depths together). */
  readonly byLength: readonly PasskeyLengthStat[];
}

function checkOptions(options: PasskeyEvalOptions, depths: readonly number[], digits: number): void {
  for (const length of options.lengths) checkPositiveInteger('evaluatePasskey: every length', length);
  for (const depth of depths) if (!(depth >= 0 && depth <= 1)) throw new RangeError(`evaluatePasskey: depths must be in [0, 1], got ${depth}`);
  if (!Number.isInteger(digits) || digits < 1 || digits > 15) throw new RangeError(`evaluatePasskey: digits must be an integer from 1 to 15, got ${digits}`);
  if (options.maxNewTokens !== undefined) checkPositiveInteger('evaluatePasskey: maxNewTokens', options.maxNewTokens);
}

/**
 * Passkey retrieval over prompt lengths x passkey depths x samples. Sample i of a cell is
 * seeded with deriveSeed(seed, 'passkey-eval', length, depth, i), so every cell has its
 * own passkeys and a run is reproducible from its seed.
 */
export async function evaluatePasskey(options: PasskeyEvalOptions): Promise<PasskeyResult> {
  const { model, tokenizer, lengths, samplesPerCell, seed } = options;
  const digits = options.digits ?? 5;
  const buildPrompt = options.prompt ?? ((o: PasskeyPromptOptions): PasskeyPrompt => generatePasskeySample({ tokenizer, ...o }));
  const sample = async ({ length, depth }: { length: number; depth: number }, i: number) => {
    const built = buildPrompt({ length, depth, digits, seed: deriveSeed(seed, 'passkey-eval', length, depth, i) });
    const prompt = built.tokens();
    const maxNewTokens = options.maxNewTokens ?? tokenizer.encode(built.answer).length + 2;
    const { output, nonFinite } = await generateAnswer(model, tokenizer, prompt, maxNewTokens, false);
    const correct = !nonFinite && checkNiahAnswer(output, built.passkey);
    const record: PasskeyRecord = { length, depth, sample: i, promptTokens: prompt.length, passkey: built.passkey, output, correct, nonFinite };
    return { promptTokens: prompt.length, correct, nonFinite, record };
  };
  const { depths, cells, overall, nonFinite, records, seconds } = await evaluateLengthDepthGrid('evaluatePasskey', options, sample, (d) => checkOptions(options, d, digits));
  const byLength = lengths.map((length): PasskeyLengthStat => {
    const at = cells.filter((c) => c.length === length);
    return { length, ...accuracyStat(at.reduce((n, c) => n + c.correct, 0), at.reduce((n, c) => n + c.total, 0)), nonFinite: at.reduce((n, c) => n + c.nonFinite, 0) };
  });
  return {
    kind: 'passkey',
    model: model.name,
    tokenizer: tokenizer.name,
    seed,
    lengths: [...lengths],
    depths,
    samplesPerCell,
    digits,
    cells,
    byLength,
    overall,
    nonFinite,
    records,
    seconds,
  };
}

/** Cell accuracies as a matrix [depth][length] for heat maps. */
export function passkeyAccuracyMatrix(result: PasskeyResult): number[][] {
  return lengthDepthMatrix(result);
}
