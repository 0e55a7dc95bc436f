// Fused attention (forward with row log-sum-exp, and backward) against a naive float64
// softmax(Q K^T) V written out here, with causal masks, sliding windows and an
// always-visible prefix; the unfused path is checked the same way.
import { cpuBackend, type AttentionDims, type AttentionOptions, type Storage } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { Random, expectClose, makeBackend, type Tolerance } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

const TOL: Tolerance = { rtol: 1e-4, atol: 2e-5 };

function maskAllows(i: number, j: number, tq: number, tk: number, o: AttentionOptions): boolean {
  if (j < o.prefix) return true;
  const pos = i + tk - tq;
  return (!o.causal || j <= pos) && (o.window === 0 || j > pos - o.window);
}

interface Reference {
  out: Float64Array;
  lse: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

/** softmax(scale Q K^T + mask) V and its gradients, materialising P, in float64. */
function naive(q: Float32Array, k: Float32Array, v: Float32Array, g: Float32Array, dims: AttentionDims, o: AttentionOptions): Reference {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
  const r: Reference = {
    out: new Float64Array(bh * tq * dv), lse: new Float64Array(bh * tq),
    dq: new Float64Array(bh * tq * d), dk: new Float64Array(bh * tk * d), dv: new Float64Array(bh * tk * dv),
  };
  for (let b = 0; b < bh; b++) {
    for (let i = 0; i < tq; i++) {
      const s = new Float64Array(tk).fill(-Infinity);
      for (let j = 0; j < tk; j++) {
        if (!maskAllows(i, j, tq, tk, o)) continue;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(b * tq + i) * d + c]! * k[(b * tk + j) * d + c]!;
        s[j] = dot * o.scale;
      }
      const m = Math.max(...s);
      const row = b * tq + i;
      if (m === -Infinity) {
        r.lse[row] = -Infinity;
        continue;
      }
      const p = s.map((x) => Math.exp(x - m));
      const z = p.reduce((a, x) => a + x, 0);
      for (let j = 0; j < tk; j++) p[j]! /= z;
      r.lse[row] = m + Math.log(z);
      for (let j = 0; j < tk; j++) for (let c = 0; c < dv; c++) r.out[row * dv + c] += p[j]! * v[(b * tk + j) * dv + c]!;
      // dP = dO V^T; dS = P (dP - sum_j P dP); dQ = scale dS K; dK = scale dS^T Q; dV = P^T dO.
      const dp = new Float64Array(tk);
      for (let j = 0; j < tk; j++) for (let c = 0; c < dv; c++) dp[j] += g[row * dv + c]! * v[(b * tk + j) * dv + c]!;
      let centre = 0;
      for (let j = 0; j < tk; j++) centre += p[j]! * dp[j]!;
      for (let j = 0; j < tk; j++) {
        const ds = p[j]! * (dp[j]! - centre) * o.scale;
        for (let c = 0; c < d; c++) {
          r.dq[row * d + c] += ds * k[(b * tk + j) * d + c]!;
          r.dk[(b * tk + j) * d + c] += ds * q[row * d + c]!;
        }
        for (let c = 0; c < dv; c++) r.dv[(b * tk + j) * dv + c] += p[j]! * g[row * dv + c]!;
      }
    }
  }
  return r;
}

type Run = (q: Storage, k: Storage, v: Storage, dims: AttentionDims, o: AttentionOptions) => { out: Storage; lse: Storage };
type RunBackward = (q: Storage, k: Storage, v: Storage, out: Storage, lse: Storage, g: Storage, dims: AttentionDims, o: AttentionOptions) => { dq: Storage; dk: Storage; dv: Storage };

async function check(dims: AttentionDims, o: AttentionOptions, seed: number, fused = true): Promise<void> {
  const rng = new Random(seed);
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
  const qd = rng.uniform(bh * tq * d, -2, 2);
  const kd = rng.uniform(bh * tk * d, -2, 2);
  const vd = rng.uniform(bh * tk * dv);
  const gd = rng.uniform(bh * tq * dv);
  const ref = naive(qd, kd, vd, gd, dims, o);
  const [q, k, v, g] = [qd, kd, vd, gd].map((x) => gpu.fromArray(x, 'float32')) as [Storage, Storage, Storage, Storage];
  const fwd: Run = fused ? gpu.attention.bind(gpu) : gpu.attentionUnfused.bind(gpu);
  const bwd: RunBackward = fused ? gpu.attentionBackward.bind(gpu) : gpu.attentionBackwardUnfused.bind(gpu);
  const { out, lse } = fwd(q, k, v, dims, o);
  const grads = bwd(q, k, v, out, lse, g, dims, o);
  const label = `${fused ? 'fused' : 'unfused'} ${JSON.stringify(dims)} ${JSON.stringify(o)}`;
  expectClose(await gpu.read(out), ref.out, TOL, `${label} out`);
  expectClose(await gpu.read(lse), ref.lse, TOL, `${label} lse`);
  expectClose(await gpu.read(grads.dq), ref.dq, TOL, `${label} dq`);
  expectClose(await gpu.read(grads.dk), ref.dk, TOL, `${label} dk`);
  expectClose(await gpu.read(grads.dv), ref.dv, TOL, `${label} dv`);
  for (const s of [q, k, v, g, out, lse, grads.dq, grads.dk, grads.dv]) gpu.dispose(s);
}

