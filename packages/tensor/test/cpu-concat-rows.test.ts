// The CPU backend's concatRows (rows of each part side by side): its short-row loop, long-row
// copies and single-row case against a plain element-by-element reference, on every dtype, with
// zero, one and odd sizes, parts of mixed widths (below and above the switch at 64) and -0 / NaN.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/cpu/backend.js';
import { Rng, type DType } from '../src/index.js';

const rng = new Rng(2103);

describe('CPU concatRows', () => {
  it('places every part row by row, bit for bit', () => {
    const backend = new CpuBackend();
    const cases: [number, number[]][] = [[0, [3, 2]], [1, [5, 0, 70]], [1, [1]], [3, [1, 1, 1]], [7, [16, 1]], [5, [63, 64, 65]], [2, [0, 130]], [33, [2, 2, 2]]];
    for (const dtype of ['float32', 'float64', 'int32'] as DType[]) {
      for (const [outer, inners] of cases) {
        const parts = inners.map((inner) => {
          const values = rng.normalArray(outer * inner).map((v, i) => (dtype === 'int32' ? Math.round(v * 100) : i === 1 ? -0 : i === 2 ? Number.NaN : v));
          return backend.fromArray(dtype === 'int32' ? Int32Array.from(values) : dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values), dtype);
        });
        const got = backend.data(backend.concatRows(parts, outer, inners));
        const total = inners.reduce((a, b) => a + b, 0);
        expect(got.length).toBe(outer * total);
        let col = 0;
        inners.forEach((inner, p) => {
          const src = backend.data(parts[p]!);
          for (let r = 0; r < outer; r++) {
            for (let c = 0; c < inner; c++) {
              const want = src[r * inner + c]!;
              const have = got[r * total + col + c]!;
              expect(Object.is(have, want), `${dtype} outer ${outer} [${inners.join(',')}] part ${p} (${r}, ${c}): ${have} vs ${want}`).toBe(true);
            }
          }
          col += inner;
        });
      }
    }
  });
});
