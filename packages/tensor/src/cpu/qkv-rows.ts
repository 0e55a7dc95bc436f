// CPU kernels of the projection path of a neural memory (and of any channels-last causal
// depthwise convolution): the convolution with an optional SiLU on its input and a carried
// history of earlier rows, in one pass over [batch, tokens, channels]; and the split of a
// channel block of [batch, tokens, channels] into heads [batch, heads, tokens, headDim],
// optionally L2-normalising each head row on the way.
//
// The convolution reproduces the composite op's arithmetic exactly (ops/nn.ts causalConv1d
// after ops/nn.ts silu): in float64 every product and sum is the same double operation in the
// same order; in float32 every intermediate is rounded to float32 where the composite stores
// one (Math.fround), so both dtypes are bit-identical to the composite on the CPU. So is the
// head split with its L2 normalisation. float32 with channels in fours takes the WebAssembly
// SIMD kernel of cpu/memory-scan.wat: the same convolution arithmetic, and a SiLU whose exp is a
// polynomial (within a few float32 ulps of the composite's; bit-identical without the SiLU).
// The float32 L2-normalised head split also runs there (cpu/memory-scan.wat headRows), with the
// JavaScript loop's operations in the same order, so it stays bit-identical.
import type { CausalConvDims, HeadRowsDims } from '../backend.js';
import { sharedSimd } from './memory-scan.js';

type Floats = Float32Array | Float64Array;

/**
 * y[b, t, c] = sum_j w[c, j] u[b, t - (k - 1) + j, c] (+ bias[c]), u = silu(x) or x, and
 * u at negative positions taken from `history` [batch, past, channels] (already activated),
 * zero before it. Writes y [batch, tokens, channels].
 */
export function causalConvKernel(
  x: Floats, weight: Floats, bias: Floats | null, history: Floats | null, dims: CausalConvDims, y: Floats,
  options: { simd?: boolean } = {},
): void {
  const { batch, tokens, channels: C, kernel: k, past, silu } = dims;
  const f32 = y instanceof Float32Array;
  if (f32 && C % 4 === 0 && (options.simd ?? true) && causalConvSimd(x, weight, bias, history, dims, y)) return;
  // The last k rows of u, row s in slot ((s mod k) + k) mod k; of y's type, so float32 rows round as the composite's do.
  const ring = f32 ? new Float32Array(k * C) : new Float64Array(k * C);
  const slot = (s: number): number => (((s % k) + k) % k) * C;
  // The weights tap-major [kernel, channels], so each tap is one contiguous sweep.
  const wt = f32 ? new Float32Array(k * C) : new Float64Array(k * C);
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) wt[j * C + c] = weight[c * k + j]!;
  const taps = new Int32Array(k);
  // The bias, or -0 (x + -0 = x for every x) without one, for the unrolled loop.
  const beta = bias ?? new Float32Array(C).fill(-0);
  for (let b = 0; b < batch; b++) {
    for (let s = -(k - 1); s < 0; s++) {
      const at = slot(s);
      const h = past + s;
      if (history && h >= 0) ring.set(history.subarray((b * past + h) * C, (b * past + h + 1) * C), at);
      else ring.fill(0, at, at + C);
    }
    for (let t = 0; t < tokens; t++) {
      const row = (b * tokens + t) * C;
      const at = slot(t);
      if (silu) for (let c = 0; c < C; c++) { const v = x[row + c]!; ring[at + c] = v / (1 + Math.exp(-v)); }
      else ring.set(x.subarray(row, row + C), at);
      // y = sum over taps j of w[:, j] u[t - k + 1 + j], the taps in order per channel (float32
      // products and partial sums rounded as the composite's stored intermediates are).
      for (let j = 0; j < k; j++) taps[j] = slot(t - (k - 1) + j);
      if (f32 && k === 4) {
        // The common kernel 4, unrolled (the same operations in the same order).
        const o0 = taps[0]!, o1 = taps[1]!, o2 = taps[2]!, o3 = taps[3]!;
        for (let c = 0; c < C; c++) {
          const a = Math.fround(Math.fround(wt[c]! * ring[o0 + c]!) + Math.fround(wt[C + c]! * ring[o1 + c]!));
          const b2 = Math.fround(a + Math.fround(wt[2 * C + c]! * ring[o2 + c]!));
          const z = Math.fround(b2 + Math.fround(wt[3 * C + c]! * ring[o3 + c]!));
          y[row + c] = z + beta[c]!; // + (-0) without a bias: the identity, signed zeros included
        }
      } else if (f32) {
        for (let c = 0; c < C; c++) {
          let acc = Math.fround(wt[c]! * ring[taps[0]! + c]!);
          for (let j = 1; j < k; j++) acc = Math.fround(acc + Math.fround(wt[j * C + c]! * ring[taps[j]! + c]!));
          y[row + c] = bias ? Math.fround(acc + bias[c]!) : acc;
        }
      } else {
        for (let c = 0; c < C; c++) {
          let acc = wt[c]! * ring[taps[0]! + c]!;
          for (let j = 1; j < k; j++) acc = acc + wt[j * C + c]! * ring[taps[j]! + c]!;
          y[row + c] = bias ? acc + bias[c]! : acc;
        }
      }
    }
  }
}

