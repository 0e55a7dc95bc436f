// What a block constructor receives.
import type { Rng } from '@titans/tensor';
import type { ModelConfig } from '../config.js';
import { MultiHeadAttention } from '../blocks/attention.js';
import { MlpSublayer } from '../blocks/block.js';

export interface BlockContext {
  readonly config: ModelConfig;
  /** Index of the block in the stack. */
  readonly layer: number;
  /** The model's weight generator, shared by all blocks in order. */
  readonly rng: Rng;
}

export function attentionOf(context: BlockContext, window: number): MultiHeadAttention {
  const c = context.config;
  return new MultiHeadAttention(c.dim, {
    dim: c.dim, heads: c.heads, window, persistentTokens: c.persistentTokens, ropeBase: c.ropeBase, rng: context.rng, dtype: c.dtype,
  });
}

export function mlpOf(context: BlockContext): MlpSublayer {
  const c = context.config;
  return new MlpSublayer(c.dim, c.mlpHidden, { eps: c.normEps, rng: context.rng, dtype: c.dtype });
}
