// Eager float32 exp, sigmoid, silu and the silu gradient on WebAssembly SIMD (src/cpu/unary-exp.ts)
// against the JavaScript kernels they replace, bit for bit (any NaN for a NaN): special values (infinities, NaN,
// signed zeros, subnormals, |x| past float32 exp's range), sizes around the threshold and the
// size buckets, sizes past the chains' job size (still on this thread), offset views (fast) and strided or broadcast views (which
// fall back), and the ops and their gradients through the public API.
import { afterAll, describe, expect, it } from 'vitest';
import type { Storage, View } from '../src/backend.js';
import { CpuBackend, setUnaryExpF32 } from '../src/cpu/backend.js';
import { cachedJobModuleCount } from '../src/cpu/wasm/engine.js';
import { MAX_ELEMENTS, MIN_ELEMENTS, bucketOf, unaryExpStats, useSimdExpKernels } from '../src/cpu/unary-exp.js';
import { Rng, compile, configureCpu, cpuConfig, exp, grad, sigmoid, silu, tensor, type Tensor } from '../src/index.js';

const backend = new CpuBackend();
const rng = new Rng(20261208);
const saved = cpuConfig();
afterAll(() => {
  configureCpu(saved);
  useSimdExpKernels();
});

const SPECIAL = [
  0, -0, 1, -1, Infinity, -Infinity, NaN, 1e-40, -1e-40, 1.4e-45, -1.4e-45, 1.1754942e-38, -1.1754942e-38, 2 ** -28, -(2 ** -28), 2 ** -29,
  88, 88.72, 88.8, -87.3, -88.8, 89, -89, 100, -100, 103.9, -103.9, 104, -104, 200, -200, 700, -700, 710, -746, 3.4e38, -3.4e38,
  0.34657359, -0.34657359, 1.03972077, -1.03972077,
];

/** Float32 values: special ones spread over random ones of several ranges. */
function values(n: number): Float32Array {
  const x = new Float32Array(n);
  const u = rng.uniformArray(2 * n);
  for (let i = 0; i < n; i++) {
    const a = u[2 * i]!;
    const b = u[2 * i + 1]!;
    x[i] = a < 0.1 ? SPECIAL[Math.floor(b * SPECIAL.length)]! : a < 0.5 ? 40 * b - 20 : a < 0.8 ? 300 * b - 150 : 2 * b - 1;
  }
  return x;
}

type Op = 'exp' | 'sigmoid' | 'silu' | 'siluBackward';
const OPS: Op[] = ['exp', 'sigmoid', 'silu', 'siluBackward'];

/** The JavaScript expression of each op over doubles (cpu/backend.ts UNARY_EXPR, rows.ts). */
function reference(op: Op, v: number, g: number): number {
  switch (op) {
    case 'exp': return Math.exp(v);
    case 'sigmoid': return 1 / (1 + Math.exp(-v));
    case 'silu': return v / (1 + Math.exp(-v));
    case 'siluBackward': {
      const s = 1 / (1 + Math.exp(-v));
      return g * s * (1 + v * (1 - s));
    }
  }
}

function storage(x: Float32Array): Storage {
  return backend.fromArray(x, 'float32');
}

function runOp(op: Op, x: View, g: Storage | null): Float32Array {
  let out: Storage;
  if (op === 'silu') out = backend.silu(x.storage);
  else if (op === 'siluBackward') out = backend.siluBackward(x.storage, g!);
  else out = backend.unary(op, x, 'float32');
  return backend.readSync(out) as Float32Array;
}

/** The op on the SIMD kernels and on the JavaScript kernel, and how many SIMD runs it took. */
function both(op: Op, x: View, g: Storage | null): { simd: Float32Array; js: Float32Array; runs: number } {
  useSimdExpKernels();
  const before = unaryExpStats.runs;
  const simd = runOp(op, x, g);
  const runs = unaryExpStats.runs - before;
  setUnaryExpF32(null, null);
  try {
    return { simd, js: runOp(op, x, g), runs };
  } finally {
    useSimdExpKernels();
  }
}

