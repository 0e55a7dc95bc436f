// The gradient of the float32 channels-last causal depthwise convolution (Backend.causalConvBackward)
// on the WebAssembly kernels (kernels.wat, job kind 8), shared with the worker threads by blocks of
// channels when large. It does the float64 arithmetic of causalConvBackwardKernel (qkv-rows.ts) in
// the same order per channel, so dx, dweight, dbias and dhistory are the same bits as that loop's
// for any thread count. The SiLU's sigmoid takes the kernels' exp (fdlibm's, as V8's Math.exp,
// checked bit for bit before first use: rows-wasm.ts expMatches); each task first writes the
// activated rows U and, with the SiLU, S = sigmoid(x) and H = 1 + x (1 - S) of its channels in
// float64, then sums.
import type { CausalConvDims } from '../backend.js';
import { cpuConfig } from './wasm/config.js';
import { ARENA, JOB, getEngine, reserve, runJob } from './wasm/engine.js';
import { align } from './wasm/matmul.js';
import { expMatches } from './rows-wasm.js';

/** Least elements of x for the WebAssembly kernel (smaller problems keep the JavaScript loop). */
export const CONV_BACKWARD_WASM_MIN_ELEMENTS = 1 << 10;
/** Least elements of x for the channel blocks to be shared with the worker threads. */
const CONV_BACKWARD_PARALLEL_MIN_ELEMENTS = 1 << 16;

/**
 * causalConvBackwardKernel for float32 x, weight, history, g: writes dx [batch, tokens, C],
 * dweight [C, kernel], dbias [C] and dhistory [batch, past, C]. Returns false, having done
 * nothing, where the JavaScript loop must run (WebAssembly off or unavailable, a small problem,
 * memory beyond the cap).
 */
export function causalConvBackwardF32(
  x: Float32Array, weight: Float32Array, history: Float32Array | null, g: Float32Array, dims: CausalConvDims,
  dx: Float32Array, dweight: Float32Array, dbias: Float32Array, dhistory: Float32Array,
): boolean {
  const { batch, tokens, channels: C, kernel: k, past, silu } = dims;
  const n = batch * tokens * C;
  if (!cpuConfig().wasm || n < CONV_BACKWARD_WASM_MIN_ELEMENTS || k < 1) return false;
  const e = getEngine();
  if (!e) return false;
  const uRows = batch * (past + tokens) * C;
  const gAt = ARENA;
  const uAt = gAt + align(n * 4);
  const sAt = uAt + align(uRows * 8);
  const hAt = sAt + align(silu ? n * 8 : 0);
  const wAt = hAt + align(silu ? n * 8 : 0);
  const dwAt = wAt + align(k * C * 8);
  const dbAt = dwAt + align(k * C * 8);
  const dxAt = dbAt + align(C * 8);
  const dhAt = dxAt + align(n * 4);
  // x and the history rows: the kernel reads two channels at a time, so 8 bytes of slack each.
  const xAt = dhAt + align(batch * past * C * 4);
  const histAt = xAt + align(n * 4 + 8);
  const duAt = histAt + align(batch * past * C * 4 + 8);
  const end = duAt + align(C * 8 + 16);
  if (!reserve(e, end - ARENA) || !expMatches(e)) return false;
  e.f32.set(g.subarray(0, n), gAt >> 2);
  e.f32.set(x.subarray(0, n), xAt >> 2);
  if (history) e.f32.set(history.subarray(0, batch * past * C), histAt >> 2);
  else e.f32.fill(0, histAt >> 2, (histAt >> 2) + batch * past * C);
  const wt = new Float64Array(e.memory.buffer, wAt, k * C);
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) wt[j * C + c] = weight[c * k + j]!;
  const threads = cpuConfig().threads;
  const parallel = threads > 1 && n >= CONV_BACKWARD_PARALLEL_MIN_ELEMENTS && C >= 16;
  // Blocks of an even number of channels (two per f64x2), at least 8 per task.
  const perTask = parallel ? Math.max(8, 2 * Math.ceil(C / (4 * threads))) : C;
  const i32 = e.i32;
  const j = JOB >> 2;
  i32[j] = 8;
  i32[j + 1] = batch;
  i32[j + 2] = tokens;
  i32[j + 3] = C;
  i32[j + 4] = k;
  i32[j + 5] = past;
  i32[j + 6] = silu ? 1 : 0;
  i32[j + 7] = perTask;
  i32[j + 8] = gAt;
  i32[j + 9] = uAt;
  i32[j + 10] = sAt;
  i32[j + 11] = hAt;
  i32[j + 12] = wAt;
  i32[j + 13] = dwAt;
  i32[j + 14] = dbAt;
  i32[j + 15] = dxAt;
  i32[j + 16] = dhAt;
  i32[j + 17] = xAt;
  i32[j + 18] = histAt;
  i32[j + 19] = duAt;
  runJob(e, Math.ceil(C / perTask), parallel);
  dx.set(e.f32.subarray(dxAt >> 2, (dxAt >> 2) + n));
  if (past > 0) dhistory.set(e.f32.subarray(dhAt >> 2, (dhAt >> 2) + batch * past * C));
  const dw = new Float64Array(e.memory.buffer, dwAt, k * C);
  const db = new Float64Array(e.memory.buffer, dbAt, C);
  for (let c = 0; c < C; c++) for (let t = 0; t < k; t++) dweight[c * k + t] = dw[t * C + c]!;
  for (let c = 0; c < C; c++) dbias[c] = db[c]!;
  return true;
}
