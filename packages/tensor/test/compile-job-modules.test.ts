// The WebAssembly modules of chains run as engine jobs (src/cpu/wasm/engine.ts, jobModule) are
// kept in a bounded cache, least recently used out first, on the calling thread and in every
// worker thread alike: compiling more distinct chains than JOB_MODULE_LIMIT keeps both bounded,
// results stay the same bits as eager, and a compiled chain whose module was evicted still runs
// (its module comes back and is posted to the workers again).
import { describe, expect, test } from 'vitest';
import { expectSameBits } from '@titans/test-utils';
import { Rng, compile, configureCpu, cpuConfig, keep, startCpuWorkers, tidy, type Compiled, type Tensor } from '@titans/tensor';
import { JOB_MODULE_LIMIT, cachedJobModuleCount, getEngine, workerJobModuleStats, workerJobTasks } from '../src/cpu/wasm/engine.js';
import { PARALLEL_MIN_ELEMENTS } from '../src/compile/simd.js';

// Above the threshold, in 9 tasks of which the worker takes some.
const SIZE = 131_075;
const CHAINS = JOB_MODULE_LIMIT + 36;

/** Chain i: its literal differs from every other chain's, so each is a module of its own. */
const chain = (i: number) => (a: Tensor, b: Tensor): Tensor => a.mul(b).add(1 + i / 256).sigmoid();

describe('compile: the job modules of fused chains are a bounded cache on every thread', () => {
  test(`${CHAINS} distinct chains keep at most ${JOB_MODULE_LIMIT} modules here and in the worker, with the same bits as eager`, () => {
    expect(SIZE).toBeGreaterThanOrEqual(PARALLEL_MIN_ELEMENTS);
    const shared = getEngine()?.shared === true;
    const before = cpuConfig().threads;
    const rng = new Rng(5);
    const a = keep(rng.normal([SIZE], 0, 2));
    const b = keep(rng.normal([SIZE], 0, 2));
    const check = (f: Compiled<[Tensor, Tensor], Tensor>, i: number, what: string): void => {
      tidy(() => expectSameBits(f(a, b), chain(i)(a, b), `chain ${i}, ${what}`));
    };
    const kept: Compiled<[Tensor, Tensor], Tensor>[] = [];
    try {
      configureCpu({ threads: 2 });
      if (shared) expect(startCpuWorkers(20_000)).toBe(1);
      const tasksBefore = workerJobTasks();
      const cachedBefore = cachedJobModuleCount();
      for (let i = 0; i < CHAINS; i++) {
        const f = compile(chain(i));
        // (The first two calls trace and check the plan; from the third on it replays, running the job.)
        for (let call = 0; call < 3; call++) check(f, i, `call ${call}`);
        expect(f.stats().plan.simdGroups).toBe(1);
        if (shared) expect(cachedJobModuleCount()).toBe(Math.min(JOB_MODULE_LIMIT, cachedBefore + i + 1));
        // The first chains stay compiled: their modules are evicted by the later ones.
        if (i < 3) kept.push(f);
        else f.dispose();
      }
      if (!shared) return; // no shared memory: chains run on this thread, no modules are made
      expect(workerJobTasks()).toBeGreaterThan(tasksBefore);
      const afterMany = workerJobModuleStats();
      expect(afterMany.instances).toBeGreaterThan(0);
      expect(afterMany.peak).toBeGreaterThan(0);
      expect(afterMany.peak).toBeLessThanOrEqual(JOB_MODULE_LIMIT);

      // Evicted everywhere, still run by the plans that hold them: back into the cache (evicting
      // others), posted to the worker again, and the same bits.
      for (let call = 0; call < 3; call++) kept.forEach((f, i) => check(f, i, `after eviction, call ${call}`));
      expect(cachedJobModuleCount()).toBe(JOB_MODULE_LIMIT);
      const afterReuse = workerJobModuleStats();
      expect(afterReuse.peak).toBeLessThanOrEqual(JOB_MODULE_LIMIT);
      expect(workerJobTasks()).toBeGreaterThan(tasksBefore);
    } finally {
      for (const f of kept) f.dispose();
      a.dispose();
      b.dispose();
      configureCpu({ threads: before });
    }
  }, 300_000);
});
