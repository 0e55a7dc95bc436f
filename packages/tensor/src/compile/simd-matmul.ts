// Small float32 matmuls of a compiled plan as a WebAssembly SIMD module generated for their
// exact dims and strides (see simd.ts for the encoder and the memory). It replaces the CPU
// backend's general kernel (cpu/wasm/matmul.ts: copies, packing, a job description) where that
// one runs on one thread, and gives the same bits: every output element is accumulated in
// float32 from +0, one rounded product and one rounded sum per step, in increasing k, as the
// backend's micro-kernel does (a test checks the two against each other on random shapes).
//
// Why the bits agree for every size this takes (read from cpu/wasm/kernels.wat):
// - the backend cuts k in depth blocks of 256, but the block after the first reloads the
//   float32 partial sums from C and goes on adding in increasing k: a store and a load of a
//   float32 are exact, so the additions are the same, in the same order, as one long pass;
// - packing only copies (zero-padded edge panels feed lanes that are never stored);
// - threads split C into row x column tiles, never k, so each element is still one
//   sequential sum (the thread count changes who computes it, not how);
// - under the opt-in FMA setting (configureCpu({ fma: true }), where the host runs the
//   relaxed-SIMD GEMM) the backend's micro-kernel makes each step one f32x4.relaxed_madd
//   (kernels-fma.wat), still from +0 in increasing k; the module generated then does the same,
//   so the bits still agree (both modules are compiled by the same engine, which lowers
//   relaxed_madd one way on a given machine: fused where it has FMA). A replay under the other
//   setting hands the product back to the backend.
// The limits are about speed: one thread here against the backend on one thread (packing and
// the job cost a fixed few microseconds, then its blocked kernel wins on large products), and
// never in place of a product the backend would share with worker threads.
import type { DType, Storage, View } from '../backend.js';
import type { CpuBackend, CpuStorage } from '../cpu/backend.js';
import { cpuConfig, type CpuConfig } from '../cpu/wasm/config.js';
import { getEngine } from '../cpu/wasm/engine.js';
import { fmaGemmTask, fmaSupported } from '../cpu/wasm/fma.js';
import { Body, I32, MemoryKernel, V, V128, carry, ensureMemory, instantiate, memoryKernels, memoryView, moduleBytes, place, simdSupported, stamp, uleb } from './simd.js';

/** Most output columns (the column blocks of a row block are written out in the module). */
const MAX_N = 256;
/**
 * Largest product (flops, 2 * batch * m * n * k) on one thread: up to about 2^24 the generated
 * kernel beats the backend's packed, blocked one (measured 1.4-4x at 2^19-2^22, even at
 * 2^25), see bench/small-matmul.ts.
 */
const MAX_FLOPS = 1 << 24;
/** A tile of C held in registers: rows x vectors of four columns (8 accumulators). */
const TILE_ROWS = 4;
const TILE_VECTORS = 2;

