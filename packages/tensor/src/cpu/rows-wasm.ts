// Float32 row kernels (RMSNorm / LayerNorm forward and backward, rotary embedding, softmax and
// log-softmax forward and backward) on the WebAssembly kernels (kernels.wat, job kinds 5-7, 9
// and 10), shared with the worker threads when large. The softmax rows take exp from the
// kernels' port of fdlibm's exp (V8's Math.exp), checked bit for bit against Math.exp before
// the first use, and the per-row log from Math.log between two passes.
// The WebAssembly code does the arithmetic of the JavaScript loops in rows.ts step for step
// (float64 sums in the same order, float32 loads, one rounding per output), so the results are
// the same bits as those loops for any thread count; each row is computed by one thread. The
// inputs are copied into the kernels' memory and the outputs back, which a large job repays
// (the loops here run several times faster than the JavaScript ones before any threading).
// Each function returns false, having done nothing, where the JavaScript loops must run
// instead (WebAssembly off or unavailable, a small job, memory beyond the cap).
import type { NormKind } from '../backend.js';
import { cpuConfig } from './wasm/config.js';
import { ARENA, JOB, getEngine, reserve, runJob, type Engine } from './wasm/engine.js';
import { align } from './wasm/matmul.js';

/** Least floats of a row job for the WebAssembly kernels. */
export const ROWS_WASM_MIN_ELEMENTS = 1 << 12;
/** Least floats of a row job for it to be shared with the worker threads. */
export const ROWS_PARALLEL_MIN_ELEMENTS = 1 << 15;
/** Least floats per task of a shared row job. */
const TASK_ELEMENTS = 1 << 13;

/** The engine with room for `bytes` past ARENA, or null when the WebAssembly path must not run. */
function engineFor(elements: number, bytes: number): Engine | null {
  if (!cpuConfig().wasm || elements < ROWS_WASM_MIN_ELEMENTS) return null;
  const e = getEngine();
  return e !== null && reserve(e, bytes) ? e : null;
}

/** Writes the row job's common fields and runs it over `rows` rows of `width` floats. */
function runRows(e: Engine, kind: number, rows: number, width: number): void {
  const threads = cpuConfig().threads;
  const parallel = threads > 1 && rows * width >= ROWS_PARALLEL_MIN_ELEMENTS;
  const perTask = parallel ? Math.max(Math.ceil(TASK_ELEMENTS / width), Math.ceil(rows / (4 * threads))) : rows;
  const j = JOB >> 2;
  e.i32[j] = kind;
  e.i32[j + 2] = rows;
  e.i32[j + 3] = width;
  e.i32[j + 4] = perTask;
  runJob(e, Math.ceil(rows / perTask), parallel);
}

/** normRowsKernel (rows.ts) for float32 x, y [rows, cols] and rstd [rows]. */
export function normRowsF32(kind: NormKind, x: Float32Array, rows: number, cols: number, eps: number, y: Float32Array, rstd: Float32Array): boolean {
  const n = rows * cols;
  const xAt = ARENA;
  const yAt = xAt + align(n * 4);
  const rAt = yAt + align(n * 4);
  const e = engineFor(n, rAt + align(rows * 4) - ARENA);
  if (!e) return false;
  e.f32.set(x.subarray(0, n), xAt >> 2);
  const j = JOB >> 2;
  e.i32[j + 1] = kind === 'layer' ? 1 : 0;
  e.i32[j + 5] = xAt;
  e.i32[j + 6] = yAt;
  e.i32[j + 7] = rAt;
  new Float64Array(e.memory.buffer, JOB + 40, 1)[0] = eps;
  runRows(e, 5, rows, cols);
  y.set(e.f32.subarray(yAt >> 2, (yAt >> 2) + n));
  rstd.set(e.f32.subarray(rAt >> 2, (rAt >> 2) + rows));
  return true;
}

/** normRowsBackwardKernel (rows.ts) for float32 y, g, dx [rows, cols] and rstd [rows]. */
export function normRowsBackwardF32(
  kind: NormKind, y: Float32Array, rstd: Float32Array, g: Float32Array, rows: number, cols: number, dx: Float32Array,
): boolean {
  const n = rows * cols;
  const yAt = ARENA;
  const rAt = yAt + align(n * 4);
  const gAt = rAt + align(rows * 4);
  const dAt = gAt + align(n * 4);
  const e = engineFor(n, dAt + align(n * 4) - ARENA);
  if (!e) return false;
  e.f32.set(y.subarray(0, n), yAt >> 2);
  e.f32.set(rstd.subarray(0, rows), rAt >> 2);
  e.f32.set(g.subarray(0, n), gAt >> 2);
  const j = JOB >> 2;
  e.i32[j + 1] = kind === 'layer' ? 1 : 0;
  e.i32[j + 5] = yAt;
  e.i32[j + 6] = rAt;
  e.i32[j + 7] = gAt;
  e.i32[j + 8] = dAt;
  runRows(e, 6, rows, cols);
  dx.set(e.f32.subarray(dAt >> 2, (dAt >> 2) + n));
  return true;
}

