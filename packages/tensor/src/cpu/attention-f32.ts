// Float32 attention on the CPU as blocks of matmuls on the WebAssembly SIMD kernels (threaded
// by the matmul engine) with the masked softmax between them in JavaScript. Queries go in
// blocks of QUERY_BLOCK rows, all batch x heads at once; each block only touches the keys
// some query in it can see (so a causal mask skips most of the upper triangle). The score
// block of one query block is the only O(T^2)-sized temporary, bounded by
// batchHeads x QUERY_BLOCK x keys.
//
// Same mask, same statistics (the row log-sum-exp) and same output conventions as the
// reference kernels in backend.ts (fully masked rows: output 0, lse -Infinity); sums are in
// float32 inside the matmuls (the reference accumulates in float64), so results agree within
// float32 rounding. Returns null (the reference runs) when WebAssembly is off or the problem
// is small or empty.
import type { AttentionDims, AttentionOptions, Storage, View } from '../backend.js';
import { cpuConfig } from './wasm/config.js';
import { getEngine } from './wasm/engine.js';
import { matmulF32 } from './wasm/matmul.js';

/** Query rows per block. */
const QUERY_BLOCK = 128;
/** Smallest problem (batchHeads x queries x keys x headDim) worth the fast path. */
export const ATTENTION_MIN_WORK = 1 << 16;

/** Whether the fast path takes this problem (float32 is checked by the caller). */
export function attentionFastApplies(dims: AttentionDims, minWork = ATTENTION_MIN_WORK): boolean {
  const { batchHeads, queryLength, keyLength, headDim, valueDim } = dims;
  if (batchHeads * queryLength * keyLength * headDim * valueDim === 0) return false;
  if (!cpuConfig().wasm || getEngine() === null) return false;
  return batchHeads * queryLength * keyLength * headDim >= minWork;
}

// matmulF32 reads only shape, strides and offset of its views.
const NO_STORAGE = null as unknown as Storage;
function view(shape: [number, number, number], strides: [number, number, number], offset: number): View {
  return { storage: NO_STORAGE, shape, strides, offset };
}

/** C[b] = A[b] @ B[b] for strided float32 views; the WebAssembly kernel, or a plain loop when it declines. */
function mm(A: Float32Array, a: View, B: Float32Array, b: View): Float32Array {
  const fast = matmulF32(a, A, b, B);
  if (fast) return fast;
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  const [sab, sam, sak] = a.strides as [number, number, number];
  const [sbb, sbk, sbn] = b.strides as [number, number, number];
  const out = new Float32Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m; i++) {
      const aRow = a.offset + bi * sab + i * sam;
      const o = (bi * m + i) * n;
      for (let p = 0; p < k; p++) {
        const x = A[aRow + p * sak]!;
        const bRow = b.offset + bi * sbb + p * sbk;
        for (let j = 0; j < n; j++) out[o + j] += x * B[bRow + j * sbn]!;
      }
    }
  }
  return out;
}

/** Visible keys [lo, hi] of query i outside the prefix (hi < lo: none), as `visible` in backend.ts. */
function keyRange(i: number, tq: number, tk: number, o: AttentionOptions): [number, number] {
  const position = i + tk - tq;
  const hi = o.causal ? Math.min(tk - 1, position) : tk - 1;
  const lo = o.window > 0 ? Math.max(0, position - o.window + 1) : 0;
  return [lo, hi];
}

/** Keys [start, end) that some query of [i0, i1) can see, prefix included. */
function blockKeys(i0: number, i1: number, tq: number, tk: number, o: AttentionOptions): [number, number] {
  const [lo] = keyRange(i0, tq, tk, o);
  const [, hi] = keyRange(i1 - 1, tq, tk, o);
  const prefix = Math.min(o.prefix, tk);
  let start = prefix > 0 ? 0 : Math.min(lo, tk);
  let end = Math.max(hi + 1, prefix);
  if (end < start) end = start;
  if (start > end) start = end;
  return [start, Math.min(end, tk)];
}

/**
 * Turns scaled scores S [bh, rows, nk] (keys start..start+nk) into probabilities in place:
 * p = exp(s * scale - lse) on visible keys, 0 elsewhere. With `lse` given, uses it (backward);
 * else computes and stores it at lseOut[bh * tq + i0 + r].
 */
function softmaxBlock(
  S: Float32Array, bh: number, rows: number, nk: number, start: number, i0: number, tq: number, tk: number,
  o: AttentionOptions, lse: Float32Array, computeLse: boolean,
): void {
  const scale = o.scale;
  const prefix = Math.min(o.prefix, tk);
  for (let b = 0; b < bh; b++) {
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const base = (b * rows + r) * nk;
      // Visible: [start, prefix) and [lo, hi], clipped to the block's keys.
      const [lo, hi] = keyRange(i, tq, tk, o);
      const pEnd = Math.min(prefix, start + nk) - start; // prefix keys in the block: [0, pEnd)
      const rLo = Math.max(lo, prefix, start) - start;
      const rHi = Math.min(hi, start + nk - 1) - start; // inclusive
      const lseAt = b * tq + i;
      const from = Math.min(Math.max(rLo, pEnd), nk);
      if (computeLse) {
        // One exp per visible score: e = exp(s - max) in place, then scaled by 1 / sum.
        let m = -Infinity;
        for (let j = 0; j < pEnd; j++) { const s = S[base + j]! * scale; if (s > m) m = s; }
        for (let j = rLo; j <= rHi; j++) { const s = S[base + j]! * scale; if (s > m) m = s; }
        let sum = 0;
        if (m > -Infinity) {
          for (let j = 0; j < pEnd; j++) { const e = Math.exp(S[base + j]! * scale - m); S[base + j] = e; sum += e; }
          for (let j = rLo; j <= rHi; j++) { const e = Math.exp(S[base + j]! * scale - m); S[base + j] = e; sum += e; }
        }
        lse[lseAt] = sum > 0 ? m + Math.log(sum) : -Infinity;
        if (!(sum > 0)) {
          S.fill(0, base, base + nk);
          continue;
        }
        const inv = 1 / sum;
        let j = 0;
        for (; j < pEnd; j++) S[base + j] = S[base + j]! * inv;
        for (; j < from; j++) S[base + j] = 0;
        for (; j <= rHi; j++) S[base + j] = S[base + j]! * inv;
        for (; j < nk; j++) S[base + j] = 0;
        continue;
      }
      const l = lse[lseAt]!;
      if (l === -Infinity) {
        S.fill(0, base, base + nk);
        continue;
      }
      let j = 0;
      for (; j < pEnd; j++) S[base + j] = Math.exp(S[base + j]! * scale - l);
      for (; j < from; j++) S[base + j] = 0;
      for (; j <= rHi; j++) S[base + j] = Math.exp(S[base + j]! * scale - l);
      for (; j < nk; j++) S[base + j] = 0;
    }
  }
}

