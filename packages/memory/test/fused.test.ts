// The fused memory kernel (Backend.memoryScan through the memoryScan op) against the
// composite chunked form it replaces: outputs, carried state and gradients (first and
// second order) on random shapes, float64 and float32, and the cases it must leave alone.
import { afterEach, describe, expect, it } from 'vitest';
import {
  Rng, cast, concat, cpuBackend, gradients, mul, narrow, sum, tensor, tidy, type MemoryScanDims, type Tensor,
} from '@titans/tensor';
import {
  initialState, memoryPreset, scanChunked, scanParallel, setFusedMemoryKernels,
  type MemoryArchitecture, type MemoryInputs, type MemoryRule,
} from '../src/index.js';
import { countFused, expectClose, expectFusedMatchesComposite, expectSameRun, FUSED_KINDS, fusedAndComposite, randomInputs, randomWeights, rule, weightedRunSum } from './helpers.js';

afterEach(() => {
  setFusedMemoryKernels(true);
});

describe('fused kernel equals the composite chunked form', () => {
  // dim 6: the JavaScript loops; dim 8 (widths multiples of 4): WebAssembly SIMD in float32.
  const shapes = [
    { tokens: 1, chunk: 4, dim: 6, lead: [1] },
    { tokens: 37, chunk: 8, dim: 6, lead: [2, 3] },
    { tokens: 32, chunk: 16, dim: 8, lead: [2, 3] },
    { tokens: 45, chunk: 1, dim: 8, lead: [3] },
  ];
  for (const [name, make] of Object.entries(FUSED_KINDS)) {
    for (const { tokens, chunk, dim, lead } of shapes) {
      const hidden = dim === 8 ? 12 : 5;
      const architecture = make(hidden);
      const heads = lead[lead.length - 1]!;
      for (const dtype of ['float64', 'float32'] as const) {
        it(`${name}, T ${tokens}, chunk ${chunk}, dim ${dim}, lead [${lead.join(', ')}], ${dtype}`, () => {
          tidy(() => {
            const memoryRule = rule({ architecture, chunkSize: chunk }, dim);
            const inputs = randomInputs({ lead, tokens, dim, dtype, seed: tokens + chunk });
            // Shared per-head initial weights [heads, out, in] broadcast over the batch axis.
            const weights = randomWeights(architecture, dim, { heads, dtype, seed: dim });
            expectFusedMatchesComposite(memoryRule, inputs, weights);
          });
        });
      }
    }
  }

  it('momentum and forgetting switched off (DeltaNet), and a chunk longer than the stream', () => {
    tidy(() => {
      for (const [preset, chunkSize] of [['deltanet', 4], ['gated-deltanet', 64]] as const) {
        const memoryRule = memoryPreset(preset, 6, { chunkSize });
        const inputs = randomInputs({ lead: [2], tokens: 19, dim: 6 });
        const { fused, composite } = fusedAndComposite(memoryRule, inputs, initialState(randomWeights(memoryRule.architecture, 6), memoryRule));
        expectSameRun(fused, composite, 1e-12);
      }
    });
  });

  it('a stream cut into pieces (pending chunks carried between calls) equals one composite pass', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 8 }, 6);
      const inputs = randomInputs({ lead: [2, 2], tokens: 41, dim: 6 });
      const weights = randomWeights(memoryRule.architecture, 6);
      const whole = scanChunked(memoryRule, inputs, initialState(weights, memoryRule));
      let state = initialState(weights, memoryRule);
      const pre: Tensor[] = [];
      const post: Tensor[] = [];
      let at = 0;
      for (const size of [3, 10, 1, 16, 11]) {
        const piece = (x: Tensor, axis: number): Tensor => narrow(x, axis, at, size);
        const out = countFused(() => scanParallel(memoryRule, {
          k: piece(inputs.k, -2), v: piece(inputs.v, -2), q: piece(inputs.q, -2),
          theta: piece(inputs.theta, -1), eta: piece(inputs.eta, -1), alpha: piece(inputs.alpha, -1),
        }, state));
        expect(out.calls).toBe(1);
        pre.push(out.result.yPre);
        post.push(out.result.yPost);
        state = out.result.state;
        at += size;
      }
      expectClose(concat(pre, -2), whole.yPre, 1e-12, 'y_pre');
      expectClose(concat(post, -2), whole.yPost, 1e-12, 'y_post');
      expect(state.position).toBe(41);
      expect(state.pending?.k.shape[2]).toBe(1);
      expectClose(state.weights[1]!, whole.state.weights[1]!, 1e-12, 'weights after the last complete chunk');
    });
  });
});

