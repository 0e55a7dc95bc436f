// The CPU backend's row reductions (src/cpu/reduce.ts): the four-rows-at-a-time loops against the
// reference loop they replace, bit for bit, for every op and dtype, on zero, one and odd numbers
// of rows and columns, with NaN, infinities, -0 and float32 sums that round differently in float32;
// and the in-place reduction of middle axes (reduceMiddle) against the copy of the transposed
// view plus the reference loop, as kernels and through the ops (sum, mean, max, min, prod).
import { describe, expect, it } from 'vitest';
import type { ReduceOp, TypedArray } from '../src/backend.js';
import { CpuBackend } from '../src/cpu/backend.js';
import { reduceMiddleKernel, reduceRowsKernel, reduceRowsReference } from '../src/cpu/reduce.js';
import { Rng, max, mean, min, prod, sum, tensor, withBackend, type Tensor } from '../src/index.js';

const rng = new Rng(2102);
const OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min'];
const SHAPES: [number, number][] = [[0, 5], [5, 0], [1, 1], [1, 7], [7, 1], [3, 2], [4, 2], [5, 3], [9, 33], [13, 1], [129, 24], [6, 257]];

function data(dtype: 'float32' | 'float64' | 'int32', n: number, special: boolean): TypedArray {
  const values = rng.normalArray(n).map((v, i) => (dtype === 'int32' ? Math.round(v * 5) : i % 7 === 3 ? v * 1e7 : v * 1.3 + 0.1));
  if (special && n > 12) {
    values[1] = Number.NaN;
    values[4] = Number.POSITIVE_INFINITY;
    values[6] = -0;
    values[9] = Number.NEGATIVE_INFINITY;
  }
  if (dtype === 'int32') return Int32Array.from(values);
  return dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
}

describe('row reductions on the CPU', () => {
  it("four rows at a time give the reference loop's bits", () => {
    let checked = 0;
    for (const dtype of ['float32', 'float64', 'int32'] as const) {
      for (const op of OPS) {
        for (const [rows, cols] of SHAPES) {
          for (const special of dtype === 'int32' ? [false] : [false, true]) {
            const src = data(dtype, rows * cols, special);
            const make = (): TypedArray => (dtype === 'int32' ? new Int32Array(rows) : dtype === 'float32' ? new Float32Array(rows) : new Float64Array(rows)).fill(7);
            const got = make();
            const want = make();
            reduceRowsKernel(op, src, rows, cols, got);
            reduceRowsReference(op, src, rows, cols, want);
            for (let r = 0; r < rows; r++) {
              expect(Object.is(got[r], want[r]), `${op} ${dtype} ${rows}x${cols} special=${special} row ${r}: ${got[r]} vs ${want[r]}`).toBe(true);
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('sums -0 to +0 and an empty row to the identity, like the reference', () => {
    const one = new Float32Array(2);
    reduceRowsKernel('sum', Float32Array.of(-0, -0), 2, 1, one);
    expect(Object.is(one[0], 0) && Object.is(one[1], 0)).toBe(true);
    const empty = new Float64Array(5).fill(7);
    reduceRowsKernel('sum', new Float64Array(0), 5, 0, empty);
    expect([...empty]).toEqual([0, 0, 0, 0, 0]);
    reduceRowsKernel('prod', new Float64Array(0), 5, 0, empty);
    expect([...empty]).toEqual([1, 1, 1, 1, 1]);
  });

  it("reduceMiddle gives the bits of the transposed copy's row reduction", () => {
    const shapes: [number, number, number][] = [[1, 0, 3], [1, 1, 1], [1, 7, 5], [3, 2, 1], [2, 33, 9], [5, 1, 4], [1, 257, 48], [4, 3, 129]];
    let checked = 0;
    for (const dtype of ['float32', 'float64', 'int32'] as const) {
      for (const op of OPS) {
        for (const [outer, mid, inner] of shapes) {
          for (const special of dtype === 'int32' ? [false] : [false, true]) {
            const src = data(dtype, outer * mid * inner, special);
            const make = (n: number): TypedArray => (dtype === 'int32' ? new Int32Array(n) : dtype === 'float32' ? new Float32Array(n) : new Float64Array(n)).fill(7);
            const got = make(outer * inner);
            reduceMiddleKernel(op, src, outer, mid, inner, got);
            // The old path: x transposed to [outer, inner, mid], copied, then reduced by rows.
            const moved = make(outer * inner * mid);
            for (let q = 0; q < outer; q++) for (let j = 0; j < inner; j++) for (let i = 0; i < mid; i++) moved[(q * inner + j) * mid + i] = src[(q * mid + i) * inner + j]!;
            const want = make(outer * inner);
            reduceRowsReference(op, moved, outer * inner, mid, want);
            for (let r = 0; r < outer * inner; r++) {
              expect(Object.is(got[r], want[r]), `${op} ${dtype} [${outer}, ${mid}, ${inner}] special=${special} out ${r}: ${got[r]} vs ${want[r]}`).toBe(true);
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('the ops take reduceMiddle on leading and middle axes with the same bits as without it', () => {
    const plain = new CpuBackend();
    Object.defineProperty(plain, 'reduceMiddle', { value: undefined });
    const withMiddle = new CpuBackend();
    let calls = 0;
    const inner = withMiddle.reduceMiddle.bind(withMiddle);
    withMiddle.reduceMiddle = (...args) => { calls++; return inner(...args); };
    const values = rng.normalArray(2 * 3 * 5 * 7).map((v, i) => (i % 5 === 0 ? v * 1e6 : v));
    const cases: [string, (x: Tensor) => Tensor, boolean][] = [
      ['sum axis 0', (x) => sum(x, 0), true],
      ['sum axes [0, 1]', (x) => sum(x, [0, 1]), true],
      ['sum axes [1, 2] keepDims', (x) => sum(x, [1, 2], true), true],
      ['mean axis 1', (x) => mean(x, 1), true],
      ['max axis 0', (x) => max(x, 0), true],
      ['min axis 2', (x) => min(x, 2), true],
      ['prod axis 1', (x) => prod(x, 1), true],
      ['sum last axis (rows)', (x) => sum(x, 3), false],
      ['sum axes [0, 2] (not one run)', (x) => sum(x, [0, 2]), false],
      ['sum of a transposed view', (x) => sum(x.transpose(0, 3), 0), false],
    ];
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [label, f, middle] of cases) {
        const run = (backend: CpuBackend): Float32Array | Float64Array => withBackend(backend, () => {
          const x = tensor(values, [2, 3, 5, 7], { dtype });
          const y = f(x);
          const out = y.dataSync() as Float32Array | Float64Array;
          x.dispose();
          y.dispose();
          return out;
        });
        const before = calls;
        const got = run(withMiddle);
        expect(calls - before, `${label}: reduceMiddle taken`).toBe(middle ? 1 : 0);
        const want = run(plain);
        expect(got.length, label).toBe(want.length);
        for (let i = 0; i < got.length; i++) expect(Object.is(got[i], want[i]), `${label} ${dtype} [${i}]: ${got[i]} vs ${want[i]}`).toBe(true);
      }
    }
  });
});

