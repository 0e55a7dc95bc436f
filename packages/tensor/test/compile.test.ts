// compile(fn): replays equal eager runs bit for bit on the CPU (forward, gradients, second
// order, optimizer steps on an MLP and an attention block, float32 and float64), retrace on
// a new signature, a bounded cache, clear errors for host reads and changing host values,
// and no growth of live tensors or bytes over 10,000 compiled training steps.
import { describe, expect, test } from 'vitest';
import {
  CompileError, Rng, attention, cast, clearScalarCache, compile, crossEntropy, cumsum, floor, gt, indexSelect, linearScan, padAxis, where, cpuBackend, getBackend, grad, gradients, hostScalar, keep, liveBytes,
  liveTensors, matmul, mergeHeads, silu, mseLoss, nn, optim, rmsNorm, split, splitHeads, tensor, tidy, valueAndGrad, type DType, type Tensor,
} from '@titans/tensor';

const DTYPES: DType[] = ['float32', 'float64'];

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Bit-identical (NaN equal to NaN, -0 distinct from 0). */
function expectSame(actual: Tensor | readonly Tensor[], expected: Tensor | readonly Tensor[]): void {
  const a = Array.isArray(actual) ? actual : [actual as Tensor];
  const e = Array.isArray(expected) ? expected : [expected as Tensor];
  expect(a.length).toBe(e.length);
  a.forEach((t, i) => {
    expect(t.shape).toEqual(e[i]!.shape);
    expect(t.dtype).toBe(e[i]!.dtype);
    const x = values(t);
    const y = values(e[i]!);
    const bad = x.findIndex((v, j) => !Object.is(v, y[j]));
    expect(bad, bad < 0 ? '' : `element ${bad}: ${x[bad]} vs ${y[bad]}`).toBe(-1);
  });
}

function randomTensor(rng: Rng, shape: number[], dtype: DType, scale = 1): Tensor {
  return tidy(() => rng.normal(shape, 0, scale).cast(dtype));
}

