// A pool of typed arrays for the CPU backend's results, keyed by dtype and length. A compiled
// plan owns one: while it replays, the backend takes the arrays of its new storages from the
// pool, and the plan gives back the array of every intermediate it frees at its last use, so
// a replay in the steady state allocates (and the garbage collector reclaims) almost nothing.
// Arrays come out zeroed, exactly as a new typed array does, so results do not change (a
// caller that writes every element, such as a matmul's product, may skip the fill).
// The contract this relies on: a CPU backend call's result arrays belong to the caller alone
// (a kernel that keeps its output array to reuse it later, as the compiled SIMD matmul does
// for a product the function returns, is never pooled; a result that shares a buffer with an
// argument is found at the first replay).
import type { DType, TypedArray } from '../backend.js';

function keyOf(dtype: DType, length: number): number {
  return length * 4 + (dtype === 'float32' ? 0 : dtype === 'float64' ? 1 : 2);
}

/** The arrays of one dtype and length. */
interface Kind {
  readonly free: TypedArray[];
  /** Taken in the current round. */
  taken: number;
  /**
   * The most taken in one round (a replay) so far. Arrays given back beyond it are dropped:
   * kept, an array nobody asks for (the result of a kernel that makes its own) would only age
   * into the old generation and make major collections longer.
   */
  demand: number;
}

function dtypeOf(data: TypedArray): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return null;
}

export interface BufferPoolOptions {
  /** Bytes kept in all; arrays given back beyond it are dropped. Default 64 MiB. */
  readonly maxBytes?: number;
}

export class BufferPool {
  private readonly kinds = new Map<number, Kind>();
  /** Kinds taken from in the current round (their `taken` is reset at its end). */
  private readonly active: Kind[] = [];
  private readonly maxBytes: number;
  private held = 0;
  /** Arrays handed out, and of those the ones that came from the pool (for tests and stats). */
  takes = 0;
  hits = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /** Bytes of the arrays waiting in the pool. */
  get bytes(): number {
    return this.held;
  }

  /**
   * A zeroed array of `length` elements of `dtype`: one given back earlier, or a new one.
   * `overwrite`: the caller writes every element before anything reads one (a matmul's
   * product), so a reused array is handed out as it was given back, without the zero fill
   * (about 1 ms per 12 MB).
   */
  take(dtype: DType, length: number, overwrite = false): TypedArray {
    this.takes++;
    const key = keyOf(dtype, length);
    let kind = this.kinds.get(key);
    if (kind === undefined) {
      kind = { free: [], taken: 0, demand: 0 };
      this.kinds.set(key, kind);
    }
    if (kind.taken++ === 0) this.active.push(kind);
    if (kind.taken > kind.demand) kind.demand = kind.taken;
    const data = kind.free.pop();
    if (data === undefined) {
      switch (dtype) {
        case 'float32': return new Float32Array(length);
        case 'float64': return new Float64Array(length);
        case 'int32': return new Int32Array(length);
      }
    }
    this.hits++;
    this.held -= data.byteLength;
    if (!overwrite) data.fill(0);
    return data;
  }

  /**
   * Gives back an array that nothing reads or writes any more. Only arrays that own their
   * whole buffer are kept (a view into a larger buffer, such as a WebAssembly memory or a
   * subarray of another result, is left alone); returns whether the pool kept it.
   */
  give(data: TypedArray): boolean {
    const dtype = dtypeOf(data);
    if (dtype === null || data.length === 0) return false;
    const buffer = data.buffer;
    if (!(buffer instanceof ArrayBuffer) || data.byteOffset !== 0 || data.byteLength !== buffer.byteLength) return false;
    if (this.held + data.byteLength > this.maxBytes) return false;
    const kind = this.kinds.get(keyOf(dtype, data.length));
    if (kind === undefined) return false;
    const stack = kind.free;
    if (stack.length >= kind.demand) return false;
    // Debug guard against double release: the same array twice would be handed out twice.
    if (stack.includes(data)) throw new Error('internal: an array was given back to the buffer pool twice');
    stack.push(data);
    this.held += data.byteLength;
    return true;
  }

  /** Ends a round of takes (a replay): demand is the most arrays of a kind one round took. */
  endRound(): void {
    const active = this.active;
    if (active.length === 0) return; // (setting an array's length is a call into the runtime)
    for (let i = 0; i < active.length; i++) active[i]!.taken = 0;
    active.length = 0;
  }

  /** Drops every array held. */
  clear(): void {
    this.kinds.clear();
    this.active.length = 0;
    this.held = 0;
  }
}