describe('fused kernel edge cases', () => {
  it('zero new tokens after a pending chunk (the kernel replays the pending tokens)', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 8 }, 6);
      const inputs = randomInputs({ lead: [2], tokens: 5, dim: 6 });
      const state = scanParallel(memoryRule, inputs, initialState(randomWeights(memoryRule.architecture, 6), memoryRule)).state;
      const none = (x: Tensor, axis: number): Tensor => narrow(x, axis, 0, 0);
      const empty: MemoryInputs = {
        k: none(inputs.k, -2), v: none(inputs.v, -2), q: none(inputs.q, -2),
        theta: none(inputs.theta, -1), eta: none(inputs.eta, -1), alpha: none(inputs.alpha, -1),
      };
      const { fused, composite } = fusedAndComposite(memoryRule, empty, state);
      expect(fused.yPre.shape).toEqual([2, 0, 6]);
      expectSameRun(fused, composite, 1e-12);
    });
  });
});

describe('when the fused kernel is not used', () => {
  const cases: [string, MemoryRule, Parameters<typeof randomInputs>[0]][] = [
    ['a Huber bias', memoryPreset('yaad', 4, { chunkSize: 4 }), { tokens: 9, dim: 4, huberDelta: true }],
    ['an Lq retention', memoryPreset('moneta', 4, { chunkSize: 4 }), { tokens: 9, dim: 4 }],
    ['two momentum levels', memoryPreset('titans', 4, { chunkSize: 4, momentumOrder: 2 }), { tokens: 9, dim: 4 }],
    ['orthogonalised surprise', memoryPreset('titans', 4, { chunkSize: 4, orthogonalizeSurprise: true }), { tokens: 9, dim: 4 }],
  ];
  for (const [name, memoryRule, sizes] of cases) {
    it(`${name}: the composite form runs`, () => {
      tidy(() => {
        const inputs = randomInputs(sizes);
        const state = initialState(randomWeights(memoryRule.architecture, sizes.dim), memoryRule);
        const { result, calls } = countFused(() => scanParallel(memoryRule, inputs, state));
        expect(calls).toBe(0);
        expectSameRun(result, scanChunked(memoryRule, inputs, state), 0);
      });
    });
  }

  it('setFusedMemoryKernels(false) switches it off', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 4 }, 4);
      const inputs = randomInputs({ tokens: 9, dim: 4 });
      const state = initialState(randomWeights(memoryRule.architecture, 4), memoryRule);
      expect(setFusedMemoryKernels(false)).toBe(true);
      expect(countFused(() => scanParallel(memoryRule, inputs, state)).calls).toBe(0);
      setFusedMemoryKernels(true);
      expect(countFused(() => scanParallel(memoryRule, inputs, state)).calls).toBe(1);
    });
  });
});