/** A matmul operand's dtype and [batch, rows, cols] layout, as the trace recorded it. */
export interface Layout {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

interface Operand {
  readonly lo: number;
  readonly span: number;
  readonly at: number;
}

/** The span of a [batch, rows, cols] view, in elements, or null when it is sparse or reversed. */
function spanOf(shape: readonly number[], strides: readonly number[], offset: number): { lo: number; span: number } | null {
  let hi = offset;
  let count = 1;
  for (let d = 0; d < 3; d++) {
    if (strides[d]! < 0) return null;
    hi += strides[d]! * (shape[d]! - 1);
    count *= shape[d]!;
  }
  const span = hi - offset + 1;
  return span <= 4 * count + 4096 ? { lo: offset, span } : null;
}

/**
 * Whether the settings in force let a product of this many flops run here: WebAssembly on, at
 * least the backend's own WebAssembly threshold (below it the backend computes in JavaScript,
 * with other bits), at most MAX_FLOPS, and below the size the backend would split across worker
 * threads.
 */
function allowed(config: CpuConfig, flops: number): boolean {
  if (!config.wasm || flops < config.wasmMinFlops || flops > MAX_FLOPS) return false;
  return config.threads === 1 || flops < config.parallelMinFlops;
}

/**
 * Whether the backend's GEMM runs the relaxed-SIMD multiply-add kernel under these settings
 * (fma asked for, and its module loads here); otherwise it runs the exact one.
 */
function fusedUnder(config: CpuConfig): boolean {
  if (!config.fma || !fmaSupported()) return false;
  const e = getEngine();
  return e !== null && fmaGemmTask(e) !== null;
}

/** f32x4.relaxed_madd (a * b + c), after the 0xfd prefix. */
const RELAXED_MADD = 0x105;

/**
 * A replacement for `backend.matmul(a, b)` on float32 views of fixed layout (storages read at
 * call time through `storageOf`), or null where the backend's own kernel must run (not
 * float32, no SIMD, settings under which `allowed` says no, n above 256, a sparse operand;
 * b's columns need not be contiguous: the module gathers such a b into rows first, in 4 x 4
 * blocks transposed by shuffles where b's depth is contiguous, as in x @ w^T, element by
 * element elsewhere; either way only bits move). The settings are those at plan time: a replay
 * after configureCpu changed them hands the product back to the backend.
 * C is computed in tiles of 4 rows x 8 columns held in registers (edge tiles smaller; a row
 * of n % 4 columns ends in a vector stored lane by lane).
 */
export function simdMatmul(
  backend: CpuBackend, a: Layout, b: Layout, take?: (size: number) => Float32Array, stable: readonly [boolean, boolean] = [false, false],
): ((A: Storage, B: Storage) => Storage) | null {
  const config = cpuConfig();
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !simdSupported()) return null;
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  const flops = 2 * batch * m * n * k;
  if (batch * m * n === 0 || k === 0 || !allowed(config, flops)) return null;
  const fused = fusedUnder(config);
  if (n > MAX_N) return null;
  const sa = spanOf(a.shape, [a.strides[0] === 0 ? 0 : a.strides[0]!, a.strides[1]!, a.strides[2]!], a.offset);
  const sb = spanOf(b.shape, b.strides, b.offset);
  if (sa === null || sb === null) return null;
  const align = (x: number): number => Math.ceil(x / 64) * 64;
  const size = batch * m * n;
  // b with columns not contiguous (a transposed weight): copied first into contiguous rows of
  // n (bits moved as they are; the products and their order do not change).
  const gatherB = b.strides[2] !== 1;
  const batchesB = b.strides[0] === 0 ? 1 : batch;
  // Operands left in the memory by the kernel before are read in place (see simd.ts, residency).
  const idOf = (l: Layout): number => (l as { id?: number }).id ?? -1;
  const placed = place(
    [{ id: idOf(a), lo: sa.lo, span: sa.span, bytes: align(sa.span * 4 + 16) }, { id: idOf(b), lo: sb.lo, span: sb.span, bytes: align(sb.span * 4 + 16) }],
    gatherB ? [align(size * 4 + 16), align(batchesB * k * n * 4)] : [align(size * 4 + 16)],
  );
  const A: Operand = { ...sa, at: placed.ins[0]! };
  const B: Operand = { ...sb, at: placed.ins[1]! };
  const cAt = placed.outs[0]!;
  const gAt = gatherB ? placed.outs[1]! : 0;
  const top = placed.top;
  if (top > 1 << 26 || !ensureMemory(top)) return null;
  const [sab, sam, sak] = a.strides as [number, number, number];
  const [sbb0, sbk0, sbn0] = b.strides as [number, number, number];
  const b0 = B.at + (b.offset - B.lo) * 4; // byte address of b[0, 0, 0] as copied
  const sbb = gatherB ? (batchesB === 1 ? 0 : k * n) : sbb0;
  const sbk = gatherB ? n : sbk0;
  const bStart = gatherB ? gAt : b0;