/** Forward: out [bh, tq, dv] and lse [bh, tq] for contiguous q [bh, tq, d], k [bh, tk, d], v [bh, tk, dv]. */
export function attentionForwardF32(
  Q: Float32Array, K: Float32Array, V: Float32Array, dims: AttentionDims, o: AttentionOptions,
): { out: Float32Array; lse: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
  const out = new Float32Array(bh * tq * dv);
  const lse = new Float32Array(bh * tq);
  for (let i0 = 0; i0 < tq; i0 += QUERY_BLOCK) {
    const rows = Math.min(QUERY_BLOCK, tq - i0);
    const [start, end] = blockKeys(i0, i0 + rows, tq, tk, o);
    const nk = end - start;
    if (nk === 0) {
      for (let b = 0; b < bh; b++) lse.fill(-Infinity, b * tq + i0, b * tq + i0 + rows);
      continue;
    }
    const S = mm(Q, view([bh, rows, d], [tq * d, d, 1], i0 * d), K, view([bh, d, nk], [tk * d, 1, d], start * d));
    softmaxBlock(S, bh, rows, nk, start, i0, tq, tk, o, lse, true);
    const O = mm(S, view([bh, rows, nk], [rows * nk, nk, 1], 0), V, view([bh, nk, dv], [tk * dv, dv, 1], start * dv));
    for (let b = 0; b < bh; b++) out.set(O.subarray(b * rows * dv, (b + 1) * rows * dv), (b * tq + i0) * dv);
  }
  return { out, lse };
}

/** Backward: dq, dk, dv for the forward above (the probabilities are recomputed from lse). */
export function attentionBackwardF32(
  Q: Float32Array, K: Float32Array, V: Float32Array, O: Float32Array, L: Float32Array, dO: Float32Array,
  dims: AttentionDims, o: AttentionOptions,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dvDim } = dims;
  const dq = new Float32Array(bh * tq * d);
  const dk = new Float32Array(bh * tk * d);
  const dv = new Float32Array(bh * tk * dvDim);
  const lse = L instanceof Float32Array ? L : Float32Array.from(L);
  for (let i0 = 0; i0 < tq; i0 += QUERY_BLOCK) {
    const rows = Math.min(QUERY_BLOCK, tq - i0);
    const [start, end] = blockKeys(i0, i0 + rows, tq, tk, o);
    const nk = end - start;
    if (nk === 0) continue;
    const qView = view([bh, rows, d], [tq * d, d, 1], i0 * d);
    const doView = view([bh, rows, dvDim], [tq * dvDim, dvDim, 1], i0 * dvDim);
    const P = mm(Q, qView, K, view([bh, d, nk], [tk * d, 1, d], start * d));
    softmaxBlock(P, bh, rows, nk, start, i0, tq, tk, o, lse, false);
    // dP = dO V^T; dS = P (dP - delta) scale with delta_i = dO_i . O_i.
    const dS = mm(dO, doView, V, view([bh, dvDim, nk], [tk * dvDim, 1, dvDim], start * dvDim));
    for (let b = 0; b < bh; b++) {
      for (let r = 0; r < rows; r++) {
        const row = (b * tq + i0 + r) * dvDim;
        let delta = 0;
        for (let c = 0; c < dvDim; c++) delta += dO[row + c]! * O[row + c]!;
        const base = (b * rows + r) * nk;
        for (let j = 0; j < nk; j++) dS[base + j] = P[base + j]! * (dS[base + j]! - delta) * o.scale;
      }
    }
    const blockView = view([bh, rows, nk], [rows * nk, nk, 1], 0);
    const blockT = view([bh, nk, rows], [rows * nk, 1, nk], 0);
    const dqBlock = mm(dS, blockView, K, view([bh, nk, d], [tk * d, d, 1], start * d));
    for (let b = 0; b < bh; b++) dq.set(dqBlock.subarray(b * rows * d, (b + 1) * rows * d), (b * tq + i0) * d);
    const dkBlock = mm(dS, blockT, Q, qView);
    const dvBlock = mm(P, blockT, dO, doView);
    for (let b = 0; b < bh; b++) {
      addInto(dk, (b * tk + start) * d, dkBlock, b * nk * d, nk * d);
      addInto(dv, (b * tk + start) * dvDim, dvBlock, b * nk * dvDim, nk * dvDim);
    }
  }
  return { dq, dk, dv };
}

function addInto(target: Float32Array, at: number, src: Float32Array, from: number, count: number): void {
  for (let i = 0; i < count; i++) target[at + i] += src[from + i]!;
}
