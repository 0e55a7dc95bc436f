// A pool of typed arrays for the CPU backend's results, keyed by dtype and length. A compiled
// plan owns one: while it replays, the backend takes the arrays of its new storages from the
// pool, and the plan gives back the array of every intermediate it frees at its last use, so
// a replay in the steady state allocates (and the garbage collector reclaims) almost nothing.
// Arrays come out zeroed, exactly as a new typed array does, so results do not change.
import type { DType, TypedArray } from '../backend.js';

const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

function keyOf(dtype: DType, length: number): number {
  return length * 4 + DTYPES.indexOf(dtype);
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
  private readonly free = new Map<number, TypedArray[]>();
  /**
   * Per dtype and length: the most arrays taken in one round (a replay) so far. Arrays given
   * back beyond it are dropped: kept, an array nobody asks for (the result of a kernel that
   * makes its own) would only age into the old generation and make major collections longer.
   */
  private readonly demand = new Map<number, number>();
  private readonly taken = new Map<number, number>();
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

  /** A zeroed array of `length` elements of `dtype`: one given back earlier, or a new one. */
  take(dtype: DType, length: number): TypedArray {
    this.takes++;
    const key = keyOf(dtype, length);
    const n = (this.taken.get(key) ?? 0) + 1;
    this.taken.set(key, n);
    if (n > (this.demand.get(key) ?? 0)) this.demand.set(key, n);
    const stack = this.free.get(key);
    const data = stack?.pop();
    if (data === undefined) {
      switch (dtype) {
        case 'float32': return new Float32Array(length);
        case 'float64': return new Float64Array(length);
        case 'int32': return new Int32Array(length);
      }
    }
    this.hits++;
    this.held -= data.byteLength;
    data.fill(0);
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
    const key = keyOf(dtype, data.length);
    let stack = this.free.get(key);
    if (stack === undefined) {
      stack = [];
      this.free.set(key, stack);
    }
    if (stack.length >= (this.demand.get(key) ?? 0)) return false;
    // Debug guard against double release: the same array twice would be handed out twice.
    if (stack.includes(data)) throw new Error('internal: an array was given back to the buffer pool twice');
    stack.push(data);
    this.held += data.byteLength;
    return true;
  }

  /** Ends a round of takes (a replay): demand is the most arrays of a kind one round took. */
  endRound(): void {
    this.taken.clear();
  }

  /** Drops every array held. */
  clear(): void {
    this.free.clear();
    this.taken.clear();
    this.demand.clear();
    this.held = 0;
  }
}
