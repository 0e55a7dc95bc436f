// The same streaming equivalence in float32, the dtype models train in: round-off differs
// between a one-token and a many-token pass, so the logits agree to a tolerance, not exactly.
import { describe, expect, it } from 'vitest';
import { concat, narrow, noGrad, tidy, type Tensor } from '@titans/tensor';
import { ARCHITECTURES, createModel, type ModelState } from '../src/index.js';
import { maxAbsDiff, randomIds, testConfig } from './helpers.js';

describe('float32 decoding', () => {
  it.each(ARCHITECTURES)('%s: token-by-token logits match one parallel pass', (architecture) => {
    tidy(() => noGrad(() => {
      const model = createModel(testConfig(architecture, { dtype: 'float32' }));
      const ids = randomIds(2, 16, 51);
      const whole = model.forward(ids).logits;
      expect(whole.dtype).toBe('float32');
      let state: ModelState = model.initialState(2);
      const parts: Tensor[] = [];
      for (let t = 0; t < 16; t++) {
        const out = model.forward(narrow(ids, 1, t, 1), state);
        parts.push(out.logits);
        state = out.state;
      }
      const err = maxAbsDiff(concat(parts, 1), whole);
      expect(err).toBeLessThan(1e-3);
    }));
  });
});
