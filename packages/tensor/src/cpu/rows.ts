// Fused row kernels of the CPU backend (one or two passes over each row instead of the
// five to twelve elementwise and reduction passes of the composite ops they replace):
// RMSNorm / LayerNorm forward and backward, softmax / log-softmax forward and backward, and
// rotary position embedding. Plain loops over typed arrays, float32 and float64 alike;
// sums are accumulated in float64 (JavaScript numbers) and each output is rounded once.
// Large float32 norms and rotary embeddings run the same arithmetic on the WebAssembly
// kernels instead, shared with the worker threads (rows-wasm.ts: the same bits as the loops
// here, for any thread count); the loops are the reference and run everything else.
import type { NormKind } from '../backend.js';
import { normRowsBackwardF32, normRowsF32, ropeF32, softmaxRowsBackwardF32, softmaxRowsF32 } from './rows-wasm.js';

type Floats = Float32Array | Float64Array;

/**
 * Normalises each row of x [rows, cols]: 'rms' y = x r with r = 1 / sqrt(mean(x^2) + eps);
 * 'layer' y = (x - mean) r with r = 1 / sqrt(mean((x - mean)^2) + eps). Writes y and r.
 */
export function normRowsKernel(kind: NormKind, x: Floats, rows: number, cols: number, eps: number, y: Floats, rstd: Floats): void {
  if (x instanceof Float32Array && y instanceof Float32Array && rstd instanceof Float32Array && normRowsF32(kind, x, rows, cols, eps, y, rstd)) return;
  normRowsJs(kind, x, rows, cols, eps, y, rstd);
}

/** normRowsKernel's JavaScript loops (the reference). */
export function normRowsJs(kind: NormKind, x: Floats, rows: number, cols: number, eps: number, y: Floats, rstd: Floats): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let mean = 0;
    if (kind === 'layer') {
      for (let c = 0; c < cols; c++) mean += x[base + c]!;
      mean /= cols;
    }
    let squares = 0;
    for (let c = 0; c < cols; c++) {
      const v = x[base + c]! - mean;
      squares += v * v;
    }
    const s = 1 / Math.sqrt(squares / cols + eps);
    rstd[r] = s;
    // The rounded r, as the composite multiplies by the stored rsqrt.
    const sr = rstd[r]!;
    for (let c = 0; c < cols; c++) y[base + c] = (x[base + c]! - mean) * sr;
  }
}

/**
 * Gradient of normRowsKernel with respect to x, from its output y, r and the incoming g:
 * 'rms' dx = r (g - y mean(g y)); 'layer' dx = r (g - mean(g) - y mean(g y)).
 */
export function normRowsBackwardKernel(kind: NormKind, y: Floats, rstd: Floats, g: Floats, rows: number, cols: number, dx: Floats): void {
  if (
    y instanceof Float32Array && rstd instanceof Float32Array && g instanceof Float32Array && dx instanceof Float32Array &&
    normRowsBackwardF32(kind, y, rstd, g, rows, cols, dx)
  ) return;
  normRowsBackwardJs(kind, y, rstd, g, rows, cols, dx);
}

/** normRowsBackwardKernel's JavaScript loops (the reference). */
export function normRowsBackwardJs(kind: NormKind, y: Floats, rstd: Floats, g: Floats, rows: number, cols: number, dx: Floats): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let gy = 0;
    let gs = 0;
    for (let c = 0; c < cols; c++) {
      const gv = g[base + c]!;
      gy += gv * y[base + c]!;
      gs += gv;
    }
    const a = gy / cols;
    const b = kind === 'layer' ? gs / cols : 0;
    const s = rstd[r]!;
    for (let c = 0; c < cols; c++) dx[base + c] = s * (g[base + c]! - b - y[base + c]! * a);
  }
}

/** softmax (or log-softmax) of each row of x [rows, cols]; a row of -Infinity gives NaN as the composite does. */
export function softmaxRowsKernel(x: Floats, rows: number, cols: number, log: boolean, y: Floats): void {
  if (x instanceof Float32Array && y instanceof Float32Array && softmaxRowsF32(x, rows, cols, log, y)) return;
  softmaxRowsJs(x, rows, cols, log, y);
}

