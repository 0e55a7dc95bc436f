// The Omega-rule memory: equal to the Titans memory bit for bit when its knobs are off,
// the chunked parallel form equal to the per-token loop on random shapes (windows, feature
// maps, Muon), streams in pieces equal to one pass, outer gradients by finite differences.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Rng, add, concat, expand, full, mul, ones, sum, tensor, tidy, valueAndGrad, type Tensor,
} from '@titans/tensor';
import * as memory from '../src/index.js';
import {
  expTaylorCoefficients, initialState, memoryPreset, omegaFeatureDim, omegaInitialState, omegaLoop, omegaParallel, omegaWeightShapes,
  polynomialFeatures, scanLoop, scanParallel,
  type MemoryArchitecture, type OmegaInputs, type OmegaOutputs, type OmegaRule, type OmegaState,
} from '../src/index.js';
import { expectClose, expectFiniteDifferences, expectSameBits, finiteDifferenceError, outerObjective, randomInputs } from './helpers.js';

const MLP: MemoryArchitecture = { depth: 2, hidden: 7, activation: 'silu', residual: false, norm: false };
const MLP_RESIDUAL_LN: MemoryArchitecture = { depth: 2, hidden: 10, activation: 'silu', residual: true, norm: true };
const LINEAR: MemoryArchitecture = { depth: 1, hidden: 0, activation: 'silu', residual: false, norm: false };

function omegaRule(overrides: Partial<OmegaRule>): OmegaRule {
  return {
    architecture: MLP, chunkSize: 4, window: 1, feature: { kind: 'identity' }, optimizer: { kind: 'momentum' },
    momentum: true, forgetting: true, ...overrides,
  };
}

interface Problem { inputs: OmegaInputs; weights: Tensor[] }

function problem(rule: OmegaRule, sizes: { lead?: number[]; tokens: number; dim: number; seed?: number; heads?: number }): Problem {
  const { lead = [2, 3], tokens, dim, seed = 1 } = sizes;
  const rng = new Rng(seed);
  const opts = { dtype: 'float64' as const };
  const gate = (low: number, high: number): Tensor => rng.uniform([...lead, tokens], low, high, opts);
  const inputs: OmegaInputs = {
    // k, v, q, theta, eta, alpha as for the Titans memory, then the Omega rule's own inputs.
    ...randomInputs({ lead, tokens, dim, rng }),
    gamma: rng.uniform([...lead, tokens, rule.window], 0.2, 1, opts),
    ...(rule.feature.kind === 'poly' ? { coef: tensor(expTaylorCoefficients(rule.feature.degree).map((a, i) => a * (1 - 0.1 * i)), undefined, opts) } : {}),
    ...(rule.optimizer.kind === 'muon' ? { lr: gate(0.01, 0.1) } : {}),
  };
  const heads = lead.length > 0 ? [lead[lead.length - 1]!] : [];
  const weights = omegaWeightShapes(rule, dim).map(([o, i]) => rng.normal([...heads, o, i], 0, 1 / Math.sqrt(i), opts));
  return { inputs, weights };
}

function expectSameOmegaRun(actual: OmegaOutputs, expected: OmegaOutputs, tolerance: number): void {
  expectClose(actual.yPre, expected.yPre, tolerance, 'y_pre');
  expectClose(actual.yPost, expected.yPost, tolerance, 'y_post');
  expectClose(actual.loss, expected.loss, tolerance, 'loss');
  expectSameOmegaState(actual.state, expected.state, tolerance);
}

function expectSameOmegaState(actual: OmegaState, expected: OmegaState, tolerance: number): void {
  expect(actual.position).toBe(expected.position);
  const full = (a: Tensor, b: Tensor): [Tensor, Tensor] => {
    const shape = a.ndim >= b.ndim ? a.shape : b.shape;
    return [expand(a, shape), expand(b, shape)];
  };
  actual.weights.forEach((w, l) => expectClose(...full(w, expected.weights[l]!), tolerance, `weights[${l}]`));
  actual.momentum.forEach((s, l) => expectClose(...full(s, expected.momentum[l]!), tolerance, `momentum[${l}]`));
  expect(Boolean(actual.tail)).toBe(Boolean(expected.tail));
  if (actual.tail && expected.tail) {
    expectClose(actual.tail.k, expected.tail.k, 0, 'tail.k');
    expectClose(actual.tail.v, expected.tail.v, 0, 'tail.v');
  }
  expect(Boolean(actual.pending)).toBe(Boolean(expected.pending));
  if (actual.pending && expected.pending) {
    expectClose(actual.pending.k, expected.pending.k, 0, 'pending.k');
    expectClose(actual.pending.gamma, expected.pending.gamma, 0, 'pending.gamma');
  }
}