const OPTIONS: readonly Omit<AttentionOptions, 'scale'>[] = [
  { causal: false, window: 0, prefix: 0 },
  { causal: true, window: 0, prefix: 0 },
  { causal: true, window: 5, prefix: 0 },
  { causal: true, window: 4, prefix: 3 },
  { causal: false, window: 6, prefix: 2 },
];

const SHAPES: readonly AttentionDims[] = [
  { batchHeads: 2, queryLength: 17, keyLength: 17, headDim: 8, valueDim: 8 },
  { batchHeads: 1, queryLength: 65, keyLength: 65, headDim: 16, valueDim: 12 },
  { batchHeads: 3, queryLength: 5, keyLength: 33, headDim: 4, valueDim: 7 }, // decoding-like: fewer queries than keys
  { batchHeads: 1, queryLength: 33, keyLength: 3, headDim: 3, valueDim: 1 }, // more queries than keys: fully masked rows
];

describe('fused attention vs naive softmax(QK^T)V', () => {
  SHAPES.forEach((dims, s) => {
    it(`forward + backward ${JSON.stringify(dims)}`, async () => {
      for (const [i, o] of OPTIONS.entries()) await check(dims, { ...o, scale: 1 / Math.sqrt(dims.headDim) }, 10 * s + i);
    });
  });

  it('long sequences: several query blocks, skipped key tiles outside a window', async () => {
    const dims = { batchHeads: 1, queryLength: 150, keyLength: 200, headDim: 8, valueDim: 8 };
    await check(dims, { causal: true, window: 16, prefix: 4, scale: 0.3 }, 90);
    await check(dims, { causal: true, window: 0, prefix: 0, scale: 0.3 }, 91);
  });

  it('agrees with the CPU backend', async () => {
    const dims = { batchHeads: 2, queryLength: 9, keyLength: 9, headDim: 5, valueDim: 3 };
    const o = { causal: true, window: 3, prefix: 1, scale: 0.5 };
    const rng = new Random(92);
    const data = [rng.uniform(2 * 9 * 5), rng.uniform(2 * 9 * 5), rng.uniform(2 * 9 * 3), rng.uniform(2 * 9 * 3)];
    const [qc, kc, vc, gc] = data.map((x) => cpuBackend.fromArray(x, 'float32')) as [Storage, Storage, Storage, Storage];
    const [qg, kg, vg, gg] = data.map((x) => gpu.fromArray(x, 'float32')) as [Storage, Storage, Storage, Storage];
    const c = cpuBackend.attention(qc, kc, vc, dims, o);
    const g = gpu.attention(qg, kg, vg, dims, o);
    expectClose(await gpu.read(g.out), cpuBackend.readSync(c.out), TOL, 'out');
    expectClose(await gpu.read(g.lse), cpuBackend.readSync(c.lse), TOL, 'lse');
    const cb = cpuBackend.attentionBackward(qc, kc, vc, c.out, c.lse, gc, dims, o);
    const gb = gpu.attentionBackward(qg, kg, vg, g.out, g.lse, gg, dims, o);
    expectClose(await gpu.read(gb.dq), cpuBackend.readSync(cb.dq), TOL, 'dq');
    expectClose(await gpu.read(gb.dk), cpuBackend.readSync(cb.dk), TOL, 'dk');
    expectClose(await gpu.read(gb.dv), cpuBackend.readSync(cb.dv), TOL, 'dv');
  });

  it('never allocates a T x T buffer', async () => {
    const dims = { batchHeads: 1, queryLength: 256, keyLength: 256, headDim: 8, valueDim: 8 };
    const rng = new Random(93);
    const q = gpu.fromArray(rng.uniform(256 * 8), 'float32');
    await gpu.sync();
    gpu.trim();
    const created = gpu.stats().pool.created;
    const inUse = gpu.stats().pool.inUseBytes;
    const { out, lse } = gpu.attention(q, q, q, dims, { causal: true, window: 0, prefix: 0, scale: 0.35 });
    await gpu.read(out);
    // out and lse only (256*8 and 256 floats); a score matrix would need 256 KiB.
    expect(gpu.stats().pool.created - created).toBeLessThanOrEqual(2);
    expect(gpu.stats().pool.inUseBytes - inUse).toBeLessThan(64 * 1024);
    for (const s of [q, out, lse]) gpu.dispose(s);
  });
});

describe('unfused attention', () => {
  it('matches the naive reference (forward and backward)', async () => {
    await check(SHAPES[0]!, { causal: true, window: 4, prefix: 3, scale: 0.4 }, 94, false);
    await check(SHAPES[3]!, { causal: true, window: 0, prefix: 0, scale: 0.4 }, 95, false);
  });

  it('serves head sizes beyond the fused kernel', async () => {
    await check({ batchHeads: 1, queryLength: 5, keyLength: 6, headDim: 260, valueDim: 3 }, { causal: true, window: 0, prefix: 1, scale: 0.06 }, 96);
  });
});
