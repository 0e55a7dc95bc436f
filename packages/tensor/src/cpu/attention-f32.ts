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
import { ARENA, getEngine, reserve, type Engine } from './wasm/engine.js';
import { align, gemmInMemory, gemmScratchBytes, matmulF32, type MemoryOperand } from './wasm/matmul.js';

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
  S: Float32Array, at: number, bh: number, rows: number, nk: number, start: number, i0: number, tq: number, tk: number,
  o: AttentionOptions, lse: Float32Array, computeLse: boolean,
): void {
  const scale = o.scale;
  const prefix = Math.min(o.prefix, tk);
  for (let b = 0; b < bh; b++) {
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const base = at + (b * rows + r) * nk;
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

/**
 * softmaxBlock on a score block in the kernels' memory (element offset `at` of e.f32), with the
 * row arithmetic in WebAssembly SIMD (float32, polynomial exp): the same visible keys, lse
 * and conventions, equal to softmaxBlock within float32 rounding.
 */
function softmaxBlockInMemory(
  e: Engine, at: number, bh: number, rows: number, nk: number, start: number, i0: number, tq: number, tk: number,
  o: AttentionOptions, lse: Float32Array, computeLse: boolean,
): void {
  const S = e.f32;
  const scale = o.scale;
  const prefix = Math.min(o.prefix, tk);
  const pEnd = Math.max(0, Math.min(prefix, start + nk) - start); // prefix keys in the block: [0, pEnd)
  for (let b = 0; b < bh; b++) {
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const base = at + (b * rows + r) * nk;
      const [lo, hi] = keyRange(i, tq, tk, o);
      const rLo = Math.max(lo, prefix, start) - start;
      const rHi = Math.min(hi, start + nk - 1) - start; // inclusive
      const from = Math.min(Math.max(rLo, pEnd), nk);
      const count = Math.max(0, rHi - from + 1); // visible keys after the prefix: [from, from + count)
      const lseAt = b * tq + i;
      const p0 = base * 4;
      const p1 = (base + from) * 4;
      if (computeLse) {
        const m = Math.max(e.segMax(p0, pEnd, scale), e.segMax(p1, count, scale));
        let sum = 0;
        if (m > -Infinity) sum = e.segExp(p0, pEnd, scale, m) + e.segExp(p1, count, scale, m);
        lse[lseAt] = sum > 0 ? m + Math.log(sum) : -Infinity;
        if (!(sum > 0)) {
          S.fill(0, base, base + nk);
          continue;
        }
        const inv = 1 / sum;
        e.segScale(p0, pEnd, inv);
        e.segScale(p1, count, inv);
      } else {
        const l = lse[lseAt]!;
        if (l === -Infinity) {
          S.fill(0, base, base + nk);
          continue;
        }
        e.segExp(p0, pEnd, scale, l);
        e.segExp(p1, count, scale, l);
      }
      S.fill(0, base + pEnd, base + from);
      S.fill(0, base + from + count, base + nk);
    }
  }
}

const parallelFor = (flops: number): boolean => cpuConfig().threads > 1 && flops >= cpuConfig().parallelMinFlops;
const operand = (at: number, strides: [number, number, number], batches: number): MemoryOperand => ({ at, strides, batches });

/** Byte offsets (from ARENA) of consecutive regions of the given sizes in bytes, and the total. */
function layout(...bytes: number[]): { at: number[]; total: number } {
  const at: number[] = [];
  let next = 0;
  for (const b of bytes) {
    at.push(ARENA + next);
    next += align(b);
  }
  return { at, total: next + 64 };
}

/**
 * Forward: out [bh, tq, dv] and lse [bh, tq] for contiguous q [bh, tq, d], k [bh, tk, d],
 * v [bh, tk, dv]. q, k and v are copied into the kernels' memory once; every query block's
 * products, its score block and its softmax then stay there (no per-block copies or arrays).
 */
export function attentionForwardF32(
  Q: Float32Array, K: Float32Array, V: Float32Array, dims: AttentionDims, o: AttentionOptions,
): { out: Float32Array; lse: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
  const qb = Math.min(QUERY_BLOCK, tq);
  const scratch = Math.max(gemmScratchBytes(qb, tk, d, bh, bh), gemmScratchBytes(qb, dv, tk, bh, bh));
  const { at, total } = layout(bh * tq * d * 4, bh * tk * d * 4, bh * tk * dv * 4, bh * qb * tk * 4, bh * qb * dv * 4, scratch);
  const [qAt, kAt, vAt, sAt, oAt, scratchAt] = at as [number, number, number, number, number, number];
  const e = getEngine();
  if (!e || !reserve(e, total)) return attentionForwardBlocks(Q, K, V, dims, o);
  const f32 = e.f32;
  f32.set(Q.subarray(0, bh * tq * d), qAt >> 2);
  f32.set(K.subarray(0, bh * tk * d), kAt >> 2);
  f32.set(V.subarray(0, bh * tk * dv), vAt >> 2);
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
    gemm(e, bh, rows, nk, d, operand(qAt + i0 * d * 4, [tq * d, d, 1], bh), operand(kAt + start * d * 4, [tk * d, 1, d], bh), sAt, scratchAt);
    softmaxBlockInMemory(e, sAt >> 2, bh, rows, nk, start, i0, tq, tk, o, lse, true);
    gemm(e, bh, rows, dv, nk, operand(sAt, [rows * nk, nk, 1], bh), operand(vAt + start * dv * 4, [tk * dv, dv, 1], bh), oAt, scratchAt);
    for (let b = 0; b < bh; b++) out.set(f32.subarray((oAt >> 2) + b * rows * dv, (oAt >> 2) + (b + 1) * rows * dv), (b * tq + i0) * dv);
  }
  return { out, lse };
}

