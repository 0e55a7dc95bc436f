import { describe, expect, it } from 'vitest';
import { Rng, cast, concat, gradients, narrow, square, sum, tidy, type Tensor } from '@titans/tensor';
import { NeuralMemory, deserializeMemoryState, serializeMemoryState, type NeuralMemoryState } from '../src/index.js';

function maxRelDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}

describe('NeuralMemory', () => {
  const dim = 16;
  const x = new Rng(7).normal([2, 37, dim]);

  for (const rule of ['titans', 'titans-linear', 'moneta', 'yaad', 'memora', 'deltanet', 'gated-deltanet'] as const) {
    it(`${rule}: the parallel form equals the per-token loop (float64 exactly, float32 to rounding)`, () => {
      tidy(() => {
        for (const [dtype, tolerance] of [['float64', 1e-10], ['float32', 3e-3]] as const) {
          // float32 differences grow through Huber's switch (yaad) and the softmax retention (memora).
          const make = (path: 'loop' | 'parallel'): NeuralMemory => new NeuralMemory(dim, { heads: 2, rule, path, seed: 3, dtype, ruleOverrides: { chunkSize: 8 } });
          const input = dtype === 'float64' ? cast(x, 'float64') : x;
          const loop = make('loop').forward(input);
          const parallel = make('parallel').forward(input);
          expect(maxRelDiff(parallel.output, loop.output)).toBeLessThan(tolerance);
          expect(maxRelDiff(parallel.yPre, loop.yPre)).toBeLessThan(tolerance);
          expect(maxRelDiff(parallel.surprise.loss, loop.surprise.loss)).toBeLessThan(tolerance);
        }
      });
    });
  }

  it('every knob at once (momentum order 2, layer rates, orthogonalised surprise, clamp): loop equals parallel, streaming equals one pass', () => {
    tidy(() => {
      const overrides = { chunkSize: 8, momentumOrder: 2, layerLearningRates: true, orthogonalizeSurprise: true, maxSurpriseNorm: 1 };
      const make = (path: 'loop' | 'parallel'): NeuralMemory => new NeuralMemory(dim, { heads: 2, path, seed: 4, dtype: 'float64', ruleOverrides: overrides });
      const input = cast(x, 'float64');
      const parallel = make('parallel');
      const whole = parallel.forward(input);
      expect(maxRelDiff(whole.output, make('loop').forward(input).output)).toBeLessThan(1e-10);
      let state = parallel.initialState();
      const pieces: Tensor[] = [];
      for (const [at, len] of [[0, 5], [5, 13], [18, 19]] as const) {
        const out = parallel.forward(narrow(input, 1, at, len), state);
        pieces.push(out.output);
        state = out.state;
      }
      expect(maxRelDiff(concat(pieces, 1), whole.output)).toBeLessThan(1e-12);
      expect(state.memory.momentum.length).toBe(2 * 2);
    });
  });

  it('learns its per-layer learning-rate multipliers (gradients reach them)', () => {
    tidy(() => {
      const memory = new NeuralMemory(dim, { heads: 2, seed: 4, ruleOverrides: { chunkSize: 8, layerLearningRates: true } });
      expect(memory.layerRateLogits.map((p) => p.shape)).toEqual([[2], [2]]);
      expect(Object.keys(memory.stateDict())).toEqual(expect.arrayContaining(['layerRateLogits.0', 'layerRateLogits.1']));
      const grads = gradients(sum(square(memory.forward(x).output)), memory.layerRateLogits);
      for (const g of grads) expect(Math.max(...Array.from(g.dataSync(), Math.abs))).toBeGreaterThan(0);
    });
  });

  it('streaming in pieces of random sizes equals one pass, conv cache and pending chunk included', () => {
    tidy(() => {
      const memory = new NeuralMemory(dim, { heads: 2, seed: 5, ruleOverrides: { chunkSize: 8 } });
      const whole = memory.forward(x);
      const rng = new Rng(11);
      let state: NeuralMemoryState = memory.initialState();
      const pieces: Tensor[] = [];
      let at = 0;
      while (at < 37) {
        const len = Math.min(37 - at, 1 + rng.int(9));
        const out = memory.forward(narrow(x, 1, at, len), state);
        pieces.push(out.output);
        state = out.state;
        at += len;
      }
      expect(maxRelDiff(concat(pieces, 1), whole.output)).toBeLessThan(1e-4);
      expect(state.memory.position).toBe(37);
    });
  });

  it('stores a sequence shorter than a chunk: later reads see it', () => {
    tidy(() => {
      const memory = new NeuralMemory(dim, { heads: 1, seed: 2, ruleOverrides: { chunkSize: 64 } });
      const empty = memory.initialState();
      const after = memory.forward(narrow(x, 1, 0, 5), empty).state;
      expect(after.memory.pending).not.toBeNull();
      const probe = narrow(x, 1, 5, 3);
      expect(maxRelDiff(memory.retrieve(probe, after), memory.retrieve(probe, empty))).toBeGreaterThan(1e-3);
    });
  });

  it('serialises and restores a mid-chunk state with two momentum levels exactly (float64)', async () => {
    const memory = new NeuralMemory(dim, { heads: 2, seed: 9, dtype: 'float64', ruleOverrides: { chunkSize: 8, momentumOrder: 2 } });
    const input = cast(x, 'float64');
    const first = memory.forward(narrow(input, 1, 0, 13));
    expect(first.state.memory.pending).not.toBeNull();
    const json = JSON.stringify(await serializeMemoryState(first.state));
    const restored = deserializeMemoryState(JSON.parse(json));
    expect(restored.memory.momentum.length).toBe(4);
    expect(restored.memory.momentum[0]!.dtype).toBe('float64');
    const rest = narrow(input, 1, 13, 24);
    expect(maxRelDiff(memory.forward(rest, restored).output, memory.forward(rest, first.state).output)).toBe(0);
  });

  it('serialises and restores its state exactly', async () => {
    const memory = new NeuralMemory(dim, { heads: 2, seed: 9, ruleOverrides: { chunkSize: 8 } });
    const first = memory.forward(narrow(x, 1, 0, 13));
    const restored = deserializeMemoryState(JSON.parse(JSON.stringify(await serializeMemoryState(first.state))));
    const rest = narrow(x, 1, 13, 24);
    expect(maxRelDiff(memory.forward(rest, restored).output, memory.forward(rest, first.state).output)).toBe(0);
  });
});

