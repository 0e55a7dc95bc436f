// Every Miras variant (attentional bias, retention, learning-rule switches, the surprise
// clamp): the parallel form equals the loop, and the outer-loop gradients (autograd
// through the parallel form, second-order terms included) match central differences.
import { describe, it } from 'vitest';
import { linearArchitecture, type MemoryRule } from '../src/index.js';
import { checkOuterGradients, expectLoopEqualsParallel, randomInputs, randomWeights, rule } from './helpers.js';

const dim = 6;
const mlp = { depth: 2, hidden: 10, activation: 'silu', residual: true, norm: true } as const;
const variants: Record<string, Partial<MemoryRule>> = {
  'bias lp, p = 3 (Moneta)': { bias: { kind: 'lp', p: 3 } },
  'bias lp, p = 1.5': { bias: { kind: 'lp', p: 1.5, eps: 1e-4 } },
  'bias huber, fixed delta (Yaad)': { bias: { kind: 'huber', delta: 0.8 } },
  'bias huber, data-dependent delta': { bias: { kind: 'huber' } },
  'retention elastic-net': { retention: { kind: 'elastic-net', lambda: 0.02 } },
  'retention lq, q = 4 (Moneta)': { retention: { kind: 'lq', q: 4 } },
  'retention kl (Memora)': { retention: { kind: 'kl', scale: 2 } },
  'momentum off': { momentum: false },
  'forgetting off': { forgetting: false },
  'momentum and forgetting off (DeltaNet rule)': { momentum: false, forgetting: false },
  'maxSurpriseNorm 1.5': { maxSurpriseNorm: 1.5 },
};
const dataDependentDelta = (name: string): boolean => name.includes('data-dependent');

describe('Miras variants: parallel equals loop (float64)', () => {
  for (const [name, overrides] of Object.entries(variants)) {
    for (const architecture of [linearArchitecture(), mlp]) {
      it(`${name}, ${architecture.depth === 1 ? 'linear' : 'mlp2_residual_ln'} memory, chunk 8, 29 tokens`, () => {
        const inputs = randomInputs({ tokens: 29, dim, huberDelta: dataDependentDelta(name) });
        expectLoopEqualsParallel(rule({ ...overrides, architecture, chunkSize: 8 }, dim), inputs, randomWeights(architecture, dim), 1e-11);
      });
    }
  }
});

describe('Miras variants: outer-loop gradients match central differences (float64)', () => {
  for (const [name, overrides] of Object.entries(variants)) {
    it(`${name}, mlp2_residual_ln memory`, () => {
      checkOuterGradients(rule({ ...overrides, architecture: { ...mlp, hidden: 4 }, chunkSize: 4 }, 3), { huberDelta: dataDependentDelta(name) });
    });
  }
});

describe('deeper memories: outer-loop gradients match central differences (float64)', () => {
  for (const activation of ['silu', 'gelu'] as const) {
    it(`depth 3, ${activation}, residual + LayerNorm`, () => {
      checkOuterGradients(rule({ architecture: { depth: 3, hidden: 4, activation, residual: true, norm: true }, chunkSize: 4 }, 3));
    });
  }
  it('depth 4, silu, no residual (the reference loop too)', () => {
    const memoryRule = rule({ architecture: { depth: 4, hidden: 3, activation: 'silu', residual: false, norm: false }, chunkSize: 2 }, 3);
    checkOuterGradients(memoryRule);
    checkOuterGradients(memoryRule, { path: 'loop' });
  });
});

