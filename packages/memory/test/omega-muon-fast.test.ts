// The low-rank Muon chunk of omegaParallel (muonChunkLowRank: Newton-Schulz on Gram matrices,
// per-token weights never formed) against the composite form it replaced (setFastOmega(false):
// every token's momentum formed and orthogonalised by batched Newton-Schulz), on random
// shapes: chunk 1, odd chunk sizes and widths, windows 1-5, linear and MLP memories, poly
// features, weights shared across the batch or not, tall matrices (which keep the composite
// form), streams with pending tokens. Values, carried state and outer-loop gradients of
// every input in float64; float32 against the float64 composite form; float64 central
// differences through the fast path.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Rng, tensor, tidy, valueAndGrad, type Tensor } from '@titans/tensor';
import {
  expTaylorCoefficients, omegaInitialState, omegaParallel, omegaWeightShapes, setFastOmega, setOmegaGramCarry, setOmegaLowRank,
  type MemoryArchitecture, type OmegaInputs, type OmegaOutputs, type OmegaRule,
} from '../src/index.js';
import { expectClose, expectFiniteDifferences, finiteDifferenceError, outerObjective, randomInputs } from './helpers.js';

const LINEAR: MemoryArchitecture = { depth: 1, hidden: 0, activation: 'silu', residual: false, norm: false };
const mlp = (hidden: number, depth = 2): MemoryArchitecture => ({ depth, hidden, activation: 'gelu', residual: false, norm: false });

// The low-rank form wherever it applies, so that these small shapes check it (by default,
// setOmegaLowRank('auto'), most of them take the batched form: see the last block).
beforeEach(() => {
  setOmegaLowRank('always');
});

afterEach(() => {
  setFastOmega(true);
  setOmegaGramCarry(true);
  setOmegaLowRank('auto');
});

function rule(overrides: Partial<OmegaRule>): OmegaRule {
  return {
    architecture: LINEAR, chunkSize: 4, window: 1, feature: { kind: 'identity' }, optimizer: { kind: 'muon', nsSteps: 5 },
    momentum: true, forgetting: true, ...overrides,
  };
}

function problem(r: OmegaRule, sizes: { lead: number[]; tokens: number; dim: number; seed: number; sharedWeights: boolean }): { inputs: OmegaInputs; weights: Tensor[] } {
  const { lead, tokens, dim, seed } = sizes;
  const rng = new Rng(seed);
  const opts = { dtype: 'float64' as const };
  const inputs: OmegaInputs = {
    ...randomInputs({ lead, tokens, dim, rng }),
    gamma: rng.uniform([...lead, tokens, r.window], 0.2, 1, opts),
    ...(r.feature.kind === 'poly' ? { coef: tensor(expTaylorCoefficients(r.feature.degree).map((a, i) => a * (1 - 0.1 * i)), undefined, opts) } : {}),
    lr: rng.uniform([...lead, tokens], 0.01, 0.1, opts),
  };
  const heads = sizes.sharedWeights ? lead.slice(-1) : lead;
  const weights = omegaWeightShapes(r, dim).map(([o, i]) => rng.normal([...heads, o, i], 0, 1 / Math.sqrt(i), opts));
  return { inputs, weights };
}

function both<T>(fn: () => T): { fast: T; composite: T } {
  setFastOmega(true);
  const fast = fn();
  setFastOmega(false);
  const composite = fn();
  setFastOmega(true);
  return { fast, composite };
}

function expectSameRun(a: OmegaOutputs, b: OmegaOutputs, tolerance: number): void {
  expectClose(a.yPre, b.yPre, tolerance, 'y_pre');
  expectClose(a.yPost, b.yPost, tolerance, 'y_post');
  expectClose(a.loss, b.loss, tolerance, 'loss');
  a.state.weights.forEach((w, l) => expectClose(w, b.state.weights[l]!, tolerance, `weights[${l}]`));
  a.state.momentum.forEach((s, l) => expectClose(s, b.state.momentum[l]!, tolerance, `momentum[${l}]`));
}

