// The CPU backend's WebAssembly SIMD matmul (src/cpu/wasm) against its JavaScript reference
// kernel: odd sizes, transposed / strided / offset / broadcast-batch / sparse views, one thread
// and several, the committed binary against the build, and the switches that turn it off.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/cpu/backend.js';
import { GENERATED_PATH, assembleKernels, renderGeneratedModule } from '../src/cpu/wasm/assemble.js';
import { binaryF32, unaryF32 } from '../src/cpu/wasm/elementwise.js';
import { matmulF32 } from '../src/cpu/wasm/matmul.js';
import type { BinaryOp, Storage, UnaryOp, View } from '../src/backend.js';
import {
  Rng, configureCpu, cpuConfig, cpuInfo, matmul, startCpuWorkers, tensor, transpose, type CpuConfig,
} from '../src/index.js';

const backend = new CpuBackend();
const rng = new Rng(20240611);
const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });

type Layout = 'contiguous' | 'transposed' | 'strided' | 'broadcast' | 'repeated' | 'sparse';

/**
 * A [batch, rows, cols] view of freshly drawn data in the given layout, plus the logical
 * values as a dense [batch, rows, cols] Float64Array (for the error bound).
 */
function makeView(batch: number, rows: number, cols: number, layout: Layout): { view: View; dense: Float64Array } {
  const batches = layout === 'broadcast' ? 1 : batch;
  let strides: [number, number, number];
  let offset = 0;
  let size: number;
  switch (layout) {
    case 'contiguous': strides = [rows * cols, cols, 1]; size = batches * rows * cols; break;
    case 'transposed': strides = [rows * cols, 1, rows]; size = batches * rows * cols; break;
    case 'broadcast': strides = [0, cols, 1]; size = rows * cols; break;
    case 'repeated': strides = [cols, 0, 1]; size = batches * cols; break; // one row, expanded
    case 'strided': {
      // every other column of a wider, padded matrix, starting at an offset
      const pitch = 2 * cols + 3;
      strides = [rows * pitch + 1, pitch, 2];
      offset = 5;
      size = offset + batches * (rows * pitch + 1);
      break;
    }
    case 'sparse': {
      // rows far apart: the kernel gathers instead of copying the whole span
      const pitch = cols + 5000;
      strides = [rows * pitch, pitch, 1];
      offset = 7;
      size = offset + batches * rows * pitch;
      break;
    }
  }
  const data = new Float32Array(size);
  const draws = rng.uniformArray(size);
  for (let i = 0; i < size; i++) data[i] = 2 * draws[i]! - 1;
  const dense = new Float64Array(batch * rows * cols);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const bi = layout === 'broadcast' ? 0 : b;
        dense[(b * rows + r) * cols + c] = data[offset + bi * strides[0] + r * strides[1] + c * strides[2]]!;
      }
    }
  }
  return { view: { storage: backend.fromArray(data, 'float32'), shape: [batch, rows, cols], strides, offset }, dense };
}

/** The JavaScript reference kernel's result. */
function jsMatmul(a: View, b: View): Float32Array {
  const before = cpuConfig();
  configureCpu({ wasm: false });
  try {
    return backend.readSync(backend.matmul(a, b)) as Float32Array;
  } finally {
    configureCpu(before);
  }
}

/** Checks |x - y| <= 1e-5 * sum_p |a_ip b_pj| elementwise (relative to the product's scale). */
function expectClose(x: Float32Array, y: Float32Array, a: Float64Array, b: Float64Array, batch: number, m: number, k: number, n: number): void {
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let scale = 0;
        for (let p = 0; p < k; p++) scale += Math.abs(a[(bi * m + i) * k + p]! * b[(bi * k + p) * n + j]!);
        const at = (bi * m + i) * n + j;
        const err = Math.abs(x[at]! - y[at]!) / Math.max(scale, 1e-30);
        if (!(err <= worst)) worst = err; // NaN-safe
      }
    }
  }
  expect(worst).toBeLessThanOrEqual(1e-5);
}

