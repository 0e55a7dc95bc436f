// The fused memory kernel with the surprise norm clamp (maxSurpriseNorm, on in every model
// preset) against the composite chunked form: outputs, carried state and gradients, for a
// clamp that always acts (0.05), acts on some tokens (1, 4) and never acts (100), linear
// and MLP memories, float64 and float32 (JavaScript loops at width 6, WebAssembly SIMD at
// width 8), T = 1, partial chunks and chunk 1; and a backend without the clamp declines it.
import { afterEach, describe, expect, it } from 'vitest';
import { cpuBackend, gradients, memoryScan, tidy, type Tensor } from '@titans/tensor';
import {
  initialState, scanChunked, scanFused, scanParallel, setFusedMemoryKernels, type MemoryOutputs,
} from '../src/index.js';
import { fusedUnsupported } from '../src/fused.js';
import { countFused, expectClose, expectFusedMatchesComposite, expectSameRun, FUSED_KINDS, randomInputs, randomWeights, relError, rule, weightedRunSum } from './helpers.js';

afterEach(() => {
  setFusedMemoryKernels(true);
});

describe('fused kernel with the surprise clamp equals the composite chunked form', () => {
  const shapes = [
    { tokens: 1, chunk: 4, dim: 6, lead: [1] },
    { tokens: 29, chunk: 8, dim: 6, lead: [2, 2] },
    { tokens: 21, chunk: 8, dim: 8, lead: [2] },
    { tokens: 13, chunk: 1, dim: 8, lead: [2] },
  ];
  for (const [name, make] of Object.entries(FUSED_KINDS)) {
    for (const { tokens, chunk, dim, lead } of shapes) {
      for (const maxSurpriseNorm of [0.05, 1, 4, 100]) {
        const hidden = dim === 8 ? 12 : 5;
        const architecture = make(hidden);
        const heads = lead[lead.length - 1]!;
        for (const dtype of ['float64', 'float32'] as const) {
          it(`${name}, max ${maxSurpriseNorm}, T ${tokens}, chunk ${chunk}, dim ${dim}, ${dtype}`, () => {
            tidy(() => {
              const memoryRule = rule({ architecture, chunkSize: chunk, maxSurpriseNorm }, dim);
              const inputs = randomInputs({ lead, tokens, dim, dtype, seed: tokens + chunk + dim });
              expectFusedMatchesComposite(memoryRule, inputs, randomWeights(architecture, dim, { heads, dtype, seed: dim }));
            });
          });
        }
      }
    }
  }

  it('the clamp acts: 0.05 and 1 change the run, 100 leaves it as without a clamp (float64 and float32 SIMD)', () => {
    tidy(() => {
      for (const [dim, dtype] of [[6, 'float64'], [8, 'float32']] as const) {
        const architecture = FUSED_KINDS.mlp2!(12);
        const inputs = randomInputs({ lead: [2], tokens: 19, dim, dtype, seed: 21 });
        const weights = randomWeights(architecture, dim, { dtype, seed: 22 });
        const run = (maxSurpriseNorm: number): MemoryOutputs => {
          const memoryRule = rule({ architecture, chunkSize: 4, maxSurpriseNorm }, dim);
          return scanParallel(memoryRule, inputs, initialState(weights, memoryRule));
        };
        const free = run(0);
        expect(relError(run(0.05).yPost, free.yPost)).toBeGreaterThan(1e-3);
        expect(relError(run(1).yPost, free.yPost)).toBeGreaterThan(1e-4);
        expectSameRun(run(100), free, 0);
      }
    });
  });

  it('without y_pre (the post-only update paths, float32 SIMD and float64) y_post, losses and state equal the run with it', () => {
    tidy(() => {
      for (const [dim, dtype] of [[8, 'float32'], [6, 'float64']] as const) {
        for (const architecture of [FUSED_KINDS.linear!(12), FUSED_KINDS.mlp2!(12)]) {
          const memoryRule = rule({ architecture, chunkSize: 4, maxSurpriseNorm: 1 }, dim);
          const inputs = randomInputs({ lead: [2], tokens: 18, dim, dtype, seed: 31 });
          const state = initialState(randomWeights(architecture, dim, { dtype, seed: 32 }), memoryRule);
          const full = countFused(() => scanParallel(memoryRule, inputs, state));
          const post = countFused(() => scanParallel(memoryRule, inputs, state, { yPre: false }));
          expect([full.calls, post.calls]).toEqual([1, 1]);
          expectClose(post.result.yPost, full.result.yPost, 0, 'y_post');
          expectClose(post.result.loss, full.result.loss, 0, 'loss');
          expectSameRun({ ...full.result, yPre: full.result.yPost }, { ...post.result, yPre: post.result.yPost }, 0);
          expectSameRun(full.result, scanChunked(memoryRule, inputs, state), dtype === 'float64' ? 1e-12 : 1e-3);
        }
      }
    });
  });

  it('a stream cut into pieces (pending chunks) equals one composite pass, with the clamp', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 8, maxSurpriseNorm: 1 }, 8);
      const inputs = randomInputs({ lead: [2], tokens: 27, dim: 8, dtype: 'float64', seed: 5 });
      const weights = randomWeights(memoryRule.architecture, 8, { seed: 6 });
      const whole = scanChunked(memoryRule, inputs, initialState(weights, memoryRule));
      let state = initialState(weights, memoryRule);
      let at = 0;
      const post: Tensor[] = [];
      for (const size of [5, 12, 10]) {
        const piece = (x: Tensor, axis: number): Tensor => x.narrow(axis, at, size);
        const out = countFused(() => scanParallel(memoryRule, {
          k: piece(inputs.k, -2), v: piece(inputs.v, -2), q: piece(inputs.q, -2),
          theta: piece(inputs.theta, -1), eta: piece(inputs.eta, -1), alpha: piece(inputs.alpha, -1),
        }, state));
        expect(out.calls).toBe(1);
        post.push(out.result.yPost);
        state = out.result.state;
        at += size;
      }
      expectClose(post[2]!, whole.yPost.narrow(-2, 17, 10), 1e-12, 'y_post of the last piece');
      state.weights.forEach((w, l) => expectClose(w, whole.state.weights[l]!, 1e-12, `weights[${l}]`));
    });
  });
});

