// The Omega rule's surprise bound (OmegaRule.maxSurpriseNorm): each token's window gradient
// u_t is scaled by min(1, m / |u_t|_F) before momentum. The chunked parallel form (the
// factor from the window's Gram matrix, folded into the band) equals the per-token loop
// (the factor from the autograd gradient); outer gradients by central differences with the
// bound active; with c = 1 it is the Titans clamp bit for bit; and a long OmegaNet-shaped
// stream in the unstable regime stays finite and bounded with it and blows up without it.
import { describe, expect, it } from 'vitest';
import {
  Rng, expand, full, l2Normalize, ones, sub, tensor, tidy, valueAndGrad, zeros, type Tensor,
} from '@titans/tensor';
import {
  expTaylorCoefficients, initialState, memoryPreset, omegaInitialState, omegaLoop, omegaParallel, omegaWeightShapes, scanLoop, scanParallel,
  setFusedMemoryKernels,   validateOmegaRule, type MemoryArchitecture, type OmegaInputs, type OmegaOutputs, type OmegaRule,
} from '../src/index.js';
import { expectClose, expectFiniteDifferences, expectSameBits, finiteDifferenceError, outerObjective, randomInputs } from './helpers.js';

const MLP: MemoryArchitecture = { depth: 2, hidden: 7, activation: 'silu', residual: false, norm: false };
const LINEAR: MemoryArchitecture = { depth: 1, hidden: 0, activation: 'silu', residual: false, norm: false };

function omegaRule(overrides: Partial<OmegaRule>): OmegaRule {
  return {
    architecture: MLP, chunkSize: 4, window: 3, feature: { kind: 'identity' }, optimizer: { kind: 'momentum' },
    momentum: true, forgetting: true, ...overrides,
  };
}

interface Problem { inputs: OmegaInputs; weights: Tensor[] }

/** Random float64 inputs with theta up to 1 (large steps, so that a bound of order 1 bites). */
function problem(rule: OmegaRule, sizes: { lead?: number[]; tokens: number; dim: number; seed?: number }): Problem {
  const { lead = [2, 3], tokens, dim, seed = 1 } = sizes;
  const rng = new Rng(seed);
  const opts = { dtype: 'float64' as const };
  const base = randomInputs({ lead, tokens, dim, rng });
  const inputs: OmegaInputs = {
    ...base,
    theta: rng.uniform([...lead, tokens], 0.2, 1, opts),
    gamma: rng.uniform([...lead, tokens, rule.window], 0.2, 1, opts),
    ...(rule.feature.kind === 'poly' ? { coef: tensor(expTaylorCoefficients(rule.feature.degree).map((a, i) => a * (1 - 0.1 * i)), undefined, opts) } : {}),
    ...(rule.optimizer.kind === 'muon' ? { lr: rng.uniform([...lead, tokens], 0.01, 0.1, opts) } : {}),
  };
  const heads = lead.length > 0 ? [lead[lead.length - 1]!] : [];
  const weights = omegaWeightShapes(rule, dim).map(([o, i]) => rng.normal([...heads, o, i], 0, 1 / Math.sqrt(i), opts));
  return { inputs, weights };
}

const full4 = (a: Tensor, b: Tensor): [Tensor, Tensor] => {
  const shape = a.ndim >= b.ndim ? a.shape : b.shape;
  return [expand(a, shape), expand(b, shape)];
};

function expectSameOmegaRun(actual: OmegaOutputs, expected: OmegaOutputs, tolerance: number): void {
  expectClose(actual.yPre, expected.yPre, tolerance, 'y_pre');
  expectClose(actual.yPost, expected.yPost, tolerance, 'y_post');
  expectClose(actual.loss, expected.loss, tolerance, 'loss');
  expect(actual.state.position).toBe(expected.state.position);
  actual.state.weights.forEach((w, l) => expectClose(...full4(w, expected.state.weights[l]!), tolerance, `weights[${l}]`));
  actual.state.momentum.forEach((s, l) => expectClose(...full4(s, expected.state.momentum[l]!), tolerance, `momentum[${l}]`));
}

