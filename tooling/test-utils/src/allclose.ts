// Element-wise closeness of numeric arrays, NumPy style: |actual - expected| <= atol + rtol * |expected|.
// Values may be tensors (read synchronously, so CPU tensors; `await readValues(t)` first for
// GPU tensors), typed arrays, nested arrays or numbers. A single expected number broadcasts.
import { Tensor, type NestedArray, type TypedArray } from '@titans/tensor';

export type Numeric = Tensor | TypedArray | NestedArray | readonly number[] | readonly Numeric[];

export interface AllcloseOptions {
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-8). */
  atol?: number;
  /** Treat NaN as equal to NaN (default false). */
  equalNan?: boolean;
}

export interface AllcloseResult {
  ok: boolean;
  /** Human-readable summary; names the worst element when `ok` is false. */
  message: string;
  maxAbsError: number;
  /** Largest |diff| / |expected| over elements with a non-zero expected value. */
  maxRelError: number;
  mismatches: number;
}

/** Flat values plus a shape; `shape` is null for flat typed arrays (which compare by size only). */
export interface Flat {
  values: ArrayLike<number>;
  shape: number[] | null;
}

export function flatten(x: Numeric): Flat {
  if (x instanceof Tensor) return { values: x.dataSync(), shape: [...x.shape] };
  if (typeof x === 'number') return { values: [x], shape: [] };
  if (ArrayBuffer.isView(x)) return { values: x as TypedArray, shape: null };
  const values: number[] = [];
  const shape: number[] = [];
  let nested = false;
  const walk = (v: Numeric, depth: number): void => {
    if (typeof v === 'number') {
      values.push(v);
      return;
    }
    if (v instanceof Tensor || ArrayBuffer.isView(v)) {
      nested = true;
      const inner = flatten(v);
      for (let i = 0; i < inner.values.length; i++) values.push(inner.values[i]!);
      return;
    }
    const list = v as readonly Numeric[];
    if (shape.length === depth) shape.push(list.length);
    else if (shape[depth] !== list.length) throw new Error(`allclose: ragged nested array at depth ${depth}`);
    for (const item of list) walk(item, depth + 1);
  };
  walk(x, 0);
  return { values, shape: nested ? null : shape };
}

/** Reads any numeric value, including tensors on asynchronous (GPU) backends. */
export async function readValues(x: Numeric): Promise<Float64Array> {
  if (x instanceof Tensor) return Float64Array.from(await x.data());
  return Float64Array.from(flatten(x).values);
}

function formatIndex(flatIndex: number, shape: number[] | null): string {
  if (shape === null || shape.length === 0) return `${flatIndex}`;
  const idx: number[] = [];
  let rest = flatIndex;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  return `[${idx.join(', ')}] (flat ${flatIndex})`;
}

function sameShape(a: number[], b: number[]): boolean {
  const strip = (s: number[]): number[] => (s.length === 1 && s[0] === 1 ? [] : s);
  const x = strip(a);
  const y = strip(b);
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

export function allclose(actual: Numeric, expected: Numeric, options: AllcloseOptions = {}): AllcloseResult {
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-8;
  const equalNan = options.equalNan ?? false;
  const a = flatten(actual);
  const e = flatten(expected);
  const broadcast = e.values.length === 1 && typeof expected === 'number';
  const fail = (message: string): AllcloseResult => ({ ok: false, message, maxAbsError: Infinity, maxRelError: Infinity, mismatches: a.values.length });
  if (!broadcast) {
    if (a.shape !== null && e.shape !== null && !sameShape(a.shape, e.shape)) {
      return fail(`shape mismatch: actual [${a.shape.join(', ')}] vs expected [${e.shape.join(', ')}]`);
    }
    if (a.values.length !== e.values.length) {
      return fail(`size mismatch: actual has ${a.values.length} elements, expected ${e.values.length}`);
    }
  }
  let maxAbsError = 0;
  let maxRelError = 0;
  let mismatches = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < a.values.length; i++) {
    const x = a.values[i]!;
    const y = broadcast ? e.values[0]! : e.values[i]!;
    let close: boolean;
    let diff: number;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      close = equalNan && Number.isNaN(x) && Number.isNaN(y);
      diff = close ? 0 : Infinity;
    } else if (x === y) {
      close = true;
      diff = 0;
    } else {
      diff = Math.abs(x - y);
      close = diff <= atol + rtol * Math.abs(y);
    }
    if (diff > maxAbsError) maxAbsError = diff;
    if (y !== 0 && Number.isFinite(diff)) maxRelError = Math.max(maxRelError, diff / Math.abs(y));
    if (!close) {
      mismatches++;
      const excess = Number.isFinite(diff) ? diff - (atol + rtol * Math.abs(y)) : Infinity;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (mismatches === 0) {
    return { ok: true, message: `all ${a.values.length} elements close (max |diff| ${maxAbsError.toExponential(2)})`, maxAbsError, maxRelError, mismatches };
  }
  const x = a.values[worst]!;
  const y = broadcast ? e.values[0]! : e.values[worst]!;
  const message =
    `${mismatches} of ${a.values.length} elements differ (rtol ${rtol}, atol ${atol}); worst at ${formatIndex(worst, a.shape ?? e.shape)}: ` +
    `actual ${x} vs expected ${y} (|diff| ${Math.abs(x - y).toExponential(3)}); max |diff| ${maxAbsError.toExponential(3)}`;
  return { ok: false, message, maxAbsError, maxRelError, mismatches };
}

/** Throws with `allclose`'s message when the values are not close. */
export function assertAllclose(actual: Numeric, expected: Numeric, options: AllcloseOptions = {}, label = 'values'): void {
  const result = allclose(actual, expected, options);
  if (!result.ok) throw new Error(`${label}: ${result.message}`);
}
