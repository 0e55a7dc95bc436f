// Training data of the reproduction: seeded batch sources for train() whose whole position is
// a small JSON value, so an interrupted run resumes with exactly the same batches.
//   - mqarSource: MQAR sequences, loss on the query positions only;
//   - passkeySource: the compact byte-level passkey task of PASSKEY_RECIPE (prompts from
//     @titans/data's compactPasskey, which the docs site also uses in the browser);
//   - longContextSource: alternating steps of SOTU text (every byte predicted) and S-NIAH
//     prompts in the paper's templates with the answer appended (loss on the answer only).
import {
  ByteTokenizer, SeededRandom, TokenLoader, compactPasskey, deriveSeed, generateBabilongSample, generateMqarBatch, generateNiahSample,
  type CorpusDocument, type LoaderState, type NiahTask,
} from '@titans/data';
import type { RetrievalTask } from './recipes.ts';
import type { BatchSource, BatchSourceFactory, TrainingBatch } from '@titans/models';

/** Target id that the loss ignores. */
export const IGNORE = -100;

// ---------------------------------------------------------------- curriculum over length

/** A length curriculum of a training source: fractions of its length and the run's total steps. */
export interface LengthCurriculum {
  /** Fractions of the training length, in order, each for an equal share of `steps`; the last is 1. */
  readonly fractions: readonly number[];
  readonly steps: number;
}

/** Checks a curriculum's fractions: each in (0, 1], non-decreasing, the last 1. */
export function checkCurriculum(fractions: readonly number[]): void {
  if (!fractions.length) throw new RangeError('lengthCurriculum: give at least one fraction (or leave it out)');
  fractions.forEach((f, i) => {
    if (!(Number.isFinite(f) && f > 0 && f <= 1)) throw new RangeError(`lengthCurriculum: fraction ${f} is not in (0, 1]`);
    if (i > 0 && f < fractions[i - 1]!) throw new RangeError(`lengthCurriculum: fractions must not decrease (${fractions.join(', ')})`);
  });
  if (fractions.at(-1) !== 1) throw new RangeError(`lengthCurriculum: the last fraction must be 1 (the full training length), got ${fractions.at(-1)}`);
}

/**
 * The sequence length and rows per batch row at `step`: stage floor(step * stages / steps)
 * of the curriculum trains at round(fraction * length) tokens, floor(length / that) rows for
 * each row of the full length (so a step trains on about as many tokens). Without a
 * curriculum: the full length, one row.
 */
export function curriculumStage(length: number, step: number, curriculum: LengthCurriculum | undefined): { length: number; rowsPerRow: number } {
  if (!curriculum) return { length, rowsPerRow: 1 };
  const { fractions, steps } = curriculum;
  const stage = Math.min(fractions.length - 1, Math.floor((step * fractions.length) / Math.max(1, steps)));
  const stageLength = Math.max(1, Math.round(fractions[stage]! * length));
  return { length: stageLength, rowsPerRow: Math.max(1, Math.floor(length / stageLength)) };
}

/** The distinct stage lengths of a curriculum (the lengths a plan's validation tries). */
export function curriculumLengths(length: number, fractions: readonly number[] | undefined): number[] {
  if (!fractions?.length) return [length];
  return [...new Set(fractions.map((f) => Math.max(1, Math.round(f * length))))];
}

// ---------------------------------------------------------------- MQAR

export interface MqarSourceOptions {
  readonly vocabSize: number;
  readonly sequenceLength: number;
  /** Pair counts, cycled one per step. */
  readonly trainPairs: readonly number[];
  readonly batchSize: number;
  readonly seed: number;
  readonly gapExponent?: number;
  /** Curriculum over length (TrainRecipe.lengthCurriculum). */
  readonly curriculum?: LengthCurriculum;
}

/** MQAR batches; step k uses trainPairs[k % n] pairs and its own seed. */
export function mqarSource(options: MqarSourceOptions): BatchSourceFactory<{ step: number }> {
  return (resume) => {
    let step = resume?.step ?? 0;
    return {
      next(): TrainingBatch {
        const pairs = options.trainPairs[step % options.trainPairs.length]!;
        const stage = curriculumStage(options.sequenceLength, step, options.curriculum);
        const batchSize = options.batchSize * stage.rowsPerRow;
        const batch = generateMqarBatch({
          vocabSize: options.vocabSize, sequenceLength: stage.length, numPairs: pairs, batchSize,
          seed: deriveSeed(options.seed, 'mqar-train', step), ...(options.gapExponent === undefined ? {} : { gapExponent: options.gapExponent }),
        });
        step++;
        const targets = Int32Array.from(batch.targets, (t, i) => (batch.mask[i] ? t : IGNORE));
        return { inputs: batch.tokens, targets, batchSize, sequenceLength: stage.length };
      },
      state: () => ({ step }),
    };
  };
}