describe('gradients with the surprise clamp', () => {
  const names = ['k', 'v', 'q', 'theta', 'eta', 'alpha'] as const;
  for (const [name, make] of Object.entries(FUSED_KINDS)) {
    for (const maxSurpriseNorm of [0.05, 1]) {
      it(`${name}, max ${maxSurpriseNorm}: a recorded scan runs the composite form; the gradient of the fused op equals it (float64)`, () => {
        tidy(() => {
          const architecture = make(5);
          const memoryRule = rule({ architecture, chunkSize: 4, maxSurpriseNorm }, 6);
          const inputs = randomInputs({ lead: [2, 2], tokens: 11, dim: 6, seed: 3 });
          const weights = randomWeights(architecture, 6, { seed: 4 });
          const targets = [...names.map((n) => inputs[n]), ...weights];
          for (const x of targets) x.requiresGrad = true;
          // Through scanParallel: recording a gradient, the clamped scan takes the composite form.
          const { result, calls } = countFused(() => weightedRunSum(scanParallel(memoryRule, inputs, initialState(weights, memoryRule)), 5));
          expect(calls).toBe(0);
          const composite = gradients(result, targets);
          // The fused op itself (its gradient rule recomputes the composite form with the clamp):
          const { result: objectiveFused, calls: fusedCalls } = countFused(() => weightedRunSum(scanFused(memoryRule, inputs, initialState(weights, memoryRule)), 5));
          expect(fusedCalls).toBe(1);
          const fused = gradients(objectiveFused, targets);
          fused.forEach((g, i) => expectClose(g, composite[i]!, architecture.depth > 2 ? 1e-10 : 1e-11, `d objective / d input ${i}`));
        });
      });
    }
  }
});

describe('a backend whose memoryScan has no clamp', () => {
  it('fusedUnsupported declines maxSurpriseNorm with the reason, and the op refuses it', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 4, maxSurpriseNorm: 1 }, 4);
      const inputs = randomInputs({ tokens: 9, dim: 4 });
      expect(fusedUnsupported(memoryRule, inputs, 9)).toBeNull();
      expect(fusedUnsupported(memoryRule, inputs, 9, { recording: true })).toMatch(/while a gradient is recorded/);
      expect(fusedUnsupported({ ...memoryRule, maxSurpriseNorm: 0 }, inputs, 9, { recording: true })).toBeNull();
      Object.defineProperty(cpuBackend, 'memoryScanClamp', { value: false, configurable: true });
      try {
        expect(fusedUnsupported(memoryRule, inputs, 9)).toBe("maxSurpriseNorm: the cpu backend's memoryScan has no surprise clamp");
        expect(fusedUnsupported({ ...memoryRule, maxSurpriseNorm: 0 }, inputs, 9)).toBeNull();
        expect(() => scanFused(memoryRule, inputs, initialState(randomWeights(memoryRule.architecture, 4), memoryRule))).toThrow(/no surprise clamp/);
        const state = initialState(randomWeights(memoryRule.architecture, 4), memoryRule);
        const { result, calls } = countFused(() => scanParallel(memoryRule, inputs, state));
        expect(calls).toBe(0);
        expectSameRun(result, scanChunked(memoryRule, inputs, state), 0);
        const w = state.weights.map((x) => x.expand([2, 2, ...x.shape.slice(-2)]));
        expect(() => memoryScan(
          { k: inputs.k, v: inputs.v, q: inputs.q, theta: inputs.theta, eta: inputs.eta, alpha: inputs.alpha, weights: w, momentum: w },
          { memories: 4, tokens: 9, chunk: 4, layers: [[10, 4], [4, 10]], activation: 'silu', residual: true, norm: true, maxSurpriseNorm: 1 },
          () => [],
        )).toThrow(/has no surprise clamp/);
      } finally {
        Object.defineProperty(cpuBackend, 'memoryScanClamp', { value: true, configurable: true });
      }
    });
  });
});
