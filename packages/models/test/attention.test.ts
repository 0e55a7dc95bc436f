// The attention sub-layer against a reference that spells out its mask: sliding window,
// always-visible persistent tokens, the key/value cache, and MAC's [p || h || segment] rule.
import { describe, expect, it } from 'vitest';
import {
  Rng, concat, expand, matmul, mergeHeads, narrow, noGrad, reshape, rope, softmax, splitHeads, tensor, tidy, transpose, where, type Tensor,
} from '@titans/tensor';
import { MultiHeadAttention } from '../src/index.js';
import { maxAbsDiff } from './helpers.js';

const dim = 16;
const heads = 2;
const headDim = dim / heads;

function make(window: number, persistentTokens: number): MultiHeadAttention {
  return new MultiHeadAttention(dim, { dim, heads, window, persistentTokens, ropeBase: 10000, rng: new Rng(4), dtype: 'float64' });
}

/** softmax(q k^T / sqrt(d) masked) v with the mask given as visible(i, j). */
function reference(a: MultiHeadAttention, q: Tensor, k: Tensor, v: Tensor, visible: (i: number, j: number) => boolean): Tensor {
  const [tq, tk] = [q.shape[2]!, k.shape[2]!];
  const mask = tensor(Array.from({ length: tq * tk }, (_, n) => (visible(Math.floor(n / tk), n % tk) ? 1 : 0)), [tq, tk], { dtype: 'float64' });
  const scores = where(mask, matmul(q, transpose(k)).mul(1 / Math.sqrt(headDim)), -Infinity);
  return a.output.forward(mergeHeads(matmul(softmax(scores, -1), v)));
}

function persistentKV(a: MultiHeadAttention, batch: number): { k: Tensor; v: Tensor } {
  const n = a.persistentTokens;
  const shaped = (t: Tensor): Tensor => expand(splitHeads(reshape(t, [1, n, dim]), heads), [batch, heads, n, headDim]);
  return { k: shaped(a.key.forward(a.persistent!)), v: shaped(a.value.forward(a.persistent!)) };
}

describe('MultiHeadAttention', () => {
  const x = new Rng(8).normal([2, 9, dim], 0, 1, { dtype: 'float64' });

  it('sliding window with persistent tokens: the mask the reference spells out', () => {
    tidy(() => noGrad(() => {
      const a = make(3, 2);
      const q = rope(splitHeads(a.query.forward(x), heads));
      const k = rope(splitHeads(a.key.forward(x), heads));
      const v = splitHeads(a.value.forward(x), heads);
      const p = persistentKV(a, 2);
      // Persistent tokens always; token j when i - 3 < j <= i.
      const expected = reference(a, q, concat([p.k, k], 2), concat([p.v, v], 2), (i, j) => j < 2 || (j - 2 <= i && j - 2 > i - 3));
      expect(maxAbsDiff(a.forward(x, 0, null).output, expected)).toBeLessThan(1e-12);
    }));
  });

  it('keeps window - 1 tokens of cache and continues exactly', () => {
    tidy(() => noGrad(() => {
      const a = make(4, 1);
      const whole = a.forward(x, 0, null).output;
      const first = a.forward(narrow(x, 1, 0, 5), 0, null);
      expect(first.cache.keys.shape).toEqual([2, heads, 3, headDim]);
      const second = a.forward(narrow(x, 1, 5, 4), 5, first.cache);
      expect(maxAbsDiff(concat([first.output, second.output], 1), whole)).toBeLessThan(1e-12);
      // Full attention keeps everything.
      expect(make(0, 0).forward(x, 0, null).cache.keys.shape[2]).toBe(9);
    }));
  });

  it('MAC: [p || h || z] with h_j and z_j visible to tokens i >= j', () => {
    tidy(() => noGrad(() => {
      const a = make(0, 2);
      const z = narrow(x, 1, 0, 5);
      const h = narrow(x, 1, 4, 5).mul(0.5);
      const position = 7;
      const proj = (t: Tensor): { q: Tensor; k: Tensor; v: Tensor } => ({
        q: rope(splitHeads(a.query.forward(t), heads), position),
        k: rope(splitHeads(a.key.forward(t), heads), position),
        v: splitHeads(a.value.forward(t), heads),
      });
      const fz = proj(z);
      const fh = proj(h);
      const p = persistentKV(a, 2);
      const visible = (i: number, j: number): boolean => j < 2 || (j < 7 ? j - 2 <= i : j - 7 <= i);
      const expected = reference(a, fz.q, concat([p.k, fh.k, fz.k], 2), concat([p.v, fh.v, fz.v], 2), visible);
      expect(maxAbsDiff(a.attendWithMemory(z, h, position), expected)).toBeLessThan(1e-12);
    }));
  });
});