function startState(rule: OmegaRule, p: Problem): OmegaState {
  void rule;
  return omegaInitialState(p.weights);
}

// scanParallel may run a fused kernel (another arithmetic order) where the backend has one;
// the bit-for-bit claim is against the composite chunked form, which the fused-kernel switch
// selects (in builds that have it; without it scanParallel is the composite form), and
// against the per-token loop.
type Toggle = (on: boolean) => boolean;
let setFused: Toggle | undefined = (memory as Record<string, unknown>).setFusedMemoryKernels as Toggle | undefined;
beforeAll(async () => {
  const fusedModule = '../src/fused.js';
  setFused ??= ((await import(/* @vite-ignore */ fusedModule).catch(() => ({}))) as { setFusedMemoryKernels?: Toggle }).setFusedMemoryKernels;
});
function composite<T>(fn: () => T): T {
  const previous = setFused?.(false);
  try {
    return fn();
  } finally {
    if (previous !== undefined) setFused!(previous);
  }
}

describe('with c = 1, identity features and momentum it is the Titans memory', () => {
  for (const [name, arch] of [['linear', LINEAR], ['mlp2', MLP], ['mlp2 residual + LN', MLP_RESIDUAL_LN]] as const) {
    it(`${name}: bit for bit in float64 on the CPU (parallel form and loop; 37 tokens, chunk 8, outputs, state, outer gradients)`, () => {
      tidy(() => {
        const rule = omegaRule({ architecture: arch, chunkSize: 8 });
        const titans = memoryPreset('titans', 6, { architecture: arch, chunkSize: 8 });
        const { inputs, weights } = problem(rule, { tokens: 37, dim: 6, seed: 3 });
        const gammaOne = { ...inputs, gamma: ones([2, 3, 37, 1], { dtype: 'float64' }) };
        const titansInputs = { k: inputs.k, v: inputs.v, q: inputs.q, theta: inputs.theta, eta: inputs.eta, alpha: inputs.alpha };
        const pairs = [[omegaLoop, scanLoop], [omegaParallel, scanParallel]] as const;
        for (const [omega, scan] of pairs) {
          const a = omega(rule, gammaOne, omegaInitialState(weights));
          const b = composite(() => scan(titans, titansInputs, initialState(weights)));
          expectSameBits(a.yPre, b.yPre, 'y_pre');
          expectSameBits(a.yPost, b.yPost, 'y_post');
          expectSameBits(a.loss, b.loss, 'loss');
          a.state.weights.forEach((w, l) => expectSameBits(w, b.state.weights[l]!, `weights[${l}]`));
          a.state.momentum.forEach((s, l) => expectSameBits(s, b.state.momentum[l]!, `momentum[${l}]`));
          expectSameBits(a.state.pending!.k, b.state.pending!.k, 'pending.k');
        }
        // Outer-loop gradients through the parallel forms, bit for bit too.
        const objective = (run: (x: Tensor[]) => { yPre: Tensor; yPost: Tensor }) => (x: Tensor[]): Tensor => outerObjective(run(x));
        const [, gOmega] = valueAndGrad(objective(([k, w0]) => omegaParallel(rule, { ...gammaOne, k: k! }, omegaInitialState([w0!, ...weights.slice(1)]))))([inputs.k, weights[0]!]);
        const [, gLoop] = valueAndGrad(objective(([k, w0]) => omegaLoop(rule, { ...gammaOne, k: k! }, omegaInitialState([w0!, ...weights.slice(1)]))))([inputs.k, weights[0]!]);
        const [, gTitans] = composite(() => valueAndGrad(objective(([k, w0]) => scanParallel(titans, { ...titansInputs, k: k! }, initialState([w0!, ...weights.slice(1)]))))([inputs.k, weights[0]!]));
        const [, gTitansLoop] = valueAndGrad(objective(([k, w0]) => scanLoop(titans, { ...titansInputs, k: k! }, initialState([w0!, ...weights.slice(1)]))))([inputs.k, weights[0]!]);
        expectSameBits(gOmega[0]!, gTitans[0]!, 'd/dk');
        expectSameBits(gOmega[1]!, gTitans[1]!, 'd/dP0');
        expectSameBits(gLoop[0]!, gTitansLoop[0]!, 'd/dk (loop)');
        expectSameBits(gLoop[1]!, gTitansLoop[1]!, 'd/dP0 (loop)');
        // And against whatever scanParallel runs by default (a fused kernel: rounding only).
        const a = omegaParallel(rule, gammaOne, omegaInitialState(weights));
        const b = scanParallel(titans, titansInputs, initialState(weights));
        expectClose(a.yPre, b.yPre, 1e-13, 'y_pre vs the default scanParallel');
        expectClose(a.yPost, b.yPost, 1e-13, 'y_post vs the default scanParallel');
        expectClose(gOmega[1]!, gTitans[1]!, 1e-13, 'd/dP0');
      });
    });
  }
});

