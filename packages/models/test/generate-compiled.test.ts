// The compiled decode step of generate: same tokens and the same logits, bit for bit on
// the CPU, as eager decoding; replays after two cycles of the memory's chunk; attention
// models decode eagerly and say why.
import { describe, expect, it } from 'vitest';
import { liveTensors } from '@titans/tensor';
import { createModel, decodeStats, generate } from '../src/index.js';
import { decodeLogits } from './compile-fixtures.js';
import { VOCAB, testConfig } from './helpers.js';

describe('generate: compiled decode step', () => {
  for (const architecture of ['lmm', 'gated-deltanet'] as const) {
    it(`${architecture}: the same logits as eager, bit for bit, with replays`, async () => {
      const live = liveTensors();
      const steps = 14; // chunk 4: two cycles trace and verify, then replays
      // The same tokens in both runs, whatever the logits.
      const next = (_: Float32Array, i: number, token: number): number => (token * 7 + i) % VOCAB;
      const eager = await decodeLogits(architecture, false, steps, 3, next);
      const afterEager = liveTensors();
      const compiled = await decodeLogits(architecture, true, steps, 3, next);
      // Each run leaves its model's parameters alive, nothing else.
      expect(liveTensors() - afterEager).toBe(afterEager - live);
      expect(eager.stats.compiledSteps).toBe(0);
      expect(eager.stats.eagerSteps).toBe(steps);
      expect(compiled.stats.eagerReason).toBeNull();
      expect(compiled.stats.compiledSteps).toBe(steps);
      expect(compiled.stats.compile!.replays).toBeGreaterThan(0);
      expect(compiled.stats.compile!.traces).toBeLessThanOrEqual(2 * (4 + 2));
      for (let i = 0; i < steps; i++) expect(Array.from(compiled.logits[i]!)).toEqual(Array.from(eager.logits[i]!));
    });

    it(`${architecture}: generate gives the same tokens compiled and eager (seeded sampling)`, async () => {
      const config = testConfig(architecture, { dtype: 'float32' });
      const prompt = [1, 5, 9, 2, 7];
      const run = (compile: boolean): Promise<number[]> => generate(createModel(config), prompt, { maxNewTokens: 20, compile, sampling: { temperature: 1, seed: 4 } });
      const eager = await run(false);
      const model = createModel(config);
      const compiled = await generate(model, prompt, { maxNewTokens: 20, sampling: { temperature: 1, seed: 4 } });
      expect(compiled).toEqual(eager);
      expect(await run(true)).toEqual(eager);
      expect(decodeStats(model).compiledSteps).toBe(19);
      expect(decodeStats(model).compile!.replays).toBeGreaterThan(0);
    });
  }

  it('attention models decode eagerly and say why', async () => {
    const model = createModel(testConfig('mag', { dtype: 'float32' }));
    await generate(model, [1, 2, 3], { maxNewTokens: 4 });
    const stats = decodeStats(model);
    expect(stats.compiledSteps).toBe(0);
    expect(stats.eagerSteps).toBe(3);
    expect(stats.eagerReason).toMatch(/attention/);
  });
});
