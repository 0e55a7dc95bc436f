// Replay arenas: while a compile()d plan replays, each plan value keeps its buffer (an arena per
// plan, planned by liveness) and each kernel its bind group. Checked here: replays give exactly
// what replays without arenas give (which compile.test.ts checks against eager), settle into
// steady replays that create no bind groups and no buffers, never hand out a buffer that is
// still in use (results the caller keeps), follow a learning rate that changes every step,
// keep one arena per input signature, and give the arena back when the plan is disposed.
import { Rng, compile, hostScalar, optim, tensor, tidy, type Tensor } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { makeBackend, mlpParams, mlpStep } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

interface Run {
  losses: number[];
  params: Float32Array[];
  /** Per step: bind groups created, arena misses, buffers the pool created. */
  created: number[];
  misses: number[];
  buffers: number[];
  uniformWrites: number;
  arenaBytesAfterDispose: number;
}

/** `steps` compiled AdamW steps on batches of `rows` (the rows cycle through `shapes`); the
 * caller keeps every loss tensor until the end when `keep` is set. */
async function train(arenas: boolean, steps: number, options: { keep?: boolean; rows?: readonly number[] } = {}): Promise<Run> {
  gpu.setReplayArenas(arenas);
  const ps = mlpParams(gpu, 3, 5, 12, 3);
  const opt = new optim.AdamW(ps, { lr: 2e-2 });
  const step = compile(mlpStep(ps, opt));
  const rng = new Rng(9);
  const rows = options.rows ?? [7];
  const kept: Tensor[] = [];
  const run: Run = { losses: [], params: [], created: [], misses: [], buffers: [], uniformWrites: 0, arenaBytesAfterDispose: 0 };
  const start = gpu.stats().uniformWrites;
  for (let i = 0; i < steps; i++) {
    const n = rows[i % rows.length]!;
    const x = tensor(Float32Array.from(rng.normalArray(n * 5)), [n, 5], { backend: gpu });
    const y = tensor(Float32Array.from(rng.normalArray(n * 3)), [n, 3], { backend: gpu });
    opt.lr *= 0.9; // a host scalar that changes every replay
    const before = gpu.stats();
    const loss = tidy(() => step(x, y));
    if (options.keep) kept.push(loss);
    else {
      run.losses.push((await loss.data())[0]!);
      loss.dispose();
    }
    const after = gpu.stats();
    run.created.push(after.bindGroupsCreated - before.bindGroupsCreated);
    run.misses.push(after.arenaMisses - before.arenaMisses);
    run.buffers.push(after.pool.created - before.pool.created);
    x.dispose();
    y.dispose();
  }
  for (const loss of kept) {
    run.losses.push((await loss.data())[0]!);
    loss.dispose();
  }
  for (const p of ps) run.params.push((await p.data()) as Float32Array);
  run.uniformWrites = gpu.stats().uniformWrites - start;
  step.dispose();
  run.arenaBytesAfterDispose = gpu.stats().arenaBytes;
  opt.dispose();
  for (const p of ps) p.dispose();
  gpu.setReplayArenas(true);
  return run;
}

describe('replay arenas', () => {
  it('replays equal replays without arenas and settle: no bind groups, buffers or misses per step', async () => {
    const off = await train(false, 12);
    const on = await train(true, 12);
    expect(on.losses).toEqual(off.losses);
    expect(on.params).toEqual(off.params);
    // Steps 0-1 trace, step 2 is the first replay; a few replays later every kernel finds its
    // bind group (alternating buffers for the parameters and optimizer moments need two).
    expect(on.created.slice(-3)).toEqual([0, 0, 0]);
    expect(on.misses.slice(-3)).toEqual([0, 0, 0]);
    expect(on.buffers.slice(-3)).toEqual([0, 0, 0]);
    // Without arenas every dispatch builds its bind group.
    expect(Math.min(...off.created.slice(-3))).toBeGreaterThan(10);
    // The learning rate (and AdamW's bias corrections) change at every replay.
    expect(on.uniformWrites).toBeGreaterThan(0);
    expect(on.arenaBytesAfterDispose).toBe(0);
  });

  it('results the caller keeps across replays are never overwritten', async () => {
    const off = await train(false, 10);
    const kept = await train(true, 10, { keep: true });
    expect(kept.losses).toEqual(off.losses);
    expect(kept.params).toEqual(off.params);
  });

  it('alternating input shapes: one arena per plan, both settle', async () => {
    const off = await train(false, 16, { rows: [4, 9] });
    const on = await train(true, 16, { rows: [4, 9] });
    expect(on.losses).toEqual(off.losses);
    expect(on.params).toEqual(off.params);
    expect(on.created.slice(-4)).toEqual([0, 0, 0, 0]);
    expect(on.misses.slice(-4)).toEqual([0, 0, 0, 0]);
  });

  it('a replay that fails ends its arena scope; the backend keeps working', async () => {
    let fail = false;
    const f = compile((x: Tensor) => x.mul(hostScalar(() => {
      if (fail) throw new Error('host value failed');
      return 2;
    }, x)).add(1));
    const x = tensor([1, 2, 3], [3], { backend: gpu });
    for (let i = 0; i < 4; i++) f(x).dispose();
    fail = true;
    expect(() => f(x)).toThrow(/host value failed/);
    fail = false;
    const outs: number[][] = [];
    for (let i = 0; i < 3; i++) {
      const y = f(x);
      outs.push(Array.from(await y.data()));
      y.dispose();
    }
    expect(outs).toEqual([[3, 5, 7], [3, 5, 7], [3, 5, 7]]);
    // Outside a replay, allocations come from the pool again.
    const before = gpu.stats().arenaHits;
    const y = x.mul(2);
    expect(Array.from(await y.data())).toEqual([2, 4, 6]);
    expect(gpu.stats().arenaHits).toBe(before);
    y.dispose();
    f.dispose();
    x.dispose();
    expect(gpu.stats().arenaBytes).toBe(0);
  });
});
