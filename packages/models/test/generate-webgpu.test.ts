// The compiled decode step on WebGPU: the same greedy tokens as eager WebGPU decoding, and
// logits within float32 rounding (the GPU's own kernels run in both; replays skip the tracer).
import { describe, expect, it } from 'vitest';
import { createModel, decodeStats, releaseModelState, type ModelState } from '../src/index.js';
import { decodeStep } from '../src/decode.js';
import { useWebGPU } from './compile-fixtures.js';
import { testConfig } from './helpers.js';

useWebGPU();

async function decode(compiled: boolean, steps: number): Promise<{ logits: Float32Array[]; stats: ReturnType<typeof decodeStats> }> {
  const model = createModel(testConfig('lmm', { dtype: 'float32' }));
  let state: ModelState = model.initialState(1);
  const logits: Float32Array[] = [];
  let token = 2;
  for (let i = 0; i < steps; i++) {
    const out = decodeStep(model, token, state, compiled);
    releaseModelState(state, out.state);
    state = out.state;
    const values = Float32Array.from(await out.last.data());
    out.last.dispose();
    logits.push(values);
    token = values.indexOf(Math.max(...values));
  }
  releaseModelState(state);
  return { logits, stats: decodeStats(model) };
}

describe('generate on WebGPU: compiled decode step', () => {
  it('lmm: the same tokens and logits within float32 rounding as eager WebGPU, with replays', async () => {
    const steps = 16; // chunk 4: the first chunk (initial weights are parameters), then a cycle traced, one verified, one replayed
    const eager = await decode(false, steps);
    const compiled = await decode(true, steps);
    expect(compiled.stats.compile!.replays).toBeGreaterThan(0);
    expect(compiled.stats.eagerReason).toBeNull();
    for (let i = 0; i < steps; i++) {
      const e = eager.logits[i]!;
      const c = compiled.logits[i]!;
      expect(c.indexOf(Math.max(...c))).toBe(e.indexOf(Math.max(...e)));
      for (let j = 0; j < e.length; j++) expect(Math.abs(c[j]! - e[j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e[j]!)));
    }
  }, 240_000);
});
