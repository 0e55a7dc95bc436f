// compile(fn) on the WebGPU backend: replays run the recorded primitives through the real
// backend (its own deferred fusion included) and give what eager WebGPU gives, for a whole
// training step with gradients, clipping and AdamW; host reads inside are errors.
import { CompileError, Rng, clearScalarCache, compile, scalar, liveBytes, liveTensors, optim, tensor, tidy, type Tensor } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { makeBackend, mlpParams, mlpStep as step } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

const params = (seed: number): Tensor[] => mlpParams(gpu, seed, 6, 16, 3);

describe('compile on WebGPU', () => {
  it('compiled AdamW training steps equal eager WebGPU steps', async () => {
    const eagerParams = params(1);
    const compiledParams = params(1);
    const eagerOpt = new optim.AdamW(eagerParams, { lr: 1e-2 });
    const compiledOpt = new optim.AdamW(compiledParams, { lr: 1e-2 });
    const eagerStep = step(eagerParams, eagerOpt);
    const compiledStep = compile(step(compiledParams, compiledOpt));
    const rng = new Rng(2);
    let bytes = 0;
    let tensors = 0;
    for (let i = 0; i < 6; i++) {
      const x = tensor(Float32Array.from(rng.normalArray(8 * 6)), [8, 6], { backend: gpu });
      const y = tensor(Float32Array.from(rng.normalArray(8 * 3)), [8, 3], { backend: gpu });
      eagerOpt.lr *= 0.8;
      compiledOpt.lr *= 0.8;
      const le = tidy(() => eagerStep(x, y));
      const lc = tidy(() => compiledStep(x, y));
      const [a, b] = [await le.data(), await lc.data()];
      expect(b[0]).toBeCloseTo(a[0]!, 6);
      for (const t of [x, y, le, lc]) t.dispose();
      if (i === 3) {
        bytes = liveBytes(gpu);
        tensors = liveTensors();
      }
    }
    for (let i = 0; i < eagerParams.length; i++) {
      const a = await eagerParams[i]!.data();
      const b = await compiledParams[i]!.data();
      const worst = Array.from(a).reduce((m, v, j) => Math.max(m, Math.abs(v - b[j]!)), 0);
      expect(worst).toBeLessThan(1e-6);
    }
    expect(compiledStep.stats().replays).toBe(4);
    expect(compiledOpt.steps).toBe(6);
    // Steady state: nothing accumulates across replays (eager's cached scalars aside).
    expect(liveTensors()).toBe(tensors);
    expect(liveBytes(gpu)).toBeLessThanOrEqual(bytes + 64);
    compiledStep.dispose();
    eagerOpt.dispose();
    compiledOpt.dispose();
  });

  it('a host read inside the function is an error naming it', () => {
    const x = tensor([1, 2, 3], [3], { backend: gpu });
    expect(() => compile((t: Tensor) => t.mul(t.sum().item()))(x)).toThrow(CompileError);
    expect(() => compile((t: Tensor) => t.mul(t.dataSync()[0]!))(x)).toThrow(/tensor\.dataSync\(\)/);
    // Compiled functions are synchronous: a promise is refused, not awaited.
    expect(() => compile(async (t: Tensor) => t.mul(2))(x)).toThrow(/returned a Promise/);
    x.dispose();
  });
  it('a scalar filled by the first trace and found cached by the second is the same constant', async () => {
    // The verifying trace meets the scalar in the cache: on a backend it cannot read
    // synchronously that must still count as the constant 32 (this failed compiled training).
    clearScalarCache(gpu);
    const f = compile((x: Tensor) => x.mul(scalar(32, { backend: gpu })).div(scalar(32, { backend: gpu })));
    const x = tensor([1, 2, 3], [3], { backend: gpu });
    const outs: number[][] = [];
    for (let i = 0; i < 3; i++) {
      const y = f(x);
      outs.push(Array.from(await y.data()));
      y.dispose();
    }
    expect(outs).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
    expect(f.stats().replays).toBeGreaterThan(0);
    x.dispose();
  });
});