describe('NeuralMemory gateBias', () => {
  it('starts the chosen gates at the given logits and leaves the others at the random init', () => {
    const x = new Rng(3).normal([2, 12, 16]);
    const plain = new NeuralMemory(16, { heads: 2, seed: 5, gateBias: null });
    const biased = new NeuralMemory(16, { heads: 2, seed: 5, gateBias: { alpha: -4, theta: 1 } });
    const bias = Array.from(biased.gates.bias!.dataSync());
    expect(bias.slice(0, 2)).toEqual([1, 1]);
    expect(bias.slice(4, 6)).toEqual([-4, -4]);
    expect(bias.slice(2, 4)).toEqual(Array.from(plain.gates.bias!.dataSync()).slice(2, 4));
    const meanOf = (t: Tensor): number => { const d = Array.from(t.dataSync()); return d.reduce((a, b) => a + b, 0) / d.length; };
    const alphaPlain = meanOf(plain.forward(x).surprise.alpha);
    const alphaBiased = meanOf(biased.forward(x).surprise.alpha);
    expect(alphaPlain).toBeGreaterThan(0.3);
    expect(alphaBiased).toBeLessThan(0.05);
  });

  it('rejects a non-finite bias by name', () => {
    expect(() => new NeuralMemory(16, { heads: 2, gateBias: { eta: Number.NaN } })).toThrow(/gateBias\.eta must be a finite number/);
  });
});
