// Memory of compiled plans (compile/trace.ts, compile/plan.ts): nothing of the traced run stays
// reachable through the compiled function (every intermediate of its forward and backward pass,
// its result tensors, the inputs of earlier calls), the bytes a compiled function holds between
// calls do not grow with the length of the program, the planned peak follows the live set (a
// chain of N large intermediates whose backward pass needs none of them plans a peak of a few
// intermediates, whatever N), and replays with views, aliases, state updates and a retrace
// still equal eager bit for bit.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expectSameBits } from '@titans/test-utils';
import { describe, expect, test, vi } from 'vitest';
import {
  CpuBackend, Rng, add, compile, grad, isTracing, keep, matmul, optim, softmax, tidy, withBackend, type Storage, type Tensor,
} from '../src/index.js';
import { Plan } from '../src/compile/plan.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Lets the current job end (WeakRefs made in it are kept until then), then collects. */
async function collected(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  collectGarbage();
  collectGarbage();
}

const storageOf = (t: Tensor): Storage => t.sharedStorage().storage;

/** h = h @ W_i + b_i for each layer, loss mean(h^2), gradient of the input only. */
function linearChain(backend: CpuBackend, layers: number, rows: number, dim: number): { step: (x: Tensor) => Tensor; weights: Tensor[] } {
  const rng = new Rng(3);
  const weights = withBackend(backend, () => Array.from({ length: layers }, () => keep(rng.normal([dim, dim], 0, 1 / Math.sqrt(dim)))));
  const biases = withBackend(backend, () => Array.from({ length: layers }, () => keep(rng.normal([dim], 0, 0.1))));
  const step = (x: Tensor): Tensor => grad((x: Tensor) => {
    let h = x;
    for (let i = 0; i < layers; i++) h = add(matmul(h, weights[i]!), biases[i]!);
    return h.square().mean();
  })(x);
  return { step, weights: [...weights, ...biases] };
}

describe('compiled plans: what stays reachable', () => {
  test('no storage of the traced runs (forward, backward, results) stays reachable through the compiled function', async () => {
    const rng = new Rng(1);
    const w = Array.from({ length: 6 }, () => keep(rng.normal([32, 32], 0, 0.2)));
    const traced: WeakRef<Storage>[] = [];
    const f = (x: Tensor): Tensor[] => grad((ws: Tensor[]) => {
      let h = x;
      for (const wi of ws) {
        h = h.matmul(wi).tanh();
        if (isTracing()) traced.push(new WeakRef(storageOf(h)));
      }
      const loss = h.square().mean();
      if (isTracing()) traced.push(new WeakRef(storageOf(loss)));
      return loss;
    })(w);
    const compiled = compile(f);
    const x = keep(rng.normal([16, 32]));
    // The first call (traced) and the second (traced again, to verify): their results, then two replays.
    const first = compiled(x);
    const results = first.map((t) => new WeakRef(storageOf(t)));
    for (const t of first) t.dispose();
    tidy(() => { compiled(x); });
    for (let i = 0; i < 2; i++) tidy(() => expectSameBits(compiled(x), f(x), `replay ${i}`));
    expect(compiled.stats().replays).toBe(2);
    expect(traced.length).toBe(14); // 7 per trace
    await collected();
    expect(traced.filter((r) => r.deref() !== undefined).length).toBe(0);
    expect(results.filter((r) => r.deref() !== undefined).length).toBe(0);
    // The plan still replays, and still equals eager.
    tidy(() => expectSameBits(compiled(x), f(x), 'after collection'));
    compiled.dispose();
    x.dispose();
    for (const t of w) t.dispose();
  });

  test('the inputs of earlier replays are not kept by the plan', async () => {
    const rng = new Rng(2);
    const w = keep(rng.normal([24, 24]));
    // A backend call (matmul, rows reduction) between fused chains: its reused argument objects.
    const compiled = compile((x: Tensor, y: Tensor): Tensor => softmax(x.matmul(w).add(y), -1).sum(0));
    const inputs: WeakRef<Storage>[] = [];
    for (let call = 0; call < 4; call++) {
      const x = rng.normal([8, 24]);
      const y = rng.normal([8, 24]);
      inputs.push(new WeakRef(storageOf(x)), new WeakRef(storageOf(y)));
      tidy(() => { compiled(x, y); });
      x.dispose();
      y.dispose();
    }
    expect(compiled.stats().replays).toBe(2);
    await collected();
    expect(inputs.filter((r) => r.deref() !== undefined).length).toBe(0);
    compiled.dispose();
    w.dispose();
  });

  test('the bytes a compiled function holds between calls do not grow with the number of intermediates', async () => {
    const held = async (layers: number): Promise<number> => {
      const backend = new CpuBackend();
      const { step, weights } = linearChain(backend, layers, 256, 256);
      const x = withBackend(backend, () => keep(new Rng(4).normal([256, 256])));
      await collected();
      const before = process.memoryUsage().arrayBuffers;
      const compiled = compile(step);
      for (let i = 0; i < 4; i++) withBackend(backend, () => tidy(() => { compiled(x); }));
      await collected();
      const bytes = process.memoryUsage().arrayBuffers - before;
      compiled.dispose();
      x.dispose();
      for (const t of weights) t.dispose();
      return bytes;
    };
    const intermediate = 256 * 256 * 4;
    const short = await held(4);
    const long = await held(24);
    // The old planner kept every intermediate of the traced runs (at least 2 x 24 x 2 of them here).
    expect(long).toBeLessThan(8 * intermediate);
    expect(long - short).toBeLessThan(2 * intermediate);
  });
});