describe.each(DTYPES)('compile, %s', (dtype) => {
  test('forward: fused elementwise chains with broadcasts, views, reductions and matmul equal eager', () => {
    const rng = new Rng(1);
    const a = randomTensor(rng, [5, 7], dtype);
    const b = randomTensor(rng, [7], dtype);
    const w = randomTensor(rng, [7, 3], dtype);
    const f = (x: Tensor, y: Tensor): Tensor[] => {
      const h = x.add(y).mul(0.5).tanh().sub(x.T.T.exp().mul(0.1));
      const s = h.sum(-1, true);
      const z = h.div(s.abs().add(1)).matmul(w).sigmoid();
      const t = z.T.add(1).sqrt(); // a transposed read of a fused result
      return [z, t, s.squeeze(), h.max(0), x];
    };
    const compiled = compile(f);
    for (let call = 0; call < 4; call++) {
      const x = randomTensor(rng, [5, 7], dtype);
      tidy(() => expectSame(compiled(x, b), f(x, b)));
      x.dispose();
    }
    const stats = compiled.stats();
    expect(stats.replays).toBe(2);
    expect(stats.traces).toBe(2); // the first call and its verification
    expect(stats.plan.fusedGroups).toBeGreaterThan(0);
    expect(stats.plan.kernels).toBeLessThan(stats.plan.tracedCalls);
    for (const t of [a, b, w]) t.dispose();
  });

  test('broadcast strides, offsets and transposed inputs are part of the signature', () => {
    const rng = new Rng(2);
    const base = randomTensor(rng, [6, 4], dtype);
    const f = (x: Tensor, y: Tensor): Tensor => x.mul(y).add(x.square()).relu();
    const compiled = compile(f);
    const y = randomTensor(rng, [4], dtype);
    const variants = (): Tensor[] => [base, base.T.T, base.narrow(0, 1, 4).T.contiguous().T, base.narrow(0, 2, 3)];
    for (let round = 0; round < 3; round++) {
      tidy(() => { for (const x of variants()) expectSame(compiled(x, y), f(x, y)); });
    }
    expect(compiled.stats().replays).toBeGreaterThan(0);
  });

  test('contiguous operands at offsets (one-index kernels) and a mix with strided ones equal eager', () => {
    const rng = new Rng(5);
    const p = randomTensor(rng, [7, 5], dtype);
    const q = randomTensor(rng, [9, 5], dtype);
    const f = (x: Tensor, y: Tensor): Tensor => x.sub(y).mul(x).add(y.square());
    const compiled = compile(f);
    const pairs = (): [Tensor, Tensor][] => [
      [p.narrow(0, 2, 4), q.narrow(0, 5, 4)], [p.narrow(0, 0, 1), q.narrow(0, 8, 1)], [p.narrow(0, 1, 5), q.narrow(0, 0, 5).T.contiguous().T],
      [p.narrow(0, 3, 4), q.narrow(0, 1, 4)], [p.narrow(0, 0, 0), q.narrow(0, 0, 0)],
    ];
    for (let round = 0; round < 3; round++) {
      tidy(() => { for (const [x, y] of pairs()) expectSame(compiled(x, y), f(x, y)); });
    }
    expect(compiled.stats().replays).toBeGreaterThan(0);
  });

  test('silu and its gradient fuse with neighbouring elementwise ops and equal eager', () => {
    const rng = new Rng(8);
    const x = randomTensor(rng, [6, 5], dtype);
    const y = randomTensor(rng, [6, 5], dtype);
    const w = randomTensor(rng, [5, 5], dtype);
    const f = (p: Tensor, q: Tensor): Tensor => silu(p.mul(q).add(p)).mul(q);
    const g = (p: Tensor): Tensor => grad((v: Tensor) => silu(matmul(v, w).mul(2)).square().sum())(p);
    const cf = compile(f);
    const cg = compile(g);
    for (let round = 0; round < 3; round++) {
      tidy(() => {
        expectSame(cf(x, y), f(x, y));
        expectSame(cf(x.narrow(0, 1, 3), y.narrow(0, 2, 3)), f(x.narrow(0, 1, 3), y.narrow(0, 2, 3)));
        expectSame(cg(x), g(x));
      });
    }
    expect(cf.stats().plan.kernels).toBe(1);
    expect(cf.stats().replays).toBeGreaterThan(0);
    expect(cg.stats().replays).toBeGreaterThan(0);
  });

  test('comparisons, where, casts, int32 math, gathers, padding, scans and cross-entropy equal eager', () => {
    const rng = new Rng(4);
    const table = randomTensor(rng, [10, 6], dtype);
    const f = (x: Tensor, ids: Tensor, targets: Tensor): Tensor[] => {
      const mask = gt(x, 0.1);
      const picked = where(mask, x.mul(3), x.neg().exp());
      const counts = cast(mask, 'int32').add(ids.reshape([4, 1])).mul(3).sub(1);
      const rows = indexSelect(table, 0, ids);
      const padded = padAxis(picked, -1, 2, 1, 0.5);
      const scanned = cumsum(padded, -1).add(linearScan(padded.sigmoid(), padded, -1));
      const loss = crossEntropy(rows.matmul(x.T), targets);
      return [picked, counts, scanned, loss, floor(cast(counts, dtype).div(2))];
    };
    const compiled = compile(f);
    for (let call = 0; call < 3; call++) {
      const x = randomTensor(rng, [4, 6], dtype);
      const ids = tensor([1, 7, 3, 9].map((v) => (v + call) % 10), [4], { dtype: 'int32' });
      const targets = tensor([0, 3, 2, 1].map((v) => (v + call) % 4), [4], { dtype: 'int32' });
      tidy(() => expectSame(compiled(x, ids, targets), f(x, ids, targets)));
      for (const t of [x, ids, targets]) t.dispose();
    }
    expect(compiled.stats().replays).toBe(1);
    table.dispose();
  });

  test('large tensors (where eager float32 runs WebAssembly SIMD kernels) give the same bits', () => {
    const rng = new Rng(6);
    const f = (x: Tensor, y: Tensor): Tensor => x.add(y).mul(x).sub(y.abs().sqrt()).relu().div(y.square().add(1)).neg();
    const compiled = compile(f);
    for (let call = 0; call < 3; call++) {
      const x = randomTensor(rng, [64, 96], dtype);
      const y = randomTensor(rng, [64, 96], dtype);
      tidy(() => expectSame(compiled(x, y), f(x, y)));
      for (const t of [x, y]) t.dispose();
    }
    expect(compiled.stats().plan).toMatchObject({ kernels: 1, fusedGroups: 1 });
  });

  test('gradients inside the function, and second order through grad', () => {
    const rng = new Rng(3);
    const w = randomTensor(rng, [4, 3], dtype);
    const loss = (p: Tensor, x: Tensor): Tensor => matmul(x, p).tanh().square().mean();
    const first = (p: Tensor, x: Tensor): Tensor[] => {
      const [value, g] = valueAndGrad(loss)(p, x);
      return [value, g];
    };
    const second = (p: Tensor, x: Tensor): Tensor => grad((q: Tensor) => grad(loss)(q, x).square().sum())(p);
    const c1 = compile(first);
    const c2 = compile(second);
    for (let call = 0; call < 3; call++) {
      const x = randomTensor(rng, [5, 4], dtype);
      tidy(() => {
        expectSame(c1(w, x), first(w, x));
        expectSame(c2(w, x), second(w, x));
      });
      x.dispose();
    }
    expect(c2.stats().replays).toBe(1);
    w.dispose();
  });
});