const SIZES = [1, 3, 7, 17, 33, 65, 127];
const LAYOUTS: Layout[] = ['contiguous', 'transposed', 'strided', 'broadcast', 'repeated', 'sparse'];

describe('WebAssembly kernels', () => {
  it('the committed kernels.generated.ts is what the build makes from kernels.wat', async () => {
    const built = renderGeneratedModule(await assembleKernels());
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(built);
  });

  it('load in Node 20 with SIMD and shared memory', () => {
    const info = cpuInfo();
    expect(info.simd).toBe(true);
    expect(info.sharedMemory).toBe(true);
  });
});

for (const threads of [1, 2]) {
  describe(`float32 matmul on ${threads} thread(s) matches the JavaScript kernel`, () => {
    beforeAll(() => {
      configureCpu({ wasm: true, threads, wasmMinFlops: 0, parallelMinFlops: 0 });
      if (threads > 1) expect(startCpuWorkers(20_000)).toBe(threads - 1);
    });

    it('on every pair of odd sizes for m, k, n (cycled)', () => {
      let count = 0;
      for (let i = 0; i < SIZES.length; i++) {
        for (let j = 0; j < SIZES.length; j++) {
          const m = SIZES[i]!;
          const k = SIZES[j]!;
          const n = SIZES[(i + 2 * j + 1) % SIZES.length]!;
          const a = makeView(1, m, k, 'contiguous');
          const b = makeView(1, k, n, 'contiguous');
          const got = matmulF32(a.view, backend.readSync(a.view.storage) as Float32Array, b.view, backend.readSync(b.view.storage) as Float32Array);
          expect(got).not.toBeNull();
          expectClose(got!, jsMatmul(a.view, b.view), a.dense, b.dense, 1, m, k, n);
          count++;
        }
      }
      expect(count).toBe(49);
    });

    it('on transposed, strided, offset, broadcast-batch, expanded and sparse views', () => {
      const shapes: [number, number, number, number][] = [[3, 17, 33, 7], [2, 65, 127, 33], [4, 7, 3, 65], [1, 127, 65, 17], [2, 1, 17, 1]];
      for (const [batch, m, k, n] of shapes) {
        for (const la of LAYOUTS) {
          for (const lb of LAYOUTS) {
            const a = makeView(batch, m, k, la);
            const b = makeView(batch, k, n, lb);
            const got = backend.readSync(backend.matmul(a.view, b.view)) as Float32Array;
            expectClose(got, jsMatmul(a.view, b.view), a.dense, b.dense, batch, m, k, n);
          }
        }
      }
    });

    it('propagates NaN and infinities like the JavaScript kernel', () => {
      const a = makeView(1, 9, 13, 'contiguous');
      const b = makeView(1, 13, 11, 'contiguous');
      const A = (a.view.storage as unknown as { data: Float32Array }).data;
      const B = (b.view.storage as unknown as { data: Float32Array }).data;
      A[1 * 13 + 2] = Number.NaN;
      A[3 * 13 + 0] = Number.POSITIVE_INFINITY;
      A[5 * 13 + 4] = Number.NEGATIVE_INFINITY;
      B[4 * 11 + 10] = 0; // -inf * 0 = NaN in one output of row 5
      B[7 * 11 + 3] = Number.POSITIVE_INFINITY;
      const got = backend.readSync(backend.matmul(a.view, b.view)) as Float32Array;
      const ref = jsMatmul(a.view, b.view);
      let special = 0;
      for (let i = 0; i < ref.length; i++) {
        if (Number.isFinite(ref[i]!)) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-4);
        else { expect(got[i]).toBe(ref[i]); special++; }
      }
      expect(special).toBeGreaterThan(11);
    });

    it('on a large batch of tiny matrices (tiles grouped into tasks)', () => {
      for (const lb of ['contiguous', 'broadcast'] as const) {
        const a = makeView(3000, 2, 3, 'contiguous');
        const b = makeView(3000, 3, 5, lb);
        const got = backend.readSync(backend.matmul(a.view, b.view)) as Float32Array;
        expectClose(got, jsMatmul(a.view, b.view), a.dense, b.dense, 3000, 2, 3, 5);
      }
    });

    it('across the depth blocks of a long inner dimension', () => {
      const [m, k, n] = [33, 700, 65]; // k spans three 256-deep blocks
      for (const lb of ['contiguous', 'transposed'] as const) {
        const a = makeView(2, m, k, 'contiguous');
        const b = makeView(2, k, n, lb);
        const got = backend.readSync(backend.matmul(a.view, b.view)) as Float32Array;
        expectClose(got, jsMatmul(a.view, b.view), a.dense, b.dense, 2, m, k, n);
      }
    });

    it('through the matmul op (transposes, broadcast batch, 1-D operands)', () => {
      const x = rng.normal([3, 33, 17]);
      const w = rng.normal([65, 17]);
      const v = rng.normal([17]);
      const y = rng.normal([33, 7]);
      const cases = [
        () => matmul(x, transpose(w)),
        () => matmul(transpose(x), y),
        () => matmul(v, transpose(w)),
        () => matmul(w, v),
      ];
      for (const f of cases) {
        const fast = f();
        configureCpu({ wasm: false });
        const ref = f();
        configureCpu({ wasm: true });
        expect(fast.shape).toEqual(ref.shape);
        const d = fast.dataSync();
        const r = ref.dataSync();
        for (let i = 0; i < d.length; i++) expect(Math.abs(d[i]! - r[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(r[i]!)));
      }
    });
  });
}

