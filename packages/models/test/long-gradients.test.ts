// Gradients through the memory stay bounded as sequences grow: with the models' default
// surprise clamp an untrained tiny LMM's largest gradient at 1024 tokens is about 1; with
// the paper's unclamped rule it is about 1e27 (and non-finite at 2048), which is why the
// clamp is the models' default.
import { describe, expect, it } from 'vitest';
import { gradients, tensor } from '@titans/tensor';
import { createModel, tinyConfig, type ModelConfigInput } from '../src/index.js';

function largestGradient(memory: ModelConfigInput['memory'], length: number): number {
  const model = createModel(tinyConfig('lmm', memory ? { memory } : {}));
  const ids = Int32Array.from({ length: length + 1 }, (_, i) => (i * 7919 + 13) % 256);
  const loss = model.loss(tensor(ids.slice(0, length), [1, length], { dtype: 'int32' }), tensor(ids.slice(1), [1, length], { dtype: 'int32' }));
  let largest = 0;
  for (const g of gradients(loss, model.parameters())) {
    for (const x of g.dataSync()) largest = Number.isFinite(x) ? Math.max(largest, Math.abs(x)) : Infinity;
  }
  return largest;
}

describe('gradients on long sequences', () => {
  it('stay bounded at 1024 tokens with the default surprise clamp, and explode without it', () => {
    expect(largestGradient(undefined, 1024)).toBeLessThan(100);
    expect(largestGradient({ ruleOverrides: { maxSurpriseNorm: 0 } }, 1024)).toBeGreaterThan(1e6);
  });
});
