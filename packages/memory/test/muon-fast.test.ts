// newtonSchulzBatched (omega.ts: the Newton-Schulz polynomial grouped as (a I + G (b I + c G)) X,
// used by omegaParallel under Muon) against newtonSchulz (network.ts, the readable form) on
// wide, tall and square batches, every step count the spec allows, float64 and float32,
// and its gradient against the readable form's.
import { describe, expect, it } from 'vitest';
import { Rng, gradients, mul, nn, noGrad, sum, tidy } from '@titans/tensor';
import { newtonSchulz as readable, newtonSchulzBatched } from '../src/index.js';
import { maxAbsDiff } from './helpers.js';

describe('batched Newton-Schulz (Muon in omegaParallel)', () => {
  it.each([[[3, 5, 5]], [[2, 3, 4, 7]], [[2, 7, 4]], [[1, 1, 6]], [[4, 1, 1]]])('shape %j: equals newtonSchulz for 0..5 steps (float64, float32)', (shape) => {
    tidy(() => noGrad(() => {
      const x = new Rng(1).normal(shape, 0, 1, { dtype: 'float64' });
      for (let steps = 0; steps <= 5; steps++) {
        const want = steps === 0 ? x : readable(x, steps);
        expect(maxAbsDiff(newtonSchulzBatched(x, steps).dataSync(), want.dataSync())).toBeLessThan(1e-12);
        const x32 = x.cast('float32');
        expect(maxAbsDiff(newtonSchulzBatched(x32, steps).dataSync(), (steps === 0 ? x32 : readable(x32, steps)).dataSync())).toBeLessThan(2e-5);
      }
    }));
  });

  it('its gradient equals the readable form\'s (float64)', () => {
    tidy(() => {
      const x = nn.parameter(new Rng(2).normal([3, 4, 6], 0, 1, { dtype: 'float64' }));
      const r = new Rng(3).normal([3, 4, 6], 0, 1, { dtype: 'float64' });
      const [fast] = gradients(sum(mul(newtonSchulzBatched(x, 5), r)), [x]);
      const [slow] = gradients(sum(mul(readable(x, 5), r)), [x]);
      expect(maxAbsDiff(fast!.dataSync(), slow!.dataSync())).toBeLessThan(1e-10);
    });
  });
});
