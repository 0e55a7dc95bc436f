// TrainOptions.compile as an object: compile() options for the step's three functions. With
// `profile: true` the result reports the replays' time by step kind, per phase; with the CPU
// buffer pool off (`pool: false`) the steps still equal eager steps bit for bit.
import { describe, expect, it } from 'vitest';
import { createModel, type TitansLanguageModel } from '../src/index.ts';
import { train } from '../src/train/index.ts';
import { TokenStream } from './train-fixtures.ts';

const tiny = (): TitansLanguageModel => createModel({
  architecture: 'mag', vocabSize: 16, dim: 16, layers: 1, heads: 2, mlpHidden: 32, window: 8, segmentLength: 8, dtype: 'float32', seed: 5,
});

describe('train() with compile options', () => {
  it('profile: true reports replay time by phase and step kind; pool on and off equal eager', async () => {
    const run = async (compile: Parameters<typeof train>[0]['compile']) => {
      const model = tiny();
      const result = await train({ model, steps: 4, batches: new TokenStream(2, 8), optimizer: { lr: 1e-2 }, compile });
      return { result, weights: model.parameters().map((p) => Array.from(p.dataSync())) };
    };
    const eager = await run(false);
    expect(eager.result.compiled).toBeNull();
    const profiled = await run({ profile: true });
    const unpooled = await run({ pool: false });
    for (const r of [profiled, unpooled]) {
      expect(r.result.losses).toStrictEqual(eager.result.losses);
      expect(r.weights).toStrictEqual(eager.weights);
    }
    expect(unpooled.result.compiled?.profile).toEqual([]);
    const profile = profiled.result.compiled!.profile;
    expect(profiled.result.compiled!.replays).toBeGreaterThan(0);
    const kinds = profile.map((p) => p.kind);
    for (const phase of ['gradients', 'clip', 'update']) expect(kinds.some((k) => k.startsWith(`${phase} `))).toBe(true);
    expect(kinds).toContain('gradients bind');
    expect(kinds).toContain('gradients finish');
    expect(kinds.some((k) => k.startsWith('gradients fused-') || k === 'gradients matmul')).toBe(true);
    for (let i = 1; i < profile.length; i++) expect(profile[i]!.ms).toBeLessThanOrEqual(profile[i - 1]!.ms);
    for (const p of profile) {
      expect(p.calls).toBeGreaterThan(0);
      expect(p.ms).toBeGreaterThanOrEqual(0);
    }
  });
});
