// Composite ops for neural networks, defined once on top of the primitives, so every
// backend gets them and their gradients (of any order) without extra kernels.
import type { AttentionOptions, NormKind, Storage } from '../backend.js';
import { isGradEnabled, withBackend } from '../engine.js';
import { ShapeError, formatShape, normalizeAxis } from '../shape.js';
import { Tensor, fromStorage, record } from '../tensor.js';
import {
  add, arange, cast, concat, contiguous, div, erf, exp, full, ge, gt, le, logsumexp, matmul, max, mean, mul, narrow, ne, neg,
  padAxis, reshape, rsqrt, sigmoid, square, sub, sum, takeAlongLastAxis, tanh, transpose, unsqueeze, where, zerosLike,
  maximum,
} from './core.js';
import { requireFloat } from './dtype.js';

export function silu(x: Tensor): Tensor {
  requireFloat('silu', x);
  return fusedSilu(x) ?? mul(x, sigmoid(x));
}

/** GELU, exact (erf) by default or the tanh approximation. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  requireFloat('gelu', x);
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(square(x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireFloat('logSoftmax', x);
  return fusedSoftmax(x, axis, true) ?? sub(x, logsumexp(x, axis, true));
}

export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat('softmax', x);
  return fusedSoftmax(x, axis, false) ?? exp(sub(x, logsumexp(x, axis, true)));
}

// ---------------------------------------------------------------- fused row kernels
// When the backend has a fused kernel (Backend.normRows, softmaxRows, ropeRows), softmax,
// the norms and RoPE run as one kernel per direction; otherwise the composite forms run.
// Gradients stay differentiable: a gradient recorded for a further derivative (createGraph)
// is written with ops, the fused backward kernels only run for a plain first-order pass.

/** x's storage when x is dense (contiguous from offset 0), else a contiguous copy's (then `copy` is set). */
function denseOf(x: Tensor): { storage: Storage; copy: Tensor | null } {
  if (x.isContiguous()) return { storage: x.view().storage, copy: null };
  const copy = contiguous(x);
  return { storage: copy.view().storage, copy };
}

const isFloat = (x: Tensor): boolean => x.dtype === 'float32' || x.dtype === 'float64';

/** softmax / log-softmax over the last axis with Backend.softmaxRows, or null (composite). */
function fusedSoftmax(x: Tensor, axis: number, log: boolean): Tensor | null {
  const b = x.backend;
  if (!b.softmaxRows || !b.softmaxRowsBackward || !isFloat(x) || x.ndim === 0 || x.size === 0) return null;
  // Only the last axis; anything else (a bad axis included: its error comes from the composite) is composite.
  if ((axis < 0 ? axis + x.ndim : axis) !== x.ndim - 1) return null;
  const cols = x.shape[x.ndim - 1]!;
  const rows = x.size / cols;
  const dense = denseOf(x);
  const y = fromStorage(b.softmaxRows(dense.storage, rows, cols, log), x.shape);
  dense.copy?.dispose();
  return record(y, log ? 'logSoftmax' : 'softmax', [x], (g) => {
    if (isGradEnabled()) {
      // In ops (differentiable through y, whose own rule is this one).
      return [log ? sub(g, mul(exp(y), sum(g, -1, true))) : mul(y, sub(g, sum(mul(g, y), -1, true)))];
    }
    const gd = denseOf(g);
    const dx = fromStorage(b.softmaxRowsBackward!(y.view().storage, gd.storage, rows, cols, log), x.shape);
    gd.copy?.dispose();
    return [dx];
  });
}

function compositeNorm(kind: NormKind, x: Tensor, eps: number): Tensor {
  if (kind === 'rms') return mul(x, rsqrt(add(mean(square(x), -1, true), eps)));
  const centred = sub(x, mean(x, -1, true));
  return mul(centred, rsqrt(add(mean(square(centred), -1, true), eps)));
}