describe('threads', () => {
  it('give bit-identical results to one thread (each output is summed in the same order)', () => {
    for (const [batch, m, k, n] of [[1, 127, 300, 129], [5, 33, 65, 17], [1, 512, 64, 64]] as const) {
      const a = makeView(batch, m, k, 'contiguous');
      const b = makeView(batch, k, n, 'transposed');
      configureCpu({ wasm: true, threads: 1, wasmMinFlops: 0 });
      const one = backend.readSync(backend.matmul(a.view, b.view));
      configureCpu({ threads: 2, parallelMinFlops: 0 });
      expect(startCpuWorkers(20_000)).toBe(1);
      const two = backend.readSync(backend.matmul(a.view, b.view));
      expect(two).toEqual(one);
    }
  });

  it('can be reconfigured repeatedly without losing work', () => {
    const a = makeView(1, 65, 33, 'contiguous');
    const b = makeView(1, 33, 17, 'contiguous');
    const ref = jsMatmul(a.view, b.view);
    for (const threads of [2, 1, 2, 2, 1]) {
      configureCpu({ wasm: true, threads, wasmMinFlops: 0, parallelMinFlops: 0 });
      const got = backend.readSync(backend.matmul(a.view, b.view)) as Float32Array;
      expectClose(got, ref, a.dense, b.dense, 1, 65, 33, 17);
    }
  });

  it('reject impossible settings', () => {
    expect(() => configureCpu({ threads: 0 })).toThrow(RangeError);
    expect(() => configureCpu({ threads: 1.5 })).toThrow(RangeError);
    expect(() => configureCpu({ parallelMinFlops: -1 })).toThrow(RangeError);
  });
});

