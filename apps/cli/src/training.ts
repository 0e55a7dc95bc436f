// Training runs from a RunConfig: the batch sources of each data task (all resumable from a
// small JSON state), the loss (language-model loss plus an optional extra weight on passkey
// answers), held-out validation, and the call into @titans/models' train().
import { join } from 'node:path';
import {
  ByteTokenizer, TokenLoader, deriveSeed, generateMqarBatch, loadCorpus, loadTokenizer, passkeyTrainingExample,
  type LoaderState, type Tokenizer,
} from '@titans/data';
import {
  createModel, train, type BatchSource, type CheckpointFileSystem, type LanguageModel, type TrainEvent, type TrainResult, type TrainableModel, type TrainingBatch,
} from '@titans/models';
import { add, crossEntropy, ge, mul, noGrad, sub, tensor, tidy, where, type Tensor } from '@titans/tensor';
import { UsageError } from './command.js';
import { makeOutputDirectory, writeFileAtomically } from './paths.js';
import { passkeySource } from '@titans/experiments';
import type { DataConfig, RunConfig, TokenizerChoice } from './run-config.js';
import { userTextDocuments } from './text-data.js';

export const RUN_FILE = 'run.json';

export async function tokenizerFor(choice: TokenizerChoice): Promise<Tokenizer> {
  return loadTokenizer(choice);
}

/** What the loss needs to know about the batch just drawn besides inputs and targets. */
export interface BatchExtras {
  /** Targets of the passkey answer tokens only (-100 elsewhere), or null when the batch has none. */
  answerTargets: Int32Array | null;
}

/** The JSON position of every batch source: step count plus the text loader's own state. */
export interface DataState {
  readonly step: number;
  readonly text: LoaderState | null;
}

const IGNORE = -100;

/** Tokens of ' 12345.' for `digits` digits: the longest a passkey answer can be. */
function answerLength(tokenizer: Tokenizer, digits: number): number {
  return tokenizer.encode(` ${'9'.repeat(digits)}.`).length + 1;
}

/** One passkey row of sequenceLength + 1 tokens (padded with EOS), with its answer position. */
export function passkeyRow(tokenizer: Tokenizer, data: DataConfig, seed: number): { row: Int32Array; answerStart: number; answerEnd: number } {
  const width = data.sequenceLength + 1;
  const example = passkeyTrainingExample({ tokenizer, length: width - answerLength(tokenizer, data.digits), digits: data.digits, seed });
  const row = new Int32Array(width).fill(tokenizer.eosId ?? 0);
  row.set(example.tokens.subarray(0, width));
  return { row, answerStart: example.answerStart, answerEnd: Math.min(width, example.tokens.length) };
}

/** Whether the task has passkey rows (whose answers the loss can weigh extra). */
export function hasPasskeyRows(task: DataConfig['task']): boolean {
  return task === 'passkey' || task === 'passkey+sotu' || task === 'compact-passkey+sotu';
}

/** Checks up front that the data task fits the config (so bad input fails before anything is written). */
export function checkData(run: RunConfig, tokenizer: Tokenizer): void {
  const { data } = run;
  if (data.task === 'compact-passkey+sotu') {
    try {
      passkeySource({ length: data.sequenceLength, batchSize: 1, seed: 0, digits: data.digits })(undefined).next();
    } catch (error) {
      throw new UsageError(`invalid config: data.sequenceLength ${data.sequenceLength} is too short for a compact passkey prompt (${(error as Error).message})`);
    }
  }
  if (data.task === 'passkey' || data.task === 'passkey+sotu') {
    try {
      passkeyRow(tokenizer, data, 0);
    } catch (error) {
      throw new UsageError(`invalid config: data.sequenceLength ${data.sequenceLength} is too short for a passkey prompt (${(error as Error).message})`);
    }
  }
}

function corpusOf(task: DataConfig['task']): 'sotu' | 'moby-dick' {
  return task === 'moby-dick' ? 'moby-dick' : 'sotu';
}

