// compile(fn): trace a function over tensors once per input signature, then replay the
// recorded program of backend primitives on new inputs (see README, "Compiled functions").
import type { Backend, DType } from '../backend.js';
import { getBackend, isGradEnabled } from '../engine.js';
import { CpuStorage } from '../cpu/backend.js';
import { Tensor } from '../tensor.js';
import { hooks } from './host.js';
import { stored } from './kernels.js';
import { Plan, Profiler, StalePlan, type PlanStats, type PoolStats, type StepProfile } from './plan.js';
import { CompileError, ValueRef, ViewRef, trace, type Arg, type Trace } from './trace.js';

export { CompileError } from './trace.js';
export { hostScalar, isTracing, onReplay } from './host.js';

export interface CompileOptions {
  /** Plans kept (one per input signature), least recently used evicted first. Default 8. */
  cacheSize?: number;
  /** Fuse elementwise chains into generated kernels on the CPU backend. Default true. */
  fuse?: boolean;
  /**
   * Run fused float32 chains as generated WebAssembly SIMD where the ops and layouts allow
   * (results equal the JavaScript kernels bit for bit; see README). Default true; also off
   * with `configureCpu({ wasm: false })`.
   */
  simd?: boolean;
  /**
   * Trace a second time on the second call of each signature and check that the program
   * (ops, shapes and constants) did not change: catches host numbers that vary between
   * calls but were baked in as constants. Default true.
   */
  verify?: boolean;
  /**
   * Time every step of every replay by its kind (fused kernels, each backend primitive,
   * binding and results), for `stats().profile`. Costs two clock reads per step. Default false.
   */
  profile?: boolean;
  /**
   * CPU: the backend's results come from a pool of arrays owned by the plan while it replays,
   * and the plan gives every intermediate's array back at its last use, so a steady-state
   * replay allocates almost nothing (see README). Default true; results do not change.
   */
  pool?: boolean;
}

export interface CompileStats {
  /** Runs of `fn` under the tracer (first calls, verifications, retraces). */
  readonly traces: number;
  /** Traces caused by a signature already seen (evicted, or a captured tensor's layout changed). */
  readonly retraces: number;
  readonly verifications: number;
  readonly replays: number;
  readonly evictions: number;
  /** Plans in the cache now. */
  readonly cached: number;
  /** The most recently used plan's figures (zeros before the first call). */
  readonly plan: PlanStats;
  /** The most recently used plan's buffer pool (CPU; zeros elsewhere or with `pool: false`). */
  readonly pool: PoolStats;
  /** Replay time by step kind, slowest first (empty unless compiled with `profile: true`). */
  readonly profile: readonly StepProfile[];
}

/** A compiled function: call it like `fn`; `stats()` and `dispose()` manage its plans. */
export interface Compiled<A extends unknown[], R> {
  (...args: A): R;
  stats(): CompileStats;
  /** Frees every cached plan (its constants and arena). */
  dispose(): void;
}

interface Entry {
  plan: Plan;
  trace: Trace;
  verified: boolean;
}

const EMPTY_STATS: PlanStats = { tracedCalls: 0, kernels: 0, fusedGroups: 0, fusedOps: 0, simdGroups: 0, simdMatmuls: 0, arenaBytes: 0, constantBytes: 0, buffers: 0, peakBytes: 0 };

/**
 * Compiles `fn`, a function of tensors (and trees of tensors, numbers, strings and other
 * objects), in the spirit of `jax.jit`: the first call for each input signature (shapes,
 * dtypes, strides, backend, the non-tensor arguments) runs `fn` eagerly while recording
 * every backend primitive it reaches, forward, backward and optimizer updates alike; later
 * calls replay that program on the new inputs, with no autograd graph, tensor objects or
 * scopes in between. Tensors captured by `fn` (parameters, optimizer state) are read at
 * every replay, and `Tensor.assign` inside `fn` updates them at every replay.
 *
 * The tensor arguments' values may change between calls; everything else `fn` computes
 * on the host is frozen at the trace: host numbers that change must come in as tensors or
 * through `hostScalar` (optimizers use it for the learning rate and bias corrections).
 * Reading a tensor on the host inside `fn` (`item`, `dataSync`, `data`) throws a
 * `CompileError` naming the read.
 */
