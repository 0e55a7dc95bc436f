// A plan: the trace turned into a program that replays on new input storages. Dead calls
// are dropped, constants are made once, on the CPU elementwise chains become fused kernels
// whose intermediates live in an arena of buffers reused by liveness, and every other
// primitive runs through the real backend (its storages freed right after their last use).
import type { BinaryOp, DType, Storage, UnaryOp } from '../backend.js';
import { bytesPerElement } from '../backend.js';
import { CpuBackend, CpuStorage } from '../cpu/backend.js';
import { BufferPool } from '../cpu/pool.js';
import { SharedStorage } from '../engine.js';
import { contiguousStrides, formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import {
  SILU_BACKWARD_EXPR, SILU_EXPR, WHERE_EXPR, binaryExpr, castExpr, generateKernel, stored, unaryExpr, type FusedGroup, type FusedOp, type Operand,
} from './kernels.js';
import { kept, simdKernel } from './simd.js';
import { simdMatmul } from './simd-matmul.js';
import { CompileError, ValueRef, ViewRef, type Arg, type Trace } from './trace.js';

export interface PlanStats {
  /** Primitive calls in the trace. */
  readonly tracedCalls: number;
  /** Calls a replay makes: fused kernels plus backend primitives. */
  readonly kernels: number;
  /** Fused elementwise kernels (CPU), and the primitives they replace. */
  readonly fusedGroups: number;
  readonly fusedOps: number;
  /** Fused kernels that run as generated WebAssembly SIMD (the rest are generated JavaScript). */
  readonly simdGroups: number;
  /** Small float32 matmuls that run as generated WebAssembly SIMD. */
  readonly simdMatmuls: number;
  /** Bytes of the arena (reused intermediate buffers) and of the plan's constants. */
  readonly arenaBytes: number;
  readonly constantBytes: number;
  /**
   * Buffers the plan keeps from one replay to the next: constants, arena slots, host scalars
   * and the two result arrays each generated SIMD matmul recycles.
   */
  readonly buffers: number;
  /**
   * The most bytes a replay holds at once by the plan: the buffers above plus the largest sum of
   * the backend calls' results alive together (each from its call to its last use, the
   * function's results to the end). Inputs and captured tensors are not counted.
   */
  readonly peakBytes: number;
}

type Step = () => void;

/** A CPU plan's buffer pool (CompileOptions.pool), over all its replays. */
export interface PoolStats {
  /** Result arrays the backend asked the pool for during replays. */
  readonly takes: number;
  /** Of those, arrays given back earlier and handed out again (the rest were new). */
  readonly reused: number;
  /** Bytes of the arrays waiting in the pool now. */
  readonly bytes: number;
}

/** Time spent in one kind of plan step over the replays of a profiled compiled function. */
export interface StepProfile {
  /** `fused-js`, `fused-simd`, `matmul-simd`, a backend method's name, `host`, `bind` or `finish`. */
  readonly kind: string;
  /** Steps of this kind run (summed over replays). */
  readonly calls: number;
  /** Milliseconds of wall-clock time in them. */
  readonly ms: number;
}

/** Accumulates step times by kind (CompileOptions.profile). */
export class Profiler {
  private readonly totals = new Map<string, { calls: number; ms: number }>();
  add(kind: string, ms: number): void {
    const t = this.totals.get(kind);
    if (t === undefined) this.totals.set(kind, { calls: 1, ms });
    else {
      t.calls++;
      t.ms += ms;
    }
  }
  /** The kinds, slowest first. */
  report(): StepProfile[] {
    return [...this.totals].map(([kind, t]) => ({ kind, calls: t.calls, ms: t.ms })).sort((a, b) => b.ms - a.ms);
  }
  reset(): void {
    this.totals.clear();
  }
}

/** The smallest cap of a plan's buffer pool (the pool's own default). */
const DEFAULT_POOL_BYTES = 64 * 1024 * 1024;

const ELEMENTWISE = new Set(['unary', 'binary', 'where', 'cast', 'silu', 'siluBackward']);
/** Elementwise primitives over whole storages (ValueRef arguments) rather than views. */
const WHOLE = new Set(['silu', 'siluBackward']);

/** Optional backend hooks around a plan's replays (the WebGPU backend keeps each plan value in
 * the same buffer across replays). `plan` identifies the plan; `complete` is false when the
 * replay failed. */
interface ReplayHooks {
  beginReplay?(plan: object): void;
  endReplay?(plan: object, complete: boolean): void;
  disposeReplay?(plan: object): void;
}

/** Signals that a replay cannot use this plan (a captured tensor changed layout): retrace. */
export class StalePlan extends Error {}

export class Plan {
  readonly stats: PlanStats;
  private readonly S: (Storage | undefined)[];
  private readonly steps: Step[];
  /** The kind of each step (for profiling). */
  private readonly kinds: string[] = [];
  private readonly owned: Storage[] = [];
  private readonly finish: (leaves: readonly Tensor[]) => unknown;
  private readonly bind: (leaves: readonly Tensor[]) => void;
  /** Ends the backend's replay scope after a failed replay (see ReplayHooks). */
  private readonly abortReplay: () => void = () => {};
  private disposed = false;
  /** Values whose storage a replay makes afresh (not arena, constants or bound inputs). */
  private readonly transient = new Set<number>();
  /** CPU only: where the backend's results come from during a replay (cpu/pool.ts). */
  private readonly pool: BufferPool | null;
  /** Called after each successful replay (ends the first replay's checks). */
  private replayed: () => void = () => {};

  constructor(private readonly trace: Trace, fuse: boolean, simd = true, pool = true) {
    const { records, values, backend } = trace;
    const S: (Storage | undefined)[] = new Array<Storage | undefined>(values.length).fill(undefined);
    this.S = S;
    const cpu = fuse && backend instanceof CpuBackend;

    // ------------------------------------------------------------ roots and dead calls
    const escaping = new Map<number, number>(); // value -> holders
    const outputIds = trace.outputs.map((o) => o.id);
    for (const id of outputIds) escaping.set(id, (escaping.get(id) ?? 0) + 1);
    for (const s of trace.states) escaping.set(s.id, (escaping.get(s.id) ?? 0) + 1);
    const needed = new Set<number>(escaping.keys());
    const live: boolean[] = new Array<boolean>(records.length).fill(false);
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i]!;
      if (!r.outs.some((o) => needed.has(o))) continue;
      live[i] = true;
      forEachRef(r.args, (id) => needed.add(id));
    }

    // ------------------------------------------------------------ steps (fused groups on the CPU)
    interface Unit { readonly records: number[]; readonly fused: boolean }
    const units: Unit[] = [];
    const producedIn = new Map<number, number>(); // value -> unit index (for fused units)
    let group: Unit | null = null;
    let groupShape: readonly number[] = [];
    // silu / siluBackward read whole storages: seen as contiguous views of the open group's
    // shape when the sizes agree (so they join it), else of [size].
    const wholeViews = new Map<number, ViewRef[]>();
    for (let i = 0; i < records.length; i++) {
      if (!live[i]) continue;
      const r = records[i]!;
      if (cpu && ELEMENTWISE.has(r.method)) {
        let views: ViewRef[];
        if (WHOLE.has(r.method)) {
          const size = values[r.outs[0]!]!.size;
          const shape = group !== null && groupShape.reduce((a, b) => a * b, 1) === size ? groupShape : [size];
          views = r.args.map((a) => new ViewRef((a as ValueRef).id, shape, contiguousStrides(shape), 0));
          wholeViews.set(i, views);
        } else {
          views = r.args.filter((a): a is ViewRef => a instanceof ViewRef);
        }
        const shape = views[0]!.shape;
        const joins = group !== null && sameShape(shape, groupShape) && views.every((v) => {
          const at = producedIn.get(v.id);
          return at !== units.length - 1 || (v.offset === 0 && sameShape(v.strides, contiguousStrides(shape)));
        }) && views.every((v) => producedIn.get(v.id) !== units.length - 1 || sameShape(v.shape, shape));
        if (!joins) {
          group = { records: [], fused: true };
          units.push(group);
          groupShape = shape;
        }
        group!.records.push(i);
        producedIn.set(r.outs[0]!, units.length - 1);
        continue;
      }
      group = null;
      units.push({ records: [i], fused: false });
    }

    const unitOfRecord = new Map<number, number>();
    units.forEach((u, k) => { for (const i of u.records) unitOfRecord.set(i, k); });

    // ------------------------------------------------------------ liveness
    const lastUse = new Map<number, number>();
    units.forEach((u, k) => {
      for (const i of u.records) {
        forEachRef(records[i]!.args, (id) => {
          // A use inside the producing fused unit does not keep the value in memory.
          if (u.fused && producedIn.get(id) === k) return;
          lastUse.set(id, k);
        });
      }
    });

    // ------------------------------------------------------------ constants
    const constants = new Map<number, Storage>();
    let constantBytes = 0;
    // Fills of the same size, dtype and value share one storage: no primitive writes into its
    // arguments, and a constant that escapes is copied (the zeros a traced step makes over and
    // over, for padding or as initial states, are then made once).
    const fills = new Map<string, Storage>();
    const constant = (id: number): Storage => {
      let s = constants.get(id);
      if (s) return s;
      const v = values[id]!;
      switch (v.origin.kind) {
        case 'fill': {
          const key = `${v.dtype}:${v.size}:${Object.is(v.origin.value, -0) ? '-0' : v.origin.value}`;
          const shared = fills.get(key);
          if (shared !== undefined) {
            constants.set(id, shared);
            return shared;
          }
          s = backend.fill(v.size, v.origin.value, v.dtype);
          fills.set(key, s);
          break;
        }
        case 'array': s = backend.fromArray(v.origin.data, v.dtype); break;
        case 'constant': s = v.origin.copy; break;
        default: throw new Error(`internal: value ${id} (${v.origin.kind}) is not a constant`);
      }
      constants.set(id, s);
      if (v.origin.kind !== 'constant') this.owned.push(s);
      constantBytes += v.size * bytesPerElement(v.dtype);
      return s;
    };
    // Cached scalars copied by the trace belong to the plan, used, inlined or dropped.
    for (const v of values) if (v.origin.kind === 'constant') this.owned.push(v.origin.copy);
    /** The single value of a uniform constant (CPU only), or undefined. */
    const uniform = (id: number): number | undefined => {
      const v = values[id]!;
      if (v.origin.kind === 'fill') return stored(v.origin.value, v.dtype);
      if (v.size !== 1) return undefined;
      if (v.origin.kind === 'array') return stored(v.origin.data[0]!, v.dtype);
      if (v.origin.kind === 'constant') return (v.origin.copy as CpuStorage).data[0]!;
      return undefined;
    };

    // ------------------------------------------------------------ host program
    const steps: Step[] = [];
    const dynamicFresh = new Set<number>();
    for (const h of trace.host) {
      if (h.kind === 'effect') {
        steps.push(h.run);
        this.kinds.push('host');
        continue;
      }
      const { id, get } = h;
      if (!needed.has(id)) continue;
      const dtype = values[id]!.dtype;
      if (cpu) {
        const s = backend.fill(1, 0, dtype) as CpuStorage;
        this.owned.push(s);
        S[id] = s;
        steps.push(() => { s.data[0] = get(); });
        this.kinds.push('host');
      } else {
        dynamicFresh.add(id);
        steps.push(() => { S[id] = backend.fill(1, get(), dtype); });
        this.kinds.push('host');
      }
    }

    // ------------------------------------------------------------ arena (CPU fused outputs)
    interface Slot { readonly dtype: DType; readonly storage: CpuStorage; freeFrom: number }
    const slots: Slot[] = [];
    let arenaBytes = 0;
    const arenaSlot = (dtype: DType, size: number, at: number, until: number): Storage => {
      let best: Slot | undefined;
      for (const s of slots) {
        if (s.dtype !== dtype || s.freeFrom > at || s.storage.size < size || s.storage.size > 2 * size + 64) continue;
        if (!best || s.storage.size < best.storage.size) best = s;
      }
      if (!best) {
        best = { dtype, storage: backend.fill(size, 0, dtype) as CpuStorage, freeFrom: 0 };
        this.owned.push(best.storage);
        arenaBytes += size * bytesPerElement(dtype);
        slots.push(best);
      }
      best.freeFrom = until + 1;
      return best.storage.size === size ? best.storage : new CpuStorage(backend as CpuBackend, dtype, best.storage.data.subarray(0, size));
    };

    const isFresh = (id: number): boolean => {
      const kind = values[id]!.origin.kind;
      return kind === 'op' || dynamicFresh.has(id);
    };
    const freeAfter: number[][] = units.map(() => []);
    for (const [id, k] of lastUse) {
      if (escaping.has(id) || !isFresh(id)) continue;
      const producer = values[id]!.origin;
      if (producer.kind === 'op' && units[unitOfRecord.get(producer.record)!]!.fused) continue; // arena
      freeAfter[k]!.push(id);
    }
    // Generic calls' results that nothing reads (an unused second result) are freed at once.
    units.forEach((u, k) => {
      if (u.fused) return;
      for (const id of records[u.records[0]!]!.outs) if (!lastUse.has(id) && !escaping.has(id)) freeAfter[k]!.push(id);
    });

    /**
     * The most bytes of values made during a replay (backend calls' results, fused kernels'
     * fresh results) alive at once, `skip` left out: each lives from its unit to its last use
     * (results of the function, to the end).
     */
    const transientPeak = (skip: ReadonlySet<number>): number => {
      const delta = new Float64Array(units.length + 1);
      units.forEach((u, k) => {
        for (const i of u.records) {
          for (const id of records[i]!.outs) {
            if (skip.has(id) || (u.fused && !escaping.has(id))) continue;
            const until = escaping.has(id) ? units.length - 1 : lastUse.get(id) ?? k;
            const bytes = values[id]!.size * bytesPerElement(values[id]!.dtype);
            delta[k] += bytes;
            delta[until + 1] -= bytes;
          }
        }
      });
      let now = 0;
      let most = 0;
      for (let k = 0; k < units.length; k++) {
        now += delta[k]!;
        if (now > most) most = now;
      }
      return most;
    };
    // The pool keeps (between replays) at most what a replay needs at once, so that a steady-state
    // replay takes every array from it whatever the size of the program.
    this.pool = pool && backend instanceof CpuBackend ? new BufferPool({ maxBytes: Math.max(DEFAULT_POOL_BYTES, transientPeak(new Set())) }) : null;
    /** Results of the generated SIMD matmuls (each call site keeps two arrays of its own). */
    const siteResults = new Set<number>();
    let siteBytes = 0;

    // On the CPU, the results of backend calls come from the plan's pool while it replays, and
    // the intermediates among them go back to it at their last use (see cpu/pool.ts).
    const planPool = this.pool;
    /** 1: a value made by a backend call whose array the plan alone holds once it frees it. */
    const poolable = new Uint8Array(values.length);
    let firstReplay = true;
    this.replayed = () => { firstReplay = false; };
    let kernels = 0;
    let fusedGroups = 0;
    let fusedOps = 0;
    let simdGroups = 0;
    let simdMatmuls = 0;
    units.forEach((u, k) => {
      const frees = freeAfter[k]!;
      const free: Step = frees.length === 0 ? () => {} : planPool === null ? () => {
        for (const id of frees) {
          backend.dispose(S[id]!);
          S[id] = undefined;
        }
      } : () => {
        for (let j = 0; j < frees.length; j++) {
          const id = frees[j]!;
          const s = S[id] as CpuStorage;
          backend.dispose(s);
          // The array of an intermediate that only this replay saw goes back to the pool.
          if (poolable[id] === 1) planPool.give(s.data);
          S[id] = undefined;
        }
      };
      kernels++;
      if (u.fused) {
        const g = this.fusedGroup(u.records, k, producedIn, lastUse, escaping, uniform, constant, arenaSlot, wholeViews);
        fusedGroups++;
        fusedOps += u.records.length;
        const wasm = simd ? simdKernel(g.group, (id) => values[id]!.dtype, (id) => kept(values[id]!.origin.kind)) : null;
        if (wasm !== null) simdGroups++;
        const kernel = wasm ?? generateKernel(g.group).kernel;
        this.kinds.push(wasm !== null ? 'fused-simd' : 'fused-js');
        const fresh = g.fresh;
        if (fresh.length === 0 && frees.length === 0) steps.push(() => kernel(S));
        else {
          // Results are new storages at every replay; the array of the previous replay's
          // result is reused once its tensors are all disposed (the kernel writes every element).
          const cpuBackend = backend as CpuBackend;
          // Two per result: state (a parameter) holds the last one until the next replay.
          const previous: (CpuStorage | undefined)[] = fresh.flatMap(() => [undefined, undefined]);
          steps.push(() => {
            for (let j = 0; j < fresh.length; j++) {
              const [id, size, dtype] = fresh[j]!;
              const a = previous[2 * j];
              const b = previous[2 * j + 1];
              const old = a !== undefined && a.disposed ? a : b !== undefined && b.disposed ? b : undefined;
              const s = old !== undefined ? cpuBackend.adopt(old.data, dtype) : backend.fill(size, 0, dtype) as CpuStorage;
              previous[2 * j + 1] = old === a ? b : a;
              previous[2 * j] = s;
              S[id] = s;
            }
            kernel(S);
            free();
          });
        }
        return;
      }
      const r = records[u.records[0]!]!;
      const { resolve, clear: release } = (planPool !== null ? reusedResolver : resolver)(r.args, S, (id) => {
        const kind = values[id]!.origin.kind;
        if (kind === 'fill' || kind === 'array' || kind === 'constant') S[id] = constant(id);
      });
      const method = r.method;
      const outs = r.outs;
      const keys = r.keys;
      if (cpu && simd && method === 'matmul' && keys === null && r.args.length === 2 && r.args.every((x) => x instanceof ViewRef)) {
        const [va, vb] = r.args as [ViewRef, ViewRef];
        // With a pool, an intermediate product's array comes from it and goes back at its last
        // use, as a backend call's does. A result of the function (which the plan never gets
        // back) and every product without a pool: the call site recycles its last two arrays.
        const pooled = planPool !== null && !escaping.has(outs[0]!);
        const take = pooled ? (size: number): Float32Array => planPool.take('float32', size, true) as Float32Array : undefined;
        const mm = simdMatmul(backend as CpuBackend, { dtype: values[va.id]!.dtype, ...va }, { dtype: values[vb.id]!.dtype, ...vb }, take, [kept(values[va.id]!.origin.kind), kept(values[vb.id]!.origin.kind)]);
        if (mm !== null) {
          const out = outs[0]!;
          const ia = va.id;
          const ib = vb.id;
          for (const id of [ia, ib]) {
            const kind = values[id]!.origin.kind;
            if (kind === 'fill' || kind === 'array' || kind === 'constant') S[id] = constant(id);
          }
          simdMatmuls++;
          if (pooled) {
            poolable[out] = 1;
          } else {
            siteResults.add(out);
            siteBytes += 2 * values[out]!.size * 4;
          }
          this.kinds.push('matmul-simd');
          steps.push(() => {
            S[out] = mm(S[ia]!, S[ib]!);
            free();
          });
          return;
        }
      }
      const impl = (backend as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
      let call = (): unknown => impl.apply(backend, resolve());
      if (release !== null) {
        // The reused argument objects must not hold the call's storages until the next replay.
        const bare = call;
        call = (): unknown => {
          try {
            return bare();
          } finally {
            release();
          }
        };
      }
      if (planPool !== null) {
        for (const id of outs) poolable[id] = 1;
        // Checked once, at the first replay: a result that shares its buffer with an argument or
        // with another result of the call is never given back, and neither is that argument
        // (freed first, either one would hand the other's live data out of the pool).
        const check = (result: Storage | Record<string, Storage>): void => {
          const holders = new Map<ArrayBufferLike, number[]>();
          const note = (id: number): void => {
            const storage = S[id];
            if (!(storage instanceof CpuStorage)) return;
            const buffer = storage.data.buffer;
            const ids = holders.get(buffer);
            if (ids === undefined) holders.set(buffer, [id]);
            else {
              for (const other of ids) poolable[other] = 0;
              poolable[id] = 0;
              ids.push(id);
            }
          };
          forEachRef(r.args, note);
          const results = keys === null ? [result as Storage] : keys.map((key) => (result as Record<string, Storage>)[key]!);
          results.forEach((storage, j) => {
            S[outs[j]!] = storage;
            note(outs[j]!);
          });
        };
        const unchecked = call;
        call = (): unknown => {
          const result = unchecked() as Storage | Record<string, Storage>;
          if (firstReplay) check(result);
          return result;
        };
      }
      this.kinds.push(method === 'unary' || method === 'binary' ? `${method} ${String(r.args[0])}` : method);
      if (keys === null) {
        const out = outs[0]!;
        steps.push(() => {
          S[out] = call() as Storage;
          free();
        });
      } else {
        steps.push(() => {
          const result = call() as Record<string, Storage>;
          for (let j = 0; j < outs.length; j++) S[outs[j]!] = result[keys[j]!];
          free();
        });
      }
    });
    this.steps = steps;
    for (const v of values) {
      if ((v.origin.kind === 'op' || dynamicFresh.has(v.id)) && !(v.origin.kind === 'op' && units[unitOfRecord.get(v.origin.record) ?? -1]?.fused && !escaping.has(v.id))) this.transient.add(v.id);
    }

    // ------------------------------------------------------------ binding and results
    const inputs = values.filter((v) => v.origin.kind === 'input' && needed.has(v.id)).map((v) => [v.id, (v.origin as { leaf: number }).leaf] as const);
    const states = values.filter((v) => v.origin.kind === 'state' && needed.has(v.id)).map((v) => {
      const owner = (v.origin as { owner: Tensor }).owner;
      return { id: v.id, owner, layout: trace.stateLayouts.get(owner)! };
    });
    for (const v of values) {
      if (needed.has(v.id) && (v.origin.kind === 'fill' || v.origin.kind === 'array' || v.origin.kind === 'constant') && (escaping.has(v.id) || !cpu)) {
        S[v.id] = constant(v.id);
      }
    }
    this.bind = (leaves) => {
      for (let i = 0; i < inputs.length; i++) S[inputs[i]![0]] = leaves[inputs[i]![1]]!.sharedStorage().storage;
      for (let i = 0; i < states.length; i++) {
        const { id, owner, layout } = states[i]!;
        if (owner.disposed) throw new CompileError(`compile: tensor #${owner.id} ${formatShape(owner.shape)}, captured by the compiled function, was disposed`);
        const storage = owner.sharedStorage().storage;
        if (storage.size !== layout.size || owner.offset !== layout.offset || !sameShape(owner.strides, layout.strides)) throw new StalePlan();
        S[id] = storage;
      }
    };

    // Escaping values: one SharedStorage each per replay; values not computed by the
    // replay itself (inputs, state, constants) are copied so results never alias them.
    const escapes = [...escaping.keys()].map((id) => ({ id, holders: escaping.get(id)!, copy: !isFresh(id), dtype: values[id]!.dtype, size: values[id]!.size }));
    // Frozen layouts: the tensors made at every replay share them instead of copying.
    const outLayouts = trace.outputs.map((o) => ({ id: o.id, shape: Object.freeze([...o.shape]), strides: Object.freeze([...o.strides]), offset: o.offset }));
    const stateUpdates = trace.states.map((s) => ({ owner: s.owner, leaf: s.leaf, id: s.id, strides: Object.freeze([...s.strides]), offset: s.offset }));
    // The result's structure, its tensors replaced by markers: the plan must not keep the traced
    // call's own result tensors (and their storages) alive.
    const template = skeleton(trace.result);
    const shared: (SharedStorage | undefined)[] = new Array<SharedStorage | undefined>(values.length).fill(undefined);
    const used: number[] = new Array<number>(values.length).fill(0);
    const take = (id: number): SharedStorage => {
      const sh = shared[id]!;
      if (used[id]!++ > 0) sh.retain();
      return sh;
    };
    const clear = values.filter((v) => v.origin.kind === 'input' || v.origin.kind === 'state' || (v.origin.kind === 'op' && escaping.has(v.id))).map((v) => v.id);
    const single = template === TENSOR;
    const only = outLayouts[0];
    // The common case of one fresh result and no state: one tensor, no bookkeeping arrays.
    const lone = single && outLayouts.length === 1 && escapes.length === 1 && !escapes[0]!.copy && escapes[0]!.id === only!.id && escapes[0]!.holders === 1 && stateUpdates.length === 0;
    this.finish = lone ? () => {
      const t = new Tensor(new SharedStorage(S[only!.id]!), only!.shape, only!.strides, only!.offset);
      for (let i = 0; i < clear.length; i++) S[clear[i]!] = undefined;
      return t;
    } : (leaves) => {
      for (let i = 0; i < escapes.length; i++) {
        const e = escapes[i]!;
        let s = S[e.id]!;
        if (e.copy) s = backend.unary('copy', { storage: s, shape: [e.size], strides: [1], offset: 0 }, e.dtype);
        shared[e.id] = new SharedStorage(s);
        used[e.id] = 0;
      }
      const tensors: Tensor[] = [];
      for (let i = 0; i < outLayouts.length; i++) {
        const o = outLayouts[i]!;
        tensors.push(new Tensor(take(o.id), o.shape, o.strides, o.offset));
      }
      for (let i = 0; i < stateUpdates.length; i++) {
        const u = stateUpdates[i]!;
        (u.leaf === undefined ? u.owner : leaves[u.leaf]!).replaceStorage(take(u.id), u.strides, u.offset);
      }
      for (let i = 0; i < escapes.length; i++) shared[escapes[i]!.id] = undefined;
      for (let i = 0; i < clear.length; i++) S[clear[i]!] = undefined;
      if (single) return tensors[0];
      let at = 0;
      return rebuild(template, () => tensors[at++]!);
    };

    // Backend hooks around every replay (WebGPU: each plan value keeps its buffer, so bind
    // groups are built once): begin once the inputs are bound, end after the results are made
    // or when a failed replay has freed its storages.
    const hooks = backend as ReplayHooks;
    if (hooks.beginReplay !== undefined) {
      const bind = this.bind;
      const finish = this.finish;
      this.bind = (leaves) => {
        bind(leaves);
        hooks.beginReplay!(this);
      };
      this.finish = (leaves) => {
        let complete = false;
        try {
          const result = finish(leaves);
          complete = true;
          return result;
        } finally {
          hooks.endReplay?.(this, complete);
        }
      };
      this.abortReplay = () => hooks.endReplay?.(this, false);
    }

    this.stats = {
      tracedCalls: records.length,
      kernels,
      fusedGroups,
      fusedOps,
      simdGroups,
      simdMatmuls,
      arenaBytes,
      constantBytes,
      buffers: this.owned.length + 2 * siteResults.size,
      peakBytes: this.owned.reduce((n, st) => n + st.size * bytesPerElement(st.dtype), 0) + siteBytes + transientPeak(siteResults),
    };
  }

  /** Builds a fused group's operands and decides where its outputs live. */
  private fusedGroup(
    recordIds: number[], unit: number, producedIn: Map<number, number>, lastUse: Map<number, number>, escaping: Map<number, number>,
    uniform: (id: number) => number | undefined, constant: (id: number) => Storage,
    arenaSlot: (dtype: DType, size: number, at: number, until: number) => Storage, wholeViews: ReadonlyMap<number, ViewRef[]>,
  ): { group: FusedGroup; fresh: [number, number, DType][] } {
    const { records, values } = this.trace;
    const ops: FusedOp[] = [];
    const outputs: number[] = [];
    const fresh: [number, number, DType][] = [];
    let shape: readonly number[] = [];
    const operand = (a: Arg): Operand => {
      if (!(a instanceof ViewRef)) throw new Error('internal: elementwise operand is not a view');
      if (producedIn.get(a.id) === unit) return { kind: 'register', id: a.id };
      const u = uniform(a.id);
      if (u !== undefined) return { kind: 'literal', value: u };
      const v = values[a.id]!;
      if (v.origin.kind === 'dynamic') return { kind: 'dynamic', id: a.id, offset: a.offset };
      if (v.origin.kind === 'array' || v.origin.kind === 'constant') this.S[a.id] = constant(a.id);
      return { kind: 'load', id: a.id, strides: a.strides, offset: a.offset };
    };
    for (const i of recordIds) {
      const r = records[i]!;
      const id = r.outs[0]!;
      const dtype = values[id]!.dtype;
      let expr: string;
      let operands: Operand[];
      const args = r.args;
      switch (r.method) {
        case 'unary':
          expr = unaryExpr(args[0] as UnaryOp);
          operands = [operand(args[1]!)];
          shape = (args[1] as ViewRef).shape;
          break;
        case 'binary':
          expr = binaryExpr(args[0] as BinaryOp);
          operands = [operand(args[1]!), operand(args[2]!)];
          shape = (args[1] as ViewRef).shape;
          break;
        case 'where':
          expr = WHERE_EXPR;
          operands = [operand(args[0]!), operand(args[1]!), operand(args[2]!)];
          shape = (args[0] as ViewRef).shape;
          break;
        case 'cast':
          expr = castExpr(args[1] as DType);
          operands = [operand(args[0]!)];
          shape = (args[0] as ViewRef).shape;
          break;
        case 'silu':
        case 'siluBackward': {
          const views = wholeViews.get(i)!;
          expr = r.method === 'silu' ? SILU_EXPR : SILU_BACKWARD_EXPR;
          operands = views.map(operand);
          shape = views[0]!.shape;
          break;
        }
        default:
          throw new Error(`internal: ${r.method} is not elementwise`);
      }
      ops.push({ id, dtype, expr, operands });
      const usedLater = lastUse.has(id);
      if (escaping.has(id)) {
        outputs.push(id);
        fresh.push([id, values[id]!.size, dtype]);
      } else if (usedLater) {
        outputs.push(id);
        this.S[id] = arenaSlot(dtype, values[id]!.size, unit, lastUse.get(id)!);
      }
    }
    return { group: { shape, ops, outputs }, fresh };
  }

  /** The pool's figures (CPU plans; zeros elsewhere): arrays handed out, reused, and bytes held. */
  poolStats(): PoolStats {
    const p = this.pool;
    return p === null ? { takes: 0, reused: 0, bytes: 0 } : { takes: p.takes, reused: p.hits, bytes: p.bytes };
  }

  /**
   * Drops the arrays the pool keeps between replays (another plan of the same compiled function
   * runs now: a cache of plans for several signatures must not hold a replay's worth of arrays
   * each). The next replay allocates them again.
   */
  idle(): void {
    this.pool?.clear();
  }

  /** True once `dispose` ran. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Runs the plan on new inputs: binds them, runs every step, returns the result tree. */
  run(leaves: readonly Tensor[], profiler: Profiler | null = null): unknown {
    if (this.disposed) throw new Error('internal: replay of a disposed plan');
    const cpu = this.pool !== null ? this.trace.backend as CpuBackend : null;
    const outer = cpu?.pool ?? null;
    if (cpu !== null) cpu.pool = this.pool;
    try {
      if (profiler !== null) return this.profiled(leaves, profiler);
      this.bind(leaves);
      const steps = this.steps;
      try {
        for (let i = 0; i < steps.length; i++) steps[i]!();
      } catch (error) {
        this.release();
        throw error;
      }
      const result = this.finish(leaves);
      this.replayed();
      return result;
    } finally {
      if (cpu !== null) cpu.pool = outer;
      this.pool?.endRound();
    }
  }

  /** `run` with every step timed into `profiler` by its kind. */
  private profiled(leaves: readonly Tensor[], profiler: Profiler): unknown {
    let t = performance.now();
    const lap = (kind: string): void => {
      const now = performance.now();
      profiler.add(kind, now - t);
      t = now;
    };
    this.bind(leaves);
    lap('bind');
    const steps = this.steps;
    try {
      for (let i = 0; i < steps.length; i++) {
        steps[i]!();
        lap(this.kinds[i]!);
      }
    } catch (error) {
      this.release();
      throw error;
    }
    const result = this.finish(leaves);
    lap('finish');
    this.replayed();
    return result;
  }

  /** After a failed replay: frees the fresh storages it made. */
  private release(): void {
    this.abortReplay();
    const { values, backend } = this.trace;
    for (let i = 0; i < this.S.length; i++) {
      const kind = values[i]!.origin.kind;
      if (kind === 'input' || kind === 'state') this.S[i] = undefined;
      else if (this.transient.has(i) && this.S[i] !== undefined) {
        backend.dispose(this.S[i]!);
        this.S[i] = undefined;
      }
    }
  }

  /** Frees the plan's constants and arena. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    (this.trace.backend as ReplayHooks).disposeReplay?.(this);
    for (const s of this.owned) this.trace.backend.dispose(s);
    this.owned.length = 0;
    this.pool?.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function forEachRef(args: readonly Arg[] | Arg, fn: (id: number) => void): void {
  if (args instanceof ValueRef || args instanceof ViewRef) {
    fn(args.id);
    return;
  }
  if (Array.isArray(args)) {
    for (const a of args as Arg[]) forEachRef(a, fn);
    return;
  }
  if (args !== null && typeof args === 'object') for (const v of Object.values(args)) forEachRef(v as Arg, fn);
}

/** A function producing a call's arguments from the current storages (views built fresh). */
interface Resolver {
  /** The call's arguments, from the current storages. */
  readonly resolve: () => unknown[];
  /** Drops the storages from reused argument objects after the call (null: nothing is reused). */
  readonly clear: (() => void) | null;
}

function resolver(args: readonly Arg[], S: (Storage | undefined)[], prepare: (id: number) => void): Resolver {
  const make = (a: Arg): (() => unknown) => {
    if (a instanceof ViewRef) {
      prepare(a.id);
      const { id, shape, strides, offset } = a;
      return () => ({ storage: S[id], shape, strides, offset });
    }
    if (a instanceof ValueRef) {
      prepare(a.id);
      const id = a.id;
      return () => S[id];
    }
    if (Array.isArray(a)) {
      const parts = (a as Arg[]).map(make);
      return () => parts.map((p) => p());
    }
    if (a !== null && typeof a === 'object') {
      const entries = Object.entries(a).map(([k, v]) => [k, make(v as Arg)] as const);
      if (entries.every(([, f]) => f.length === 0 && !containsRef(a))) return () => a;
      return () => {
        const out: Record<string, unknown> = {};
        for (const [k, f] of entries) out[k] = f();
        return out;
      };
    }
    return () => a;
  };
  const parts = args.map(make);
  return { resolve: () => parts.map((p) => p()), clear: null };
}

/**
 * `resolver` for the CPU backend, whose primitives read their arguments during the call and
 * keep none of them: the argument tree (view objects, arrays) is built once, and each call only
 * writes the current storages into it, so a replayed call makes no JS objects of its own.
 */
function reusedResolver(args: readonly Arg[], S: (Storage | undefined)[], prepare: (id: number) => void): Resolver {
  // Slots to refresh before each call: the container and key that hold a storage or a view.
  const viewSlots: { view: { storage: Storage | undefined }; id: number }[] = [];
  const valueSlots: { into: Record<string | number, unknown>; key: string | number; id: number }[] = [];
  const make = (a: Arg, into: Record<string | number, unknown>, key: string | number): unknown => {
    if (a instanceof ViewRef) {
      prepare(a.id);
      const view = { storage: undefined as Storage | undefined, shape: a.shape, strides: a.strides, offset: a.offset };
      viewSlots.push({ view, id: a.id });
      return view;
    }
    if (a instanceof ValueRef) {
      prepare(a.id);
      valueSlots.push({ into, key, id: a.id });
      return undefined;
    }
    if (Array.isArray(a)) {
      const out: unknown[] = [];
      (a as Arg[]).forEach((x, i) => { out.push(make(x, out as unknown as Record<number, unknown>, i)); });
      return out;
    }
    if (a !== null && typeof a === 'object') {
      if (!containsRef(a)) return a;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(a)) out[k] = make(v as Arg, out, k);
      return out;
    }
    return a;
  };
  const top: unknown[] = [];
  args.forEach((a, i) => { top.push(make(a, top as unknown as Record<number, unknown>, i)); });
  const views = viewSlots.map((v) => v.view);
  const viewIds = Int32Array.from(viewSlots.map((v) => v.id));
  return {
    resolve: () => {
      for (let i = 0; i < views.length; i++) views[i]!.storage = S[viewIds[i]!];
      for (let i = 0; i < valueSlots.length; i++) {
        const v = valueSlots[i]!;
        v.into[v.key] = S[v.id];
      }
      return top;
    },
    clear: views.length + valueSlots.length === 0 ? null : () => {
      for (let i = 0; i < views.length; i++) views[i]!.storage = undefined;
      for (let i = 0; i < valueSlots.length; i++) {
        const v = valueSlots[i]!;
        v.into[v.key] = undefined;
      }
    },
  };
}

function containsRef(a: Arg): boolean {
  let found = false;
  forEachRef(a, () => { found = true; });
  return found;
}

/** Where a tensor stood in a traced result (see `skeleton`). */
const TENSOR: object = Object.freeze(Object.create(null) as object);

/** The structure of a traced result with each tensor replaced by TENSOR. */
function skeleton(result: unknown): unknown {
  if (result instanceof Tensor) return TENSOR;
  if (result === null || result === undefined) return result;
  if (Array.isArray(result)) return result.map(skeleton);
  if (typeof result === 'object' && Object.getPrototypeOf(result) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(result)) out[k] = skeleton(v);
    return out;
  }
  return result;
}

/** Rebuilds a traced result's structure (a `skeleton`) with new tensors, in the same tree order. */
function rebuild(template: unknown, next: () => Tensor): unknown {
  if (template === TENSOR) return next();
  if (template === null || template === undefined) return template;
  if (Array.isArray(template)) return template.map((t: unknown) => rebuild(t, next));
  if (typeof template === 'object' && Object.getPrototypeOf(template) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(template)) out[k] = rebuild(v, next);
    return out;
  }
  return template;
}