// ---------------------------------------------------------------- compact passkey

/** Passkey batches of exactly `length` tokens: prompt + answer, right-padded; loss on the answer only. */
export function passkeySource(options: { length: number; batchSize: number; seed: number; digits?: number; curriculum?: LengthCurriculum }): BatchSourceFactory<{ step: number }> {
  const tokenizer = new ByteTokenizer();
  return (resume) => {
    let step = resume?.step ?? 0;
    return {
      next(): TrainingBatch {
        const stage = curriculumStage(options.length, step, options.curriculum);
        const rows: { ids: number[]; answerStart: number }[] = [];
        for (let b = 0; b < options.batchSize * stage.rowsPerRow; b++) {
          const sample = compactPasskey({ length: stage.length + 1, seed: deriveSeed(options.seed, 'passkey-train', step, b), ...(options.digits ? { digits: options.digits } : {}) });
          const prompt = tokenizer.encode(sample.prompt);
          rows.push({ ids: [...prompt, ...tokenizer.encode(sample.answer)], answerStart: prompt.length });
        }
        step++;
        return packRows(rows, stage.length, tokenizer.padId);
      },
      state: () => ({ step }),
    };
  };
}

/**
 * Packs sequences (each at most length + 1 ids) into one batch: inputs ids[0..length),
 * targets ids[1..length] where position i >= answerStart - 1 predicts an answer token,
 * IGNORE elsewhere and over the right padding.
 */
function packRows(rows: readonly { ids: readonly number[]; answerStart: number }[], length: number, padId: number): TrainingBatch {
  const inputs = new Int32Array(rows.length * length).fill(padId);
  const targets = new Int32Array(rows.length * length).fill(IGNORE);
  rows.forEach(({ ids, answerStart }, b) => {
    if (ids.length > length + 1) throw new Error(`packRows: a sequence of ${ids.length} ids does not fit length ${length}`);
    for (let i = 0; i < Math.min(length, ids.length); i++) inputs[b * length + i] = ids[i]!;
    for (let i = Math.max(0, answerStart - 1); i + 1 < ids.length; i++) targets[b * length + i] = ids[i + 1]!;
  });
  return { inputs, targets, batchSize: rows.length, sequenceLength: length };
}

/** Cuts each row of a [B, T] batch into `pieces` consecutive rows of `length` tokens (the rest of a row is dropped). */
function cutRows(batch: { inputs: Int32Array; targets: Int32Array; batchSize: number; sequenceLength: number }, length: number, pieces: number): TrainingBatch {
  const rows = batch.batchSize * pieces;
  const inputs = new Int32Array(rows * length);
  const targets = new Int32Array(rows * length);
  for (let b = 0; b < batch.batchSize; b++) {
    for (let p = 0; p < pieces; p++) {
      const from = b * batch.sequenceLength + p * length;
      inputs.set(batch.inputs.subarray(from, from + length), (b * pieces + p) * length);
      targets.set(batch.targets.subarray(from, from + length), (b * pieces + p) * length);
    }
  }
  return { inputs, targets, batchSize: rows, sequenceLength: length };
}

// ---------------------------------------------------------------- long-context track

/** Bytes of an S-NIAH answer (' ' + value + '.'): 9 for 7-digit numbers, 38 for UUIDs. */
export function niahAnswerBytes(task: NiahTask): number {
  return task === 'w' ? 38 : 9;
}

export interface LongContextSourceOptions {
  /** SOTU training speeches. */
  readonly documents: readonly CorpusDocument[];
  readonly trainLength: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Share of steps on text; the others on retrieval examples. */
  readonly lmFraction: number;
  /** Retrieval examples of the non-text steps, drawn at random per row (S-NIAH tasks, compact passkey, BABILong qa1/qa2). */
  readonly tasks: readonly RetrievalTask[];
  /**
   * Curriculum over length (TrainRecipe.lengthCurriculum): a text batch of B x T is cut into
   * B * floor(T / L) rows of L bytes; the retrieval steps draw that many examples of L bytes
   * from the tasks that fit in L (retrievalTasksAt).
   */
  readonly curriculum?: LengthCurriculum;
}

/** Bytes kept free for a BABILong answer (' ' + a one-word answer + '.'). */
const BABILONG_ANSWER_BYTES = 16;

