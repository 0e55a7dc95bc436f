// The compiled decode step of generate: same tokens and the same logits, bit for bit on
// the CPU, as eager decoding; replays after two cycles of the memory's chunk; attention
// models decode eagerly and say why.
import { describe, expect, it } from 'vitest';
import { liveTensors } from '@titans/tensor';
import { createModel, decodeStats, generate, releaseModelState, type ArchitectureName, type ModelState } from '../src/index.js';
import { decodeStep } from '../src/decode.js';
import { testConfig } from './helpers.js';

async function decodeLogits(architecture: ArchitectureName, compiled: boolean, steps: number): Promise<{ logits: Float32Array[]; stats: ReturnType<typeof decodeStats> }> {
  const model = createModel(testConfig(architecture, { dtype: 'float32' }));
  let state: ModelState = model.initialState(1);
  const logits: Float32Array[] = [];
  let token = 3;
  for (let i = 0; i < steps; i++) {
    const out = decodeStep(model, token, state, compiled);
    releaseModelState(state, out.state);
    state = out.state;
    const values = Float32Array.from(await out.last.data());
    out.last.dispose();
    logits.push(values);
    token = (token * 7 + i) % model.config.vocabSize;
  }
  releaseModelState(state);
  return { logits, stats: decodeStats(model) };
}

describe('generate: compiled decode step', () => {
  for (const architecture of ['lmm', 'gated-deltanet'] as const) {
    it(`${architecture}: the same logits as eager, bit for bit, with replays`, async () => {
      const live = liveTensors();
      const steps = 14; // chunk 4: two cycles trace and verify, then replays
      const eager = await decodeLogits(architecture, false, steps);
      const afterEager = liveTensors();
      const compiled = await decodeLogits(architecture, true, steps);
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