describe('compiled plans: planned peak', () => {
  /** The most live bytes of `backend` at once while `run` runs eagerly (sampled after every primitive). */
  function eagerPeak(backend: CpuBackend, run: () => void): number {
    const proto = CpuBackend.prototype as unknown as Record<string, unknown>;
    const own = backend as unknown as Record<string, unknown>;
    const names = Object.getOwnPropertyNames(proto).filter((n) => typeof proto[n] === 'function' && !['constructor', 'data', 'dispose', 'liveBytes', 'readSync', 'read', 'supports'].includes(n));
    let peak = backend.liveBytes();
    for (const n of names) {
      const f = proto[n] as (...a: unknown[]) => unknown;
      own[n] = (...a: unknown[]) => {
        const r = f.apply(backend, a);
        peak = Math.max(peak, backend.liveBytes());
        return r;
      };
    }
    try {
      run();
    } finally {
      for (const n of names) delete own[n];
    }
    return peak;
  }

  test('a chain of N large intermediates whose backward pass needs none plans the same peak for any N', () => {
    const peaks = [4, 16].map((layers) => {
      const backend = new CpuBackend();
      const { step, weights } = linearChain(backend, layers, 128, 128);
      const x = withBackend(backend, () => keep(new Rng(4).normal([128, 128])));
      const compiled = compile(step);
      for (let i = 0; i < 3; i++) withBackend(backend, () => tidy(() => expectSameBits(compiled(x), step(x), `${layers} layers, call ${i}`)));
      const plan = compiled.stats().plan;
      compiled.dispose();
      x.dispose();
      for (const t of weights) t.dispose();
      return plan.peakBytes;
    });
    const intermediate = 128 * 128 * 4;
    expect(peaks[0]).toBeGreaterThan(0);
    expect(peaks[1]).toBe(peaks[0]);
    expect(peaks[1]).toBeLessThanOrEqual(6 * intermediate);
  });

  test('with activations saved for the backward pass, the planned peak is about the eager peak', () => {
    const backend = new CpuBackend();
    const rng = new Rng(5);
    const layers = 12;
    const ws = withBackend(backend, () => Array.from({ length: layers }, () => keep(rng.normal([128, 128], 0, 0.1))));
    const x = withBackend(backend, () => keep(rng.normal([256, 128])));
    const step = (x: Tensor): Tensor[] => grad((w: Tensor[]) => {
      let h = x;
      for (const wi of w) h = h.matmul(wi).tanh();
      return h.square().mean();
    })(ws);
    const start = backend.liveBytes();
    const eager = eagerPeak(backend, () => withBackend(backend, () => tidy(() => { step(x); }))) - start;
    const compiled = compile(step);
    for (let i = 0; i < 3; i++) withBackend(backend, () => tidy(() => expectSameBits(compiled(x), step(x), `call ${i}`)));
    const { peakBytes, buffers, arenaBytes } = compiled.stats().plan;
    const activation = 256 * 128 * 4;
    // Backward needs every tanh output: the live set holds about one per layer either way.
    expect(eager).toBeGreaterThan(layers * activation);
    expect(peakBytes).toBeGreaterThan(layers * activation);
    expect(peakBytes).toBeLessThanOrEqual(eager * 1.25);
    expect(arenaBytes).toBeLessThanOrEqual(peakBytes);
    expect(buffers).toBeGreaterThan(0);
    compiled.dispose();
    x.dispose();
    for (const t of ws) t.dispose();
  });
});

describe('compiled plans: several signatures', () => {
  test('the plan of the signature used before drops its pooled arrays; replays after that still equal eager', () => {
    const idle = vi.spyOn(Plan.prototype, 'idle');
    const backend = new CpuBackend();
    const { step, weights } = linearChain(backend, 6, 64, 64);
    const compiled = compile(step);
    const rng = new Rng(10);
    const calls: number[] = [64, 64, 64, 48, 48, 48, 64, 64, 48];
    const idleAt: number[] = [];
    calls.forEach((rows, i) => {
      const before = idle.mock.calls.length;
      const x = withBackend(backend, () => rng.normal([rows, 64]));
      withBackend(backend, () => tidy(() => expectSameBits(compiled(x), step(x), `call ${i} (${rows} rows)`)));
      x.dispose();
      if (idle.mock.calls.length > before) idleAt.push(i);
    });
    // The second call of a signature replaces its first plan (verified), which is not idled.
    expect(idleAt).toEqual([3, 6, 8]);
    expect(compiled.stats().pool.bytes).toBeGreaterThan(0);
    idle.mockRestore();
    compiled.dispose();
    for (const t of weights) t.dispose();
  });
});

