// Elementwise primitives (unary, binary, where, cast) against the CPU reference, over
// strided, offset and broadcast views, and the deferred fusion that compiles chains of them
// into single kernels.
import { cpuBackend, type BinaryOp, type Storage, type UnaryOp, type View } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { ELEMENTWISE, Random, expectClose, expectMatches, makeBackend, on, upload, view } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

const UNARY: readonly UnaryOp[] = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'tanh', 'sigmoid', 'relu', 'erf', 'recip', 'sin', 'cos', 'floor', 'softplus', 'square', 'copy',
];
const POSITIVE = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt']);
const BINARY: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];

describe('unary', () => {
  for (const op of UNARY) {
    it(`${op} on contiguous and transposed float32 views`, async () => {
      const rng = new Random(op.length * 97 + 1);
      const data = POSITIVE.has(op) ? rng.uniform(17 * 3, 0.01, 5) : rng.uniform(17 * 3, -4, 4);
      const x = upload(gpu, data);
      for (const v of [view(x.gpu, [17, 3]), view(x.gpu, [3, 17], [1, 3])]) {
        const g = gpu.unary(op, v, 'float32');
        const c = cpuBackend.unary(op, on(v, x.cpu), 'float32');
        await expectMatches(gpu, g, c, ELEMENTWISE, op);
      }
    });
  }

  it('matches the CPU on special values (NaN, infinities, zeros, large magnitudes)', async () => {
    const specials = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 40, -40, 100, -100, 1e-4, -1e-4, 0.5, -0.5]);
    const x = upload(gpu, specials);
    for (const op of ['neg', 'abs', 'sign', 'relu', 'tanh', 'sigmoid', 'softplus', 'erf', 'exp', 'square', 'floor', 'recip'] as const) {
      const v = view(x.gpu, [specials.length]);
      await expectMatches(gpu, gpu.unary(op, v, 'float32'), cpuBackend.unary(op, on(v, x.cpu), 'float32'), ELEMENTWISE, `${op} specials`);
    }
  });

  it('computes int32 outputs like the CPU (integer ops stay exact, others truncate)', async () => {
    const rng = new Random(5);
    const ints = upload(gpu, rng.ints(33, -1000, 1000));
    const floats = upload(gpu, rng.uniform(33, -6, 6));
    for (const op of ['neg', 'abs', 'sign', 'relu', 'square', 'copy', 'exp', 'floor'] as const) {
      for (const x of [ints, floats]) {
        const v = view(x.gpu, [33]);
        await expectMatches(gpu, gpu.unary(op, v, 'int32'), cpuBackend.unary(op, on(v, x.cpu), 'int32'), ELEMENTWISE, `${op} -> int32`);
      }
    }
    const v = view(ints.gpu, [33]);
    await expectMatches(gpu, gpu.unary('sqrt', v, 'float32'), cpuBackend.unary('sqrt', on(v, ints.cpu), 'float32'), ELEMENTWISE, 'sqrt int32 -> float32');
  });
});

