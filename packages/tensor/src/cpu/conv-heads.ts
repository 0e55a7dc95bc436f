// The projection path of a neural memory in one CPU pass (Backend.causalConvHeads): the causal
// depthwise convolution (SiLU on its input optional, carried history rows) and the split of
// channel blocks into (optionally L2-normalised) heads, without the convolved [batch, tokens,
// channels] tensor in between. In float32 with channels in fours on WebAssembly SIMD, block by
// block of token rows: the block's x rows go into the module's memory once, are activated and
// convolved there, and each head's rows are split (and normalised) from the convolved block
// straight into the outputs; so two full passes over [tokens, channels] (the convolution's
// result copied out of the module, then copied in again by the head split) disappear. The
// kernels are the ones causalConv and headRows run (cpu/qkv-rows.ts, cpu/memory-scan.wat), in
// the same order per element, so the results are bit-identical to causalConv then headRows.
// Elsewhere (float64, channels not in fours, no WebAssembly SIMD) it runs those two kernels.
import type { CausalConvHeadsDims } from '../backend.js';
import { sharedSimd } from './memory-scan.js';
import { causalConvKernel, convHistory, convWeights, headRowsKernel, type Scratch } from './qkv-rows.js';

type Floats = Float32Array | Float64Array;

/** Token rows per block (the block's input, convolved rows and split heads stay in the L2 cache). */
const BLOCK_ROWS = 32;

/**
 * Writes outs[i] [batch, heads_i, tokens, headDim_i] = headRows(causalConv(x), block i) for
 * x rows at offset + (b tokens + t) rowStride (see CausalConvHeadsDims).
 */
export function causalConvHeadsKernel(
  x: Floats, weight: Floats, bias: Floats | null, history: Floats | null, dims: CausalConvHeadsDims, outs: readonly Floats[],
  options: { simd?: boolean } = {},
): void {
  check(x, dims, outs);
  const { batch, tokens, channels: C } = dims;
  if (x instanceof Float32Array && outs.every((o) => o instanceof Float32Array) && C % 4 === 0 && (options.simd ?? true)
    && fusedSimd(x, weight, bias, history, dims, outs as readonly Float32Array[])) return;
  // The two kernels one after the other (each picks its SIMD form as it would alone).
  const f32 = x instanceof Float32Array;
  let dense: Floats = x;
  if (dims.rowStride !== C || dims.offset !== 0) {
    dense = f32 ? new Float32Array(batch * tokens * C) : new Float64Array(batch * tokens * C);
    for (let r = 0; r < batch * tokens; r++) dense.set(x.subarray(dims.offset + r * dims.rowStride, dims.offset + r * dims.rowStride + C), r * C);
  }
  const y = f32 ? new Float32Array(batch * tokens * C) : new Float64Array(batch * tokens * C);
  causalConvKernel(dense, weight, bias, history, dims, y, options);
  dims.blocks.forEach((b, i) => headRowsKernel(y, {
    batch, tokens, channels: C, offset: b.offset, heads: b.heads, headDim: b.headDim, normalize: b.normalize, eps: dims.eps,
  }, outs[i]!, options));
}

function check(x: Floats, dims: CausalConvHeadsDims, outs: readonly Floats[]): void {
  const { batch, tokens, channels: C, rowStride, offset, blocks } = dims;
  if (rowStride < C || offset < 0) throw new RangeError(`causalConvHeads: rowStride ${rowStride} must be >= channels ${C} and offset ${offset} >= 0`);
  if (batch * tokens > 0 && offset + (batch * tokens - 1) * rowStride + C > x.length) {
    throw new RangeError(`causalConvHeads: x has ${x.length} elements, the rows need ${offset + (batch * tokens - 1) * rowStride + C}`);
  }
  if (outs.length !== blocks.length) throw new RangeError(`causalConvHeads: ${blocks.length} blocks, ${outs.length} outputs`);
  blocks.forEach((b, i) => {
    if (b.offset < 0 || b.offset + b.heads * b.headDim > C) throw new RangeError(`causalConvHeads: block ${i} [${b.offset}, ${b.offset + b.heads * b.headDim}) is outside ${C} channels`);
    if (outs[i]!.length !== batch * b.heads * tokens * b.headDim) throw new RangeError(`causalConvHeads: output ${i} has ${outs[i]!.length} elements, not ${batch * b.heads * tokens * b.headDim}`);
  });
}

/**
 * The fused float32 form (see the header); false without WebAssembly SIMD. Per block of rows:
 * x rows after the k - 1 carried rows of u, SiLU in place, the convolution into `conv` (the
 * operations of causalConvKernel's SIMD form), then per channel block the head split of
 * headRowsKernel's SIMD form (normalised) or a plain copy, each head's rows copied out.
 */
function fusedSimd(
  x: Float32Array, weight: Floats, bias: Floats | null, history: Floats | null, dims: CausalConvHeadsDims, outs: readonly Float32Array[],
): boolean {
  const simd = sharedSimd();
  if (!simd) return false;
  const { batch, tokens, channels: C, kernel: k, past, silu, rowStride, offset, blocks } = dims;
  const keep = k - 1;
  const rows = Math.min(BLOCK_ROWS, Math.max(tokens, 1));
  const widest = Math.max(0, ...blocks.map((b) => b.heads * b.headDim));
  const [wt, beta, u, conv, split] = simd.scratch([k * C, C, (keep + rows) * C, rows * C, rows * widest]) as [Scratch, Scratch, Scratch, Scratch, Scratch];
  convWeights(wt, beta, weight, bias, C, k);
  const floor = Math.fround(dims.eps * dims.eps);
  for (let b = 0; b < batch; b++) {
    convHistory(u, history, b, past, keep, C);
    for (let t0 = 0; t0 < tokens; t0 += rows) {
      const n = Math.min(rows, tokens - t0);
      const from = offset + (b * tokens + t0) * rowStride;
      if (rowStride === C) u.a.set(x.subarray(from, from + n * C), keep * C);
      else for (let t = 0; t < n; t++) u.a.set(x.subarray(from + t * rowStride, from + t * rowStride + C), (keep + t) * C);
      if (silu) simd.silu(u.p + 4 * keep * C, u.p + 4 * keep * C, n * C);
      simd.conv(u.p, wt.p, beta.p, conv.p, n, C, k);
      blocks.forEach((block, i) => {
        const out = outs[i]!;
        const { heads, headDim: d } = block;
        if (block.normalize) {
          simd.headRows(conv.p + 4 * block.offset, 4 * C, split.p, n, heads, d, floor);
          for (let h = 0; h < heads; h++) out.set(split.a.subarray(h * n * d, (h + 1) * n * d), ((b * heads + h) * tokens + t0) * d);
        } else {
          for (let h = 0; h < heads; h++) {
            const o = ((b * heads + h) * tokens + t0) * d;
            for (let t = 0; t < n; t++) {
              const at = t * C + block.offset + h * d;
              out.set(conv.a.subarray(at, at + d), o + t * d);
            }
          }
        }
      });
      if (keep > 0) u.a.copyWithin(0, n * C, (n + keep) * C);
    }
  }
  return true;
}
