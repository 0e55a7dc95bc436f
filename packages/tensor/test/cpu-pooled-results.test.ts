// Kernels that write every element of their results take the compiled plan's pooled arrays
// without the zero fill (cpu/backend.ts allocFull, attention-f32.ts Alloc): with arrays full of
// NaN in the pool, each gives the bits it gives with fresh arrays, on the JavaScript loops
// (small shapes, float64) and on the WebAssembly kernels (large float32 shapes, one thread and
// two), including rows that see no key in the attention.
import { afterAll, describe, expect, it } from 'vitest';
import type { AttentionDims, AttentionOptions, DType, Storage } from '../src/backend.js';
import { CpuBackend } from '../src/cpu/backend.js';
import { BufferPool } from '../src/cpu/pool.js';
import { Rng, configureCpu, cpuConfig, startCpuWorkers, type CpuConfig } from '../src/index.js';

const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });
const rng = new Rng(2024);
const backend = new CpuBackend();

const bits = (s: Storage): Uint8Array => {
  const d = backend.readSync(s) as Float32Array | Float64Array;
  return new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
};
const input = (n: number, dtype: DType): Storage => backend.fromArray(Float64Array.from(rng.normalArray(n), (x) => x * 1.5 + 0.1), dtype);

/** Index of the first byte where two lists of results differ (-1: same bits, same lengths). */
function firstDifference(a: Uint8Array[], b: Uint8Array[]): string {
  if (a.length !== b.length) return `${b.length} results, not ${a.length}`;
  for (let r = 0; r < a.length; r++) {
    if (a[r]!.length !== b[r]!.length) return `result ${r}: ${b[r]!.length} bytes, not ${a[r]!.length}`;
    for (let i = 0; i < a[r]!.length; i++) if (a[r]![i] !== b[r]![i]) return `result ${r}, byte ${i}`;
  }
  return 'same';
}

/** Results of `call` with fresh arrays, then with a pool whose arrays of every needed size are NaN. */
function both(call: () => Storage[], sizes: readonly [DType, number][]): [Uint8Array[], Uint8Array[]] {
  const fresh = call().map(bits);
  const pool = new BufferPool();
  const taken = sizes.map(([dtype, n]) => pool.take(dtype, n));
  for (const a of taken) {
    a.fill(Number.NaN);
    expect(pool.give(a)).toBe(true);
  }
  pool.endRound();
  backend.pool = pool;
  try {
    return [fresh, call().map(bits)];
  } finally {
    backend.pool = null;
  }
}

describe('pooled results are written in full', () => {
  const shapes: [number, number][] = [[1, 1], [3, 7], [33, 129], [1024, 64], [257, 129]];
  for (const threads of [1, 2]) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [rows, cols] of shapes) {
        it(`row kernels, ${dtype} [${rows}, ${cols}], ${threads} thread(s)`, () => {
          configureCpu({ threads, wasm: true });
          if (threads > 1) startCpuWorkers();
          const n = rows * cols;
          const x = input(n, dtype);
          const g = input(n, dtype);
          for (const kind of ['rms', 'layer'] as const) {
            const f = backend.normRows(kind, x, rows, cols, 1e-5);
            const [a, b] = both(() => {
              const r = backend.normRows(kind, x, rows, cols, 1e-5);
              return [r.out, r.rstd, backend.normRowsBackward(kind, f.out, f.rstd, g, rows, cols)];
            }, [[dtype, n], [dtype, rows], [dtype, n]]);
            expect(firstDifference(a, b), kind).toBe('same');
          }
          for (const log of [false, true]) {
            const y = backend.softmaxRows(x, rows, cols, log);
            const [a, b] = both(() => [backend.softmaxRows(x, rows, cols, log), backend.softmaxRowsBackward(y, g, rows, cols, log)], [[dtype, n], [dtype, n]]);
            expect(firstDifference(a, b), `softmax log=${log}`).toBe('same');
          }
          const [a, b] = both(() => [backend.silu(x), backend.siluBackward(x, g)], [[dtype, n], [dtype, n]]);
          expect(firstDifference(a, b), 'silu').toBe('same');
          for (const d of [2, 3, 8]) {
            const t = Math.max(1, Math.floor(n / (2 * d)));
            const outer = 2;
            const xr = input(outer * t * d, dtype);
            const cos = input(t * (d >> 1), dtype);
            const sin = input(t * (d >> 1), dtype);
            const [ra, rb] = both(() => [backend.ropeRows(xr, cos, sin, outer, t, d)], [[dtype, outer * t * d]]);
            expect(firstDifference(ra, rb), `rope d=${d}`).toBe('same');
          }
        });
      }
    }
    it(`float32 attention through the backend, ${threads} thread(s)`, () => {
      configureCpu({ threads, wasm: true });
      if (threads > 1) startCpuWorkers();
      // Early queries see no key (more queries than keys) in the second case.
      for (const [bh, tq, tk, d] of [[4, 200, 200, 16], [2, 300, 80, 8]] as const) {
        const dims: AttentionDims = { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: d };
        const o: AttentionOptions = { scale: 1 / Math.sqrt(d), causal: true, window: 0, prefix: 0 };
        const q = input(bh * tq * d, 'float32'); const k = input(bh * tk * d, 'float32');
        const v = input(bh * tk * d, 'float32'); const g = input(bh * tq * d, 'float32');
        const f = backend.attention(q, k, v, dims, o);
        const [a, b] = both(() => {
          const r = backend.attention(q, k, v, dims, o);
          const grads = backend.attentionBackward(q, k, v, f.out, f.lse, g, dims, o);
          return [r.out, r.lse, grads.dq, grads.dk, grads.dv];
        }, [['float32', bh * tq * d], ['float32', bh * tq], ['float32', bh * tq * d], ['float32', bh * tk * d], ['float32', bh * tk * d]]);
        expect(firstDifference(a, b), `attention ${bh}x${tq}x${tk}`).toBe('same');
      }
    });
  }
});
