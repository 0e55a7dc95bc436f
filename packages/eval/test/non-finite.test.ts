import { ByteTokenizer, Gpt2Tokenizer } from '@titans/data';
import { describe, expect, it } from 'vitest';
import {
  accuracyStat,
  BabilongOracleModel,
  evaluateBabilong,
  evaluateNiah,
  evaluatePasskey,
  isNonFiniteOutputError,
  NeedleLookupModel,
  type EvaluationProgress,
  type GenerateOptions,
  type GenerativeModel,
} from '../src/index.ts';

const byte = new ByteTokenizer();
const gpt2 = await Gpt2Tokenizer.load();

/** What @titans/models' generate throws when the logits are NaN or infinite (matched by name). */
class NonFiniteOutputError extends Error {
  override readonly name = 'NonFiniteOutputError';
}

/** Answers like `inner` on prompts up to `limit` tokens; past it, throws what `fail` makes (a model that diverges at long lengths). */
class DivergingModel implements GenerativeModel {
  readonly name = 'diverging';
  calls = 0;
  constructor(private readonly inner: GenerativeModel, private readonly limit: number, private readonly fail: () => Error) {}
  async generate(prompt: Int32Array | number[], options: GenerateOptions): Promise<number[]> {
    this.calls++;
    if (prompt.length > this.limit) throw this.fail();
    return this.inner.generate(prompt, options);
  }
}

const nan = (): Error => new NonFiniteOutputError("generate: the model's outputs are not finite (NaN at index 0); its weights are corrupt or overflow");

describe('non-finite model outputs in the generation grids', () => {
  it('recognises the error by its name only', () => {
    expect(isNonFiniteOutputError(nan())).toBe(true);
    expect(isNonFiniteOutputError(new Error('the outputs are not finite'))).toBe(false);
    expect(isNonFiniteOutputError(new RangeError('NonFiniteOutputError'))).toBe(false);
    expect(isNonFiniteOutputError({ name: 'NonFiniteOutputError', message: 'x' })).toBe(false);
    expect(isNonFiniteOutputError('NonFiniteOutputError')).toBe(false);
  });

  it('passkey: counts a non-finite prompt as wrong and in nonFinite; the cells the model answers are unaffected', async () => {
    const progress: EvaluationProgress[] = [];
    const options = { tokenizer: byte, lengths: [400, 800], depths: 2, samplesPerCell: 3, seed: 4, onProgress: (p: EvaluationProgress) => progress.push(p) };
    const clean = await evaluatePasskey({ ...options, model: new NeedleLookupModel(byte), onProgress: undefined });
    const model = new DivergingModel(new NeedleLookupModel(byte), 500, nan);
    const result = await evaluatePasskey({ ...options, model });
    expect(model.calls).toBe(12);
    expect(result.cells.map((c) => [c.length, c.depth, c.correct, c.nonFinite])).toEqual([[400, 0, 3, 0], [400, 1, 3, 0], [800, 0, 0, 3], [800, 1, 0, 3]]);
    expect(result.cells.slice(0, 2)).toEqual(clean.cells.slice(0, 2));
    expect(result.cells[2]).toMatchObject({ ...accuracyStat(0, 3), nonFinite: 3 });
    expect(result.byLength).toEqual([{ length: 400, ...accuracyStat(6, 6), nonFinite: 0 }, { length: 800, ...accuracyStat(0, 6), nonFinite: 6 }]);
    expect(result.overall).toEqual(accuracyStat(6, 12));
    expect(result.nonFinite).toBe(6);
    expect(clean.nonFinite).toBe(0);
    expect(result.records.filter((r) => r.length === 800).every((r) => r.nonFinite && !r.correct && r.output === '')).toBe(true);
    expect(result.records.filter((r) => r.length === 400)).toEqual(clean.records.filter((r) => r.length === 400));
    expect(result.records.filter((r) => r.length === 400).every((r) => !r.nonFinite && r.correct)).toBe(true);
    expect(progress.map((p) => p.nonFinite)).toEqual([...new Array<boolean>(6).fill(false), ...new Array<boolean>(6).fill(true)]);
  });

  it('passkey: any other error from the model still aborts the grid', async () => {
    const base = { tokenizer: byte, lengths: [400, 800], depths: 1, samplesPerCell: 1, seed: 0 };
    await expect(evaluatePasskey({ ...base, model: new DivergingModel(new NeedleLookupModel(byte), 500, () => new TypeError('bad token id -1')) })).rejects.toThrow('bad token id -1');
    await expect(evaluatePasskey({ ...base, model: new DivergingModel(new NeedleLookupModel(byte), 500, () => new Error('outputs are not finite')) })).rejects.toThrow('outputs are not finite');
  });

  it('S-NIAH: non-finite samples count as wrong and in nonFinite per cell and in total', async () => {
    const model = new DivergingModel(new NeedleLookupModel(gpt2), 2000, nan);
    const result = await evaluateNiah({ model, tokenizer: gpt2, task: 'pk', lengths: [1024, 4096], depths: 1, samplesPerCell: 2, seed: 1 });
    expect(result.cells.map((c) => [c.length, c.accuracy, c.nonFinite])).toEqual([[1024, 1, 0], [4096, 0, 2]]);
    expect(result.nonFinite).toBe(2);
    expect(result.records.map((r) => r.nonFinite)).toEqual([false, false, true, true]);
    await expect(evaluateNiah({ model: new DivergingModel(new NeedleLookupModel(gpt2), 2000, () => new RangeError('prompt too long')), tokenizer: gpt2, task: 'pk', lengths: [1024, 4096], depths: 1, samplesPerCell: 1, seed: 1 }))
      .rejects.toThrow('prompt too long');
  });

  it('BABILong: non-finite samples count as wrong and in nonFinite per cell and in total', async () => {
    const model = new DivergingModel(new BabilongOracleModel(byte), 600, nan);
    const result = await evaluateBabilong({ model, tokenizer: byte, tasks: ['qa1'], lengths: [0, 2000], samplesPerCell: 2, seed: 3 });
    expect(result.cells.map((c) => [c.length, c.accuracy, c.nonFinite])).toEqual([[0, 1, 0], [2000, 0, 2]]);
    expect(result.nonFinite).toBe(2);
    expect(result.overall).toEqual(accuracyStat(2, 4));
  });
});
