// The loop the generation harnesses share (S-NIAH, BABILong, passkey): every cell of a grid,
// `samplesPerCell` prompts each, one accuracy per cell with its Wilson interval, the overall
// accuracy, optional per-sample records and a progress callback after every sample.
//
// A model whose outputs are not finite on one prompt (it diverged at that length: NaN or
// infinite logits) does not abort the grid: `generateAnswer` catches the error the model
// threw for it (one named 'NonFiniteOutputError', as @titans/models' generate throws), the
// sample counts as a wrong answer, and every cell and the totals count such samples in
// `nonFinite`, so a report can tell a diverged model from one that guessed wrong. Any other
// error (a bug, bad input) still propagates.

import { evenlySpacedDepths, type Tokenizer } from '@titans/data';
import { accuracyStat, type AccuracyStat } from '../metrics.ts';
import type { GenerativeModel } from '../model.ts';

export interface EvaluationProgress {
  readonly done: number;
  readonly total: number;
  /** Label of the cell just finished a sample of, e.g. 'length=16384 depth=0.5'. */
  readonly cell: string;
  readonly correct: boolean;
  /** The model's outputs were not finite on this sample (counted as wrong). */
  readonly nonFinite: boolean;
}

/** What one sample of a cell gave: the prompt's length, whether it was answered, its record. */
export interface GridSample<R> {
  readonly promptTokens: number;
  readonly correct: boolean;
  /** The model's outputs were not finite (then `correct` must be false). */
  readonly nonFinite: boolean;
  readonly record: R;
}

/** A cell's accuracy, its mean prompt length and how many of its samples had non-finite outputs. */
export type GridCell<K> = K & { readonly meanPromptTokens: number; readonly nonFinite: number } & AccuracyStat;

export interface GridOptions<K, R> {
  /** The cells in evaluation order (their fields lead each cell of the result). */
  readonly cells: readonly K[];
  readonly samplesPerCell: number;
  /** Runs sample `index` of `cell`. */
  readonly sample: (cell: K, index: number) => Promise<GridSample<R>>;
  /** The progress label of a cell. */
  readonly label: (cell: K) => string;
  readonly keepRecords: boolean;
  readonly onProgress?: ((progress: EvaluationProgress) => void) | undefined;
}

export interface GridOutcome<K, R> {
  readonly cells: GridCell<K>[];
  readonly overall: AccuracyStat;
  /** Samples of every cell whose outputs were not finite. */
  readonly nonFinite: number;
  readonly records: R[];
}

export function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

export async function evaluateGrid<K extends object, R>(options: GridOptions<K, R>): Promise<GridOutcome<K, R>> {
  const { samplesPerCell } = options;
  const total = options.cells.length * samplesPerCell;
  const cells: GridCell<K>[] = [];
  const records: R[] = [];
  let done = 0;
  let correctOverall = 0;
  let nonFiniteOverall = 0;
  for (const cell of options.cells) {
    let correct = 0;
    let nonFinite = 0;
    let promptTokens = 0;
    for (let i = 0; i < samplesPerCell; i++) {
      const outcome = await options.sample(cell, i);
      if (outcome.nonFinite && outcome.correct) throw new Error(`evaluateGrid: sample ${i} of ${options.label(cell)} is marked both correct and non-finite`);
      if (outcome.correct) correct++;
      if (outcome.nonFinite) nonFinite++;
      promptTokens += outcome.promptTokens;
      if (options.keepRecords) records.push(outcome.record);
      done++;
      options.onProgress?.({ done, total, cell: options.label(cell), correct: outcome.correct, nonFinite: outcome.nonFinite });
    }
    correctOverall += correct;
    nonFiniteOverall += nonFinite;
    cells.push({ ...cell, meanPromptTokens: promptTokens / samplesPerCell, nonFinite, ...accuracyStat(correct, samplesPerCell) });
  }
  return { cells, overall: accuracyStat(correctOverall, total), nonFinite: nonFiniteOverall, records };
}

export interface LengthDepth {
  readonly length: number;
  readonly depth: number;
}

/** A cell of a (length x depth) grid: its accuracy, mean prompt length and samples with non-finite outputs. */
export interface LengthDepthCell extends AccuracyStat, LengthDepth {
  readonly meanPromptTokens: number;
  readonly nonFinite: number;
}

/** What every per-sample record of a (length x depth) grid holds. */
export interface LengthDepthRecord extends LengthDepth {
  readonly sample: number;
  readonly promptTokens: number;
  /** The decoded answer ('' when the outputs were not finite). */
  readonly output: string;
  readonly correct: boolean;
  /** The model's outputs were not finite on this prompt (counted as wrong). */
  readonly nonFinite: boolean;
}