  const body = new Body(0);
  const bi = body.local(I32); // batch index
  const i = body.local(I32); // row block index
  const p = body.local(I32); // depth index
  const aRow = body.local(I32); // byte address of a[bi, i, 0]
  const aPtr = body.local(I32);
  const bBase = body.local(I32); // byte address of b[bi, 0, 0]
  const bPtr = body.local(I32);
  const cPtr = body.local(I32); // byte address of c[bi, i, 0]
  const av = body.local(V128);
  const bv = Array.from({ length: TILE_VECTORS }, () => body.local(V128));
  const acc = Array.from({ length: TILE_ROWS * TILE_VECTORS }, () => body.local(V128));
  const loopStart = (): void => { body.op(0x03, 0x40); };
  const loopEnd = (counter: number, limit: number): void => {
    body.get(counter).i32(1).op(0x6a).set(counter);
    body.get(counter).i32(limit).op(0x48, 0x0d, 0, 0x0b); // i32.lt_s, br_if 0, end
  };
  const vectors = Math.ceil(n / 4);
  const tail = n % 4; // valid lanes of the last vector (0: all four)
  const columnBlocks = Math.ceil(vectors / TILE_VECTORS);
  const rowBlocks = Math.floor(m / TILE_ROWS);
  const tailRows = m % TILE_ROWS;
  /**
   * C[rows x vectors v0..v0+width) of the rows at aRow / cPtr: every element accumulated from
   * +0 as acc + a * b, one rounding each (one relaxed multiply-add under the FMA setting),
   * p = 0, 1, ..., k - 1.
   */
  const tile = (rows: number, v0: number, width: number): void => {
    const accOf = (r: number, w: number): number => acc[r * TILE_VECTORS + w]!;
    for (let r = 0; r < rows; r++) for (let w = 0; w < width; w++) body.v128f32(0).set(accOf(r, w));
    const step = (aBase: number, aOff: number, bAt: number, bOff: number): void => {
      for (let w = 0; w < width; w++) body.get(bAt).memarg(V.load, bOff + (v0 + w) * 16).set(bv[w]!);
      for (let r = 0; r < rows; r++) {
        body.get(aBase).memarg(V.load32Splat, aOff + r * sam * 4).set(av);
        for (let w = 0; w < width; w++) {
          if (fused) body.get(av).get(bv[w]!).get(accOf(r, w)).simd(RELAXED_MADD).set(accOf(r, w));
          else body.get(accOf(r, w)).get(av).get(bv[w]!).simd(V.f32Mul).simd(V.f32Add).set(accOf(r, w));
        }
      }
    };
    // One depth step per iteration: V8 hoists and spills the addresses of unrolled steps.
    body.get(aRow).set(aPtr).get(bBase).set(bPtr).i32(0).set(p);
    loopStart();
    step(aPtr, 0, bPtr, 0);
    body.get(aPtr).i32(sak * 4).op(0x6a).set(aPtr);
    body.get(bPtr).i32(sbk * 4).op(0x6a).set(bPtr);
    loopEnd(p, k);
    for (let r = 0; r < rows; r++) {
      for (let w = 0; w < width; w++) {
        const at = r * n * 4 + (v0 + w) * 16;
        const v = accOf(r, w);
        if (v0 + w < vectors - 1 || tail === 0) body.get(cPtr).get(v).memarg(V.store, at);
        else {
          // The last vector of a row of n % 4 columns: its valid lanes only.
          if (tail >= 2) body.get(cPtr).get(v).simd(V.store64Lane, 3, ...uleb(at), 0);
          if (tail !== 2) body.get(cPtr).get(v).simd(V.store32Lane, 2, ...uleb(at + (tail === 3 ? 8 : 0)), tail === 3 ? 2 : 0);
        }
      }
    }
  };
  const rowTiles = (rows: number): void => {
    for (let c = 0; c < columnBlocks; c++) tile(rows, c * TILE_VECTORS, Math.min(TILE_VECTORS, vectors - c * TILE_VECTORS));
  };
  if (gatherB) {
    const lanes = (...l: number[]): number[] => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
    body.i32(0).set(bi);
    loopStart(); // batches of b
    // aRow: b[bb, 0, 0]; cPtr: gathered[bb, 0, 0]
    body.get(bi).i32(sbb0 * 4).op(0x6c).i32(b0).op(0x6a).set(aRow);
    body.get(bi).i32(k * n * 4).op(0x6c).i32(gAt).op(0x6a).set(cPtr);
    const blocked = sbk0 === 1 && k >= 4 && n >= 4;
    const k4 = blocked ? k - (k % 4) : 0;
    const n4 = blocked ? n - (n % 4) : 0;
    if (blocked) {
      // Depth contiguous in b (a transposed weight, x @ w^T): 4 x 4 blocks, each b[p..p+4,
      // j..j+4] read as four vectors along p, transposed by shuffles, written as four along j.
      const [r0, r1, r2, r3, t0, t1, t2, t3] = acc as [number, number, number, number, number, number, number, number];
      body.i32(0).set(i);
      loopStart(); // blocks of 4 columns j
      body.get(i).i32(4 * sbn0 * 4).op(0x6c).get(aRow).op(0x6a).set(bPtr);
      body.get(i).i32(16).op(0x6c).get(cPtr).op(0x6a).set(aPtr);
      body.i32(0).set(p);
      loopStart(); // blocks of 4 depth steps p
      [r0, r1, r2, r3].forEach((r, j) => body.get(bPtr).memarg(V.load, j * sbn0 * 4).set(r));
      body.get(r0).get(r1).simd(V.shuffle, ...lanes(0, 4, 1, 5)).set(t0);
      body.get(r0).get(r1).simd(V.shuffle, ...lanes(2, 6, 3, 7)).set(t1);
      body.get(r2).get(r3).simd(V.shuffle, ...lanes(0, 4, 1, 5)).set(t2);
      body.get(r2).get(r3).simd(V.shuffle, ...lanes(2, 6, 3, 7)).set(t3);
      body.get(aPtr).get(t0).get(t2).simd(V.shuffle, ...lanes(0, 1, 4, 5)).memarg(V.store, 0);
      body.get(aPtr).get(t0).get(t2).simd(V.shuffle, ...lanes(2, 3, 6, 7)).memarg(V.store, n * 4);
      body.get(aPtr).get(t1).get(t3).simd(V.shuffle, ...lanes(0, 1, 4, 5)).memarg(V.store, 2 * n * 4);
      body.get(aPtr).get(t1).get(t3).simd(V.shuffle, ...lanes(2, 3, 6, 7)).memarg(V.store, 3 * n * 4);
      body.get(bPtr).i32(16).op(0x6a).set(bPtr);
      body.get(aPtr).i32(4 * n * 4).op(0x6a).set(aPtr);
      loopEnd(p, k4 / 4);
      // The last k % 4 depth steps of these 4 columns (bPtr, aPtr now at p = k4).
      for (let q = 0; q < k % 4; q++) {
        for (let j = 0; j < 4; j++) body.get(aPtr).get(bPtr).op(0x28, 2, ...uleb(j * sbn0 * 4 + q * 4)).op(0x36, 2, ...uleb(q * n * 4 + j * 4));
      }
      loopEnd(i, n4 / 4);
    }
    // Element by element (i32 loads and stores: the bits as they are): every p of the columns
    // j >= n4, and all of b when it is not blocked (n4 = 0).
    if (n4 < n) {
      body.get(aRow).i32(n4 * sbn0 * 4).op(0x6a).set(bBase);
      body.get(cPtr).i32(n4 * 4).op(0x6a).set(aPtr);
      body.i32(0).set(p);
      loopStart(); // depth
      body.get(bBase).set(bPtr).i32(0).set(i);
      loopStart(); // columns
      body.get(aPtr).get(bPtr).op(0x28, 2, 0).op(0x36, 2, 0);
      body.get(aPtr).i32(4).op(0x6a).set(aPtr);
      body.get(bPtr).i32(sbn0 * 4).op(0x6a).set(bPtr);
      loopEnd(i, n - n4);
      body.get(aPtr).i32(n4 * 4).op(0x6a).set(aPtr);
      body.get(bBase).i32(sbk0 * 4).op(0x6a).set(bBase);
      loopEnd(p, k);
    }
    loopEnd(bi, batchesB);
  }
  body.i32(0).set(bi).i32(cAt).set(cPtr);
  loopStart(); // batches
  // a[bi] and b[bi] (offsets relative to each span's first element)
  body.get(bi).i32(sab * 4).op(0x6c).i32(A.at + (a.offset - A.lo) * 4).op(0x6a).set(aRow);
  body.get(bi).i32(sbb * 4).op(0x6c).i32(bStart).op(0x6a).set(bBase);
  if (rowBlocks > 0) {
    body.i32(0).set(i);
    loopStart(); // blocks of TILE_ROWS rows
    rowTiles(TILE_ROWS);
    body.get(aRow).i32(TILE_ROWS * sam * 4).op(0x6a).set(aRow);
    body.get(cPtr).i32(TILE_ROWS * n * 4).op(0x6a).set(cPtr);
    loopEnd(i, rowBlocks);
  }
  if (tailRows > 0) {
    rowTiles(tailRows);
    body.get(cPtr).i32(tailRows * n * 4).op(0x6a).set(cPtr);
  }
  loopEnd(bi, batch);
  const run = instantiate(moduleBytes(0, body));
  if (run === null) return null;
  const self = new MemoryKernel([
    { id: idOf(a), at: A.at - 4 * A.lo, lo: A.lo, hi: A.lo + A.span },
    { id: idOf(b), at: B.at - 4 * B.lo, lo: B.lo, hi: B.lo + B.span },
    { id: -1, at: cAt, lo: 0, hi: size },
    ...placed.carried,
  ]);
  memoryKernels.built = self;
  const { before, reuse, carriedFrom } = placed;
  const reuseA = reuse[0]!;
  const reuseB = reuse[1]!;
  const [stableA, stableB] = stable;

