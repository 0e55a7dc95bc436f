// The float32 softmax / log-softmax rows on WebAssembly (src/cpu/rows-wasm.ts, kernels.wat jobs 9
// and 10) against the JavaScript loops of src/cpu/rows.ts they stand in for, bit for bit, forward
// and backward, on one thread and shared with a worker thread, on odd and single widths, rows of
// -Infinity, NaN and large logits; and the kernels' exp (fdlibm's, as V8's Math.exp) against
// Math.exp on special values and a million random doubles across its whole range.
import { afterAll, describe, expect, it } from 'vitest';
import { softmaxRowsBackwardJs, softmaxRowsJs } from '../src/cpu/rows.js';
import { ROWS_WASM_MIN_ELEMENTS, softmaxRowsBackwardF32, softmaxRowsF32 } from '../src/cpu/rows-wasm.js';
import { getEngine } from '../src/cpu/wasm/engine.js';
import { Rng, configureCpu, cpuConfig, startCpuWorkers, type CpuConfig } from '../src/index.js';
import { expectSameBits } from '@titans/test-utils';

const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });

const rng = new Rng(2104);

function logits(rows: number, cols: number): Float32Array {
  const x = Float32Array.from(rng.normalArray(rows * cols), (v) => v * 4);
  if (rows >= 4 && cols >= 3) {
    x.fill(-Infinity, 0, cols); // a row of -Infinity (NaN out, as the composite)
    x[cols + 1] = NaN; // a NaN in row 1
    x[2 * cols] = Infinity; // an infinite max in row 2
    x[3 * cols + 2] = 80; // a large logit in row 3
    x[3 * cols] = -1e30;
  }
  return x;
}

const SHAPES: [number, number][] = [[1, ROWS_WASM_MIN_ELEMENTS], [ROWS_WASM_MIN_ELEMENTS, 1], [129, 33], [33, 129], [256, 259], [37, 2048], [4096, 2]];

describe('float32 softmax rows on WebAssembly', () => {
  it("the kernels' exp gives Math.exp's bits", () => {
    const e = getEngine();
    expect(e).not.toBeNull();
    const special = [0, -0, 1, -1, 2 ** -28, -(2 ** -28), 2 ** -27, 2 ** -1074, 0.34657359027997264, 0.3465735902799727, -0.3465735902799727,
      1.0397207708399179, 709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412, -708.4, -720, Infinity, -Infinity, NaN];
    for (const v of special) expect(Object.is(e!.exp(v), Math.exp(v)), `exp(${v})`).toBe(true);
    const bits = new Float64Array(1);
    const words = new Uint32Array(bits.buffer);
    let state = 0x2104;
    const uniform = (): number => {
      // xorshift32, deterministic
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 2 ** 32;
    };
    let differing = 0;
    for (let i = 0; i < 1_000_000; i++) {
      // Uniform in [-750, 750] half the time, else random bit patterns of moderate exponent.
      if (i % 2 === 0) bits[0] = (uniform() - 0.5) * 1500;
      else {
        words[0] = Math.floor(uniform() * 2 ** 32);
        words[1] = (Math.floor(uniform() * 2 ** 20)) | ((0x3c0 + Math.floor(uniform() * 0x90)) << 20) | (i % 4 === 1 ? 0x80000000 : 0);
      }
      if (!Object.is(e!.exp(bits[0]!), Math.exp(bits[0]!))) differing++;
    }
    expect(differing).toBe(0);
  });

  for (const threads of [1, 2]) {
    it(`forward and backward: the JavaScript loops' bits (${threads} thread${threads > 1 ? 's' : ''})`, () => {
      configureCpu({ threads, wasm: true });
      if (threads > 1) expect(startCpuWorkers(20_000)).toBe(1);
      for (const log of [true, false]) {
        for (const [rows, cols] of SHAPES) {
          const label = `${log ? 'log-' : ''}softmax ${rows}x${cols}`;
          const n = rows * cols;
          const x = logits(rows, cols);
          const y = new Float32Array(n).fill(7);
          const yJs = new Float32Array(n).fill(7);
          expect(softmaxRowsF32(x, rows, cols, log, y), label).toBe(true);
          softmaxRowsJs(x, rows, cols, log, yJs);
          expectSameBits(y, yJs, `${label} forward`);
          const g = Float32Array.from(rng.normalArray(n));
          const dx = new Float32Array(n).fill(7);
          const dxJs = new Float32Array(n).fill(7);
          expect(softmaxRowsBackwardF32(yJs, g, rows, cols, log, dx), label).toBe(true);
          softmaxRowsBackwardJs(yJs, g, rows, cols, log, dxJs);
          expectSameBits(dx, dxJs, `${label} backward`);
        }
      }
    });
  }

  it('declines small jobs, zero columns and WebAssembly switched off', () => {
    configureCpu({ threads: 1, wasm: true });
    const small = ROWS_WASM_MIN_ELEMENTS - 1;
    expect(softmaxRowsF32(new Float32Array(small), 1, small, true, new Float32Array(small))).toBe(false);
    expect(softmaxRowsF32(new Float32Array(0), ROWS_WASM_MIN_ELEMENTS, 0, true, new Float32Array(0))).toBe(false);
    expect(softmaxRowsBackwardF32(new Float32Array(small), new Float32Array(small), small, 1, false, new Float32Array(small))).toBe(false);
    configureCpu({ wasm: false });
    const n = ROWS_WASM_MIN_ELEMENTS;
    expect(softmaxRowsF32(new Float32Array(n), 1, n, false, new Float32Array(n))).toBe(false);
  });
});