/** The largest relative difference of y_post between two runs (how much the bound changed). */
function relativeChange(a: OmegaOutputs, b: OmegaOutputs): number {
  const x = a.yPost.dataSync();
  const y = b.yPost.dataSync();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}

describe('the chunked parallel form equals the per-token loop with the bound on (float64)', () => {
  const cases: [string, Partial<OmegaRule>, { tokens: number; dim: number; lead?: number[] }][] = [
    ['OmegaNet-shaped: linear, c 4, poly 2, momentum, chunk 8', { architecture: LINEAR, window: 4, chunkSize: 8, feature: { kind: 'poly', degree: 2 }, forgetting: false }, { tokens: 29, dim: 3 }],
    ['mlp, c 3, identity, momentum, chunk 4', {}, { tokens: 13, dim: 4 }],
    ['mlp, c 5, identity, momentum, chunk 3 (window wider than the chunk)', { window: 5, chunkSize: 3 }, { tokens: 11, dim: 3 }],
    ['mlp, c 2, poly 2, momentum, chunk 5', { window: 2, chunkSize: 5, feature: { kind: 'poly', degree: 2 } }, { tokens: 12, dim: 3 }],
    ['mlp, c 1, identity, momentum, chunk 4 (the diagonal window)', { window: 1 }, { tokens: 10, dim: 3 }],
    ['linear, c 1, poly 2, momentum, chunk 1', { architecture: LINEAR, window: 1, chunkSize: 1, feature: { kind: 'poly', degree: 2 } }, { tokens: 6, dim: 2 }],
    ['mlp, c 3, poly 2, muon 5, chunk 4 (the rule bounds Muon too when asked)', { feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 } }, { tokens: 10, dim: 3 }],
    ['mlp, c 2, no leading axes', { window: 2 }, { tokens: 7, dim: 3, lead: [] }],
  ];
  for (const [name, overrides, sizes] of cases) {
    it(name, () => {
      tidy(() => {
        const bounded = omegaRule({ ...overrides, maxSurpriseNorm: 0.3 });
        const p = problem(bounded, { ...sizes, seed: name.length });
        const parallel = omegaParallel(bounded, p.inputs, omegaInitialState(p.weights));
        expectSameOmegaRun(parallel, omegaLoop(bounded, p.inputs, omegaInitialState(p.weights)), 1e-10);
        // The bound is active: the run differs from the unbounded one.
        const free = omegaParallel({ ...bounded, maxSurpriseNorm: 0 }, p.inputs, omegaInitialState(p.weights));
        expect(relativeChange(parallel, free)).toBeGreaterThan(1e-3);
      });
    });
  }

  it('outer gradients of the parallel form equal the loop\'s (c 4, poly 2, momentum, every input)', () => {
    tidy(() => {
      const rule = omegaRule({ window: 4, chunkSize: 3, feature: { kind: 'poly', degree: 2 }, maxSurpriseNorm: 0.3 });
      const p = problem(rule, { tokens: 8, dim: 2, lead: [2] });
      const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>), W1: p.weights[0]!, W2: p.weights[1]! };
      const objective = (scan: typeof omegaLoop) => (x: Record<string, Tensor>): Tensor => {
        const { W1, W2, ...rest } = x;
        return outerObjective(scan(rule, rest as unknown as OmegaInputs, omegaInitialState([W1!, W2!])));
      };
      const [, parallel] = valueAndGrad(objective(omegaParallel))(values);
      const [, loop] = valueAndGrad(objective(omegaLoop))(values);
      for (const name of Object.keys(values)) expectClose(parallel[name]!, loop[name]!, 1e-10, `d/d${name}`);
    });
  });

  it('a bound above every token\'s gradient norm changes nothing, bit for bit (loop and parallel)', () => {
    tidy(() => {
      const rule = omegaRule({ window: 3, feature: { kind: 'poly', degree: 2 } });
      const p = problem(rule, { tokens: 11, dim: 3 });
      // randomInputs' small steps (theta <= 0.2): every |u_t| stays far below 1e3.
      const inputs = { ...p.inputs, theta: randomInputs({ lead: [2, 3], tokens: 11, dim: 3, seed: 4 }).theta };
      for (const scan of [omegaLoop, omegaParallel]) {
        const a = scan({ ...rule, maxSurpriseNorm: 1e3 }, inputs, omegaInitialState(p.weights));
        const b = scan(rule, inputs, omegaInitialState(p.weights));
        expectSameBits(a.yPost, b.yPost, 'y_post');
        a.state.weights.forEach((w, l) => expectSameBits(w, b.state.weights[l]!, `weights[${l}]`));
      }
    });
  });
});

