// NeuralMemory.project where no gradient is recorded (the convolution writing the heads
// directly: the CPU backend's causalConvHeads) against the same module with a gradient recorded
// (causalConv then headRows): keys, values, queries, gates and the
// convolution cache bit for bit, over streamed pieces (history rows, T = 1, pieces shorter than
// the cache), float32 and float64, odd sizes, with and without the convolution and output gate;
// and the whole forward pass compiled equal to eager.
import { describe, expect, it, vi } from 'vitest';
import { Rng, compile, cpuBackend, narrow, noGrad, tidy, type Tensor } from '@titans/tensor';
import { NeuralMemory, memoryPreset, type NeuralMemoryOptions } from '../src/index.js';

const CASES: { name: string; dim: number; options: NeuralMemoryOptions; tokens: number; pieces: number[] }[] = [
  { name: 'titans, 3 heads, odd pieces', dim: 24, options: { heads: 3, rule: memoryPreset('titans', 8, { chunkSize: 4 }) }, tokens: 11, pieces: [2, 7, 1, 1] },
  { name: 'titans-linear, one pass, 4 heads of 16', dim: 64, options: { heads: 4, rule: memoryPreset('titans-linear', 16, { chunkSize: 8 }) }, tokens: 37, pieces: [37] },
  { name: 'kernel 2, T = 1 pieces', dim: 12, options: { heads: 1, convKernel: 2, rule: memoryPreset('titans-linear', 12, { chunkSize: 2 }) }, tokens: 4, pieces: [1, 1, 2] },
  { name: 'kernel 5, no output gate, odd width', dim: 10, options: { heads: 2, convKernel: 5, outputGate: false, rule: memoryPreset('titans', 5, { chunkSize: 3 }) }, tokens: 8, pieces: [3, 5] },
  { name: 'no convolution', dim: 8, options: { heads: 2, convKernel: 0, rule: memoryPreset('titans-linear', 4, { chunkSize: 4 }) }, tokens: 6, pieces: [6] },
  { name: 'one head of width 1', dim: 1, options: { heads: 1, rule: memoryPreset('titans-linear', 1, { chunkSize: 2 }) }, tokens: 5, pieces: [2, 3] },
];

/** Every projected input of every piece (and the final convolution cache), streamed through project(). */
function projected(memory: NeuralMemory, x: Tensor, pieces: number[], recorded: boolean): number[][] {
  return tidy(() => {
    const run = (): number[][] => {
      let cache: Tensor | null = null;
      let at = 0;
      const out: number[][] = [];
      for (const n of pieces) {
        const { inputs, convCache } = memory.project(narrow(x, 1, at, n), cache);
        for (const t of [inputs.k, inputs.v, inputs.q, inputs.theta, inputs.eta, inputs.alpha]) out.push(Array.from(t.dataSync(), Number));
        cache = convCache;
        at += n;
      }
      if (cache) out.push(Array.from(cache.dataSync(), Number));
      return out;
    };
    return recorded ? run() : noGrad(run);
  });
}

describe('NeuralMemory.project without a recorded gradient (causalConvHeads) equals it with one', () => {
  for (const c of CASES) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${c.name} (${dtype})`, () => {
        const memory = new NeuralMemory(c.dim, { ...c.options, seed: 3, dtype });
        const x = new Rng(17).normal([2, c.tokens, c.dim], 0, 1, { dtype });
        const spy = vi.spyOn(cpuBackend, 'causalConvHeads');
        try {
          const fast = projected(memory, x, c.pieces, false);
          expect(spy).toHaveBeenCalledTimes(c.options.convKernel === 0 ? 0 : c.pieces.length);
          spy.mockClear();
          const layered = projected(memory, x, c.pieces, true);
          expect(spy).not.toHaveBeenCalled();
          expect(fast).toEqual(layered);
        } finally {
          spy.mockRestore();
        }
      });
    }
  }

  it('the module forward compiled under noGrad equals eager, for the linear and the MLP memory', () => {
    for (const rule of [memoryPreset('titans-linear', 16, { chunkSize: 8 }), memoryPreset('titans', 16, { chunkSize: 8 })]) {
      const memory = new NeuralMemory(64, { heads: 4, rule, thetaMax: 0.1, seed: 9 });
      const step = compile((input: Tensor) => noGrad(() => memory.forward(input).output));
      for (let i = 0; i < 3; i++) {
        const x = new Rng(40 + i).normal([1, 40, 64]);
        const eager = tidy(() => noGrad(() => Array.from(memory.forward(x).output.dataSync())));
        const y = step(x);
        expect(Array.from(y.dataSync())).toEqual(eager);
        y.dispose();
        x.dispose();
      }
      expect(step.stats().replays).toBeGreaterThan(0);
      step.dispose();
    }
  });
});
