// The engine state every op shares: the active backend, gradient recording, scopes that
// free intermediates, and live-tensor accounting.
import type { Backend, Storage } from './backend.js';
import { cpuBackend } from './cpu/backend.js';
import type { Tensor } from './tensor.js';

let activeBackend: Backend = cpuBackend;

/** The backend new tensors are created on. */
export function getBackend(): Backend {
  return activeBackend;
}

/** Makes `backend` the one new tensors are created on. Existing tensors stay where they are. */
export function setBackend(backend: Backend): void {
  activeBackend = backend;
}

/** Runs `fn` with `backend` active, restoring the previous one afterwards. */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const previous = activeBackend;
  activeBackend = backend;
  try {
    return fn();
  } finally {
    activeBackend = previous;
  }
}

// ---------------------------------------------------------------- gradient recording

let gradDisabled = 0;

/** True when ops record the graph that gradients are computed through. */
export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** Runs `fn` without recording gradients (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    return fn();
  } finally {
    gradDisabled--;
  }
}

/** Runs `fn` with recording on, even inside `noGrad` (used for create-graph backward passes). */
export function enableGrad<T>(fn: () => T): T {
  const saved = gradDisabled;
  gradDisabled = 0;
  try {
    return fn();
  } finally {
    gradDisabled = saved;
  }
}

// ---------------------------------------------------------------- storage sharing

/** A storage shared by a tensor and its views; freed when the last one is disposed. */
export class SharedStorage {
  refs = 1;
  constructor(readonly storage: Storage) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.storage.backend.dispose(this.storage);
  }
}

/**
 * The values of the cached scalars (`scalar()` keeps one storage per backend, dtype and value).
 * A compiled step's tracer reads them, so a cached scalar is the same constant as a fresh fill
 * on backends whose storage it cannot read synchronously.
 */
const scalarValues = new WeakMap<Storage, number>();

export function rememberScalarValue(storage: Storage, value: number): void {
  scalarValues.set(storage, value);
}

export function cachedScalarValue(storage: Storage): number | undefined {
  return scalarValues.get(storage);
}

// ---------------------------------------------------------------- scopes and accounting

let liveCount = 0;
let nextId = 1;
const scopes: Set<Tensor>[] = [];

export function registerTensor(t: Tensor): number {
  liveCount++;
  // (scopes[-1] of an empty list is a property lookup through the prototype chain, not a miss)
  const depth = scopes.length;
  if (depth > 0) scopes[depth - 1]!.add(t);
  return nextId++;
}

export function unregisterTensor(t: Tensor): void {
  liveCount--;
  for (const scope of scopes) scope.delete(t);
}

/** @internal The id the next tensor will get (tensors with smaller ids existed before). */
export function peekTensorId(): number {
  return nextId;
}

/** Number of tensors created and not yet disposed. */
export function liveTensors(): number {
  return liveCount;
}

/** Bytes held by live storages on a backend (the active one by default). */
export function liveBytes(backend: Backend = activeBackend): number {
  return backend.liveBytes();
}

/** A tree of tensors: what `tidy` returns and what the functional transforms take. */
export type TensorTree = Tensor | readonly TensorTree[] | { readonly [key: string]: TensorTree };

/** Exempts a tensor from the enclosing `tidy` scopes (for state that outlives a step). */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/**
 * Runs `fn` and disposes every tensor it created, except the tensors in its result
 * (which move to the enclosing scope). The training loop's guard against leaks.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  return releaseScope(scope, result);
}

/** Async version of `tidy` for loops that await reads inside the scope. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    removeScope(scope);
    for (const t of scope) t.dispose();
    throw error;
  }
  removeScope(scope);
  return releaseScope(scope, result);
}

/**
 * Ends a scope already taken off the stack: disposes its tensors except those in `result`,
 * which move to the enclosing scope.
 */
function releaseScope<T>(scope: Set<Tensor>, result: T): T {
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of scope) if (!survivors.has(t)) t.dispose();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of survivors) if (scope.has(t)) parent.add(t);
  return result;
}

function removeScope(scope: Set<Tensor>): void {
  const at = scopes.lastIndexOf(scope);
  if (at >= 0) scopes.splice(at, 1);
}

function collectTensors(value: unknown, out: Set<Tensor>): void {
  if (value == null || typeof value !== 'object') return;
  if (isTensorLike(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out);
  }
}

let tensorClass: (new (...args: never[]) => Tensor) | undefined;
export function setTensorClass(cls: new (...args: never[]) => Tensor): void {
  tensorClass = cls;
}
function isTensorLike(value: object): value is Tensor {
  return tensorClass !== undefined && value instanceof tensorClass;
}
