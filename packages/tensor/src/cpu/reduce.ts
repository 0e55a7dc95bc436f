// Row reductions of the CPU backend (Backend.reduceRows): out[r] = op over x[r, 0..cols) in
// column order, accumulated in a JavaScript number (float64) and rounded once on the store,
// as the reference loop `reduceRowsReference` does. The fast loop sums four rows at a time:
// each row's chain of additions is the same, in the same order (so the same bits), but four
// independent chains keep the adder busy where a single chain waits on each addition's latency
// (3-4x faster on rows of a few to a few hundred columns, the bias gradients and per-row
// statistics of a training step); one column is a plain pass.
import type { ReduceOp, TypedArray } from '../backend.js';

/** The reference loop: one row after another, the op chosen per row. */
export function reduceRowsReference(op: ReduceOp, src: TypedArray, rows: number, cols: number, o: TypedArray): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let acc: number;
    switch (op) {
      case 'sum': acc = 0; for (let c = 0; c < cols; c++) acc += src[base + c]!; break;
      case 'prod': acc = 1; for (let c = 0; c < cols; c++) acc *= src[base + c]!; break;
      case 'max': acc = -Infinity; for (let c = 0; c < cols; c++) { const v = src[base + c]!; if (v > acc || Number.isNaN(v)) acc = v; } break;
      case 'min': acc = Infinity; for (let c = 0; c < cols; c++) { const v = src[base + c]!; if (v < acc || Number.isNaN(v)) acc = v; } break;
    }
    o[r] = acc;
  }
}

/** out[r] = op(x[r, :]) with the reference loop's bits. */
export function reduceRowsKernel(op: ReduceOp, src: TypedArray, rows: number, cols: number, o: TypedArray): void {
  // float32 sums, by far the most common, in their own copy of the loop: one element type keeps
  // its loads monomorphic (about twice as fast as the shared loop once it has seen every dtype).
  if (op === 'sum' && src instanceof Float32Array && o instanceof Float32Array) sumRowsF32(src, rows, cols, o);
  else if (op === 'sum') sumRows(src, rows, cols, o);
  else if (op === 'prod') prodRows(src, rows, cols, o);
  else reduceRowsReference(op, src, rows, cols, o);
}

function sumRows(src: TypedArray, rows: number, cols: number, o: TypedArray): void {
  let r = 0;
  if (cols === 1) {
    // 0 + x: -0 becomes +0, as in the reference.
    for (; r < rows; r++) o[r] = 0 + src[r]!;
    return;
  }
  for (; r + 4 <= rows; r += 4) {
    const b0 = r * cols;
    const b1 = b0 + cols;
    const b2 = b1 + cols;
    const b3 = b2 + cols;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let c = 0; c < cols; c++) {
      a0 += src[b0 + c]!;
      a1 += src[b1 + c]!;
      a2 += src[b2 + c]!;
      a3 += src[b3 + c]!;
    }
    o[r] = a0;
    o[r + 1] = a1;
    o[r + 2] = a2;
    o[r + 3] = a3;
  }
  for (; r < rows; r++) {
    const b0 = r * cols;
    let a0 = 0;
    for (let c = 0; c < cols; c++) a0 += src[b0 + c]!;
    o[r] = a0;
  }
}

/** sumRows for float32 (the same code, one element type). */
function sumRowsF32(src: Float32Array, rows: number, cols: number, o: Float32Array): void {
  let r = 0;
  if (cols === 1) {
    // 0 + x: -0 becomes +0, as in the reference.
    for (; r < rows; r++) o[r] = 0 + src[r]!;
    return;
  }
  for (; r + 4 <= rows; r += 4) {
    const b0 = r * cols;
    const b1 = b0 + cols;
    const b2 = b1 + cols;
    const b3 = b2 + cols;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let c = 0; c < cols; c++) {
      a0 += src[b0 + c]!;
      a1 += src[b1 + c]!;
      a2 += src[b2 + c]!;
      a3 += src[b3 + c]!;
    }
    o[r] = a0;
    o[r + 1] = a1;
    o[r + 2] = a2;
    o[r + 3] = a3;
  }
  for (; r < rows; r++) {
    const b0 = r * cols;
    let a0 = 0;
    for (let c = 0; c < cols; c++) a0 += src[b0 + c]!;
    o[r] = a0;
  }
}