/** Rows of u per block of the SIMD convolution (the block's u and y stay in the L2 cache). */
const CONV_BLOCK_ROWS = 32;

/**
 * causalConvKernel in float32 with WebAssembly SIMD (channels a multiple of 4), block by block
 * of rows: the block's x rows are copied after the k - 1 carried rows of u, activated in place
 * (SiLU), convolved, and the last k - 1 rows of u carried to the next block. The convolution's
 * arithmetic is the JavaScript kernel's, operation for operation; the SiLU's exp is the SIMD
 * polynomial (within a few float32 ulps of Math.exp). Returns false without WebAssembly SIMD.
 */
function causalConvSimd(x: Floats, weight: Floats, bias: Floats | null, history: Floats | null, dims: CausalConvDims, y: Floats): boolean {
  const simd = sharedSimd();
  if (!simd) return false;
  const { batch, tokens, channels: C, kernel: k, past, silu } = dims;
  const keep = k - 1;
  const rows = Math.min(CONV_BLOCK_ROWS, Math.max(tokens, 1));
  const [wt, beta, u, out] = simd.scratch([k * C, C, (keep + rows) * C, rows * C]) as [Scratch, Scratch, Scratch, Scratch];
  convWeights(wt, beta, weight, bias, C, k);
  for (let b = 0; b < batch; b++) {
    convHistory(u, history, b, past, keep, C);
    for (let t0 = 0; t0 < tokens; t0 += rows) {
      const n = Math.min(rows, tokens - t0);
      const from = (b * tokens + t0) * C;
      u.a.set(x.subarray(from, from + n * C), keep * C);
      if (silu) simd.silu(u.p + 4 * keep * C, u.p + 4 * keep * C, n * C);
      simd.conv(u.p, wt.p, beta.p, out.p, n, C, k);
      y.set(out.a.subarray(0, n * C), from);
      if (keep > 0) u.a.copyWithin(0, n * C, (n + keep) * C);
    }
  }
  return true;
}

export interface Scratch { a: Float32Array; p: number }

/** The SIMD causal conv's weights transposed to [k, C] and its bias (or -0: x + -0 = x for every x, signed zeros included). */
export function convWeights(wt: Scratch, beta: Scratch, weight: Floats, bias: Floats | null, C: number, k: number): void {
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) wt.a[j * C + c] = weight[c * k + j]!;
  if (bias) beta.a.set(bias);
  else beta.a.fill(-0);
}

/** The k - 1 rows before sequence b's first token: the history's last rows (already activated), zero before them. */
export function convHistory(u: Scratch, history: Floats | null, b: number, past: number, keep: number, C: number): void {
  for (let s = 0; s < keep; s++) {
    const h = past - keep + s;
    if (history && h >= 0) u.a.set(history.subarray((b * past + h) * C, (b * past + h + 1) * C), s * C);
    else u.a.fill(0, s * C, (s + 1) * C);
  }
}

/**
 * out[b, h, t, :] = x[b, t, offset + h d : offset + (h + 1) d], each row divided by
 * max(||row||_2, eps) when `normalize` is set. x [batch, tokens, channels], out [batch, heads, tokens, d].
 */
