import { ByteTokenizer, deriveSeed, generatePasskeySample } from '@titans/data';
import { describe, expect, it } from 'vitest';
import {
  accuracyStat,
  evaluatePasskey,
  LastWindowModel,
  NeedleLookupModel,
  passkeyAccuracyMatrix,
  type EvaluationProgress,
  type GenerateOptions,
  type GenerativeModel,
} from '../src/index.ts';

const byte = new ByteTokenizer();

/** Answers with a fixed text and remembers every call's options. */
class FixedAnswerModel implements GenerativeModel {
  readonly name = 'fixed';
  readonly calls: { promptTokens: number; options: GenerateOptions }[] = [];
  constructor(private readonly text: string) {}
  async generate(prompt: Int32Array | number[], options: GenerateOptions): Promise<number[]> {
    this.calls.push({ promptTokens: prompt.length, options });
    return byte.encode(this.text).slice(0, options.maxNewTokens);
  }
}

describe('evaluatePasskey', () => {
  it('scores the lookup oracle at 100% in every cell and at every length', async () => {
    const progress: EvaluationProgress[] = [];
    const result = await evaluatePasskey({
      model: new NeedleLookupModel(byte), tokenizer: byte, lengths: [400, 800], depths: 3, samplesPerCell: 2, seed: 1, onProgress: (p) => progress.push(p),
    });
    expect(result.kind).toBe('passkey');
    expect(result.depths).toEqual([0, 0.5, 1]);
    expect(result.digits).toBe(5);
    expect(result.cells).toHaveLength(6);
    expect(result.cells.map((c) => [c.length, c.depth])).toEqual([[400, 0], [400, 0.5], [400, 1], [800, 0], [800, 0.5], [800, 1]]);
    expect(result.overall).toEqual(accuracyStat(12, 12));
    expect(result.byLength).toEqual([{ length: 400, ...accuracyStat(6, 6), nonFinite: 0 }, { length: 800, ...accuracyStat(6, 6), nonFinite: 0 }]);
    expect(result.nonFinite).toBe(0);
    expect(result.records).toHaveLength(12);
    expect(result.records.every((r) => r.correct && r.output === ` ${r.passkey}.` && /^\d{5}$/.test(r.passkey))).toBe(true);
    expect(result.records.every((r) => r.promptTokens <= r.length)).toBe(true);
    expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(progress[0]).toEqual({ done: 1, total: 12, cell: 'length=400 depth=0', correct: true, nonFinite: false });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('shows a window failing once the passkey leaves it, per cell and per length (with Wilson intervals)', async () => {
    const model = new LastWindowModel(new NeedleLookupModel(byte), 300);
    const result = await evaluatePasskey({ model, tokenizer: byte, lengths: [300, 2000], depths: [0, 1], samplesPerCell: 3, seed: 2 });
    expect(passkeyAccuracyMatrix(result)).toEqual([
      [1, 0],
      [1, 1],
    ]);
    expect(result.byLength.map((b) => [b.length, b.correct, b.total])).toEqual([[300, 6, 6], [2000, 3, 6]]);
    expect(result.byLength[1]!.ci95).toEqual(accuracyStat(3, 6).ci95);
    expect(result.overall).toEqual(accuracyStat(9, 12));
    expect(result.model).toBe('needle-lookup@last-300');
  });

  it('builds the prompts from the seed, generates answer + 2 tokens without an EOS stop, and scores a wrong model at 0', async () => {
    const model = new FixedAnswerModel(' 11111. and more text');
    const result = await evaluatePasskey({ model, tokenizer: byte, lengths: [500], depths: [0.25], samplesPerCell: 3, digits: 6, seed: 4 });
    const expected = [0, 1, 2].map((i) => generatePasskeySample({ tokenizer: byte, length: 500, depth: 0.25, digits: 6, seed: deriveSeed(4, 'passkey-eval', 500, 0.25, i) }));
    expect(result.records.map((r) => r.passkey)).toEqual(expected.map((s) => s.passkey));
    expect(result.records.map((r) => r.promptTokens)).toEqual(expected.map((s) => s.tokens().length));
    expect(model.calls.map((c) => c.options)).toEqual(expected.map(() => ({ maxNewTokens: 8 + 2 })));
    expect(result.records.map((r) => r.output)).toEqual([' 11111. an', ' 11111. an', ' 11111. an']);
    expect(result.overall.accuracy).toBe(0);
    expect(result.cells[0]!.meanPromptTokens).toBe(expected.reduce((n, s) => n + s.tokens().length, 0) / 3);
    const again = await evaluatePasskey({ model, tokenizer: byte, lengths: [500], depths: [0.25], samplesPerCell: 3, digits: 6, seed: 4, keepRecords: false });
    expect(again.records).toEqual([]);
    expect(again.cells).toEqual(result.cells);
  });

  it('takes a custom prompt builder and a fixed number of new tokens', async () => {
    const seen: { length: number; depth: number; digits: number; seed: number }[] = [];
    const model = new FixedAnswerModel(' 4242 and so on');
    const result = await evaluatePasskey({
      model, tokenizer: byte, lengths: [64, 128], depths: 1, samplesPerCell: 2, digits: 4, seed: 9, maxNewTokens: 5,
      prompt: (options) => {
        seen.push(options);
        const passkey = options.length === 64 ? '4242' : '1234';
        return { passkey, answer: ` ${passkey}.`, tokens: () => byte.encode('x'.repeat(options.length - 8)) };
      },
    });
    expect(seen).toEqual([0, 1].flatMap((_, l) => [0, 1].map((i) => ({ length: [64, 128][l]!, depth: 0.5, digits: 4, seed: deriveSeed(9, 'passkey-eval', [64, 128][l]!, 0.5, i) }))));
    expect(model.calls.every((c) => c.options.maxNewTokens === 5 && c.options.stopIds === undefined)).toBe(true);
    expect(result.byLength.map((b) => b.accuracy)).toEqual([1, 0]);
    expect(result.cells.map((c) => c.meanPromptTokens)).toEqual([56, 120]);
  });

  it('rejects bad input with a clear error before running anything', async () => {
    const model = new FixedAnswerModel(' 1.');
    const base = { model, tokenizer: byte, lengths: [400], depths: [0.5], samplesPerCell: 1, seed: 0 };
    await expect(evaluatePasskey({ ...base, samplesPerCell: 0 })).rejects.toThrow('evaluatePasskey: samplesPerCell must be a positive integer, got 0');
    await expect(evaluatePasskey({ ...base, lengths: [] })).rejects.toThrow('evaluatePasskey: need at least one length and one depth');
    await expect(evaluatePasskey({ ...base, lengths: [400, 12.5] })).rejects.toThrow('evaluatePasskey: every length must be a positive integer, got 12.5');
    await expect(evaluatePasskey({ ...base, depths: [0.5, 1.5] })).rejects.toThrow('evaluatePasskey: depths must be in [0, 1], got 1.5');
    await expect(evaluatePasskey({ ...base, digits: 16 })).rejects.toThrow('evaluatePasskey: digits must be an integer from 1 to 15, got 16');
    await expect(evaluatePasskey({ ...base, maxNewTokens: 0 })).rejects.toThrow('evaluatePasskey: maxNewTokens must be a positive integer, got 0');
    await expect(evaluatePasskey({ ...base, depths: 0 })).rejects.toThrow(RangeError);
    expect(model.calls).toEqual([]);
    await expect(evaluatePasskey({ ...base, lengths: [50] })).rejects.toThrow(/generatePasskeySample: length 50 is shorter than the prompt/);
  });
});
