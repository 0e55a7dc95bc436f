// The recording cache (runtime.ts): uploads between dispatches are staged and copied in the
// command stream instead of submitting first, parameter blocks and bind groups are cached, and
// a compiled training step is one submit per host read, with eager's results.
import { Rng, compile, gradients, matmul, mseLoss, optim, stack, tensor, tidy, type Tensor } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { makeBackend, view } from './helpers.js';

let gpu: WebGPUBackend;
let legacy: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend({ recordingCache: true });
  legacy = await makeBackend();
});
afterAll(() => {
  gpu?.destroy();
  legacy?.destroy();
});

function params(backend: WebGPUBackend, seed: number): Tensor[] {
  const rng = new Rng(seed);
  return [[5, 12], [12], [12, 3], [3]].map((shape) => {
    const p = tensor(Float32Array.from(rng.normalArray(shape.reduce((a, b) => a * b, 1)).map((v) => v * 0.3)), shape, { backend });
    p.requiresGrad = true;
    return p;
  });
}

function makeStep(ps: Tensor[], opt: optim.AdamW) {
  // The loss and the gradient norm in one tensor, so a step ends in one host read.
  return (x: Tensor, y: Tensor): Tensor => {
    const [w1, b1, w2, b2] = ps as [Tensor, Tensor, Tensor, Tensor];
    const loss = mseLoss(matmul(matmul(x, w1).add(b1).tanh(), w2).add(b2), y);
    const { grads, norm } = optim.clipGradNorm(gradients(loss, ps), 0.5);
    opt.step(grads);
    return stack([loss, norm]);
  };
}

async function train(backend: WebGPUBackend, compiled: boolean, steps: number): Promise<{ losses: number[]; params: Float32Array[]; submits: number[] }> {
  const ps = params(backend, 1);
  const opt = new optim.AdamW(ps, { lr: 1e-2 });
  const compiledStep = compiled ? compile(makeStep(ps, opt)) : null;
  const step = compiledStep ?? makeStep(ps, opt);
  const rng = new Rng(2);
  const losses: number[] = [];
  const submits: number[] = [];
  for (let i = 0; i < steps; i++) {
    const x = tensor(Float32Array.from(rng.normalArray(7 * 5)), [7, 5], { backend });
    const y = tensor(Float32Array.from(rng.normalArray(7 * 3)), [7, 3], { backend });
    const before = backend.stats().submits;
    const both = tidy(() => step(x, y));
    const values = await both.data();
    submits.push(backend.stats().submits - before);
    losses.push(values[0]!);
    for (const t of [x, y, both]) t.dispose();
  }
  const out = await Promise.all(ps.map(async (p) => (await p.data()) as Float32Array));
  compiledStep?.dispose();
  opt.dispose();
  for (const p of ps) p.dispose();
  return { losses, params: out, submits };
}

describe('recording cache', () => {
  it('a compiled training step is one submit and gives eager WebGPU results', async () => {
    const eager = await train(legacy, false, 5);
    const compiled = await train(gpu, true, 5);
    compiled.losses.forEach((l, i) => expect(Math.abs(l - eager.losses[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(eager.losses[i]!))));
    compiled.params.forEach((p, i) => {
      const e = eager.params[i]!;
      expect(p.length).toBe(e.length);
      for (let j = 0; j < p.length; j++) expect(Math.abs(p[j]! - e[j]!)).toBeLessThan(1e-6);
    });
    // Replays (steps 3..5: step 1 traces, step 2 verifies) submit once: the uploads of x and
    // y recorded before the step are copies in the same command buffer.
    expect(compiled.submits.slice(2)).toEqual([1, 1, 1]);
  }, 60_000);

  it('an upload into a recycled buffer runs after the pending kernels that read it', async () => {
    for (const backend of [gpu, legacy]) {
      const n = 37;
      const a = Float32Array.from({ length: n }, (_, i) => i + 1);
      const b = Float32Array.from({ length: n }, (_, i) => -3 * i);
      const x = backend.fromArray(a, 'float32');
      const y = backend.unary('neg', view(x, [n]), 'float32');
      backend.materialize(y); // recorded, not submitted
      backend.dispose(x); // its buffer goes back to the pool while the kernel is pending
      const before = backend.stats();
      const z = backend.fromArray(b, 'float32'); // the same size class: the same buffer
      const after = backend.stats();
      if (backend === gpu) {
        expect(after.submits - before.submits).toBe(0);
        expect(after.uploads - before.uploads).toBe(1);
      }
      expect(Array.from(await backend.read(y))).toEqual(Array.from(a, (v) => -v));
      expect(Array.from(await backend.read(z))).toEqual(Array.from(b));
      backend.dispose(y);
      backend.dispose(z);
    }
  });

  it('the same kernel on the same buffers reuses its bind group; other buffers or parameters do not', async () => {
    const x = gpu.fromArray(Float32Array.from([1, -2, 3, -4, 5]), 'float32');
    const sum = (cols: number): Promise<number[]> => {
      const s = gpu.reduceRows('sum', x, 1, cols);
      return gpu.read(s).then((v) => {
        gpu.dispose(s);
        return Array.from(v);
      });
    };
    expect(await sum(5)).toEqual([3]);
    const before = gpu.stats();
    expect(await sum(5)).toEqual([3]);
    const mid = gpu.stats();
    expect(mid.bindGroupsCreated - before.bindGroupsCreated).toBe(0);
    expect(mid.bindGroupsReused - before.bindGroupsReused).toBe(1);
    expect(await sum(4)).toEqual([-2]); // other parameters: another uniform slot and bind group
    expect(gpu.stats().bindGroupsCreated - mid.bindGroupsCreated).toBe(1);
    gpu.dispose(x);
  });

  it('turning the cache off and on keeps results and counts fresh bind groups', async () => {
    const x = gpu.fromArray(Float32Array.from([2, 4, 6]), 'float32');
    gpu.setRecordingCache(false);
    const before = gpu.stats();
    const a = gpu.reduceRows('max', x, 1, 3);
    expect(Array.from(await gpu.read(a))).toEqual([6]);
    expect(gpu.stats().bindGroupsReused).toBe(before.bindGroupsReused);
    gpu.setRecordingCache(true);
    const b = gpu.reduceRows('max', x, 1, 3);
    expect(Array.from(await gpu.read(b))).toEqual([6]);
    for (const s of [x, a, b]) gpu.dispose(s);
  });
});