describe('with c = 1, identity features, momentum and gamma = 1 it is the Titans clamp bit for bit', () => {
  it('mlp2, 37 tokens, chunk 8, loop and parallel (outputs, state)', () => {
    tidy(() => {
      const rule = omegaRule({ window: 1, chunkSize: 8, maxSurpriseNorm: 0.3 });
      const titans = memoryPreset('titans', 6, { architecture: MLP, chunkSize: 8, maxSurpriseNorm: 0.3 });
      const { inputs, weights } = problem(rule, { tokens: 37, dim: 6, seed: 3 });
      const gammaOne = { ...inputs, gamma: ones([2, 3, 37, 1], { dtype: 'float64' }) };
      const titansInputs = { k: inputs.k, v: inputs.v, q: inputs.q, theta: inputs.theta, eta: inputs.eta, alpha: inputs.alpha };
      for (const [omega, scan] of [[omegaLoop, scanLoop], [omegaParallel, scanParallel]] as const) {
        const a = omega(rule, gammaOne, omegaInitialState(weights));
        // Against the composite chunked form (the fused kernel, where the backend has one, rounds otherwise).
        const previous = setFusedMemoryKernels(false);
        let b: ReturnType<typeof scanLoop>;
        try {
          b = scan(titans, titansInputs, initialState(weights));
        } finally {
          setFusedMemoryKernels(previous);
        }
        expectSameBits(a.yPre, b.yPre, 'y_pre');
        expectSameBits(a.yPost, b.yPost, 'y_post');
        a.state.weights.forEach((w, l) => expectSameBits(w, b.state.weights[l]!, `weights[${l}]`));
        a.state.momentum.forEach((s, l) => expectSameBits(s, b.state.momentum[l]!, `momentum[${l}]`));
      }
    });
  });
});

describe('outer-loop gradients with the bound active (float64 central differences)', () => {
  // Bounds chosen (by printing min(1, m / |u_t|) per token) so that the first token of each
  // problem stays below the bound (its ratio 1.5-2) and the others are clamped (0.04-0.84):
  // both sides of the kink, neither near it.
  for (const [name, overrides, bound] of [
    ['mlp, c 3, poly 2, momentum', { feature: { kind: 'poly', degree: 2 } }, 1],
    ['linear, c 4, poly 2, momentum, no forgetting', { architecture: LINEAR, window: 4, feature: { kind: 'poly', degree: 2 }, forgetting: false }, 1.5],
    ['mlp, c 1, identity, momentum', { window: 1 }, 1],
  ] as [string, Partial<OmegaRule>, number][]) {
    it(`${name}, bound ${bound}: every input, the window gates and coefficients included`, () => {
      const rule = omegaRule({ ...overrides, chunkSize: 4, maxSurpriseNorm: bound });
      const p = problem(rule, { tokens: 7, dim: 2, lead: [1], seed: 11 });
      const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>), ...Object.fromEntries(p.weights.map((w, l) => [`W${l + 1}`, w])) };
      const objective = (x: Record<string, Tensor>): Tensor => {
        const weights = p.weights.map((_, l) => x[`W${l + 1}`]!);
        const inputs = Object.fromEntries(Object.entries(x).filter(([key]) => !/^W\d$/.test(key))) as unknown as OmegaInputs;
        return outerObjective(omegaParallel(rule, inputs, omegaInitialState(weights)));
      };
      tidy(() => {
        const free = omegaParallel({ ...rule, maxSurpriseNorm: 0 }, p.inputs, omegaInitialState(p.weights));
        expect(relativeChange(omegaParallel(rule, p.inputs, omegaInitialState(p.weights)), free), 'the bound is active').toBeGreaterThan(1e-3);
        expectFiniteDifferences(finiteDifferenceError(objective, values, Object.keys(values)), 1e-6);
      });
    });
  }
});

