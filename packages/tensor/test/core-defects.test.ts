// Regression tests for the tensor-core defects of issue 24, one block per defect.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { CpuBackend, gradients, gradientsAsync, grad, hvp, randn, tensor, vjp, type Tensor } from '@titans/tensor';
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

describe('max, min, argmax, argmin over zero rows give an empty result', () => {
  test('reductions of [0, 5] along the non-empty axis', () => {
    const x = ops.zeros([0, 5]);
    for (const f of [ops.max, ops.min, ops.sum, ops.logsumexp]) expect(f(x, -1).shape).toEqual([0]);
    expect(ops.max(x, -1, true).shape).toEqual([0, 1]);
    expect(ops.argmax(x, -1).shape).toEqual([0]);
    expect(ops.argmin(x, 1).dtype).toBe('int32');
    expect(ops.max(ops.zeros([2, 0, 3]), [0, 2]).shape).toEqual([0]);
  });

  test('softmax, logSoftmax and crossEntropy on an empty batch, with gradients', () => {
    const logits = ops.zeros([0, 4], { dtype: 'float64' });
    logits.requiresGrad = true;
    expect(ops.softmax(logits).shape).toEqual([0, 4]);
    expect(ops.logSoftmax(logits, 0).shape).toEqual([0, 4]);
    expect(Array.from(ops.logsumexp(ops.zeros([2, 0]), -1).dataSync())).toEqual([-Infinity, -Infinity]);
    const loss = ops.crossEntropy(logits, ops.zeros([0], { dtype: 'int32' }));
    expect(loss.item() === 0).toBe(true); // -0: the negated sum of nothing
    expect(gradients(loss, [logits])[0]!.shape).toEqual([0, 4]);
    const [g] = gradients(ops.sum(ops.max(logits, -1)), [logits], { createGraph: true });
    expect(g!.shape).toEqual([0, 4]);
  });

  test('an empty reduced axis is still refused, naming the op and the axis', () => {
    expect(() => ops.max(ops.zeros([3, 0]), -1)).toThrow(/^max: cannot reduce over axis 1 of size 0 \(shape \[3, 0\]\)/);
    expect(() => ops.min(ops.zeros([0]))).toThrow(/^min: cannot reduce over axis 0 of size 0/);
    expect(() => ops.argmax(ops.zeros([0, 0]), 0)).toThrow(/^argmax: cannot reduce over axis 0/);
    expect(ops.sum(ops.zeros([3, 0]), -1).dataSync()).toEqual(new Float32Array(3));
  });
});

describe('float-only ops refuse int32', () => {
  const i32 = (): Tensor => tensor([1, 2, 3], [1, 3], { dtype: 'int32' });
  const refused: [string, (x: Tensor) => Tensor][] = [
    ['exp', ops.exp], ['log', ops.log], ['sqrt', ops.sqrt], ['rsqrt', ops.rsqrt], ['tanh', ops.tanh],
    ['sigmoid', ops.sigmoid], ['erf', ops.erf], ['reciprocal', ops.reciprocal], ['sin', ops.sin], ['cos', ops.cos],
    ['softplus', ops.softplus], ['mean', (x) => ops.mean(x)], ['variance', (x) => ops.variance(x)],
    ['logsumexp', (x) => ops.logsumexp(x, -1)], ['softmax', (x) => ops.softmax(x)], ['logSoftmax', (x) => ops.logSoftmax(x)],
    ['layerNorm', (x) => ops.layerNorm(x)], ['rmsNorm', (x) => ops.rmsNorm(x)], ['l2Normalize', (x) => ops.l2Normalize(x)],
    ['silu', ops.silu], ['gelu', (x) => ops.gelu(x)], ['mseLoss', (x) => ops.mseLoss(x, x)],
    ['dropout', (x) => ops.dropout(x, 0.5, ops.zeros([1, 3]))], ['rope', (x) => ops.rope(ops.reshape(ops.concat([x, x], 1), [1, 6]))],
    ['attention', (x) => ops.attention(x, x, x)], ['naiveAttention', (x) => ops.naiveAttention(x, x, x)],
    ['crossEntropy', (x) => ops.crossEntropy(x, tensor([0], [1], { dtype: 'int32' }))],
  ];
  for (const [name, f] of refused) {
    test(name, () => {
      expect(() => f(i32())).toThrow(TypeError);
      expect(() => f(i32())).toThrow(new RegExp(`^${name}: '\\w+' is int32, but ${name} is defined for float32 and float64 tensors only`));
    });
  }

  test('gradients, grad and vjp refuse int32 arguments', () => {
    expect(() => grad((x: Tensor) => ops.sum(ops.mul(x, x)))(i32())).toThrow(/^grad: argument leaf 0 \[1, 3\] is int32/);
    expect(() => vjp((x: Tensor) => ops.mul(x, x), i32())).toThrow(/^vjp: argument leaf 0 \[1, 3\] is int32/);
    const f = tensor([1, 2], [2]);
    f.requiresGrad = true;
    expect(() => gradients(ops.sum(f), [f, i32()])).toThrow(/^gradients: input 1 \[1, 3\] is int32/);
  });

  test('integer ops keep working on int32', () => {
    const x = i32();
    const y = tensor([3, -1, 2], [1, 3], { dtype: 'int32' });
    expect(Array.from(ops.add(x, y).dataSync())).toEqual([4, 1, 5]);
    expect(Array.from(ops.mul(x, y).dataSync())).toEqual([3, -2, 6]);
    expect(Array.from(ops.sub(x, 1).dataSync())).toEqual([0, 1, 2]);
    expect(Array.from(ops.maximum(x, y).dataSync())).toEqual([3, 2, 3]);
    expect(Array.from(ops.gt(x, y).dataSync())).toEqual([0, 1, 1]);
    expect(ops.sum(x).item()).toBe(6);
    expect(ops.max(y).item()).toBe(3);
    expect(ops.prod(x).item()).toBe(6);
    expect(Array.from(ops.cumsum(x).dataSync())).toEqual([1, 3, 6]);
    expect(Array.from(ops.abs(ops.neg(y)).dataSync())).toEqual([3, 1, 2]);
    expect(Array.from(ops.square(y).dataSync())).toEqual([9, 1, 4]);
    expect(Array.from(ops.relu(y).dataSync())).toEqual([3, 0, 2]);
    expect(Array.from(ops.sign(y).dataSync())).toEqual([1, -1, 1]);
    expect(ops.argmax(y).dataSync()[0]).toBe(0);
    expect(Array.from(ops.matmul(x, ops.transpose(y)).dataSync())).toEqual([7]);
    expect(Array.from(ops.indexSelect(tensor([10, 20, 30]), 0, tensor([2, 0], [2], { dtype: 'int32' })).dataSync())).toEqual([30, 10]);
    expect(ops.cast(x, 'float32').dtype).toBe('float32');
  });
});

