// Special values on the CPU backend: every unary and binary op at 0, -0, +-1, +-Inf, NaN,
// the float32 extremes and denormals equals JavaScript's Math function evaluated in float64
// and rounded once to the dtype, on both CPU paths (the JavaScript kernels, and the
// WebAssembly SIMD kernels that take over for float32 tensors of 2048 elements and more);
// reductions follow the table below. The WebGPU backend is held to these same CPU values
// (packages/webgpu/test/special-values.test.ts).
import * as ops from '@titans/tensor';
import { erfScalar, tensor, type DType, type Tensor } from '@titans/tensor';
import { describe, expect, test } from 'vitest';

const F32_MAX = 3.4028234663852886e38;
const MIN_NORMAL = 1.1754943508222875e-38;
const VALUES = [0, -0, 1, -1, 0.5, -2.5, 100, -100, Infinity, -Infinity, NaN, F32_MAX, -F32_MAX, MIN_NORMAL, -MIN_NORMAL, 1.401298464324817e-45, -1e-40];

const UNARY: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
  ['neg', ops.neg, (x) => -x],
  ['exp', ops.exp, Math.exp],
  ['log', ops.log, Math.log],
  ['sqrt', ops.sqrt, Math.sqrt],
  ['rsqrt', ops.rsqrt, (x) => 1 / Math.sqrt(x)],
  ['abs', ops.abs, Math.abs],
  ['sign', ops.sign, (x) => (x > 0 ? 1 : x < 0 ? -1 : 0)],
  ['tanh', ops.tanh, Math.tanh],
  ['sigmoid', ops.sigmoid, (x) => 1 / (1 + Math.exp(-x))],
  ['relu', ops.relu, (x) => (x > 0 ? x : 0)],
  ['erf', ops.erf, erfScalar],
  ['reciprocal', ops.reciprocal, (x) => 1 / x],
  ['sin', ops.sin, Math.sin],
  ['cos', ops.cos, Math.cos],
  ['floor', ops.floor, Math.floor],
  ['softplus', ops.softplus, (x) => (x > 30 ? x : Math.log1p(Math.exp(x)))],
  ['square', ops.square, (x) => x * x],
];

const BINARY: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
  ['add', ops.add, (x, y) => x + y],
  ['sub', ops.sub, (x, y) => x - y],
  ['mul', ops.mul, (x, y) => x * y],
  ['div', ops.div, (x, y) => x / y],
  ['pow', ops.pow, Math.pow],
  ['maximum', ops.maximum, (x, y) => (x >= y ? x : y)],
  ['minimum', ops.minimum, (x, y) => (x <= y ? x : y)],
  ['eq', ops.eq, (x, y) => (x === y ? 1 : 0)],
  ['ne', ops.ne, (x, y) => (x !== y ? 1 : 0)],
  ['lt', ops.lt, (x, y) => (x < y ? 1 : 0)],
  ['le', ops.le, (x, y) => (x <= y ? 1 : 0)],
  ['gt', ops.gt, (x, y) => (x > y ? 1 : 0)],
  ['ge', ops.ge, (x, y) => (x >= y ? 1 : 0)],
];

const round = (x: number, dtype: DType): number => (dtype === 'float32' ? Math.fround(x) : x);
const fmt = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));
/** Exactly the value, NaN for NaN, zeros with their sign. */
const same = (a: number, b: number): boolean => Object.is(a, b);

/** `values` repeated to at least `length` elements (2048+ reaches the WebAssembly kernels). */
function tile(values: readonly number[], length: number): number[] {
  const out: number[] = [];
  while (out.length < length) out.push(...values);
  return out;
}

