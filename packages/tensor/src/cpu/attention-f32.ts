// Float32 attention on the CPU as blocks of matmuls on the WebAssembly SIMD kernels with the
// masked softmax (and its gradient) between them as a WebAssembly job of whole rows; both are
// shared with the worker threads when there are several and the block is large, each output
// element computed by one thread in a fixed order, so the results do not depend on the number
// of threads. Queries go in
// blocks of attentionTuning.queryBlock rows, all batch x heads at once; each block only touches the keys
// some query in it can see (so a causal mask skips most of the upper triangle). The score
// block of one query block is the only O(T^2)-sized temporary, bounded by
// batchHeads x queryBlock x keys.
//
// Same mask, same statistics (the row log-sum-exp) and same output conventions as the
// reference kernels in backend.ts (fully masked rows: output 0, lse -Infinity); sums are in
// float32 inside the matmuls (the reference accumulates in float64), so results agree within
// float32 rounding. Returns null (the reference runs) when WebAssembly is off or the problem
// is small or empty.
import type { AttentionDims, AttentionOptions, Storage, View } from '../backend.js';
import { cpuConfig } from './wasm/config.js';
import { ARENA, JOB, getEngine, reserve, runJob, type Engine } from './wasm/engine.js';
import { align, gemmInMemory, gemmScratchBytes, matmulF32, type MemoryOperand } from './wasm/matmul.js';

/**
 * queryBlock: query rows per block. Smaller blocks skip more of a causal mask's upper triangle
 * (the products cover (n + 1) / n of the causal work for n blocks) but make the matmuls
 * narrower. diagonalRows: rows per strip of the backward's tiles of a block's diagonal (see
 * backwardTiles; queryBlock or more: no tiles). The tiles skip 10-15% of the backward's
 * products at the Transformer++ bench's shape (causal, 512 tokens) but make them narrower, and
 * measured no faster with the current matmul kernel (bench/attention-f32.ts, 32 and 64 against
 * 128), so they are off by default. Mutable for the benchmark and tests only.
 */
export const attentionTuning = { queryBlock: 128, diagonalRows: 128 };

/**
 * The backward's tiles of query block [i0, i0 + rows) with keys [start, end), as [first row
 * (from i0), rows, first key, end key]: all rows over the keys the block's first row sees
 * (where a causal mask is dense), then strips of `sub` rows over the remaining keys up to the
 * last one a row of the strip sees. Every key that a row can see lies in exactly one tile of
 * that row (tiles may hold masked keys too: their probabilities are 0), so the gradients are
 * those of the whole block, with about (rows - sub) x rows / 2 fewer masked scores computed.
 * The backward needs no row-wide statistic but lse, so any such tiling is exact up to the order
 * of the float32 sums. One tile (the whole block) where sub >= rows.
 */
export function backwardTiles(
  i0: number, rows: number, start: number, end: number, tq: number, tk: number, o: AttentionOptions, sub: number,
): [number, number, number, number][] {
  if (sub >= rows || sub < 1) return [[0, rows, start, end]];
  const [, hiFirst] = keyRange(i0, tq, tk, o);
  let split = Math.min(Math.max(hiFirst + 1, start), end);
  // A sliver of dense keys is not worth its own products.
  if (split - start < sub) split = start;
  const prefix = Math.min(o.prefix, tk);
  const tiles: [number, number, number, number][] = [];
  if (split > start) tiles.push([0, rows, start, split]);
  for (let r0 = 0; r0 < rows; r0 += sub) {
    const rs = Math.min(sub, rows - r0);
    const [, hi] = keyRange(i0 + r0 + rs - 1, tq, tk, o);
    const ke = Math.min(Math.max(hi + 1, prefix, split), end);
    if (ke > split) tiles.push([r0, rs, split, ke]);
  }
  if (tiles.length === 0) tiles.push([0, rows, start, end]);
  return tiles;
}
/** Smallest problem (batchHeads x queries x keys x headDim) worth the fast path. */
export const ATTENTION_MIN_WORK = 1 << 16;

