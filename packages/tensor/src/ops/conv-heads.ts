// causalConvHeads: a neural memory's projection path after its linear layer, the causal
// depthwise convolution (ops/qkv.ts causalConv) and the split of channel blocks into heads
// (ops/qkv.ts headRows), as one backend primitive (Backend.causalConvHeads) where the backend
// has one and no gradient is recorded. Otherwise, and always when a gradient is recorded, it
// is those two ops (whose gradients run the backward kernels), so the results are the same.
import type { Storage } from '../backend.js';
import { isGradEnabled } from '../engine.js';
import { ShapeError, formatShape } from '../shape.js';
import { fromStorage, type Tensor } from '../tensor.js';
import { contiguous } from './core.js';
import { causalConv, headRows, type CausalConvOptions } from './qkv.js';

/** A channel block of the convolved tensor and its heads. */
export interface ConvHeadsBlock {
  readonly offset: number;
  readonly heads: number;
  readonly headDim: number;
  /** L2-normalise each head row (default false). */
  readonly l2?: boolean;
}

export interface CausalConvHeadsOptions extends CausalConvOptions {
  /** The floor of the row norms of l2 blocks (default 1e-12, as headRows). */
  eps?: number;
}

/**
 * causalConv(x, weight, bias, options) split into heads block by block: for each block,
 * headRows(conv, offset, heads, headDim, { l2, eps }), [batch, heads, tokens, headDim],
 * contiguous. x [batch, tokens, channels] may be a narrowed view of wider rows (a slice of a
 * larger projection's output along the last axis): the fused primitive reads it in place.
 */
export function causalConvHeads(
  x: Tensor, weight: Tensor, bias: Tensor | null | undefined, blocks: readonly ConvHeadsBlock[], options: CausalConvHeadsOptions = {},
): Tensor[] {
  if (x.ndim !== 3) throw new ShapeError(`causalConvHeads: x must be [batch, tokens, channels], got ${formatShape(x.shape)}`);
  const [batch, tokens, channels] = x.shape as [number, number, number];
  blocks.forEach((b, i) => {
    for (const [name, v] of [['heads', b.heads], ['headDim', b.headDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`causalConvHeads: block ${i}'s ${name} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(b.offset) || b.offset < 0 || b.offset + b.heads * b.headDim > channels) {
      throw new ShapeError(`causalConvHeads: block ${i}'s channels [${b.offset}, ${b.offset + b.heads * b.headDim}) are outside x ${formatShape(x.shape)}`);
    }
  });
  const eps = options.eps ?? 1e-12;
  const history = options.history ?? null;
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(history ? [history] : [])];
  const recorded = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const unfused = (): Tensor[] => {
    const h = causalConv(x, weight, bias ?? null, options);
    const out = blocks.map((b) => headRows(h, b.offset, b.heads, b.headDim, { l2: b.l2 === true, eps }));
    if (!recorded) h.dispose(); // a recorded gradient reads it
    return out;
  };
  const b = x.backend;
  const float = x.dtype === 'float32' || x.dtype === 'float64';
  if (!b.causalConvHeads || recorded || !float || x.size === 0 || !inputs.every((t) => t.backend === b && t.dtype === x.dtype)) return unfused();
  // causalConv checks the other shapes; its checks run on the unfused path, so repeat the essentials here.
  if (weight.ndim !== 2 || weight.shape[0] !== channels || weight.shape[1]! < 1) {
    throw new ShapeError(`causalConvHeads: weight ${formatShape(weight.shape)} must be [channels=${channels}, kernel >= 1]`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== channels)) throw new ShapeError(`causalConvHeads: bias ${formatShape(bias.shape)} must be [${channels}]`);
  if (history && (history.ndim !== 3 || history.shape[0] !== batch || history.shape[2] !== channels)) {
    throw new ShapeError(`causalConvHeads: history ${formatShape(history.shape)} must be [${batch}, past, ${channels}]`);
  }
  // x in place when its rows are evenly spaced runs of `channels` values, else a contiguous copy.
  const view = x.view();
  const [sb, st, sc] = view.strides as [number, number, number];
  const inPlace = sc === 1 && st >= channels && (batch === 1 || sb === tokens * st);
  const source = inPlace ? null : contiguous(x);
  const xs = source ? source.view() : view;
  const dense = (t: Tensor): { storage: Storage; copy: Tensor | null } => {
    if (t.isContiguous()) return { storage: t.view().storage, copy: null };
    const copy = contiguous(t);
    return { storage: copy.view().storage, copy };
  };
  const parts = [weight, bias, history].map((t) => (t ? dense(t) : null));
  const storages = b.causalConvHeads(xs.storage, parts[0]!.storage, parts[1]?.storage ?? null, parts[2]?.storage ?? null, {
    batch, tokens, channels, kernel: weight.shape[1]!, past: history ? history.shape[1]! : 0, silu: options.silu === true,
    rowStride: source ? channels : st, offset: source ? 0 : xs.offset,
    blocks: blocks.map((bl) => ({ offset: bl.offset, heads: bl.heads, headDim: bl.headDim, normalize: bl.l2 === true })), eps,
  });
  source?.dispose();
  for (const p of parts) p?.copy?.dispose();
  return storages.map((s, i) => fromStorage(s, [batch, blocks[i]!.heads, tokens, blocks[i]!.headDim]));
}
