// Compiled training steps on WebGPU (the default of `train()`): the same losses as eager
// WebGPU steps to float32 rounding, for an attention baseline and a Titans model. Compiled
// WebGPU training once stopped at step 2 (a cached scalar the tracer could not read).
import { describe, expect, it } from 'vitest';
import { createModel, type ArchitectureName } from '../src/index.ts';
import { train } from '../src/train/index.ts';
import { useWebGPU } from './compile-fixtures.ts';
import { TokenStream } from './train-fixtures.ts';

useWebGPU();

async function losses(architecture: ArchitectureName, compile: boolean): Promise<{ losses: number[]; replays: number }> {
  const model = createModel({
    architecture, vocabSize: 16, dim: 16, layers: 1, heads: 2, mlpHidden: 32, window: 8, segmentLength: 8, dtype: 'float32', seed: 5,
  });
  try {
    const result = await train({ model, steps: 4, batches: new TokenStream(2, 8), optimizer: { lr: 1e-2 }, clipNorm: 1, compile });
    return { losses: result.losses.map((l) => l ?? NaN), replays: result.compiled?.replays ?? 0 };
  } finally {
    for (const p of model.parameters()) p.dispose();
  }
}

describe('compiled training on WebGPU', () => {
  for (const architecture of ['transformer', 'mag'] as const) {
    it(`${architecture}: 4 compiled steps give eager's losses`, async () => {
      const eager = await losses(architecture, false);
      const compiled = await losses(architecture, true);
      expect(compiled.replays).toBeGreaterThan(0);
      expect(compiled.losses.every(Number.isFinite)).toBe(true);
      compiled.losses.forEach((l, i) => expect(Math.abs(l - eager.losses[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(eager.losses[i]!))));
    }, 120_000);
  }
});
