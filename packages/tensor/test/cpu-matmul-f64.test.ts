// The CPU backend's float64 matmul kernels, WebAssembly SIMD (src/cpu/matmul-f64.wat via
// matmul-f64-wasm.ts) and JavaScript (src/cpu/matmul-f64.ts), each against the general loop they
// replace (the backend's matmulBlock, reached with setMatmulF64Mode('off')): the same bits on
// random shapes with sizes 0, 1 and odd m/k/n, contiguous and transposed operands (each of a and
// b), views with offsets and padded strides, and a broadcast batch (zero batch stride) on either
// side; sparse windows into large storages; inside a buffer pool (whose reused arrays are not
// zeroed for a product); 4-row blocks whose last columns take the 4 x 2 and 4 x 1 tiles; and
// through the public matmul op with transposed tensors. Also: the committed base64 is what the
// .wat assembles to.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, cpuBackend, matmul, tensor, transpose, type View } from '../src/index.js';
import { BufferPool } from '../src/cpu/pool.js';
import { matmulF64Mode, setMatmulF64Mode, type MatmulF64Mode } from '../src/cpu/matmul-f64.js';
import { matmulF64WasmAvailable } from '../src/cpu/matmul-f64-wasm.js';

const rng = new Rng(6401);

/** A float64 [batch, rows, cols] view of a fresh storage in the given layout. */
function view(batch: number, rows: number, cols: number, layout: { transposed: boolean; broadcast: boolean; pad: number; offset: number }): View {
  const batches = layout.broadcast ? 1 : batch;
  const inner = layout.transposed ? cols : rows; // rows of the stored matrix
  const width = (layout.transposed ? rows : cols) + layout.pad; // its padded row length
  const perBatch = inner * width + layout.pad;
  const data = Float64Array.from(rng.normalArray(layout.offset + batches * perBatch + 1));
  // a few exact values that a wrong order or a fused multiply-add would change
  for (let i = 0; i < data.length; i += 7) data[i] = data[i]! * 1e8;
  const storage = cpuBackend.fromArray(data, 'float64');
  const sb = layout.broadcast ? 0 : perBatch;
  const strides = layout.transposed ? [sb, 1, width] : [sb, width, 1];
  return { storage, shape: [batch, rows, cols], strides, offset: layout.offset };
}

function product(a: View, b: View, mode: MatmulF64Mode): Float64Array {
  const previous = setMatmulF64Mode(mode);
  try {
    const out = cpuBackend.matmul(a, b);
    return Float64Array.from(cpuBackend.data(out) as Float64Array);
  } finally {
    setMatmulF64Mode(previous);
  }
}

function expectSameBits(actual: Float64Array, expected: Float64Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  const x = new BigUint64Array(actual.buffer, actual.byteOffset, actual.length);
  const y = new BigUint64Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) expect(actual[i], `${label}[${i}]`).toBe(expected[i]);
  }
}

const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 16, 17, 33];
const pick = (xs: number[]): number => xs[rng.int(xs.length)]!;
const layout = (): { transposed: boolean; broadcast: boolean; pad: number; offset: number } => ({
  transposed: rng.int(2) === 1, broadcast: rng.int(4) === 0, pad: rng.int(3) === 0 ? 1 + rng.int(3) : 0, offset: rng.int(3) === 0 ? rng.int(5) : 0,
});