/** RMSNorm / LayerNorm (no affine) over the last axis with Backend.normRows, or null (composite). */
function fusedNorm(kind: NormKind, x: Tensor, eps: number): Tensor | null {
  const b = x.backend;
  if (!b.normRows || !b.normRowsBackward || !isFloat(x) || x.ndim === 0 || x.size === 0) return null;
  const cols = x.shape[x.ndim - 1]!;
  const rows = x.size / cols;
  const dense = denseOf(x);
  const r = b.normRows(kind, dense.storage, rows, cols, eps);
  dense.copy?.dispose();
  const y = fromStorage(r.out, x.shape);
  const rstd = fromStorage(r.rstd, [rows]);
  if (!isGradEnabled() || !x.requiresGrad) {
    rstd.dispose();
    return y;
  }
  return record(y, kind === 'rms' ? 'rmsNorm' : 'layerNorm', [x], (g) => {
    // Creating a graph of the gradient: differentiate the composite form instead.
    if (isGradEnabled()) return vjpThrough((xs) => compositeNorm(kind, xs!, eps), [x], g);
    const gd = denseOf(g);
    const dx = fromStorage(b.normRowsBackward!(kind, y.view().storage, rstd.view().storage, gd.storage, rows, cols), x.shape);
    gd.copy?.dispose();
    return [dx];
  });
}

/** x sigmoid(x) with Backend.silu, or null (composite). */
function fusedSilu(x: Tensor): Tensor | null {
  const b = x.backend;
  if (!b.silu || !b.siluBackward || !isFloat(x) || x.size === 0) return null;
  const dense = denseOf(x);
  const y = fromStorage(b.silu(dense.storage), x.shape);
  dense.copy?.dispose();
  return record(y, 'silu', [x], (g) => {
    if (isGradEnabled()) {
      // In ops, differentiable again: g s (1 + x (1 - s)).
      const s = sigmoid(x);
      return [mul(g, mul(s, add(mul(x, sub(1, s)), 1)))];
    }
    const xd = denseOf(x);
    const gd = denseOf(g);
    const dx = fromStorage(b.siluBackward!(xd.storage, gd.storage), x.shape);
    xd.copy?.dispose();
    gd.copy?.dispose();
    return [dx];
  });
}

/** Rotary embedding of x [..., t, d] by tables c, s [t, d / 2] with Backend.ropeRows (its gradient: the inverse rotation). */
function fusedRope(x: Tensor, c: Tensor, s: Tensor): Tensor {
  const b = x.backend;
  const d = x.shape[x.ndim - 1]!;
  const t = x.shape[x.ndim - 2]!;
  const dense = denseOf(x);
  const y = fromStorage(b.ropeRows!(dense.storage, c.view().storage, s.view().storage, x.size / (t * d), t, d), x.shape);
  dense.copy?.dispose();
  return record(y, 'rope', [x], (g) => [fusedRope(g, c, neg(s))]);
}

export interface NormOptions {
  eps?: number;
  weight?: Tensor;
  bias?: Tensor;
}

/** Layer normalisation over the last axis (biased variance). */
export function layerNorm(x: Tensor, options: NormOptions = {}): Tensor {
  requireFloat('layerNorm', x);
  const eps = options.eps ?? 1e-5;
  let out = fusedNorm('layer', x, eps) ?? compositeNorm('layer', x, eps);
  if (options.weight) out = mul(out, options.weight);
  if (options.bias) out = add(out, options.bias);
  return out;
}

/** RMS normalisation over the last axis. */
export function rmsNorm(x: Tensor, options: NormOptions = {}): Tensor {
  requireFloat('rmsNorm', x);
  const eps = options.eps ?? 1e-6;
  let out = fusedNorm('rms', x, eps) ?? compositeNorm('rms', x, eps);
  if (options.weight) out = mul(out, options.weight);
  return out;
}

/** x / max(||x||_2, eps) along an axis. */
export function l2Normalize(x: Tensor, axis = -1, eps = 1e-12): Tensor {
  requireFloat('l2Normalize', x);
  // max(sqrt(s), eps) = sqrt(max(s, eps^2)): clamping before the root keeps the gradient of
  // an all-zero vector (padding) finite instead of 0 * inf = NaN.
  return mul(x, rsqrt(maximum(sum(square(x), axis, true), eps * eps)));
}