/** One retrieval example filled to `length + 1` ids at most: its prompt and its answer. */
export function retrievalExample(task: RetrievalTask, length: number, random: SeededRandom, tokenizer: ByteTokenizer): { ids: number[]; answerStart: number } {
  if (task === 'passkey') {
    const sample = compactPasskey({ length: length + 1, seed: random.nextUint32() });
    const prompt = tokenizer.encode(sample.prompt);
    return { ids: [...prompt, ...tokenizer.encode(sample.answer)], answerStart: prompt.length };
  }
  if (task === 'qa1' || task === 'qa2') {
    const sample = generateBabilongSample({ task, tokenizer, length: length + 1 - BABILONG_ANSWER_BYTES, seed: random.nextUint32() });
    const prompt = Array.from(sample.tokens());
    return { ids: [...prompt, ...tokenizer.encode(` ${sample.target}.`)], answerStart: prompt.length };
  }
  const sample = generateNiahSample({ task, tokenizer, length: length + 1 - niahAnswerBytes(task), depth: random.next(), seed: random.nextUint32() });
  const prompt = sample.tokens();
  return { ids: [...prompt, ...tokenizer.encode(` ${sample.value}.`)], answerStart: prompt.length };
}

const fitCache = new Map<string, boolean>();

/** Whether a retrieval task's examples fit in `length` tokens (tried on 16 seeds; cached). */
export function retrievalFits(task: RetrievalTask, length: number): boolean {
  const key = `${task}:${length}`;
  let fits = fitCache.get(key);
  if (fits === undefined) {
    const tokenizer = new ByteTokenizer();
    fits = true;
    for (let seed = 0; seed < 16 && fits; seed++) {
      try {
        fits = retrievalExample(task, length, new SeededRandom(seed), tokenizer).ids.length <= length + 1;
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        fits = false;
      }
    }
    fitCache.set(key, fits);
  }
  return fits;
}

/** The retrieval tasks whose examples fit in `length` tokens, in the given order. */
export function retrievalTasksAt(tasks: readonly RetrievalTask[], length: number): RetrievalTask[] {
  return tasks.filter((task) => retrievalFits(task, length));
}

export interface LongContextState {
  readonly step: number;
  readonly loader: LoaderState | null;
}

/** Whether step `step` is a text step, spreading the text steps evenly (Bresenham). */
export function isTextStep(step: number, lmFraction: number): boolean {
  return Math.floor((step + 1) * lmFraction) > Math.floor(step * lmFraction);
}

/**
 * Alternates text batches (TokenLoader over the documents, every byte predicted) with
 * S-NIAH batches (prompt of the paper's template at the training length, random task and
 * depth, the answer " value." appended; loss on the answer only). Each step's loss is the
 * mean over its own targets, so the few answer tokens weigh as much as a page of text.
 */
export function longContextSource(options: LongContextSourceOptions): BatchSourceFactory<LongContextState> {
  const tokenizer = new ByteTokenizer();
  return (resume) => {
    let step = resume?.step ?? 0;
    const loader = new TokenLoader({
      documents: options.documents, tokenizer, batchSize: options.batchSize, sequenceLength: options.trainLength,
      seed: deriveSeed(options.seed, 'long-context-text'), ...(resume?.loader ? { resume: resume.loader } : {}),
    });
    let loaderState: LoaderState | null = resume?.loader ?? null;
    const source: BatchSource<LongContextState> = {
      next(): TrainingBatch {
        const current = step++;
        const stage = curriculumStage(options.trainLength, current, options.curriculum);
        if (isTextStep(current, options.lmFraction)) {
          const batch = loader.next();
          loaderState = loader.state();
          if (stage.length === batch.sequenceLength) return { inputs: batch.inputs, targets: batch.targets, batchSize: batch.batchSize, sequenceLength: batch.sequenceLength };
          return cutRows(batch, stage.length, stage.rowsPerRow);
        }
        const tasks = stage.length === options.trainLength ? options.tasks : retrievalTasksAt(options.tasks, stage.length);
        if (!tasks.length) throw new RangeError(`longContextSource: no retrieval task of ${options.tasks.join(', ')} fits a curriculum stage of ${stage.length} bytes`);
        const rows: { ids: number[]; answerStart: number }[] = [];
        for (let b = 0; b < options.batchSize * stage.rowsPerRow; b++) {
          const random = new SeededRandom(deriveSeed(options.seed, 'niah-train', current, b));
          const task = tasks[random.int(0, tasks.length)]!;
          rows.push(retrievalExample(task, stage.length, random, tokenizer));
        }
        return packRows(rows, stage.length, tokenizer.padId);
      },
      state: () => ({ step, loader: loaderState }),
    };
    return source;
  };
}
