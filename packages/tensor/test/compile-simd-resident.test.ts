// A fused SIMD chain or generated matmul that runs again with nothing else on the kernels'
// memory in between reads its inputs, captured state and constants where it copied them the run
// before (src/compile/simd.ts, residency: `kept`), and copies everything else again: values the
// plan computes (arena slots and pooled products, rewritten at every replay under the same
// storage) and any storage it has not seen there. Checked against eager, bit for bit, on random
// sequences of calls: the same tensors again, new tensors, captured tensors given new values,
// other plans in between, and kernels that read values computed in the same replay.
import { describe, expect, test } from 'vitest';
import { expectSameBits } from '@titans/test-utils';
import { Rng, compile, keep, silu, tidy, type Tensor } from '@titans/tensor';
import { memoryKernels } from '../src/compile/simd.js';

function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

describe('compile: kernels read their own kept operands in place when they run again', () => {
  test('random call sequences equal eager, bit for bit, and repeated calls skip the copies', () => {
    const rng = new Rng(3);
    const u = uniforms(17);
    for (const [m, k, n] of [[1, 1, 1], [5, 3, 7], [16, 16, 16], [64, 32, 32], [9, 33, 5], [2, 17, 1]] as const) {
      // w is captured (state), c a constant; x and y come in as arguments.
      const w = keep(rng.normal([k, n]));
      const c = keep(rng.normal([m, n]));
      const fns: [string, (x: Tensor, y: Tensor) => Tensor][] = [
        ['chain', (x, y) => silu(x.mul(y).add(x))],
        ['matmul', (x) => x.matmul(w)],
        // The matmul reads a chain's result (an arena slot, new values under the same storage at
        // every replay), and the chain after it reads the pooled product.
        ['chain, matmul, chain', (x, y) => silu(x.mul(y).add(1).matmul(w)).mul(c)],
        ['matmul of a matmul', (x, y) => x.matmul(w).add(y.matmul(w)).matmul(w.transpose(0, 1)).exp()],
        // tanh keeps the chain in JavaScript: its result is an arena slot, and the matmul (the
        // plan's only kernel on the memory, so it runs again next) must copy it at every replay.
        ['JavaScript chain, matmul', (x, y) => x.mul(y).tanh().matmul(w)],
      ];
      const xs = Array.from({ length: 3 }, () => keep(rng.normal([m, k])));
      const ys = Array.from({ length: 3 }, () => keep(rng.normal([m, k])));
      const compiled = fns.map(([, f]) => compile(f));
      for (let call = 0; call < 60; call++) {
        const r = u();
        if (r < 0.1) {
          // Captured state given new values (a new storage) between calls.
          tidy(() => { w.assign(rng.normal([k, n])); });
          continue;
        }
        const i = Math.floor(u() * fns.length);
        // Mostly the same tensors again (the in-place case), sometimes others.
        const x = xs[u() < 0.7 ? 0 : Math.floor(u() * 3)]!;
        const y = ys[u() < 0.7 ? 0 : Math.floor(u() * 3)]!;
        tidy(() => expectSameBits(compiled[i]!(x, y), fns[i]![1](x, y), `${fns[i]![0]} [${m}, ${k}, ${n}], call ${call}`));
      }
      // A loop of calls on the same tensors: after the first, its operands are read in place.
      const chain = compiled[0]!;
      tidy(() => { chain(xs[0]!, ys[0]!); });
      const before = memoryKernels.inPlace;
      tidy(() => expectSameBits(chain(xs[0]!, ys[0]!), fns[0]![1](xs[0]!, ys[0]!), `chain again [${m}, ${k}, ${n}]`));
      if (m * k >= 16) expect(memoryKernels.inPlace - before, `[${m}, ${k}, ${n}]`).toBeGreaterThanOrEqual(2);
      for (const f of compiled) f.dispose();
      for (const t of [w, c, ...xs, ...ys]) t.dispose();
    }
  });
});