/** Whether the fast path takes this problem (float32 is checked by the caller). */
export function attentionFastApplies(dims: AttentionDims, minWork = ATTENTION_MIN_WORK): boolean {
  const { batchHeads, queryLength, keyLength, headDim, valueDim } = dims;
  if (batchHeads * queryLength * keyLength * headDim * valueDim === 0) return false;
  if (!cpuConfig().wasm || getEngine() === null) return false;
  return batchHeads * queryLength * keyLength * headDim >= minWork;
}

/**
 * Where the fast path's results go: an array of `size` floats whose contents do not matter (every
 * element is written). The backend passes its plan pool's arrays while a compiled plan replays:
 * a fresh array of megabytes costs its page faults on first write, several times the copy.
 */
export type Alloc = (size: number) => Float32Array;
const fresh: Alloc = (size) => new Float32Array(size);

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

/** Softmax-rows job modes (kernels.wat, job kind 3). */
const FORWARD = 0;
const BACKWARD = 1;
const GRADIENT = 2;
/** Least score elements of a softmax-rows task when the rows are shared with worker threads. */
const ROWS_TASK_ELEMENTS = 1 << 13;
/** Least score elements of a block for its rows to be shared with worker threads. */
const ROWS_PARALLEL_ELEMENTS = 1 << 15;

/** Where a block's softmax-rows job finds its inputs, as byte addresses in the kernels' memory. */
interface RowsJob {
  readonly mode: number;
  /** Score block [bh, rows, nk]. */
  readonly s: number;
  /** (from, count) of each row, rows x 2 int32 (not used by GRADIENT). */
  readonly table: number;
  /** FORWARD: statistics out (16 bytes a row); BACKWARD: lse of row i0 of group 0 (group stride tq). */
  readonly stats: number;
  /** GRADIENT: P [bh, rows, nk] and delta (float32) of row i0 of group 0 (group stride tq). */
  readonly p?: number;
  readonly delta?: number;
}

/**
 * Runs the softmax (FORWARD: p = exp(s * scale - max) / sum, writing (max, sum) per row;
 * BACKWARD: p = exp(s * scale - lse)) or the softmax gradient (GRADIENT: ds = p (ds - delta)
 * scale) on every row of the block [bh, rows, nk] (keys start..start+nk) in the kernels'
 * memory, in WebAssembly SIMD (float32, polynomial exp), as a job of whole rows: shared with the
 * worker threads when there are several and the block is large. A row is always computed by one
 * thread with the same arithmetic, so the result does not depend on the number of threads.
 */
