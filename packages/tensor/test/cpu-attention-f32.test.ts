// The float32 attention fast path (src/cpu/attention-f32.ts: matmul blocks on the WebAssembly
// kernels) against the JavaScript reference kernels it replaces, forward and backward, on
// random shapes with empty, single and odd sizes, every mask kind, queries shorter than keys,
// one thread and two. The reference itself is checked by finite differences elsewhere.
import { afterAll, describe, expect, it } from 'vitest';
import type { AttentionDims, AttentionOptions } from '../src/backend.js';
import { CpuBackend } from '../src/cpu/backend.js';
import { attentionBackwardBlocks, attentionBackwardF32, attentionFastApplies, attentionForwardBlocks, attentionForwardF32, attentionTuning, backwardTiles } from '../src/cpu/attention-f32.js';
import { ARENA, getEngine, reserve } from '../src/cpu/wasm/engine.js';
import { Rng, configureCpu, cpuConfig, startCpuWorkers, type CpuConfig } from '../src/index.js';

const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });
const rng = new Rng(77);
const backend = new CpuBackend();

function draw(n: number, scale = 1): Float32Array {
  return Float32Array.from(rng.normalArray(n), (x) => x * scale);
}

/** The reference kernels (WebAssembly off, so the fast path declines). */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, g: Float32Array, dims: AttentionDims, o: AttentionOptions) {
  const before = cpuConfig();
  configureCpu({ wasm: false });
  try {
    const s = (a: Float32Array) => backend.fromArray(a, 'float32');
    const [qs, ks, vs, gs] = [q, k, v, g].map(s) as [ReturnType<typeof s>, ReturnType<typeof s>, ReturnType<typeof s>, ReturnType<typeof s>];
    const f = backend.attention(qs, ks, vs, dims, o);
    const b = backend.attentionBackward(qs, ks, vs, f.out, f.lse, gs, dims, o);
    const r = (x: typeof qs) => backend.readSync(x) as Float32Array;
    return { out: r(f.out), lse: r(f.lse), dq: r(b.dq), dk: r(b.dk), dv: r(b.dv) };
  } finally {
    configureCpu(before);
  }
}