/** softmaxRowsKernel's JavaScript loops (the reference). */
export function softmaxRowsJs(x: Floats, rows: number, cols: number, log: boolean, y: Floats): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) {
      const v = x[base + c]!;
      if (v > m || Number.isNaN(v)) m = v;
    }
    // As logsumexp: a row whose max is infinite is shifted by 0.
    const shift = Number.isFinite(m) ? m : 0;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[base + c]! - shift);
    if (log) {
      const lse = shift + Math.log(sum);
      for (let c = 0; c < cols; c++) y[base + c] = x[base + c]! - lse;
    } else {
      const lse = shift + Math.log(sum);
      for (let c = 0; c < cols; c++) y[base + c] = Math.exp(x[base + c]! - lse);
    }
  }
}

/**
 * Gradient of softmaxRowsKernel from its output y and the incoming g:
 * softmax dx = y (g - sum(g y)); log-softmax dx = g - exp(y) sum(g).
 */
export function softmaxRowsBackwardKernel(y: Floats, g: Floats, rows: number, cols: number, log: boolean, dx: Floats): void {
  if (y instanceof Float32Array && g instanceof Float32Array && dx instanceof Float32Array && softmaxRowsBackwardF32(y, g, rows, cols, log, dx)) return;
  softmaxRowsBackwardJs(y, g, rows, cols, log, dx);
}

/** softmaxRowsBackwardKernel's JavaScript loops (the reference). */
export function softmaxRowsBackwardJs(y: Floats, g: Floats, rows: number, cols: number, log: boolean, dx: Floats): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let s = 0;
    if (log) {
      for (let c = 0; c < cols; c++) s += g[base + c]!;
      for (let c = 0; c < cols; c++) dx[base + c] = g[base + c]! - Math.exp(y[base + c]!) * s;
    } else {
      for (let c = 0; c < cols; c++) s += g[base + c]! * y[base + c]!;
      for (let c = 0; c < cols; c++) dx[base + c] = y[base + c]! * (g[base + c]! - s);
    }
  }
}

/**
 * Rotary embedding of x [outer, t, d] (d even) with tables cos, sin [t, d / 2]:
 * y[.., i] = x1 cos - x2 sin, y[.., d/2 + i] = x1 sin + x2 cos with x1 = x[.., i], x2 = x[.., d/2 + i].
 */
export function ropeKernel(x: Floats, cos: Floats, sin: Floats, outer: number, t: number, d: number, y: Floats): void {
  if (
    x instanceof Float32Array && cos instanceof Float32Array && sin instanceof Float32Array && y instanceof Float32Array &&
    ropeF32(x, cos, sin, outer, t, d, y)
  ) return;
  ropeJs(x, cos, sin, outer, t, d, y);
}

/** ropeKernel's JavaScript loop (the reference). */
export function ropeJs(x: Floats, cos: Floats, sin: Floats, outer: number, t: number, d: number, y: Floats): void {
  const half = d >> 1;
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < t; p++) {
      const base = (o * t + p) * d;
      const tb = p * half;
      for (let i = 0; i < half; i++) {
        const x1 = x[base + i]!;
        const x2 = x[base + half + i]!;
        const c = cos[tb + i]!;
        const s = sin[tb + i]!;
        y[base + i] = x1 * c - x2 * s;
        y[base + half + i] = x1 * s + x2 * c;
      }
    }
  }
}

/** y = x sigmoid(x), elementwise. */
export function siluKernel(x: Floats, y: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v / (1 + Math.exp(-v));
  }
}

/** dx = g s (1 + x (1 - s)) with s = sigmoid(x). */
export function siluBackwardKernel(x: Floats, g: Floats, dx: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const s = 1 / (1 + Math.exp(-v));
    dx[i] = g[i]! * s * (1 + v * (1 - s));
  }
}