export function compile<A extends unknown[], R>(fn: (...args: A) => R, options: CompileOptions = {}): Compiled<A, R> {
  const cacheSize = options.cacheSize ?? 8;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) throw new Error(`compile: cacheSize must be a positive integer, got ${cacheSize}`);
  const fuse = options.fuse ?? true;
  const simd = options.simd ?? true;
  const verify = options.verify ?? true;
  const profiler = options.profile === true ? new Profiler() : null;
  const pool = options.pool ?? true;
  const cache = new Map<string, Entry>();
  const seen = new Set<string>();
  let traces = 0;
  let retraces = 0;
  let verifications = 0;
  let replays = 0;
  let evictions = 0;
  let last: PlanStats = EMPTY_STATS;
  let lastPlan: Plan | null = null;
  /** Makes `plan` the current one; the one before (another signature) drops its pooled arrays. */
  const use = (plan: Plan): void => {
    if (lastPlan !== null && lastPlan !== plan && !lastPlan.isDisposed) lastPlan.idle();
    lastPlan = plan;
  };
  let disposed = false;

  const build = (backend: Backend, leaves: Tensor[], args: A): { entry: Entry; result: unknown } => {
    traces++;
    const t = trace(backend, leaves, () => fn(...args), collectOutputs);
    let plan: Plan;
    try {
      plan = new Plan(t, fuse, simd, pool);
    } catch (error) {
      for (const v of t.values) if (v.origin.kind === 'constant') backend.dispose(v.origin.copy);
      throw error;
    }
    const result = t.result;
    t.result = undefined; // the cached trace must not keep the first call's result alive
    return { entry: { plan, trace: t, verified: !verify }, result };
  };

  // The last replayed plan and the layouts of its tensor arguments: a call with the same
  // layouts skips building the signature string.
  let recent: { entry: Entry; key: string; fast: FastSignature } | null = null;

  const compiled = (...args: A): R => {
    if (disposed) throw new Error('compile: this compiled function was disposed');
    // Inside another compiled function's trace: run eagerly, so the outer trace records it.
    if (hooks !== null) return fn(...args);
    // A plan leaves the cache only disposed, so a live plan is still the cached one.
    if (recent !== null && !recent.entry.plan.isDisposed && matchesFast(recent.fast, args)) {
      try {
        const leaves = recent.fast.mixed ? args.filter((a): a is Tensor => a instanceof Tensor) : args as unknown as Tensor[];
        const result = recent.entry.plan.run(leaves, profiler);
        replays++;
        return result as R;
      } catch (error) {
        if (!(error instanceof StalePlan)) throw error;
        recent = null;
      }
    }
    const leaves: Tensor[] = [];
    const key = signature(args, leaves);
    const backend = leaves[0]?.backend ?? getBackend();
    const entry = cache.get(key);
    if (entry) {
      cache.delete(key);
      cache.set(key, entry);
      if (!entry.verified) {
        verifications++;
        const again = build(backend, leaves, args);
        const difference = compareTraces(entry.trace, again.entry.trace);
        entry.plan.dispose();
        if (difference !== null) {
          cache.delete(key);
          again.entry.plan.dispose();
          throw new CompileError(`compile: two calls with the same input signature ran different programs: ${difference}. Host numbers that change between calls must be tensor arguments or hostScalar() values; host state must change through onReplay()`);
        }
        again.entry.verified = true;
        cache.set(key, again.entry);
        last = again.entry.plan.stats;
        use(again.entry.plan);
        return again.result as R;
      }
      try {
        use(entry.plan);
        const result = entry.plan.run(leaves, profiler);
        replays++;
        last = entry.plan.stats;
        const fast = fastSignature(args);
        recent = fast ? { entry, key, fast } : null;
        return result as R;
      } catch (error) {
        if (!(error instanceof StalePlan)) throw error;
        cache.delete(key);
        entry.plan.dispose();
        retraces++;
      }
    } else if (seen.has(key)) {
      retraces++;
    }
    if (seen.size >= 4096) seen.clear();
    seen.add(key);
    const built = build(backend, leaves, args);
    cache.set(key, built.entry);
    last = built.entry.plan.stats;
    use(built.entry.plan);
    while (cache.size > cacheSize) {
      const [oldest, evicted] = cache.entries().next().value as [string, Entry];
      cache.delete(oldest);
      evicted.plan.dispose();
      evictions++;
    }
    return built.result as R;
  };

  return Object.assign(compiled, {
    stats: (): CompileStats => ({ traces, retraces, verifications, replays, evictions, cached: cache.size, plan: last, pool: lastPlan?.poolStats() ?? { takes: 0, reused: 0, bytes: 0 }, profile: profiler?.report() ?? [] }),
    dispose: (): void => {
      disposed = true;
      recent = null;
      for (const e of cache.values()) e.plan.dispose();
      cache.clear();
    },
  });
}

