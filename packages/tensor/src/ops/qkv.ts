// Fused ops of a projection path (a neural memory's q, k, v): the causal depthwise
// convolution with an optional SiLU on its input and carried history rows, and the split of
// a channel block into (optionally L2-normalised) heads. Each runs the backend's optional
// primitive (Backend.causalConv, Backend.headRows) when there is one and otherwise its
// composite form. A plain first-order gradient runs the backend's backward kernel when it has
// one; a gradient recorded for a further derivative is the composite form's, written with
// ops, so gradients of gradients keep working.
import type { Storage } from '../backend.js';
import { ShapeError, formatShape } from '../shape.js';
import { isGradEnabled } from '../engine.js';
import { fromStorage, record, type Tensor } from '../tensor.js';
import { concat, contiguous, narrow } from './core.js';
import { causalConv1d, l2Normalize, silu, splitHeads, vjpThrough } from './nn.js';

export interface CausalConvOptions {
  /** Apply SiLU to x before the convolution (default false). */
  silu?: boolean;
  /** Already-activated rows [batch, past, channels] that precede x (a streaming cache). */
  history?: Tensor | null;
}

const isFloat = (x: Tensor): boolean => x.dtype === 'float32' || x.dtype === 'float64';

/** The storage of x when it is dense (contiguous from offset 0), else of a contiguous copy (returned in `copy`). */
function dense(x: Tensor): { storage: Storage; copy: Tensor | null } {
  if (x.isContiguous()) return { storage: x.view().storage, copy: null };
  const copy = contiguous(x);
  return { storage: copy.view().storage, copy };
}

/**
 * Causal depthwise convolution over the tokens of x [batch, tokens, channels] by weight
 * [channels, kernel] (+ bias [channels]): y_t = sum_j w_j u_(t - kernel + 1 + j) with
 * u = silu(x) when `options.silu`, else x, and u before token 0 taken from
 * `options.history` (zero before that). Equal to narrowing causalConv1d(concat([history,
 * silu(x)])) to the last `tokens` rows; on the CPU bit-identical to it.
 */
export function causalConv(x: Tensor, weight: Tensor, bias?: Tensor | null, options: CausalConvOptions = {}): Tensor {
  if (x.ndim !== 3) throw new ShapeError(`causalConv: x must be [batch, tokens, channels], got ${formatShape(x.shape)}`);
  const [batch, tokens, channels] = x.shape as [number, number, number];
  if (weight.ndim !== 2 || weight.shape[0] !== channels || weight.shape[1]! < 1) {
    throw new ShapeError(`causalConv: weight ${formatShape(weight.shape)} must be [channels=${channels}, kernel >= 1]`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== channels)) throw new ShapeError(`causalConv: bias ${formatShape(bias.shape)} must be [${channels}]`);
  const history = options.history ?? null;
  if (history && (history.ndim !== 3 || history.shape[0] !== batch || history.shape[2] !== channels)) {
    throw new ShapeError(`causalConv: history ${formatShape(history.shape)} must be [${batch}, past, ${channels}]`);
  }
  const act = options.silu === true;
  const past = history ? history.shape[1]! : 0;
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(history ? [history] : [])];
  const composite = (...xs: Tensor[]): Tensor => {
    const [xs0, ws] = xs as [Tensor, Tensor];
    const bs = bias ? xs[2] : undefined;
    const hs = history ? xs[bias ? 3 : 2]! : null;
    const u = act ? silu(xs0) : xs0;
    const y = causalConv1d(hs ? concat([hs, u], 1) : u, ws, bs);
    return hs ? narrow(y, 1, past, tokens) : y;
  };
  const b = x.backend;
  const fusable = b.causalConv && isFloat(x) && x.size > 0 && inputs.every((t) => t.backend === b && t.dtype === x.dtype);
  if (!fusable) return composite(...inputs);
  const parts = inputs.map(dense);
  const storage = b.causalConv!(
    parts[0]!.storage, parts[1]!.storage, bias ? parts[2]!.storage : null, history ? parts[bias ? 3 : 2]!.storage : null,
    { batch, tokens, channels, kernel: weight.shape[1]!, past, silu: act },
  );
  for (const p of parts) p.copy?.dispose();
  const y = fromStorage(storage, [batch, tokens, channels]);
  const dims = { batch, tokens, channels, kernel: weight.shape[1]!, past, silu: act };
  return record(y, 'causalConv', inputs, (g) => {
    // A gradient recorded for a further derivative is the composite's, in ops.
    if (isGradEnabled() || !b.causalConvBackward) return vjpThrough(composite, inputs, g);
    const [xd, wd, hd, gd] = [x, weight, history, g].map((t) => (t ? dense(t) : null));
    const r = b.causalConvBackward(xd!.storage, wd!.storage, hd ? hd.storage : null, gd!.storage, dims);
    for (const p of [xd, wd, hd, gd]) p?.copy?.dispose();
    const grads = [fromStorage(r.dx, x.shape), fromStorage(r.dweight, weight.shape)];
    if (bias) grads.push(fromStorage(r.dbias, bias.shape));
    else b.dispose(r.dbias);
    if (history) grads.push(fromStorage(r.dhistory, history.shape));
    else b.dispose(r.dhistory);
    return grads;
  });
}

export interface HeadRowsOptions {
  /** Divide each head row by max(||row||_2, eps) (default false). */
  l2?: boolean;
  /** Default 1e-12, as l2Normalize. */
  eps?: number;
}

/**
 * The channels [offset, offset + heads headDim) of x [batch, tokens, channels] as heads
 * [batch, heads, tokens, headDim], contiguous, each row L2-normalised when `options.l2`:
 * splitHeads(narrow(x, -1, offset, heads headDim), heads), then l2Normalize(., -1, eps).
 */
export function headRows(x: Tensor, offset: number, heads: number, headDim: number, options: HeadRowsOptions = {}): Tensor {
  if (x.ndim !== 3) throw new ShapeError(`headRows: x must be [batch, tokens, channels], got ${formatShape(x.shape)}`);
  const [batch, tokens, channels] = x.shape as [number, number, number];
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`headRows: offset must be a non-negative integer, got ${offset}`);
  for (const [name, v] of [['heads', heads], ['headDim', headDim]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`headRows: ${name} must be a positive integer, got ${v}`);
  }
  if (offset + heads * headDim > channels) {
    throw new ShapeError(`headRows: channels [${offset}, ${offset + heads * headDim}) are outside x ${formatShape(x.shape)}`);
  }
  const l2 = options.l2 === true;
  const eps = options.eps ?? 1e-12;
  const composite = (xs: Tensor): Tensor => {
    const split = splitHeads(narrow(xs, 2, offset, heads * headDim), heads);
    return l2 ? l2Normalize(split, -1, eps) : contiguous(split);
  };
  const b = x.backend;
  if (!b.headRows || !isFloat(x) || x.size === 0) return composite(x);
  const part = dense(x);
  const storage = b.headRows(part.storage, { batch, tokens, channels, offset, heads, headDim, normalize: l2, eps });
  part.copy?.dispose();
  const y = fromStorage(storage, [batch, heads, tokens, headDim]);
  return record(y, 'headRows', [x], (g) => {
    if (isGradEnabled() || !b.headRowsBackward) return vjpThrough(composite, [x], g);
    const xd = dense(x);
    const gd = dense(g);
    const dx = fromStorage(b.headRowsBackward(xd.storage, gd.storage, { batch, tokens, channels, offset, heads, headDim, normalize: l2, eps }), x.shape);
    xd.copy?.dispose();
    gd.copy?.dispose();
    return [dx];
  });
}
