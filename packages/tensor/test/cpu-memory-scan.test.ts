// The CPU memory scan's float32 SIMD paths: the whole-chunk WebAssembly drivers (a plain linear or
// SiLU 2-layer memory) run the same per-token steps as the per-call loop they replace, so the two
// are bit-identical on random shapes (partial last chunks, one token, chunk 1, several memories);
// both stay within float32 rounding of the float64 JavaScript loops.
import { describe, expect, it } from 'vitest';
import { memoryScanCpu, setScratchBase, type MemoryScanArrays } from '../src/cpu/memory-scan.js';
import { causalConvKernel, headRowsKernel } from '../src/cpu/qkv-rows.js';
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

/** The same inputs in float64 (for the float64 reference loops). */
function widened(x: MemoryScanArrays): MemoryScanArrays {
  const wide = (a: MemoryScanArrays['k']): Float64Array => Float64Array.from(a);
  return {
    k: wide(x.k), v: wide(x.v), q: wide(x.q), theta: wide(x.theta), eta: wide(x.eta), alpha: wide(x.alpha),
    weights: x.weights.map(wide), momentum: x.momentum.map(wide),
  };
}

const cases: { name: string; memories: number; tokens: number; chunk: number; layers: [number, number][] }[] = [
  { name: 'linear 8x8, partial last chunk', memories: 3, tokens: 37, chunk: 8, layers: [[8, 8]] },
  { name: 'linear 12x4 (out != in), one token', memories: 2, tokens: 1, chunk: 4, layers: [[12, 4]] },
  { name: 'linear 16x16, chunk 1', memories: 1, tokens: 9, chunk: 1, layers: [[16, 16]] },
  { name: 'mlp 8-12-8, partial last chunk', memories: 2, tokens: 45, chunk: 16, layers: [[12, 8], [8, 12]] },
  { name: 'mlp 4-16-8, chunk longer than the stream', memories: 3, tokens: 11, chunk: 64, layers: [[16, 4], [8, 16]] },
  { name: 'mlp 16-64-16, several chunks', memories: 2, tokens: 96, chunk: 32, layers: [[64, 16], [16, 64]] },
  { name: 'mlp 8-16-12-8 (three layers), partial last chunk', memories: 2, tokens: 27, chunk: 8, layers: [[16, 8], [12, 16], [8, 12]] },
];

describe('cpu memoryScan without y_pre (dims.yPre false)', () => {
  // With y_pre the SIMD path runs per-token calls (but for the plain drivers); without it every
  // SIMD memory updates row by row over the chunk (rowsUpdatePost): bit-identical either way.
  const variants: { name: string; dtype: 'float32' | 'float64'; simd?: boolean; norm?: boolean; residual?: boolean; gelu?: boolean; clamp?: number }[] = [
    { name: 'float32 SIMD chunk drivers', dtype: 'float32' },
    { name: 'float32 SIMD, residual + norm', dtype: 'float32', norm: true, residual: true },
    { name: 'float32 SIMD, residual + norm, clamp 0.05', dtype: 'float32', norm: true, residual: true, clamp: 0.05 },
    { name: 'float32 SIMD, GELU', dtype: 'float32', gelu: true },
    { name: 'float32 SIMD, norm, GELU', dtype: 'float32', norm: true, gelu: true },
    { name: 'float32 JavaScript loops', dtype: 'float32', simd: false },
    { name: 'float64', dtype: 'float64' },
  ];
  for (const v of variants) {
    for (const c of cases.filter((k) => !(v.residual && k.layers[0]![1] !== k.layers[k.layers.length - 1]![0]))) {
      it(`${v.name}, ${c.name}: the packed output without its y_pre block, bit for bit`, () => {
        const rng = new Rng(c.tokens * 5 + c.chunk);
        const x32 = inputs(rng, c.memories, c.tokens, c.layers);
        const x = v.dtype === 'float32' ? x32 : {
          ...x32, k: Float64Array.from(x32.k), v: Float64Array.from(x32.v), q: Float64Array.from(x32.q), theta: Float64Array.from(x32.theta),
          eta: Float64Array.from(x32.eta), alpha: Float64Array.from(x32.alpha), weights: x32.weights.map((w) => Float64Array.from(w)), momentum: x32.momentum.map((m) => Float64Array.from(m)),
        };
        const dims: MemoryScanDims = {
          memories: c.memories, tokens: c.tokens, chunk: c.chunk, layers: c.layers, activation: v.gelu ? 'gelu' : 'silu',
          residual: v.residual ?? false, norm: v.norm ?? false, ...(v.clamp ? { maxSurpriseNorm: v.clamp } : {}),
        };
        // The exact row updates (the scaled frame rounds differently: its own tests below).
        const options = v.simd === false ? { simd: false } : { scaledFrame: false };
        const both = memoryScanCpu(x, dims, v.dtype, options);
        const postOnly = memoryScanCpu(x, { ...dims, yPre: false }, v.dtype, options);
        const yLen = c.memories * c.tokens * c.layers[c.layers.length - 1]![0];
        expect(postOnly.length).toBe(both.length - yLen);
        let differ = 0;
        for (let i = 0; i < postOnly.length; i++) if (!Object.is(postOnly[i], both[yLen + i])) differ++;
        expect(differ, 'elements that differ').toBe(0);
      });
    }
  }
});

