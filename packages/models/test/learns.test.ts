// The tiny presets learn on a CPU: a few AdamW steps on a repeating byte pattern cut the loss.
import { describe, expect, it } from 'vitest';
import { gradients, optim, tensor, tidy } from '@titans/tensor';
import { createModel, tinyConfig, type ArchitectureName } from '../src/index.js';

describe('tiny presets learn', () => {
  it.each(['mac', 'lmm'] as ArchitectureName[])('%s: 15 AdamW steps on a repeating pattern', (architecture) => {
    const model = createModel(tinyConfig(architecture, { dim: 32, layers: 1, segmentLength: 16, window: 16, memory: { chunkSize: 8 } }));
    const text = new TextEncoder().encode('the cat sat on the mat. '.repeat(2)).slice(0, 33);
    const ids = tensor(Int32Array.from(text.subarray(0, 32)), [1, 32], { dtype: 'int32' });
    const targets = tensor(Int32Array.from(text.subarray(1, 33)), [1, 32], { dtype: 'int32' });
    const params = model.parameters();
    const optimizer = new optim.AdamW(params, { lr: 1e-2, weightDecay: 0 });
    const losses: number[] = [];
    for (let step = 0; step < 15; step++) {
      tidy(() => {
        const loss = model.loss(ids, targets);
        losses.push(loss.item());
        optimizer.step(gradients(loss, params));
      });
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(0.3 * losses[0]!);
  });
});