/** A resumable batch source for the run's data task; `extras` receives per-batch answer targets. */
export function batchSource(run: RunConfig, tokenizer: Tokenizer, extras: BatchExtras, options: { split?: 'train' | 'val'; resume?: DataState } = {}): BatchSource<DataState> {
  const { data } = run;
  const split = options.split ?? 'train';
  const T = data.sequenceLength;
  const seed = deriveSeed(run.seed, split);
  let step = options.resume?.step ?? 0;
  const mixed = data.task === 'passkey+sotu' || data.task === 'compact-passkey+sotu';
  const textRows = data.task === 'passkey' || data.task === 'mqar' ? 0 : mixed ? data.batchSize - data.passkeyRows : data.batchSize;
  const passkeyRows = data.task === 'passkey' ? data.batchSize : mixed ? data.passkeyRows : 0;
  // compact-passkey+sotu: the compact passkey rows of `titans reproduce` (loss on the answer only).
  const compact = data.task === 'compact-passkey+sotu' && passkeyRows > 0
    ? passkeySource({ length: T, batchSize: passkeyRows, seed: deriveSeed(seed, 'compact-passkey'), digits: data.digits })({ step })
    : null;
  const loader = textRows > 0
    ? new TokenLoader({
      documents: data.task === 'text' ? userTextDocuments(data.textFiles ?? [], split) : loadCorpus(corpusOf(data.task), { split }),
      tokenizer, batchSize: textRows, sequenceLength: T, seed,
      ...(options.resume?.text ? { resume: options.resume.text } : {}),
    })
    : null;
  return {
    next(): TrainingBatch {
      const B = data.batchSize;
      const inputs = new Int32Array(B * T);
      const targets = new Int32Array(B * T);
      let answerTargets: Int32Array | null = null;
      if (data.task === 'mqar') {
        const batch = generateMqarBatch({ vocabSize: data.mqarVocab || run.model.vocabSize, sequenceLength: T, numPairs: data.numPairs, batchSize: B, seed: deriveSeed(seed, 'mqar', step) });
        inputs.set(batch.tokens);
        // Only the query positions are learnable (the values are random elsewhere).
        for (let i = 0; i < B * T; i++) targets[i] = batch.mask[i] ? batch.targets[i]! : IGNORE;
      } else if (compact) {
        // Every learnable target of a compact passkey row is an answer token.
        const batch = compact.next();
        inputs.set(batch.inputs);
        targets.set(batch.targets);
        answerTargets = new Int32Array(B * T).fill(IGNORE);
        answerTargets.set(batch.targets);
      } else {
        if (passkeyRows > 0) answerTargets = new Int32Array(B * T).fill(IGNORE);
        for (let r = 0; r < passkeyRows; r++) {
          const { row, answerStart, answerEnd } = passkeyRow(tokenizer, data, deriveSeed(seed, 'passkey', step, r));
          inputs.set(row.subarray(0, T), r * T);
          for (let j = 0; j < T; j++) {
            const target = j + 1;
            targets[r * T + j] = target < answerEnd ? row[target]! : IGNORE;
            if (target >= answerStart && target < answerEnd) answerTargets![r * T + j] = row[target]!;
          }
        }
      }
      if (loader) {
        const text = loader.next();
        inputs.set(text.inputs, passkeyRows * T);
        targets.set(text.targets, passkeyRows * T);
      }
      extras.answerTargets = answerTargets;
      step++;
      return { inputs, targets, batchSize: B, sequenceLength: T };
    },
    state: () => ({ step, text: loader ? loader.state() : null }),
  };
}

/** The parts of the last training loss, for curves (CPU only: read synchronously). */
export interface LossParts {
  answer: number | null;
}

/**
 * The model as train() sees it: loss = mean next-token loss + answerWeight * mean loss on
 * the passkey answer tokens (which are a handful of a row's few hundred targets).
 */
export class WeightedLossModel implements TrainableModel {
  readonly lastParts: LossParts = { answer: null };

