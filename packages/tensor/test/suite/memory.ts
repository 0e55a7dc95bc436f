// Memory discipline: `tidy` frees what a step creates, and a long training loop whose
// steps each run inside `tidy` holds a constant number of tensors and bytes.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { Rng, clearScalarCache, keep, liveBytes, liveTensors, nn, optim, tensor, tidy, tidyAsync, valueAndGrad, type Backend, type Tensor } from '@titans/tensor';

export interface MemorySuiteOptions {
  /** Steps of the training-loop leak check (10,000 on the CPU). */
  steps: number;
}

/** A 2-layer tanh MLP with explicit parameters (a tree that valueAndGrad differentiates). */
export function tinyMlp(inputs: number, hidden: number, seed: number): Record<string, Tensor> {
  const rng = new Rng(seed);
  return {
    w1: keep(rng.normal([inputs, hidden], 0, 1 / Math.sqrt(inputs))),
    b1: keep(ops.zeros([hidden])),
    w2: keep(rng.normal([hidden, 1], 0, 1 / Math.sqrt(hidden))),
    b2: keep(ops.zeros([1])),
  };
}

export function mlpForward(p: Record<string, Tensor>, x: Tensor): Tensor {
  return ops.add(ops.matmul(ops.tanh(ops.add(ops.matmul(x, p['w1']!), p['b1']!)), p['w2']!), p['b2']!);
}

export function defineMemorySuite(getBackend: () => Backend, options: MemorySuiteOptions): void {
  describe('memory: tidy and live-tensor accounting', () => {
    test('tidy disposes intermediates and keeps its result', async () => {
      const backend = getBackend();
      const before = liveTensors();
      const bytesBefore = liveBytes(backend);
      const x = tensor([1, 2, 3], [3], { backend });
      const y = tidy(() => ops.sum(ops.mul(ops.exp(x), ops.add(x, 1))));
      expect(liveTensors()).toBe(before + 2);
      expect(y.disposed).toBe(false);
      expect(await y.itemAsync()).toBeCloseTo(Math.E * 2 + Math.E ** 2 * 3 + Math.E ** 3 * 4, 3);
      y.dispose();
      x.dispose();
      expect(liveTensors()).toBe(before);
      expect(liveBytes(backend)).toBe(bytesBefore);
    });

    test('tidy returns trees of tensors, moves them to the enclosing scope, and keep() exempts', () => {
      const before = liveTensors();
      let kept: Tensor | undefined;
      const outer = tidy(() => {
        const inner = tidy(() => {
          const a = ops.ones([2]);
          kept = keep(ops.mul(a, 3));
          ops.mul(a, 5); // garbage
          return { a, list: [ops.add(a, 1)] };
        });
        expect(inner.a.disposed).toBe(false);
        return inner.list[0]!;
      });
      // inner.a was returned by the inner scope only: the outer scope freed it.
      expect(outer.disposed).toBe(false);
      expect(kept!.disposed).toBe(false);
      expect(liveTensors()).toBe(before + 2);
      outer.dispose();
      kept!.dispose();
      expect(liveTensors()).toBe(before);
    });

    test('tidy disposes everything when its function throws', () => {
      const before = liveTensors();
      expect(() => tidy(() => {
        ops.ones([4]);
        throw new Error('boom');
      })).toThrow('boom');
      expect(liveTensors()).toBe(before);
    });

    test('tidyAsync frees what it created across awaits and moves its result to the enclosing scope', async () => {
      const before = liveTensors();
      const outer = await tidyAsync(async () => {
        const inner = await tidyAsync(async () => {
          const a = ops.ones([3]);
          await a.data();
          ops.mul(a, 2); // garbage
          return { a, b: ops.add(a, 1) };
        });
        expect(inner.a.disposed).toBe(false);
        return inner.b;
      });
      // inner.a was returned by the inner scope only: the outer scope freed it.
      expect(outer.disposed).toBe(false);
      expect(liveTensors()).toBe(before + 1);
      await expect(tidyAsync(async () => {
        ops.ones([4]);
        throw new Error('boom');
      })).rejects.toThrow('boom');
      expect(liveTensors()).toBe(before + 1);
      outer.dispose();
      expect(liveTensors()).toBe(before);
    });

    test('views share storage: bytes are freed when the last view goes', () => {
      const backend = getBackend();
      const bytes = liveBytes(backend);
      const base = ops.ones([4, 4], { backend });
      const transposed = base.T;
      const view = ops.narrow(transposed, 0, 1, 2);
      base.dispose();
      transposed.dispose();
      expect(liveBytes(backend)).toBe(bytes + 64);
      view.dispose();
      expect(liveBytes(backend)).toBe(bytes);
    });

    test(`a ${options.steps}-step training loop (MLP + AdamW, tidy per step) holds constant memory`, async () => {
      const backend = getBackend();
      const params = tinyMlp(2, 8, 3);
      const names = Object.keys(params);
      const optimizer = new optim.AdamW(names.map((n) => params[n]!), { lr: 0.01, weightDecay: 0 });
      const rng = new Rng(11);
      const xs = keep(rng.uniform([16, 2], -1, 1));
      const ys = keep(tidy(() => ops.sin(ops.mul(ops.sum(xs, 1, true), 2))));
      const lossOf = valueAndGrad((p: Record<string, Tensor>) => ops.mseLoss(mlpForward(p, xs), ys));
      let firstLoss = 0;
      let lastLoss = 0;
      let tensorsAfterWarmup = 0;
      let bytesAfterWarmup = 0;
      for (let step = 0; step < options.steps; step++) {
        const loss = tidy(() => {
          const [value, grads] = lossOf(params);
          optimizer.step(names.map((n) => grads[n]!));
          return value;
        });
        if (step === 0) firstLoss = await loss.itemAsync();
        if (step === options.steps - 1) lastLoss = await loss.itemAsync();
        loss.dispose();
        if (step === 9) {
          // Scalars are cached per value and AdamW's bias corrections are new values each
          // step: drop the cache so that only storage held by tensors is counted.
          clearScalarCache(backend);
          tensorsAfterWarmup = liveTensors();
          bytesAfterWarmup = liveBytes(backend);
        }
      }
      clearScalarCache(backend);
      expect(liveTensors()).toBe(tensorsAfterWarmup);
      expect(liveBytes(backend)).toBe(bytesAfterWarmup);
      expect(lastLoss).toBeLessThan(firstLoss * 0.5);
      optimizer.dispose();
      [...Object.values(params), xs, ys].forEach((t) => t.dispose());
    });

    test('modules and optimizers clean up: dispose returns to the starting counts', () => {
      const backend = getBackend();
      clearScalarCache(backend);
      const before = liveTensors();
      const bytes = liveBytes(backend);
      const model = new nn.Linear(3, 2);
      const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      tidy(() => {
        const x = ops.ones([4, 3]);
        const [, g] = valueAndGrad((ps: Tensor[]) => ops.sum(ops.square(ops.linear(x, ps[0]!, ps[1]!))))(model.parameters());
        opt.step(g);
      });
      opt.dispose();
      model.parameters().forEach((p) => p.dispose());
      clearScalarCache(backend);
      expect(liveTensors()).toBe(before);
      expect(liveBytes(backend)).toBe(bytes);
    });
  });
}