interface TensorLayout { readonly dtype: DType; readonly backend: Backend; readonly shape: readonly number[]; readonly strides: readonly number[]; readonly offset: number; readonly size: number }

interface FastSignature {
  readonly grad: boolean;
  readonly active: Backend;
  /** Per argument: a tensor's layout, or a host value (number, string, boolean, null, undefined), compared with Object.is. */
  readonly args: readonly ({ readonly tensor: TensorLayout } | { readonly tensor: null; readonly value: unknown })[];
  /** For each argument, the first earlier argument on the same storage, or -1 (as `signature` keys them). */
  readonly alias: readonly number[];
  /** Some arguments are host values: the plan's leaves are the tensors among the arguments. */
  readonly mixed: boolean;
}

const isHostValue = (x: unknown): boolean => x === null || x === undefined || typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean';

/**
 * The layouts of a call whose arguments are all tensors or host values (and which tensors
 * share a storage), else null (arrays, objects and functions go through `signature`).
 */
function fastSignature(args: readonly unknown[]): FastSignature | null {
  const slots: FastSignature['args'][number][] = [];
  const storages: unknown[] = [];
  const alias: number[] = [];
  let mixed = false;
  for (const a of args) {
    if (a instanceof Tensor) {
      const storage = a.sharedStorage().storage;
      alias.push(storages.indexOf(storage));
      storages.push(storage);
      slots.push({ tensor: { dtype: a.dtype, backend: a.backend, shape: a.shape, strides: a.strides, offset: a.offset, size: storage.size } });
    } else if (isHostValue(a)) {
      alias.push(-1);
      storages.push(undefined);
      slots.push({ tensor: null, value: a });
      mixed = true;
    } else {
      return null;
    }
  }
  if (slots.length > 0 && slots.every((x) => x.tensor === null)) return null;
  return { grad: isGradEnabled(), active: getBackend(), args: slots, alias, mixed };
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function matchesFast(fast: FastSignature, args: readonly unknown[]): boolean {
  const slots = fast.args;
  if (args.length !== slots.length || fast.grad !== isGradEnabled() || fast.active !== getBackend()) return false;
  for (let i = 0; i < slots.length; i++) {
    const a = args[i];
    const slot = slots[i]!;
    const t = slot.tensor;
    if (t === null) {
      // A host value is part of the program (frozen at the trace): the same one, or no match.
      if (!Object.is(a, (slot as { value: unknown }).value)) return false;
      continue;
    }
    if (!(a instanceof Tensor) || a.disposed) return false;
    const storage = a.sharedStorage().storage;
    if (a.dtype !== t.dtype || storage.backend !== t.backend || a.offset !== t.offset || storage.size !== t.size) return false;
    // Tensors keep frozen layout arrays: the same array object is the same layout.
    const shape = a.shape;
    const strides = a.strides;
    if ((shape !== t.shape && !sameNumbers(shape, t.shape)) || (strides !== t.strides && !sameNumbers(strides, t.strides))) return false;
    // The same storages shared by the same arguments as at the recorded call.
    let first = -1;
    for (let j = 0; j < i; j++) {
      const b = args[j];
      if (b instanceof Tensor && b.sharedStorage().storage === storage) {
        first = j;
        break;
      }
    }
    if (first !== fast.alias[i]) return false;
  }
  return true;
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

/** The cache key of a call: tensors by layout (collected into `leaves`), other values as given. */
function signature(args: readonly unknown[], leaves: Tensor[]): string {
  const parts: string[] = [isGradEnabled() ? 'g' : 'n', getBackend().name];
  const storages = new Map<unknown, number>();
  const walk = (x: unknown): void => {
    if (x instanceof Tensor) {
      const storage = x.sharedStorage().storage;
      const shared = storages.get(storage);
      if (shared === undefined) storages.set(storage, leaves.length);
      parts.push(`T${x.dtype}:${x.backend.name}:${x.shape.join(',')}:${x.strides.join(',')}:${x.offset}:${storage.size}${shared === undefined ? '' : `=${shared}`}`);
      leaves.push(x);
      return;
    }
    if (x === null || x === undefined || typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') {
      parts.push(typeof x === 'number' ? `n${Object.is(x, -0) ? '-0' : x}` : JSON.stringify(x) ?? 'u');
      return;
    }
    if (Array.isArray(x)) {
      parts.push(`[${x.length}`);
      for (const v of x) walk(v);
      parts.push(']');
      return;
    }
    if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      parts.push('{');
      for (const [k, v] of Object.entries(x)) {
        parts.push(k);
        walk(v);
      }
      parts.push('}');
      return;
    }
    if (typeof x === 'object' || typeof x === 'function') {
      let id = objectIds.get(x);
      if (id === undefined) {
        id = nextObjectId++;
        objectIds.set(x, id);
      }
      parts.push(`o${id}`);
      return;
    }
    throw new CompileError(`compile: cannot use an argument of type ${typeof x} in a signature`);
  };
  for (const a of args) walk(a);
  return parts.join('|');
}

function collectOutputs(result: unknown): Tensor[] {
  if (result instanceof Promise) {
    result.catch(() => undefined);
    throw new CompileError('compile: the function returned a Promise; a compiled function is synchronous (await reads outside it)');
  }
  const out: Tensor[] = [];
  const walk = (x: unknown, path: string): void => {
    if (x instanceof Tensor) {
      out.push(x);
      return;
    }
    if (x === null || x === undefined) return;
    if (Array.isArray(x)) {
      x.forEach((v, i) => walk(v, `${path}[${i}]`));
      return;
    }
    if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      for (const [k, v] of Object.entries(x)) walk(v, `${path}.${k}`);
      return;
    }
    throw new CompileError(`compile: the function returned ${typeof x} at ${path || 'the top level'}; a compiled function returns tensors (in arrays or plain objects), since host values would be frozen at the trace`);
  };
  walk(result, '');
  return out;
}