describe('CPU special values equal Math in float64, rounded once', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const length of [1, 4096]) {
      const path = length === 1 ? 'JavaScript kernels' : 'large tensors (WebAssembly kernels for float32)';
      test(`unary ops, ${dtype}, ${path}`, () => {
        const xs = tile(VALUES.map((v) => round(v, dtype)), length);
        const bad: string[] = [];
        for (const [name, f, reference] of UNARY) {
          const out = f(tensor(xs, [xs.length], { dtype })).dataSync();
          xs.forEach((x, i) => {
            const expected = round(reference(x), dtype);
            if (!same(out[i]!, expected) && i < VALUES.length) bad.push(`${name}(${fmt(x)}) = ${fmt(out[i]!)}, expected ${fmt(expected)}`);
          });
        }
        expect(bad, bad.join('\n')).toEqual([]);
      });

      test(`binary ops over every pair, ${dtype}, ${path}`, () => {
        const n = VALUES.length;
        const pairs = VALUES.flatMap((x) => VALUES.map((y) => [round(x, dtype), round(y, dtype)] as const));
        const xs = tile(pairs.map(([x]) => x), length);
        const ys = tile(pairs.map(([, y]) => y), length);
        const bad: string[] = [];
        for (const [name, f, reference] of BINARY) {
          const out = f(tensor(xs, [xs.length], { dtype }), tensor(ys, [ys.length], { dtype })).dataSync();
          for (let i = 0; i < n * n; i++) {
            const expected = round(reference(xs[i]!, ys[i]!), dtype);
            if (!same(out[i]!, expected)) bad.push(`${name}(${fmt(xs[i]!)}, ${fmt(ys[i]!)}) = ${fmt(out[i]!)}, expected ${fmt(expected)}`);
          }
        }
        expect(bad, bad.join('\n')).toEqual([]);
      });
    }
  }

  /** Rows and their reductions: NaN wins max/min; ties keep the first (0 then -0). */
  const ROWS: [number[], { sum: number; prod: number; max: number; min: number; argmax: number; argmin: number; logsumexp: number }][] = [
    [[0, -0], { sum: 0, prod: -0, max: 0, min: 0, argmax: 0, argmin: 0, logsumexp: Math.log(2) }],
    [[-0, 0], { sum: 0, prod: -0, max: -0, min: -0, argmax: 0, argmin: 0, logsumexp: Math.log(2) }],
    // The sum starts from +0, so a row of -0 sums to +0 (as in the loop it is).
    [[-0, -0], { sum: 0, prod: 0, max: -0, min: -0, argmax: 0, argmin: 0, logsumexp: Math.log(2) }],
    [[1, NaN], { sum: NaN, prod: NaN, max: NaN, min: NaN, argmax: 0, argmin: 0, logsumexp: NaN }],
    [[NaN, 1], { sum: NaN, prod: NaN, max: NaN, min: NaN, argmax: 0, argmin: 0, logsumexp: NaN }],
    [[Infinity, -Infinity], { sum: NaN, prod: -Infinity, max: Infinity, min: -Infinity, argmax: 0, argmin: 1, logsumexp: Infinity }],
    [[-Infinity, -Infinity], { sum: -Infinity, prod: Infinity, max: -Infinity, min: -Infinity, argmax: 0, argmin: 0, logsumexp: -Infinity }],
    [[Infinity, Infinity], { sum: Infinity, prod: Infinity, max: Infinity, min: Infinity, argmax: 0, argmin: 0, logsumexp: Infinity }],
    [[F32_MAX, F32_MAX], { sum: Infinity, prod: Infinity, max: F32_MAX, min: F32_MAX, argmax: 0, argmin: 0, logsumexp: F32_MAX }],
    [[-100, 100], { sum: 0, prod: -10000, max: 100, min: -100, argmax: 1, argmin: 0, logsumexp: 100 }],
    [[0, Infinity], { sum: Infinity, prod: NaN, max: Infinity, min: 0, argmax: 1, argmin: 0, logsumexp: Infinity }],
  ];
  test('reductions of special rows (float32)', () => {
    const x = tensor(ROWS.flatMap(([row]) => row), [ROWS.length, 2]);
    const got = {
      sum: ops.sum(x, -1), prod: ops.prod(x, -1), max: ops.max(x, -1), min: ops.min(x, -1),
      argmax: ops.argmax(x, -1), argmin: ops.argmin(x, -1), logsumexp: ops.logsumexp(x, -1),
    };
    const bad: string[] = [];
    for (const [name, t] of Object.entries(got)) {
      const values = t.dataSync();
      ROWS.forEach(([row, expected], r) => {
        const e = Math.fround(expected[name as keyof typeof expected]);
        const a = values[r]!;
        const ok = name === 'logsumexp' && Number.isFinite(e) ? Math.abs(a - e) <= 1e-6 * Math.abs(e) : same(a, e);
        if (!ok) bad.push(`${name}([${row.map(fmt).join(', ')}]) = ${fmt(a)}, expected ${fmt(e)}`);
      });
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });
});

describe('row ops at special values: the fast paths give the composite formulas', () => {
  // No float32 extremes here: the fused norm kernels accumulate in float64 and stay finite
  // (rmsNorm([3.4e38, 3.4e38, 0]) is [1.22, 1.22, 0]) where the float32 composite squares to Inf.
  const ROWS = [
    [0, -0, 1], [-Infinity, -Infinity, -Infinity], [-Infinity, 0, 1], [Infinity, 0, 1], [NaN, 0, 1],
    [1e18, -1e18, 0], [100, -100, 0.5], [MIN_NORMAL, -MIN_NORMAL, 0], [1e-40, 0, -1e-40],
  ];
  const agree = (a: number, e: number): boolean =>
    Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) || (Number.isFinite(e) && Math.abs(a - e) <= 1e-5 * Math.abs(e) + 1e-6);
  for (const dtype of ['float32', 'float64'] as const) {
    test(`softmax, logSoftmax, layerNorm, rmsNorm, silu (${dtype})`, () => {
      const x = tensor(ROWS.flat(), [ROWS.length, 3], { dtype });
      const lse = ops.logsumexp(x, -1, true);
      const centred = ops.sub(x, ops.div(ops.sum(x, -1, true), 3));
      const cases: [string, Tensor, Tensor][] = [
        ['softmax', ops.softmax(x), ops.exp(ops.sub(x, lse))],
        ['logSoftmax', ops.logSoftmax(x), ops.sub(x, lse)],
        ['layerNorm', ops.layerNorm(x), ops.mul(centred, ops.rsqrt(ops.add(ops.div(ops.sum(ops.square(centred), -1, true), 3), 1e-5)))],
        ['rmsNorm', ops.rmsNorm(x), ops.mul(x, ops.rsqrt(ops.add(ops.div(ops.sum(ops.square(x), -1, true), 3), 1e-6)))],
        ['silu', ops.silu(x), ops.mul(x, ops.sigmoid(x))],
      ];
      const bad: string[] = [];
      for (const [name, fast, composite] of cases) {
        const a = fast.dataSync();
        const e = composite.dataSync();
        for (let i = 0; i < a.length; i++) {
          if (!agree(a[i]!, e[i]!)) bad.push(`${name} row ${Math.floor(i / 3)} [${ROWS[Math.floor(i / 3)]!.map(fmt).join(', ')}] element ${i % 3}: ${fmt(a[i]!)}, composite ${fmt(e[i]!)}`);
        }
      }
      expect(bad, bad.join('\n')).toEqual([]);
    });
  }
});