  /**
   * @param compiled train() compiles the step (`compilable`): a compiled step freezes host
   * arrays, so the answer targets travel inside the targets tensor (an answer position's
   * target plus vocabSize, see encodeAnswerTargets) and the per-step answer loss is not
   * read back (lastParts.answer stays null; validations still measure it).
   */
  constructor(readonly model: LanguageModel, private readonly extras: BatchExtras, private readonly answerWeight: number, readonly compilable = false) {}

  get config(): object {
    return this.model.config;
  }

  parameters(): Tensor[] {
    return this.model.parameters();
  }

  namedParameters(): [string, Tensor][] {
    return this.model.namedParameters();
  }

  train(on = true): void {
    this.model.train(on);
  }

  eval(): void {
    this.model.eval();
  }

  loss(ids: Tensor, targets: Tensor): Tensor {
    if (this.compilable) return this.encodedLoss(ids, targets);
    const { logits } = this.model.forward(ids);
    const base = crossEntropy(logits, targets);
    const answers = this.extras.answerTargets;
    if (!answers || this.answerWeight === 0) return base;
    const answerLoss = crossEntropy(logits, tensor(answers, targets.shape, { dtype: 'int32', backend: targets.backend }));
    try {
      this.lastParts.answer = answerLoss.dataSync()[0]!;
    } catch {
      this.lastParts.answer = null; // GPU tensors cannot be read synchronously
    }
    return add(base, mul(answerLoss, this.answerWeight));
  }

  /** The same loss from targets that carry the answer positions (encodeAnswerTargets). */
  private encodedLoss(ids: Tensor, targets: Tensor): Tensor {
    const { logits } = this.model.forward(ids);
    if (this.answerWeight === 0) return crossEntropy(logits, targets);
    const vocab = this.model.config.vocabSize;
    const answer = ge(targets, vocab);
    const plain = sub(targets, vocab);
    const base = crossEntropy(logits, where(answer, plain, targets));
    const answerLoss = crossEntropy(logits, where(answer, plain, IGNORE));
    return add(base, mul(answerLoss, this.answerWeight));
  }
}

/** Batches whose targets carry the answer positions (target + vocabSize) for a compiled WeightedLossModel. */
export function encodeAnswerTargets(source: BatchSource<DataState>, extras: BatchExtras, vocabSize: number): BatchSource<DataState> {
  return {
    ...source,
    next(): TrainingBatch {
      const batch = source.next();
      const answers = extras.answerTargets;
      if (answers === null) return batch;
      const targets = Int32Array.from(batch.targets);
      for (let i = 0; i < targets.length; i++) {
        if (answers[i] === IGNORE) continue;
        if (answers[i] !== targets[i]) throw new Error(`internal: answer target ${answers[i]} at ${i} is not the target ${targets[i]}`);
        targets[i]! += vocabSize;
      }
      return { ...batch, targets };
    },
  };
}

/** Held-out loss: mean over `batches` fixed validation batches (text from the val split). */
export async function validationLoss(model: LanguageModel, run: RunConfig, tokenizer: Tokenizer, batches: number): Promise<{ loss: number; answerLoss: number | null }> {
  const extras: BatchExtras = { answerTargets: null };
  const source = batchSource(run, tokenizer, extras, { split: 'val' });
  let total = 0;
  let answerTotal = 0;
  let answerCount = 0;
  for (let i = 0; i < batches; i++) {
    const batch = source.next();
    const shape = [batch.batchSize, batch.sequenceLength];
    const [loss, answer] = tidy(() => noGrad(() => {
      const ids = tensor(batch.inputs, shape, { dtype: 'int32' });
      const { logits } = model.forward(ids);
      const l = crossEntropy(logits, tensor(batch.targets, shape, { dtype: 'int32' }));
      const a = extras.answerTargets ? crossEntropy(logits, tensor(extras.answerTargets, shape, { dtype: 'int32' })) : null;
      return [l, a] as const;
    }));
    total += (await loss.data())[0]!;
    loss.dispose();
    if (answer) {
      answerTotal += (await answer.data())[0]!;
      answerCount++;
      answer.dispose();
    }
  }
  return { loss: total / batches, answerLoss: answerCount > 0 ? answerTotal / answerCount : null };
}