function close(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  let scale = 0;
  for (const x of expected) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(e)) {
      expect(a, `${label}[${i}]`).toBe(e);
      continue;
    }
    expect(Math.abs(a - e), `${label}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(2e-5 * (1 + scale) + 1e-5 * Math.abs(e));
  }
}

interface Case { bh: number; tq: number; tk: number; d: number; dv: number; o: Partial<AttentionOptions> }

const CASES: Case[] = [
  { bh: 1, tq: 1, tk: 1, d: 1, dv: 1, o: {} },
  { bh: 2, tq: 5, tk: 5, d: 3, dv: 7, o: {} },
  { bh: 3, tq: 130, tk: 130, d: 16, dv: 16, o: {} },
  { bh: 2, tq: 200, tk: 200, d: 9, dv: 5, o: { causal: false } },
  { bh: 2, tq: 257, tk: 257, d: 8, dv: 8, o: { window: 33 } },
  { bh: 1, tq: 300, tk: 300, d: 8, dv: 6, o: { window: 100, prefix: 3 } },
  { bh: 2, tq: 70, tk: 199, d: 8, dv: 8, o: {} },                  // queries after a cache
  { bh: 2, tq: 150, tk: 40, d: 4, dv: 4, o: {} },                  // more queries than keys: early rows see nothing
  { bh: 2, tq: 150, tk: 40, d: 4, dv: 4, o: { prefix: 2 } },
  { bh: 1, tq: 140, tk: 140, d: 5, dv: 3, o: { causal: false, window: 7 } },
  { bh: 4, tq: 64, tk: 64, d: 64, dv: 64, o: { window: 1 } },
];

describe('float32 attention fast path', () => {
  for (const threads of [1, 2]) {
    for (const c of CASES) {
      const o: AttentionOptions = { scale: 1 / Math.sqrt(c.d), causal: c.o.causal ?? true, window: c.o.window ?? 0, prefix: c.o.prefix ?? 0 };
      it(`bh ${c.bh}, tq ${c.tq}, tk ${c.tk}, d ${c.d}, dv ${c.dv}, ${JSON.stringify(c.o)}, ${threads} thread(s): equals the reference`, () => {
        configureCpu({ threads, wasm: true });
        if (threads > 1) startCpuWorkers();
        const dims: AttentionDims = { batchHeads: c.bh, queryLength: c.tq, keyLength: c.tk, headDim: c.d, valueDim: c.dv };
        const q = draw(c.bh * c.tq * c.d, 2);
        const k = draw(c.bh * c.tk * c.d, 2);
        const v = draw(c.bh * c.tk * c.dv);
        const g = draw(c.bh * c.tq * c.dv);
        const ref = reference(q, k, v, g, dims, o);
        const fwd = attentionForwardF32(q, k, v, dims, o);
        close(fwd.out, ref.out, 'out');
        close(fwd.lse, ref.lse, 'lse');
        const bwd = attentionBackwardF32(q, k, v, fwd.out, fwd.lse, g, dims, o);
        close(bwd.dq, ref.dq, 'dq');
        close(bwd.dk, ref.dk, 'dk');
        close(bwd.dv, ref.dv, 'dv');
      });
    }
  }

  // Threads share whole softmax rows (and gemm tiles) of each block: the result must not depend
  // on the number of threads, bit for bit. Shapes are big enough for the rows to be split
  // (bh x 128 x keys >= 2^15), with uneven splits, odd lengths and every mask kind.
  const SPLIT_CASES: Case[] = [
    { bh: 1, tq: 300, tk: 300, d: 8, dv: 6, o: { causal: false } },
    { bh: 1, tq: 301, tk: 301, d: 7, dv: 9, o: { window: 129, prefix: 3 } },
    { bh: 3, tq: 257, tk: 257, d: 16, dv: 16, o: {} },
    { bh: 5, tq: 131, tk: 201, d: 9, dv: 5, o: { window: 60 } },
    { bh: 2, tq: 150, tk: 140, d: 4, dv: 4, o: { prefix: 2 } },
  ];
  for (let i = 0; i < 3; i++) {
    const tq = 129 + rng.int(200);
    SPLIT_CASES.push({
      bh: 1 + rng.int(4), tq, tk: tq + rng.int(3) * rng.int(90), d: 1 + rng.int(33), dv: 1 + rng.int(33),
      o: { causal: rng.int(2) === 0, window: rng.int(2) * rng.int(200), prefix: rng.int(2) * rng.int(5) },
    });
  }
  const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (const c of SPLIT_CASES) {
    it(`bh ${c.bh}, tq ${c.tq}, tk ${c.tk}, d ${c.d}, dv ${c.dv}, ${JSON.stringify(c.o)}: 2 and 3 threads give the 1-thread result bit for bit`, () => {
      const o: AttentionOptions = { scale: 1 / Math.sqrt(c.d), causal: c.o.causal ?? true, window: c.o.window ?? 0, prefix: c.o.prefix ?? 0 };
      const dims: AttentionDims = { batchHeads: c.bh, queryLength: c.tq, keyLength: c.tk, headDim: c.d, valueDim: c.dv };
      const q = draw(c.bh * c.tq * c.d, 2); const k = draw(c.bh * c.tk * c.d, 2);
      const v = draw(c.bh * c.tk * c.dv); const g = draw(c.bh * c.tq * c.dv);
      const run = (threads: number) => {
        configureCpu({ threads, wasm: true, parallelMinFlops: 0 });
        if (threads > 1) expect(startCpuWorkers(20_000)).toBe(threads - 1);
        const fwd = attentionForwardF32(q, k, v, dims, o);
        const bwd = attentionBackwardF32(q, k, v, fwd.out, fwd.lse, g, dims, o);
        return { ...fwd, ...bwd };
      };
      const one = run(1);
      for (const threads of [2, 3]) {
        const many = run(threads);
        for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) expect(bits(many[key]), `${key}, ${threads} threads`).toEqual(bits(one[key]));
      }
      configureCpu({ threads: saved.threads, parallelMinFlops: saved.parallelMinFlops });
    });
  }

  // The backward's tiles of a block's diagonal (backwardTiles): every key a row can see lies in
  // exactly one tile of that row, for every mask kind, block size and strip height.
  it('backward tiles cover each visible key of each row exactly once', () => {
    const visible = (i: number, j: number, tq: number, tk: number, o: AttentionOptions): boolean => {
      const position = i + tk - tq;
      if (j < Math.min(o.prefix, tk)) return true;
      if (o.causal && j > position) return false;
      return !(o.window > 0 && j < position - o.window + 1);
    };
    for (let trial = 0; trial < 60; trial++) {
      const tq = 1 + rng.int(90);
      const tk = Math.max(1, tq + rng.int(3) * rng.int(40) - (rng.int(4) === 0 ? rng.int(tq) : 0));
      const o: AttentionOptions = { scale: 1, causal: rng.int(4) !== 0, window: rng.int(2) * rng.int(50), prefix: rng.int(3) === 0 ? rng.int(6) : 0 };
      const block = 1 + rng.int(40);
      const sub = 1 + rng.int(block + 3);
      for (let i0 = 0; i0 < tq; i0 += block) {
        const rows = Math.min(block, tq - i0);
        let start = tk;
        let end = 0;
        for (let i = i0; i < i0 + rows; i++) for (let j = 0; j < tk; j++) if (visible(i, j, tq, tk, o)) { start = Math.min(start, j); end = Math.max(end, j + 1); }
        if (end <= start) continue;
        const tiles = backwardTiles(i0, rows, start, end, tq, tk, o, sub);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < tk; j++) {
            const count = tiles.filter(([r0, rs, ks, ke]) => r >= r0 && r < r0 + rs && j >= ks && j < ke).length;
            if (visible(i0 + r, j, tq, tk, o)) expect(count, `${JSON.stringify({ tq, tk, o, block, sub, i0, r, j })}`).toBe(1);
            else expect(count).toBeLessThanOrEqual(1);
          }
        }
        for (const [r0, rs, ks, ke] of tiles) {
          expect(r0 >= 0 && rs >= 1 && r0 + rs <= rows && ks >= start && ke <= end && ke > ks).toBe(true);
        }
      }
    }
  });

  // The tiled backward against the one-tile backward (diagonalRows >= queryBlock) and the
  // reference, with small blocks so that small problems get many tiles, 1 and 2 threads.
  const TILE_CASES: (Case & { block: number; sub: number })[] = [
    { bh: 2, tq: 64, tk: 64, d: 8, dv: 8, o: {}, block: 16, sub: 1 },
    { bh: 3, tq: 77, tk: 77, d: 5, dv: 7, o: {}, block: 32, sub: 7 },
    { bh: 1, tq: 50, tk: 90, d: 6, dv: 3, o: {}, block: 16, sub: 5 },
    { bh: 2, tq: 90, tk: 40, d: 4, dv: 4, o: { prefix: 3 }, block: 32, sub: 8 },
    { bh: 2, tq: 100, tk: 100, d: 9, dv: 5, o: { window: 20 }, block: 32, sub: 8 },
    { bh: 1, tq: 81, tk: 81, d: 3, dv: 3, o: { window: 30, prefix: 2 }, block: 40, sub: 13 },
    { bh: 2, tq: 60, tk: 60, d: 4, dv: 4, o: { causal: false }, block: 16, sub: 4 },
    { bh: 4, tq: 300, tk: 300, d: 16, dv: 16, o: {}, block: 128, sub: 32 },
  ];
  for (const threads of [1, 2]) {
    for (const c of TILE_CASES) {
      it(`tiled backward, block ${c.block}, strips ${c.sub}: bh ${c.bh}, tq ${c.tq}, tk ${c.tk}, ${JSON.stringify(c.o)}, ${threads} thread(s): equals one tile per block and the reference`, () => {
        configureCpu({ threads, wasm: true });
        if (threads > 1) startCpuWorkers();
        const before = { ...attentionTuning };
        try {
          const o: AttentionOptions = { scale: 1 / Math.sqrt(c.d), causal: c.o.causal ?? true, window: c.o.window ?? 0, prefix: c.o.prefix ?? 0 };
          const dims: AttentionDims = { batchHeads: c.bh, queryLength: c.tq, keyLength: c.tk, headDim: c.d, valueDim: c.dv };
          const q = draw(c.bh * c.tq * c.d, 2); const k = draw(c.bh * c.tk * c.d, 2);
          const v = draw(c.bh * c.tk * c.dv); const g = draw(c.bh * c.tq * c.dv);
          const ref = reference(q, k, v, g, dims, o);
          attentionTuning.queryBlock = c.block;
          const fwd = attentionForwardF32(q, k, v, dims, o);
          attentionTuning.diagonalRows = c.block;
          const whole = attentionBackwardF32(q, k, v, fwd.out, fwd.lse, g, dims, o);
          attentionTuning.diagonalRows = c.sub;
          const tiled = attentionBackwardF32(q, k, v, fwd.out, fwd.lse, g, dims, o);
          for (const key of ['dq', 'dk', 'dv'] as const) {
            close(tiled[key], whole[key], `${key} vs one tile`);
            close(tiled[key], ref[key], `${key} vs reference`);
          }
        } finally {
          Object.assign(attentionTuning, before);
        }
      });
    }
  }

  // Results in arrays of the caller's (the plan pool's while a compiled plan replays): every
  // element is written, so arrays full of garbage give the bits of fresh ones, including the
  // rows that see no key (blocks skipped) and tiled blocks.
  for (const c of [CASES[1]!, CASES[7]!, CASES[8]!, CASES[9]!, TILE_CASES[3]!]) {
    it(`results in dirty caller arrays: bh ${c.bh}, tq ${c.tq}, tk ${c.tk}, ${JSON.stringify(c.o)}: the bits of fresh arrays`, () => {
      configureCpu({ threads: 1, wasm: true });
      const before = { ...attentionTuning };
      try {
        attentionTuning.queryBlock = 32;
        attentionTuning.diagonalRows = 8;
        const o: AttentionOptions = { scale: 1 / Math.sqrt(c.d), causal: c.o.causal ?? true, window: c.o.window ?? 0, prefix: c.o.prefix ?? 0 };
        const dims: AttentionDims = { batchHeads: c.bh, queryLength: c.tq, keyLength: c.tk, headDim: c.d, valueDim: c.dv };
        const q = draw(c.bh * c.tq * c.d, 2); const k = draw(c.bh * c.tk * c.d, 2);
        const v = draw(c.bh * c.tk * c.dv); const g = draw(c.bh * c.tq * c.dv);
        const dirty = (n: number): Float32Array => new Float32Array(n).fill(Number.NaN);
        const fwd = attentionForwardF32(q, k, v, dims, o);
        const fwdDirty = attentionForwardF32(q, k, v, dims, o, dirty);
        const bwd = attentionBackwardF32(q, k, v, fwd.out, fwd.lse, g, dims, o);
        const bwdDirty = attentionBackwardF32(q, k, v, fwd.out, fwd.lse, g, dims, o, dirty);
        for (const [a, b, key] of [[fwd.out, fwdDirty.out, 'out'], [fwd.lse, fwdDirty.lse, 'lse'], [bwd.dq, bwdDirty.dq, 'dq'], [bwd.dk, bwdDirty.dk, 'dk'], [bwd.dv, bwdDirty.dv, 'dv']] as const) {
          expect(bits(b), key).toEqual(bits(a));
        }
      } finally {
        Object.assign(attentionTuning, before);
      }
    });
  }

  // The per-product path (operands copied for each matmul) that runs when the kernels' memory
  // cannot hold the whole problem.
  for (const c of [CASES[2]!, CASES[4]!, CASES[7]!]) {
    it(`fallback through matmulF32: bh ${c.bh}, tq ${c.tq}, tk ${c.tk}, ${JSON.stringify(c.o)}: equals the reference`, () => {
      configureCpu({ threads: 1, wasm: true });
      const o: AttentionOptions = { scale: 1 / Math.sqrt(c.d), causal: c.o.causal ?? true, window: c.o.window ?? 0, prefix: c.o.prefix ?? 0 };
      const dims: AttentionDims = { batchHeads: c.bh, queryLength: c.tq, keyLength: c.tk, headDim: c.d, valueDim: c.dv };
      const q = draw(c.bh * c.tq * c.d, 2); const k = draw(c.bh * c.tk * c.d, 2);
      const v = draw(c.bh * c.tk * c.dv); const g = draw(c.bh * c.tq * c.dv);
      const ref = reference(q, k, v, g, dims, o);
      const fwd = attentionForwardBlocks(q, k, v, dims, o);
      close(fwd.out, ref.out, 'out');
      close(fwd.lse, ref.lse, 'lse');
      const bwd = attentionBackwardBlocks(q, k, v, fwd.out, fwd.lse, g, dims, o);
      close(bwd.dq, ref.dq, 'dq');
      close(bwd.dk, ref.dk, 'dk');
      close(bwd.dv, ref.dv, 'dv');
    });
  }

  it('the WebAssembly row helpers: exp within 3e-7 relative of Math.exp, 0 below -88, NaN kept; max, rescale and the softmax gradient', () => {
    const e = getEngine()!;
    const xs = [-1e30, -100, -88.5, -87, -50, -10.25, -1, -0.3466, 0, 1e-8, 0.3466, 1, 7.5, 20, 60, 87.9];
    for (const u of draw(500)) xs.push(Math.max(-87, Math.min(87, u * 30)));
    xs.push(Number.NaN); // last: outside the segment below
    const n = xs.length;
    expect(reserve(e, n * 12 + 64)).toBe(true);
    const at = ARENA;
    e.f32.set(xs, at >> 2);
    const sum = e.segExp(at, n - 1, 1, 0); // all but the NaN
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const got = e.f32[(at >> 2) + i]!;
      const x = xs[i]!;
      if (Number.isNaN(x)) { expect(got).toBe(x); continue; } // untouched: outside the segment
      const want = Math.exp(Math.fround(x));
      expected += want;
      if (x < -88) expect(got, `exp(${x})`).toBeLessThan(1e-37);
      else expect(Math.abs(got - want), `exp(${x}): ${got} vs ${want}`).toBeLessThanOrEqual(3e-7 * want);
    }
    expect(Math.abs(sum - expected)).toBeLessThanOrEqual(1e-6 * expected);
    e.f32[(at >> 2)] = Number.NaN;
    e.segExp(at, 1, 1, 0);
    expect(e.f32[at >> 2]).toBeNaN();
    // max of x * scale over odd lengths (the scalar tail included) and over nothing
    const vals = draw(7, 3);
    e.f32.set(vals, at >> 2);
    for (let len = 0; len <= 7; len++) {
      const want = len === 0 ? -Infinity : Math.max(...Array.from(vals.subarray(0, len), (x) => Math.fround(x * 0.5)));
      expect(e.segMax(at, len, 0.5)).toBe(want);
    }
    e.segScale(at, 5, 2);
    for (let i = 0; i < 7; i++) expect(e.f32[(at >> 2) + i]).toBe(i < 5 ? Math.fround(vals[i]! * 2) : vals[i]);
    const p = draw(6); const s = draw(6);
    e.f32.set(s, at >> 2); e.f32.set(p, (at >> 2) + 8);
    e.dsRow(at, at + 32, 6, 0.25, 0.125);
    for (let i = 0; i < 6; i++) expect(e.f32[(at >> 2) + i]).toBeCloseTo(p[i]! * (s[i]! - 0.25) * 0.125, 6);
  });

  it('declines empty problems, float64 stays on the reference, and the backend routes large float32 problems to it', () => {
    configureCpu({ threads: 1, wasm: true });
    expect(attentionFastApplies({ batchHeads: 0, queryLength: 512, keyLength: 512, headDim: 64, valueDim: 64 })).toBe(false);
    expect(attentionFastApplies({ batchHeads: 8, queryLength: 512, keyLength: 0, headDim: 64, valueDim: 64 })).toBe(false);
    expect(attentionFastApplies({ batchHeads: 8, queryLength: 512, keyLength: 512, headDim: 64, valueDim: 64 })).toBe(true);
    configureCpu({ wasm: false });
    expect(attentionFastApplies({ batchHeads: 8, queryLength: 512, keyLength: 512, headDim: 64, valueDim: 64 })).toBe(false);
    configureCpu({ wasm: true });
    // Through the backend: the same numbers as calling the fast path directly (float32), and
    // float64 gives the reference's result.
    const dims: AttentionDims = { batchHeads: 2, queryLength: 130, keyLength: 130, headDim: 16, valueDim: 16 };
    const o: AttentionOptions = { scale: 0.25, causal: true, window: 0, prefix: 0 };
    const q = draw(2 * 130 * 16); const k = draw(2 * 130 * 16); const v = draw(2 * 130 * 16);
    const viaBackend = backend.attention(backend.fromArray(q, 'float32'), backend.fromArray(k, 'float32'), backend.fromArray(v, 'float32'), dims, o);
    expect(Array.from(backend.readSync(viaBackend.out))).toEqual(Array.from(attentionForwardF32(q, k, v, dims, o).out));
    const f64 = (a: Float32Array) => backend.fromArray(Float64Array.from(a), 'float64');
    const d64 = backend.readSync(backend.attention(f64(q), f64(k), f64(v), dims, o).out);
    expect(d64).toBeInstanceOf(Float64Array);
    const ref = reference(q, k, v, draw(2 * 130 * 16), dims, o).out;
    close(Float32Array.from(d64), ref, 'float64 out');
  });
});