describe('gradients through the fused kernel', () => {
  /** Every output and the final state, weighted by fixed random tensors and summed. */
  const names = ['k', 'v', 'q', 'theta', 'eta', 'alpha'] as const;

  for (const [name, make] of Object.entries(FUSED_KINDS)) {
    it(`${name}: first-order gradients equal the composite form's (float64)`, () => {
      tidy(() => {
        const architecture = make(5);
        const memoryRule = rule({ architecture, chunkSize: 4 }, 6);
        const inputs = randomInputs({ lead: [2, 2], tokens: 11, dim: 6, seed: 3 });
        const weights = randomWeights(architecture, 6, { seed: 4 });
        for (const x of [...names.map((n) => inputs[n]), ...weights]) x.requiresGrad = true;
        const targets = [...names.map((n) => inputs[n]), ...weights];
        const run = (fused: boolean): Tensor[] => {
          setFusedMemoryKernels(fused);
          const { result, calls } = countFused(() => weightedRunSum(scanParallel(memoryRule, inputs, initialState(weights, memoryRule)), 5));
          expect(calls).toBe(fused ? 1 : 0);
          return gradients(result, targets);
        };
        const fused = run(true);
        const composite = run(false);
        fused.forEach((g, i) => expectClose(g, composite[i]!, architecture.depth > 2 ? 1e-10 : 1e-11, `d objective / d input ${i}`));
      });
    });
  }

  it('second order: d/dk of (d objective / d W) . c by float64 central differences, fused = composite', () => {
    const memoryRule = rule({ architecture: make2(), chunkSize: 2 }, 3);
    const inputs = randomInputs({ lead: [1], tokens: 5, dim: 3, seed: 7 });
    const weights = randomWeights(memoryRule.architecture, 3, { heads: 1, seed: 8 });
    const c = new Rng(11).normal(weights[0]!.shape, 0, 1, { dtype: 'float64' });
    /** s(k) = sum((d objective / d W1) * c), with the inner gradient recorded so s can be differentiated. */
    const inner = (k: Tensor, w: Tensor[], fused: boolean): Tensor => {
      setFusedMemoryKernels(fused);
      const out = scanParallel(memoryRule, { ...inputs, k }, initialState(w, memoryRule));
      const [gW] = gradients(weightedRunSum(out, 12), [w[0]!], { createGraph: true });
      return sum(mul(gW!, c));
    };
    const analytic = (fused: boolean): Float64Array => tidy(() => {
      const k = inputs.k.detach();
      k.requiresGrad = true;
      const w = weights.map((x) => {
        const y = x.detach();
        y.requiresGrad = true;
        return y;
      });
      const { result: s, calls } = countFused(() => inner(k, w, fused));
      expect(calls).toBe(fused ? 1 : 0);
      return Float64Array.from(gradients(s, [k])[0]!.dataSync());
    });
    const fusedGrad = analytic(true);
    const compositeGrad = analytic(false);
    const data = Float64Array.from(inputs.k.dataSync());
    const eps = 1e-5;
    const at = (moved: Float64Array): number => tidy(() => {
      const w = weights.map((x) => {
        const y = x.detach();
        y.requiresGrad = true;
        return y;
      });
      return inner(tensor(moved, inputs.k.shape, { dtype: 'float64' }), w, true).item();
    });
    let diff = 0;
    let scale = 1e-12;
    for (let i = 0; i < data.length; i++) {
      const original = data[i]!;
      data[i] = original + eps;
      const plus = at(data);
      data[i] = original - eps;
      const minus = at(data);
      data[i] = original;
      const numeric = (plus - minus) / (2 * eps);
      diff = Math.max(diff, Math.abs(numeric - fusedGrad[i]!));
      scale = Math.max(scale, Math.abs(numeric));
      expect(Math.abs(fusedGrad[i]! - compositeGrad[i]!)).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(compositeGrad[i]!)));
    }
    expect(diff / scale, 'second-order gradient vs central differences').toBeLessThanOrEqual(1e-6);
  });

  it('float32 gradients equal the float64 ones to float32 rounding', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 4 }, 8);
      const inputs = randomInputs({ lead: [2], tokens: 10, dim: 8, seed: 13 });
      const weights = randomWeights(memoryRule.architecture, 8, { seed: 14 });
      const grads = (dtype: 'float32' | 'float64'): Tensor[] => {
        const xs = [...names.map((n) => cast(inputs[n], dtype)), ...weights.map((w) => cast(w, dtype))];
        for (const x of xs) x.requiresGrad = true;
        const [k, v, q, theta, eta, alpha] = xs as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
        const out = scanParallel(memoryRule, { k, v, q, theta, eta, alpha }, initialState(xs.slice(6), memoryRule));
        return gradients(weightedRunSum(out, 15), xs);
      };
      const g32 = grads('float32');
      const g64 = grads('float64');
      g32.forEach((g, i) => expectClose(cast(g, 'float64'), g64[i]!, 1e-3, `float32 gradient ${i}`));
    });
  });
});

describe('Backend.memoryScan input checks', () => {
  it('names the input whose size does not match', () => {
    const dims: MemoryScanDims = { memories: 1, tokens: 2, chunk: 2, layers: [[2, 2]], activation: 'silu', residual: false, norm: false };
    const s = (n: number) => cpuBackend.fromArray(new Float64Array(n), 'float64');
    expect(() => cpuBackend.memoryScan({ k: s(4), v: s(4), q: s(3), theta: s(2), eta: s(2), alpha: s(2), weights: [s(4)], momentum: [s(4)] }, dims))
      .toThrow(/q has 3 elements, expected 4/);
    expect(() => cpuBackend.memoryScan({ k: s(4), v: s(4), q: s(4), theta: s(2), eta: s(2), alpha: s(2), weights: [s(4)], momentum: [s(4)] }, { ...dims, chunk: 0 }))
      .toThrow(/chunk must be a positive integer/);
  });
});

function make2(): MemoryArchitecture {
  return { depth: 2, hidden: 4, activation: 'silu', residual: true, norm: true };
}
