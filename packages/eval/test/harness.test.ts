import { ByteTokenizer, Gpt2Tokenizer, loadCorpus } from '@titans/data';
import { describe, expect, it } from 'vitest';
import {
  AssociativeRecallModel,
  BabilongOracleModel,
  evaluateBabilong,
  evaluateMqar,
  evaluateNiah,
  evaluatePerplexity,
  LastWindowModel,
  NeedleLookupModel,
  NgramModel,
  niahAccuracyMatrix,
  type EvaluationProgress,
  type GenerativeModel,
  type ScoringModel,
} from '../src/index.ts';

const gpt2 = await Gpt2Tokenizer.load();
const byte = new ByteTokenizer();

describe('evaluateNiah', () => {
  it('scores the lookup oracle at 100% on every task and cell', async () => {
    for (const task of ['pk', 'n', 'w'] as const) {
      const result = await evaluateNiah({ model: new NeedleLookupModel(gpt2), tokenizer: gpt2, task, lengths: [1024, 4096], depths: 3, samplesPerCell: 2, seed: 1 });
      expect(result.cells).toHaveLength(6);
      expect(result.overall.accuracy).toBe(1);
      expect(result.records.every((r) => r.output.includes(r.value))).toBe(true);
    }
  });

  it('shows a sliding window failing once the needle leaves it', async () => {
    const model = new LastWindowModel(new NeedleLookupModel(gpt2), 1024);
    const progress: EvaluationProgress[] = [];
    const result = await evaluateNiah({ model, tokenizer: gpt2, task: 'n', lengths: [1024, 8192], depths: [0, 0.5, 1], samplesPerCell: 2, seed: 2, onProgress: (p) => progress.push(p) });
    const matrix = niahAccuracyMatrix(result); // [depth][length]
    expect(matrix).toEqual([
      [1, 0],
      [1, 0],
      [1, 1],
    ]);
    expect(progress).toHaveLength(12);
    expect(progress.at(-1)!.done).toBe(12);
    expect(result.model).toBe('needle-lookup@last-1024');
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('is deterministic for a seed and scores a wrong model at 0', async () => {
    const wrong: GenerativeModel = { name: 'always-1234567', generate: async () => gpt2.encode(' 1234567.') };
    const a = await evaluateNiah({ model: wrong, tokenizer: gpt2, task: 'pk', lengths: [1024], depths: [0.5], samplesPerCell: 3, seed: 4 });
    const b = await evaluateNiah({ model: wrong, tokenizer: gpt2, task: 'pk', lengths: [1024], depths: [0.5], samplesPerCell: 3, seed: 4 });
    expect(a.overall.accuracy).toBe(0);
    expect(a.records.map((r) => r.value)).toEqual(b.records.map((r) => r.value));
    expect(new Set(a.records.map((r) => r.value)).size).toBe(3);
  });
});

describe('evaluateBabilong', () => {
  it('scores the fact-replaying oracle at 100% on qa1-qa5 (checks generator and oracle agree)', async () => {
    const result = await evaluateBabilong({
      model: new BabilongOracleModel(gpt2),
      tokenizer: gpt2,
      tasks: ['qa1', 'qa2', 'qa3', 'qa4', 'qa5'],
      lengths: [0, 2048],
      samplesPerCell: 8,
      seed: 5,
    });
    const failures = result.records.filter((r) => !r.correct);
    expect(failures).toEqual([]);
    expect(result.cells).toHaveLength(10);
  });

  it('drops for a window that cannot see the early facts', async () => {
    const model = new LastWindowModel(new BabilongOracleModel(byte), 400);
    const result = await evaluateBabilong({ model, tokenizer: byte, tasks: ['qa1'], lengths: [16384], samplesPerCell: 10, seed: 6 });
    expect(result.overall.accuracy).toBeLessThan(0.7);
  });
});

describe('evaluateMqar', () => {
  it('is perfect for an unbounded lookup and degrades with a small memory', async () => {
    const options = { vocabSize: 8192, sequenceLength: 512, numPairs: 64, samples: 8, seed: 7 };
    const full = await evaluateMqar({ ...options, model: new AssociativeRecallModel({ vocabSize: 8192 }) });
    expect(full.accuracy).toBe(1);
    expect(full.total).toBe(8 * 64);
    const small = await evaluateMqar({ ...options, model: new AssociativeRecallModel({ vocabSize: 8192, capacity: 16 }) });
    expect(small.accuracy).toBeGreaterThan(0);
    expect(small.accuracy).toBeLessThan(0.6);
    expect(small.perSample).toHaveLength(8);
  });
});

describe('evaluatePerplexity', () => {
  const text = loadCorpus('moby-dick', { split: 'test' }).map((d) => d.text).join('\n').slice(0, 20_000);
  const tokens = Int32Array.from(byte.encode(text));
  const train = byte.encode(loadCorpus('moby-dick', { split: 'train' }).map((d) => d.text).join('\n').slice(0, 300_000));

  it('matches a hand computation and gives bits per byte', async () => {
    const uniform: ScoringModel = { name: 'uniform', logProbs: async (t) => new Float32Array(t.length - 1).fill(-Math.log(256)) };
    const result = await evaluatePerplexity({ model: uniform, tokens, bucketSize: 1000, tokenizer: byte });
    expect(result.perplexity).toBeCloseTo(256, 2);
    expect(result.bitsPerByte).toBeCloseTo(8, 4);
    expect(result.buckets).toHaveLength(Math.ceil((tokens.length - 1) / 1000));
    expect(result.byteCount).toBe(tokens.length - 1);
    expect(result.predictions).toBe(tokens.length - 1);
  });

  it('ranks bigram below unigram below uniform, and segments change nothing for a bigram', async () => {
    const unigram = NgramModel.fit(train, { order: 1, vocabSize: byte.vocabSize });
    const bigram = NgramModel.fit(train, { order: 2, vocabSize: byte.vocabSize });
    const u = await evaluatePerplexity({ model: unigram, tokens, bucketSize: 5000, tokenizer: byte });
    const b = await evaluatePerplexity({ model: bigram, tokens, bucketSize: 5000, tokenizer: byte, keepPerToken: true });
    expect(b.perplexity).toBeLessThan(u.perplexity);
    expect(u.perplexity).toBeLessThan(256);
    expect(b.bitsPerByte!).toBeGreaterThan(2);
    expect(b.bitsPerByte!).toBeLessThan(4);
    const segmented = await evaluatePerplexity({ model: bigram, tokens, bucketSize: 5000, segmentLength: 777 });
    expect(segmented.sumNll).toBeCloseTo(b.sumNll, 1);
    expect(b.perTokenNll).toHaveLength(tokens.length - 1);
  });

  it('rejects a model that returns the wrong number of log-probs', async () => {
    const broken: ScoringModel = { name: 'broken', logProbs: async (t) => new Float32Array(t.length) };
    await expect(evaluatePerplexity({ model: broken, tokens })).rejects.toThrow(`returned ${tokens.length} log-probs for ${tokens.length} tokens`);
  });
});