describe('binary', () => {
  for (const op of BINARY) {
    it(`${op} with broadcast, transposed and offset views`, async () => {
      const rng = new Random(op.length * 31 + 7);
      const lo = op === 'pow' ? 0.1 : -3;
      const a = upload(gpu, rng.uniform(65 * 3 + 5, lo, 3));
      const b = upload(gpu, rng.uniform(65, -3, 3));
      // a: [3, 65] read at offset 5; b: a [65] row broadcast over 3 rows, then a transposed pair.
      const cases: [View, View][] = [
        [view(a.gpu, [3, 65], [65, 1], 5), view(b.gpu, [3, 65], [0, 1])],
        [view(a.gpu, [65, 3], [1, 65], 5), view(b.gpu, [65, 3], [1, 0])],
        [view(b.gpu, [5, 13], [13, 1]), view(a.gpu, [5, 13], [1, 5])],
      ];
      for (const [va, vb] of cases) {
        for (const out of op === 'eq' || op === 'lt' ? (['float32', 'int32'] as const) : (['float32'] as const)) {
          const g = gpu.binary(op, va, vb, out);
          const c = cpuBackend.binary(op, on(va, a.cpu.size === va.storage.size ? a.cpu : b.cpu), on(vb, vb.storage === b.gpu ? b.cpu : a.cpu), out);
          await expectMatches(gpu, g, c, ELEMENTWISE, `${op} -> ${out}`);
        }
      }
    });
  }

  it('pow follows Math.pow for negative bases, zero and integer exponents', async () => {
    const xs = Float32Array.from([-2, -2, -2, 0, 0, 0, 1, -1, 3, 2.5, -0.5, 10, NaN, 1]);
    const ys = Float32Array.from([3, 2, 0.5, 2, 0, -1, 7.5, 5, -2, 0.5, 3, 10, 0, NaN]);
    const x = upload(gpu, xs);
    const y = upload(gpu, ys);
    const vx = view(x.gpu, [xs.length]);
    const vy = view(y.gpu, [ys.length]);
    await expectMatches(gpu, gpu.binary('pow', vx, vy, 'float32'), cpuBackend.binary('pow', on(vx, x.cpu), on(vy, y.cpu), 'float32'), ELEMENTWISE, 'pow');
  });

  it('maximum/minimum keep the CPU NaN rule (x >= y ? x : y)', async () => {
    const xs = Float32Array.from([NaN, 1, NaN, -Infinity, 2]);
    const ys = Float32Array.from([1, NaN, NaN, 3, 2]);
    const x = upload(gpu, xs);
    const y = upload(gpu, ys);
    for (const op of ['maximum', 'minimum', 'eq', 'ne', 'lt', 'ge'] as const) {
      const vx = view(x.gpu, [5]);
      const vy = view(y.gpu, [5]);
      await expectMatches(gpu, gpu.binary(op, vx, vy, 'float32'), cpuBackend.binary(op, on(vx, x.cpu), on(vy, y.cpu), 'float32'), ELEMENTWISE, op);
    }
  });

  it('int32 arithmetic: wrapping add/mul, truncating division, division by zero is 0, integer pow', async () => {
    const rng = new Random(11);
    const xs = rng.ints(64, -50, 50);
    const ys = rng.ints(64, -6, 7);
    xs[0] = 2147483647; ys[0] = 1; // add wraps
    xs[1] = 7; ys[1] = 0; // division by zero
    const x = upload(gpu, xs);
    const y = upload(gpu, ys);
    for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'gt'] as const) {
      const vx = view(x.gpu, [8, 8]);
      const vy = view(y.gpu, [8, 8], [1, 8]);
      const g = gpu.binary(op, vx, vy, 'int32');
      const c = cpuBackend.binary(op, on(vx, x.cpu), on(vy, y.cpu), 'int32');
      await expectMatches(gpu, g, c, { rtol: 0, atol: 0 }, `int32 ${op}`);
    }
    // Mixed: int32 operands into a float32 result divide exactly.
    const vx = view(x.gpu, [64]);
    const vy = view(y.gpu, [64]);
    await expectMatches(gpu, gpu.binary('div', vx, vy, 'float32'), cpuBackend.binary('div', on(vx, x.cpu), on(vy, y.cpu), 'float32'), ELEMENTWISE, 'int/int -> float');
  });
});