const cases: [string, Partial<OmegaRule>, { lead: number[]; tokens: number; dim: number; sharedWeights: boolean }][] = [
  ['linear, c 1, identity, chunk 4', {}, { lead: [2, 3], tokens: 11, dim: 4, sharedWeights: true }],
  ['linear, c 3, poly 2, chunk 5 (odd), own weights per batch row', { window: 3, chunkSize: 5, feature: { kind: 'poly', degree: 2 } }, { lead: [2, 1], tokens: 13, dim: 3, sharedWeights: false }],
  ['linear, c 4, chunk 1, 3 steps', { window: 4, chunkSize: 1, optimizer: { kind: 'muon', nsSteps: 3 } }, { lead: [1, 2], tokens: 6, dim: 5, sharedWeights: true }],
  ['linear, width 1, c 2, 1 step', { window: 2, chunkSize: 3, optimizer: { kind: 'muon', nsSteps: 1 } }, { lead: [3], tokens: 7, dim: 1, sharedWeights: true }],
  ['mlp 7, c 5, poly 2, chunk 4, no momentum, no forgetting', { architecture: mlp(7), window: 5, feature: { kind: 'poly', degree: 2 }, momentum: false, forgetting: false }, { lead: [2, 2], tokens: 10, dim: 2, sharedWeights: true }],
  ['mlp depth 3 hidden 9, c 3, poly 1, chunk 3', { architecture: mlp(9, 3), window: 3, chunkSize: 3, feature: { kind: 'poly', degree: 1 } }, { lead: [1, 2], tokens: 8, dim: 3, sharedWeights: true }],
  ['mlp 2 (tall first layer: composite form kept), c 2', { architecture: mlp(6), window: 2 }, { lead: [1, 2], tokens: 9, dim: 3, sharedWeights: true }],
  ['one token', { window: 3 }, { lead: [2, 2], tokens: 1, dim: 3, sharedWeights: true }],
];

describe('low-rank Muon = composite Muon (float64, random shapes)', () => {
  for (const [name, overrides, sizes] of cases) {
    it(`${name}: outputs, state, a stream in two pieces, outer gradients of every input`, () => {
      tidy(() => {
        const r = rule(overrides);
        const p = problem(r, { ...sizes, seed: name.length });
        const { fast, composite } = both(() => omegaParallel(r, p.inputs, omegaInitialState(p.weights)));
        expectSameRun(fast, composite, 1e-10);
        // Continue from the state (pending tokens, tail, per-batch weights) with the same tokens again.
        const again = both(() => omegaParallel(r, p.inputs, fast.state));
        expectSameRun(again.fast, again.composite, 1e-10);
        const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>) };
        p.weights.forEach((w, l) => { values[`W${l}`] = w; });
        const names = Object.keys(values);
        const objective = (xs: Tensor[]): Tensor => {
          const x = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
          const weights = p.weights.map((_, l) => x[`W${l}`]!);
          return outerObjective(omegaParallel(r, x as unknown as OmegaInputs, omegaInitialState(weights)));
        };
        const grads = both(() => valueAndGrad(objective)(names.map((n) => values[n]!))[1]);
        // 1e-7, not 1e-10: Newton-Schulz is nearly scale-invariant, so the gradients of theta (and of
        // lr, gamma) are small differences of O(1) terms (1e-6 of them in the one-token case), and
        // the Gram matrices square what rounding leaves of them (the composite form and the loop
        // differ by 4e-9 there; the low-rank form and the loop by 2e-8).
        names.forEach((n, i) => expectClose(grads.fast[i]!, grads.composite[i]!, 1e-7, `d objective / d ${n}`));
      });
    });
  }
});