class Mlp extends nn.Module {
  readonly up: nn.Linear;
  readonly down: nn.Linear;
  constructor(dtype: DType) {
    super();
    this.up = new nn.Linear(6, 16, { rng: new Rng(11), dtype });
    this.down = new nn.Linear(16, 3, { rng: new Rng(12), dtype });
  }
  forward(x: Tensor): Tensor {
    return this.down.forward(this.up.forward(x).tanh());
  }
}

class AttentionBlock extends nn.Module {
  readonly qkv: nn.Linear;
  readonly out: nn.Linear;
  constructor(readonly dim: number, readonly heads: number, dtype: DType) {
    super();
    this.qkv = new nn.Linear(dim, 3 * dim, { rng: new Rng(21), dtype });
    this.out = new nn.Linear(dim, dim, { rng: new Rng(22), dtype });
  }
  forward(x: Tensor): Tensor {
    const h = rmsNorm(x);
    const [q, k, v] = split(this.qkv.forward(h), 3, -1).map((t) => splitHeads(t, this.heads)) as [Tensor, Tensor, Tensor];
    return x.add(this.out.forward(mergeHeads(attention(q, k, v, { causal: true }))));
  }
}

type Optimizer = optim.AdamW | optim.SGD;

/** A training step: loss, gradients, clipping, optimizer update; returns the loss. */
function trainingStep(model: nn.Module & { forward(x: Tensor): Tensor }, opt: Optimizer, clip: number | null) {
  return (x: Tensor, y: Tensor): Tensor => {
    const params = model.parameters();
    const loss = mseLoss(model.forward(x), y);
    let grads = gradients(loss, params);
    if (clip !== null) grads = optim.clipGradNorm(grads, clip).grads;
    opt.step(grads);
    return loss;
  };
}

const makeOptimizer = (kind: 'adamw' | 'sgd', params: Tensor[]): Optimizer =>
  kind === 'adamw' ? new optim.AdamW(params, { lr: 1e-2, weightDecay: 0.1 }) : new optim.SGD(params, { lr: 5e-2, momentum: 0.9, weightDecay: 1e-3 });

