// Float32 elementwise ops on the WebAssembly SIMD kernels, bit-identical to the JavaScript
// kernels (see kernels.wat). Handles the common layouts: contiguous operands, a scalar or a
// row/column vector broadcast against a contiguous one, and rows of any stride; anything else
// (and small tensors) returns null so the JavaScript kernel runs.
import type { BinaryOp, UnaryOp, View } from '../../backend.js';
import { cpuConfig } from './config.js';
import { ARENA, getEngine, reserve } from './engine.js';
import { collapse } from '../collapse.js';

/** Smallest output (elements) worth the copies in and out of the kernels' memory. */
const MIN_ELEMENTS = 2048;
/** Shortest contiguous run along the last axis: shorter rows are left to JavaScript. */
const MIN_COLS = 8;

/** Op codes of kernels.wat's `binary`. */
const BINARY_CODES: Partial<Record<BinaryOp, number>> = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 };
const UNARY_CODES: Partial<Record<UnaryOp, number>> = { neg: 0, abs: 1, sqrt: 2, square: 3, relu: 4 };


const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;

/**
 * op(a, b) for float32 views of the same (broadcast) shape, as a new contiguous array; null to
 * leave it to the JavaScript kernel.
 */
export function binaryF32(op: BinaryOp, a: View, A: Float32Array, b: View, B: Float32Array): Float32Array | null {
  const code = BINARY_CODES[op];
  if (code === undefined || !cpuConfig().wasm) return null;
  const size = a.shape.reduce((x, y) => x * y, 1);
  if (size < MIN_ELEMENTS) return null;
  const c = collapse(a.shape, [a.strides, b.strides]);
  if (c.shape.length > 2) return null;
  const [rows, cols] = c.shape.length === 2 ? c.shape as [number, number] : [1, c.shape[0]!];
  const inner = (i: number): number => c.strides[i]![c.shape.length - 1]!;
  const outer = (i: number): number => (c.shape.length === 2 ? c.strides[i]![0]! : 0);
  // x: the operand that is contiguous along the row; y: the other one (contiguous or constant).
  let xi: number;
  if (inner(0) === 1) xi = 0;
  else if (inner(1) === 1) xi = 1;
  else return null;
  const yi = 1 - xi;
  const ycs = inner(yi);
  if (cols < MIN_COLS || (ycs !== 0 && ycs !== 1) || outer(0) < 0 || outer(1) < 0) return null;
  const xv = xi === 0 ? a : b;
  const yv = xi === 0 ? b : a;
  const xSpan = (rows - 1) * outer(xi) + cols;
  const ySpan = (rows - 1) * outer(yi) + (cols - 1) * ycs + 1;
  if (xSpan > 4 * size + 4096 || ySpan > 4 * size + 4096) return null;
  const e = getEngine();
  if (!e) return null;
  const xAt = 0;
  const yAt = align(xSpan * 4);
  const outAt = yAt + align(ySpan * 4 + 16); // +16: a vector load at the last element stays inside
  if (!reserve(e, outAt + align(size * 4) + 64)) return null;
  const X = xi === 0 ? A : B;
  const Y = xi === 0 ? B : A;
  e.f32.set(X.subarray(xv.offset, xv.offset + xSpan), (ARENA + xAt) >> 2);
  e.f32.set(Y.subarray(yv.offset, yv.offset + ySpan), (ARENA + yAt) >> 2);
  e.binary(code, xi, ARENA + outAt, ARENA + xAt, outer(xi), ARENA + yAt, outer(yi), ycs, rows, cols);
  const o = (ARENA + outAt) >> 2;
  return e.f32.slice(o, o + size);
}

/** op(x) for a contiguous float32 view, as a new array; null to leave it to JavaScript. */
export function unaryF32(op: UnaryOp, x: View, X: Float32Array): Float32Array | null {
  const code = UNARY_CODES[op];
  if (code === undefined || !cpuConfig().wasm) return null;
  const size = x.shape.reduce((p, q) => p * q, 1);
  if (size < MIN_ELEMENTS) return null;
  const c = collapse(x.shape, [x.strides]);
  if (c.shape.length !== 1 || c.strides[0]![0] !== 1) return null;
  const e = getEngine();
  if (!e) return null;
  const outAt = align(size * 4);
  if (!reserve(e, outAt + align(size * 4) + 64)) return null;
  e.f32.set(X.subarray(x.offset, x.offset + size), ARENA >> 2);
  e.unary(code, ARENA + outAt, ARENA, size);
  const o = (ARENA + outAt) >> 2;
  return e.f32.slice(o, o + size);
}