describe('low-rank Muon in float32', () => {
  it('equals the float64 composite form within the spec\'s float32 tolerance (Atlas passkey shape: 2 heads of 16, poly 2, c 4, chunk 8)', () => {
    tidy(() => {
      const r = rule({ window: 4, chunkSize: 8, feature: { kind: 'poly', degree: 2 }, forgetting: false });
      const p = problem(r, { lead: [2, 2], tokens: 19, dim: 16, seed: 4, sharedWeights: true });
      setFastOmega(false);
      const want = omegaParallel(r, p.inputs, omegaInitialState(p.weights));
      setFastOmega(true);
      const f32 = (x: Tensor): Tensor => x.cast('float32');
      const inputs32 = Object.fromEntries(Object.entries(p.inputs).map(([k, v]) => [k, f32(v as Tensor)])) as unknown as OmegaInputs;
      const got = omegaParallel(r, inputs32, omegaInitialState(p.weights.map(f32)));
      expect(got.yPost.dtype).toBe('float32');
      // The spec's float32 tolerance (1e-4); the composite form in float32 is held to the same.
      expectSameRun(got, want, 1e-4);
      setFastOmega(false);
      expectSameRun(omegaParallel(r, inputs32, omegaInitialState(p.weights.map(f32))), want, 1e-4);
      setFastOmega(true);
    });
  });
});

describe('low-rank Muon: outer gradients against float64 central differences', () => {
  it('linear, c 3, poly 2, chunk 3, 7 tokens (two chunks and a pending token)', () => {
    const r = rule({ window: 3, chunkSize: 3, feature: { kind: 'poly', degree: 2 } });
    const p = problem(r, { lead: [1, 2], tokens: 7, dim: 2, seed: 8, sharedWeights: true });
    const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>), W0: p.weights[0]! };
    const objective = (x: Record<string, Tensor>): Tensor => {
      const { W0, ...rest } = x;
      return outerObjective(omegaParallel(r, rest as unknown as OmegaInputs, omegaInitialState([W0!])));
    };
    tidy(() => expectFiniteDifferences(finiteDifferenceError(objective, values, Object.keys(values)), 1e-6));
  });
});

describe('low-rank Muon: the Gram carry between chunks (setOmegaGramCarry)', () => {
  // The carried S0 S0^T is the previous chunk's last-token Gram matrix instead of a product over
  // the input width: the same numbers up to rounding, values and gradients, including the
  // gradient of a nonzero starting momentum (which reaches later chunks only through the carry).
  const carryCases: [string, Partial<OmegaRule>, { lead: number[]; tokens: number; dim: number; sharedWeights: boolean }][] = [
    ['linear, c 4, poly 2, chunk 4, 4 chunks and a pending token', { window: 4, feature: { kind: 'poly', degree: 2 } }, { lead: [2, 1], tokens: 17, dim: 3, sharedWeights: true }],
    ['mlp 3 (wide first layer, square second), c 2, poly 2, chunk 3, own weights per batch row', { architecture: mlp(3), window: 2, chunkSize: 3, feature: { kind: 'poly', degree: 2 } }, { lead: [2, 1], tokens: 10, dim: 3, sharedWeights: false }],
    ['linear, c 1, chunk 1', { chunkSize: 1 }, { lead: [1, 2], tokens: 5, dim: 4, sharedWeights: true }],
  ];
  for (const [name, overrides, sizes] of carryCases) {
    it(`${name}: carry on = carry off (float64 values to 1e-10, gradients to 1e-7)`, () => {
      tidy(() => {
        const r = rule(overrides);
        const p = problem(r, { ...sizes, seed: 3 + name.length });
        const rng = new Rng(21);
        const momentum = p.weights.map((w) => rng.normal(w.shape, 0, 0.3, { dtype: 'float64' }));
        const start = (weights: Tensor[], s: Tensor[]) => ({ ...omegaInitialState(weights), momentum: s });
        const run = <T>(carry: boolean, fn: () => T): T => {
          const previous = setOmegaGramCarry(carry);
          try {
            return fn();
          } finally {
            setOmegaGramCarry(previous);
          }
        };
        const on = run(true, () => omegaParallel(r, p.inputs, start(p.weights, momentum)));
        const off = run(false, () => omegaParallel(r, p.inputs, start(p.weights, momentum)));
        expectSameRun(on, off, 1e-10);
        // And against the composite form with the same starting momentum.
        setFastOmega(false);
        expectSameRun(on, omegaParallel(r, p.inputs, start(p.weights, momentum)), 1e-10);
        setFastOmega(true);
        const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>) };
        p.weights.forEach((w, l) => { values[`W${l}`] = w; });
        momentum.forEach((s, l) => { values[`S${l}`] = s; });
        const names = Object.keys(values);
        const objective = (xs: Tensor[]): Tensor => {
          const x = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
          const out = omegaParallel(r, x as unknown as OmegaInputs, start(p.weights.map((_, l) => x[`W${l}`]!), momentum.map((_, l) => x[`S${l}`]!)));
          return outerObjective(out);
        };
        const gOn = run(true, () => valueAndGrad(objective)(names.map((n) => values[n]!))[1]);
        const gOff = run(false, () => valueAndGrad(objective)(names.map((n) => values[n]!))[1]);
        names.forEach((n, i) => expectClose(gOn[i]!, gOff[i]!, 1e-7, `d objective / d ${n}`));
      });
    });
  }

  it('gradients through the carry against float64 central differences (linear, c 2, poly 2, chunk 2, 3 chunks, nonzero momentum)', () => {
    const r = rule({ window: 2, chunkSize: 2, feature: { kind: 'poly', degree: 2 } });
    const p = problem(r, { lead: [1, 1], tokens: 6, dim: 2, seed: 12, sharedWeights: true });
    const rng = new Rng(5);
    const s0 = rng.normal(p.weights[0]!.shape, 0, 0.3, { dtype: 'float64' });
    const values: Record<string, Tensor> = { ...(p.inputs as unknown as Record<string, Tensor>), W0: p.weights[0]!, S0: s0 };
    const objective = (x: Record<string, Tensor>): Tensor => {
      const { W0, S0, ...rest } = x;
      return outerObjective(omegaParallel(r, rest as unknown as OmegaInputs, { ...omegaInitialState([W0!]), momentum: [S0!] }));
    };
    tidy(() => expectFiniteDifferences(finiteDifferenceError(objective, values, Object.keys(values)), 1e-6));
  });
});

