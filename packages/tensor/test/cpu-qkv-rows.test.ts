// The CPU backend's projection-path primitives (Backend.causalConv, Backend.headRows;
// src/cpu/qkv-rows.ts, ops in src/ops/qkv.ts) against the composite forms they replace (a CPU
// backend without the two primitives), on random shapes with single, odd and empty sizes, in
// float32 and float64: values bit for bit (float32 SiLU on channels in fours, the SIMD kernel:
// within float32 rounding), gradients (the first-order backward kernels against
// the composite's); then finite differences (float64) of the fused ops' gradients and of their
// gradients of gradients.
import { checkGradients, checkSecondDerivatives } from '@titans/test-utils';
import { describe, expect, it } from 'vitest';
import { CpuBackend, cpuBackend } from '../src/cpu/backend.js';
import { compositeBackend, valueAndGradients, type FloatType, type Input, type Result } from './fast-path.js';
import { causalConvKernel, headRowsKernel } from '../src/cpu/qkv-rows.js';
import {
  Rng, causalConv, causalConv1d, concat, gradients, headRows, l2Normalize, mul, narrow, silu, splitHeads, sum, tensor, tidy, withBackend,
  type Tensor,
} from '../src/index.js';

/** A CPU backend without the two primitives: the composite path. */
const plain = compositeBackend(['causalConv', 'headRows']);

const rng = new Rng(2121);

function input(shape: number[], scale = 1.5): Input {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float64Array.from(rng.normalArray(n), (x) => x * scale + 0.2), shape };
}

/** f's value and the gradients of sum(f * w) for a fixed random w, on the given backend. */
function run(backend: CpuBackend, f: (xs: Tensor[]) => Tensor, inputs: Input[], dtype: FloatType): Result {
  return valueAndGradients(backend, f, inputs, dtype, 99);
}