function gemm(e: Engine, batch: number, m: number, n: number, k: number, a: MemoryOperand, b: MemoryOperand, c: number, scratch: number): void {
  gemmInMemory(e, batch, m, n, k, a, b, c, scratch, parallelFor(2 * batch * m * n * k));
}

/**
 * Backward: dq, dk, dv for the forward above (the probabilities are recomputed from lse), with
 * q, k, v and the incoming gradient copied into the kernels' memory once, as the forward.
 */
export function attentionBackwardF32(
  Q: Float32Array, K: Float32Array, V: Float32Array, O: Float32Array, L: Float32Array, dO: Float32Array,
  dims: AttentionDims, o: AttentionOptions,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dvDim } = dims;
  const qb = Math.min(QUERY_BLOCK, tq);
  const scratch = Math.max(
    gemmScratchBytes(qb, tk, d, bh, bh), gemmScratchBytes(qb, tk, dvDim, bh, bh), gemmScratchBytes(qb, d, tk, bh, bh),
    gemmScratchBytes(tk, d, qb, bh, bh), gemmScratchBytes(tk, dvDim, qb, bh, bh),
  );
  const { at, total } = layout(
    bh * tq * d * 4, bh * tk * d * 4, bh * tk * dvDim * 4, bh * tq * dvDim * 4, // q, k, v, dO
    bh * qb * tk * 4, bh * qb * tk * 4, // P, dS of a block
    bh * qb * d * 4, bh * tk * d * 4, bh * tk * dvDim * 4, // dq, dk, dv of a block
    scratch,
  );
  const [qAt, kAt, vAt, gAt, pAt, sAt, dqAt, dkAt, dvAt, scratchAt] = at as [number, number, number, number, number, number, number, number, number, number];
  const e = getEngine();
  if (!e || !reserve(e, total)) return attentionBackwardBlocks(Q, K, V, O, L, dO, dims, o);
  const f32 = e.f32;
  f32.set(Q.subarray(0, bh * tq * d), qAt >> 2);
  f32.set(K.subarray(0, bh * tk * d), kAt >> 2);
  f32.set(V.subarray(0, bh * tk * dvDim), vAt >> 2);
  f32.set(dO.subarray(0, bh * tq * dvDim), gAt >> 2);
  const dq = new Float32Array(bh * tq * d);
  const dk = new Float32Array(bh * tk * d);
  const dv = new Float32Array(bh * tk * dvDim);
  const lse = L instanceof Float32Array ? L : Float32Array.from(L);
  // delta_i = dO_i . O_i, once per row.
  const delta = new Float64Array(bh * tq);
  for (let row = 0; row < bh * tq; row++) {
    let sum = 0;
    for (let c = row * dvDim, end = c + dvDim; c < end; c++) sum += dO[c]! * O[c]!;
    delta[row] = sum;
  }
  const P = pAt >> 2;
  for (let i0 = 0; i0 < tq; i0 += QUERY_BLOCK) {
    const rows = Math.min(QUERY_BLOCK, tq - i0);
    const [start, end] = blockKeys(i0, i0 + rows, tq, tk, o);
    const nk = end - start;
    if (nk === 0) continue;
    const qBlock = operand(qAt + i0 * d * 4, [tq * d, d, 1], bh);
    const gBlock = operand(gAt + i0 * dvDim * 4, [tq * dvDim, dvDim, 1], bh);
    gemm(e, bh, rows, nk, d, qBlock, operand(kAt + start * d * 4, [tk * d, 1, d], bh), pAt, scratchAt);
    softmaxBlockInMemory(e, P, bh, rows, nk, start, i0, tq, tk, o, lse, false);
    // dP = dO V^T; dS = P (dP - delta) scale.
    gemm(e, bh, rows, nk, dvDim, gBlock, operand(vAt + start * dvDim * 4, [tk * dvDim, 1, dvDim], bh), sAt, scratchAt);
    for (let b = 0; b < bh; b++) {
      for (let r = 0; r < rows; r++) {
        const base = (b * rows + r) * nk * 4;
        e.dsRow(sAt + base, pAt + base, nk, delta[b * tq + i0 + r]!, o.scale);
      }
    }
    gemm(e, bh, rows, d, nk, operand(sAt, [rows * nk, nk, 1], bh), operand(kAt + start * d * 4, [tk * d, d, 1], bh), dqAt, scratchAt);
    for (let b = 0; b < bh; b++) dq.set(f32.subarray((dqAt >> 2) + b * rows * d, (dqAt >> 2) + (b + 1) * rows * d), (b * tq + i0) * d);
    gemm(e, bh, nk, d, rows, operand(sAt, [rows * nk, 1, nk], bh), qBlock, dkAt, scratchAt);
    gemm(e, bh, nk, dvDim, rows, operand(pAt, [rows * nk, 1, nk], bh), gBlock, dvAt, scratchAt);
    for (let b = 0; b < bh; b++) {
      addInto(dk, (b * tk + start) * d, f32, (dkAt >> 2) + b * nk * d, nk * d);
      addInto(dv, (b * tk + start) * dvDim, f32, (dvAt >> 2) + b * nk * dvDim, nk * dvDim);
    }
  }
  return { dq, dk, dv };
}

/** The forward through matmulF32 (operands copied per product): used when the kernels' memory cannot hold the whole problem. */
export function attentionForwardBlocks(
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
    softmaxBlock(S, 0, bh, rows, nk, start, i0, tq, tk, o, lse, true);
    const O = mm(S, view([bh, rows, nk], [rows * nk, nk, 1], 0), V, view([bh, nk, dv], [tk * dv, dv, 1], start * dv));
    for (let b = 0; b < bh; b++) out.set(O.subarray(b * rows * dv, (b + 1) * rows * dv), (b * tq + i0) * dv);
  }
  return { out, lse };
}

/** The backward through matmulF32, as attentionForwardBlocks. */
export function attentionBackwardBlocks(
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
    softmaxBlock(P, 0, bh, rows, nk, start, i0, tq, tk, o, lse, false);
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