export interface RunTrainingOptions {
  readonly run: RunConfig;
  readonly dir: string;
  readonly resume: boolean;
  /** Resume from weights saved by another revision of the architecture (train's allowRevisionMismatch). */
  readonly allowRevisionMismatch?: boolean;
  readonly log: (event: TrainEvent) => void;
  readonly signal?: AbortSignal;
  /** Called after each validation with its parts (for curves). */
  readonly onValidation?: (step: number, value: { loss: number; answerLoss: number | null }) => void;
  /** Called after each step with the answer-loss part (for curves). */
  readonly onStepParts?: (step: number, parts: LossParts) => void;
  /** Use this model (already built on the chosen backend) instead of building one. */
  readonly model?: LanguageModel;
  /** Checkpoint file operations (tests inject failures such as a full disk). */
  readonly fileSystem?: CheckpointFileSystem;
  /** Called once the directory is locked and a resume has loaded, before the first step. */
  readonly onReady?: (info: { readonly resumedFrom: number | null }) => void;
  /** Compile the training step (default true; false: --eager). */
  readonly compile?: boolean;
}

/**
 * Builds the model and trains (resuming when asked and possible). run.json is written
 * (atomically) only once the directory's writer lock is held and a resume has loaded, so a
 * refused resume or a second trainer on the same directory changes nothing.
 */
export async function runTraining(options: RunTrainingOptions): Promise<{ result: TrainResult; model: LanguageModel }> {
  const { run, dir } = options;
  const tokenizer = await tokenizerFor(run.data.tokenizer);
  checkData(run, tokenizer);
  const model = options.model ?? createModel(run.model);
  const extras: BatchExtras = { answerTargets: null };
  const compiled = (options.compile ?? true) && (model as { readonly compilable?: boolean }).compilable === true;
  const trainable = new WeightedLossModel(model, extras, hasPasskeyRows(run.data.task) ? run.data.answerWeight : 0, compiled);
  makeOutputDirectory(dir);
  const t = run.train;
  const log = (event: TrainEvent): void => {
    if (event.type === 'step') options.onStepParts?.(event.step, { ...trainable.lastParts });
    options.log(event);
  };
  const result = await train<DataState>({
    model: trainable,
    steps: t.steps,
    batches: (resume) => {
      const source = batchSource(run, tokenizer, extras, resume ? { resume } : {});
      return compiled ? encodeAnswerTargets(source, extras, run.model.vocabSize) : source;
    },
    compile: compiled,
    optimizer: { lr: t.lr, betas: [0.9, 0.95], weightDecay: t.weightDecay },
    schedule: { warmupSteps: Math.min(t.warmupSteps, t.steps), minLr: t.lr * t.minLrRatio },
    gradAccumulation: t.gradAccumulation,
    clipNorm: t.clipNorm,
    evalEvery: t.evalEvery,
    evaluate: async ({ step }) => {
      const value = await validationLoss(model, run, tokenizer, t.evalBatches);
      options.onValidation?.(step, value);
      return value.loss;
    },
    checkpointDir: dir,
    checkpointEvery: t.checkpointEvery,
    resume: options.resume,
    allowRevisionMismatch: options.allowRevisionMismatch === true,
    seed: run.seed,
    log,
    onReady: (info) => {
      writeFileAtomically(join(dir, RUN_FILE), `${JSON.stringify(run, null, 2)}\n`);
      options.onReady?.(info);
    },
    ...(options.fileSystem ? { fileSystem: options.fileSystem } : {}),
    config: run.model,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { result, model };
}

/** The byte tokenizer, for callers that need one synchronously. */
export const byteTokenizer = new ByteTokenizer();
