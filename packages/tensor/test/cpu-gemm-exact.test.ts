// The exact float32 GEMM (cpu/wasm/matmul.ts + kernels.wat, the default) against its definition,
// bit for bit: every output is summed in float32 from +0, one rounded product and one rounded
// sum per step, in increasing k. That is what compile/simd-matmul.ts's generated kernel also
// computes (and why compiled and eager products agree), so it is pinned here against a plain
// Math.fround loop rather than against either kernel. Random shapes include 1 and odd sizes,
// depths across the 256-deep blocks, every transpose (A^T B, A B^T, A^T B^T), broadcast and
// batched operands, one thread and two; empty products go to the JavaScript kernel (checked
// against float64), and the loop it replaced (one depth step per pass) gives the same bits.
// The opt-in FMA kernels have their own test (cpu-fma.test.ts).
import { afterAll, describe, expect, it } from 'vitest';
import type { View } from '../src/backend.js';
import { CpuBackend } from '../src/cpu/backend.js';
import { matmulF32, setGemmOneStep } from '../src/cpu/wasm/matmul.js';
import { Rng, configureCpu, cpuConfig, matmul, startCpuWorkers, tensor, transpose, type CpuConfig } from '../src/index.js';

const backend = new CpuBackend();
const rng = new Rng(21);
const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });

interface Operand { readonly view: View; readonly data: Float32Array; readonly at: (b: number, r: number, c: number) => number }

/** A [batch, rows, cols] view; `transposed` stores it as [batch, cols, rows]; `broadcast` gives it batch stride 0. */
function operand(batch: number, rows: number, cols: number, transposed: boolean, broadcast: boolean): Operand {
  const batches = broadcast ? 1 : batch;
  const data = new Float32Array(batches * rows * cols);
  const draws = rng.normalArray(data.length);
  for (let i = 0; i < data.length; i++) data[i] = draws[i]!;
  const strides: [number, number, number] = [broadcast ? 0 : rows * cols, transposed ? 1 : cols, transposed ? rows : 1];
  const view: View = { storage: backend.fromArray(data, 'float32'), shape: [batch, rows, cols], strides, offset: 0 };
  return { view, data, at: (b, r, c) => data[b * strides[0] + r * strides[1] + c * strides[2]]! };
}

/** The definition: float32 from +0, fround(product) then fround(sum), p = 0 .. k-1. */
function reference(a: Operand, b: Operand, batch: number, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a.at(bi, i, p) * b.at(bi, p, j)));
        out[(bi * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

function expectBits(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  let differing = 0;
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) differing++;
  expect(differing).toBe(0);
}

const draw = (sizes: readonly number[]): number => sizes[rng.int(sizes.length)]!;

for (const threads of [1, 2]) {
  describe(`exact float32 GEMM on ${threads} thread(s) equals the float32 definition bit for bit`, () => {
    it('on random shapes, every transpose, broadcast and batched operands', () => {
      configureCpu({ wasm: true, fma: false, threads, wasmMinFlops: 0, parallelMinFlops: threads > 1 ? 0 : Infinity });
      if (threads > 1) expect(startCpuWorkers(20_000)).toBe(threads - 1);
      const dims = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33, 64, 65];
      let products = 0;
      for (let trial = 0; trial < 40; trial++) {
        const batch = draw([1, 1, 2, 3]);
        const m = draw(dims);
        const n = draw(dims);
        const k = trial % 8 === 0 ? draw([255, 256, 257, 600]) : draw(dims);
        const ta = trial % 4 === 1 || trial % 4 === 3;
        const tb = trial % 4 === 2 || trial % 4 === 3;
        const a = operand(batch, m, k, ta, batch > 1 && trial % 5 === 0);
        const b = operand(batch, k, n, tb, batch > 1 && trial % 3 === 0);
        const got = matmulF32(a.view, a.data, b.view, b.data);
        expect(got, `${batch}x${m}x${k} @ ${n}`).not.toBeNull();
        expectBits(got!, reference(a, b, batch, m, k, n));
        // the loop it replaced (one depth step per pass) gives the same bits
        const before = setGemmOneStep(true);
        try {
          expectBits(matmulF32(a.view, a.data, b.view, b.data)!, got!);
        } finally {
          setGemmOneStep(before);
        }
        products++;
      }
      expect(products).toBe(40);
    });

    it('at the shape of issue 21 (4096x256 @ 256x768), on sampled rows', () => {
      configureCpu({ wasm: true, fma: false, threads, parallelMinFlops: threads > 1 ? 0 : Infinity });
      const [m, k, n] = [4096, 256, 768];
      const a = operand(1, m, k, false, false);
      const b = operand(1, k, n, false, false);
      const got = matmulF32(a.view, a.data, b.view, b.data)!;
      for (const i of [0, 1, 2, 3, 4, 127, 128, 2049, 4095]) {
        const row = new Float32Array(n);
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a.at(0, i, p) * b.at(0, p, j)));
          row[j] = s;
        }
        expectBits(got.subarray(i * n, (i + 1) * n), row);
      }
    });
  });
}

describe('edge sizes through the matmul op', () => {
  it('size 0 and 1 operands, float32, against float64', () => {
    configureCpu({ wasm: true, fma: false, threads: 1, wasmMinFlops: 0 });
    for (const [m, k, n] of [[0, 3, 2], [2, 0, 3], [3, 2, 0], [1, 1, 1], [1, 5, 1], [5, 1, 7]] as const) {
      const A = Float32Array.from({ length: m * k }, (_, i) => (i % 7) - 3.5);
      const B = Float32Array.from({ length: k * n }, (_, i) => (i % 5) * 0.25 - 0.5);
      const c = matmul(tensor(A, [m, k]), tensor(B, [k, n]));
      expect(c.shape).toEqual([m, n]);
      const got = c.dataSync();
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += A[i * k + p]! * B[p * n + j]!;
          expect(got[i * n + j]).toBeCloseTo(s, 5);
        }
      }
      const t = matmul(transpose(tensor(A, [m, k]), 0, 1), tensor(Float32Array.from({ length: m * 2 }, (_, i) => i), [m, 2]));
      expect(t.shape).toEqual([k, 2]);
    }
  });
});
