// The fused SIMD chains with exp-based ops (exp, sigmoid, silu, the silu gradient) run exp's fast
// path branch-free and rerun a step on the general path where one of its lanes was not ordinary
// (src/compile/simd.ts, chainExpPaths 'split'). This checks that form against the one it
// replaced ('branch': a branch per op around both paths) and against eager, bit for bit, on
// random shapes (sizes 0, 1 and odd included), layouts, and inputs with special values
// (zeros, 1 and -1, tiny, huge, NaN, infinities) scattered so that some steps take the general
// path and others do not; large chains also as engine jobs.
import { afterEach, describe, expect, test } from 'vitest';
import { expectSameBits } from '@titans/test-utils';
import { compile, grad, silu, tensor, tidy, type Tensor } from '@titans/tensor';
import { setChainExpPaths, setChainJobMin } from '../src/compile/simd.js';

function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

const SPECIALS = [0, -0, 1, -1, 2 ** -30, -(2 ** -30), 700, -700, 88.73, -104, 1e30, -1e30, NaN, Infinity, -Infinity, 3e-39];

/** Values of `size` elements: normal-ish, with a special value at a random `rate` of positions. */
function values(u: () => number, size: number, rate: number): Float32Array {
  return Float32Array.from({ length: size }, () => (u() < rate ? SPECIALS[Math.floor(u() * SPECIALS.length)]! : (u() - 0.5) * 12));
}

const CHAINS: [string, (x: Tensor, y: Tensor) => Tensor][] = [
  ['exp', (x) => x.exp()],
  ['sigmoid of a sum', (x, y) => x.add(y).sigmoid()],
  ['silu(x * y + x)', (x, y) => silu(x.mul(y).add(x))],
  ['exp then silu (two tests)', (x, y) => silu(x.mul(0.25).exp().sub(y))],
  ['silu gradient', (x, y) => grad((q: Tensor) => silu(q).mul(y).sum())(x)],
];

afterEach(() => {
  setChainExpPaths('split');
});

describe('compile: split exp paths in fused SIMD chains', () => {
  test('split equals branch and eager, bit for bit, on random shapes, layouts and special values', () => {
    const u = uniforms(5);
    let simdChains = 0;
    for (let trial = 0; trial < 36; trial++) {
      const nd = 1 + Math.floor(u() * 3);
      const shape = Array.from({ length: nd }, () => (trial < 3 ? trial : 1 + Math.floor(u() * 11)));
      const size = shape.reduce((a, b) => a * b, 1);
      const rate = [0, 0.002, 0.05, 0.5][trial % 4]!;
      const transposed = nd > 1 && u() < 0.3;
      // x is laid out transposed in its last two axes (read lane by lane) a third of the time.
      const x = tensor(values(u, size, rate), transposed ? [...shape.slice(0, -2), shape[nd - 1]!, shape[nd - 2]!] : shape);
      const yShape = nd > 1 && u() < 0.3 ? shape.map((n, i) => (i === 0 ? 1 : n)) : shape;
      const y = tensor(values(u, yShape.reduce((a, b) => a * b, 1), rate), yShape);
      for (const [name, chain] of CHAINS) {
        const fn = (p: Tensor, q: Tensor): Tensor => chain(transposed ? p.transpose(-1, -2) : p, q);
        const label = `${name} on [${shape.join(', ')}], special rate ${rate}${yShape === shape ? '' : ', y broadcast'}${transposed ? ', x transposed' : ''}`;
        setChainExpPaths('split');
        const split = compile(fn);
        setChainExpPaths('branch');
        const branch = compile(fn);
        // The first call traces and the second verifies the trace (both eager): calls 2 and 3 replay.
        for (let call = 0; call < 4; call++) {
          tidy(() => {
            setChainExpPaths('split');
            const a = split(x, y);
            setChainExpPaths('branch');
            const b = branch(x, y);
            const eager = fn(x, y);
            expectSameBits(a, eager, `${label} (split, call ${call})`);
            expectSameBits(b, eager, `${label} (branch, call ${call})`);
          });
        }
        expect(split.stats().replays, label).toBe(2);
        simdChains += split.stats().plan.simdGroups;
        split.dispose();
        branch.dispose();
      }
      x.dispose();
      y.dispose();
    }
    expect(simdChains).toBeGreaterThan(60);
  });

  test('chains run as engine jobs: split equals eager with special values in some tasks only', () => {
    const before = setChainJobMin(16);
    try {
      const u = uniforms(9);
      for (const [shape, rate] of [[[40000], 0.00005], [[5, 16400], 0.001], [[3, 7, 1000], 0]] as const) {
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tensor(values(u, size, rate), [...shape]);
        const y = tensor(values(u, size, rate), [...shape]);
        for (const [name, chain] of CHAINS) {
          const split = compile(chain);
          tidy(() => {
            split(x, y);
            split(x, y);
            expectSameBits(split(x, y), chain(x, y), `${name} on [${shape.join(', ')}] as a job`);
          });
          expect(split.stats().replays, name).toBe(1);
          expect(split.stats().plan.simdGroups, name).toBeGreaterThan(0);
          split.dispose();
        }
        x.dispose();
        y.dispose();
      }
    } finally {
      setChainJobMin(before);
    }
  });
});