/** What the S-NIAH and passkey results share (each adds its kind and its own settings). */
export interface LengthDepthResult<R extends LengthDepthRecord> {
  readonly model: string;
  readonly tokenizer: string;
  readonly seed: number;
  readonly lengths: readonly number[];
  readonly depths: readonly number[];
  readonly samplesPerCell: number;
  readonly cells: readonly LengthDepthCell[];
  readonly overall: AccuracyStat;
  /** Samples of every cell whose outputs were not finite. */
  readonly nonFinite: number;
  readonly records: readonly R[];
  readonly seconds: number;
}

export interface LengthDepthGridOptions {
  readonly lengths: readonly number[];
  /** Depths in [0, 1], or a count of evenly spaced depths from 0 to 1. */
  readonly depths: readonly number[] | number;
  readonly samplesPerCell: number;
  readonly keepRecords?: boolean | undefined;
  readonly onProgress?: ((progress: EvaluationProgress) => void) | undefined;
}

/**
 * The (length x depth) grid of the S-NIAH and passkey harnesses, lengths outermost: resolves
 * and checks the depths and sizes (`harness` names the caller in errors; `validate` adds its
 * own checks before anything runs), runs every cell and times the run.
 */
export async function evaluateLengthDepthGrid<R>(
  harness: string,
  options: LengthDepthGridOptions,
  sample: (cell: LengthDepth, index: number) => Promise<GridSample<R>>,
  validate?: (depths: readonly number[]) => void,
): Promise<GridOutcome<LengthDepth, R> & { readonly depths: number[]; readonly seconds: number }> {
  const { lengths, samplesPerCell } = options;
  const depths = typeof options.depths === 'number' ? evenlySpacedDepths(options.depths) : [...options.depths];
  checkPositiveInteger(`${harness}: samplesPerCell`, samplesPerCell);
  if (lengths.length === 0 || depths.length === 0) throw new RangeError(`${harness}: need at least one length and one depth`);
  validate?.(depths);
  const started = performance.now();
  const outcome = await evaluateGrid({
    cells: lengths.flatMap((length) => depths.map((depth) => ({ length, depth }))),
    samplesPerCell,
    keepRecords: options.keepRecords ?? true,
    label: ({ length, depth }) => `length=${length} depth=${depth}`,
    onProgress: options.onProgress,
    sample,
  });
  return { ...outcome, depths, seconds: (performance.now() - started) / 1000 };
}

/**
 * Whether `error` reports that a model's outputs were not finite (NaN or infinite): an Error
 * named 'NonFiniteOutputError', the class @titans/models' generate throws (matched by name,
 * so any model implementation can report it without depending on @titans/models).
 */
export function isNonFiniteOutputError(error: unknown): boolean {
  return error instanceof Error && error.name === 'NonFiniteOutputError';
}

/** What `generateAnswer` decoded: the text, or '' with `nonFinite` when the model's outputs were not finite. */
export interface GeneratedAnswer {
  readonly output: string;
  readonly nonFinite: boolean;
}

/**
 * Greedy continuation of `prompt`, decoded; with `stopAtEos`, generation stops at the
 * tokenizer's EOS. A non-finite output error (`isNonFiniteOutputError`) gives
 * { output: '', nonFinite: true }; every other error propagates.
 */
export async function generateAnswer(model: GenerativeModel, tokenizer: Tokenizer, prompt: Int32Array | number[], maxNewTokens: number, stopAtEos: boolean): Promise<GeneratedAnswer> {
  const stop = stopAtEos && tokenizer.eosId !== undefined ? { stopIds: [tokenizer.eosId] } : {};
  let ids: number[];
  try {
    ids = await model.generate(prompt, { maxNewTokens, ...stop });
  } catch (error) {
    if (isNonFiniteOutputError(error)) return { output: '', nonFinite: true };
    throw error;
  }
  return { output: tokenizer.decode(ids), nonFinite: false };
}

/** A grid result's cell accuracies as a matrix [depth][length] for heat maps (NaN where a cell is missing). */
export function lengthDepthMatrix(result: { readonly lengths: readonly number[]; readonly depths: readonly number[]; readonly cells: readonly { readonly length: number; readonly depth: number; readonly accuracy: number }[] }): number[][] {
  return result.depths.map((depth) => result.lengths.map((length) => result.cells.find((c) => c.length === length && c.depth === depth)?.accuracy ?? Number.NaN));
}