/** y = x W^T + b with W stored [out, in] (as nn.Linear does). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const y = matmul(x, transpose(weight));
  return bias ? add(y, bias) : y;
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (default -100, as in PyTorch). */
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits [..., V] against int32 targets [...]. With 'mean', the average
 * over non-ignored targets.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  requireFloat('crossEntropy', logits, 'logits');
  if (targets.dtype !== 'int32') throw new TypeError(`crossEntropy: targets must be int32, got ${targets.dtype}`);
  const lead = logits.shape.slice(0, -1);
  if (lead.length !== targets.ndim || lead.some((d, i) => d !== targets.shape[i])) {
    throw new ShapeError(`crossEntropy: targets ${formatShape(targets.shape)} must match logits ${formatShape(logits.shape)} without its last axis`);
  }
  const ignore = options.ignoreIndex ?? -100;
  const valid = ne(targets, ignore);
  const safeTargets = where(valid, targets, 0);
  const logp = logSoftmax(logits, -1);
  const picked = reshape(takeAlongLastAxis(logp, unsqueeze(safeTargets, -1)), targets.shape);
  const mask = cast(valid, logits.dtype);
  const nll = mul(picked, mask);
  switch (options.reduction ?? 'mean') {
    case 'none': return mul(nll, -1);
    case 'sum': return mul(sum(nll), -1);
    case 'mean': return div(mul(sum(nll), -1), maximum(sum(mask), 1));
  }
}

export function mseLoss(prediction: Tensor, target: Tensor): Tensor {
  requireFloat('mseLoss', prediction, 'prediction');
  return mean(square(sub(prediction, target)));
}

/**
 * Causal depthwise 1-D convolution over time: x [..., T, C], weight [C, K], optional bias [C].
 * y_t = sum_j weight[:, j] * x_{t - K + 1 + j}: output t sees inputs t-K+1 .. t only.
 */
export function causalConv1d(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const channels = x.shape[x.ndim - 1]!;
  if (weight.ndim !== 2 || weight.shape[0] !== channels) {
    throw new ShapeError(`causalConv1d: weight ${formatShape(weight.shape)} must be [channels=${channels}, kernel]`);
  }
  const k = weight.shape[1]!;
  const t = x.shape[x.ndim - 2]!;
  const padded = padAxis(x, -2, k - 1, 0);
  let y: Tensor | null = null;
  for (let j = 0; j < k; j++) {
    const term = mul(narrow(padded, -2, j, t), reshape(narrow(weight, 1, j, 1), [channels]));
    y = y === null ? term : add(y, term);
  }
  return bias ? add(y!, bias) : y!;
}

/** 1 on and below the k-th diagonal of an [n, m] matrix, else 0. */
export function tril(n: number, m = n, k = 0): Tensor {
  const rows = reshape(arange(0, n), [n, 1]);
  const cols = reshape(arange(0, m), [1, m]);
  return cast(le(sub(cols, rows), k), 'float32');
}

/** 1 on and above the k-th diagonal of an [n, m] matrix, else 0. */
export function triu(n: number, m = n, k = 0): Tensor {
  const rows = reshape(arange(0, n), [n, 1]);
  const cols = reshape(arange(0, m), [1, m]);
  return cast(ge(sub(cols, rows), k), 'float32');
}

/** Inverted dropout with an explicit uniform draw `noise` in [0, 1) of x's shape. */
export function dropout(x: Tensor, p: number, noise: Tensor): Tensor {
  requireFloat('dropout', x);
  if (p <= 0) return x;
  if (p >= 1) return zerosLike(x);
  return div(mul(x, cast(ge(noise, p), x.dtype)), 1 - p);
}

export interface AttentionCallOptions {
  causal?: boolean;
  window?: number;
  prefix?: number;
  scale?: number;
}

function resolveAttention(q: Tensor, options: AttentionCallOptions): AttentionOptions {
  return {
    // A head size of 0 has scores of 0 (not 0 * Infinity): attention then averages the visible values.
    scale: options.scale ?? 1 / Math.sqrt(Math.max(q.shape[q.ndim - 1]!, 1)),
    causal: options.causal ?? true,
    window: options.window ?? 0,
    prefix: options.prefix ?? 0,
  };
}