function expectClose(a: Float64Array, b: Float64Array, tol: number, label: string): void {
  expect(a.length, label).toBe(b.length);
  let scale = 0;
  for (const x of b) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < a.length; i++) {
    expect(Math.abs(a[i]! - b[i]!), `${label}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + scale));
  }
}

/** [batch, tokens, channels, kernel, past] */
const CONV_SHAPES: [number, number, number, number, number][] = [
  [1, 1, 1, 1, 0], [1, 1, 3, 4, 0], [2, 5, 3, 4, 0], [1, 7, 5, 3, 2], [3, 2, 4, 4, 3], [2, 1, 6, 4, 3], [1, 33, 17, 4, 1],
  [2, 3, 5, 5, 0], [1, 0, 4, 4, 3], [2, 9, 8, 2, 1],
];

describe('causalConv (Backend.causalConv) against its composite', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [batch, tokens, channels, kernel, past] of CONV_SHAPES) {
      for (const act of [true, false]) {
        for (const withBias of [true, false]) {
          const label = `${dtype} [${batch}, ${tokens}, ${channels}] k=${kernel} past=${past} silu=${act} bias=${withBias}`;
          it(label, () => {
            const inputs = [input([batch, tokens, channels]), input([channels, kernel], 0.7)];
            if (withBias) inputs.push(input([channels], 0.5));
            if (past > 0) inputs.push(input([batch, past, channels]));
            const f = (xs: Tensor[]): Tensor => causalConv(xs[0]!, xs[1]!, withBias ? xs[2]! : null, {
              silu: act, history: past > 0 ? xs[withBias ? 3 : 2]! : null,
            });
            const fused = run(cpuBackend, f, inputs, dtype);
            const composite = run(plain, f, inputs, dtype);
            // The same arithmetic in the same order: bit-identical values, gradients through the same
            // composite. Except float32 SiLU on channels in fours (the WebAssembly SIMD kernel): its
            // exp is a polynomial within a few float32 ulps of Math.exp.
            if (dtype === 'float32' && act && channels % 4 === 0) expectClose(fused.value, composite.value, 1e-6, label);
            else expect(Array.from(fused.value), label).toEqual(Array.from(composite.value));
            fused.grads.forEach((g, i) => expectClose(g, composite.grads[i]!, dtype === 'float32' ? 1e-6 : 1e-13, `${label} grad ${i}`));
          });
        }
      }
    }
  }

  it('SIMD kernel (float32, channels in fours) against the JavaScript one over several row blocks', () => {
    // [batch, tokens, channels, kernel, past]: tokens past one 32-row block, history shorter than the kernel, kernel 1.
    for (const [batch, tokens, channels, kernel, past] of [[2, 70, 12, 4, 2], [1, 33, 4, 1, 0], [1, 65, 8, 5, 7], [3, 3, 16, 4, 1]] as const) {
      for (const act of [true, false]) {
        const dims = { batch, tokens, channels, kernel, past, silu: act };
        const x = Float32Array.from(input([batch, tokens, channels]).data);
        const w = Float32Array.from(input([channels, kernel], 0.7).data);
        const b = Float32Array.from(input([channels], 0.5).data);
        const h = past > 0 ? Float32Array.from(input([batch, past, channels]).data) : null;
        const simd = new Float32Array(batch * tokens * channels);
        const js = new Float32Array(batch * tokens * channels);
        causalConvKernel(x, w, b, h, dims, simd);
        causalConvKernel(x, w, b, h, dims, js, { simd: false });
        const label = `[${batch}, ${tokens}, ${channels}] k=${kernel} past=${past} silu=${act}`;
        if (act) expectClose(Float64Array.from(simd), Float64Array.from(js), 1e-6, label);
        else expect(Array.from(simd), label).toEqual(Array.from(js)); // no exp: the same operations
      }
    }
  });

  it('equals the module form: conv over concat([history, silu(x)]) narrowed to the new rows', () => {
    withBackend(cpuBackend, () => tidy(() => {
      const x = tensor(input([2, 6, 5]).data, [2, 6, 5], { dtype: 'float64' });
      const w = tensor(input([5, 4]).data, [5, 4], { dtype: 'float64' });
      const h = tensor(input([2, 3, 5]).data, [2, 3, 5], { dtype: 'float64' });
      const reference = narrow(causalConv1d(concat([h, silu(x)], 1), w), 1, 3, 6);
      expect(Array.from(causalConv(x, w, null, { silu: true, history: h }).dataSync())).toEqual(Array.from(reference.dataSync()));
    }));
  });

  it('reads strided inputs (a transposed x) the same as contiguous ones', () => {
    withBackend(cpuBackend, () => tidy(() => {
      const x = tensor(input([2, 5, 7]).data, [2, 5, 7], { dtype: 'float64' }).transpose(1, 2); // [2, 7, 5], not contiguous
      const w = tensor(input([5, 3]).data, [5, 3], { dtype: 'float64' });
      const viaCopy = causalConv(x.contiguous(), w, null, { silu: true });
      expect(Array.from(causalConv(x, w, null, { silu: true }).dataSync())).toEqual(Array.from(viaCopy.dataSync()));
    }));
  });

  it('refuses bad shapes naming the problem', () => {
    withBackend(cpuBackend, () => tidy(() => {
      const x = tensor(new Float32Array(12), [1, 3, 4]);
      expect(() => causalConv(tensor(new Float32Array(4), [4]), tensor(new Float32Array(8), [4, 2]))).toThrow(/causalConv: x must be/);
      expect(() => causalConv(x, tensor(new Float32Array(6), [3, 2]))).toThrow(/weight \[3, 2\] must be \[channels=4/);
      expect(() => causalConv(x, tensor(new Float32Array(0), [4, 0]))).toThrow(/kernel >= 1/);
      expect(() => causalConv(x, tensor(new Float32Array(8), [4, 2]), tensor(new Float32Array(3), [3]))).toThrow(/bias \[3\]/);
      expect(() => causalConv(x, tensor(new Float32Array(8), [4, 2]), null, { history: tensor(new Float32Array(6), [2, 1, 3]) })).toThrow(/history/);
    }));
  });
});

/** [batch, tokens, channels, offset, heads, headDim] */
const HEAD_SHAPES: [number, number, number, number, number, number][] = [
  [1, 1, 1, 0, 1, 1], [1, 1, 6, 2, 2, 2], [2, 5, 12, 0, 3, 4], [2, 5, 12, 4, 2, 4], [1, 7, 15, 5, 2, 5], [3, 2, 9, 0, 1, 9],
  [1, 0, 6, 0, 2, 3], [2, 3, 64, 16, 3, 16], [1, 4, 8, 7, 1, 1],
];

describe('headRows (Backend.headRows) against its composite', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [batch, tokens, channels, offset, heads, headDim] of HEAD_SHAPES) {
      for (const l2 of [true, false]) {
        const label = `${dtype} [${batch}, ${tokens}, ${channels}] offset ${offset} ${heads}x${headDim} l2=${l2}`;
        it(label, () => {
          const inputs = [input([batch, tokens, channels])];
          const f = (xs: Tensor[]): Tensor => headRows(xs[0]!, offset, heads, headDim, { l2 });
          const fused = run(cpuBackend, f, inputs, dtype);
          const composite = run(plain, f, inputs, dtype);
          expect(Array.from(fused.value), label).toEqual(Array.from(composite.value));
          fused.grads.forEach((g, i) => expectClose(g, composite.grads[i]!, dtype === 'float32' ? 1e-6 : 1e-13, `${label} grad ${i}`));
        });
      }
    }
  }

  it('equals l2Normalize(splitHeads(narrow(x))) and keeps an all-zero row at zero (eps floor)', () => {
    withBackend(cpuBackend, () => tidy(() => {
      const data = input([2, 3, 8]).data;
      data.fill(0, 4, 8); // batch 0, token 0, the second head of the block at offset 4... zeroed
      const x = tensor(data, [2, 3, 8], { dtype: 'float64' });
      const reference = l2Normalize(splitHeads(narrow(x, 2, 4, 4), 2), -1);
      const y = headRows(x, 4, 2, 2, { l2: true });
      expect(Array.from(y.dataSync())).toEqual(Array.from(reference.dataSync()));
      expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    }));
  });

  it('SIMD kernel (float32, L2) bit for bit against the JavaScript one: odd widths, size 1, several row blocks, zero rows', () => {
    const u = new Rng(77).uniformArray(24 * 6);
    let at = 0;
    const next = (): number => u[at++]!;
    // [batch, tokens, channels, offset, heads, headDim]: fixed edge cases, then random shapes.
    const shapes: number[][] = [[1, 1, 1, 0, 1, 1], [1, 1, 7, 3, 1, 3], [2, 130, 12, 0, 3, 4], [1, 65, 768, 256, 4, 64], [3, 64, 15, 1, 2, 7], [1, 0, 4, 0, 1, 4]];
    for (let i = 0; i < 24; i++) {
      const heads = 1 + Math.floor(next() * 4);
      const headDim = 1 + Math.floor(next() * 19);
      const offset = Math.floor(next() * 5);
      const channels = offset + heads * headDim + Math.floor(next() * 3);
      shapes.push([1 + Math.floor(next() * 3), 1 + Math.floor(next() * 140), channels, offset, heads, headDim]);
    }
    for (const [batch, tokens, channels, offset, heads, headDim] of shapes as [number, number, number, number, number, number][]) {
      for (const eps of [1e-6, 0.5]) {
        const dims = { batch, tokens, channels, offset, heads, headDim, normalize: true, eps };
        const x = Float32Array.from(input([batch, tokens, channels], 0.3).data);
        if (x.length > 0) x.fill(0, 0, Math.min(x.length, channels)); // a zero row: the eps floor
        const simd = new Float32Array(batch * heads * tokens * headDim).fill(Number.NaN);
        const js = new Float32Array(batch * heads * tokens * headDim).fill(Number.NaN);
        headRowsKernel(x, dims, simd);
        headRowsKernel(x, dims, js, { simd: false });
        const label = `[${batch}, ${tokens}, ${channels}] offset ${offset} ${heads}x${headDim} eps ${eps}`;
        expect(Array.from(simd), label).toEqual(Array.from(js));
      }
    }
  });

  it('refuses a block outside x and bad counts', () => {
    withBackend(cpuBackend, () => tidy(() => {
      const x = tensor(new Float32Array(24), [1, 3, 8]);
      expect(() => headRows(x, 4, 2, 4)).toThrow(/channels \[4, 12\) are outside x \[1, 3, 8\]/);
      expect(() => headRows(x, -1, 2, 2)).toThrow(/offset must be a non-negative integer/);
      expect(() => headRows(x, 0, 1.5, 2)).toThrow(/heads must be a positive integer/);
      expect(() => headRows(x, 0, 2, 0)).toThrow(/headDim must be a positive integer/);
      expect(() => headRows(tensor(new Float32Array(8), [8]), 0, 2, 4)).toThrow(/headRows: x must be/);
    }));
  });
});

describe('projection-path ops: which backward runs', () => {
  it('a first-order gradient runs the backward kernels; one recorded for a further derivative runs the composite', () => {
    const calls = { causalConvBackward: 0, headRowsBackward: 0 };
    const backend = new CpuBackend();
    for (const name of ['causalConvBackward', 'headRowsBackward'] as const) {
      const original = backend[name].bind(backend) as (...a: unknown[]) => unknown;
      Object.defineProperty(backend, name, { value: (...a: unknown[]) => { calls[name]++; return original(...a); } });
    }
    withBackend(backend, () => tidy(() => {
      const x = tensor(input([2, 5, 6]).data, [2, 5, 6]);
      const w = tensor(input([6, 3]).data, [6, 3]);
      x.requiresGrad = true;
      w.requiresGrad = true;
      const loss = (): Tensor => sum(mul(headRows(causalConv(x, w, null, { silu: true }), 0, 2, 3, { l2: true }), 0.5));
      gradients(loss(), [x, w]);
      expect(calls).toEqual({ causalConvBackward: 1, headRowsBackward: 1 });
      gradients(loss(), [x, w], { createGraph: true });
      expect(calls).toEqual({ causalConvBackward: 1, headRowsBackward: 1 });
    }));
  });
});

describe('projection-path ops: gradients by finite differences (float64)', () => {
  const x = (shape: number[]): Tensor => tensor(input(shape, 1).data, shape, { dtype: 'float64' });
  const cases: [string, (...xs: Tensor[]) => Tensor, Tensor[]][] = [
    ['causalConv silu + bias + history', (a, w, b, h) => causalConv(a!, w!, b!, { silu: true, history: h! }), [x([2, 3, 3]), x([3, 3]), x([3]), x([2, 2, 3])]],
    ['causalConv plain, T=1', (a, w) => causalConv(a!, w!), [x([1, 1, 4]), x([4, 4])]],
    ['headRows l2', (a) => headRows(a!, 2, 2, 3, { l2: true }), [x([2, 3, 9])]],
    ['headRows split', (a) => headRows(a!, 1, 2, 2), [x([1, 3, 6])]],
  ];
  for (const [name, f, inputs] of cases) {
    it(`${name}: first order`, () => { withBackend(cpuBackend, () => checkGradients(f, inputs)); });
    it(`${name}: second order (gradient of the gradient)`, () => { withBackend(cpuBackend, () => checkSecondDerivatives(f, inputs)); });
  }
});
