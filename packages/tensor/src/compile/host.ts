// The small surface that code running inside `compile(fn)` uses to talk to the tracer:
// host values that change between calls (an optimizer's step counter, its learning rate),
// host state that a replay must keep updating, and the checks that refuse host reads.
// Outside a trace these are plain eager operations, so eager results do not change.
import type { Backend, DType, Storage } from '../backend.js';
import { scalar } from '../ops/core.js';
import { fromStorage, type Tensor } from '../tensor.js';

/** What the tracer needs to hear about while `fn` runs (set by the compile module). */
export interface TraceHooks {
  /** A host value read again at every replay, stored into `storage` (a one-element fill). */
  dynamicScalar(storage: Storage, get: () => number): void;
  /** Host work re-run at every replay, in trace order with the dynamic scalars' reads. */
  effect(run: () => void): void;
  /** A host read (item, dataSync, data, toArray): the tracer throws, naming the op. */
  hostRead(op: string): never;
  /** A leaf was given new values in place (Tensor.assign); `previous` is its old layout. */
  assigned(target: Tensor, previous: Storage, strides: readonly number[], offset: number): void;
  /** A tensor's storage was looked at (used to find the tensor that owns captured state). */
  touched(t: Tensor, storage: Storage): void;
}

/** @internal The active tracer's hooks, or null outside `compile`'s trace (a live binding). */
export let hooks: TraceHooks | null = null;

/** @internal Installs (or removes, with null) the active tracer's hooks. */
export function setTraceHooks(next: TraceHooks | null): TraceHooks | null {
  const previous = hooks;
  hooks = next;
  return previous;
}

/** True while `compile` is tracing a function (its first run for an input signature). */
export function isTracing(): boolean {
  return hooks !== null;
}

/**
 * A scalar tensor of a host value that may change between calls of a compiled function
 * (a learning rate, a bias correction that depends on the step). Eagerly it is
 * `scalar(get(), like)`; inside a trace the compiled plan reads `get()` again at every
 * replay instead of baking the traced value in as a constant.
 */
export function hostScalar(get: () => number, like: { readonly dtype: DType; readonly backend: Backend }): Tensor {
  const value = get();
  if (hooks === null) return scalar(value, { dtype: like.dtype, backend: like.backend });
  // A fresh storage (never the scalar cache's shared one), so the plan can refill it.
  const storage = like.backend.fill(1, value, like.dtype);
  hooks.dynamicScalar(storage, get);
  return fromStorage(storage, []);
}

/**
 * Runs `run` now, and again at every replay of the compiled function being traced: for
 * host state that the traced function updates (an optimizer's step counter).
 */
export function onReplay(run: () => void): void {
  run();
  hooks?.effect(run);
}

