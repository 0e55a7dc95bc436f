// Float32 batched matmul on the WebAssembly SIMD kernels (see kernels.wat): copies the
// operands' spans into the kernels' memory, packs them into panels (in parallel when large),
// runs the blocked GEMM as tasks over output tiles (shared with worker threads when large) and
// copies the result out. Returns null whenever the JavaScript kernel should run instead.
import type { View } from '../../backend.js';
import { cpuConfig } from './config.js';
import { ARENA, JOB, getEngine, reserve, runJob, type Engine } from './engine.js';
import { fmaGemmTask } from './fma.js';

const MR = 4;
const NR = 8;
/** Depth block: a B panel of KC x NR floats (8 KiB) stays in L1. */
const KC = 256;
/** Rows x columns of C per task (before shrinking to give every thread several tasks). */
const MC = 128;
const NC = 256;
/** Elements a pack task moves (when packing in parallel). */
const PACK_TASK_ELEMENTS = 1 << 15;
/** Least work of a parallel gemm task, in flops (about 4 microseconds). */
const TASK_FLOPS = 1 << 17;

/**
 * Internal, for benchmarks (bench/gemm.ts, and env TITANS_CPU_GEMM_ONE_STEP=1 for whole runs):
 * run the micro-kernel's previous loop, one depth step per pass instead of two. Same bits.
 */
let oneStep = typeof process !== 'undefined' && process.env?.['TITANS_CPU_GEMM_ONE_STEP'] === '1';

/** See `oneStep`. Returns the previous setting. */
export function setGemmOneStep(on: boolean): boolean {
  const before = oneStep;
  oneStep = on;
  return before;
}

interface Operand {
  readonly data: Float32Array;
  /** First element of the copied span in `data`. */
  readonly lo: number;
  readonly span: number;
  /** Offset of element [0, 0, 0] from `lo`, and strides, in elements. */
  readonly offset: number;
  readonly strides: readonly [number, number, number];
  /** 1 when the batch axis broadcasts (stride 0), else the batch size. */
  readonly batches: number;
}

/** The smallest span of `data` that a [batch, rows, cols] view touches; gathered if sparse. */
function operand(view: View, data: Float32Array): Operand {
  const [batch, rows, cols] = view.shape as [number, number, number];
  const [sb, sr, sc] = view.strides as [number, number, number];
  const batches = sb === 0 ? 1 : batch;
  let lo = view.offset;
  let hi = view.offset;
  for (const [size, stride] of [[batches, sb], [rows, sr], [cols, sc]] as const) {
    const reach = stride * (size - 1);
    if (reach < 0) lo += reach; else hi += reach;
  }
  const span = hi - lo + 1;
  const count = batches * rows * cols;
  if (span <= 4 * count + 4096) {
    return { data, lo, span, offset: view.offset - lo, strides: [sb, sr, sc], batches };
  }
  // A window into a much larger storage: gather just its elements.
  const gathered = new Float32Array(count);
  let i = 0;
  for (let bi = 0; bi < batches; bi++) {
    for (let r = 0; r < rows; r++) {
      const base = view.offset + bi * sb + r * sr;
      for (let c = 0; c < cols; c++) gathered[i++] = data[base + c * sc]!;
    }
  }
  return { data: gathered, lo: 0, span: count, offset: 0, strides: [rows * cols, cols, 1], batches };
}

export const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;

/**
 * Writes one pack record (see kernels.wat) for X = rows x depth with the given strides and
 * returns its number of tasks: one in all when serial, else tasks of about PACK_TASK_ELEMENTS.
 */
function packRecord(
  i32: Int32Array, at: number, src: number, srcBatchBytes: number, rowStride: number, depthStride: number,
  rows: number, depth: number, width: number, dst: number, batches: number, parallel: boolean,
): number {
  const panels = Math.ceil(rows / width);
  const total = batches * panels;
  const perTask = parallel ? Math.max(1, Math.floor(PACK_TASK_ELEMENTS / (width * depth))) : total;
  const tasks = Math.ceil(total / perTask);
  const r = at >> 2;
  i32[r] = src;
  i32[r + 1] = srcBatchBytes;
  i32[r + 2] = rowStride;
  i32[r + 3] = depthStride;
  i32[r + 4] = rows;
  i32[r + 5] = depth;
  i32[r + 6] = width;
  i32[r + 7] = dst;
  i32[r + 8] = panels * width * depth * 4;
  i32[r + 9] = perTask;
  i32[r + 10] = total;
  i32[r + 11] = tasks;
  return tasks;
}

/**
 * out[b] = a[b] @ b[b] for float32 views a [batch, m, k] and b [batch, k, n] of `A` and `B`
 * (any strides; a zero batch stride broadcasts). Returns a new contiguous [batch, m, n] array,
 * or null to leave the product to the JavaScript kernel (WebAssembly off or unavailable, tiny
 * or empty problem, more than 2 GiB of working memory).
 */
export function matmulF32(
  a: View, A: Float32Array, b: View, B: Float32Array, target?: (size: number) => Float32Array | null,
): Float32Array | null {
  const config = cpuConfig();
  if (!config.wasm) return null;
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  const flops = 2 * batch * m * n * k;
  if (batch * m * n === 0 || k === 0 || flops < config.wasmMinFlops) return null;
  const e = getEngine();
  if (!e) return null;
  return run(e, batch, m, n, k, operand(a, A), operand(b, B), config.threads > 1 && flops >= config.parallelMinFlops, target);
}