describe.each(DTYPES)('compiled training steps, %s', (dtype) => {
  const cases = [
    { name: 'MLP', make: () => new Mlp(dtype), x: [8, 6], y: [8, 3] },
    { name: 'attention block', make: () => new AttentionBlock(8, 2, dtype), x: [2, 5, 8], y: [2, 5, 8] },
  ];
  for (const c of cases) {
    for (const kind of ['adamw', 'sgd'] as const) {
      test(`${c.name}, ${kind}: compiled steps equal eager steps (loss, parameters, optimizer state)`, () => {
        const eagerModel = c.make();
        const compiledModel = c.make();
        const eagerOpt = makeOptimizer(kind, eagerModel.parameters());
        const compiledOpt = makeOptimizer(kind, compiledModel.parameters());
        const eagerStep = trainingStep(eagerModel, eagerOpt, 0.5);
        const step = compile(trainingStep(compiledModel, compiledOpt, 0.5));
        const rng = new Rng(5);
        for (let i = 0; i < 6; i++) {
          const x = randomTensor(rng, c.x, dtype);
          const y = randomTensor(rng, c.y, dtype);
          // The learning rate changes between calls: a dynamic value, not a baked constant.
          eagerOpt.lr *= 0.9;
          compiledOpt.lr *= 0.9;
          const le = tidy(() => eagerStep(x, y));
          const lc = tidy(() => step(x, y));
          expectSame(lc, le);
          for (const t of [x, y, le, lc]) t.dispose();
        }
        expectSame(compiledModel.parameters(), eagerModel.parameters());
        const es = eagerOpt.state();
        const cs = compiledOpt.state();
        expect(cs.step).toBe(es.step);
        for (const name of Object.keys(es.slots)) expectSame(cs.slots[name]!, es.slots[name]!);
        expect(step.stats().replays).toBe(4);
        expect(step.stats().plan.fusedGroups).toBeGreaterThan(0);
        eagerOpt.dispose();
        compiledOpt.dispose();
        step.dispose();
      });
    }
  }
});

