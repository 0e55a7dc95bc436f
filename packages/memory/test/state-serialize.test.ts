// The serialised memory states (Titans, Omega, CMS, self-modifying Titans) share one JSON
// form of tensors: each refuses a broken tensor or position with an error naming the state
// and the field, and a round trip keeps the exact values.
import { describe, expect, it } from 'vitest';
import { tensor } from '@titans/tensor';
import {
  deserializeContinuumMemoryState, deserializeMemoryState, deserializeOmegaMemoryState, deserializeSelfModifyingState, serializeMemoryState,
  type SerializedContinuumMemoryState, type SerializedMemoryState, type SerializedOmegaMemoryState, type SerializedSelfModifyingState,
} from '../src/index.js';

const t = { shape: [2], dtype: 'float64' as const, data: [1, 2] };
const broken = { shape: [2], dtype: 'float64' as const } as unknown as typeof t;

describe('serialised memory states: one tensor form, clear errors', () => {
  it('Titans: a round trip keeps float64 values exactly; pending entries that are absent are left out', async () => {
    const values = [0.1, 1 / 3, -2e-300, Math.PI];
    const w = tensor(values, [2, 2], { dtype: 'float64' });
    const s = await serializeMemoryState({ memory: { position: 3, weights: [w], momentum: [w], pending: null }, convCache: null });
    expect(s.weights[0]).toStrictEqual({ shape: [2, 2], dtype: 'float64', data: values });
    const back = deserializeMemoryState(JSON.parse(JSON.stringify(s)) as SerializedMemoryState);
    expect(Array.from(back.memory.weights[0]!.dataSync())).toStrictEqual(values);
    expect(back.memory.position).toBe(3);
  });

  it('each state names itself and the field of a broken tensor', () => {
    expect(() => deserializeMemoryState({ format: 'titans-memory-state/v1', position: 0, weights: [t], momentum: [broken], pending: null, convCache: null }))
      .toThrow('memory state: momentum[0] is not a serialised tensor');
    expect(() => deserializeOmegaMemoryState({ format: 'titans-omega-memory-state/v1', position: 0, weights: [t], momentum: [t], tail: { k: t, v: broken }, pending: null, convCache: null } as SerializedOmegaMemoryState))
      .toThrow('omega memory state: tail.v is not a serialised tensor');
    expect(() => deserializeContinuumMemoryState({ format: 'titans-cms-state/v1', position: 0, levels: [{ weights: [t, t], pending: broken }] } as SerializedContinuumMemoryState))
      .toThrow('cms state: levels[0].pending is not a serialised tensor');
    const weights = { k: [t], v: [broken], eta: [t], alpha: [t], memory: [t] };
    expect(() => deserializeSelfModifyingState({ format: 'titans-self-modifying-state/v1', position: 0, weights } as SerializedSelfModifyingState))
      .toThrow('self-modifying state: weights.v[0] is not a serialised tensor');
  });

  it('each state refuses a negative or fractional position, naming itself', () => {
    expect(() => deserializeOmegaMemoryState({ format: 'titans-omega-memory-state/v1', position: 1.5 } as SerializedOmegaMemoryState))
      .toThrow('omega memory state: position must be a non-negative integer, got 1.5');
    expect(() => deserializeContinuumMemoryState({ format: 'titans-cms-state/v1', position: -1, levels: [] }))
      .toThrow('cms state: position must be a non-negative integer, got -1');
    expect(() => deserializeSelfModifyingState({ format: 'titans-self-modifying-state/v1', position: -2 } as SerializedSelfModifyingState))
      .toThrow('self-modifying state: position must be a non-negative integer, got -2');
  });
});