describe('float32 elementwise ops are bit-identical to the JavaScript kernels', () => {
  const SPECIAL = [0, -0, 1, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -3e-39, 3.4e38, -1.5e-45];

  /** A float32 storage of `size` values: random, with special values sprinkled in. */
  function values(size: number): Float32Array {
    const out = new Float32Array(size);
    const draws = rng.uniformArray(2 * size);
    for (let i = 0; i < size; i++) {
      out[i] = draws[2 * i]! < 0.1 ? SPECIAL[Math.floor(draws[2 * i + 1]! * SPECIAL.length)]! : 8 * draws[2 * i + 1]! - 4;
    }
    return out;
  }

  function view(data: Float32Array, shape: number[], strides: number[], offset = 0): View {
    return { storage: backend.fromArray(data, 'float32'), shape, strides, offset };
  }

  function expectIdentical(fast: Float32Array, ref: Float32Array): void {
    expect(fast.length).toBe(ref.length);
    let mismatches = 0;
    for (let i = 0; i < ref.length; i++) if (!Object.is(fast[i], ref[i])) mismatches++;
    expect(mismatches).toBe(0);
  }

  function reference(f: () => Storage): Float32Array {
    configureCpu({ wasm: false });
    try { return backend.readSync(f()) as Float32Array; } finally { configureCpu({ wasm: true }); }
  }

  const [rows, cols] = [67, 131]; // odd, so every row has a tail
  const n = rows * cols;
  const layouts: [string, () => [View, View]][] = [
    ['contiguous', () => [view(values(n), [rows, cols], [cols, 1]), view(values(n), [rows, cols], [cols, 1])]],
    ['scalar on the right', () => [view(values(n), [rows, cols], [cols, 1]), view(values(5), [rows, cols], [0, 0], 3)]],
    ['scalar on the left', () => [view(values(5), [rows, cols], [0, 0], 2), view(values(n), [rows, cols], [cols, 1])]],
    ['row vector on the right', () => [view(values(n), [rows, cols], [cols, 1]), view(values(cols), [rows, cols], [0, 1])]],
    ['row vector on the left', () => [view(values(cols), [rows, cols], [0, 1]), view(values(n), [rows, cols], [cols, 1])]],
    ['column vector on the right', () => [view(values(n), [rows, cols], [cols, 1]), view(values(rows), [rows, cols], [1, 0])]],
    ['column vector on the left', () => [view(values(rows), [rows, cols], [1, 0]), view(values(n), [rows, cols], [cols, 1])]],
    ['strided rows with offsets', () => [view(values(rows * (cols + 9) + 4), [rows, cols], [cols + 9, 1], 4), view(values(rows * 2 * cols), [rows, cols], [2 * cols, 1], 7)]],
  ];
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'];

  beforeAll(() => { configureCpu({ wasm: true }); });

  for (const [name, make] of layouts) {
    it(`binary ops, ${name}`, () => {
      const [a, b] = make();
      for (const op of ops) {
        const fast = binaryF32(op, a, backend.readSync(a.storage) as Float32Array, b, backend.readSync(b.storage) as Float32Array);
        expect(fast, op).not.toBeNull();
        expectIdentical(fast!, reference(() => backend.binary(op, a, b, 'float32')));
        expectIdentical(backend.readSync(backend.binary(op, a, b, 'float32')) as Float32Array, fast!);
      }
    });
  }

  it('unary ops', () => {
    const x = view(values(n + 3), [rows, cols], [cols, 1], 3);
    for (const op of ['neg', 'abs', 'sqrt', 'square', 'relu'] as UnaryOp[]) {
      const fast = unaryF32(op, x, backend.readSync(x.storage) as Float32Array);
      expect(fast, op).not.toBeNull();
      expectIdentical(fast!, reference(() => backend.unary(op, x, 'float32')));
    }
  });

  it('leave other cases to JavaScript', () => {
    const small = view(values(100), [10, 10], [10, 1]);
    const big = view(values(n), [rows, cols], [cols, 1]);
    const data = (v: View): Float32Array => backend.readSync(v.storage) as Float32Array;
    expect(binaryF32('add', small, data(small), small, data(small))).toBeNull(); // too small
    expect(binaryF32('pow', big, data(big), big, data(big))).toBeNull(); // op without a kernel
    expect(unaryF32('exp', big, data(big))).toBeNull();
    const t = view(values(n), [rows, cols], [1, rows]); // transposed: not contiguous along rows
    expect(binaryF32('add', t, data(t), t, data(t))).toBeNull();
    expect(unaryF32('neg', t, data(t))).toBeNull();
    const three = view(values(2 * n), [2, rows, cols], [n, cols, 1]);
    const bcast = view(values(2 * cols), [2, rows, cols], [cols, 0, 1]);
    expect(binaryF32('add', three, data(three), bcast, data(bcast))).toBeNull(); // three axes after merging
    const x = reference(() => backend.binary('add', three, bcast, 'float32'));
    expectIdentical(backend.readSync(backend.binary('add', three, bcast, 'float32')) as Float32Array, x);
  });
});