  let viewFor: ArrayBuffer | null = null;
  let out = new Float32Array(0);
  // Results go into arrays from `take` (a compiled plan's buffer pool, which gets them back at
  // their last use). Without it, the arrays of the last two results: one whose storage was
  // disposed since is reused (a fresh typed array of a few KiB costs more than the product itself).
  let last: CpuStorage | undefined;
  let previous: CpuStorage | undefined;
  // The backend's call, for replays under other settings (views made once, storages set per call).
  const viewA = { storage: undefined as Storage | undefined, shape: a.shape, strides: a.strides, offset: a.offset };
  const viewB = { storage: undefined as Storage | undefined, shape: b.shape, strides: b.strides, offset: b.offset };
  let settings = config;
  let here = true;
  return (sA, sB) => {
    const now = cpuConfig();
    if (now !== settings) {
      settings = now;
      here = allowed(now, flops) && fusedUnder(now) === fused;
    }
    if (!here) {
      viewA.storage = sA;
      viewB.storage = sB;
      const product = backend.matmul(viewA as View, viewB as View);
      viewA.storage = undefined;
      viewB.storage = undefined;
      return product;
    }
    const mem = memoryView();
    if (viewFor !== mem.buffer) {
      viewFor = mem.buffer as ArrayBuffer;
      out = new Float32Array(viewFor, cAt, size);
    }
    const warm = before !== null && memoryKernels.last === before;
    // Run again with nothing else on the memory since: operands of storages that keep their
    // values (stable) are still where this kernel copied them (see simd.ts, residency).
    const again = memoryKernels.last === self;
    memoryKernels.last = null;
    carry(self, 3, before, carriedFrom, warm);
    const seen = self.seen;
    const idA = stamp(sA);
    const idB = stamp(sB);
    const hereA = again && stableA && seen[0] === idA;
    const hereB = again && stableB && seen[1] === idB;
    seen[0] = idA;
    seen[1] = idB;
    memoryKernels.reads += 2;
    if (hereA || (warm && reuseA >= 0 && before.seen[reuseA] === idA)) memoryKernels.inPlace++;
    else {
      const dA = (sA as CpuStorage).data as Float32Array;
      mem.set(A.lo === 0 && A.span === dA.length ? dA : dA.subarray(A.lo, A.lo + A.span), A.at >> 2);
    }
    if (hereB || (warm && reuseB >= 0 && before.seen[reuseB] === idB)) memoryKernels.inPlace++;
    else {
      const dB = (sB as CpuStorage).data as Float32Array;
      mem.set(B.lo === 0 && B.span === dB.length ? dB : dB.subarray(B.lo, B.lo + B.span), B.at >> 2);
    }
    run();
    if (take !== undefined) {
      const into = take(size);
      into.set(out);
      const product = backend.adopt(into, 'float32');
      seen[2] = stamp(product);
      memoryKernels.last = self;
      return product;
    }
    const old = last !== undefined && last.disposed ? last : previous !== undefined && previous.disposed ? previous : undefined;
    let result: CpuStorage;
    if (old === undefined) result = backend.adopt(out.slice(), 'float32');
    else {
      (old.data as Float32Array).set(out);
      result = backend.adopt(old.data, 'float32');
    }
    previous = old === last ? previous : last;
    last = result;
    seen[2] = stamp(result);
    memoryKernels.last = self;
    return result;
  };
}