export function headRowsKernel(x: Floats, dims: HeadRowsDims, out: Floats, options: { simd?: boolean } = {}): void {
  const { batch, tokens, channels, offset, heads, headDim: d, normalize, eps } = dims;
  if (!normalize && x.constructor === out.constructor) {
    // A plain split: one row copy per token and head.
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        let o = ((b * heads + h) * tokens) * d;
        for (let t = 0; t < tokens; t++, o += d) {
          const from = (b * tokens + t) * channels + offset + h * d;
          out.set(x.subarray(from, from + d), o);
        }
      }
    }
    return;
  }
  if (out instanceof Float32Array && x instanceof Float32Array && (options.simd ?? true) && headRowsSimd(x, dims, out)) return;
  // As the composite (ops/nn.ts l2Normalize) rounds: in float32 the squares, their sum, the
  // floor eps^2 and the reciprocal root are float32 values, so both dtypes are bit-identical to it.
  const f32 = out instanceof Float32Array;
  const round = f32 ? Math.fround : (v: number): number => v;
  const floor = round(eps * eps);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      let o = ((b * heads + h) * tokens) * d;
      for (let t = 0; t < tokens; t++, o += d) {
        const from = (b * tokens + t) * channels + offset + h * d;
        if (!normalize) { for (let i = 0; i < d; i++) out[o + i] = x[from + i]!; continue; }
        let s = 0;
        if (f32) for (let i = 0; i < d; i++) { const v = x[from + i]!; s += Math.fround(v * v); }
        else for (let i = 0; i < d; i++) { const v = x[from + i]!; s += v * v; }
        s = round(s);
        const r = round(1 / Math.sqrt(s < floor ? floor : s));
        for (let i = 0; i < d; i++) out[o + i] = x[from + i]! * r;
      }
    }
  }
}

/** Token rows per block of the SIMD head split (the block's rows stay in the L2 cache). */
const HEAD_BLOCK_ROWS = 64;

/**
 * headRowsKernel with L2 normalisation in float32 on WebAssembly SIMD, block by block of token
 * rows: the block's channel slice [offset, offset + heads d) is copied in, split and normalised
 * into [heads, rows, d], and each head's rows copied out. The same operations in the same order
 * as the JavaScript loop (squares in float32, summed in order in float64), so bit-identical to
 * it. Returns false without WebAssembly SIMD.
 */
function headRowsSimd(x: Float32Array, dims: HeadRowsDims, out: Float32Array): boolean {
  const simd = sharedSimd();
  if (!simd) return false;
  const { batch, tokens, channels, offset, heads, headDim: d, eps } = dims;
  const width = heads * d;
  const rows = Math.min(HEAD_BLOCK_ROWS, Math.max(tokens, 1));
  const [xin, y] = simd.scratch([rows * width, rows * width]) as [Scratch, Scratch];
  const floor = Math.fround(eps * eps);
  for (let b = 0; b < batch; b++) {
    for (let t0 = 0; t0 < tokens; t0 += rows) {
      const n = Math.min(rows, tokens - t0);
      const first = (b * tokens + t0) * channels;
      if (width === channels) xin.a.set(x.subarray(first, first + n * width));
      else for (let t = 0; t < n; t++) xin.a.set(x.subarray(first + t * channels + offset, first + t * channels + offset + width), t * width);
      simd.headRows(xin.p, 4 * width, y.p, n, heads, d, floor);
      for (let h = 0; h < heads; h++) out.set(y.a.subarray(h * n * d, (h + 1) * n * d), ((b * heads + h) * tokens + t0) * d);
    }
  }
  return true;
}

/**
 * Gradients of causalConvKernel along g [batch, tokens, channels]: dx [batch, tokens,
 * channels] (through the SiLU when `silu`), dweight [channels, kernel], dbias [channels] and
 * dhistory [batch, past, channels]. Sums run in double precision.
 */