function expectSameBits(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let first = -1;
  // NaN against NaN of any sign or payload: JavaScript fixes neither (x86 keeps the first
  // operand's in a product of two NaNs, and which one is first is the compiler's choice).
  for (let i = 0; i < a.length && first < 0; i++) if (a[i] !== b[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) first = i;
  expect(first, first < 0 ? '' : `element ${first}: ${got[first]} vs ${want[first]}`).toBe(-1);
}

const contiguous = (s: Storage, n: number): View => ({ storage: s, shape: [n], strides: [1], offset: 0 });

describe('eager exp-based float32 ops on WebAssembly SIMD', () => {
  it('buckets sizes up by at most a quarter, in multiples of four', () => {
    for (let n = 4; n < 100000; n += 1 + Math.floor(n / 7)) {
      const b = bucketOf(n);
      expect(b).toBeGreaterThanOrEqual(n);
      expect(b).toBeLessThanOrEqual(Math.ceil(n * 1.25) + 4);
      expect(b % 4).toBe(0);
      expect(bucketOf(b)).toBe(b);
    }
  });

  const sizes = [0, 1, 7, MIN_ELEMENTS - 1, MIN_ELEMENTS, MIN_ELEMENTS + 1, 3001, 4096, 65536, 70001];
  for (const op of OPS) {
    it(`${op}: the JavaScript kernel's bits at sizes ${sizes.join(', ')}`, () => {
      for (const n of sizes) {
        const xs = values(n);
        const gs = values(n);
        const g = storage(gs);
        const { simd, js, runs } = both(op, contiguous(storage(xs), n), g);
        expect(runs, `size ${n}`).toBe(n >= MIN_ELEMENTS ? 1 : 0);
        expectSameBits(simd, js);
        const want = new Float32Array(n);
        for (let i = 0; i < n; i++) want[i] = reference(op, xs[i]!, gs[i]!);
        expectSameBits(simd, want);
      }
    });
  }

  it('reads an offset view that collapses to one run; strided, transposed and broadcast views fall back', () => {
    const rows = 80;
    const cols = 64;
    const base = storage(values(2 * rows * cols + 10));
    const cases: { name: string; view: View; fast: boolean }[] = [
      { name: 'offset rows', view: { storage: base, shape: [rows, cols], strides: [cols, 1], offset: 7 }, fast: true },
      { name: 'transposed', view: { storage: base, shape: [cols, rows], strides: [1, cols], offset: 3 }, fast: false },
      { name: 'every other element', view: { storage: base, shape: [rows * cols], strides: [2], offset: 1 }, fast: false },
      { name: 'padded rows', view: { storage: base, shape: [rows, cols], strides: [cols + 2, 1], offset: 0 }, fast: false },
      { name: 'broadcast row', view: { storage: base, shape: [rows, cols], strides: [0, 1], offset: 5 }, fast: false },
      { name: 'broadcast column', view: { storage: base, shape: [rows, cols], strides: [1, 0], offset: 5 }, fast: false },
    ];
    for (const op of ['exp', 'sigmoid'] as const) {
      for (const c of cases) {
        const { simd, js, runs } = both(op, c.view, null);
        expect(runs, `${op} ${c.name}`).toBe(c.fast ? 1 : 0);
        expectSameBits(simd, js);
      }
    }
  });

  it('runs on this thread (no engine job modules) and leaves tensors past MAX_ELEMENTS to JavaScript', () => {
    const n = 200_003;
    const x = storage(values(n));
    backend.unary('sigmoid', contiguous(x, n), 'float32');
    const modules = cachedJobModuleCount();
    const before = unaryExpStats.runs;
    for (const op of ['exp', 'sigmoid'] as const) backend.unary(op, contiguous(storage(values(n + 4099)), n + 4099), 'float32');
    backend.silu(x);
    backend.siluBackward(x, x);
    expect(unaryExpStats.runs).toBe(before + 4);
    expect(cachedJobModuleCount()).toBe(modules);
    const big = MAX_ELEMENTS + 1;
    backend.unary('exp', contiguous(backend.fill(big, 0.5, 'float32'), big), 'float32');
    expect(unaryExpStats.runs).toBe(before + 4);
  });

  it('leaves other ops, dtypes and outputs to JavaScript', () => {
    const n = 4 * MIN_ELEMENTS;
    const x = values(n);
    const before = unaryExpStats.runs;
    backend.unary('tanh', contiguous(storage(x), n), 'float32');
    backend.unary('sigmoid', contiguous(backend.fromArray(Float64Array.from(x), 'float64'), n), 'float64');
    backend.unary('exp', contiguous(storage(x), n), 'int32');
    backend.silu(backend.fromArray(Float64Array.from(x), 'float64'));
    expect(unaryExpStats.runs).toBe(before);
  });

  it('runs nothing while WebAssembly is switched off, and runs again after', () => {
    const n = MIN_ELEMENTS + 37;
    const x = storage(values(n));
    configureCpu({ wasm: false });
    try {
      const before = unaryExpStats.runs;
      backend.unary('sigmoid', contiguous(x, n), 'float32');
      expect(unaryExpStats.runs).toBe(before);
    } finally {
      configureCpu(saved);
    }
    const before = unaryExpStats.runs;
    backend.unary('sigmoid', contiguous(x, n), 'float32');
    expect(unaryExpStats.runs).toBe(before + 1);
  });

  it('writes into the pooled arrays of a compiled plan that replays unfused ops', () => {
    const x = tensor(values(5000), [50, 100]);
    const f = (t: Tensor): Tensor => sigmoid(exp(t.mul(0.01)).add(1)).silu();
    const step = compile(f, { fuse: false });
    try {
      step(x).dispose(); // trace
      const want = f(x).dataSync() as Float32Array;
      for (let i = 0; i < 3; i++) {
        const before = unaryExpStats.runs;
        const y = step(x);
        expect(unaryExpStats.runs - before).toBe(3);
        expectSameBits(y.dataSync() as Float32Array, want);
        y.dispose();
      }
    } finally {
      step.dispose();
    }
  });

  it('gives the public ops and the silu gradient their JavaScript bits', () => {
    const shape = [3, 37, 41]; // 4551 elements: a bucket longer than the tensor
    const xs = values(3 * 37 * 41);
    const fns: [string, (t: Tensor) => Tensor][] = [
      ['exp', (t) => exp(t)],
      ['sigmoid', (t) => sigmoid(t)],
      ['silu', (t) => silu(t)],
      ['silu gradient', (t) => grad((q: Tensor) => silu(q).mul(t).sum())(t)],
      ['sigmoid of a transposed view', (t) => sigmoid(t.transpose(0, 2))],
    ];
    for (const [name, f] of fns) {
      const x = tensor(xs, shape);
      useSimdExpKernels();
      const simd = f(x).dataSync() as Float32Array;
      setUnaryExpF32(null, null);
      try {
        const js = f(x).dataSync() as Float32Array;
        expect(simd.length, name).toBe(js.length);
        expectSameBits(simd, js);
      } finally {
        useSimdExpKernels();
      }
    }
  });
});