describe('compile: signatures, cache and errors', () => {
  test('a new shape retraces; the cache is bounded (LRU) and counts evictions and retraces', () => {
    const f = compile((x: Tensor) => x.mul(2).add(1), { cacheSize: 2, verify: false });
    const shapes = [[2], [3], [2], [4], [2], [3]];
    for (const s of shapes) {
      const x = tensor(Array.from({ length: s[0]! }, (_, i) => i), s);
      tidy(() => expect(values(f(x))).toEqual(values(x).map((v) => v * 2 + 1)));
      x.dispose();
    }
    const st = f.stats();
    // [2] trace, [3] trace, [2] replay, [4] trace (evicts [3]), [2] replay, [3] retrace (evicts [4]).
    expect(st).toMatchObject({ traces: 4, replays: 2, retraces: 1, evictions: 2, cached: 2 });
    f.dispose();
  });

  test('a tensor passed twice replays on the fast path; sharing that changes between calls picks the matching plan', () => {
    const fn = (p: Tensor, q: Tensor): Tensor => p.mul(q).add(p);
    const f = compile(fn);
    const a = tensor([1, 2, 3], [3], { dtype: 'float32' });
    const b = tensor([4, 5, 6], [3], { dtype: 'float32' });
    for (let i = 0; i < 5; i++) tidy(() => expectSame(f(a, a), fn(a, a)));
    expect(f.stats()).toMatchObject({ traces: 2, verifications: 1, replays: 3 });
    // The last replayed plan has its two arguments on one storage: (a, b) must not run it.
    tidy(() => expectSame(f(a, b), fn(a, b)));
    tidy(() => expectSame(f(b, b), fn(b, b)));
    tidy(() => expectSame(f(a, b), fn(a, b)));
    tidy(() => expectSame(f(b, a), fn(b, a)));
    tidy(() => expectSame(f(a, a), fn(a, a)));
    expect(f.stats()).toMatchObject({ traces: 4, verifications: 2, replays: 6 });
    f.dispose();
    for (const t of [a, b]) t.dispose();
  });

  test('host values among the arguments replay on the fast path only when they are the same values', () => {
    const fn = (scale: number, p: Tensor, mode: string, q: Tensor): Tensor => (mode === 'add' ? p.mul(scale).add(q) : p.mul(scale).sub(q));
    const f = compile(fn);
    const a = tensor([1, 2, 3], [3], { dtype: 'float32' });
    const b = tensor([4, 5, 6], [3], { dtype: 'float32' });
    for (let i = 0; i < 4; i++) tidy(() => expectSame(f(2, a, 'add', b), fn(2, a, 'add', b)));
    expect(f.stats()).toMatchObject({ traces: 2, replays: 2 });
    // Another number or string is another program (its constant or branch was traced in).
    tidy(() => expectSame(f(3, a, 'add', b), fn(3, a, 'add', b)));
    tidy(() => expectSame(f(2, a, 'sub', b), fn(2, a, 'sub', b)));
    tidy(() => expectSame(f(-0, a, 'add', b), fn(-0, a, 'add', b)));
    tidy(() => expectSame(f(0, a, 'add', b), fn(0, a, 'add', b)));
    // The tensors after a host value are the plan's leaves in order: swapped tensors, swapped results.
    tidy(() => expectSame(f(2, b, 'add', a), fn(2, b, 'add', a)));
    tidy(() => expectSame(f(2, a, 'add', b), fn(2, a, 'add', b)));
    expect(f.stats()).toMatchObject({ traces: 6, replays: 4 });
    f.dispose();
    for (const t of [a, b]) t.dispose();
  });

  test('a primitive the backend instance turns off with an own undefined is not traced (the fallback path replays)', () => {
    const rng = new Rng(21);
    const x = randomTensor(rng, [6, 5], 'float32');
    const f = (t: Tensor): Tensor => t.mul(t).sum(0);
    const fast = f(x);
    const proto = Object.getPrototypeOf(cpuBackend) as { reduceMiddle?: (...a: unknown[]) => unknown };
    const method = proto.reduceMiddle;
    expect(typeof method).toBe('function');
    let calls = 0;
    proto.reduceMiddle = function (this: unknown, ...a: unknown[]) {
      calls++;
      return method!.apply(this, a);
    };
    const own = Object.getOwnPropertyDescriptor(cpuBackend, 'reduceMiddle');
    Object.defineProperty(cpuBackend, 'reduceMiddle', { value: undefined, configurable: true, writable: true });
    try {
      const eager = f(x);
      expectSame(eager, fast);
      const g = compile(f);
      expectSame(g(x), eager);
      expectSame(g(x), eager);
      // Neither eager nor the trace nor the replays reach the primitive the instance turned off.
      expect(calls).toBe(0);
    } finally {
      proto.reduceMiddle = method;
      if (own) Object.defineProperty(cpuBackend, 'reduceMiddle', own);
      else delete (cpuBackend as { reduceMiddle?: unknown }).reduceMiddle;
    }
  });

  test('host reads inside the function are errors naming the read', () => {
    const x = tensor([1, 2, 3]);
    expect(() => compile((t: Tensor) => t.mul(t.sum().item()))(x)).toThrow(CompileError);
    expect(() => compile((t: Tensor) => t.mul(t.sum().item()))(x)).toThrow(/tensor\.item\(\)/);
    expect(() => compile((t: Tensor) => tensor(Array.from(t.dataSync())))(x)).toThrow(/tensor\.dataSync\(\)/);
    expect(() => compile((t: Tensor) => { cpuBackend.readSync(t.view().storage); return t; })(x)).toThrow(/cpu backend readSync/);
    x.dispose();
  });

  test('a host number that changes between calls is caught by the verification trace', () => {
    let scale = 1;
    const f = compile((t: Tensor) => t.mul(scale++));
    const x = tensor([1, 2]);
    tidy(() => f(x));
    expect(() => f(x)).toThrow(/the constant 1 and then the constant 2/);
    // hostScalar makes the same value dynamic: replays read it again.
    let factor = 1;
    const g = compile((t: Tensor) => t.mul(hostScalar(() => factor, t)));
    for (factor = 1; factor < 5; factor++) tidy(() => expect(values(g(x))).toEqual([factor, 2 * factor]));
    expect(g.stats().replays).toBe(2);
    x.dispose();
  });

  test('Tensor.assign on captured state carries across replays; results are new tensors', () => {
    const total = keep(tensor([0, 0], [2], { dtype: 'float64' }));
    const accumulate = compile((x: Tensor) => {
      total.assign(total.add(x));
      return total.mul(1);
    });
    const x = tensor([1, 2], [2], { dtype: 'float64' });
    for (let i = 1; i <= 5; i++) tidy(() => expect(values(accumulate(x))).toEqual([i, 2 * i]));
    expect(values(total)).toEqual([5, 10]);
    expect(accumulate.stats().replays).toBe(3);
    // Assigning to an argument updates the tensor passed at each call, not the traced one.
    const double = compile((t: Tensor) => {
      t.assign(t.mul(2));
      return t.add(1);
    });
    const args = [0, 1, 2, 3].map((i) => tensor([i, 10 * i], [2], { dtype: 'float64' }));
    for (const [i, t] of args.entries()) tidy(() => expect(values(double(t))).toEqual([2 * i + 1, 20 * i + 1]));
    args.forEach((t, i) => expect(values(t)).toEqual([2 * i, 20 * i]));
    expect(double.stats().replays).toBe(2);
    for (const t of args) t.dispose();
    // Replays of a function returning its input give a copy (eagerly it is the input itself).
    const identity = compile((t: Tensor) => t);
    for (let i = 0; i < 4; i++) {
      const r = identity(x);
      expect(values(r)).toEqual([1, 2]);
      if (r !== x) r.dispose();
    }
    expect(values(x)).toEqual([1, 2]);
    for (const t of [total, x]) t.dispose();
  });

  test('live tensors and bytes stay flat over 10,000 compiled training steps', () => {
    clearScalarCache();
    const startTensors = liveTensors();
    const startBytes = liveBytes();
    const model = new Mlp('float32');
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
    const step = compile(trainingStep(model, opt, 1));
    const rng = new Rng(9);
    const x = randomTensor(rng, [8, 6], 'float32');
    const y = randomTensor(rng, [8, 3], 'float32');
    const run = (): void => tidy(() => { step(x, y); });
    for (let i = 0; i < 10; i++) run();
    clearScalarCache();
    const tensors = liveTensors();
    const bytes = liveBytes();
    for (let i = 0; i < 10_000; i++) run();
    clearScalarCache();
    expect(liveTensors()).toBe(tensors);
    expect(liveBytes()).toBe(bytes);
    expect(step.stats().replays).toBe(10_008);
    expect(opt.steps).toBe(10_010);
    // Disposing the compiled function frees its plans: back to what eager state holds.
    step.dispose();
    opt.dispose();
    for (const t of [x, y, ...model.parameters()]) t.dispose();
    clearScalarCache();
    expect(liveTensors()).toBe(startTensors);
    expect(liveBytes()).toBe(startBytes);
    expect(getBackend()).toBe(cpuBackend);
  });
});

describe('README', () => {
  test('the compiled-step example runs and replays', async () => {
    const { mkdirSync, readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const dir = fileURLToPath(new URL('..', import.meta.url));
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Compiled steps'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    mkdirSync(join(dir, '.tmp', 'readme'), { recursive: true });
    const file = join(dir, '.tmp', 'readme', `compile-${process.pid}.ts`);
    writeFileSync(file, `${code}\nexport { step, traces, replays, plan };\n`);
    const m = await import(/* @vite-ignore */ file) as { traces: number; replays: number; plan: { fusedGroups: number } };
    expect(m.traces).toBe(2);
    expect(m.replays).toBe(98);
    expect(m.plan.fusedGroups).toBeGreaterThan(0);
  });
});
