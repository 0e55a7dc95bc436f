// The fused neural-memory scan as an op: it runs the backend's optional `memoryScan`
// primitive and attaches a gradient rule supplied by the caller, written with
// differentiable ops (the memory package passes its composite chunked form, so gradients
// of gradients keep working).
import type { MemoryScanDims } from '../backend.js';
import { formatShape, sizeOf } from '../shape.js';
import { fromStorage, record, type Tensor } from '../tensor.js';
import { contiguous } from './core.js';

/** The tensors of a fused memory scan; shapes as in `MemoryScanInputs`, any leading axes that flatten to `dims.memories`. */
export interface MemoryScanTensors {
  readonly k: Tensor;
  readonly v: Tensor;
  readonly q: Tensor;
  readonly theta: Tensor;
  readonly eta: Tensor;
  readonly alpha: Tensor;
  readonly weights: readonly Tensor[];
  readonly momentum: readonly Tensor[];
}

/** True when tensors on `x`'s backend can run `memoryScan`. */
export function hasMemoryScan(x: Tensor): boolean {
  return typeof x.backend.memoryScan === 'function';
}

/** True when the backend of `x` runs `memoryScan` with the surprise clamp (`MemoryScanDims.maxSurpriseNorm`). */
export function hasMemoryScanClamp(x: Tensor): boolean {
  return hasMemoryScan(x) && x.backend.memoryScanClamp === true;
}

/** Elements of the packed output of a memory scan (see `MemoryScanDims`). */
export function memoryScanOutputSize(dims: MemoryScanDims): number {
  const out = dims.layers[dims.layers.length - 1]![0];
  const weights = dims.layers.reduce((s, [o, i]) => s + o * i, 0);
  const retrievals = dims.yPre === false ? 1 : 2;
  return dims.memories * (retrievals * dims.tokens * out + dims.tokens + 2 * weights);
}

/**
 * Runs `backend.memoryScan` and returns its packed output as a flat tensor. `backward`
 * maps the gradient of that flat output to the gradients of [k, v, q, theta, eta, alpha,
 * ...weights, ...momentum] (null where none), with differentiable ops.
 */
export function memoryScan(
  x: MemoryScanTensors, dims: MemoryScanDims, backward: (gradOutput: Tensor) => readonly (Tensor | null)[],
): Tensor {
  const all = [x.k, x.v, x.q, x.theta, x.eta, x.alpha, ...x.weights, ...x.momentum];
  const backend = x.k.backend;
  if (!backend.memoryScan) throw new Error(`memoryScan: the ${backend.name} backend has no fused memory scan`);
  const clamp = dims.maxSurpriseNorm ?? 0;
  if (!(clamp >= 0) || !Number.isFinite(clamp)) throw new Error(`memoryScan: maxSurpriseNorm must be a finite number >= 0 (0 = off), got ${clamp}`);
  if (clamp > 0 && backend.memoryScanClamp !== true) throw new Error(`memoryScan: the ${backend.name} backend's memoryScan has no surprise clamp (maxSurpriseNorm ${clamp})`);
  for (const [i, t] of all.entries()) {
    if (t.disposed) throw new Error(`memoryScan: input ${i} (tensor #${t.id}) was used after dispose()`);
    if (t.backend !== backend || t.dtype !== x.k.dtype) throw new Error(`memoryScan: input ${i} ${formatShape(t.shape)} must be ${x.k.dtype} on ${backend.name} like k`);
  }
  const dense = all.map((t) => (t.isContiguous() ? t : contiguous(t)));
  const s = dense.map((t) => t.view().storage);
  const layers = x.weights.length;
  const storage = backend.memoryScan(
    { k: s[0]!, v: s[1]!, q: s[2]!, theta: s[3]!, eta: s[4]!, alpha: s[5]!, weights: s.slice(6, 6 + layers), momentum: s.slice(6 + layers) },
    dims,
  );
  dense.forEach((t, i) => { if (t !== all[i]) t.dispose(); });
  const size = memoryScanOutputSize(dims);
  if (storage.size !== size) throw new Error(`memoryScan: the ${backend.name} backend returned ${storage.size} elements, expected ${size}`);
  const out = fromStorage(storage, [sizeOf([size])]);
  return record(out, 'memoryScan', all, backward);
}
