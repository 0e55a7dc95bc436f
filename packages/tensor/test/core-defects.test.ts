// Regression tests for the tensor-core defects of issue 24, one block per defect.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { gradients, grad, hvp, randn, tensor, vjp, type Tensor } from '@titans/tensor';
import { checkGradients, checkSecondDerivatives } from '@titans/test-utils';

const f64 = (data: number[], shape: number[]): Tensor => tensor(data, shape, { dtype: 'float64' });
const r64 = (shape: number[], seed: number): Tensor => ops.cast(randn(shape, seed), 'float64');

describe('attention under createGraph with aliased or dependent q, k, v', () => {
  test('self-attention over one key: the gradient of the output x is w, with or without createGraph', () => {
    const x = f64([0.3, -0.7], [1, 1, 2]);
    x.requiresGrad = true;
    const w = f64([2, 5], [1, 1, 2]);
    const y = ops.sum(ops.mul(ops.attention(x, x, x), w));
    expect(Array.from(gradients(y, [x])[0]!.dataSync())).toEqual([2, 5]);
    expect(Array.from(gradients(y, [x], { createGraph: true })[0]!.dataSync())).toEqual([2, 5]);
  });

  test('hvp of self-attention agrees with the first-order (fused) gradient differentiated numerically', () => {
    const x = r64([1, 3, 2], 3);
    const v = r64([1, 3, 2], 4);
    const w = r64([1, 3, 2], 5);
    const f = (z: Tensor): Tensor => ops.sum(ops.mul(ops.attention(z, z, z), w));
    const analytic = hvp(f, x, v).dataSync();
    const eps = 1e-6;
    const g = (z: Tensor): Float64Array => Float64Array.from(grad(f)(z).dataSync());
    const plus = g(ops.add(x, ops.mul(v, eps)));
    const minus = g(ops.sub(x, ops.mul(v, eps)));
    const numeric = plus.map((p, i) => (p - minus[i]!) / (2 * eps));
    expect(analytic).toBeAllclose(numeric, { rtol: 1e-5, atol: 1e-7 });
  });
});

/**
 * Every op whose backward computes the gradients of several inputs: called with one tensor
 * in every slot (f(x, x, x)) and with one slot computed from another (f(x, g(x), x)),
 * second derivatives against finite differences of the first gradient, float64.
 */
describe('composite and multi-input backward rules with aliased and dependent inputs', () => {
  const g = (x: Tensor): Tensor => ops.mul(ops.tanh(x), 1.5);
  type Multi = (a: Tensor, b: Tensor, c: Tensor) => Tensor;
  const cases: [string, number[], Multi][] = [
    ['add', [2, 3], (a, b) => ops.add(a, b)],
    ['sub', [2, 3], (a, b) => ops.sub(a, b)],
    ['mul', [2, 3], (a, b) => ops.mul(a, b)],
    ['div', [2, 3], (a, b) => ops.div(a, ops.add(ops.square(b), 1))],
    ['pow', [2, 3], (a, b) => ops.pow(ops.add(ops.square(a), 0.5), b)],
    ['maximum', [2, 3], (a, b) => ops.maximum(a, ops.mul(b, 0.5))],
    ['minimum', [2, 3], (a, b) => ops.minimum(a, ops.mul(b, 0.5))],
    ['where', [2, 3], (a, b, c) => ops.where(ops.gt(ops.detach(c), 0), ops.square(a), b)],
    ['matmul', [3, 3], (a, b) => ops.matmul(a, b)],
    ['concat', [2, 3], (a, b, c) => ops.square(ops.concat([a, b, c], 1))],
    ['stack', [2, 3], (a, b) => ops.square(ops.stack([a, b], 0))],
    ['linearScan', [2, 3], (a, b) => ops.linearScan(ops.tanh(a), ops.square(b), -1)],
    ['attention (causal)', [1, 3, 2], (a, b, c) => ops.attention(a, b, c)],
    ['attention (full)', [1, 3, 2], (a, b, c) => ops.attention(a, b, c, { causal: false })],
    ['attention (window, prefix)', [1, 4, 2], (a, b, c) => ops.attention(a, b, c, { window: 2, prefix: 1 })],
    ['naiveAttention', [1, 3, 2], (a, b, c) => ops.naiveAttention(a, b, c, { causal: false })],
    ['linear', [3, 3], (a, b, c) => ops.linear(a, b, ops.sum(c, 0))],
    ['layerNorm (weight, bias)', [3], (a, b, c) => ops.layerNorm(a, { weight: b, bias: c })],
    ['rmsNorm (weight)', [3], (a, b) => ops.rmsNorm(a, { weight: b })],
    ['causalConv1d', [2, 2], (a, b, c) => ops.causalConv1d(a, b, ops.sum(c, 0))],
    ['mseLoss', [2, 3], (a, b) => ops.mseLoss(ops.sin(a), b)],
  ];
  for (const [name, shape, f] of cases) {
    test(`${name}: f(x, x, x)`, () => {
      const x = r64(shape, 11);
      checkGradients((z) => f(z, z, z), [x]);
      checkSecondDerivatives((z) => f(z, z, z), [x]);
    });
    test(`${name}: f(x, g(x), x)`, () => {
      const x = r64(shape, 12);
      checkGradients((z) => f(z, g(z), z), [x]);
      checkSecondDerivatives((z) => f(z, g(z), z), [x]);
      checkSecondDerivatives((z) => f(g(z), z, z), [x]);
    });
  }
});

describe('gradients and vjp leave the caller\'s cotangent alive', () => {
  for (const createGraph of [false, true]) {
    test(`gradients(..., { gradOutput${createGraph ? ', createGraph' : ''} })`, () => {
      const a = f64([1, 2, 3], [3]);
      a.requiresGrad = true;
      const cotangent = f64([1, -1, 2], [3]);
      const [ga] = gradients(ops.exp(ops.mul(a, 2)), [a], { gradOutput: cotangent, createGraph });
      expect(cotangent.disposed).toBe(false);
      expect(Array.from(cotangent.dataSync())).toEqual([1, -1, 2]);
      expect(ga!.dataSync()[1]).toBeCloseTo(-2 * Math.exp(4), 10);
      // The output's own node returns its cotangent unchanged (add): still the caller's.
      const [gb] = gradients(ops.add(a, 1), [a], { gradOutput: cotangent, createGraph });
      expect(cotangent.disposed).toBe(false);
      expect(Array.from(gb!.dataSync())).toEqual([1, -1, 2]);
    });
  }

  test('a vjp pullback can be called twice with the same cotangent', () => {
    const x = tensor([1, 2, 3], [3]);
    const [, pull] = vjp((z: Tensor) => ops.exp(z), x);
    const cotangent = tensor([1, 1, 1], [3]);
    const first = Array.from(pull(cotangent).dataSync());
    expect(cotangent.disposed).toBe(false);
    expect(Array.from(pull(cotangent).dataSync())).toEqual(first);
  });
});
