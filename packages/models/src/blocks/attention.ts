// Multi-head attention over the fused `attention` kernel: RoPE on queries and keys,
// causal or sliding-window masks, and learnable persistent-memory tokens whose keys and
// values form an always-visible prefix. Streaming keeps the rotated keys and values of
// the last window - 1 tokens (all tokens for full attention), so a forward pass in
// pieces equals one pass over the whole sequence.
import {
  attention, concat, expand, mergeHeads, narrow, nn, reshape, rope, splitHeads, stack, type Rng, type Tensor,
} from '@titans/tensor';
import type { KVCache } from './state.js';

export interface AttentionOptions {
  readonly dim: number;
  readonly heads: number;
  /** A query sees at most this many most recent tokens, itself included (0 = all). */
  readonly window: number;
  /** Learnable tokens prepended to the keys and values of every query. */
  readonly persistentTokens: number;
  readonly ropeBase: number;
  readonly rng: Rng;
  readonly dtype: 'float32' | 'float64';
}

export class MultiHeadAttention extends nn.Module {
  readonly heads: number;
  readonly headDim: number;
  readonly window: number;
  readonly ropeBase: number;
  readonly query: nn.Linear;
  readonly key: nn.Linear;
  readonly value: nn.Linear;
  readonly output: nn.Linear;
  /** Persistent memory [Np, dim]: data-independent tokens in the layer's input space (Eq. 19). */
  readonly persistent: Tensor | undefined;

  constructor(readonly dim: number, options: AttentionOptions) {
    super();
    this.heads = options.heads;
    this.headDim = dim / options.heads;
    this.window = options.window;
    this.ropeBase = options.ropeBase;
    const layer = { rng: options.rng, dtype: options.dtype, bias: false };
    this.query = new nn.Linear(dim, dim, layer);
    this.key = new nn.Linear(dim, dim, layer);
    this.value = new nn.Linear(dim, dim, layer);
    this.output = new nn.Linear(dim, dim, layer);
    // Unit scale: they enter the same projections as RMS-normalised tokens.
    this.persistent = options.persistentTokens > 0
      ? nn.parameter(options.rng.normal([options.persistentTokens, dim], 0, 1, { dtype: options.dtype }))
      : undefined;
  }

  get persistentTokens(): number {
    return this.persistent?.shape[0] ?? 0;
  }

  /** Queries, rotated keys and values [B, H, T, headDim] of tokens x [B, T, dim] at positions from `position`. */
  private project(x: Tensor, position: number): { q: Tensor; k: Tensor; v: Tensor } {
    return {
      q: rope(splitHeads(this.query.forward(x), this.heads), position, this.ropeBase),
      k: rope(splitHeads(this.key.forward(x), this.heads), position, this.ropeBase),
      v: splitHeads(this.value.forward(x), this.heads),
    };
  }

  /** Prepends the persistent tokens' keys and values (not rotated: they have no position). */
  private withPersistent(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    if (!this.persistent) return { k, v };
    const batch = k.shape[0]!;
    const n = this.persistentTokens;
    const shaped = (t: Tensor): Tensor => expand(splitHeads(reshape(t, [1, n, this.dim]), this.heads), [batch, this.heads, n, this.headDim]);
    return {
      k: concat([shaped(this.key.forward(this.persistent)), k], 2),
      v: concat([shaped(this.value.forward(this.persistent)), v], 2),
    };
  }

  /**
   * Causal (sliding-window) attention of tokens x [B, T, dim] whose first token is at
   * `position`, after the cached tokens. Returns the output [B, T, dim] and the cache
   * for the next call.
   */
  forward(x: Tensor, position: number, cache: KVCache | null): { output: Tensor; cache: KVCache } {
    const { q, k, v } = this.project(x, position);
    const keys = cache ? concat([cache.keys, k], 2) : k;
    const values = cache ? concat([cache.values, v], 2) : v;
    const full = this.withPersistent(keys, values);
    const o = attention(q, full.k, full.v, { causal: true, window: this.window, prefix: this.persistentTokens });
    return { output: this.output.forward(mergeHeads(o)), cache: this.trim({ keys, values }) };
  }

  /** Keeps what the next query can still see: the last window - 1 tokens. */
  private trim(cache: KVCache): KVCache {
    const length = cache.keys.shape[2]!;
    const keep = this.window > 0 ? Math.min(length, this.window - 1) : length;
    if (keep === length) return cache;
    return { keys: narrow(cache.keys, 2, length - keep, keep), values: narrow(cache.values, 2, length - keep, keep) };
  }

  /**
   * MAC's attention over [persistent || h || segment] (Eq. 22-23): tokens z [B, L, dim]
   * of one segment starting at `position` and their memory retrievals h [B, L, dim].
   * h_j is the memory's answer to token j's query, so it may only be seen by tokens
   * i >= j (seeing it earlier would leak token j into token i < j). Interleaving
   * [h_0, z_0, h_1, z_1, ...] as both queries and keys turns exactly that rule into the
   * plain causal mask of the fused kernel; the outputs at the h rows are dropped.
   * Attention is full (unwindowed) within the segment.
   */
  attendWithMemory(z: Tensor, h: Tensor, position: number): Tensor {
    const [batch, length] = z.shape as [number, number, number];
    const fromSegment = this.project(z, position);
    const fromMemory = this.project(h, position);
    const interleave = (a: Tensor, b: Tensor): Tensor => reshape(stack([a, b], 3), [batch, this.heads, 2 * length, this.headDim]);
    const q = interleave(fromMemory.q, fromSegment.q);
    const full = this.withPersistent(interleave(fromMemory.k, fromSegment.k), interleave(fromMemory.v, fromSegment.v));
    const o = attention(q, full.k, full.v, { causal: true, window: 0, prefix: this.persistentTokens });
    const segmentRows = reshape(narrow(reshape(o, [batch, this.heads, length, 2, this.headDim]), 3, 1, 1), [batch, this.heads, length, this.headDim]);
    return this.output.forward(mergeHeads(segmentRows));
  }
}
