// Associative recall: a linear memory streamed N key/value pairs returns each value from
// its key, for N far beyond what a sliding window keeps.
//
// The rule: a linear memory M(k) = W k, no momentum (eta = 0), no forgetting (alpha = 0),
// theta = 0.5. The loss has no 1/2, so the step is 2 theta = 1: each write moves W k_t all
// the way to v_t (the delta rule, DeltaNet), and without decay nothing written fades. A
// later write disturbs an earlier pair only through k_s . k_t, so for keys that are
// orthonormal (random, unit norm, mutually orthogonal: up to d = 64 of them) recall is
// exact, chunked or not. For independent random unit keys every write disturbs the others
// by about 1/sqrt(d) and one pass cannot undo that: the capacity test below records what
// that costs (mean cosine ~0.76 at N = 48), a property of any one-pass delta rule.
import { describe, expect, it } from 'vitest';
import { Rng, full, l2Normalize, narrow, tensor, tidy, zeros, type Tensor } from '@titans/tensor';
import { initialState, linearArchitecture, memoryPreset, readMemory, scanParallel, type MemoryState } from '../src/index.js';

const d = 64;
const rule = memoryPreset('titans-linear', d, { architecture: linearArchitecture(), chunkSize: 16, momentum: false, forgetting: false });

/** n random orthonormal vectors in R^d (Gram-Schmidt on Gaussian vectors), as [1, n, d]. */
function orthonormalKeys(n: number, rng: Rng): Tensor {
  const rows: Float64Array[] = [];
  while (rows.length < n) {
    const x = rng.normalArray(d);
    for (const r of rows) {
      const dot = x.reduce((s, xi, i) => s + xi * r[i]!, 0);
      for (let i = 0; i < d; i++) x[i]! -= dot * r[i]!;
    }
    const norm = Math.hypot(...x);
    rows.push(x.map((xi) => xi / norm));
  }
  return tensor(Float32Array.from(rows.flatMap((r) => Array.from(r))), [1, n, d]);
}

/** Streams the pairs in pieces of 7 tokens (pending chunks included) and reads every key back. */
function recall(keys: Tensor, values: Tensor): number[] {
  const n = keys.shape[1]!;
  let state: MemoryState = initialState([zeros([1, d, d])], rule);
  for (let at = 0; at < n; at += 7) {
    const size = Math.min(7, n - at);
    const piece = (x: Tensor): Tensor => narrow(x, 1, at, size);
    state = scanParallel(rule, {
      k: piece(keys), v: piece(values), q: piece(keys),
      theta: full([1, size], 0.5), eta: zeros([1, size]), alpha: zeros([1, size]),
    }, state).state;
  }
  const read = readMemory(rule, state, keys).dataSync();
  const v = values.dataSync();
  return Array.from({ length: n }, (_, t) => {
    let dot = 0, rr = 0, vv = 0;
    for (let i = t * d; i < (t + 1) * d; i++) {
      dot += read[i]! * v[i]!;
      rr += read[i]! * read[i]!;
      vv += v[i]! * v[i]!;
    }
    return dot / Math.sqrt(rr * vv);
  });
}

describe('recall after streaming N key/value pairs (d = 64, linear memory, theta 0.5, no decay)', () => {
  it('N = 48 orthonormal random keys: every value comes back (cosine > 0.9), 3x a 16-token window', () => {
    tidy(() => {
      const rng = new Rng(12);
      const cosines = recall(orthonormalKeys(48, rng), rng.normal([1, 48, d]));
      // The first 32 pairs are outside the last 16 tokens a sliding window would still hold.
      expect(Math.min(...cosines), cosines.map((c) => c.toFixed(3)).join(' ')).toBeGreaterThan(0.9);
    });
  });

  it('N = 64 (a full basis) still recalls every pair', () => {
    tidy(() => {
      const rng = new Rng(13);
      expect(Math.min(...recall(orthonormalKeys(64, rng), rng.normal([1, 64, d])))).toBeGreaterThan(0.9);
    });
  });

  it('capacity with independent random unit keys: interference grows with N as sqrt(N / d)', () => {
    tidy(() => {
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      const rng = new Rng(14);
      const few = recall(l2Normalize(rng.normal([1, 16, d]), -1), rng.normal([1, 16, d]));
      const many = recall(l2Normalize(rng.normal([1, 48, d]), -1), rng.normal([1, 48, d]));
      expect(mean(few)).toBeGreaterThan(0.85);
      expect(mean(many)).toBeGreaterThan(0.65);
      expect(mean(many)).toBeLessThan(mean(few));
    });
  });
});
