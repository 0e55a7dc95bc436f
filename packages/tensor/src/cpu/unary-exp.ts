// Eager float32 exp, sigmoid, silu and the silu gradient on the WebAssembly SIMD kernels of
// compiled chains (compile/simd.ts): each runs as a one-op fused group, so the bits are the
// JavaScript kernel's by the same argument as there (the expression in doubles, Math.exp
// replayed step for step as fdlibm's, one rounding to float32 at the end; a self-check at
// load turns the exp-based ops off where the engine's Math.exp differs). Contiguous operands
// (after collapsing the view) of MIN_ELEMENTS to MAX_ELEMENTS; anything else returns
// null/false and the JavaScript kernel runs. They run on the calling thread, in the chains' own
// memory, never as engine jobs (setChainJobMin while building): the engine's bounded cache of
// job modules stays the compiled plans' (an eager module per op and size would evict theirs).
//
// A chain's module is built for one size (tens of milliseconds the first time), so kernels are
// built for sizes rounded up to a bucket (four per octave: at most 25% more lanes computed) and
// cached; a tensor shorter than its bucket is copied into the kernel's memory as it is (the
// lanes past it compute on whatever is there and are dropped) and its result goes through a
// bucket-long array. The operands are handed over in wrapper objects this file reuses: the
// chains' in-place operand reads need the kernel built just before (placement here is done
// with none: `memoryKernels.built` is cleared while building and restored after) or a storage
// marked stable (never here), so every run copies its operands in.
import type { UnaryOp, View } from '../backend.js';
import { memoryKernels, setChainJobMin, simdKernel } from '../compile/simd.js';
import { SILU_BACKWARD_EXPR, SILU_EXPR, type FusedKernel } from '../compile/kernels.js';
import { setUnaryExpF32, UNARY_EXPR, type UnaryExpF32 } from './backend.js';
import { collapse } from './collapse.js';
import type { BufferPool } from './pool.js';
import { cpuConfig } from './wasm/config.js';

/** Smallest tensor (elements) run on WebAssembly (bench/unary-exp.ts). */
export const MIN_ELEMENTS = 2048;
/** Largest tensor (elements) run on WebAssembly (its operand and result fit the chains' memory cap): beyond it, the JavaScript kernel. */
export const MAX_ELEMENTS = 1 << 22;

/** Kernels kept (by op and bucket); the cache is cleared when full. */
const CACHE_LIMIT = 256;

/** The ops of this file and their expressions in fused groups. */
export type ExpOp = 'exp' | 'sigmoid' | 'silu' | 'siluBackward';
const EXPR: Record<ExpOp, string> = {
  exp: UNARY_EXPR.exp,
  sigmoid: UNARY_EXPR.sigmoid,
  silu: SILU_EXPR,
  siluBackward: SILU_BACKWARD_EXPR,
};

interface Entry {
  readonly kernel: FusedKernel;
  /** Elements the kernel computes (its bucket). */
  readonly size: number;
  /** The kernel's operands and result, by id: `data` set for each run. */
  readonly slots: { data: Float32Array }[];
}

const cache = new Map<string, Entry | null>();
const EMPTY = new Float32Array(0);

/** @internal Runs of the eager kernels so far, and kernels built (tests check which path ran). */
export const unaryExpStats = { runs: 0, built: 0 };

/** @internal `size` rounded up to its bucket: a multiple of a quarter of the power of two at or below it. */
export function bucketOf(size: number): number {
  const step = 2 ** Math.max(2, Math.floor(Math.log2(size)) - 2);
  return Math.ceil(size / step) * step;
}

/** The cached kernel of `op` for `size` elements, or null (cached too, except while WebAssembly is switched off). */
function kernelFor(op: ExpOp, size: number): Entry | null {
  if (size < MIN_ELEMENTS || size > MAX_ELEMENTS || !cpuConfig().wasm) return null;
  const bucket = bucketOf(size);
  const key = `${op}:${bucket}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const arity = op === 'siluBackward' ? 2 : 1;
  const loads = Array.from({ length: arity }, (_, id) => ({ kind: 'load' as const, id, strides: [1], offset: 0 }));
  const group = { shape: [bucket], ops: [{ id: arity, dtype: 'float32' as const, expr: EXPR[op], operands: loads }], outputs: [arity] };
  const built = memoryKernels.built;
  memoryKernels.built = null;
  const jobMin = setChainJobMin(Infinity);
  let kernel: FusedKernel | null;
  try {
    kernel = simdKernel(group, () => 'float32');
  } finally {
    memoryKernels.built = built;
    setChainJobMin(jobMin);
  }
  const entry = kernel === null ? null : { kernel, size: bucket, slots: Array.from({ length: arity + 1 }, () => ({ data: EMPTY })) };
  if (entry !== null) unaryExpStats.built++;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, entry);
  return entry;
}

/** Runs `entry` on `size` elements of each input from its offset, into `out`. */
function run(entry: Entry, ins: readonly Float32Array[], offsets: readonly number[], size: number, out: Float32Array): void {
  const slots = entry.slots;
  for (let i = 0; i < ins.length; i++) {
    const data = ins[i]!;
    const at = offsets[i]!;
    // (the kernel copies at most `size` elements of a shorter array)
    slots[i]!.data = at === 0 && data.length === size ? data : data.subarray(at, at + size);
  }
  const whole = entry.size === size;
  const result = whole ? out : new Float32Array(entry.size);
  slots[ins.length]!.data = result;
  try {
    entry.kernel(slots as unknown as Parameters<FusedKernel>[0]);
  } finally {
    for (const s of slots) s.data = EMPTY; // keeps no array alive
  }
  if (!whole) out.set(result.subarray(0, size));
  unaryExpStats.runs++;
}

/**
 * out = op(ins) elementwise over `size` elements of float32 arrays (each input contiguous from
 * its offset, `out` exactly `size` long); false (nothing written) where no kernel applies.
 */
export function expOpF32(op: ExpOp, ins: readonly Float32Array[], offsets: readonly number[], size: number, out: Float32Array): boolean {
  const entry = kernelFor(op, size);
  if (entry === null) return false;
  run(entry, ins, offsets, size, out);
  return true;
}

/** The backend's hook (cpu/backend.ts, unary): exp or sigmoid of a float32 view that collapses to one contiguous run. */
const unaryHook: UnaryExpF32 = (op: UnaryOp, x: View, X: Float32Array, pool: BufferPool | null): Float32Array | null => {
  if (op !== 'exp' && op !== 'sigmoid') return null;
  const size = x.shape.reduce((p, q) => p * q, 1);
  if (size < MIN_ELEMENTS) return null;
  const c = collapse(x.shape, [x.strides]);
  if (c.shape.length !== 1 || c.strides[0]![0] !== 1) return null;
  const entry = kernelFor(op, size);
  if (entry === null) return null;
  // (a compiled plan's pooled array while it replays: the kernel writes every element)
  const out = pool !== null ? pool.take('float32', size, true) as Float32Array : new Float32Array(size);
  run(entry, [X], [x.offset], size, out);
  return out;
};

const ZEROS = [0, 0];

/**
 * Connects these kernels to the CPU backend (cpu/backend.ts cannot import this file: the
 * compiled kernels it builds on import the backend). The package entry calls it once.
 */
export function useSimdExpKernels(): void {
  setUnaryExpF32(unaryHook, (op, ins, size, out) => expOpF32(op, ins, ZEROS, size, out));
}
