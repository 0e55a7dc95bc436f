// Plain-array float64 arithmetic for the per-token references the Hope tests write by hand
// (hope-cms, hope-dgd, hope-titans): small enough to check by eye, independent of the
// tensor library they check.
import type { Tensor } from '@titans/tensor';

/** A matrix as rows of numbers. */
export type Matrix = number[][];

/** A 2-D tensor's values as rows. */
export function toMatrix(t: Tensor): Matrix {
  const [rows, cols] = t.shape as [number, number];
  const d = t.dataSync();
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => d[i * cols + j]!));
}

/** m x. */
export function matVec(m: Matrix, x: readonly number[]): number[] {
  return m.map((row) => row.reduce((s, w, j) => s + w * x[j]!, 0));
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** x / max(|x|, 1e-12). */
export function unit(x: readonly number[]): number[] {
  const n = Math.sqrt(x.reduce((s, v) => s + v * v, 0));
  return x.map((v) => v / Math.max(n, 1e-12));
}

/** One Delta Gradient Descent step: W <- alpha W - eta ((W a) a^T + delta a^T). */
export function dgdStep(w: Matrix, a: readonly number[], delta: readonly number[], eta: number, alpha: number): Matrix {
  const wa = matVec(w, a);
  return w.map((row, i) => row.map((wij, j) => alpha * wij - eta * (wa[i]! + delta[i]!) * a[j]!));
}
