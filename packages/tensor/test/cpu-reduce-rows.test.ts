// The CPU backend's row reductions (src/cpu/reduce.ts): the four-rows-at-a-time loops against the
// reference loop they replace, bit for bit, for every op and dtype, on zero, one and odd numbers
// of rows and columns, with NaN, infinities, -0 and float32 sums that round differently in float32.
import { describe, expect, it } from 'vitest';
import type { ReduceOp, TypedArray } from '../src/backend.js';
import { reduceRowsKernel, reduceRowsReference } from '../src/cpu/reduce.js';
import { Rng } from '../src/index.js';

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
});
