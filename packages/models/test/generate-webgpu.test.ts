// The compiled decode step on WebGPU: the same greedy tokens as eager WebGPU decoding, and
// logits within float32 rounding (the GPU's own kernels run in both; replays skip the tracer).
// Width 4 (memory head width 2): every matmul has fewer than 8 rows or columns and takes the
// one-thread-per-output kernel. At width 16 the memory's chunk updates took 10 tiled kernels,
// 1.3 s each for SwiftShader to compile (more on a loaded machine), most of the file's time;
// compiled plans with tiled kernels are checked by compile-train-webgpu.test.ts.
import { describe, expect, it } from 'vitest';
import { argmax, decodeLogits, useWebGPU } from './compile-fixtures.js';

useWebGPU();

const SMALL = { dim: 4, mlpHidden: 8 };

describe('generate on WebGPU: compiled decode step', () => {
  it('lmm: the same tokens and logits within float32 rounding as eager WebGPU, with replays', async () => {
    const steps = 16; // chunk 4: the first chunk (initial weights are parameters), then a cycle traced, one verified, one replayed
    // Greedy: each step's token is the previous step's argmax, from token 2.
    const eager = await decodeLogits('lmm', false, steps, 2, argmax, SMALL);
    const compiled = await decodeLogits('lmm', true, steps, 2, argmax, SMALL);
    expect(compiled.stats.compile!.replays).toBeGreaterThan(0);
    expect(compiled.stats.eagerReason).toBeNull();
    for (let i = 0; i < steps; i++) {
      const e = eager.logits[i]!;
      const c = compiled.logits[i]!;
      expect(argmax(c)).toBe(argmax(e));
      for (let j = 0; j < e.length; j++) expect(Math.abs(c[j]! - e[j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e[j]!)));
    }
  }, 240_000);
});