function softmaxRows(
  e: Engine, job: RowsJob, bh: number, rows: number, nk: number, start: number, i0: number, tq: number, tk: number, o: AttentionOptions,
): void {
  const { i32 } = e;
  const prefix = Math.min(o.prefix, tk);
  const pEnd = Math.max(0, Math.min(prefix, start + nk) - start); // prefix keys in the block: [0, pEnd)
  if (job.mode !== GRADIENT) {
    for (let r = 0; r < rows; r++) {
      const [lo, hi] = keyRange(i0 + r, tq, tk, o);
      const rLo = Math.max(lo, prefix, start) - start;
      const rHi = Math.min(hi, start + nk - 1) - start; // inclusive
      const from = Math.min(Math.max(rLo, pEnd), nk);
      i32[(job.table >> 2) + 2 * r] = from;
      i32[(job.table >> 2) + 2 * r + 1] = Math.max(0, rHi - from + 1); // visible keys after the prefix
    }
  }
  const total = bh * rows;
  const threads = cpuConfig().threads;
  const parallel = threads > 1 && total * nk >= ROWS_PARALLEL_ELEMENTS;
  const perTask = parallel ? Math.max(Math.ceil(ROWS_TASK_ELEMENTS / nk), Math.ceil(total / (4 * threads))) : total;
  const j = JOB >> 2;
  i32[j] = 3;
  i32[j + 1] = job.mode;
  i32[j + 2] = job.s;
  i32[j + 3] = rows;
  i32[j + 4] = nk;
  i32[j + 5] = total;
  i32[j + 6] = perTask;
  i32[j + 7] = pEnd;
  i32[j + 8] = job.table;
  e.f32[j + 9] = o.scale;
  i32[j + 10] = job.mode === GRADIENT ? 0 : job.stats + (job.mode === BACKWARD ? i0 * 4 : 0);
  i32[j + 11] = tq;
  i32[j + 12] = job.p ?? 0;
  i32[j + 13] = (job.delta ?? 0) + i0 * 4;
  i32[j + 14] = tq;
  runJob(e, Math.ceil(total / perTask), parallel);
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
  Q: Float32Array, K: Float32Array, V: Float32Array, dims: AttentionDims, o: AttentionOptions, alloc: Alloc = fresh,
): { out: Float32Array; lse: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
  const block = attentionTuning.queryBlock;
  const qb = Math.min(block, tq);
  const scratch = Math.max(gemmScratchBytes(qb, tk, d, bh, bh), gemmScratchBytes(qb, dv, tk, bh, bh));
  const { at, total } = layout(bh * tq * d * 4, bh * tk * d * 4, bh * tk * dv * 4, bh * qb * tk * 4, bh * qb * dv * 4, scratch, qb * 8, bh * qb * 16);
  const [qAt, kAt, vAt, sAt, oAt, scratchAt, tableAt, statsAt] = at as [number, number, number, number, number, number, number, number];
  const e = getEngine();
  if (!e || !reserve(e, total)) return attentionForwardBlocks(Q, K, V, dims, o);
  const f32 = e.f32;
  f32.set(Q.subarray(0, bh * tq * d), qAt >> 2);
  f32.set(K.subarray(0, bh * tk * d), kAt >> 2);
  f32.set(V.subarray(0, bh * tk * dv), vAt >> 2);
  const out = alloc(bh * tq * dv);
  const lse = alloc(bh * tq);
  for (let i0 = 0; i0 < tq; i0 += block) {
    const rows = Math.min(block, tq - i0);
    const [start, end] = blockKeys(i0, i0 + rows, tq, tk, o);
    const nk = end - start;
    if (nk === 0) {
      for (let b = 0; b < bh; b++) {
        lse.fill(-Infinity, b * tq + i0, b * tq + i0 + rows);
        out.fill(0, (b * tq + i0) * dv, (b * tq + i0 + rows) * dv);
      }
      continue;
    }
    gemm(e, bh, rows, nk, d, operand(qAt + i0 * d * 4, [tq * d, d, 1], bh), operand(kAt + start * d * 4, [tk * d, 1, d], bh), sAt, scratchAt);
    softmaxRows(e, { mode: FORWARD, s: sAt, table: tableAt, stats: statsAt }, bh, rows, nk, start, i0, tq, tk, o);
    // lse = max + log(sum) per row, from the (max float32, sum float64) pairs the job wrote.
    const stats = new Float64Array(e.memory.buffer, statsAt, bh * rows * 2);
    for (let b = 0, row = 0; b < bh; b++) {
      for (let r = 0; r < rows; r++, row++) {
        const sum = stats[2 * row + 1]!;
        lse[b * tq + i0 + r] = sum > 0 ? f32[(statsAt >> 2) + 4 * row]! + Math.log(sum) : -Infinity;
      }
    }
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
  dims: AttentionDims, o: AttentionOptions, alloc: Alloc = fresh,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dvDim } = dims;
  const block = attentionTuning.queryBlock;
  const qb = Math.min(block, tq);
  const scratch = Math.max(
    gemmScratchBytes(qb, tk, d, bh, bh), gemmScratchBytes(qb, tk, dvDim, bh, bh), gemmScratchBytes(qb, d, tk, bh, bh),
    gemmScratchBytes(tk, d, qb, bh, bh), gemmScratchBytes(tk, dvDim, qb, bh, bh),
  );
  const { at, total } = layout(
    bh * tq * d * 4, bh * tk * d * 4, bh * tk * dvDim * 4, bh * tq * dvDim * 4, // q, k, v, dO
    bh * qb * tk * 4, bh * qb * tk * 4, // P, dS of a block
    bh * qb * d * 4, bh * tk * d * 4, bh * tk * dvDim * 4, // dq, dk, dv of a block
    scratch, qb * 8, bh * tq * 4, bh * tq * 4, // row table, lse, delta
    bh * tk * d * 4, bh * tk * dvDim * 4, // dk, dv sums over the blocks
    bh * Math.min(attentionTuning.diagonalRows, qb) * d * 4, // dq of a tile of the diagonal
  );
  const [qAt, kAt, vAt, gAt, pAt, sAt, dqAt, dkAt, dvAt, scratchAt, tableAt, lseAt, deltaAt, dkSumAt, dvSumAt, dqTileAt] =
    at as [number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number];
  const e = getEngine();
  if (!e || !reserve(e, total)) return attentionBackwardBlocks(Q, K, V, O, L, dO, dims, o);
  const f32 = e.f32;
  f32.set(Q.subarray(0, bh * tq * d), qAt >> 2);
  f32.set(K.subarray(0, bh * tk * d), kAt >> 2);
  f32.set(V.subarray(0, bh * tk * dvDim), vAt >> 2);
  f32.set(dO.subarray(0, bh * tq * dvDim), gAt >> 2);
  const dq = alloc(bh * tq * d);
  f32.fill(0, dkSumAt >> 2, (dkSumAt >> 2) + bh * tk * d);
  f32.fill(0, dvSumAt >> 2, (dvSumAt >> 2) + bh * tk * dvDim);
  f32.set(L.subarray(0, bh * tq), lseAt >> 2);
  // delta_i = dO_i . O_i, once per row (summed in float64, used in float32).
  const delta = f32.subarray(deltaAt >> 2, (deltaAt >> 2) + bh * tq);
  for (let row = 0; row < bh * tq; row++) {
    let sum = 0;
    for (let c = row * dvDim, end = c + dvDim; c < end; c++) sum += dO[c]! * O[c]!;
    delta[row] = sum;
  }
  const sub = attentionTuning.diagonalRows;
  /** The gradients of rows [r, r + rs) over keys [ks, ks + nk): dk and dv added into their sums, dq written at dqOut ([bh, rs, d]). */
  const tile = (r: number, rs: number, ks: number, nk: number, dqOut: number): void => {
    const qTile = operand(qAt + r * d * 4, [tq * d, d, 1], bh);
    const gTile = operand(gAt + r * dvDim * 4, [tq * dvDim, dvDim, 1], bh);
    gemm(e, bh, rs, nk, d, qTile, operand(kAt + ks * d * 4, [tk * d, 1, d], bh), pAt, scratchAt);
    softmaxRows(e, { mode: BACKWARD, s: pAt, table: tableAt, stats: lseAt }, bh, rs, nk, ks, r, tq, tk, o);
    // dP = dO V^T; dS = P (dP - delta) scale.
    gemm(e, bh, rs, nk, dvDim, gTile, operand(vAt + ks * dvDim * 4, [tk * dvDim, 1, dvDim], bh), sAt, scratchAt);
    softmaxRows(e, { mode: GRADIENT, s: sAt, table: tableAt, stats: 0, p: pAt, delta: deltaAt }, bh, rs, nk, ks, r, tq, tk, o);
    gemm(e, bh, rs, d, nk, operand(sAt, [rs * nk, nk, 1], bh), operand(kAt + ks * d * 4, [tk * d, d, 1], bh), dqOut, scratchAt);
    gemm(e, bh, nk, d, rs, operand(sAt, [rs * nk, 1, nk], bh), qTile, dkAt, scratchAt);
    gemm(e, bh, nk, dvDim, rs, operand(pAt, [rs * nk, 1, nk], bh), gTile, dvAt, scratchAt);
    addBlocks(e, dkSumAt + ks * d * 4, tk * d * 4, dkAt, nk * d, bh);
    addBlocks(e, dvSumAt + ks * dvDim * 4, tk * dvDim * 4, dvAt, nk * dvDim, bh);
  };
  for (let i0 = 0; i0 < tq; i0 += block) {
    const rows = Math.min(block, tq - i0);
    const [start, end] = blockKeys(i0, i0 + rows, tq, tk, o);
    if (end === start) {
      for (let b = 0; b < bh; b++) dq.fill(0, (b * tq + i0) * d, (b * tq + i0 + rows) * d);
      continue;
    }
    const tiles = backwardTiles(i0, rows, start, end, tq, tk, o, sub);
    const whole = tiles[0]![1] === rows;
    if (!whole) f32.fill(0, dqAt >> 2, (dqAt >> 2) + bh * rows * d);
    for (let t = 0; t < tiles.length; t++) {
      const [r0, rs, ks, ke] = tiles[t]!;
      if (t === 0 && whole) tile(i0, rows, ks, ke - ks, dqAt);
      else {
        tile(i0 + r0, rs, ks, ke - ks, dqTileAt);
        addBlocks(e, dqAt + r0 * d * 4, rows * d * 4, dqTileAt, rs * d, bh);
      }
    }
    for (let b = 0; b < bh; b++) dq.set(f32.subarray((dqAt >> 2) + b * rows * d, (dqAt >> 2) + (b + 1) * rows * d), (b * tq + i0) * d);
  }
  const dk = alloc(bh * tk * d);
  dk.set(f32.subarray(dkSumAt >> 2, (dkSumAt >> 2) + bh * tk * d));
  const dv = alloc(bh * tk * dvDim);
  dv.set(f32.subarray(dvSumAt >> 2, (dvSumAt >> 2) + bh * tk * dvDim));
  return { dq, dk, dv };
}

