// Tracing: run a function once with a recording wrapper around the backend's primitives.
// Every op, forward and backward, ends in one of those primitives, so the recording is a
// straight-line program over storages: no autograd graph, modules or scopes in it.
import type { Backend, DType, Storage, TypedArray, View } from '../backend.js';
import { cachedScalarValue, peekTensorId, tidy } from '../engine.js';
import type { Tensor } from '../tensor.js';
import { setTraceHooks, type TraceHooks } from './host.js';

/** An argument of a recorded call that refers to a traced value. */
export class ValueRef {
  constructor(readonly id: number) {}
}

/** A strided view of a traced value, resolved at trace time. */
export class ViewRef {
  constructor(
    readonly id: number,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
  ) {}
}

export type Arg = number | string | boolean | null | undefined | ValueRef | ViewRef | readonly Arg[] | { readonly [key: string]: Arg };

export interface TraceRecord {
  readonly method: string;
  readonly args: readonly Arg[];
  /** Values the call produced: one storage, or the named storages of an object result. */
  readonly outs: readonly number[];
  /** null: the result is one storage; else the keys of the result object, aligned with `outs`. */
  readonly keys: readonly string[] | null;
}

export type ValueOrigin =
  | { readonly kind: 'op'; readonly record: number }
  | { readonly kind: 'fill'; readonly value: number }
  | { readonly kind: 'array'; readonly data: TypedArray }
  | { readonly kind: 'input'; readonly leaf: number }
  | { readonly kind: 'state'; readonly owner: Tensor }
  /** A storage from before the trace that no live tensor owns (a cached scalar): copied. */
  | { readonly kind: 'constant'; readonly copy: Storage }
  | { readonly kind: 'dynamic'; readonly get: () => number };

export interface TraceValue {
  readonly id: number;
  readonly dtype: DType;
  readonly size: number;
  origin: ValueOrigin;
}

export type HostStep = { readonly kind: 'effect'; readonly run: () => void } | { readonly kind: 'scalar'; readonly id: number; readonly get: () => number };

export interface StateUpdate {
  readonly owner: Tensor;
  /** Set when the assigned tensor is an argument: a replay assigns to that argument. */
  readonly leaf: number | undefined;
  readonly id: number;
  readonly strides: readonly number[];
  readonly offset: number;
}

export interface Trace {
  readonly backend: Backend;
  readonly records: TraceRecord[];
  readonly values: TraceValue[];
  readonly host: HostStep[];
  readonly states: StateUpdate[];
  /** Layout of each state owner at trace start, checked before every replay. */
  readonly stateLayouts: Map<Tensor, Layout>;
  /**
   * The traced call's result (returned by the first call). The compiled function takes it and
   * sets this to undefined, so that a kept trace does not hold the result's tensors.
   */
  result: unknown;
  /** The traced result's tensors (value id and layout), in tree order. */
  readonly outputs: readonly OutputLayout[];
  /** The value id of a storage seen by the trace. */
  idOf(storage: Storage): number;
}

export interface OutputLayout {
  readonly id: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

interface Layout {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/**
 * Methods that are not recorded as calls: fill and fromArray become constants, reads are
 * refused, the rest is bookkeeping. Every other method is a primitive (optional ones that
 * backends add, such as fused row kernels, included): called from outside the backend and
 * returning storages, it is recorded; called from inside another method, it just runs.
 */
const NOT_PRIMITIVES = new Set(['constructor', 'fill', 'fromArray', 'read', 'readSync', 'dispose', 'liveBytes', 'supports', 'data', 'adopt']);

/**
 * The names of a backend's methods, own and inherited. The property closest to the instance
 * decides, as for a call: a method the instance shadows with a non-function (an own
 * `undefined` that turns an optional primitive off) is not one.
 */
function methodNames(backend: Backend): string[] {
  const seen = new Set<string>();
  const names: string[] = [];
  for (let o: object | null = backend; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d && typeof d.value === 'function' && !NOT_PRIMITIVES.has(name)) names.push(name);
    }
  }
  return names;
}

export class CompileError extends Error {
  override name = 'CompileError';
}

function isStorage(x: unknown, backend: Backend): x is Storage {
  return typeof x === 'object' && x !== null && (x as Storage).backend === backend && typeof (x as Storage).size === 'number' && typeof (x as Storage).dtype === 'string';
}

function containsStorage(x: object, backend: Backend): boolean {
  if (Array.isArray(x)) return x.some((v) => isStorage(v, backend) || isView(v, backend) || (typeof v === 'object' && v !== null && containsStorage(v as object, backend)));
  if (Object.getPrototypeOf(x) !== Object.prototype) return false;
  return Object.values(x).some((v) => isStorage(v, backend) || isView(v, backend) || (typeof v === 'object' && v !== null && containsStorage(v as object, backend)));
}