describe('where and cast', () => {
  it('where with a broadcast condition (NaN counts as true, like x !== 0)', async () => {
    const rng = new Random(3);
    const condData = Float32Array.from({ length: 17 }, (_, i) => (i % 3 === 0 ? 0 : i % 5 === 0 ? NaN : 1));
    const cond = upload(gpu, condData);
    const a = upload(gpu, rng.uniform(3 * 17));
    const b = upload(gpu, rng.uniform(17));
    const vc = view(cond.gpu, [3, 17], [0, 1]);
    const va = view(a.gpu, [3, 17]);
    const vb = view(b.gpu, [3, 17], [0, 1]);
    await expectMatches(gpu, gpu.where(vc, va, vb), cpuBackend.where(on(vc, cond.cpu), on(va, a.cpu), on(vb, b.cpu)), ELEMENTWISE, 'where');
    const icond = upload(gpu, Int32Array.from({ length: 17 }, (_, i) => i % 2));
    const vic = view(icond.gpu, [3, 17], [0, 1]);
    await expectMatches(gpu, gpu.where(vic, va, vb), cpuBackend.where(on(vic, icond.cpu), on(va, a.cpu), on(vb, b.cpu)), ELEMENTWISE, 'where int cond');
  });

  it('cast truncates toward zero and maps NaN to 0; int32 -> float32 is exact', async () => {
    const xs = Float32Array.from([1.9, -1.9, 0.5, -0.5, NaN, 123456.7, -7, 3]);
    const x = upload(gpu, xs);
    const v = view(x.gpu, [8]);
    await expectMatches(gpu, gpu.cast(v, 'int32'), cpuBackend.cast(on(v, x.cpu), 'int32'), { rtol: 0, atol: 0 }, 'f32->i32');
    const i = upload(gpu, Int32Array.from([5, -3, 16777216, 0]));
    const vi = view(i.gpu, [2, 2], [1, 2]);
    await expectMatches(gpu, gpu.cast(vi, 'float32'), cpuBackend.cast(on(vi, i.cpu), 'float32'), { rtol: 0, atol: 0 }, 'i32->f32');
  });

  it('rejects float64 with a clear error', () => {
    expect(gpu.supports('float64')).toBe(false);
    expect(gpu.supports('float32')).toBe(true);
    expect(gpu.supports('int32')).toBe(true);
    expect(() => gpu.fromArray(new Float64Array([1]), 'float64')).toThrow(/float64 is not supported/);
    expect(() => gpu.fill(3, 1, 'float64')).toThrow(/float64 is not supported/);
  });
});