describe('gradients through toBackend', () => {
  /** A CPU backend that, like WebGPU, only reads asynchronously. */
  const asyncBackend = (): CpuBackend => {
    const b = new CpuBackend();
    Object.defineProperty(b, 'syncRead', { value: false });
    Object.defineProperty(b, 'name', { value: 'async-cpu' });
    return b;
  };

  test('between backends that read synchronously, gradients flows back', () => {
    const other = new CpuBackend();
    const x = f64([1, 2, 3], [3]);
    x.requiresGrad = true;
    const y = ops.sum(ops.mul(ops.toBackend(x, other), ops.toBackend(x, other)));
    const [g] = gradients(y, [x]);
    expect(g!.backend).toBe(x.backend);
    expect(Array.from(g!.dataSync())).toEqual([2, 4, 6]);
  });

  test('to a backend that reads asynchronously: gradients explains, gradientsAsync works', async () => {
    const gpuLike = asyncBackend();
    const w = f64([0.5, -1, 2], [3]);
    w.requiresGrad = true;
    const x = ops.mul(w, 3); // computed on the CPU from the parameter
    const onDevice = ops.toBackend(x, gpuLike);
    const bias = tensor([1, 1, 1], [3], { dtype: 'float64', backend: gpuLike });
    bias.requiresGrad = true;
    const loss = ops.sum(ops.mul(ops.add(onDevice, bias), 2));
    expect(() => gradients(loss, [w])).toThrow(/^gradients: the gradient of toBackend\(x, async-cpu\) must be read back from async-cpu to cpu, which only reads asynchronously: use await gradientsAsync/);
    const [gw, gb] = await gradientsAsync(loss, [w, bias]);
    expect(gw!.backend).toBe(w.backend);
    expect(gb!.backend).toBe(gpuLike);
    expect(Array.from(gw!.dataSync())).toEqual([6, 6, 6]);
    expect(Array.from(await gb!.data())).toEqual([2, 2, 2]);
    await expect(gradientsAsync(loss, [w], { createGraph: true } as never)).rejects.toThrow(/createGraph is not supported/);
    // A gradOutput stays the caller's, and bad arguments are named as in gradients.
    const w3 = tensor([1, 2, 3], [3], { dtype: 'float64', backend: gpuLike });
    const out = ops.mul(onDevice, 2);
    const [gw3] = await gradientsAsync(out, [w], { gradOutput: w3 });
    expect(w3.disposed).toBe(false);
    expect(Array.from(gw3!.dataSync())).toEqual([6, 12, 18]);
    await expect(gradientsAsync(out, [w])).rejects.toThrow(/^gradientsAsync: output has shape \[3\]; pass gradOutput/);
    // Without device copies it is gradients.
    const [gl] = await gradientsAsync(ops.sum(ops.square(w)), [w]);
    expect(Array.from(gl!.dataSync())).toEqual([1, -2, 4]);
  });
});

describe('found by the property suite', () => {
  test('attention with no queries or no keys has gradients of gradients (the composite form used max over no keys)', () => {
    for (const [tq, tk] of [[0, 0], [0, 2], [2, 0], [2, 3]] as const) {
      const q = r64([1, tq, 2], 1);
      const kv = r64([1, tk, 2], 2);
      q.requiresGrad = true;
      kv.requiresGrad = true;
      const out = ops.attention(q, kv, kv, { causal: false });
      expect(out.shape).toEqual([1, tq, 2]);
      const grads = gradients(ops.sum(ops.square(out)), [q, kv], { createGraph: true });
      expect(grads.map((g) => g.shape)).toEqual([[1, tq, 2], [1, tk, 2]]);
      const naive = ops.naiveAttention(q, kv, kv, { causal: false });
      if (tk === 0) expect(Array.from(naive.dataSync())).toEqual(new Array(tq * 2).fill(0));
      else expect(naive).toBeAllclose(out, { rtol: 1e-12 });
    }
  });
});

test('attention with a head size of 0 is softmax of equal scores: the mean of the visible values', () => {
  const q = ops.zeros([1, 2, 0], { dtype: 'float64' });
  const v = f64([1, 2, 3, 4], [1, 2, 2]);
  expect(Array.from(ops.attention(q, q, v).dataSync())).toEqual([1, 2, 2, 3]);
  expect(Array.from(ops.attention(q, q, v, { causal: false }).dataSync())).toEqual([2, 3, 2, 3]);
  expect(ops.attention(v, v, ops.zeros([1, 2, 0], { dtype: 'float64' })).shape).toEqual([1, 2, 0]);
});