/**
 * dst[b] += src[b] (float32, `count` floats each) for the `groups` blocks of a [groups, count]
 * contiguous src in the kernels' memory, dst groups `dstStride` bytes apart; one task per
 * group, shared with the worker threads when large (each element summed by one thread).
 */
function addBlocks(e: Engine, dst: number, dstStride: number, src: number, count: number, groups: number): void {
  const j = JOB >> 2;
  e.i32[j] = 4;
  e.i32[j + 1] = dst;
  e.i32[j + 2] = dstStride;
  e.i32[j + 3] = src;
  e.i32[j + 4] = count * 4;
  e.i32[j + 5] = count;
  runJob(e, groups, cpuConfig().threads > 1 && groups * count >= ROWS_PARALLEL_ELEMENTS);
}

/** The forward through matmulF32 (operands copied per product): used when the kernels' memory cannot hold the whole problem. */
export function attentionForwardBlocks(
  Q: Float32Array, K: Float32Array, V: Float32Array, dims: AttentionDims, o: AttentionOptions,
): { out: Float32Array; lse: Float32Array } {
  const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
  const block = attentionTuning.queryBlock;
  const out = new Float32Array(bh * tq * dv);
  const lse = new Float32Array(bh * tq);
  for (let i0 = 0; i0 < tq; i0 += block) {
    const rows = Math.min(block, tq - i0);
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
  const block = attentionTuning.queryBlock;
  const dq = new Float32Array(bh * tq * d);
  const dk = new Float32Array(bh * tk * d);
  const dv = new Float32Array(bh * tk * dvDim);
  const lse = L instanceof Float32Array ? L : Float32Array.from(L);
  for (let i0 = 0; i0 < tq; i0 += block) {
    const rows = Math.min(block, tq - i0);
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
