// The CPU backend's fused row kernels (Backend.normRows, softmaxRows, ropeRows, silu; src/cpu/rows.ts)
// against the composite ops they replace (run on a CPU backend without those primitives, as
// every backend that lacks them runs), on random shapes with empty, single and odd sizes, in
// float32 and float64: values and first-order gradients; then finite differences (float64)
// of the fused forms' gradients and of their gradients of gradients.
import { checkGradients, checkSecondDerivatives } from '@titans/test-utils';
import { describe, expect, it } from 'vitest';
import { cpuBackend } from '../src/cpu/backend.js';
import { compositeBackend, valueAndGradients, type FloatType } from './fast-path.js';
import {
  Rng, crossEntropy, silu, layerNorm, logSoftmax, rmsNorm, rope, softmax, tensor, tidy, transpose, withBackend,
  type Tensor,
} from '../src/index.js';

/** A CPU backend without the fused primitives: the composite path. */
const plain = compositeBackend(['normRows', 'normRowsBackward', 'softmaxRows', 'softmaxRowsBackward', 'ropeRows', 'silu', 'siluBackward']);

const rng = new Rng(4242);

function expectClose(a: Float64Array, b: Float64Array, dtype: FloatType, label: string): void {
  expect(a.length, label).toBe(b.length);
  const tol = dtype === 'float32' ? 2e-5 : 1e-12;
  let scale = 0;
  for (const x of b) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]!)) { expect(a[i], `${label}[${i}]`).toBeNaN(); continue; }
    expect(Math.abs(a[i]! - b[i]!), `${label}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + scale));
  }
}

const SHAPES: number[][] = [[0, 4], [3, 0], [1, 1], [1, 7], [5, 1], [3, 33], [2, 3, 5], [4, 2, 256], [129, 17]];

function input(shape: number[], scale = 1.5): { data: Float64Array; shape: number[] } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float64Array.from(rng.normalArray(n), (x) => x * scale + 0.3), shape };
}

const OPS: Record<string, { f: (xs: Tensor[]) => Tensor; extra?: (shape: number[]) => { data: Float64Array; shape: number[] }[] }> = {
  rmsNorm: { f: ([x]) => rmsNorm(x!) },
  'rmsNorm (weight, eps 1e-3)': { f: ([x, w]) => rmsNorm(x!, { weight: w!, eps: 1e-3 }), extra: (s) => [input([s[s.length - 1]!])] },
  layerNorm: { f: ([x]) => layerNorm(x!) },
  'layerNorm (weight, bias)': { f: ([x, w, b]) => layerNorm(x!, { weight: w!, bias: b! }), extra: (s) => [input([s[s.length - 1]!]), input([s[s.length - 1]!])] },
  softmax: { f: ([x]) => softmax(x!) },
  logSoftmax: { f: ([x]) => logSoftmax(x!) },
  silu: { f: ([x]) => silu(x!) },
  'silu of a transposed view': { f: ([x]) => silu(transpose(x!, 0, -1)) },
  'softmax of a transposed view': { f: ([x]) => softmax(transpose(x!, 0, -1)) },
  'softmax over axis 0 (composite on both)': { f: ([x]) => softmax(x!, 0) },
};

describe('fused row kernels equal the composite ops', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [name, op] of Object.entries(OPS)) {
      it(`${name}, ${dtype}`, () => {
        let seed = 1;
        for (const shape of SHAPES) {
          if (name.includes('axis 0') && shape.length > 2) continue;
          const inputs = [input(shape), ...(op.extra?.(shape) ?? [])];
          const fused = valueAndGradients(cpuBackend, op.f, inputs, dtype, seed);
          const composite = valueAndGradients(plain, op.f, inputs, dtype, seed);
          expectClose(fused.value, composite.value, dtype, `${name} ${shape} value`);
          fused.grads.forEach((g, i) => expectClose(g, composite.grads[i]!, dtype, `${name} ${shape} grad ${i}`));
          seed++;
        }
      });
    }

    it(`rope (offsets 0 and 5), ${dtype}`, () => {
      for (const shape of [[1, 2], [3, 4], [2, 3, 7, 6], [1, 4, 65, 16], [2, 0, 4]]) {
        for (const offset of [0, 5]) {
          const inputs = [input(shape)];
          const f = ([x]: Tensor[]): Tensor => rope(x!, offset);
          const fused = valueAndGradients(cpuBackend, f, inputs, dtype, 9);
          const composite = valueAndGradients(plain, f, inputs, dtype, 9);
          expectClose(fused.value, composite.value, dtype, `rope ${shape} value`);
          expectClose(fused.grads[0]!, composite.grads[0]!, dtype, `rope ${shape} grad`);
        }
      }
    });

    it(`crossEntropy (log-softmax inside), ${dtype}`, () => {
      const logits = input([37, 11]);
      const targets = Int32Array.from({ length: 37 }, (_, i) => (i * 7) % 11);
      targets[3] = -100;
      const f = ([x]: Tensor[]): Tensor => crossEntropy(x!, tensor(targets, [37], { dtype: 'int32' }));
      const fused = valueAndGradients(cpuBackend, f, [logits], dtype, 3);
      const composite = valueAndGradients(plain, f, [logits], dtype, 3);
      expectClose(fused.value, composite.value, dtype, 'crossEntropy value');
      expectClose(fused.grads[0]!, composite.grads[0]!, dtype, 'crossEntropy grad');
    });
  }

  it('rows of -Infinity and NaN behave as the composite (softmax, logSoftmax)', () => {
    const data = Float64Array.from([-Infinity, -Infinity, -Infinity, 1, NaN, 2, 0, -Infinity, 3]);
    for (const dtype of ['float32', 'float64'] as const) {
      for (const op of [softmax, logSoftmax]) {
        const a = withBackend(cpuBackend, () => tidy(() => Float64Array.from(op(tensor(data, [3, 3], { dtype })).dataSync())));
        const b = withBackend(plain, () => tidy(() => Float64Array.from(op(tensor(data, [3, 3], { dtype })).dataSync())));
        for (let i = 0; i < 9; i++) {
          if (Number.isNaN(b[i]!)) expect(a[i]).toBeNaN();
          else expect(a[i]).toBeCloseTo(b[i]!, 6);
        }
      }
    }
  });

  it('int32 inputs are refused naming the op, as before', () => {
    const x = tensor(Int32Array.from([1, 2, 3, 4]), [2, 2], { dtype: 'int32' });
    expect(() => rmsNorm(x)).toThrow(/rmsNorm/);
    expect(() => softmax(x)).toThrow(/softmax/);
  });
});

describe('fused row kernels: gradients by finite differences (float64)', () => {
  const x = (shape: number[]): Tensor => { const i = input(shape, 1); return tensor(i.data, shape, { dtype: 'float64' }); };
  const cases: [string, (...xs: Tensor[]) => Tensor, Tensor[]][] = [
    ['rmsNorm', (a, w) => rmsNorm(a!, { weight: w! }), [x([3, 5]), x([5])]],
    ['layerNorm', (a, w, b) => layerNorm(a!, { weight: w!, bias: b! }), [x([2, 3, 4]), x([4]), x([4])]],
    ['softmax', (a) => softmax(a!), [x([3, 6])]],
    ['logSoftmax', (a) => logSoftmax(a!), [x([4, 5])]],
    ['rope', (a) => rope(a!, 3), [x([2, 5, 6])]],
    ['silu', (a) => silu(a!), [x([3, 7])]],
  ];
  for (const [name, f, inputs] of cases) {
    it(`${name}: first order`, () => { withBackend(cpuBackend, () => checkGradients(f, inputs)); });
    it(`${name}: second order (gradient of the gradient)`, () => { withBackend(cpuBackend, () => checkSecondDerivatives(f, inputs)); });
  }
});
