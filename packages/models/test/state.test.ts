// The model state between calls: detaching it for truncated backpropagation keeps its
// values and the learned initial memory, and cuts everything else from the graph.
import { describe, expect, it } from 'vitest';
import { narrow, noGrad, tidy, type Tensor } from '@titans/tensor';
import { createModel, detachModelState } from '../src/index.js';
import { maxAbsDiff, randomIds, testConfig } from './helpers.js';

function tensorsOf(tree: unknown, out: Tensor[] = []): Tensor[] {
  if (tree !== null && typeof tree === 'object') {
    if ('dataSync' in tree) out.push(tree as Tensor);
    else for (const v of Object.values(tree)) tensorsOf(v, out);
  }
  return out;
}

describe('model state', () => {
  it.each(['mac', 'mag'] as const)('%s: detachModelState cuts the graph and changes no value', (architecture) => {
    tidy(() => {
      const model = createModel(testConfig(architecture, { memory: { chunkSize: 8 } }));
      const ids = randomIds(1, 14, 61);
      const first = model.forward(narrow(ids, 1, 0, 10)); // leaves a pending memory chunk and a MAC buffer
      const detached = detachModelState(first.state);
      const tensors = tensorsOf(detached);
      expect(tensors.length).toBeGreaterThan(0);
      for (const t of tensors) expect(t.isParameter || t.node === null).toBe(true);
      expect(tensorsOf(first.state).some((t) => t.node !== null)).toBe(true);
      const rest = narrow(ids, 1, 10, 4);
      const a = noGrad(() => model.forward(rest, detached).logits);
      const b = noGrad(() => model.forward(rest, first.state).logits);
      expect(maxAbsDiff(a, b)).toBe(0);
    });
  });
});