function prodRows(src: TypedArray, rows: number, cols: number, o: TypedArray): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const b0 = r * cols;
    const b1 = b0 + cols;
    const b2 = b1 + cols;
    const b3 = b2 + cols;
    let a0 = 1;
    let a1 = 1;
    let a2 = 1;
    let a3 = 1;
    for (let c = 0; c < cols; c++) {
      a0 *= src[b0 + c]!;
      a1 *= src[b1 + c]!;
      a2 *= src[b2 + c]!;
      a3 *= src[b3 + c]!;
    }
    o[r] = a0;
    o[r + 1] = a1;
    o[r + 2] = a2;
    o[r + 3] = a3;
  }
  for (; r < rows; r++) {
    const b0 = r * cols;
    let a0 = 1;
    for (let c = 0; c < cols; c++) a0 *= src[b0 + c]!;
    o[r] = a0;
  }
}

/**
 * out[o, j] = op over i of x[o, i, j] for a contiguous x [outer, mid, inner]: each output
 * accumulated in float64 over i in increasing order and rounded once, as reduceRows does on
 * the transposed copy [outer * inner, mid] (the same bits), without making that copy. The
 * accumulators of a row block sit in `acc` and the sweep over j is contiguous.
 */
export function reduceMiddleKernel(op: ReduceOp, src: TypedArray, outer: number, mid: number, inner: number, o: TypedArray): void {
  if (op === 'sum' && src instanceof Float32Array && o instanceof Float32Array) {
    sumMiddleF32(src, outer, mid, inner, o);
    return;
  }
  const acc = new Float64Array(inner);
  const start = op === 'sum' ? 0 : op === 'prod' ? 1 : op === 'max' ? -Infinity : Infinity;
  for (let q = 0; q < outer; q++) {
    acc.fill(start);
    for (let i = 0; i < mid; i++) {
      const base = (q * mid + i) * inner;
      switch (op) {
        case 'sum': for (let j = 0; j < inner; j++) acc[j] = acc[j]! + src[base + j]!; break;
        case 'prod': for (let j = 0; j < inner; j++) acc[j] = acc[j]! * src[base + j]!; break;
        case 'max': for (let j = 0; j < inner; j++) { const v = src[base + j]!; if (v > acc[j]! || Number.isNaN(v)) acc[j] = v; } break;
        case 'min': for (let j = 0; j < inner; j++) { const v = src[base + j]!; if (v < acc[j]! || Number.isNaN(v)) acc[j] = v; } break;
      }
    }
    const out = q * inner;
    for (let j = 0; j < inner; j++) o[out + j] = acc[j]!;
  }
}

/**
 * The float32 sum of reduceMiddleKernel in its own (monomorphic) loop, four rows of the middle
 * axis per sweep: acc[j] = (((acc[j] + x[i, j]) + x[i + 1, j]) + ...) + x[i + 3, j] is the same
 * additions in the same order, with a quarter of the accumulator traffic.
 */
function sumMiddleF32(src: Float32Array, outer: number, mid: number, inner: number, o: Float32Array): void {
  const acc = new Float64Array(inner);
  for (let q = 0; q < outer; q++) {
    acc.fill(0);
    let i = 0;
    for (; i + 4 <= mid; i += 4) {
      const b0 = (q * mid + i) * inner;
      const b1 = b0 + inner;
      const b2 = b1 + inner;
      const b3 = b2 + inner;
      for (let j = 0; j < inner; j++) acc[j] = acc[j]! + src[b0 + j]! + src[b1 + j]! + src[b2 + j]! + src[b3 + j]!;
    }
    for (; i < mid; i++) {
      const b0 = (q * mid + i) * inner;
      for (let j = 0; j < inner; j++) acc[j] = acc[j]! + src[b0 + j]!;
    }
    const out = q * inner;
    for (let j = 0; j < inner; j++) o[out + j] = acc[j]!;
  }
}
