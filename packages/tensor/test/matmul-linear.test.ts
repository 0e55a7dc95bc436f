// matmul of a stack of matrices [..., m, k] by one matrix [k, n] (a linear layer) runs as one
// [rows, k] @ [k, n] product (src/ops/core.ts). Checked against the batched path it replaces
// (the same product with b given a batch axis of 1): equal values, and gradients equal within
// float32 rounding (b's gradient is one sum over all rows instead of per-batch sums added up),
// on random shapes with size 0, 1 and odd sizes, float32 and float64, and non-contiguous a.
import { describe, expect, it } from 'vitest';
import { Rng, gradients, matmul, mul, reshape, sum, tensor, transpose, type Tensor } from '../src/index.js';

const rng = new Rng(2024);

function draw(shape: number[], dtype: 'float32' | 'float64'): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(Float64Array.from(rng.normalArray(n)), shape, { dtype });
}

function expectClose(actual: Tensor, expected: Tensor, tol: number, label: string): void {
  expect(actual.shape, label).toEqual(expected.shape);
  const a = actual.dataSync();
  const e = expected.dataSync();
  for (let i = 0; i < a.length; i++) {
    expect(Math.abs(a[i]! - e[i]!), `${label}[${i}]: ${a[i]} vs ${e[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(e[i]!)));
  }
}

const SHAPES: [number[], number, number][] = [
  [[2, 3], 4, 5],
  [[1, 1], 1, 1],
  [[3, 7], 5, 9],
  [[2, 33], 17, 13],
  [[4, 64], 32, 24],
  [[2, 3, 5], 7, 6],
  [[0, 4], 3, 2],
  [[2, 0], 3, 2],
  [[2, 3], 0, 4],
  [[2, 3], 4, 0],
];

describe('matmul of a stack of matrices by one matrix', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [lead, k, n] of SHAPES) {
      it(`${dtype} a [${lead.join(', ')}, ${k}] @ b [${k}, ${n}]: values and gradients equal the batched path`, () => {
        const a = draw([...lead, k], dtype);
        const b = draw([k, n], dtype);
        a.requiresGrad = true;
        b.requiresGrad = true;
        const w = draw([...lead, n], dtype);
        const b3 = reshape(b, [1, k, n]); // a batch axis: the general batched path
        const fast = matmul(a, b);
        const slow = matmul(a, b3);
        expect(fast.shape).toEqual([...lead, n]);
        expect(Array.from(fast.dataSync())).toEqual(Array.from(slow.dataSync()));
        if (fast.size === 0) return;
        const tol = dtype === 'float32' ? 2e-5 * Math.sqrt(a.size) : 1e-12 * a.size;
        const [ga, gb] = gradients(sum(mul(fast, w)), [a, b]);
        const [ga3, gb3] = gradients(sum(mul(slow, w)), [a, b]);
        expectClose(ga!, ga3!, tol, 'da');
        expectClose(gb!, gb3!, tol, 'db');
        // Random operands: a gradient of all zeros would mean nothing was differentiated.
        for (const [g, name] of [[ga!, 'da'], [gb!, 'db']] as const) expect(g.size === 0 || g.dataSync().some((v) => v !== 0), `${name} is all zeros`).toBe(true);
      });
    }
  }

  it('non-contiguous a (a transposed stack) takes the batched path and gives the same result', () => {
    const a = transpose(draw([3, 6, 5], 'float32'), 0, 1); // [6, 3, 5], not row-major
    const b = draw([5, 4], 'float32');
    expect(Array.from(matmul(a, b).dataSync())).toEqual(Array.from(matmul(a, reshape(b, [1, 5, 4])).dataSync()));
  });
});