describe('the JavaScript path stays in use', () => {
  it('for float64 and int32 (exact integer products)', () => {
    configureCpu({ wasm: true, wasmMinFlops: 0 });
    const a = tensor([[1, 2, 3], [4, 5, 6]], undefined, { dtype: 'int32' });
    const b = tensor([[7, 8], [9, 10], [11, 12]], undefined, { dtype: 'int32' });
    expect(matmul(a, b).toArray()).toEqual([[58, 64], [139, 154]]);
    const c = tensor([[1 / 3, 2], [3, 4]], undefined, { dtype: 'float64' });
    const out = matmul(c, c).dataSync();
    expect(out).toBeInstanceOf(Float64Array);
    expect(out[0]).toBe((1 / 3) * (1 / 3) + 2 * 3);
  });

  it('when turned off, for empty products and below the size threshold', () => {
    const a = makeView(1, 3, 7, 'contiguous');
    const b = makeView(1, 7, 5, 'contiguous');
    const A = backend.readSync(a.view.storage) as Float32Array;
    const B = backend.readSync(b.view.storage) as Float32Array;
    configureCpu({ wasm: false, wasmMinFlops: 0 });
    expect(matmulF32(a.view, A, b.view, B)).toBeNull();
    configureCpu({ wasm: true, wasmMinFlops: 1e9 });
    expect(matmulF32(a.view, A, b.view, B)).toBeNull();
    configureCpu({ wasm: true, wasmMinFlops: 0 });
    expect(matmulF32(a.view, A, b.view, B)).not.toBeNull();
    const empty = { ...b.view, shape: [1, 0, 5], strides: [0, 5, 1] };
    expect(matmulF32({ ...a.view, shape: [1, 3, 0], strides: [0, 0, 1] }, A, empty, B)).toBeNull();
    expect(backend.readSync(backend.matmul({ ...a.view, shape: [1, 3, 0], strides: [0, 0, 1] }, empty))).toEqual(new Float32Array(15));
  });
});

describe('in a separate process', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const index = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const runChild = (code: string, env: Record<string, string> = {}): string => execFileSync(
    process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code],
    { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 },
  );

  it('TITANS_CPU_WASM=0 turns the kernels off', () => {
    const out = runChild(`import { cpuInfo } from ${JSON.stringify(index)}; console.log(JSON.stringify(cpuInfo()));`, { TITANS_CPU_WASM: '0' });
    expect(JSON.parse(out.trim())).toMatchObject({ simd: true, wasm: false });
  });

  it('worker threads do not keep the process alive', () => {
    const code = `
      import { configureCpu, cpuInfo, matmul, ones, startCpuWorkers } from ${JSON.stringify(index)};
      configureCpu({ threads: 2, parallelMinFlops: 0 });
      startCpuWorkers(20000);
      const c = matmul(ones([64, 64]), ones([64, 64]));
      console.log(JSON.stringify({ info: cpuInfo(), first: c.dataSync()[0] }));
    `;
    const started = Date.now();
    const out = JSON.parse(runChild(code, { TITANS_CPU_THREADS: '2' }).trim()) as { info: { workersReady: number }; first: number };
    expect(out.first).toBe(64);
    expect(out.info.workersReady).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
