// Bugs found while writing the suite, each with the test that would have caught it.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { CpuBackend, grad, liveBytes, liveTensors, noGrad, optim, randn, tensor, tidy, withBackend, type Tensor } from '@titans/tensor';
import { checkGradients } from '@titans/test-utils';

describe('regressions', () => {
  test('matmul of two vectors is their dot product (a scalar)', () => {
    const out = ops.matmul(tensor([1, 2, 3]), tensor([4, 5, 6]));
    expect(out.shape).toEqual([]);
    expect(out.item()).toBe(32);
  });

  test('takeAlongLastAxis rejects an index that would read the next row', () => {
    // Flat position row * V + index: index V of row 0 used to return row 1's first element.
    expect(() => ops.takeAlongLastAxis(tensor([[1, 2], [3, 4]]), tensor([[2], [0]], [2, 1], { dtype: 'int32' }))).toThrow(/index 2 at position 0 is out of range \[0, 2\)/);
  });

  test('attention without gradients frees its saved copies', () => {
    const q = randn([1, 4, 2], 1);
    const before = [liveTensors(), liveBytes()];
    noGrad(() => ops.attention(q, q, q).dispose());
    ops.attention(q, q, q).dispose(); // q needs no gradient either
    expect([liveTensors(), liveBytes()]).toEqual(before);
    q.dispose();
  });

  test('naiveAttention works on tensors of a backend that is not the active one', () => {
    const other = new CpuBackend();
    const [q, k, v] = [1, 2, 3].map((seed) => randn([2, 3, 4], seed, { backend: other }));
    const out = ops.naiveAttention(q!, k!, v!, { window: 2 });
    expect(out.backend).toBe(other);
    const fused = ops.attention(q!, k!, v!, { window: 2 });
    expect(out).toBeAllclose(fused, { rtol: 1e-5, atol: 1e-6 });
    // And with the other backend active, a tensor of the default backend still works.
    withBackend(other, () => expect(ops.naiveAttention(randn([1, 2, 2], 4), randn([1, 2, 2], 5), randn([1, 2, 2], 6)).backend.name).toBe('cpu'));
  });

  test('rope in float64 uses float64 rotation tables', () => {
    const x = tensor([1, 0], [1, 2], { dtype: 'float64' });
    // Position 7, one frequency (inv = 1): (cos 7, sin 7) exactly, not float32-rounded.
    const out = ops.rope(x, 7).dataSync();
    expect(out[0]).toBe(Math.cos(7));
    expect(out[1]).toBe(Math.sin(7));
  });

  test('binary ops on a disposed tensor name the op, not a generic message', () => {
    const x = tensor([1]);
    x.dispose();
    expect(() => ops.sub(1, x)).toThrow(/^sub: argument 'b'/);
  });

  test('l2Normalize of an all-zero vector has finite gradients', () => {
    const x = tensor([[0, 0, 0], [1, 2, -2]], [2, 3], { dtype: 'float64' });
    const r = tensor([[1, 2, 3], [3, 2, 1]], [2, 3], { dtype: 'float64' });
    const g = grad((y: Tensor) => ops.sum(ops.mul(ops.l2Normalize(y), r)))(x).dataSync();
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    // Away from zero it is the usual gradient.
    checkGradients((y) => ops.l2Normalize(y), [ops.narrow(x, 0, 1, 1)]);
    expect(ops.l2Normalize(x)).toBeAllclose([[0, 0, 0], [1 / 3, 2 / 3, -2 / 3]], { rtol: 1e-12 });
  });

  test('cached scalars are released by clearScalarCache, not leaked', () => {
    ops.clearScalarCache();
    const bytes = liveBytes();
    const x = tensor([1, 2]);
    tidy(() => { for (let i = 0; i < 10; i++) ops.mul(x, 1 + i / 7); });
    expect(liveBytes()).toBe(bytes + 8 + 10 * 4); // x, and ten cached values
    ops.clearScalarCache();
    expect(liveBytes()).toBe(bytes + 8);
    const kept = ops.scalar(0.25);
    ops.clearScalarCache();
    expect(kept.item()).toBe(0.25); // a tensor still using a cached value keeps it
    kept.dispose();
    x.dispose();
    expect(liveBytes()).toBe(bytes);
  });

  test('clipGradNorm of no gradients', () => {
    const { grads, norm } = tidy(() => optim.clipGradNorm([], 1));
    expect(grads).toEqual([]);
    expect(norm.item()).toBe(0);
  });
});