/** The visibility mask [tq, tk] as 0/1: the same rule as the fused kernels. */
export function attentionMask(queryLength: number, keyLength: number, options: AttentionCallOptions): Tensor {
  const o: AttentionOptions = { scale: 1, causal: options.causal ?? true, window: options.window ?? 0, prefix: options.prefix ?? 0 };
  const i = reshape(arange(0, queryLength), [queryLength, 1]);
  const j = reshape(arange(0, keyLength), [1, keyLength]);
  const position = add(i, keyLength - queryLength);
  let visibleMask = full([queryLength, keyLength], 1);
  if (o.causal) visibleMask = mul(visibleMask, le(j, position));
  if (o.window > 0) visibleMask = mul(visibleMask, gt(j, sub(position, o.window)));
  if (o.prefix > 0) visibleMask = maximum(visibleMask, cast(le(j, o.prefix - 1), 'float32'));
  return visibleMask;
}

/** softmax(q k^T * scale + mask) v, materialising the score matrix: the readable reference. */
export function naiveAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionCallOptions = {}): Tensor {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) requireFloat('naiveAttention', t, name);
  const o = resolveAttention(q, options);
  const tq = q.shape[q.ndim - 2]!;
  const tk = k.shape[k.ndim - 2]!;
  const scores = mul(matmul(q, transpose(k)), o.scale);
  // The mask is built where q lives, which need not be the active backend.
  const visibleMask = withBackend(q.backend, () => cast(attentionMask(tq, tk, o), q.dtype));
  const masked = where(visibleMask, scores, -Infinity);
  // No keys: every weight row is empty and the output is zeros (max has no value to give).
  const rowMax = tk === 0 ? zerosLike(sum(masked, -1, true)) : max(masked, -1, true);
  const weights = exp(sub(masked, where(ne(rowMax, -Infinity), rowMax, 0)));
  const normalised = div(weights, maximum(sum(weights, -1, true), 1e-30));
  return matmul(normalised, v);
}

/**
 * Fused attention for q [..., tq, d], k [..., tk, d], v [..., tk, dv]: causal (default),
 * sliding window, always-visible prefix. The backend's flash-style kernel runs forward and
 * backward; when a gradient of the gradient is being recorded, the backward pass is
 * expressed with the composite form instead so it stays differentiable.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionCallOptions = {}): Tensor {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) requireFloat('attention', t, name);
  const o = resolveAttention(q, options);
  if (q.ndim < 2 || k.ndim !== q.ndim || v.ndim !== q.ndim) {
    throw new ShapeError(`attention: q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)} must have the same rank >= 2`);
  }
  const lead = q.shape.slice(0, -2);
  const d = q.shape[q.ndim - 1]!;
  const tq = q.shape[q.ndim - 2]!;
  const tk = k.shape[k.ndim - 2]!;
  const dv = v.shape[v.ndim - 1]!;
  if (k.shape[k.ndim - 1] !== d || v.shape[v.ndim - 2] !== tk || k.shape.slice(0, -2).some((x, i) => x !== lead[i]) || v.shape.slice(0, -2).some((x, i) => x !== lead[i])) {
    throw new ShapeError(`attention: incompatible q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)}`);
  }
  const bh = lead.reduce((a, b) => a * b, 1);
  // Empty axes (no queries, keys, batch, or a head or value size of 0) take the composite
  // form: fused kernels assume non-empty tiles (WGSL has no arrays of size 0).
  if (bh === 0 || tq === 0 || tk === 0 || d === 0 || dv === 0) return naiveAttention(q, k, v, options);
  const dims = { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv };
  const qc = contiguous(q);
  const kc = contiguous(k);
  const vc = contiguous(v);
  const backend = q.backend;
  const { out: outStorage, lse: lseStorage } = backend.attention(qc.view().storage, kc.view().storage, vc.view().storage, dims, o);
  const out = fromStorage(outStorage, [...lead, tq, dv]);
  const lse = fromStorage(lseStorage, [...lead, tq]);
  if (!isGradEnabled() || ![q, k, v].some((t) => t.requiresGrad)) {
    // No backward pass will need the saved copies and row statistics.
    for (const t of [qc, kc, vc, lse]) t.dispose();
    return out;
  }
  return record(out, 'attention', [q, k, v], (g) => {
    if (isGradEnabled()) {
      // Creating a graph of the gradient: differentiate the composite form instead.
      return compositeAttentionGrads(q, k, v, g, options);
    }
    const gc = contiguous(g);
    const grads = backend.attentionBackward(qc.view().storage, kc.view().storage, vc.view().storage, out.view().storage, lse.view().storage, gc.view().storage, dims, o);
    return [fromStorage(grads.dq, q.shape), fromStorage(grads.dk, k.shape), fromStorage(grads.dv, v.shape)];
  });
}

function compositeAttentionGrads(q: Tensor, k: Tensor, v: Tensor, g: Tensor, options: AttentionCallOptions): Tensor[] {
  // Each of q, k, v gets the gradient of its own slot, even when they are the same tensor
  // or one is computed from another (the autograd module differentiates at fresh aliases).
  return vjpThrough((qs, ks, vs) => naiveAttention(qs!, ks!, vs!, options), [q, k, v], g);
}

/** A composite backward: the gradients of `f` at `inputs` along `g`, one per argument slot. */
type VjpImpl = (f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], g: Tensor) => Tensor[];
let vjpImpl: VjpImpl | undefined;
/** @internal Set by the autograd module (autograd depends on ops, not the reverse). */
export function setVjpImpl(fn: VjpImpl): void {
  vjpImpl = fn;
}
/** @internal The gradients of the composite `f` at `inputs` along `g` (the backward of a fused op). */
export function vjpThrough(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], g: Tensor): Tensor[] {
  if (!vjpImpl) throw new Error('internal: autograd not loaded');
  return vjpImpl(f, inputs, g);
}

