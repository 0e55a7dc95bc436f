// OmegaMemory, the module: the parallel and loop paths agree, a stream in pieces equals one
// pass, the learned parts (window gates, polynomial coefficients, Muon's step size) get
// gradients, and the coefficients start as exp's Taylor coefficients.
import { describe, expect, it } from 'vitest';
import { Rng, concat, gradients, narrow, sum, tidy, type Tensor } from '@titans/tensor';
import {
  OmegaMemory, deserializeOmegaMemoryState, expTaylorCoefficients, serializeOmegaMemoryState, type OmegaMemoryState, type OmegaRule,
} from '../src/index.js';
import { expectClose } from './helpers.js';

const atlasRule: OmegaRule = {
  architecture: { depth: 2, hidden: 8, activation: 'silu', residual: false, norm: false },
  chunkSize: 4, window: 3, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 }, momentum: true, forgetting: true,
};

function memory(rule: OmegaRule, path: 'parallel' | 'loop' = 'parallel'): OmegaMemory {
  return new OmegaMemory(8, { heads: 2, rule, thetaMax: 0.2, path, seed: 3, dtype: 'float64', gateBias: { alpha: -3, gamma: 1 } });
}

describe('OmegaMemory', () => {
  it('starts its polynomial coefficients at 1/sqrt(i!) for every head', () => {
    const m = memory(atlasRule);
    expect(Array.from(m.polyCoef!.dataSync())).toEqual([...expTaylorCoefficients(2), ...expTaylorCoefficients(2)]);
  });

  for (const rule of [atlasRule, { ...atlasRule, optimizer: { kind: 'momentum' as const }, window: 2 }]) {
    it(`${rule.optimizer.kind}: loop == parallel, pieces == one pass`, () => {
      tidy(() => {
        const x = new Rng(4).normal([2, 11, 8], 0, 1, { dtype: 'float64' });
        const whole = memory(rule).forward(x);
        expectClose(memory(rule, 'loop').forward(x).output, whole.output, 1e-10, 'loop vs parallel');
        const m = memory(rule);
        let state: OmegaMemoryState = m.initialState();
        const parts: Tensor[] = [];
        for (const [start, length] of [[0, 3], [3, 1], [4, 6], [10, 1]] as const) {
          const out = m.forward(narrow(x, 1, start, length), state);
          parts.push(out.output);
          state = out.state;
        }
        expectClose(concat(parts, 1), whole.output, 1e-10, 'pieces vs one pass');
        expect(state.memory.position).toBe(11);
      });
    });
  }

  it('gives every parameter a finite, non-zero gradient', () => {
    tidy(() => {
      const m = memory(atlasRule);
      const x = new Rng(5).normal([1, 9, 8], 0, 1, { dtype: 'float64' });
      const params = m.parameters();
      const grads = gradients(sum(m.forward(x).output), params);
      grads.forEach((g, i) => {
        const data = g.dataSync();
        expect(data.every(Number.isFinite), `parameter ${i}`).toBe(true);
        expect(data.some((v) => v !== 0), `parameter ${i} has a zero gradient`).toBe(true);
      });
    });
  });

  it('a state saved as JSON mid-chunk continues the stream exactly', async () => {
    const m = memory(atlasRule);
    const x = new Rng(6).normal([2, 11, 8], 0, 1, { dtype: 'float64' });
    const whole = m.forward(x);
    const first = m.forward(narrow(x, 1, 0, 6)); // one complete chunk of 4, two pending tokens
    const saved = JSON.parse(JSON.stringify(await serializeOmegaMemoryState(first.state))) as Parameters<typeof deserializeOmegaMemoryState>[0];
    const second = m.forward(narrow(x, 1, 6, 5), deserializeOmegaMemoryState(saved));
    expectClose(concat([first.output, second.output], 1), whole.output, 1e-12, 'resumed from JSON vs one pass');
    expect(() => deserializeOmegaMemoryState({ ...saved, format: 'nope' as 'titans-omega-memory-state/v1' })).toThrow(/unknown format "nope"/);
  });
});
