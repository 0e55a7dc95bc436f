// The CPU memory scan's float32 SIMD paths: the whole-chunk WebAssembly drivers (a plain linear or
// SiLU 2-layer memory) run the same per-token steps as the per-call loop they replace, so the two
// are bit-identical on random shapes (partial last chunks, one token, chunk 1, several memories);
// both stay within float32 rounding of the float64 JavaScript loops.
import { describe, expect, it } from 'vitest';
import { memoryScanCpu, type MemoryScanArrays } from '../src/cpu/memory-scan.js';
import type { MemoryScanDims } from '../src/backend.js';
import { Rng } from '../src/index.js';

function inputs(rng: Rng, memories: number, tokens: number, layers: readonly (readonly [number, number])[]): MemoryScanArrays {
  const din = layers[0]![1];
  const dout = layers[layers.length - 1]![0];
  const rows = (n: number, d: number): Float32Array => {
    const a = Float32Array.from(rng.normal([n * d]).dataSync());
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[r * d + j]! ** 2;
      for (let j = 0; j < d; j++) a[r * d + j]! /= Math.sqrt(s);
    }
    return a;
  };
  const uniform = (lo: number, hi: number): Float32Array => Float32Array.from(rng.uniform([memories * tokens], lo, hi).dataSync());
  return {
    k: rows(memories * tokens, din), q: rows(memories * tokens, din), v: Float32Array.from(rng.normal([memories * tokens * dout]).dataSync()),
    theta: uniform(0.005, 0.03), eta: uniform(0.5, 0.9), alpha: uniform(0, 0.02),
    weights: layers.map(([o, i]) => Float32Array.from(rng.normal([memories * o * i], 0, 1 / Math.sqrt(i)).dataSync())),
    momentum: layers.map(([o, i]) => Float32Array.from(rng.normal([memories * o * i], 0, 0.01).dataSync())),
  };
}

const cases: { name: string; memories: number; tokens: number; chunk: number; layers: [number, number][] }[] = [
  { name: 'linear 8x8, partial last chunk', memories: 3, tokens: 37, chunk: 8, layers: [[8, 8]] },
  { name: 'linear 12x4 (out != in), one token', memories: 2, tokens: 1, chunk: 4, layers: [[12, 4]] },
  { name: 'linear 16x16, chunk 1', memories: 1, tokens: 9, chunk: 1, layers: [[16, 16]] },
  { name: 'mlp 8-12-8, partial last chunk', memories: 2, tokens: 45, chunk: 16, layers: [[12, 8], [8, 12]] },
  { name: 'mlp 4-16-8, chunk longer than the stream', memories: 3, tokens: 11, chunk: 64, layers: [[16, 4], [8, 16]] },
  { name: 'mlp 16-64-16, several chunks', memories: 2, tokens: 96, chunk: 32, layers: [[64, 16], [16, 64]] },
];

describe('cpu memoryScan float32 chunk drivers', () => {
  for (const c of cases) {
    it(`${c.name}: bit-identical to the per-token calls, close to float64`, () => {
      const rng = new Rng(c.tokens * 7 + c.chunk);
      const x = inputs(rng, c.memories, c.tokens, c.layers);
      const dims: MemoryScanDims = { memories: c.memories, tokens: c.tokens, chunk: c.chunk, layers: c.layers, activation: 'silu', residual: false, norm: false };
      const driven = memoryScanCpu(x, dims, 'float32');
      const perToken = memoryScanCpu(x, dims, 'float32', { chunkCalls: false });
      expect(driven.length).toBe(perToken.length);
      let differ = 0;
      for (let i = 0; i < driven.length; i++) if (!Object.is(driven[i], perToken[i])) differ++;
      expect(differ, 'elements that differ').toBe(0);
      const wide = (a: Float32Array): Float64Array => Float64Array.from(a);
      const x64 = {
        k: wide(x.k as Float32Array), v: wide(x.v as Float32Array), q: wide(x.q as Float32Array), theta: wide(x.theta as Float32Array),
        eta: wide(x.eta as Float32Array), alpha: wide(x.alpha as Float32Array),
        weights: x.weights.map((w) => wide(w as Float32Array)), momentum: x.momentum.map((m) => wide(m as Float32Array)),
      };
      const reference = memoryScanCpu(x64, dims, 'float64');
      let scale = 0;
      let err = 0;
      for (let i = 0; i < reference.length; i++) {
        scale = Math.max(scale, Math.abs(reference[i]!));
        err = Math.max(err, Math.abs(reference[i]! - driven[i]!));
      }
      expect(err / scale).toBeLessThan(1e-4);
    });
  }
});