/** Value ids renumbered by first use, so traces that create values in another order compare equal. */
function canonical(t: Trace): Map<number, number> {
  const map = new Map<number, number>();
  const see = (id: number): void => {
    if (!map.has(id)) map.set(id, map.size);
  };
  for (const r of t.records) {
    visit(r.args, see);
    r.outs.forEach(see);
  }
  for (const o of t.outputs) see(o.id);
  for (const s of t.states) see(s.id);
  return map;
}

/** The first difference between two traces of one signature, described, or null. */
function compareTraces(a: Trace, b: Trace): string | null {
  const describe = (t: Trace, i: number): string => {
    const r = t.records[i]!;
    return `${r.method}${typeof r.args[0] === 'string' ? ` ${r.args[0]}` : ''} (primitive call ${i + 1})`;
  };
  const firstUse = (t: Trace, id: number): string => {
    for (let i = 0; i < t.records.length; i++) {
      let uses = false;
      visit(t.records[i]!.args, (ref) => { if (ref === id) uses = true; });
      if (uses) return describe(t, i);
    }
    return 'a result';
  };
  if (a.records.length !== b.records.length) return `${a.records.length} primitive calls, then ${b.records.length}`;
  const ca = canonical(a);
  const cb = canonical(b);
  for (let i = 0; i < a.records.length; i++) {
    const ra = a.records[i]!;
    const rb = b.records[i]!;
    if (ra.method !== rb.method || encodeArgs(ra.args, ca) !== encodeArgs(rb.args, cb)) {
      return `${describe(a, i)} became ${describe(b, i)} with other arguments`;
    }
  }
  if (ca.size !== cb.size) return `${ca.size} values, then ${cb.size}`;
  const inverse = new Map<number, number>();
  for (const [id, c] of cb) inverse.set(c, id);
  for (const [ida, c] of ca) {
    const idb = inverse.get(c)!;
    const va = a.values[ida]!;
    const vb = b.values[idb]!;
    const oa = originKey(va.origin, va.dtype);
    const ob = originKey(vb.origin, vb.dtype);
    if (va.dtype !== vb.dtype || va.size !== vb.size || oa !== ob || !sameArrayConstant(va.origin, vb.origin)) {
      return `the ${va.dtype}[${va.size}] value used by ${firstUse(a, ida)} was ${oa} and then ${ob}`;
    }
  }
  const hostKey = (t: Trace, c: Map<number, number>): string => t.host.map((h) => (h.kind === 'effect' ? 'e' : `s${c.get(h.id) ?? -1}`)).join();
  if (hostKey(a, ca) !== hostKey(b, cb)) return 'the host effects and dynamic scalars differ';
  const sameTarget = (s: Trace['states'][number], t: Trace['states'][number]): boolean => (s.leaf !== undefined || t.leaf !== undefined ? s.leaf === t.leaf : s.owner === t.owner);
  if (a.states.length !== b.states.length || a.states.some((s, i) => !sameTarget(s, b.states[i]!) || ca.get(s.id) !== cb.get(b.states[i]!.id))) return 'the assigned tensors differ';
  const outs = (t: Trace, c: Map<number, number>): string => t.outputs.map((o) => `${c.get(o.id)}:${o.shape.join(',')}:${o.strides.join(',')}:${o.offset}`).join('|');
  if (outs(a, ca) !== outs(b, cb)) return 'the results differ in layout';
  return null;
}