describe('cpu memoryScan float32 chunk drivers', () => {
  // The drivers' surprise pass goes four tokens at a time (matVec4, matTVec4) with a one-token tail:
  // the cases cover chunks of 1-64 tokens and partial last chunks, with and without the surprise
  // clamp (a norm bound small enough to clamp most tokens), with and without y_pre.
  const variants = [
    { clamp: 0, yPre: true }, { clamp: 0.05, yPre: true }, { clamp: 0.05, yPre: false }, { clamp: 0, yPre: false },
  ];
  for (const c of cases) for (const { clamp, yPre } of variants) {
    it(`${c.name}${clamp ? `, clamp ${clamp}` : ''}${yPre ? '' : ', no y_pre'}: bit-identical to the per-token calls, close to float64`, () => {
      const rng = new Rng(c.tokens * 7 + c.chunk);
      const x = inputs(rng, c.memories, c.tokens, c.layers);
      const dims: MemoryScanDims = {
        memories: c.memories, tokens: c.tokens, chunk: c.chunk, layers: c.layers, activation: 'silu', residual: false, norm: false,
        ...(clamp ? { maxSurpriseNorm: clamp } : {}), ...(yPre ? {} : { yPre: false }),
      };
      const driven = memoryScanCpu(x, dims, 'float32', { scaledFrame: false });
      const perToken = memoryScanCpu(x, dims, 'float32', { chunkCalls: false });
      expect(driven.length).toBe(perToken.length);
      let differ = 0;
      for (let i = 0; i < driven.length; i++) if (!Object.is(driven[i], perToken[i])) differ++;
      expect(differ, 'elements that differ').toBe(0);
      const x64 = widened(x);
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

describe('cpu memoryScan float32, y_post only in the scaled frame (rowsUpdateScaled)', () => {
  // A plain linear or SiLU 2-layer memory without y_pre whose layer inputs are multiples of 16 wide
  // updates each layer in the scaled frame (P / D_t, S / D_t): the same recurrence rounded
  // differently, so it is compared with the exact row updates (scaledFrame: false) within float32
  // rounding, and with the float64 loops. Strong forgetting (alpha up to 0.95) splits chunks into
  // several segments (D below 2^-30); a decay of 0 (alpha 1) sends its chunk to the exact updates.
  const scaledCases: {
    name: string; memories: number; tokens: number; chunk: number; layers: [number, number][]; alpha?: [number, number]; zeroDecayAt?: number; exact?: true;
  }[] = [
    { name: 'linear 16x16, partial last chunk', memories: 3, tokens: 37, chunk: 8, layers: [[16, 16]] },
    { name: 'linear 64x64 (the bench\'s), several chunks, odd tail', memories: 2, tokens: 150, chunk: 64, layers: [[64, 64]] },
    { name: 'linear 12x16, strong forgetting (several segments a chunk)', memories: 2, tokens: 70, chunk: 64, layers: [[12, 16]], alpha: [0.8, 0.95] },
    { name: 'linear 16x16, a decay of 0 (that chunk exact)', memories: 2, tokens: 40, chunk: 16, layers: [[16, 16]], zeroDecayAt: 21 },
    { name: 'linear 8x8 (inputs not in sixteens: the exact updates)', memories: 2, tokens: 30, chunk: 8, layers: [[8, 8]], exact: true },
    { name: 'linear 8x32 (out != in), one token', memories: 2, tokens: 1, chunk: 4, layers: [[8, 32]] },
    { name: 'linear 16x16, chunk 1', memories: 1, tokens: 9, chunk: 1, layers: [[16, 16]] },
    { name: 'mlp 16-64-16, several chunks, odd tail', memories: 2, tokens: 101, chunk: 32, layers: [[64, 16], [16, 64]] },
    { name: 'mlp 32-16-12 (out 12), chunk longer than the stream', memories: 3, tokens: 11, chunk: 64, layers: [[16, 32], [12, 16]] },
    { name: 'mlp 16-32-16, strong forgetting (several segments a chunk)', memories: 2, tokens: 70, chunk: 64, layers: [[32, 16], [16, 32]], alpha: [0.8, 0.95] },
    { name: 'mlp 16-32-16, a decay of 0 (that chunk exact)', memories: 2, tokens: 40, chunk: 16, layers: [[32, 16], [16, 32]], zeroDecayAt: 21 },
  ];
  for (const c of scaledCases) for (const clamp of [0, 0.05]) {
    it(`${c.name}${clamp ? `, clamp ${clamp}` : ''}: within float32 rounding of the exact updates and of float64`, () => {
      const rng = new Rng(c.tokens * 11 + c.chunk);
      const x = inputs(rng, c.memories, c.tokens, c.layers);
      if (c.alpha) {
        const [lo, hi] = c.alpha;
        x.alpha.set(Float32Array.from(rng.uniform([x.alpha.length], lo, hi).dataSync()));
      }
      if (c.zeroDecayAt !== undefined) x.alpha[c.zeroDecayAt] = 1;
      const dims: MemoryScanDims = {
        memories: c.memories, tokens: c.tokens, chunk: c.chunk, layers: c.layers, activation: 'silu', residual: false, norm: false,
        yPre: false, ...(clamp ? { maxSurpriseNorm: clamp } : {}),
      };
      const scaled = memoryScanCpu(x, dims, 'float32');
      const exact = memoryScanCpu(x, dims, 'float32', { scaledFrame: false });
      const x64 = widened(x);
      const reference = memoryScanCpu(x64, dims, 'float64');
      expect(scaled.length).toBe(exact.length);
      let scale = 0;
      let errExact = 0;
      let errRef = 0;
      let differ = 0;
      for (let i = 0; i < exact.length; i++) {
        scale = Math.max(scale, Math.abs(reference[i]!));
        errExact = Math.max(errExact, Math.abs(scaled[i]! - exact[i]!));
        errRef = Math.max(errRef, Math.abs(scaled[i]! - reference[i]!));
        if (!Object.is(scaled[i], exact[i])) differ++;
      }
      expect(Number.isFinite(errExact)).toBe(true);
      expect(errExact / scale).toBeLessThan(2e-5);
      expect(errRef / scale).toBeLessThan(1e-4);
      // Its surprise pass is the exact path's (surprise2): each memory's first-chunk losses, taken at the same starting
      // weights, are the same bits.
      const dout = c.layers[c.layers.length - 1]![0];
      const lossAt = c.memories * c.tokens * dout;
      for (let m = 0; m < c.memories; m++) {
        for (let s = 0; s < Math.min(c.chunk, c.tokens); s++) expect(Object.is(scaled[lossAt + m * c.tokens + s], exact[lossAt + m * c.tokens + s])).toBe(true);
      }
      // The path was taken (its rounding differs somewhere), or not where the inputs are not in sixteens.
      if (c.exact) expect(differ).toBe(0);
      else if (c.tokens > 1) expect(differ).toBeGreaterThan(0);
    });
  }
});

describe('cpu memoryScan float32 SIMD, staged surprise pass (norm, residual, GELU, any depth)', () => {
  // Memories the drivers do not take run the surprise pass stage by stage over the chunk
  // (matVecRows, matTVecRows; loss and the norm's backward per token) and, without y_pre, the
  // row-by-row updates: bit-identical to the per-token calls (chunkCalls: false).
  const archs = [
    { name: 'residual + norm', norm: true, residual: true, gelu: false },
    { name: 'norm, GELU', norm: true, residual: false, gelu: true },
    { name: 'residual, GELU', norm: false, residual: true, gelu: true },
    { name: 'plain GELU', norm: false, residual: false, gelu: true },
  ];
  for (const c of cases) for (const a of archs) for (const clamp of [0, 0.05]) for (const yPre of [true, false]) {
    if (a.residual && c.layers[0]![1] !== c.layers[c.layers.length - 1]![0]) continue;
    it(`${c.name}, ${a.name}${clamp ? `, clamp ${clamp}` : ''}${yPre ? '' : ', no y_pre'}: bit-identical to the per-token calls`, () => {
      const x = inputs(new Rng(c.tokens * 11 + c.chunk), c.memories, c.tokens, c.layers);
      const dims: MemoryScanDims = {
        memories: c.memories, tokens: c.tokens, chunk: c.chunk, layers: c.layers, activation: a.gelu ? 'gelu' : 'silu', residual: a.residual, norm: a.norm,
        ...(clamp ? { maxSurpriseNorm: clamp } : {}), ...(yPre ? {} : { yPre: false }),
      };
      // (A one-layer memory takes the drivers here: the exact row updates, not the scaled frame.)
      const staged = memoryScanCpu(x, dims, 'float32', { scaledFrame: false });
      const perToken = memoryScanCpu(x, dims, 'float32', { chunkCalls: false });
      expect(staged.length).toBe(perToken.length);
      let differ = 0;
      for (let i = 0; i < staged.length; i++) if (!Object.is(staged[i], perToken[i])) differ++;
      expect(differ, 'elements that differ').toBe(0);
    });
  }
});

describe('cpu memoryScan float32 SIMD, the surprise clamp in WebAssembly', () => {
  // On the SIMD module the clamp's pass over a chunk's rank-one factors runs in the module
  // (clampSquares four tokens at a time, clampFactors, clampScale): bit-identical to the
  // JavaScript pass it replaces (simdClamp: false), on the drivers, the staged pass and the
  // per-token calls; chunks whose token count is not a multiple of four cover the tail; a
  // bound of 0.05 clamps most tokens, 1e6 none, 0.5 some.
  const clampCases: { name: string; tokens: number; chunk: number; layers: [number, number][] }[] = [
    { name: 'linear 8x8, chunks of 7 (tails of 3, 2, 1)', tokens: 23, chunk: 7, layers: [[8, 8]] },
    { name: 'linear 12x4, one token', tokens: 1, chunk: 4, layers: [[12, 4]] },
    { name: 'mlp 8-12-8, chunks of 6', tokens: 29, chunk: 6, layers: [[12, 8], [8, 12]] },
    { name: 'mlp 16-64-16, chunk 64 with a remainder', tokens: 70, chunk: 64, layers: [[64, 16], [16, 64]] },
    { name: 'mlp 8-16-12-8, chunks of 5', tokens: 13, chunk: 5, layers: [[16, 8], [12, 16], [8, 12]] },
  ];
  const paths = [
    { name: 'plain', norm: false, residual: false, chunkCalls: true },
    { name: 'plain, per-token calls', norm: false, residual: false, chunkCalls: false },
    { name: 'norm (staged)', norm: true, residual: false, chunkCalls: true },
  ];
  for (const c of clampCases) for (const p of paths) for (const clamp of [0.05, 0.5, 1e6]) for (const yPre of [true, false]) {
    it(`${c.name}, ${p.name}, clamp ${clamp}${yPre ? '' : ', no y_pre'}: bit-identical to the JavaScript clamp`, () => {
      const x = inputs(new Rng(c.tokens * 13 + c.chunk), 2, c.tokens, c.layers);
      const dims: MemoryScanDims = {
        memories: 2, tokens: c.tokens, chunk: c.chunk, layers: c.layers, activation: 'silu', residual: p.residual, norm: p.norm,
        maxSurpriseNorm: clamp, ...(yPre ? {} : { yPre: false }),
      };
      const simd = memoryScanCpu(x, dims, 'float32', { chunkCalls: p.chunkCalls });
      const js = memoryScanCpu(x, dims, 'float32', { chunkCalls: p.chunkCalls, simdClamp: false });
      expect(simd.length).toBe(js.length);
      let differ = 0;
      for (let i = 0; i < simd.length; i++) if (!Object.is(simd[i], js[i])) differ++;
      expect(differ, 'elements that differ').toBe(0);
      // The bound matters where it is small: the clamped run differs from the unclamped one.
      if (clamp === 0.05) {
        const { maxSurpriseNorm: _, ...free } = dims;
        const unclamped = memoryScanCpu(x, free, 'float32', { chunkCalls: p.chunkCalls });
        let changed = 0;
        for (let i = 0; i < simd.length; i++) if (!Object.is(simd[i], unclamped[i])) changed++;
        expect(changed).toBeGreaterThan(0);
      }
    });
  }
});

describe('the SIMD module\'s scratch base (where its buffers start)', () => {
  // The base only moves the scratch buffers (bench/scratch-base.ts times bases 0 and 16):
  // every kernel's result is the same.
  it('memoryScan, the causal convolution and the head split give the same bits at bases 0, 16 and 48', () => {
    const layers: [number, number][] = [[12, 8], [8, 12]];
    const x = inputs(new Rng(3), 2, 29, layers);
    const dims: MemoryScanDims = {
      memories: 2, tokens: 29, chunk: 6, layers, activation: 'silu', residual: false, norm: false, maxSurpriseNorm: 0.05, yPre: false,
    };
    const rng = new Rng(4);
    const [T, C] = [37, 24];
    const u = Float32Array.from(rng.normal([T * C]).dataSync());
    const w = Float32Array.from(rng.normal([C * 3]).dataSync());
    const run = (base: number): Float32Array[] => {
      setScratchBase(base);
      try {
        const y = new Float32Array(T * C);
        causalConvKernel(u, w, null, null, { batch: 1, tokens: T, channels: C, kernel: 3, past: 0, silu: true }, y);
        const heads = new Float32Array(T * 8);
        headRowsKernel(y, { batch: 1, tokens: T, channels: C, offset: 8, heads: 2, headDim: 4, normalize: true, eps: 1e-12 }, heads);
        return [memoryScanCpu(x, dims, 'float32') as Float32Array, y, heads];
      } finally {
        setScratchBase(0);
      }
    };
    const reference = run(0);
    for (const base of [16, 48]) {
      const got = run(base);
      got.forEach((a, i) => {
        const b = reference[i]!;
        expect(a.length).toBe(b.length);
        let differ = 0;
        for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) differ++;
        expect(differ, `elements that differ at base ${base}, output ${i}`).toBe(0);
      });
    }
  });
  it('refuses a base that is not a multiple of 16 >= 0', () => {
    expect(() => setScratchBase(8)).toThrow(/multiple of 16/);
    expect(() => setScratchBase(-16)).toThrow(/multiple of 16/);
  });
});