describe('low-rank Muon: which form the fast path takes by default (setOmegaLowRank)', () => {
  const bits = (x: Tensor): number[] => Array.from(x.dataSync() as Float64Array);
  const run = (r: OmegaRule, p: { inputs: OmegaInputs; weights: Tensor[] }, mode: 'auto' | 'always' | 'composite'): number[] => {
    setFastOmega(mode !== 'composite');
    setOmegaLowRank(mode === 'always' ? 'always' : 'auto');
    try {
      const out = omegaParallel(r, p.inputs, omegaInitialState(p.weights));
      return [...bits(out.yPost), ...bits(out.state.weights[0]!)];
    } finally {
      setFastOmega(true);
      setOmegaLowRank('always');
    }
  };

  it('a square memory (8 x 8) takes the batched form: the same bits as setFastOmega(false)', () => {
    tidy(() => {
      const r = rule({ window: 2 });
      const p = problem(r, { lead: [2, 1], tokens: 9, dim: 8, seed: 3, sharedWeights: true });
      const auto = run(r, p, 'auto');
      expect(auto).toEqual(run(r, p, 'composite'));
      expect(auto).not.toEqual(run(r, p, 'always')); // the two forms round differently, so the check can tell them apart
    });
  });

  it('a wide memory (degree-2 features of width 8: 8 x 73, like the Atlas presets) takes the low-rank form', () => {
    tidy(() => {
      const r = rule({ window: 3, feature: { kind: 'poly', degree: 2 } });
      const p = problem(r, { lead: [2, 1], tokens: 9, dim: 8, seed: 4, sharedWeights: true });
      const auto = run(r, p, 'auto');
      expect(auto).toEqual(run(r, p, 'always'));
      expect(auto).not.toEqual(run(r, p, 'composite'));
    });
  });

  it('rejects an unknown mode', () => {
    expect(() => setOmegaLowRank('never' as 'auto')).toThrow(/mode must be 'auto' or 'always'/);
  });
});
