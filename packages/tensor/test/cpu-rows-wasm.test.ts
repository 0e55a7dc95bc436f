// The float32 row kernels on WebAssembly (src/cpu/rows-wasm.ts: RMSNorm / LayerNorm forward and
// backward, rotary embedding) against the JavaScript loops of src/cpu/rows.ts they stand in for,
// bit for bit, on one thread and shared with a worker thread, on random shapes with single,
// odd and large sizes and extreme values; and the sizes they decline (left to the loops).
import { afterAll, describe, expect, it } from 'vitest';
import { normRowsBackwardJs, normRowsJs, ropeJs } from '../src/cpu/rows.js';
import { ROWS_PARALLEL_MIN_ELEMENTS, ROWS_WASM_MIN_ELEMENTS, normRowsBackwardF32, normRowsF32, ropeF32 } from '../src/cpu/rows-wasm.js';
import { Rng, configureCpu, cpuConfig, startCpuWorkers, type CpuConfig } from '../src/index.js';
import { expectSameBits } from '@titans/test-utils';

const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });

const rng = new Rng(777);

function random(n: number, scale = 2): Float32Array {
  const out = Float32Array.from(rng.normalArray(n), (x) => x * scale + 0.25);
  // A few extreme values: large, tiny, zero, negative zero.
  if (n > 8) {
    out[1] = 3e18;
    out[3] = -1e-30;
    out[5] = 0;
    out[7] = -0;
  }
  return out;
}

// [rows, cols]: one row, one column, odd sizes, at and past the thresholds, shared-size jobs.
const NORM_SHAPES: [number, number][] = [
  [1, ROWS_WASM_MIN_ELEMENTS], [ROWS_WASM_MIN_ELEMENTS, 1], [129, 33], [33, 129], [257, 129], [1, 40_001], [1024, 64],
];
// [outer, t, d]
const ROPE_SHAPES: [number, number, number][] = [[1, 1, 4096], [3, 65, 22], [2, 513, 64], [1, 4097, 2]];

describe('float32 row kernels on WebAssembly', () => {
  for (const threads of [1, 2]) {
    it(`norm forward and backward: the JavaScript loops' bits (${threads} thread${threads > 1 ? 's' : ''})`, () => {
      configureCpu({ threads, wasm: true });
      if (threads > 1) expect(startCpuWorkers(20_000)).toBe(1);
      for (const kind of ['rms', 'layer'] as const) {
        for (const [rows, cols] of NORM_SHAPES) {
          const label = `${kind} ${rows}x${cols}`;
          const n = rows * cols;
          const x = random(n);
          const eps = kind === 'rms' ? 1e-6 : 1e-5;
          const y = new Float32Array(n);
          const r = new Float32Array(rows);
          const yJs = new Float32Array(n);
          const rJs = new Float32Array(rows);
          expect(normRowsF32(kind, x, rows, cols, eps, y, r), label).toBe(true);
          normRowsJs(kind, x, rows, cols, eps, yJs, rJs);
          expectSameBits(y, yJs, `${label} y`);
          expectSameBits(r, rJs, `${label} rstd`);
          const g = random(n, 0.5);
          const dx = new Float32Array(n);
          const dxJs = new Float32Array(n);
          expect(normRowsBackwardF32(kind, yJs, rJs, g, rows, cols, dx), label).toBe(true);
          normRowsBackwardJs(kind, yJs, rJs, g, rows, cols, dxJs);
          expectSameBits(dx, dxJs, `${label} dx`);
        }
      }
    });

    it(`rope: the JavaScript loop's bits (${threads} thread${threads > 1 ? 's' : ''})`, () => {
      configureCpu({ threads, wasm: true });
      if (threads > 1) expect(startCpuWorkers(20_000)).toBe(1);
      for (const [outer, t, d] of ROPE_SHAPES) {
        const n = outer * t * d;
        const x = random(n);
        const cos = random(t * (d >> 1), 1);
        const sin = random(t * (d >> 1), 1);
        const y = new Float32Array(n);
        const yJs = new Float32Array(n);
        expect(ropeF32(x, cos, sin, outer, t, d, y)).toBe(true);
        ropeJs(x, cos, sin, outer, t, d, yJs);
        expectSameBits(y, yJs, `rope ${outer}x${t}x${d}`);
      }
    });
  }

  it('the large shapes are shared with the worker threads', () => {
    expect(1024 * 64).toBeGreaterThanOrEqual(ROWS_PARALLEL_MIN_ELEMENTS);
    expect(2 * 513 * 64).toBeGreaterThanOrEqual(ROWS_PARALLEL_MIN_ELEMENTS);
    expect(257 * 129).toBeGreaterThanOrEqual(ROWS_PARALLEL_MIN_ELEMENTS);
  });

  it('declines small or empty jobs, odd rope widths and WebAssembly turned off', () => {
    configureCpu({ threads: 1, wasm: true });
    const small = ROWS_WASM_MIN_ELEMENTS - 1;
    expect(normRowsF32('rms', new Float32Array(small), 1, small, 1e-6, new Float32Array(small), new Float32Array(1))).toBe(false);
    expect(normRowsF32('rms', new Float32Array(0), 0, 5, 1e-6, new Float32Array(0), new Float32Array(0))).toBe(false);
    expect(normRowsBackwardF32('layer', new Float32Array(0), new Float32Array(4), new Float32Array(0), 4, 0, new Float32Array(0))).toBe(false);
    expect(ropeF32(new Float32Array(5000 * 3), new Float32Array(5000), new Float32Array(5000), 1, 5000, 3, new Float32Array(5000 * 3))).toBe(false);
    configureCpu({ wasm: false });
    const n = 2 * ROWS_WASM_MIN_ELEMENTS;
    expect(normRowsF32('rms', new Float32Array(n), 2, n / 2, 1e-6, new Float32Array(n), new Float32Array(2))).toBe(false);
    configureCpu(saved);
  });
});
