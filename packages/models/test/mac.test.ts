// MAC follows the paper's order (Eqs. 21-25): retrieve from the memory as it was at the
// segment start, attend over [persistent || h || segment], then update the memory with the
// attention block's output y = z + Attn(...), and gate the updated memory's read at y with y.
import { describe, expect, it } from 'vitest';
import { concat, narrow, noGrad, sigmoid, tidy, type Tensor } from '@titans/tensor';
import type { NeuralMemoryState } from '@titans/memory';
import { MemoryAsContextBlock, createModel } from '../src/index.js';
import { maxAbsDiff, randomIds, testConfig } from './helpers.js';

const S = 6;

function weightsOf(state: NeuralMemoryState): Tensor {
  return concat(state.memory.weights.map((w) => w.reshape([w.size])), 0);
}

describe('MAC (memory as a context)', () => {
  const model = createModel(testConfig('mac', { segmentLength: S }));
  const block = model.blocks[0] as MemoryAsContextBlock;
  const ids = randomIds(1, 2 * S + 3, 21);

  it('segment 1 retrieves from the initial memory and writes the attention block output, not its input', () => {
    tidy(() => noGrad(() => {
      const x = model.embedding.forward(ids);
      const initial = block.memory.initialState();
      const first = block.segment(narrow(x, 1, 0, S), initial, null, 0);
      // Eq. 21: h = M*_{t-1}(q) with the memory from before the segment, for every token of it.
      expect(maxAbsDiff(first.retrieved, block.memory.retrieve(first.normalized, initial))).toBeLessThan(1e-12);
      // Eq. 22-23: y is the attention over [p || h || z] plus the block's residual z.
      const attention = block.attention.attendWithMemory(first.normalized, first.retrieved, 0);
      expect(maxAbsDiff(first.attended, first.normalized.add(attention))).toBeLessThan(1e-12);
      // Eq. 24: the memory after the segment is the initial memory updated with y ...
      const fromAttention = block.memory.forward(first.attended, initial);
      expect(maxAbsDiff(weightsOf(first.memoryState), weightsOf(fromAttention.state))).toBeLessThan(1e-12);
      // ... (it did change) and not with the segment's own tokens.
      expect(maxAbsDiff(weightsOf(first.memoryState), weightsOf(initial))).toBeGreaterThan(1e-6);
      expect(maxAbsDiff(weightsOf(first.memoryState), weightsOf(block.memory.forward(first.normalized, initial).state))).toBeGreaterThan(1e-6);
      // Eq. 25: the gate reads the updated memory at y, token by token, and y gates that read.
      expect(maxAbsDiff(first.memoryRead, fromAttention.output)).toBeLessThan(1e-12);
      const o = block.gate.valueNorm.forward(first.memoryRead).mul(sigmoid(block.gate.gateNorm.forward(first.attended)));
      expect(maxAbsDiff(first.output, block.mlp.forward(narrow(x, 1, 0, S).add(o)))).toBeLessThan(1e-12);
    }));
  });

  it('segment 2 retrieves from the memory that learned segment 1; the block equals the segment steps', () => {
    tidy(() => noGrad(() => {
      const x = model.embedding.forward(ids);
      const initial = block.memory.initialState();
      const first = block.segment(narrow(x, 1, 0, S), initial, null, 0);
      const tail = narrow(x, 1, S - 3, 3); // convKernel - 1 rows before segment 2
      const second = block.segment(narrow(x, 1, S, S), first.memoryState, tail, S);
      const stale = block.segment(narrow(x, 1, S, S), initial, tail, S);
      expect(maxAbsDiff(second.retrieved, stale.retrieved)).toBeGreaterThan(1e-6);
      const out = block.forward(narrow(x, 1, 0, 2 * S), block.initialState(), 0);
      expect(maxAbsDiff(out.output, concat([first.output, second.output], 1))).toBeLessThan(1e-12);
    }));
  });

  it('updates the memory once per completed segment and buffers the unfinished one', () => {
    tidy(() => noGrad(() => {
      const { state } = model.forward(ids); // 2 segments + 3 tokens
      const layer = state.layers[0]!;
      expect(layer.memory!.memory.position).toBe(2 * S);
      expect(layer.segment!.inputs!.shape).toEqual([1, 3, 16]);
      expect(state.position).toBe(2 * S + 3);
    }));
  });

  it('lets token i see h_j only for j <= i (the retrieval is a function of token j)', () => {
    tidy(() => noGrad(() => {
      // Attention over [p || h || z]: changing h_j must leave the outputs before j alone.
      const x = model.embedding.forward(ids);
      const z = block.norm.forward(narrow(x, 1, 0, S));
      const h = block.memory.retrieve(z, block.memory.initialState());
      const j = 3;
      const bumped = concat([narrow(h, 1, 0, j), narrow(h, 1, j, S - j).mul(2)], 1);
      const y = block.attention.attendWithMemory(z, h, 0);
      const yBumped = block.attention.attendWithMemory(z, bumped, 0);
      expect(maxAbsDiff(narrow(y, 1, 0, j), narrow(yBumped, 1, 0, j))).toBeLessThan(1e-12);
      expect(maxAbsDiff(narrow(y, 1, j, S - j), narrow(yBumped, 1, j, S - j))).toBeGreaterThan(1e-6);
    }));
  });
});