/** ropeKernel (rows.ts) for float32 x, y [outer, t, d] (d even) and tables cos, sin [t, d / 2]. */
export function ropeF32(x: Float32Array, cos: Float32Array, sin: Float32Array, outer: number, t: number, d: number, y: Float32Array): boolean {
  const n = outer * t * d;
  const table = t * (d >> 1);
  const xAt = ARENA;
  const cAt = xAt + align(n * 4);
  const sAt = cAt + align(table * 4);
  const yAt = sAt + align(table * 4);
  if (d % 2 !== 0 || n === 0) return false;
  const e = engineFor(n, yAt + align(n * 4) - ARENA);
  if (!e) return false;
  e.f32.set(x.subarray(0, n), xAt >> 2);
  e.f32.set(cos.subarray(0, table), cAt >> 2);
  e.f32.set(sin.subarray(0, table), sAt >> 2);
  const j = JOB >> 2;
  e.i32[j + 5] = xAt;
  e.i32[j + 6] = cAt;
  e.i32[j + 7] = sAt;
  e.i32[j + 8] = yAt;
  e.i32[j + 9] = t;
  runRows(e, 7, outer * t, d);
  y.set(e.f32.subarray(yAt >> 2, (yAt >> 2) + n));
  return true;
}

/** Arguments of the exp self-check: special values, both bands of fdlibm's reduction, a sweep. */
function expCheckValues(): number[] {
  const values = [0, -0, 1, -1, 0.5, -0.5, Math.LN2 / 2, -Math.LN2 / 2, 1.5 * Math.LN2, 2 ** -28, -(2 ** -28), 2 ** -29, 1e-300, 700, -700, 709.78, 709.79, -745.1, -745.2,
    -708.5, -740, 1000, -1000, Infinity, -Infinity, NaN, 88.7, -103.9, 3.4e38, -3.4e38];
  for (let i = -2000; i <= 2000; i++) values.push(i * 0.3717 + 1e-3 * Math.sin(i), i * 1e-4);
  return values;
}

let expChecked: boolean | undefined;
/** True when the kernels' exp gives Math.exp's bits on every check value (else the loops run). */
export function expMatches(e: Engine): boolean {
  if (expChecked === undefined) expChecked = expCheckValues().every((v) => Object.is(e.exp(v), Math.exp(v)));
  return expChecked;
}

/** softmaxRowsKernel (rows.ts) for float32 x, y [rows, cols]. */
export function softmaxRowsF32(x: Float32Array, rows: number, cols: number, log: boolean, y: Float32Array): boolean {
  const n = rows * cols;
  const xAt = ARENA;
  const yAt = xAt + align(n * 4 + 8);
  const sAt = yAt + align(n * 4 + 8);
  const e = engineFor(n, sAt + align(rows * 16) + 64 - ARENA);
  if (!e || cols === 0 || !expMatches(e)) return false;
  e.f32.set(x.subarray(0, n), xAt >> 2);
  const j = JOB >> 2;
  e.i32[j + 5] = xAt;
  e.i32[j + 6] = yAt;
  e.i32[j + 7] = sAt;
  e.i32[j + 8] = 0;
  runRows(e, 9, rows, cols);
  // lse = shift + log(sum of exp(x - shift)) per row, in the loop's order, between the passes.
  const stats = new Float64Array(e.memory.buffer, sAt, rows * 2);
  for (let r = 0; r < rows; r++) stats[2 * r] = stats[2 * r]! + Math.log(stats[2 * r + 1]!);
  e.i32[j + 8] = log ? 1 : 2;
  runRows(e, 9, rows, cols);
  y.set(e.f32.subarray(yAt >> 2, (yAt >> 2) + n));
  return true;
}

/** softmaxRowsBackwardKernel (rows.ts) for float32 y, g, dx [rows, cols]. */
export function softmaxRowsBackwardF32(y: Float32Array, g: Float32Array, rows: number, cols: number, log: boolean, dx: Float32Array): boolean {
  const n = rows * cols;
  const yAt = ARENA;
  const gAt = yAt + align(n * 4 + 8);
  const dAt = gAt + align(n * 4 + 8);
  const e = engineFor(n, dAt + align(n * 4 + 8) + 64 - ARENA);
  if (!e || cols === 0 || !expMatches(e)) return false;
  e.f32.set(y.subarray(0, n), yAt >> 2);
  e.f32.set(g.subarray(0, n), gAt >> 2);
  const j = JOB >> 2;
  e.i32[j + 5] = yAt;
  e.i32[j + 6] = dAt;
  e.i32[j + 8] = log ? 1 : 2;
  e.i32[j + 9] = gAt;
  runRows(e, 10, rows, cols);
  dx.set(e.f32.subarray(dAt >> 2, (dAt >> 2) + n));
  return true;
}
