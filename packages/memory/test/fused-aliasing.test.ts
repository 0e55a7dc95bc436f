// The fused memory scan's recorded backward (grad of grad) with aliased and dependent
// inputs: q = k and v computed from k, against finite differences of the first gradient.
import { describe, it } from 'vitest';
import { mul, tanh, type Tensor } from '@titans/tensor';
import { checkGradients, checkSecondDerivatives } from '@titans/test-utils';
import { initialState, scanParallel } from '../src/index.js';
import { randomInputs, randomWeights, rule } from './helpers.js';

describe('fused memory scan with aliased and dependent inputs', () => {
  it('k = q = x and v = tanh(x) / 2: first and second derivatives', () => {
    const memoryRule = rule({ chunkSize: 4 }, 4);
    const inputs = randomInputs({ lead: [1], tokens: 5, dim: 4, dtype: 'float64', seed: 3 });
    const weights = randomWeights(memoryRule.architecture, 4, { heads: 1, dtype: 'float64', seed: 4 });
    const f = (x: Tensor): Tensor => scanParallel(memoryRule, { ...inputs, k: x, q: x, v: mul(tanh(x), 0.5) }, initialState(weights, memoryRule)).yPost;
    checkGradients(f, [inputs.k]);
    checkSecondDerivatives(f, [inputs.k]);
  }, 60_000);
});