describe('fusion', () => {
  /** gelu-ish chain: 0.5 x (1 + erf(x / sqrt 2)) * scale + bias, built from primitives. */
  function chain(backend: typeof cpuBackend | WebGPUBackend, x: Storage, bias: Storage, disposeIntermediates: boolean): Storage {
    const n = x.size;
    const half = backend.fill(1, 0.5, 'float32');
    const invSqrt2 = backend.fill(1, Math.SQRT1_2, 'float32');
    const one = backend.fill(1, 1, 'float32');
    const s = (st: Storage): View => view(st, [n]);
    const bcast = (st: Storage): View => view(st, [n], [0]);
    const t1 = backend.binary('mul', s(x), bcast(invSqrt2), 'float32');
    const t2 = backend.unary('erf', s(t1), 'float32');
    const t3 = backend.binary('add', s(t2), bcast(one), 'float32');
    const t4 = backend.binary('mul', s(t3), s(x), 'float32');
    const t5 = backend.binary('mul', s(t4), bcast(half), 'float32');
    const out = backend.binary('add', s(t5), view(bias, [n], [1]), 'float32');
    if (disposeIntermediates) for (const t of [half, invSqrt2, one, t1, t2, t3, t4, t5]) backend.dispose(t);
    return out;
  }

  it('compiles a chain of unary/binary ops into one kernel', async () => {
    const rng = new Random(21);
    const x = upload(gpu, rng.uniform(1000, -3, 3));
    const bias = upload(gpu, rng.uniform(1000));
    await gpu.sync();
    const before = gpu.stats().dispatches;
    const g = chain(gpu, x.gpu, bias.gpu, true);
    expect(gpu.stats().dispatches - before, 'nothing runs before the value is needed').toBe(0);
    const c = chain(cpuBackend, x.cpu, bias.cpu, true);
    await expectMatches(gpu, g, c, ELEMENTWISE, 'fused chain');
    expect(gpu.stats().dispatches - before, 'one fused kernel').toBe(1);
  });

  it('writes still-referenced intermediates from the same kernel instead of recomputing', async () => {
    const rng = new Random(22);
    const xs = rng.uniform(257, -2, 2);
    const x = upload(gpu, xs);
    const before = gpu.stats().dispatches;
    const a = gpu.unary('tanh', view(x.gpu, [257]), 'float32');
    const b = gpu.unary('exp', view(a, [257]), 'float32');
    const outG = await gpu.read(b);
    expect(gpu.stats().dispatches - before).toBe(1);
    const aG = await gpu.read(a); // already written by the fused kernel
    expect(gpu.stats().dispatches - before).toBe(1);
    const ac = cpuBackend.unary('tanh', view(x.cpu, [257]), 'float32');
    expectClose(aG, cpuBackend.readSync(ac));
    expectClose(outG, cpuBackend.readSync(cpuBackend.unary('exp', view(ac, [257]), 'float32')));
  });

  it('gives the same values as eager evaluation', async () => {
    const eager = await makeBackend({ fusion: false });
    try {
      const rng = new Random(23);
      const xs = rng.uniform(300, -3, 3);
      const bs = rng.uniform(300);
      const fused = chain(gpu, gpu.fromArray(xs, 'float32'), gpu.fromArray(bs, 'float32'), false);
      const before = eager.stats().dispatches;
      const plain = chain(eager, eager.fromArray(xs, 'float32'), eager.fromArray(bs, 'float32'), false);
      expect(eager.stats().dispatches - before).toBeGreaterThanOrEqual(6);
      expectClose(await gpu.read(fused), await eager.read(plain), { rtol: 1e-6, atol: 1e-7 }, 'fused vs eager');
    } finally {
      eager.destroy();
    }
  });

  it('evaluates a lazy node first when it is read through a transposing or broadcasting view', async () => {
    const rng = new Random(24);
    const x = upload(gpu, rng.uniform(3 * 17));
    const lazyG = gpu.unary('exp', view(x.gpu, [3, 17]), 'float32');
    const lazyC = cpuBackend.unary('exp', view(x.cpu, [3, 17]), 'float32');
    const vt = view(lazyG, [17, 3], [1, 17]);
    const vb = view(lazyG, [2, 17], [0, 1], 17);
    const g = gpu.binary('add', vt, view(lazyG, [17, 3], [1, 17]), 'float32');
    const g2 = gpu.unary('neg', vb, 'float32');
    await expectMatches(gpu, g, cpuBackend.binary('add', on(vt, lazyC), on(vt, lazyC), 'float32'), ELEMENTWISE, 'transposed lazy');
    await expectMatches(gpu, g2, cpuBackend.unary('neg', on(vb, lazyC), 'float32'), ELEMENTWISE, 'broadcast lazy');
  });

  it('handles more inputs than one kernel can bind, and very long chains', async () => {
    const rng = new Random(25);
    const n = 129;
    const inputs = Array.from({ length: 14 }, () => upload(gpu, rng.uniform(n)));
    let accG = gpu.unary('copy', view(inputs[0]!.gpu, [n]), 'float32');
    let accC = cpuBackend.unary('copy', view(inputs[0]!.cpu, [n]), 'float32');
    for (let i = 1; i < inputs.length; i++) {
      const ng = gpu.binary(i % 2 ? 'add' : 'mul', view(accG, [n]), view(inputs[i]!.gpu, [n]), 'float32');
      const nc = cpuBackend.binary(i % 2 ? 'add' : 'mul', view(accC, [n]), view(inputs[i]!.cpu, [n]), 'float32');
      gpu.dispose(accG);
      accG = ng;
      accC = nc;
    }
    for (let i = 0; i < 100; i++) {
      const ng = gpu.unary(i % 2 ? 'tanh' : 'sin', view(accG, [n]), 'float32');
      accC = cpuBackend.unary(i % 2 ? 'tanh' : 'sin', view(accC, [n]), 'float32');
      gpu.dispose(accG);
      accG = ng;
    }
    await expectMatches(gpu, accG, accC, { rtol: 1e-4, atol: 1e-5 }, 'wide and deep chain');
  });

  it('keeps inputs alive until a deferred op has run, and frees everything on dispose', async () => {
    await gpu.sync();
    const base = gpu.liveBytes();
    const inUse = gpu.stats().pool.inUseBytes;
    const rng = new Random(26);
    const xs = rng.uniform(50);
    const x = gpu.fromArray(xs, 'float32');
    const y = gpu.unary('square', view(x, [50]), 'float32');
    gpu.dispose(x); // y has not run yet: x's buffer must survive
    expect(gpu.liveBytes()).toBe(base + 200);
    expectClose(await gpu.read(y), xs.map((v) => v * v));
    gpu.dispose(y);
    gpu.dispose(y); // idempotent
    expect(gpu.liveBytes()).toBe(base);
    expect(gpu.stats().pool.inUseBytes).toBe(inUse);
    expect(() => gpu.unary('neg', view(y, [50]), 'float32')).toThrow(/disposed/);
  });
});