describe('the chunked parallel form equals the per-token loop (float64, random shapes)', () => {
  const cases: [string, Partial<OmegaRule>, { tokens: number; dim: number; lead?: number[] }][] = [
    ['linear, c 3, identity, momentum, chunk 4', { architecture: LINEAR, window: 3 }, { tokens: 13, dim: 4 }],
    ['mlp, c 5, identity, momentum, chunk 3 (window wider than the chunk)', { window: 5, chunkSize: 3 }, { tokens: 11, dim: 3 }],
    ['mlp, c 2, poly 2, momentum, chunk 5', { window: 2, chunkSize: 5, feature: { kind: 'poly', degree: 2 } }, { tokens: 12, dim: 3 }],
    ['linear, c 4, poly 3, muon 5, chunk 4', { architecture: LINEAR, window: 4, feature: { kind: 'poly', degree: 3 }, optimizer: { kind: 'muon', nsSteps: 5 } }, { tokens: 9, dim: 2 }],
    ['mlp, c 1, identity, muon 3, chunk 1', { chunkSize: 1, optimizer: { kind: 'muon', nsSteps: 3 } }, { tokens: 5, dim: 3 }],
    ['mlp, c 3, poly 2, muon 5, chunk 4, no forgetting, no momentum', { window: 3, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 }, forgetting: false, momentum: false }, { tokens: 10, dim: 3 }],
    ['mlp residual + LN, c 6, identity, muon 0, chunk 4', { architecture: MLP_RESIDUAL_LN, window: 6, optimizer: { kind: 'muon', nsSteps: 0 } }, { tokens: 7, dim: 5 }],
    ['mlp, c 3, one token', { window: 3 }, { tokens: 1, dim: 3 }],
    ['mlp, c 3, no tokens', { window: 3 }, { tokens: 0, dim: 3 }],
    ['mlp, c 2, poly 1, no leading axes', { window: 2, feature: { kind: 'poly', degree: 1 } }, { tokens: 6, dim: 3, lead: [] }],
  ];
  for (const [name, overrides, sizes] of cases) {
    it(name, () => {
      tidy(() => {
        const rule = omegaRule(overrides);
        const p = problem(rule, { ...sizes, seed: name.length });
        expectSameOmegaRun(omegaParallel(rule, p.inputs, startState(rule, p)), omegaLoop(rule, p.inputs, startState(rule, p)), 1e-10);
      });
    });
  }

  it('muon with 0 Newton-Schulz steps and lr = 1 is momentum', () => {
    tidy(() => {
      const muon = omegaRule({ window: 3, optimizer: { kind: 'muon', nsSteps: 0 } });
      const momentum = omegaRule({ window: 3 });
      const p = problem(momentum, { tokens: 10, dim: 3 });
      const lr = full([2, 3, 10], 1, { dtype: 'float64' });
      expectSameOmegaRun(omegaParallel(muon, { ...p.inputs, lr }, startState(muon, p)), omegaParallel(momentum, p.inputs, startState(momentum, p)), 1e-12);
    });
  });
});