function run(
  e: Engine, batch: number, m: number, n: number, k: number, oa: Operand, ob: Operand, parallel: boolean,
  target?: (size: number) => Float32Array | null,
): Float32Array | null {
  // Packed panels first; the raw operands are dead once packed, so C reuses their space.
  const scratch = gemmScratchBytes(m, n, k, oa.batches, ob.batches);
  const rawA = scratch;
  const rawB = rawA + align(oa.span * 4);
  const outC = rawA;
  const total = Math.max(rawB + align(ob.span * 4), outC + align(batch * m * n * 4)) + 64;
  if (!reserve(e, total)) return null;
  e.f32.set(oa.data.subarray(oa.lo, oa.lo + oa.span), (ARENA + rawA) >> 2);
  e.f32.set(ob.data.subarray(ob.lo, ob.lo + ob.span), (ARENA + rawB) >> 2);
  gemmInMemory(e, batch, m, n, k,
    { at: ARENA + rawA + oa.offset * 4, strides: oa.strides, batches: oa.batches },
    { at: ARENA + rawB + ob.offset * 4, strides: ob.strides, batches: ob.batches },
    ARENA + outC, ARENA, parallel);
  const c = (ARENA + outC) >> 2;
  const out = target?.(batch * m * n) ?? null;
  if (out === null) return e.f32.slice(c, c + batch * m * n);
  out.set(e.f32.subarray(c, c + batch * m * n));
  return out;
}

/** A [batch, rows, cols] float32 operand already in the kernels' memory. */
export interface MemoryOperand {
  /** Byte address of element [0, 0, 0]. */
  readonly at: number;
  /** Strides in elements (batch, rows, cols). */
  readonly strides: readonly [number, number, number];
  /** 1 when the batch axis broadcasts, else the batch size. */
  readonly batches: number;
}

/** Bytes of packing scratch that gemmInMemory needs for these sizes. */
export function gemmScratchBytes(m: number, n: number, k: number, batchesA: number, batchesB: number): number {
  return align(batchesA * Math.ceil(m / MR) * MR * k * 4) + align(batchesB * Math.ceil(n / NR) * NR * k * 4);
}

/**
 * C [batch, m, n] (contiguous, at byte address `c`) = A @ B for operands that are already in
 * the kernels' memory, with `scratch` (gemmScratchBytes long) for the packed panels. The
 * caller has reserved the memory; m, n, k and batch must be positive. C may overlap the
 * operands (they are packed before C is written) but not the scratch.
 */
export function gemmInMemory(
  e: Engine, batch: number, m: number, n: number, k: number, a: MemoryOperand, b: MemoryOperand, c: number, scratch: number, parallel: boolean,
): void {
  const panelA = Math.ceil(m / MR) * MR * k * 4; // bytes of one packed batch of A
  const panelB = Math.ceil(n / NR) * NR * k * 4;
  const packA = scratch;
  const packB = packA + align(a.batches * panelA);
  const { i32 } = e;

  // Pack A (rows m, depth k, panels of 4) and B^T (rows n, depth k, panels of 8).
  const parallelPack = parallel && (a.batches * m + b.batches * n) * k >= 4 * PACK_TASK_ELEMENTS;
  i32[JOB >> 2] = 2;
  const tasksA = packRecord(i32, JOB + 64, a.at, a.strides[0] * 4, a.strides[1], a.strides[2], m, k, MR, packA, a.batches, parallelPack);
  const tasksB = packRecord(i32, JOB + 128, b.at, b.strides[0] * 4, b.strides[2], b.strides[1], n, k, NR, packB, b.batches, parallelPack);
  runJob(e, tasksA + tasksB, parallelPack);

  // GEMM over tiles of mc x nc. With threads, tiles shrink until each thread has several, and
  // tiny tiles (small matrices, large batch) are grouped into tasks of at least TASK_FLOPS.
  let mc = MC;
  let nc = NC;
  const tilesOf = (): number => batch * Math.ceil(m / mc) * Math.ceil(n / nc);
  const threads = cpuConfig().threads;
  if (parallel) {
    while (tilesOf() < 4 * threads && mc > 16) mc /= 2;
    while (tilesOf() < 4 * threads && nc > 32) nc /= 2;
  }
  const tiles = tilesOf();
  const tileFlops = 2 * Math.min(mc, m) * Math.min(nc, n) * k;
  const perTask = parallel ? Math.max(1, Math.min(Math.ceil(TASK_FLOPS / tileFlops), Math.floor(tiles / (2 * threads)))) : tiles;
  const job = JOB >> 2;
  i32[job] = 1;
  i32[job + 1] = m;
  i32[job + 2] = n;
  i32[job + 3] = k;
  i32[job + 4] = mc;
  i32[job + 5] = nc;
  i32[job + 6] = Math.ceil(m / mc);
  i32[job + 7] = Math.ceil(n / nc);
  i32[job + 8] = packA;
  i32[job + 9] = a.batches === 1 ? 0 : panelA;
  i32[job + 10] = packB;
  i32[job + 11] = b.batches === 1 ? 0 : panelB;
  i32[job + 12] = c;
  i32[job + 13] = KC;
  i32[job + 14] = perTask;
  i32[job + 15] = tiles;
  i32[job + 16] = oneStep ? 1 : 0;
  const tasks = Math.ceil(tiles / perTask);
  // Opt-in relaxed-SIMD kernels (configureCpu({ fma: true })): every tile of the gemm runs them,
  // on this thread and, when split, on the worker threads (runJob keeps a split gemm on this
  // thread if the workers lack them), so the result does not depend on the thread count.
  runJob(e, tasks, parallel, cpuConfig().fma ? fmaGemmTask(e) : null);
}
