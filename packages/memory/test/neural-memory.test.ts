import { describe, expect, it } from 'vitest';
import { Rng, concat, narrow, tidy, type Tensor } from '@titans/tensor';
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
    it(`${rule}: the parallel form equals the per-token loop`, () => {
      tidy(() => {
        const make = (path: 'loop' | 'parallel'): NeuralMemory => new NeuralMemory(dim, { heads: 2, rule, path, seed: 3, ruleOverrides: { chunkSize: 8 } });
        const loop = make('loop').forward(x);
        const parallel = make('parallel').forward(x);
        expect(maxRelDiff(parallel.output, loop.output)).toBeLessThan(2e-4);
        expect(maxRelDiff(parallel.yPre, loop.yPre)).toBeLessThan(2e-4);
        expect(maxRelDiff(parallel.surprise.loss, loop.surprise.loss)).toBeLessThan(2e-4);
      });
    });
  }

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

  it('serialises and restores its state exactly', async () => {
    const memory = new NeuralMemory(dim, { heads: 2, seed: 9, ruleOverrides: { chunkSize: 8 } });
    const first = memory.forward(narrow(x, 1, 0, 13));
    const restored = deserializeMemoryState(JSON.parse(JSON.stringify(await serializeMemoryState(first.state))));
    const rest = narrow(x, 1, 13, 24);
    expect(maxRelDiff(memory.forward(rest, restored).output, memory.forward(rest, first.state).output)).toBe(0);
  });
});
