// The training loop's compiled step (TrainOptions.compile, the default for the package's
// models) gives the same losses and weights as eager steps, bit for bit on the CPU.
import { describe, expect, it } from 'vitest';
import { createModel, type TitansLanguageModel } from '../src/index.ts';
import { train } from '../src/train/index.ts';
import { TokenStream } from './train-fixtures.ts';

const tiny = (): TitansLanguageModel => createModel({
  architecture: 'mag', vocabSize: 16, dim: 16, layers: 2, heads: 2, mlpHidden: 32, window: 8, segmentLength: 8, dtype: 'float32', seed: 3,
});

describe('compiled training steps', () => {
  it('MAG: 3 compiled steps (AdamW, clipping, warmup schedule, 2 micro-batches) equal 3 eager steps', async () => {
    const run = async (compile: boolean | undefined): Promise<{ losses: (number | null)[]; weights: number[][] }> => {
      const model = tiny();
      const result = await train({
        model, steps: 3, batches: new TokenStream(2, 8), optimizer: { lr: 1e-2 }, schedule: { warmupSteps: 2 }, gradAccumulation: 2, clipNorm: 0.5,
        ...(compile === undefined ? {} : { compile }),
      });
      return { losses: result.losses, weights: model.parameters().map((p) => Array.from(p.dataSync())) };
    };
    const eager = await run(false);
    const compiled = await run(undefined); // the default for the package's models
    expect(compiled.losses.every((l) => l !== null && Number.isFinite(l))).toBe(true);
    expect(compiled.losses).toStrictEqual(eager.losses);
    expect(compiled.weights).toStrictEqual(eager.weights);
  });
});
