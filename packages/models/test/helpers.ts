// Fixtures shared by the model tests: tiny configs (width 16, 2 blocks, vocabulary 32)
// whose windows, segments and memory chunks are short enough that a 24-token sequence
// crosses every boundary several times.
import { Rng, tensor, type Tensor } from '@titans/tensor';
import { defineConfig, type ArchitectureName, type ModelConfig, type ModelConfigInput } from '../src/index.js';

export const VOCAB = 32;

export function testConfig(architecture: ArchitectureName, overrides: Partial<ModelConfigInput> = {}): ModelConfig {
  return defineConfig({
    vocabSize: VOCAB, dim: 16, layers: 2, heads: 2, mlpHidden: 32,
    window: 5, segmentLength: 6, persistentTokens: architecture === 'transformer' || architecture === 'swa' ? 0 : 2,
    dtype: 'float64', seed: 3,
    ...overrides,
    architecture,
    memory: { heads: 2, chunkSize: 4, expansion: 2, ...overrides.memory },
  });
}

/** Random token ids int32 [batch, tokens]. */
export function randomIds(batch: number, tokens: number, seed: number, vocab = VOCAB): Tensor {
  const rng = new Rng(seed);
  return tensor(Int32Array.from({ length: batch * tokens }, () => rng.int(vocab)), [batch, tokens], { dtype: 'int32' });
}

/** Copy of int32 ids [B, T] with every token from position `from` on replaced. */
export function changedFrom(ids: Tensor, from: number, seed: number, vocab = VOCAB): Tensor {
  const [batch, tokens] = ids.shape as [number, number];
  const values = Int32Array.from(ids.dataSync());
  const rng = new Rng(seed);
  for (let b = 0; b < batch; b++) for (let t = from; t < tokens; t++) values[b * tokens + t] = (values[b * tokens + t]! + 1 + rng.int(vocab - 1)) % vocab;
  return tensor(values, [batch, tokens], { dtype: 'int32' });
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  if (x.length !== y.length) throw new Error(`maxAbsDiff: ${x.length} vs ${y.length} elements`);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}
