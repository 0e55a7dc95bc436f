/// <reference types="@webgpu/types" />
// Row-structured data movement: fill, concatenation along the inner axis, gather and
// scatter-add of rows.
import { Params, flatIndex, grid } from '../fusion.js';
import type { Runtime } from '../runtime.js';
import { recordScan } from './scan.js';
import type { Scalar } from './ops.js';

export function recordFill(rt: Runtime, t: Scalar, out: GPUBuffer, size: number, value: number): void {
  const params = new Params();
  params.u32(size);
  params.scalar(value, t);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
${flatIndex(256)}
  if (i >= P(0u)) { return; }
  out[i] = ${t === 'f32' ? 'Pf' : 'Pi'}(1u);
}`;
  rt.dispatch(rt.pipeline('rows', code), params.array(), [out], grid(size, 256));
}

/** Copy a contiguous [outer, inner] block into columns [col, col + inner) of [outer, total]. */
export function recordConcatPart(rt: Runtime, t: Scalar, part: GPUBuffer, out: GPUBuffer, outer: number, inner: number, total: number, col: number): void {
  if (outer * inner === 0) return;
  if (outer === 1 || inner === total) {
    rt.copy(part, 0, out, col * 4, outer * inner * 4);
    return;
  }
  const params = new Params();
  params.u32(outer * inner);
  params.u32(inner);
  params.u32(total);
  params.u32(col);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> src: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;
${flatIndex(256)}
  if (i >= P(0u)) { return; }
  let r = i / P(1u); let c = i % P(1u);
  out[r * P(2u) + P(3u) + c] = src[i];
}`;
  rt.dispatch(rt.pipeline('rows', code), params.array(), [part, out], grid(outer * inner, 256));
}

/** out[i, :] = x[indices[i], :]; rows outside [0, n) give zeros (a GPU cannot throw). */
export function recordGather(rt: Runtime, t: Scalar, x: GPUBuffer, indices: GPUBuffer, out: GPUBuffer, k: number, width: number, n: number): void {
  const params = new Params();
  params.u32(k * width);
  params.u32(width);
  params.u32(n);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<${t}>;
${flatIndex(256)}
  if (i >= P(0u)) { return; }
  let r = i / P(1u); let c = i % P(1u);
  let row = idx[r];
  var v: ${t} = ${t}(0);
  if (row >= 0 && u32(row) < P(2u)) { v = x[u32(row) * P(1u) + c]; }
  out[i] = v;
}`;
  rt.dispatch(rt.pipeline('rows', code), params.array(), [x, indices, out], grid(k * width, 256));
}

export interface ScatterScratch {
  acquire(bytes: number): GPUBuffer;
  release(buffer: GPUBuffer): void;
}

/**
 * out[n, width] = 0; out[indices[i]] += src[i]. Deterministic, and in the CPU's order: a
 * counting sort groups the source rows of every output row (histogram with atomics, scan
 * for bucket starts, atomic placement, then a rank fix-up that orders each bucket by
 * source index), and each output element sums its bucket front to back. No float atomics.
 */
export function recordScatterAdd(
  rt: Runtime, t: Scalar, src: GPUBuffer, indices: GPUBuffer, out: GPUBuffer, k: number, width: number, n: number, scratch: ScatterScratch,
): void {
  if (n * width === 0) return;
  if (k === 0) {
    recordFill(rt, t, out, n * width, 0);
    return;
  }
  const counts = scratch.acquire(n * 4);
  const cursor = scratch.acquire(n * 4);
  const starts = scratch.acquire(n * 4);
  const slots = scratch.acquire(Math.max(k, 1) * 4);
  const sorted = scratch.acquire(Math.max(k, 1) * 4);
  recordFill(rt, 'i32', counts, n, 0);
  recordFill(rt, 'i32', cursor, n, 0);
  const params = new Params();
  params.u32(k);
  params.u32(n);
  params.u32(width);
  const head = Params.decl(params.length);
  const run = (main: string, decls: string, buffers: GPUBuffer[], threads: number): void => {
    const code = `${head}
${decls}
${flatIndex(256)}
${main}
}`;
    rt.dispatch(rt.pipeline('rows', code), params.array(), buffers, grid(threads, 256));
  };
  {
    run(`  if (i >= P(0u)) { return; }
  let r = idx[i];
  if (r >= 0 && u32(r) < P(1u)) { atomicAdd(&counts[r], 1); }`,
    `@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<i32>>;`, [indices, counts], k);
  }
  // Inclusive scan of the counts; bucket r spans [starts[r] - counts[r], starts[r]).
  recordScan(rt, 'sum', 'i32', [counts], starts, 1, n, false);
  {
    run(`  if (i >= P(0u)) { return; }
  let r = idx[i];
  if (r >= 0 && u32(r) < P(1u)) {
    let p = atomicAdd(&cursor[r], 1);
    slots[starts[r] - counts[r] + p] = i32(i);
  }`,
    `@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> counts: array<i32>;
@group(0) @binding(3) var<storage, read> starts: array<i32>;
@group(0) @binding(4) var<storage, read_write> cursor: array<atomic<i32>>;
@group(0) @binding(5) var<storage, read_write> slots: array<i32>;`, [indices, counts, starts, cursor, slots], k);
    // Each placed entry's rank within its bucket = how many entries there have a smaller source index.
    run(`  if (i >= u32(starts[P(1u) - 1u])) { return; }
  let s = slots[i];
  let r = idx[s];
  let b0 = starts[r] - counts[r];
  var rank = 0;
  for (var q = b0; q < starts[r]; q++) { rank += select(0, 1, slots[q] < s); }
  sorted[b0 + rank] = s;`,
    `@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> counts: array<i32>;
@group(0) @binding(3) var<storage, read> starts: array<i32>;
@group(0) @binding(4) var<storage, read> slots: array<i32>;
@group(0) @binding(5) var<storage, read_write> sorted: array<i32>;`, [indices, counts, starts, slots, sorted], k);
  }
  run(`  if (i >= P(1u) * P(2u)) { return; }
  let r = i / P(2u); let c = i % P(2u);
  var acc: ${t} = ${t}(0);
  for (var q = starts[r] - counts[r]; q < starts[r]; q++) { acc += src[u32(sorted[q]) * P(2u) + c]; }
  out[i] = acc;`,
  `@group(0) @binding(1) var<storage, read> src: array<${t}>;
@group(0) @binding(2) var<storage, read> counts: array<i32>;
@group(0) @binding(3) var<storage, read> starts: array<i32>;
@group(0) @binding(4) var<storage, read> sorted: array<i32>;
@group(0) @binding(5) var<storage, read_write> out: array<${t}>;`, [src, counts, starts, sorted, out], n * width);
  for (const b of [counts, cursor, starts, slots, sorted]) scratch.release(b);
}
