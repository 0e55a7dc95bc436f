// Demo 3: a tiny MAC and a tiny sliding-window Transformer, trained side by side in the
// browser on one recall task: a digit at the start, filler, then '?', and the model must
// answer the digit. The gap is longer than the attention window and the MAC segment, so
// attention alone cannot see the digit when it has to answer; the MAC can only answer by
// writing the digit into its neural memory and reading it back segments later.
// This is the page's secondary, live-training part (the trained checkpoints are in
// versus.ts): both models are trained here, for a few seconds, with @titans/models' own
// training loop.
import { argmax, cpuBackend, noGrad, setBackend, tensor } from '@titans/tensor';
import { createModel, train, type BatchSource, type TrainEvent, type TitansLanguageModel } from '@titans/models';

/** Symbols of the task's vocabulary: digits 0-9, four filler symbols, the query mark. */
export const SYMBOLS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '·', '~', '-', '^', '?'];
const VOCAB = 16;
const FILLERS = 4;
const QUERY = 14;

export const TASK = { trainLength: 24, window: 8, segment: 8 } as const;

/** A deterministic generator (the demo must give the same curves on every run). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** One sequence of `length` tokens: digit, filler, '?', digit. Only the answer positions are scored. */
export function recallSequence(random: () => number, length: number): { inputs: number[]; targets: number[]; key: number } {
  const key = Math.floor(random() * 10);
  const sequence = [key];
  while (sequence.length < length - 2) sequence.push(10 + Math.floor(random() * FILLERS));
  sequence.push(QUERY, key);
  return {
    inputs: sequence.slice(0, -1),
    // Position i predicts token i + 1: score the '?' and the digit after it.
    targets: sequence.slice(1).map((t, i) => (i >= length - 3 ? t : -100)),
    key,
  };
}

function batches(seed: number, batchSize: number, length: number): BatchSource<number> {
  const random = lcg(seed);
  let drawn = 0;
  return {
    next() {
      const rows = Array.from({ length: batchSize }, () => recallSequence(random, length));
      drawn++;
      return {
        inputs: Int32Array.from(rows.flatMap((r) => r.inputs)),
        targets: Int32Array.from(rows.flatMap((r) => r.targets)),
        batchSize,
        sequenceLength: length - 1,
      };
    },
    state: () => drawn,
  };
}

export type Contender = 'mac' | 'swa';

export function buildModel(architecture: Contender): TitansLanguageModel {
  return createModel({
    architecture,
    vocabSize: VOCAB,
    dim: 16,
    layers: 1,
    heads: 2,
    window: TASK.window,
    segmentLength: TASK.segment,
    persistentTokens: architecture === 'mac' ? 2 : 0,
    // A linear memory updated every 4 tokens: the cheapest memory that can hold one digit.
    memory: { depth: 1, chunkSize: 4 },
    seed: 0,
  });
}

export interface TrainProgress {
  readonly model: Contender;
  readonly step: number;
  readonly loss: number;
  readonly msPerStep: number;
}

export interface ContenderResult {
  readonly model: Contender;
  readonly parameters: number;
  readonly losses: number[];
  readonly seconds: number;
  /** Digit accuracy at each evaluation length. */
  readonly accuracy: { length: number; accuracy: number }[];
  /** The first evaluation sequence of the longest length and what the model answered. */
  readonly example: { prompt: string; answer: string; predicted: string };
}

export interface DemoOptions {
  steps: number;
  evalLengths: readonly number[];
  evalSamples: number;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
}

/** Trains both models at once (their loops interleave on the event loop) and scores them. */
export async function runMacVsSwa(options: DemoOptions): Promise<ContenderResult[]> {
  // Models this small train faster on the CPU than through thousands of tiny GPU dispatches.
  setBackend(cpuBackend);
  const run = async (name: Contender): Promise<ContenderResult> => {
    const model = buildModel(name);
    const started = performance.now();
    const result = await train({
      model,
      steps: options.steps,
      batches: batches(11, 8, TASK.trainLength),
      optimizer: { lr: 1e-2 },
      schedule: 'constant',
      seed: 0,
      ...(options.signal ? { signal: options.signal } : {}),
      log: (event: TrainEvent) => {
        if (event.type === 'step') options.onProgress?.({ model: name, step: event.step, loss: event.loss, msPerStep: event.elapsedMs / event.step });
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const losses = result.losses.map((l) => l ?? Number.NaN);
    const accuracy = options.evalLengths.map((length) => ({ length, accuracy: score(model, length, options.evalSamples) }));
    return { model: name, parameters: model.parameterCount(), losses, seconds, accuracy, example: example(model, options.evalLengths[options.evalLengths.length - 1]!) };
  };
  return Promise.all([run('swa'), run('mac')]);
}

/** Fraction of `samples` fresh sequences of `length` whose digit the model predicts (greedy). */
export function score(model: TitansLanguageModel, length: number, samples: number): number {
  const random = lcg(1000 + length);
  const rows = Array.from({ length: samples }, () => recallSequence(random, length));
  const predicted = predictLast(model, rows.map((r) => r.inputs), length - 1);
  return rows.filter((r, i) => predicted[i] === r.key).length / samples;
}

function predictLast(model: TitansLanguageModel, inputs: number[][], width: number): number[] {
  return noGrad(() => {
    const ids = tensor(inputs.flat(), [inputs.length, width], { dtype: 'int32' });
    const best = argmax(model.forward(ids).logits, -1).dataSync();
    return inputs.map((_, i) => best[i * width + width - 1]!);
  });
}

function example(model: TitansLanguageModel, length: number): ContenderResult['example'] {
  const row = recallSequence(lcg(1000 + length), length);
  const [predicted] = predictLast(model, [row.inputs], length - 1);
  return { prompt: row.inputs.map((t) => SYMBOLS[t]).join(''), answer: SYMBOLS[row.key]!, predicted: SYMBOLS[predicted!] ?? '?' };
}
