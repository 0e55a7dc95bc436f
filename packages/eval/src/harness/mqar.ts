// MQAR harness: accuracy of the model's argmax prediction at query positions only.

import { generateMqarBatch, type MqarOptions } from '@titans/data';
import { accuracyStat, type AccuracyStat } from '../metrics.ts';
import type { NextTokenModel } from '../model.ts';

export interface MqarEvalOptions {
  model: NextTokenModel;
  vocabSize: number;
  sequenceLength: number;
  numPairs: number;
  /** Sequences to evaluate. */
  samples: number;
  seed: number;
  gapExponent?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface MqarResult extends AccuracyStat {
  readonly kind: 'mqar';
  readonly model: string;
  readonly vocabSize: number;
  readonly sequenceLength: number;
  readonly numPairs: number;
  readonly samples: number;
  readonly seed: number;
  /** Accuracy of each sequence, in order. */
  readonly perSample: readonly number[];
  readonly seconds: number;
}

export async function evaluateMqar(options: MqarEvalOptions): Promise<MqarResult> {
  const { model, vocabSize, sequenceLength: L, numPairs, samples, seed } = options;
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`evaluateMqar: samples must be a positive integer, got ${samples}`);
  const started = performance.now();
  const spec: MqarOptions = { vocabSize, sequenceLength: L, numPairs, batchSize: samples, seed, ...(options.gapExponent === undefined ? {} : { gapExponent: options.gapExponent }) };
  const batch = generateMqarBatch(spec);
  let correct = 0;
  let total = 0;
  const perSample: number[] = [];
  for (let b = 0; b < samples; b++) {
    const row = batch.tokens.subarray(b * L, (b + 1) * L);
    const predictions = await model.predictNext(row);
    if (predictions.length !== L) throw new Error(`evaluateMqar: ${model.name} returned ${predictions.length} predictions for ${L} tokens`);
    let rowCorrect = 0;
    let rowTotal = 0;
    for (let i = 0; i < L; i++) {
      if (!batch.mask[b * L + i]) continue;
      rowTotal++;
      if (predictions[i] === batch.targets[b * L + i]) rowCorrect++;
    }
    correct += rowCorrect;
    total += rowTotal;
    perSample.push(rowCorrect / rowTotal);
    options.onProgress?.({ done: b + 1, total: samples });
  }
  return { kind: 'mqar', model: model.name, vocabSize, sequenceLength: L, numPairs, samples, seed, perSample, ...accuracyStat(correct, total), seconds: (performance.now() - started) / 1000 };
}
