// The Omega rule's surprise bound in the Atlas family: OmegaNet (momentum) takes the config's
// maxSurpriseNorm, the Muon models (Atlas, Atlas-MAG, Atlas-MAL) take none and compute what
// they did; OmegaNet's revision is 2, theirs 1. Regression: an OmegaNet with the full plan's
// passkey config (window 4, degree-2 features, thetaMax 1, no forgetting) gave NaN logits
// from about 250 tokens on; with its gates pushed to the unstable regime it stays finite over
// 1024 tokens with the bound and does not without it.
import { describe, expect, it } from 'vitest';
import { mul, noGrad, tensor, tidy } from '@titans/tensor';
import {
  architectureRevision, createModel, defineConfig, omegaRuleOf, tinyConfig, type ModelConfigInput,
} from '../src/index.js';

describe('omegaRuleOf and the revisions', () => {
  it('OmegaNet takes the config\'s bound (1 by default, none with 0); the Muon models take none', () => {
    expect(omegaRuleOf(tinyConfig('omeganet'))!.maxSurpriseNorm).toBe(1);
    expect(omegaRuleOf(tinyConfig('omeganet', { memory: { ruleOverrides: { maxSurpriseNorm: 0.25 } } }))!.maxSurpriseNorm).toBe(0.25);
    expect('maxSurpriseNorm' in omegaRuleOf(tinyConfig('omeganet', { memory: { ruleOverrides: { maxSurpriseNorm: 0 } } }))!).toBe(false);
    for (const architecture of ['atlas', 'atlas-mag', 'atlas-mal'] as const) {
      for (const maxSurpriseNorm of [undefined, 0, 1, 3]) {
        const config = tinyConfig(architecture, maxSurpriseNorm === undefined ? {} : { memory: { ruleOverrides: { maxSurpriseNorm } } });
        expect('maxSurpriseNorm' in omegaRuleOf(config)!, `${architecture}, maxSurpriseNorm ${maxSurpriseNorm}`).toBe(false);
      }
    }
  });

  it('OmegaNet is at revision 2, Atlas, Atlas-MAG and Atlas-MAL stay at 1', () => {
    expect(architectureRevision('omeganet')).toBe(2);
    for (const architecture of ['atlas', 'atlas-mag', 'atlas-mal'] as const) expect(architectureRevision(architecture), architecture).toBe(1);
  });

  it('an Atlas model computes the same logits, bit for bit, whatever the config\'s maxSurpriseNorm', () => {
    tidy(() => noGrad(() => {
      const ids = tensor(Int32Array.from({ length: 40 }, (_, i) => (i * 31 + 7) % 259), [1, 40], { dtype: 'int32' });
      const logits = (maxSurpriseNorm: number): Float32Array => {
        const model = createModel(tinyConfig('atlas', { memory: { ruleOverrides: { maxSurpriseNorm }, thetaMax: 1 } }));
        return Float32Array.from(model.forward(ids).logits.dataSync());
      };
      expect(logits(0.01)).toEqual(logits(0));
    }));
  });
});

describe('a long OmegaNet sequence in the unstable regime (the passkey model\'s NaN)', () => {
  // The full plan's passkey OmegaNet (dim 32, 2 layers, 2 memory heads, linear memory, chunk 8,
  // thetaMax 1, no forgetting, eta and alpha biases -4), with the learning-rate gate pushed
  // near 1 (bias 6) and the polynomial coefficients doubled: the step
  // theta sum_j gamma_j |phi(k_j)|^2 is far outside the stable range.
  const length = 1024;
  function largestLogit(ruleOverrides: NonNullable<ModelConfigInput['memory']>['ruleOverrides']): number {
    return tidy(() => noGrad(() => {
      const model = createModel(defineConfig({
        architecture: 'omeganet', vocabSize: 259, dim: 32, layers: 2, heads: 2, mlpHidden: 8, window: 16, segmentLength: 16, persistentTokens: 4,
        memory: {
          heads: 2, depth: 1, expansion: 2, chunkSize: 8, convKernel: 4, outputGate: true, thetaMax: 1,
          ruleOverrides: { forgetting: false, ...ruleOverrides },
          gateBias: { theta: 6, eta: -4, alpha: -4 },
        },
      }));
      const coefficients = model.namedParameters().filter(([name]) => name.endsWith('polyCoef'));
      expect(coefficients.length).toBe(2);
      for (const [, p] of coefficients) p.assign(mul(p, 2));
      const ids = tensor(Int32Array.from({ length }, (_, i) => (i * 7919 + 13) % 256), [1, length], { dtype: 'int32' });
      let largest = 0;
      for (const x of model.forward(ids).logits.dataSync()) largest = Number.isFinite(x) ? Math.max(largest, Math.abs(x)) : Infinity;
      return largest;
    }));
  }

  it(`${length} tokens: finite logits with the default bound, non-finite or huge without it`, () => {
    expect(largestLogit({})).toBeLessThan(1e3);
    expect(largestLogit({ maxSurpriseNorm: 0 })).toBeGreaterThan(1e6);
  });
});