describe('cpu float64 matmul kernels', () => {
  afterEach(() => {
    expect(matmulF64Mode()).toBe('wasm');
  });

  it('loads the WebAssembly kernel, and matmul-f64-wasm.generated.ts is up to date with matmul-f64.wat', () => {
    expect(matmulF64WasmAvailable()).toBe(true);
    const root = fileURLToPath(new URL('..', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-wasm.ts', 'matmul-f64', '--check'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(run.stderr + run.stdout).toContain('up to date');
    expect(run.status).toBe(0);
  }, 150_000);

  it('equals the general loop bit for bit on random shapes and layouts', () => {
    for (let trial = 0; trial < 300; trial++) {
      const batch = pick([0, 1, 1, 2, 3, 5]);
      const [m, k, n] = [pick(SIZES), pick(SIZES), pick(SIZES)];
      const la = layout();
      const lb = layout();
      const a = view(batch, m, k, la);
      const b = view(batch, k, n, lb);
      const label = `batch ${batch} m ${m} k ${k} n ${n} a ${JSON.stringify(la)} b ${JSON.stringify(lb)}`;
      const expected = product(a, b, 'off');
      expect(expected.length, label).toBe(batch * m * n);
      expectSameBits(product(a, b, 'js'), expected, `js ${label}`);
      expectSameBits(product(a, b, 'wasm'), expected, `wasm ${label}`);
    }
  });

  it('equals the general loop on the Atlas Newton-Schulz shapes (16x16 Gram products, 273-long rows)', () => {
    const cases: [number, number, number, number, boolean, boolean][] = [
      [256, 16, 16, 16, false, false], [256, 16, 16, 16, false, true], [256, 16, 16, 16, true, false],
      [256, 11, 11, 16, false, false], [32, 16, 273, 11, false, true], [32, 273, 16, 11, true, false],
      [4, 64, 64, 64, false, false], [4, 32, 32, 32, true, true],
    ];
    for (const [batch, m, k, n, ta, tb] of cases) {
      const a = view(batch, m, k, { transposed: ta, broadcast: false, pad: 0, offset: 0 });
      const b = view(batch, k, n, { transposed: tb, broadcast: false, pad: 0, offset: 0 });
      const expected = product(a, b, 'off');
      expectSameBits(product(a, b, 'js'), expected, `js ${batch}x${m}x${k}x${n} ${ta} ${tb}`);
      expectSameBits(product(a, b, 'wasm'), expected, `wasm ${batch}x${m}x${k}x${n} ${ta} ${tb}`);
    }
  });

  it('equals the general loop where 4-row blocks end in 1, 2 or 3 columns (the 4 x 2 and 4 x 1 tiles), Atlas MQAR shapes included', () => {
    const cases: [number, number, number, number, boolean, boolean][] = [
      [3, 8, 5, 5, false, false], [3, 8, 5, 6, true, false], [3, 8, 5, 7, false, true], [2, 12, 1, 3, true, true], [2, 4, 9, 1, true, false],
      [2, 1057, 32, 11, true, false], [2, 32, 1057, 11, false, true], [2, 11, 1057, 11, false, true], [128, 32, 32, 11, false, true],
    ];
    for (const [batch, m, k, n, ta, tb] of cases) {
      const a = view(batch, m, k, { transposed: ta, broadcast: false, pad: 0, offset: 0 });
      const b = view(batch, k, n, { transposed: tb, broadcast: false, pad: 0, offset: 0 });
      expectSameBits(product(a, b, 'wasm'), product(a, b, 'off'), `wasm ${batch}x${m}x${k}x${n} ${ta} ${tb}`);
    }
  });

  it('equals the general loop on sparse windows into large storages (gathered element by element)', () => {
    const big = (length: number): View['storage'] => cpuBackend.fromArray(Float64Array.from(rng.normalArray(length)), 'float64');
    const a: View = { storage: big(30000), shape: [3, 5, 4], strides: [9000, 1000, 7], offset: 11 };
    const b: View = { storage: big(30000), shape: [3, 4, 6], strides: [0, 13, 2000], offset: 3 };
    const expected = product(a, b, 'off');
    expectSameBits(product(a, b, 'js'), expected, 'js');
    expectSameBits(product(a, b, 'wasm'), expected, 'wasm');
  });

  it('writes every element of a pooled (not zero-filled) product', () => {
    const a = view(3, 5, 7, { transposed: false, broadcast: false, pad: 0, offset: 0 });
    const b = view(3, 7, 9, { transposed: true, broadcast: false, pad: 0, offset: 0 });
    const expected = product(a, b, 'off');
    for (const mode of ['js', 'wasm'] as const) {
      const previous = setMatmulF64Mode(mode);
      const pool = new BufferPool();
      const garbage = pool.take('float64', 3 * 5 * 9) as Float64Array;
      garbage.fill(Number.NaN);
      expect(pool.give(garbage)).toBe(true);
      pool.endRound();
      cpuBackend.pool = pool;
      try {
        const out = cpuBackend.matmul(a, b);
        expect(cpuBackend.data(out)).toBe(garbage); // the pool handed back the NaN-filled array
        expectSameBits(Float64Array.from(cpuBackend.data(out) as Float64Array), expected, `pooled ${mode}`);
      } finally {
        cpuBackend.pool = null;
        setMatmulF64Mode(previous);
      }
    }
  });

  it('gives the same product through the matmul op with transposed tensors', () => {
    const x = tensor(Float64Array.from(rng.normalArray(4 * 9 * 13)), [4, 9, 13], { dtype: 'float64' });
    const y = tensor(Float64Array.from(rng.normalArray(4 * 11 * 9)), [4, 11, 9], { dtype: 'float64' });
    const fast = matmul(transpose(x, 1, 2), transpose(y, 1, 2)).dataSync() as Float64Array;
    setMatmulF64Mode('off');
    let slow: Float64Array;
    try {
      slow = matmul(transpose(x, 1, 2), transpose(y, 1, 2)).dataSync() as Float64Array;
    } finally {
      setMatmulF64Mode('wasm');
    }
    expectSameBits(Float64Array.from(fast), Float64Array.from(slow), 'op');
  });
});
