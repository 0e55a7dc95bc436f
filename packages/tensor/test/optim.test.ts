// Optimizers against updates computed by hand, clipping, and the learning-rate schedule.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { optim, tensor, tidy, type Tensor } from '@titans/tensor';
import '@titans/test-utils';

const f64 = { dtype: 'float64' } as const;

function param(values: number[]): Tensor {
  const p = tensor(values, [values.length], f64);
  p.requiresGrad = true;
  return p;
}

/** Runs `steps` updates where the gradient is grad(p) (a plain-JS function of the values). */
function run(opt: { step(grads: readonly Tensor[]): void }, p: Tensor, steps: number, gradOf: (values: number[]) => number[]): number[] {
  for (let i = 0; i < steps; i++) {
    tidy(() => opt.step([tensor(gradOf(Array.from(p.dataSync())), p.shape, f64)]));
  }
  return Array.from(p.dataSync());
}

describe('SGD', () => {
  test('momentum: buf = m buf + g, p -= lr buf', () => {
    const p = param([1]);
    const values = run(new optim.SGD([p], { lr: 0.1, momentum: 0.9 }), p, 3, () => [0.5]);
    // buf: 0.5, 0.95, 1.355; p: 0.95, 0.855, 0.7195
    expect(values[0]).toBeCloseTo(0.7195, 12);
  });

  test('nesterov and (coupled) weight decay', () => {
    const p = param([1]);
    expect(run(new optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true }), p, 2, () => [0.5])[0]).toBeCloseTo(0.7695, 12);
    const q = param([1]);
    // g = 0.5 + 0.1 * p: step 1 g = 0.6 -> p = 0.94; step 2 g = 0.594, buf = 0.9 * 0.6 + 0.594 = 1.134 -> p = 0.8266
    expect(run(new optim.SGD([q], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 }), q, 2, () => [0.5])[0]).toBeCloseTo(0.8266, 12);
    const r = param([2, -1]);
    expect(run(new optim.SGD([r], { lr: 0.5 }), r, 1, (v) => v)).toEqual([1, -0.5]);
  });
});

describe('AdamW', () => {
  test('one step by hand', () => {
    const p = param([1]);
    // m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25; p = 1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)
    const values = run(new optim.AdamW([p], { lr: 0.1, weightDecay: 0.01 }), p, 1, () => [0.5]);
    expect(values[0]).toBeCloseTo(0.999 - 0.1 * (0.5 / (0.5 + 1e-8)), 14);
  });

  test('matches the PyTorch update rule over several steps with changing gradients', () => {
    const lr = 0.05;
    const [beta1, beta2, eps, weightDecay] = [0.8, 0.95, 1e-6, 0.1];
    const gradOf = (v: number[]): number[] => v.map((x, i) => 2 * x - i + Math.sin(x));
    const p = param([0.3, -1.2, 2]);
    const opt = new optim.AdamW([p], { lr, beta1, beta2, eps, weightDecay });
    const values = run(opt, p, 6, gradOf);
    // torch.optim.AdamW, written out.
    let x = [0.3, -1.2, 2];
    let m = [0, 0, 0];
    let v = [0, 0, 0];
    for (let t = 1; t <= 6; t++) {
      const g = gradOf(x);
      x = x.map((xi) => xi * (1 - lr * weightDecay));
      m = m.map((mi, i) => beta1 * mi + (1 - beta1) * g[i]!);
      v = v.map((vi, i) => beta2 * vi + (1 - beta2) * g[i]! ** 2);
      const stepSize = lr / (1 - beta1 ** t);
      const correction2 = Math.sqrt(1 - beta2 ** t);
      x = x.map((xi, i) => xi - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / correction2 + eps));
    }
    expect(values).toBeAllclose(x, { rtol: 1e-12, atol: 1e-14 });
    expect(opt.steps).toBe(6);
  });

  test('state round trip: a restored optimizer continues identically', () => {
    const gradOf = (v: number[]): number[] => v.map((x) => x * x - 1);
    const a = param([0.5, 2]);
    const optA = new optim.AdamW([a], { lr: 0.1 });
    run(optA, a, 3, gradOf);
    const b = param(Array.from(a.dataSync()));
    const optB = new optim.AdamW([b], { lr: 0.1 });
    optB.loadState(optA.state());
    expect(run(optB, b, 2, gradOf)).toBeAllclose(run(optA, a, 2, gradOf), { rtol: 0, atol: 0 });
  });

  test('errors name the mismatch', () => {
    const p = param([1, 2]);
    const opt = new optim.AdamW([p], { lr: 0.1 });
    expect(() => opt.step([])).toThrow('optimizer: got 0 gradients for 1 parameters');
    expect(() => opt.step([ops.zeros([3], f64)])).toThrow('optimizer: gradient 0 has shape [3], parameter has [2]');
    expect(() => new optim.SGD([p], { lr: -1 })).toThrow('optimizer: learning rate must be >= 0, got -1');
  });
});

describe('clipGradNorm', () => {
  test('scales gradients down to the maximum norm and reports the norm before clipping', () => {
    const grads = [tensor([3, 4], [2], f64), tensor([12], [1], f64)];
    const { grads: clipped, norm } = optim.clipGradNorm(grads, 6.5);
    expect(norm.item()).toBeCloseTo(13, 12);
    const scale = 6.5 / (13 + 1e-6);
    expect(clipped[0]!).toBeAllclose([3 * scale, 4 * scale]);
    expect(clipped[1]!).toBeAllclose([12 * scale]);
  });

  test('leaves gradients under the limit alone', () => {
    const grads = [tensor([0.3, 0.4], [2], f64)];
    const { grads: clipped, norm } = optim.clipGradNorm(grads, 1);
    expect(norm.item()).toBeCloseTo(0.5, 12);
    expect(clipped[0]).toBe(grads[0]);
  });
});

describe('warmupCosine', () => {
  const schedule = { peak: 1, warmupSteps: 10, totalSteps: 110, min: 0.1 };
  test('linear warmup to the peak', () => {
    expect(optim.warmupCosine(0, schedule)).toBeCloseTo(0.1, 12);
    expect(optim.warmupCosine(4, schedule)).toBeCloseTo(0.5, 12);
    expect(optim.warmupCosine(9, schedule)).toBeCloseTo(1, 12);
  });
  test('cosine decay to the minimum, then flat', () => {
    expect(optim.warmupCosine(10, schedule)).toBeCloseTo(1, 12);
    expect(optim.warmupCosine(35, schedule)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(optim.warmupCosine(60, schedule)).toBeCloseTo(0.55, 12);
    expect(optim.warmupCosine(110, schedule)).toBeCloseTo(0.1, 12);
    expect(optim.warmupCosine(500, schedule)).toBeCloseTo(0.1, 12);
  });
  test('the minimum defaults to 10% of the peak', () => {
    expect(optim.warmupCosine(1000, { peak: 3e-4, warmupSteps: 0, totalSteps: 100 })).toBeCloseTo(3e-5, 15);
  });
});