/** Splits the last axis into heads: [..., T, H*D] -> [..., H, T, D]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const d = x.shape[x.ndim - 1]!;
  if (d % heads !== 0) throw new ShapeError(`splitHeads: width ${d} is not divisible by ${heads} heads`);
  const t = x.shape[x.ndim - 2]!;
  const lead = x.shape.slice(0, -2);
  return transpose(reshape(x, [...lead, t, heads, d / heads]), -3, -2);
}

/** Inverse of splitHeads: [..., H, T, D] -> [..., T, H*D]. */
export function mergeHeads(x: Tensor): Tensor {
  const [h, t, d] = x.shape.slice(-3) as [number, number, number];
  const lead = x.shape.slice(0, -3);
  return reshape(transpose(x, -3, -2), [...lead, t, h * d]);
}

/** Rotary position embedding on [..., T, D] (D even), positions starting at `offset`. */
export function rope(x: Tensor, offset = 0, base = 10000): Tensor {
  requireFloat('rope', x);
  const d = x.shape[x.ndim - 1]!;
  const t = x.shape[x.ndim - 2]!;
  if (d % 2 !== 0) throw new ShapeError(`rope: head dimension ${d} must be even`);
  const half = d / 2;
  const inv = new Float64Array(half).map((_, i) => Math.pow(base, (-2 * i) / d));
  // float64 tables for float64 inputs, so finite-difference checks see exact rotations.
  const Table = x.dtype === 'float64' ? Float64Array : Float32Array;
  const cosv = new Table(t * half);
  const sinv = new Table(t * half);
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < half; i++) {
      const angle = (p + offset) * inv[i]!;
      cosv[p * half + i] = Math.cos(angle);
      sinv[p * half + i] = Math.sin(angle);
    }
  }
  const tensorOf = (data: Float32Array | Float64Array): Tensor => cast(fromArray(data, [t, half], x), x.dtype);
  const c = tensorOf(cosv);
  const s = tensorOf(sinv);
  if (x.backend.ropeRows && x.size > 0 && (x.dtype === 'float32' || x.dtype === 'float64')) return fusedRope(x, c, s);
  const x1 = narrow(x, -1, 0, half);
  const x2 = narrow(x, -1, half, half);
  return concat([sub(mul(x1, c), mul(x2, s)), add(mul(x1, s), mul(x2, c))], -1);
}

function fromArray(data: Float32Array | Float64Array, shape: number[], like: Tensor): Tensor {
  return fromStorage(like.backend.fromArray(data, data instanceof Float64Array ? 'float64' : 'float32'), shape);
}

export function normalizeAxisOf(x: Tensor, axis: number): number {
  return normalizeAxis('op', axis, x.ndim);
}
