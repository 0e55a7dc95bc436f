// Large contiguous fused chains run as jobs of the CPU engine, split across the worker
// threads by contiguous ranges (src/compile/simd.ts, PARALLEL_MIN_ELEMENTS): with 1 and 2
// threads, above and below the threshold, odd sizes, offset views, broadcast rows and
// uniforms, the compiled chain equals eager bit for bit, and with 2 threads the workers do
// run some of the tasks.
import { describe, expect, test } from 'vitest';
import { expectSameBits } from '@titans/test-utils';
import { Rng, compile, configureCpu, cpuConfig, keep, silu, startCpuWorkers, tidy, type Tensor } from '@titans/tensor';
import { getEngine, workerJobTasks } from '../src/cpu/wasm/engine.js';
import { PARALLEL_MIN_ELEMENTS } from '../src/compile/simd.js';

const expectSame = expectSameBits;

type Chain = (a: Tensor, b: Tensor, s: Tensor) => Tensor | Tensor[];

const CHAINS: Record<string, Chain> = {
  'sub mul div': (a, b) => a.sub(b).mul(a).div(b),
  'exp of a product': (a, b) => a.mul(b).exp().mul(b),
  'silu(a * b + a) and sigmoid, two outputs': (a, b) => {
    const h = a.mul(b).add(a);
    return [silu(h), h.sigmoid().add(b)];
  },
  // an AdamW-like update with scalar tensors (uniforms) and literals
  'adam-like update with uniforms': (a, b, s) => {
    const m = a.mul(0.9).add(b.mul(0.1));
    const v = a.square().mul(0.999).add(b.square().mul(0.001));
    return [a.sub(m.div(v.sqrt().add(1e-8)).add(a.mul(0.01)).mul(s)), m, v];
  },
};

const SIZES = [PARALLEL_MIN_ELEMENTS - 1, PARALLEL_MIN_ELEMENTS, PARALLEL_MIN_ELEMENTS + 3, 3 * PARALLEL_MIN_ELEMENTS + 4097, 1_000_003];

describe('compile: large fused chains across worker threads', () => {
  test('compiled equals eager bit for bit with 1 and 2 threads, above and below the threshold', () => {
    const before = cpuConfig().threads;
    const shared = getEngine()?.shared === true;
    const rng = new Rng(11);
    try {
      for (const threads of [1, 2]) {
        configureCpu({ threads });
        if (threads > 1 && shared) expect(startCpuWorkers(20_000)).toBe(1);
        const tasksBefore = workerJobTasks();
        for (const size of SIZES) {
          // a and b are offset views (narrow) of larger tensors; s is a one-element scalar
          const a0 = keep(rng.normal([size + 5], 0, 3));
          const b0 = keep(rng.normal([size + 2], 0, 2));
          const s = keep(rng.uniform([1]));
          for (const [name, chain] of Object.entries(CHAINS)) {
            const fn = (x: Tensor, y: Tensor, z: Tensor): Tensor | Tensor[] => chain(x.narrow(0, 3, size), y.narrow(0, 1, size), z);
            const f = compile(fn);
            for (let call = 0; call < 3; call++) {
              tidy(() => {
                const got = f(a0, b0, s);
                const want = fn(a0, b0, s);
                const gs = Array.isArray(got) ? got : [got];
                const ws = Array.isArray(want) ? want : [want];
                expect(gs.length).toBe(ws.length);
                gs.forEach((g, i) => expectSame(g, ws[i]!, `${name}, size ${size}, ${threads} threads, call ${call}, output ${i}`));
              });
            }
            expect(f.stats().plan.simdGroups, name).toBeGreaterThan(0);
            f.dispose();
          }
          for (const t of [a0, b0, s]) t.dispose();
        }
        // 2-D with a broadcast row or column (jobs split by rows, the last task short), below
        // the threshold, and a 2-D contiguous chain that collapses to one range
        for (const [r, cl] of [[257, 1024], [7001, 12], [63, 1024], [5, 4]] as const) {
          const x = keep(rng.normal([r, cl]));
          const row = keep(rng.normal([cl]));
          const col = keep(rng.normal([r, 1]));
          const fns = [
            (p: Tensor, rw: Tensor): Tensor => p.mul(rw).add(rw).sigmoid(),
            (p: Tensor, _rw: Tensor, cm: Tensor): Tensor => p.sub(cm).exp().mul(cm),
            (p: Tensor): Tensor => silu(p.mul(p).sub(p)),
          ];
          for (const [i, fn] of fns.entries()) {
            const f = compile(fn);
            for (let call = 0; call < 3; call++) tidy(() => expectSame(f(x, row, col), fn(x, row, col), `2-D chain ${i} on [${r}, ${cl}], ${threads} threads, call ${call}`));
            expect(f.stats().plan.simdGroups).toBeGreaterThan(0);
            f.dispose();
          }
          for (const t of [x, row, col]) t.dispose();
        }
        if (threads > 1 && shared) expect(workerJobTasks()).toBeGreaterThan(tasksBefore);
        if (threads === 1) expect(workerJobTasks()).toBe(tasksBefore);
      }
    } finally {
      configureCpu({ threads: before });
    }
  }, 120_000);
});
