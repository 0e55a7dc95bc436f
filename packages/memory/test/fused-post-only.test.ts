// scanParallel(..., { yPre: false }): the fused kernel leaves y_pre out. Its y_post, losses,
// state and gradients (first and second order) must equal the run with y_pre, reading the
// missing yPre must be a clear error, and NeuralMemory (which reads 'post') must give the same
// output, gradients and, on first read, the same yPre as with the fused kernel switched off.
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, add, gradients, mul, sum, tidy, type Tensor } from '@titans/tensor';
import {
  NeuralMemory, hasYPre, initialState, linearArchitecture, memoryPreset, scanParallel, setFusedMemoryKernels,
  type MemoryArchitecture, type MemoryOutputs,
} from '../src/index.js';
import { countFused, expectClose, expectSameBits, randomInputs, randomWeights, rule } from './helpers.js';

afterEach(() => {
  setFusedMemoryKernels(true);
});

const kinds: Record<string, MemoryArchitecture> = {
  linear: linearArchitecture(),
  mlp2: { depth: 2, hidden: 12, activation: 'silu', residual: false, norm: false },
  'mlp2 residual + norm': { depth: 2, hidden: 12, activation: 'silu', residual: true, norm: true },
};

describe('scanParallel without y_pre', () => {
  for (const [name, architecture] of Object.entries(kinds)) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name}, ${dtype}: y_post, loss and state bit-identical to the run with y_pre; yPre throws`, () => {
        tidy(() => {
          // dim 8, hidden 12: the float32 SIMD chunk drivers (rowsUpdatePost); 37 tokens: a partial last chunk.
          const memoryRule = rule({ architecture, chunkSize: 8 }, 8);
          const inputs = randomInputs({ lead: [2, 2], tokens: 37, dim: 8, dtype, seed: 11 });
          const state = initialState(randomWeights(architecture, 8, { dtype, seed: 12 }), memoryRule);
          const both = countFused(() => scanParallel(memoryRule, inputs, state));
          const post = countFused(() => scanParallel(memoryRule, inputs, state, { yPre: false }));
          expect(both.flags).toEqual([undefined]);
          expect(post.flags).toEqual([false]);
          expect(hasYPre(both.result)).toBe(true);
          expect(hasYPre(post.result)).toBe(false);
          expectSameBits(post.result.yPost, both.result.yPost, 'y_post');
          expectSameBits(post.result.loss, both.result.loss, 'loss');
          post.result.state.weights.forEach((w, l) => expectSameBits(w, both.result.state.weights[l]!, `weights[${l}]`));
          post.result.state.momentum.forEach((m, l) => expectSameBits(m, both.result.state.momentum[l]!, `momentum[${l}]`));
          expect(post.result.state.pending?.k.shape).toEqual(both.result.state.pending?.k.shape);
          expect(() => post.result.yPre).toThrow(/yPre was not computed/);
        });
      });
    }
  }

  it('the composite form (fused kernels off) computes y_pre anyway', () => {
    tidy(() => {
      const memoryRule = rule({ chunkSize: 4 }, 6);
      const inputs = randomInputs({ tokens: 9, dim: 6 });
      const state = initialState(randomWeights(memoryRule.architecture, 6), memoryRule);
      setFusedMemoryKernels(false);
      const out = scanParallel(memoryRule, inputs, state, { yPre: false });
      expect(hasYPre(out)).toBe(true);
      expect(out.yPre.shape).toEqual([2, 2, 9, 6]);
    });
  });

  for (const [name, architecture] of Object.entries(kinds)) {
    it(`${name}: first- and second-order gradients of y_post, loss and state equal the run with y_pre (float64)`, () => {
      tidy(() => {
        const memoryRule = rule({ architecture, chunkSize: 4 }, 6);
        const inputs = randomInputs({ lead: [2], tokens: 11, dim: 6, seed: 3 });
        const weights = randomWeights(architecture, 6, { seed: 4 });
        const targets = [inputs.k, inputs.v, inputs.q, inputs.theta, inputs.eta, inputs.alpha, ...weights];
        for (const x of targets) x.requiresGrad = true;
        const objective = (out: MemoryOutputs): Tensor => {
          const rng = new Rng(5);
          return [out.yPost, out.loss, ...out.state.weights, ...out.state.momentum]
            .map((x) => sum(mul(x, rng.normal(x.shape, 0, 1, { dtype: x.dtype })))).reduce((a, b) => add(a, b));
        };
        const run = (yPre: boolean): { first: Tensor[]; second: Tensor[] } => {
          const { result, flags } = countFused(() => objective(scanParallel(memoryRule, inputs, initialState(weights, memoryRule), { yPre })));
          expect(flags).toEqual([yPre ? undefined : false]);
          const first = gradients(result, targets, { createGraph: true });
          // Second order: the gradient of sum(dL/dk * r) with respect to q and the first weights.
          const r = new Rng(6).normal(first[0]!.shape, 0, 1, { dtype: 'float64' });
          const second = gradients(sum(mul(first[0]!, r)), [inputs.q, weights[0]!]);
          return { first, second };
        };
        const withPre = run(true);
        const without = run(false);
        without.first.forEach((g, i) => expectClose(g, withPre.first[i]!, 1e-12, `first-order gradient ${i}`));
        without.second.forEach((g, i) => expectClose(g, withPre.second[i]!, 1e-12, `second-order gradient ${i}`));
      });
    });
  }
});

describe('NeuralMemory reading post', () => {
  for (const [name, preset] of [['titans (MLP)', 'titans'], ['titans-linear', 'titans-linear']] as const) {
    it(`${name}: scans without y_pre; output, gradients and the lazily read yPre match the composite run`, () => {
      tidy(() => {
        const make = (): NeuralMemory => new NeuralMemory(16, { heads: 2, rule: memoryPreset(preset, 8, { chunkSize: 4 }), seed: 3, dtype: 'float64' });
        const x = new Rng(4).normal([2, 10, 16], 0, 1, { dtype: 'float64' });
        const run = (fused: boolean): { output: Tensor; yPre: Tensor; grads: Tensor[]; flags: (boolean | undefined)[][] } => {
          setFusedMemoryKernels(fused);
          const memory = make();
          const forward = countFused(() => memory.forward(x));
          const result = forward.result;
          const grads = gradients(sum(mul(result.output, result.output)), memory.parameters());
          // Read after the backward pass: computed now, from the same inputs and state; a second read reuses it.
          const read = countFused(() => result.yPre);
          expect(result.yPre).toBe(read.result);
          return { output: result.output, yPre: read.result, grads, flags: [forward.flags, read.flags] };
        };
        const fused = run(true);
        const reference = run(false);
        expect(fused.flags).toEqual([[false], [undefined]]); // the forward without y_pre, then the scan again for yPre
        expect(reference.flags).toEqual([[], []]);
        expectClose(fused.output, reference.output, 1e-12, 'output');
        expectClose(fused.yPre, reference.yPre, 1e-12, 'yPre');
        fused.grads.forEach((g, i) => expectClose(g, reference.grads[i]!, 1e-11, `gradient ${i}`));
      });
    });
  }

  it('tidy() returning the output does not compute yPre; reading it after the scope ends is a clear error', () => {
    const memory = new NeuralMemory(16, { heads: 2, rule: memoryPreset('titans', 8, { chunkSize: 4 }), seed: 3 });
    const x = new Rng(4).normal([1, 6, 16]);
    const { result: out, flags } = countFused(() => tidy(() => memory.forward(x)));
    expect(flags).toEqual([false]);
    expect(out.output.disposed).toBe(false);
    expect(() => out.yPre).toThrow(/yPre is computed when first read.*disposed/);
    tidy(() => {
      const inside = memory.forward(x);
      const read = countFused(() => inside.yPre);
      expect(read.flags).toEqual([undefined]);
      expect(read.result.shape).toEqual([1, 2, 6, 8]);
    });
  });

  it("read: 'pre' scans with y_pre and returns it directly", () => {
    tidy(() => {
      const memory = new NeuralMemory(16, { heads: 2, rule: memoryPreset('titans', 8, { chunkSize: 4 }), read: 'pre', seed: 3 });
      const { result, flags } = countFused(() => memory.forward(new Rng(4).normal([1, 6, 16])));
      expect(flags).toEqual([undefined]);
      expect(countFused(() => result.yPre.shape).flags).toEqual([]);
    });
  });
});