describe('compiled plans: generated SIMD matmuls', () => {
  test.each([true, false])('products come from the pool and go back at their last use (pool: %s), equal to eager', (pool) => {
    const rng = new Rng(9);
    const ws = Array.from({ length: 10 }, () => keep(rng.normal([64, 64], 0, 0.15)));
    const step = (x: Tensor): Tensor[] => grad((w: Tensor[]) => {
      let h = x;
      for (const wi of w) h = h.matmul(wi).tanh();
      return h.square().mean();
    })(ws);
    const compiled = compile(step, { pool });
    for (let i = 0; i < 5; i++) {
      const x = rng.normal([48, 64]);
      tidy(() => expectSameBits(compiled(x), step(x), `call ${i}`));
      x.dispose();
    }
    const { plan, pool: stats } = compiled.stats();
    expect(plan.simdMatmuls).toBeGreaterThan(0);
    if (pool) {
      // Three replays: the products of the later ones come from arrays given back. Only the
      // call sites of the gradients (results) keep arrays of their own.
      expect(stats.reused).toBeGreaterThan(plan.simdMatmuls);
      expect(plan.buffers).toBeLessThan(2 * (plan.simdMatmuls - ws.length));
    } else {
      expect(plan.buffers).toBeGreaterThanOrEqual(2 * plan.simdMatmuls);
    }
    compiled.dispose();
    for (const t of ws) t.dispose();
  });
});

describe('compiled plans: views, aliases and state', () => {
  test('views of intermediates read late, results that alias each other or an input, state updated from a view, and a retrace equal eager', () => {
    const rng = new Rng(6);
    const p = keep(rng.normal([6, 8]));
    const pEager = keep(p.clone());
    const f = (param: Tensor) => (x: Tensor): Tensor[] => {
      const h = x.matmul(param.T).tanh(); // [n, 6]
      const view = h.T.narrow(0, 1, 3); // a strided view of an intermediate, read at the very end
      let z = h;
      for (let i = 0; i < 5; i++) z = softmax(z.mul(1.5).exp().add(h.sum(-1, true)), -1); // other large values in between
      const g = grad((q: Tensor) => q.matmul(x.T).mul(z.T.sum(-1, true)).square().mean())(param);
      param.assign(param.sub(g.mul(0.01)).T.contiguous().T); // state written from a view
      return [view.add(z.T.narrow(0, 0, 3)), z, z, x, h.T];
    };
    const compiled = compile(f(p));
    const eager = f(pEager);
    for (const rows of [5, 5, 5, 5, 7, 7, 7]) {
      const x = rng.normal([rows, 8]);
      tidy(() => expectSameBits(compiled(x), eager(x), `rows ${rows}`));
      expectSameBits(p, pEager, `parameter after rows ${rows}`);
      x.dispose();
    }
    const stats = compiled.stats();
    expect(stats.traces).toBe(4); // two signatures, each traced and verified
    expect(stats.replays).toBe(3);
    compiled.dispose();
    p.dispose();
    pEager.dispose();
  });

  test('an optimizer step: moments and parameters written in place at every replay equal eager', () => {
    const rng = new Rng(7);
    const make = (): Tensor[] => { const r = new Rng(8); return [keep(r.normal([16, 16], 0, 0.3)), keep(r.normal([16]))]; };
    const params = make();
    const paramsEager = make();
    const step = (ps: Tensor[], opt: optim.AdamW) => (x: Tensor): Tensor => {
      const loss = x.matmul(ps[0]!).add(ps[1]!).tanh().square().mean();
      opt.step(grad((q: Tensor[]) => x.matmul(q[0]!).add(q[1]!).tanh().square().mean())(ps));
      return loss;
    };
    const opt = new optim.AdamW(params, { lr: 0.01 });
    const optEager = new optim.AdamW(paramsEager, { lr: 0.01 });
    const compiled = compile(step(params, opt));
    const eager = step(paramsEager, optEager);
    for (let i = 0; i < 5; i++) {
      const x = rng.normal([12, 16]);
      tidy(() => expectSameBits(compiled(x), eager(x), `loss ${i}`));
      params.forEach((t, j) => expectSameBits(t, paramsEager[j]!, `parameter ${j}, step ${i}`));
      x.dispose();
    }
    compiled.dispose();
    for (const t of [...params, ...paramsEager]) t.dispose();
  });
});
