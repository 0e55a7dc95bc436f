// The loop the generation harnesses share (S-NIAH, BABILong, passkey): every cell of a grid,
// `samplesPerCell` prompts each, one accuracy per cell with its Wilson interval, the overall
// accuracy, optional per-sample records and a progress callback after every sample.

import { evenlySpacedDepths, type Tokenizer } from '@titans/data';
import { accuracyStat, type AccuracyStat } from '../metrics.ts';
import type { GenerativeModel } from '../model.ts';

export interface EvaluationProgress {
  readonly done: number;
  readonly total: number;
  /** Label of the cell just finished a sample of, e.g. 'length=16384 depth=0.5'. */
  readonly cell: string;
  readonly correct: boolean;
}

/** What one sample of a cell gave: the prompt's length, whether it was answered, its record. */
export interface GridSample<R> {
  readonly promptTokens: number;
  readonly correct: boolean;
  readonly record: R;
}

export type GridCell<K> = K & { readonly meanPromptTokens: number } & AccuracyStat;

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
  for (const cell of options.cells) {
    let correct = 0;
    let promptTokens = 0;
    for (let i = 0; i < samplesPerCell; i++) {
      const outcome = await options.sample(cell, i);
      if (outcome.correct) correct++;
      promptTokens += outcome.promptTokens;
      if (options.keepRecords) records.push(outcome.record);
      done++;
      options.onProgress?.({ done, total, cell: options.label(cell), correct: outcome.correct });
    }
    correctOverall += correct;
    cells.push({ ...cell, meanPromptTokens: promptTokens / samplesPerCell, ...accuracyStat(correct, samplesPerCell) });
  }
  return { cells, overall: accuracyStat(correctOverall, total), records };
}

export interface LengthDepth {
  readonly length: number;
  readonly depth: number;
}

/** A cell of a (length x depth) grid: its accuracy and mean prompt length. */
export interface LengthDepthCell extends AccuracyStat, LengthDepth {
  readonly meanPromptTokens: number;
}

/** What every per-sample record of a (length x depth) grid holds. */
export interface LengthDepthRecord extends LengthDepth {
  readonly sample: number;
  readonly promptTokens: number;
  readonly output: string;
  readonly correct: boolean;
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

/** Greedy continuation of `prompt`, decoded; with `stopAtEos`, generation stops at the tokenizer's EOS. */
export async function generateText(model: GenerativeModel, tokenizer: Tokenizer, prompt: Int32Array | number[], maxNewTokens: number, stopAtEos: boolean): Promise<string> {
  const stop = stopAtEos && tokenizer.eosId !== undefined ? { stopIds: [tokenizer.eosId] } : {};
  return tokenizer.decode(await model.generate(prompt, { maxNewTokens, ...stop }));
}

/** A grid result's cell accuracies as a matrix [depth][length] for heat maps (NaN where a cell is missing). */
export function lengthDepthMatrix(result: { readonly lengths: readonly number[]; readonly depths: readonly number[]; readonly cells: readonly { readonly length: number; readonly depth: number; readonly accuracy: number }[] }): number[][] {
  return result.depths.map((depth) => result.lengths.map((length) => result.cells.find((c) => c.length === length && c.depth === depth)?.accuracy ?? Number.NaN));
}
