// Sampling, streaming generation from the decoding state, and the adapters @titans/eval takes.
import { describe, expect, it } from 'vitest';
import { Rng, crossEntropy, liveTensors, noGrad, tensor, tidy } from '@titans/tensor';
import {
  asGenerativeModel, asNextTokenModel, asScoringModel, createModel, generate, sampleToken, type ArchitectureName,
} from '../src/index.js';
import { randomIds, testConfig } from './helpers.js';

describe('sampleToken', () => {
  const logits = [0.5, 2.0, -1.0, 1.5, 0.0];

  it('is greedy at temperature 0 and with filters that keep one token', () => {
    const rng = new Rng(1);
    expect(sampleToken(logits, {}, rng)).toBe(1);
    expect(sampleToken(logits, { temperature: 1, topK: 1 }, rng)).toBe(1);
    expect(sampleToken(logits, { temperature: 1, topP: 1e-6 }, rng)).toBe(1);
    expect(sampleToken(logits, { temperature: 1, minP: 1 }, rng)).toBe(1);
  });

  it('draws from softmax(logits / T) with a seeded generator', () => {
    const draw = (seed: number): number[] => {
      const rng = new Rng(seed);
      return Array.from({ length: 4000 }, () => sampleToken(logits, { temperature: 2 }, rng));
    };
    const draws = draw(7);
    expect(draw(7)).toEqual(draws);
    const weights = logits.map((l) => Math.exp(l / 2));
    const total = weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, i) => {
      const frequency = draws.filter((t) => t === i).length / draws.length;
      expect(Math.abs(frequency - w / total)).toBeLessThan(0.03);
    });
  });

  it('top-k, top-p and min-p keep only the tokens they should', () => {
    const rng = new Rng(3);
    const seen = (options: Parameters<typeof sampleToken>[1]): Set<number> => new Set(Array.from({ length: 500 }, () => sampleToken(logits, options, rng)));
    expect(seen({ temperature: 5, topK: 2 })).toEqual(new Set([1, 3]));
    // p(1) ~ 0.50, p(3) ~ 0.30 at T = 1: top-p 0.7 needs both, nothing else.
    expect(seen({ temperature: 1, topP: 0.7 })).toEqual(new Set([1, 3]));
    // min-p 0.35: token 3 is exp(-0.5) ~ 0.61 as likely as token 1, token 0 only exp(-1.5) ~ 0.22.
    expect(seen({ temperature: 1, minP: 0.35 })).toEqual(new Set([1, 3]));
  });
});

describe.each(['mac', 'mag', 'mal', 'lmm', 'transformer'] as ArchitectureName[])('generate (%s)', (architecture) => {
  const model = createModel(testConfig(architecture));
  const prompt = Array.from(randomIds(1, 9, 31).dataSync());

  it('greedy decoding picks the argmax of a full forward over prompt + output at every step', async () => {
    const streamed: number[] = [];
    const before = liveTensors();
    const out = await generate(model, prompt, { maxNewTokens: 8, onToken: (t) => streamed.push(t) });
    expect(liveTensors()).toBe(before); // every step's state is freed once replaced
    expect(out).toEqual(streamed);
    expect(out).toHaveLength(8);
    tidy(() => noGrad(() => {
      const all = [...prompt, ...out];
      const logits = model.forward(tensor(Int32Array.from(all), [1, all.length], { dtype: 'int32' })).logits.dataSync();
      const vocab = model.config.vocabSize;
      out.forEach((token, i) => {
        const row = Array.from(logits.subarray((prompt.length - 1 + i) * vocab, (prompt.length + i) * vocab));
        expect(token).toBe(row.indexOf(Math.max(...row)));
      });
    }));
  });

  it('stops after a stop id and is reproducible with a seeded sampler', async () => {
    const sampled = await generate(model, prompt, { maxNewTokens: 10, sampling: { temperature: 1, topK: 8, seed: 4 } });
    expect(await generate(model, prompt, { maxNewTokens: 10, sampling: { temperature: 1, topK: 8, seed: 4 } })).toEqual(sampled);
    const stop = sampled[3]!;
    const stopped = await generate(model, prompt, { maxNewTokens: 10, sampling: { temperature: 1, topK: 8, seed: 4 }, stopIds: [stop] });
    expect(stopped).toEqual(sampled.slice(0, sampled.indexOf(stop) + 1));
  });
});

describe('adapters', () => {
  const model = createModel(testConfig('mac'));
  const tokens = Int32Array.from(randomIds(1, 20, 41).dataSync());

  it('ScoringModel.logProbs equals the log-likelihood of one forward, whatever the chunk length', async () => {
    const expected = tidy(() => noGrad(() => {
      const ids = tensor(tokens.slice(0, -1), [1, 19], { dtype: 'int32' });
      const targets = tensor(tokens.slice(1), [1, 19], { dtype: 'int32' });
      return Array.from(crossEntropy(model.forward(ids).logits, targets, { reduction: 'none' }).dataSync(), (v) => -v);
    }));
    for (const chunkLength of [4, 7, 512]) {
      const scorer = asScoringModel(model, { chunkLength });
      expect(scorer.name).toBe('mac');
      const got = await scorer.logProbs(tokens);
      expect(got).toHaveLength(19);
      got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    }
  });

  it('NextTokenModel and GenerativeModel wrap the same model', async () => {
    const next = await asNextTokenModel(model, { chunkLength: 5, name: 'mac-tiny' }).predictNext(tokens);
    expect(next).toHaveLength(20);
    const generator = asGenerativeModel(model, { name: 'mac-tiny' });
    expect(generator.name).toBe('mac-tiny');
    const continuation = await generator.generate(Array.from(tokens), { maxNewTokens: 1 });
    expect(continuation).toEqual([next[19]]);
  });
});
