// The optional knobs of a rule (config.ts): momentum order > 1, per-layer learning rates,
// orthogonalised surprise and the surprise norm clamp. Each keeps the parallel form
// exact, so each is checked loop == parallel and against finite differences.
import { describe, expect, it } from 'vitest';
import { Rng, matmul, mul, tidy, transpose, type Tensor } from '@titans/tensor';
import {
  NEWTON_SCHULZ, initialState, linearArchitecture, newtonSchulz, rankOneNewtonSchulzFactor, scanLoop, scanParallel,
  type MemoryInputs, type MemoryRule,
} from '../src/index.js';
import {
  checkOuterGradients, expectClose, expectLoopEqualsParallel, expectSameRun, randomInputs, randomWeights, relError, rule,
} from './helpers.js';

const dim = 6;
const mlp = { depth: 2, hidden: 10, activation: 'silu', residual: true, norm: true } as const;
const architectures = { linear: linearArchitecture(), mlp2_residual_ln: mlp };

describe('momentum order > 1', () => {
  for (const momentumOrder of [2, 3]) {
    for (const [name, architecture] of Object.entries(architectures)) {
      for (const chunkSize of [1, 5, 16]) {
        it(`order ${momentumOrder}, ${name}, chunk ${chunkSize}: parallel equals loop`, () => {
          expectLoopEqualsParallel(rule({ architecture, chunkSize, momentumOrder }, dim), randomInputs({ tokens: 37, dim }), randomWeights(architecture, dim), 1e-11);
        });
      }
    }
  }

  it('order 2 by hand: S_2 accumulates S_1 (linear memory, chunk 1, two tokens)', () => {
    tidy(() => {
      const r = rule({ architecture: linearArchitecture(), chunkSize: 1, momentumOrder: 2 }, dim);
      const inputs = randomInputs({ lead: [1], tokens: 2, dim });
      const [w0] = randomWeights(r.architecture, dim, { heads: 1 });
      const out = scanParallel(r, inputs, initialState([w0!], r));
      // u_t = 2 (W k_t - v_t) k_t^T at the current weights (chunk size 1).
      const k = inputs.k.dataSync();
      const v = inputs.v.dataSync();
      const [theta, eta, alpha] = [inputs.theta, inputs.eta, inputs.alpha].map((g) => g.dataSync());
      let W = Array.from(w0!.dataSync());
      let s1 = new Array<number>(dim * dim).fill(0);
      let s2 = new Array<number>(dim * dim).fill(0);
      for (let t = 0; t < 2; t++) {
        const kt = Array.from(k.slice(t * dim, (t + 1) * dim));
        const vt = Array.from(v.slice(t * dim, (t + 1) * dim));
        const err = vt.map((vi, i) => kt.reduce((acc, kj, j) => acc + W[i * dim + j]! * kj, 0) - vi);
        s1 = s1.map((s, n) => eta[t]! * s - theta[t]! * 2 * err[Math.floor(n / dim)]! * kt[n % dim]!);
        s2 = s2.map((s, n) => eta[t]! * s + s1[n]!);
        W = W.map((w, n) => (1 - alpha[t]!) * w + s2[n]!);
      }
      const final = out.state.weights[0]!.dataSync();
      expect(Math.max(...W.map((w, n) => Math.abs(w - final[n]!)))).toBeLessThan(1e-12);
      expect(Math.max(...s2.map((s, n) => Math.abs(s - out.state.momentum[1]!.dataSync()[n]!)))).toBeLessThan(1e-12);
    });
  });

  it('order 2 without momentum (eta treated as 0) is order 1', () => {
    tidy(() => {
      const inputs = randomInputs({ tokens: 20, dim });
      const weights = randomWeights(mlp, dim);
      const one = rule({ architecture: mlp, chunkSize: 8, momentum: false }, dim);
      const two = { ...one, momentumOrder: 2 };
      const a = scanParallel(two, inputs, initialState(weights, two));
      const b = scanParallel(one, inputs, initialState(weights, one));
      expectClose(a.yPost, b.yPost, 1e-13, 'y_post');
    });
  });

  it('outer-loop gradients match central differences (order 2)', () => {
    checkOuterGradients(rule({ architecture: { ...mlp, hidden: 4 }, chunkSize: 4, momentumOrder: 2 }, 3));
  });
});