function originKey(o: Trace['values'][number]['origin'], dtype: DType): string {
  switch (o.kind) {
    case 'fill': return `the constant ${stored(o.value, dtype)}`;
    case 'array': return `an array constant [${Array.from(o.data.subarray(0, 4)).join(', ')}${o.data.length > 4 ? ', ...' : ''}]`;
    case 'input': return `input ${o.leaf}`;
    case 'state': return `tensor #${o.owner.id}`;
    case 'constant': {
      if (!(o.copy instanceof CpuStorage)) return 'a cached constant';
      const data = o.copy.data;
      return data.every((v) => Object.is(v, data[0])) ? `the constant ${data[0]}` : `the cached constant ${Array.from(data).join(', ')}`;
    }
    case 'dynamic': return 'a dynamic scalar';
    case 'op': return `computed by call ${o.record + 1}`;
  }
}

function sameArrayConstant(a: Trace['values'][number]['origin'], b: Trace['values'][number]['origin']): boolean {
  if (a.kind !== 'array' || b.kind !== 'array') return true;
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (!Object.is(a.data[i], b.data[i])) return false;
  return true;
}

function encodeArgs(args: readonly Arg[], c: Map<number, number>): string {
  return JSON.stringify(args, (_k, v: unknown) => {
    if (v instanceof ViewRef) return { v: c.get(v.id), s: v.shape, t: v.strides, o: v.offset };
    if (v instanceof ValueRef) return { r: c.get(v.id) };
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
}

function visit(args: readonly Arg[] | Arg, fn: (id: number) => void): void {
  if (args instanceof ValueRef || args instanceof ViewRef) {
    fn(args.id);
    return;
  }
  if (Array.isArray(args)) {
    for (const a of args as Arg[]) visit(a, fn);
    return;
  }
  if (args !== null && typeof args === 'object') for (const v of Object.values(args)) visit(v as Arg, fn);
}