function isView(x: unknown, backend: Backend): x is View {
  return typeof x === 'object' && x !== null && 'storage' in x && isStorage((x as View).storage, backend) && Array.isArray((x as View).shape);
}

/**
 * Runs `fn(...args)` once on `backend` with its primitives recorded. `leaves` are the input
 * tensors (in the order the compiled plan binds them).
 */
export function trace(backend: Backend, leaves: readonly Tensor[], run: () => unknown, collect: (result: unknown) => Tensor[]): Trace {
  const startId = peekTensorId();
  const records: TraceRecord[] = [];
  const values: TraceValue[] = [];
  // Weak: a storage the traced function has disposed must not stay reachable through the
  // trace (or the plan that keeps it), or every intermediate of the traced run, forward and
  // backward, would be held for as long as the compiled function lives.
  const ids = new WeakMap<Storage, number>();
  const owners = new WeakMap<Storage, Tensor>();
  const host: HostStep[] = [];
  const assigned = new Map<Tensor, { storage: Storage; strides: readonly number[]; offset: number }>();
  const stateLayouts: Trace['stateLayouts'] = new Map();
  let depth = 0;

  const newValue = (storage: Storage, origin: ValueOrigin): number => {
    const id = values.length;
    values.push({ id, dtype: storage.dtype, size: storage.size, origin });
    ids.set(storage, id);
    return id;
  };
  for (const [i, leaf] of leaves.entries()) {
    const storage = leaf.sharedStorage().storage;
    if (!ids.has(storage)) newValue(storage, { kind: 'input', leaf: i });
  }

  const originals = new Map<string, PropertyDescriptor | undefined>();
  const target = backend as unknown as Record<string, unknown>;
  const call = (name: string, ...a: unknown[]): unknown => (Reflect.get(Object.getPrototypeOf(backend) as object, name) as (...x: unknown[]) => unknown).apply(backend, a);
  // Resolved at call time: a method the backend holds as its own member (not on its
  // prototype) is known only once patch() has saved its descriptor.
  const original = (name: string): ((...a: unknown[]) => unknown) => (...a: unknown[]) => {
    const own = originals.get(name);
    if (own && typeof own.value === 'function') return (own.value as (...x: unknown[]) => unknown).apply(backend, a);
    return call(name, ...a);
  };

  /** The value id of a storage seen as an argument; storages from before the trace become inputs. */
  const valueOf = (storage: Storage): number => {
    const known = ids.get(storage);
    if (known !== undefined) return known;
    const owner = owners.get(storage);
    if (owner) {
      stateLayouts.set(owner, { shape: owner.shape, strides: owner.strides, offset: owner.offset, size: storage.size });
      return newValue(storage, { kind: 'state', owner });
    }
    // A cached scalar is the constant it holds, whether this trace filled it or found it cached.
    const cached = cachedScalarValue(storage);
    if (cached !== undefined) return newValue(storage, { kind: 'fill', value: cached });
    depth++;
    let copy: Storage;
    try {
      copy = original('unary')('copy', { storage, shape: [storage.size], strides: [1], offset: 0 }, storage.dtype) as Storage;
    } finally {
      depth--;
    }
    return newValue(storage, { kind: 'constant', copy });
  };

  const encode = (x: unknown): Arg => {
    if (isView(x, backend)) return new ViewRef(valueOf(x.storage), [...x.shape], [...x.strides], x.offset);
    if (isStorage(x, backend)) return new ValueRef(valueOf(x));
    if (Array.isArray(x)) return x.map(encode);
    if (x === null || x === undefined || typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') return x;
    if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      const out: Record<string, Arg> = {};
      for (const [k, v] of Object.entries(x)) out[k] = encode(v);
      return out;
    }
    throw new CompileError(`compile: cannot record an argument of type ${Object.prototype.toString.call(x)} passed to the ${backend.name} backend`);
  };

  const patch = (name: string, impl: (...a: unknown[]) => unknown): void => {
    originals.set(name, Object.getOwnPropertyDescriptor(backend, name));
    Object.defineProperty(target, name, { value: impl, configurable: true, writable: true, enumerable: false });
  };

  const nested = (orig: (...a: unknown[]) => unknown, a: unknown[]): unknown => {
    depth++;
    try {
      return orig(...a);
    } finally {
      depth--;
    }
  };
  for (const name of methodNames(backend)) {
    const orig = original(name);
    patch(name, (...a: unknown[]) => {
      if (depth > 0) return orig(...a);
      const hasStorage = a.some((x) => isView(x, backend) || isStorage(x, backend) || (typeof x === 'object' && x !== null && containsStorage(x, backend)));
      // Arguments are encoded before the call: a storage first seen here is an input.
      const args = hasStorage ? a.map(encode) : null;
      const result = nested(orig, a);
      const index = records.length;
      if (isStorage(result, backend)) {
        records.push({ method: name, args: args ?? a.map(encode), outs: [newValue(result, { kind: 'op', record: index })], keys: null });
      } else if (typeof result === 'object' && result !== null && Object.values(result).some((v) => isStorage(v, backend))) {
        const entries = Object.entries(result as Record<string, unknown>);
        const outs = entries.map(([, s]) => {
          if (!isStorage(s, backend)) throw new CompileError(`compile: the ${backend.name} backend's ${name} returned storages mixed with other values; it cannot be recorded`);
          return newValue(s, { kind: 'op', record: index });
        });
        records.push({ method: name, args: args ?? a.map(encode), outs, keys: entries.map(([k]) => k) });
      } else if (hasStorage && result !== undefined) {
        throw new CompileError(`compile: the ${backend.name} backend's ${name} returned a host value computed from tensors inside a compiled function; it cannot be replayed`);
      }
      return result;
    });
  }
  const origFill = original('fill');
  patch('fill', (size: unknown, value: unknown, dtype: unknown) => {
    const s = nested(origFill, [size, value, dtype]) as Storage;
    if (depth === 0) newValue(s, { kind: 'fill', value: value as number });
    return s;
  });
  const origFromArray = original('fromArray');
  patch('fromArray', (data: unknown, dtype: unknown) => {
    const s = nested(origFromArray, [data, dtype]) as Storage;
    if (depth === 0) newValue(s, { kind: 'array', data: (data as TypedArray).slice() });
    return s;
  });
  const refuse = (op: string) => (): never => {
    throw new CompileError(`compile: ${op} inside a compiled function reads a value back to the host; a compiled plan cannot depend on tensor values (move the read out of the function, or compute with tensor ops)`);
  };
  patch('readSync', refuse(`${backend.name} backend readSync`));
  patch('read', refuse(`${backend.name} backend read`));

  const hooks: TraceHooks = {
    dynamicScalar(storage, get) {
      const id = ids.get(storage);
      if (id === undefined) throw new Error('internal: dynamic scalar storage was not recorded');
      values[id]!.origin = { kind: 'dynamic', get };
      host.push({ kind: 'scalar', id, get });
    },
    effect(fn) {
      host.push({ kind: 'effect', run: fn });
    },
    hostRead(op) {
      throw new CompileError(`compile: ${op} inside a compiled function reads a value back to the host; a compiled plan cannot depend on tensor values (move the read out of the function, or compute with tensor ops)`);
    },
    assigned(t, previous, strides, offset) {
      if (!assigned.has(t)) assigned.set(t, { storage: previous, strides, offset });
    },
    touched(t, storage) {
      if (t.id < startId && !owners.has(storage)) owners.set(storage, t);
    },
  };

  const previousHooks = setTraceHooks(hooks);
  let result: unknown;
  try {
    result = tidy(() => run());
  } catch (error) {
    for (const v of values) if (v.origin.kind === 'constant') backend.dispose(v.origin.copy);
    throw error;
  } finally {
    setTraceHooks(previousHooks);
    for (const [name, desc] of originals) {
      if (desc) Object.defineProperty(target, name, desc);
      else delete target[name];
    }
  }

  const states: StateUpdate[] = [];
  for (const [t, initial] of assigned) {
    if (t.disposed) continue;
    const storage = t.sharedStorage().storage;
    let id = ids.get(storage);
    if (id === undefined) id = valueOf(storage);
    // State created inside the trace (an optimizer's lazily created slots): its first value
    // is read from the tensor at every replay instead of being recomputed.
    const initialId = ids.get(initial.storage);
    if (t.id >= startId && initialId !== undefined && values[initialId]!.origin.kind !== 'input' && values[initialId]!.origin.kind !== 'state') {
      values[initialId]!.origin = { kind: 'state', owner: t };
      stateLayouts.set(t, { shape: t.shape, strides: initial.strides, offset: initial.offset, size: values[initialId]!.size });
    }
    const leaf = leaves.indexOf(t);
    states.push({ owner: t, leaf: leaf < 0 ? undefined : leaf, id, strides: [...t.strides], offset: t.offset });
  }
  const outputs = collect(result).map((t): OutputLayout => {
    const storage = t.sharedStorage().storage;
    const id = ids.get(storage) ?? valueOf(storage);
    return { id, shape: [...t.shape], strides: [...t.strides], offset: t.offset };
  });
  return {
    backend, records, values, host, states, stateLayouts, result, outputs,
    idOf: (storage) => {
      const id = ids.get(storage);
      if (id === undefined) throw new Error('internal: storage not seen by the trace');
      return id;
    },
  };
}