describe('per-layer learning-rate multipliers', () => {
  for (const [name, architecture] of Object.entries(architectures)) {
    for (const chunkSize of [1, 16]) {
      it(`${name}, chunk ${chunkSize}: parallel equals loop`, () => {
        const layers = architecture.depth;
        expectLoopEqualsParallel(rule({ architecture, chunkSize, layerLearningRates: true }, dim), randomInputs({ tokens: 37, dim, rateLayers: layers }), randomWeights(architecture, dim), 1e-11);
      });
    }
  }

  it('a linear memory with rate r equals theta scaled by r', () => {
    tidy(() => {
      const inputs = randomInputs({ tokens: 30, dim, rateLayers: 1 });
      const weights = randomWeights(linearArchitecture(), dim);
      const withRates = rule({ architecture: linearArchitecture(), chunkSize: 8, layerLearningRates: true }, dim);
      const plain = rule({ architecture: linearArchitecture(), chunkSize: 8 }, dim);
      const { layerLearningRates, ...rest } = inputs;
      const scaledTheta: MemoryInputs = { ...rest, theta: mul(inputs.theta, layerLearningRates![0]!.reshape([2, 1])) };
      expectSameRun(scanParallel(withRates, inputs, initialState(weights)), scanParallel(plain, scaledTheta, initialState(weights)), 1e-13);
    });
  });

  it('outer-loop gradients match central differences, the multipliers included', () => {
    checkOuterGradients(rule({ architecture: { ...mlp, hidden: 4 }, chunkSize: 4, layerLearningRates: true }, 3), { rateLayers: 2 });
  });
});

describe('orthogonalised surprise (Newton-Schulz, 5 steps)', () => {
  it('the rank-one closed form equals the matrix iteration', () => {
    tidy(() => {
      const rng = new Rng(3);
      for (const [rows, cols, scale] of [[5, 3, 1], [3, 7, 0.01], [4, 4, 30]] as const) {
        const delta = rng.normal([2, 1, rows], 0, scale, { dtype: 'float64' });
        const input = rng.normal([2, 1, cols], 0, 1, { dtype: 'float64' });
        const u = matmul(transpose(delta), input); // [2, rows, cols], rank one
        const factor = rankOneNewtonSchulzFactor(delta, input).reshape([2, 1, 1]);
        expectClose(mul(u, factor), newtonSchulz(u), 1e-13, `${rows}x${cols}`);
      }
    });
  });

  it('orthogonalises: singular values of a random matrix move towards 1', () => {
    tidy(() => {
      const g = new Rng(5).normal([8, 6], 0, 3, { dtype: 'float64' });
      const x = newtonSchulz(g);
      // X^T X close to the identity (Muon's quintic lands singular values in about [0.7, 1.2]).
      const gram = matmul(transpose(x), x).dataSync();
      for (let i = 0; i < 6; i++) expect(gram[i * 6 + i]!).toBeGreaterThan(0.4);
      expect(NEWTON_SCHULZ.steps).toBe(5);
    });
  });

  for (const [name, architecture] of Object.entries(architectures)) {
    for (const chunkSize of [1, 16]) {
      it(`${name}, chunk ${chunkSize}: parallel (closed form, low rank) equals loop (materialised matrices)`, () => {
        expectLoopEqualsParallel(rule({ architecture, chunkSize, orthogonalizeSurprise: true }, dim), randomInputs({ tokens: 37, dim }), randomWeights(architecture, dim), 1e-11);
      });
    }
  }

  it('with the norm clamp, momentum order 2 and layer rates all at once', () => {
    const r = rule({ architecture: mlp, chunkSize: 8, orthogonalizeSurprise: true, maxSurpriseNorm: 0.8, momentumOrder: 2, layerLearningRates: true }, dim);
    expectLoopEqualsParallel(r, randomInputs({ tokens: 29, dim, rateLayers: 2 }), randomWeights(mlp, dim), 1e-11);
  });

  it('outer-loop gradients match central differences', () => {
    checkOuterGradients(rule({ architecture: { ...mlp, hidden: 4 }, chunkSize: 4, orthogonalizeSurprise: true }, 3));
  });
});

describe('maxSurpriseNorm (soft clamp of each token\'s surprise norm)', () => {
  it('is off at 0, equals no clamp when large, and changes the memory when small', () => {
    tidy(() => {
      const inputs = randomInputs({ tokens: 24, dim });
      const weights = randomWeights(mlp, dim);
      const run = (maxSurpriseNorm: number): Tensor => {
        const r: MemoryRule = rule({ architecture: mlp, chunkSize: 8, maxSurpriseNorm }, dim);
        return scanParallel(r, inputs, initialState(weights)).yPost;
      };
      expectClose(run(1e9), run(0), 1e-14, 'huge clamp');
      expect(relError(run(0.05), run(0))).toBeGreaterThan(1e-2);
      // Clamped hard, the memory barely moves: y_post stays close to the initial memory's read.
      const initial = scanLoop(rule({ architecture: mlp, chunkSize: 8 }, dim), { ...inputs, theta: mul(inputs.theta, 0) }, initialState(weights)).yPost;
      expect(relError(run(1e-6), initial)).toBeLessThan(1e-5);
    });
  });
});