describe('streaming', () => {
  it('pieces (loop and parallel alternating, splits mid-chunk) equal one pass: c 3, poly 2, muon', () => {
    tidy(() => {
      const rule = omegaRule({ window: 3, chunkSize: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 } });
      const p = problem(rule, { tokens: 23, dim: 3 });
      const whole = omegaParallel(rule, p.inputs, startState(rule, p));
      const slice = (start: number, length: number): OmegaInputs => {
        const tokens = (x: Tensor): Tensor => x.narrow(-2, start, length);
        const gate = (x: Tensor): Tensor => x.narrow(-1, start, length);
        return {
          k: tokens(p.inputs.k), v: tokens(p.inputs.v), q: tokens(p.inputs.q), gamma: tokens(p.inputs.gamma),
          theta: gate(p.inputs.theta), eta: gate(p.inputs.eta), alpha: gate(p.inputs.alpha), lr: gate(p.inputs.lr!), coef: p.inputs.coef!,
        };
      };
      let state = startState(rule, p);
      const pre: Tensor[] = [];
      const post: Tensor[] = [];
      const splits = [[0, 1], [1, 0], [1, 6], [7, 2], [9, 11], [20, 3]] as const;
      splits.forEach(([start, length], n) => {
        const out = (n % 2 === 0 ? omegaParallel : omegaLoop)(rule, slice(start, length), state);
        pre.push(out.yPre);
        post.push(out.yPost);
        state = out.state;
      });
      expectClose(concat(pre, -2), whole.yPre, 1e-10, 'y_pre');
      expectClose(concat(post, -2), whole.yPost, 1e-10, 'y_post');
      expectSameOmegaState(state, whole.state, 1e-10);
    });
  });
});

describe('outer-loop gradients (float64 central differences)', () => {
  for (const optimizer of [{ kind: 'momentum' }, { kind: 'muon', nsSteps: 5 }] as const) {
    it(`mlp, c 3, poly 2, ${optimizer.kind}: every input, the window gates, coefficients and step sizes included`, () => {
      const rule = omegaRule({ window: 3, chunkSize: 4, feature: { kind: 'poly', degree: 2 }, optimizer });
      const p = problem(rule, { tokens: 6, dim: 2, lead: [1] });
      const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>), W1: p.weights[0]!, W2: p.weights[1]! };
      const objective = (x: Record<string, Tensor>): Tensor => {
        const { W1, W2, ...rest } = x;
        const inputs = rest as unknown as OmegaInputs;
        return outerObjective(omegaParallel(rule, inputs, omegaInitialState([W1!, W2!])));
      };
      tidy(() => expectFiniteDifferences(finiteDifferenceError(objective, values, Object.keys(values)), 1e-6));
    });
  }
});

describe('the polynomial feature map', () => {
  it('phi(x) . phi(y) = sum_i a_i^2 (x . y)^i, and 1/sqrt(i!) coefficients approximate exp', () => {
    tidy(() => {
      const rng = new Rng(5);
      const x = mul(rng.normal([4, 3], 0, 1, { dtype: 'float64' }), 0.3);
      const y = mul(rng.normal([4, 3], 0, 1, { dtype: 'float64' }), 0.3);
      const coef = tensor(expTaylorCoefficients(3), undefined, { dtype: 'float64' });
      const fx = polynomialFeatures(x, coef, 3);
      expect(fx.shape).toEqual([4, omegaFeatureDim({ kind: 'poly', degree: 3 }, 3)]);
      const dots = sum(mul(fx, polynomialFeatures(y, coef, 3)), -1).dataSync();
      const xy = sum(mul(x, y), -1).dataSync();
      xy.forEach((s, i) => {
        expect(dots[i]).toBeCloseTo(1 + s + (s * s) / 2 + (s * s * s) / 6, 12);
        expect(Math.abs(dots[i]! - Math.exp(s))).toBeLessThan(Math.abs(s) ** 4 / 12);
      });
    });
  });
});

describe('errors', () => {
  it('names the argument at fault', () => {
    tidy(() => {
      const rule = omegaRule({ window: 3, optimizer: { kind: 'muon', nsSteps: 5 } });
      const p = problem(rule, { tokens: 5, dim: 3 });
      const state = startState(rule, p);
      expect(() => omegaParallel(rule, { ...p.inputs, gamma: add(p.inputs.gamma.narrow(-1, 0, 2), 0) }, state)).toThrow(/window gates gamma \[2, 3, 5, 2\] must be \[2, 3, 5, 3\]/);
      const { lr: _lr, ...noLr } = p.inputs;
      expect(() => omegaParallel(rule, noLr, state)).toThrow(/muon optimizer needs inputs.lr/);
      expect(() => omegaParallel({ ...rule, window: 0 }, p.inputs, state)).toThrow(/window must be a positive integer, got 0/);
      expect(() => omegaParallel({ ...rule, feature: { kind: 'poly', degree: 2 } }, p.inputs, state)).toThrow(/polynomial features need inputs.coef/);
      expect(() => omegaParallel({ ...rule, architecture: MLP_RESIDUAL_LN, feature: { kind: 'poly', degree: 2 } }, p.inputs, state)).toThrow(/needs identity features/);
    });
  });
});