describe('a long OmegaNet-shaped stream in the unstable regime', () => {
  // The OmegaNet memory of the models (linear, window 4, degree-2 features, momentum, no
  // forgetting, chunk 8) with its gates pushed to where the step is unstable: theta = 1
  // (thetaMax), every window gate 0.95, coefficients twice exp's (|phi(k)|^2 = 10 for unit keys),
  // eta = 0.018 (the models' gate bias -4).
  const T = 1536;
  const dim = 16;
  const lead = [1, 2];
  const m = 1;
  const eta = 0.018;
  function run(bound: number): { out: OmegaOutputs; w0: Tensor } {
    const rule: OmegaRule = {
      architecture: LINEAR, chunkSize: 8, window: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'momentum' },
      momentum: true, forgetting: false, maxSurpriseNorm: bound,
    };
    const rng = new Rng(21);
    const opts = { dtype: 'float64' as const };
    const weights = omegaWeightShapes(rule, dim).map(([o, i]) => rng.normal([lead[1]!, o, i], 0, 1 / Math.sqrt(i), opts));
    const inputs: OmegaInputs = {
      k: l2Normalize(rng.normal([...lead, T, dim], 0, 1, opts), -1),
      v: rng.normal([...lead, T, dim], 0, 1, opts),
      q: l2Normalize(rng.normal([...lead, T, dim], 0, 1, opts), -1),
      theta: full([...lead, T], 1, opts),
      eta: full([...lead, T], eta, opts),
      alpha: zeros([...lead, T], opts),
      gamma: full([...lead, T, 4], 0.95, opts),
      coef: tensor(expTaylorCoefficients(2).map((a) => 2 * a), undefined, opts),
    };
    return { out: omegaParallel(rule, inputs, omegaInitialState(weights)), w0: weights[0]! };
  }
  const frobenius = (w: Tensor): number => Math.sqrt(Array.from(w.dataSync()).reduce((s, x) => s + x * x, 0));

  it(`${T} tokens: finite and within the bound's guarantee with maxSurpriseNorm ${m}; non-finite or beyond 1e6 without`, () => {
    tidy(() => {
      const { out: bounded, w0 } = run(m);
      const y = Array.from(bounded.yPost.dataSync());
      expect(y.every(Number.isFinite), 'y_post finite with the bound').toBe(true);
      // |S| <= theta m / (1 - eta), so |P_T - P_0| <= T theta m / (1 - eta) per head and
      // batch row (here one batch row and two heads): linear growth at most.
      const growth = frobenius(sub(bounded.state.weights[0]!, w0));
      expect(growth, 'weight growth over the stream').toBeLessThanOrEqual(Math.sqrt(lead[1]!) * T * m / (1 - eta));
      const maxAbs = y.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
      expect(maxAbs, 'max |y_post| with the bound').toBeLessThan(1e4);
      const yFree = Array.from(run(0).out.yPost.dataSync());
      const freeMax = yFree.reduce((s, x) => (Number.isFinite(x) ? Math.max(s, Math.abs(x)) : Infinity), 0);
      expect(freeMax, 'max |y_post| without the bound').toBeGreaterThan(1e6);
    });
  });
});

describe('errors', () => {
  it('a negative or non-finite bound is named', () => {
    expect(() => validateOmegaRule(omegaRule({ maxSurpriseNorm: -1 }))).toThrow(/maxSurpriseNorm must be a finite number >= 0 \(0 = off\), got -1/);
    expect(() => validateOmegaRule(omegaRule({ maxSurpriseNorm: Number.NaN }))).toThrow(/maxSurpriseNorm must be a finite number >= 0/);
    expect(() => validateOmegaRule(omegaRule({ maxSurpriseNorm: Infinity }))).toThrow(/maxSurpriseNorm must be a finite number >= 0/);
  });
});