export function causalConvBackwardKernel(
  x: Floats, weight: Floats, history: Floats | null, g: Floats, dims: CausalConvDims,
  dx: Floats, dweight: Floats, dbias: Floats, dhistory: Floats,
): void {
  const { batch, tokens, channels: C, kernel: k, past, silu } = dims;
  const rows = past + tokens;
  const u = new Float64Array(rows * C); // history rows, then u = act(x) rows
  // Tap-major [kernel, channels] weights and weight gradients, so every sweep is contiguous.
  const wt = new Float64Array(k * C);
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) wt[j * C + c] = weight[c * k + j]!;
  const dw = new Float64Array(k * C);
  const db = new Float64Array(C);
  const du = new Float64Array(C);
  const sig = new Float64Array(silu ? tokens * C : 0); // sigmoid(x) of the batch's rows
  for (let b = 0; b < batch; b++) {
    if (history) for (let i = 0; i < past * C; i++) u[i] = history[b * past * C + i]!;
    const xb = b * tokens * C;
    for (let i = 0; i < tokens * C; i++) {
      const v = x[xb + i]!;
      if (silu) { const sg = 1 / (1 + Math.exp(-v)); sig[i] = sg; u[past * C + i] = v * sg; } else u[past * C + i] = v;
    }
    // dweight, dbias: y_t = sum_j w_j u_(t - k + 1 + j), rows of u before the first are zero.
    for (let t = 0; t < tokens; t++) {
      const gr = xb + t * C;
      for (let c = 0; c < C; c++) db[c] = db[c]! + g[gr + c]!;
      for (let j = 0; j < k; j++) {
        const s = past + t - (k - 1) + j;
        if (s < 0) continue;
        const ur = s * C;
        const wr = j * C;
        for (let c = 0; c < C; c++) dw[wr + c] = dw[wr + c]! + g[gr + c]! * u[ur + c]!;
      }
    }
    // du_s = sum_j w_j g_(s + k - 1 - j) for the rows s of u (history and x).
    for (let s = -past; s < tokens; s++) {
      du.fill(0);
      for (let j = 0; j < k; j++) {
        const t = s + (k - 1) - j;
        if (t < 0 || t >= tokens) continue;
        const gr = xb + t * C;
        const wr = j * C;
        for (let c = 0; c < C; c++) du[c] = du[c]! + wt[wr + c]! * g[gr + c]!;
      }
      if (s < 0) {
        const out = (b * past + past + s) * C;
        for (let c = 0; c < C; c++) dhistory[out + c] = du[c]!;
      } else if (silu) {
        const out = xb + s * C;
        const so = s * C;
        for (let c = 0; c < C; c++) {
          const v = x[out + c]!;
          const sg = sig[so + c]!;
          dx[out + c] = du[c]! * sg * (1 + v * (1 - sg));
        }
      } else {
        const out = xb + s * C;
        for (let c = 0; c < C; c++) dx[out + c] = du[c]!;
      }
    }
  }
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) dweight[c * k + j] = dw[j * C + c]!;
  for (let c = 0; c < C; c++) dbias[c] = db[c]!;
}

/** Gradient of headRowsKernel along g [batch, heads, tokens, headDim]: dx [batch, tokens, channels], zero outside the block. */
export function headRowsBackwardKernel(x: Floats, g: Floats, dims: HeadRowsDims, dx: Floats): void {
  const { batch, tokens, channels, offset, heads, headDim: d, normalize, eps } = dims;
  const floor = eps * eps;
  dx.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      let o = ((b * heads + h) * tokens) * d;
      for (let t = 0; t < tokens; t++, o += d) {
        const from = (b * tokens + t) * channels + offset + h * d;
        if (!normalize) { for (let i = 0; i < d; i++) dx[from + i] = g[o + i]!; continue; }
        // y = x r, r = 1 / sqrt(max(|x|^2, eps^2)): dx = r (g - y (y . g)), or r g where the floor holds.
        let s = 0;
        for (let i = 0; i < d; i++) { const v = x[from + i]!; s += v * v; }
        const r = 1 / Math.sqrt(s < floor ? floor : s);
        let yg = 0;
        if (s > floor) for (let i = 0; i < d; i++) yg += x[from + i]! * r * g[o + i]!;
        for (let i = 0; i < d; i++) dx[from + i] = r * (g[o + i]! - x[from + i]! * r * yg);
      }
    }
  }
}
