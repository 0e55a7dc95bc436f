/// <reference types="@webgpu/types" />
// Batched matmul kernels over strided views (transposes arrive as swapped strides and are
// never materialised). A small family, picked by shape:
//  - tile64: 64x64 output tiles, 16-deep K slices staged in workgroup memory (8 KiB),
//    256 threads each accumulating 4x4; vec4 global loads when rows are aligned.
//  - tile32: 32x32 tiles with 64 threads, for medium and skinny products where 64x64
//    tiles would leave most of the grid idle.
//  - dot: one thread per output, for very thin products (matrix-vector and friends).
//  - splitk: one workgroup per output reducing a long K in parallel (tiny outputs).
// Every variant ends in the fused epilogue (see fusion.ts): bias, activation, etc.
import type { FusedPlan } from '../fusion.js';
import { Params, fusedCode, grid } from '../fusion.js';
import type { MatmulSpec } from '../graph.js';
import type { Runtime } from '../runtime.js';
import { helpersFor } from './helpers.js';
import { scalarOf, type Scalar } from './ops.js';

export type MatmulVariant = 'tile64' | 'tile32' | 'dot' | 'splitk';

export function chooseVariant(spec: MatmulSpec): MatmulVariant {
  const outputs = spec.batch * spec.m * spec.n;
  if (outputs <= 1024 && spec.k >= 256) return 'splitk';
  if (spec.m < 8 || spec.n < 8) return 'dot';
  if (spec.m >= 64 && spec.n >= 64) return 'tile64';
  return 'tile32';
}

interface Tiling {
  readonly bm: number;
  readonly bn: number;
  readonly bk: number;
  readonly tm: number;
  readonly tn: number;
}

const TILINGS: Record<'tile64' | 'tile32', Tiling> = {
  tile64: { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  tile32: { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 },
};

/** Common parameter block: sizes and both operand views, then the epilogue's own words. */
function matmulParams(spec: MatmulSpec): Params {
  const p = new Params();
  p.u32(spec.m); // 0
  p.u32(spec.n); // 1
  p.u32(spec.k); // 2
  p.u32(spec.batch); // 3
  p.i32(spec.a.offset); // 4
  spec.a.strides.forEach((s) => p.i32(s)); // 5 6 7: batch, row, k
  p.i32(spec.b.offset); // 8
  spec.b.strides.forEach((s) => p.i32(s)); // 9 10 11: batch, k, col
  p.u32(0); // 12: first batch of this dispatch (grids cap z at 65535)
  return p;
}

const BATCH_WORD = 12;

function header(t: Scalar, vecA: boolean, vecB: boolean): string {
  const arr = (v: boolean) => (v ? 'array<vec4<f32>>' : `array<${t}>`);
  return `@group(0) @binding(1) var<storage, read> A: ${arr(vecA)};
@group(0) @binding(2) var<storage, read> B: ${arr(vecB)};
`;
}

function epilogueFn(t: Scalar, body: string): string {
  return `fn epilogue(i: u32, acc: ${t}) {
  ${body}
}`;
}

function zeroOf(t: Scalar): string {
  return t === 'f32' ? '0.0' : '0';
}

/** Everything before a variant's own code: parameters, operands, the epilogue and its helpers. */
function prelude(t: Scalar, vecA: boolean, vecB: boolean, epilogue: { decls: string; body: string }, words: number): string {
  return `${Params.decl(words)}
${header(t, vecA, vecB)}
${epilogue.decls}
${helpersFor(epilogue.decls, epilogue.body)}
${epilogueFn(t, epilogue.body)}`;
}

/** One axis of a staged tile: its index in the tile, its index in the product, and the view's stride. */
interface TileAxis {
  readonly local: string;
  readonly global: string;
  readonly origin: string;
  readonly limit: string;
  readonly stride: string;
}

/**
 * Stages a rows x cols tile of an operand into workgroup memory, zero outside the product;
 * with `vec`, one vec4 along the (contiguous, 4-aligned) column axis per load.
 */
function tileLoad(o: { t: Scalar; tile: string; buffer: string; base: string; rows: number; cols: number; row: TileAxis; col: TileAxis; vec: boolean; threads: number }): string {
  const { row, col, cols } = o;
  const inside = `${row.global} < ${row.limit} && ${col.global} < ${col.limit}`;
  const globals = `let ${row.global} = ${row.origin} + ${row.local}; let ${col.global} = ${col.origin} + ${col.local};`;
  if (o.vec) {
    const at = `${row.local} * ${cols}u + ${col.local}`;
    return `// one vec4 along the contiguous axis per thread (the tile is ${o.rows}x${cols} = ${(o.rows * cols) / 4} vec4s)
    for (var e = lid; e < ${(o.rows * cols) / 4}u; e += ${o.threads}u) {
      let ${row.local} = e / ${cols / 4}u; let ${col.local} = (e % ${cols / 4}u) * 4u;
      ${globals}
      var v = vec4<f32>(0.0);
      if (${inside}) { v = ${o.buffer}[u32(${o.base} + i32(${row.global}) * ${row.stride} + i32(${col.global})) / 4u]; }
      ${o.tile}[${at}] = v.x; ${o.tile}[${at} + 1u] = v.y; ${o.tile}[${at} + 2u] = v.z; ${o.tile}[${at} + 3u] = v.w;
    }`;
  }
  return `for (var e = lid; e < ${o.rows * cols}u; e += ${o.threads}u) {
      let ${row.local} = e / ${cols}u; let ${col.local} = e % ${cols}u;
      ${globals}
      var v: ${o.t} = ${zeroOf(o.t)};
      if (${inside}) { v = ${o.buffer}[u32(${o.base} + i32(${row.global}) * ${row.stride} + i32(${col.global}) * ${col.stride})]; }
      ${o.tile}[e] = v;
    }`;
}

function tiledSource(t: Scalar, tiling: Tiling, vecA: boolean, vecB: boolean, epilogue: { decls: string; body: string }, words: number): string {
  const { bm, bn, bk, tm, tn } = tiling;
  const tx = bn / tn;
  const ty = bm / tm;
  const threads = tx * ty;
  const zero = zeroOf(t);
  const accDecl: string[] = [];
  const fma: string[] = [];
  for (let r = 0; r < tm; r++) {
    for (let c = 0; c < tn; c++) {
      accDecl.push(`var acc${r}_${c}: ${t} = ${zero};`);
      fma.push(`acc${r}_${c} += a${r} * b${c};`);
    }
  }
  const kAxis = (stride: string): TileAxis => ({ local: 'kk', global: 'gk', origin: 'k0', limit: 'K', stride });
  const aLoad = tileLoad({
    t, tile: 'As', buffer: 'A', base: 'aBase', rows: bm, cols: bk, vec: vecA, threads,
    row: { local: 'r', global: 'gr', origin: 'row0', limit: 'M', stride: 'aSm' }, col: kAxis('aSk'),
  });
  const bLoad = tileLoad({
    t, tile: 'Bs', buffer: 'B', base: 'bBase', rows: bk, cols: bn, vec: vecB, threads,
    row: kAxis('bSk'), col: { local: 'c', global: 'gc', origin: 'col0', limit: 'N', stride: 'bSn' },
  });
  const aRegs = Array.from({ length: tm }, (_, r) => `let a${r} = As[(ty * ${tm}u + ${r}u) * ${bk}u + kk];`).join(' ');
  const bRegs = Array.from({ length: tn }, (_, c) => `let b${c} = Bs[kk * ${bn}u + tx * ${tn}u + ${c}u];`).join(' ');
  const accs = Array.from({ length: tm * tn }, (_, e) => `acc${Math.floor(e / tn)}_${e % tn}`).join(', ');
  return `${prelude(t, vecA, vecB, epilogue, words)}
var<workgroup> As: array<${t}, ${bm * bk}>;
var<workgroup> Bs: array<${t}, ${bk * bn}>;
@compute @workgroup_size(${tx}, ${ty})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = P(0u); let N = P(1u); let K = P(2u);
  let bt = wid.z + P(${BATCH_WORD}u);
  let aBase = Pi(4u) + i32(bt) * Pi(5u); let aSm = Pi(6u); let aSk = Pi(7u);
  let bBase = Pi(8u) + i32(bt) * Pi(9u); let bSk = Pi(10u); let bSn = Pi(11u);
  let row0 = wid.y * ${bm}u; let col0 = wid.x * ${bn}u;
  let tx = lid3.x; let ty = lid3.y;
  ${accDecl.join(' ')}
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
    ${aLoad}
    ${bLoad}
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk++) {
      ${aRegs}
      ${bRegs}
      ${fma.join(' ')}
    }
    workgroupBarrier();
  }
  let obase = bt * M * N;
  // The epilogue once, in a loop over this thread's outputs (row-major, as the accumulators
  // are declared): an unrolled copy per output made shader compilation about twice as slow.
  var outs = array<${t}, ${tm * tn}>(${accs});
  for (var e = 0u; e < ${tm * tn}u; e++) {
    let gr = row0 + ty * ${tm}u + e / ${tn}u;
    let gc = col0 + tx * ${tn}u + e % ${tn}u;
    if (gr < M && gc < N) { epilogue(obase + gr * N + gc, outs[e]); }
  }
}`;
}

/** Output `o` (batch bt, row r, column c) and where its row of A and column of B start. */
const OUTPUT_OPERANDS = `let bt = o / (M * N); let rem = o % (M * N); let r = rem / N; let c = rem % N;
  let aBase = Pi(4u) + i32(bt) * Pi(5u) + i32(r) * Pi(6u); let aSk = Pi(7u);
  let bBase = Pi(8u) + i32(bt) * Pi(9u) + i32(c) * Pi(11u); let bSk = Pi(10u);`;

function dotSource(t: Scalar, epilogue: { decls: string; body: string }, words: number): string {
  return `${prelude(t, false, false, epilogue, words)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * 64u + lid;
  let M = P(0u); let N = P(1u); let K = P(2u);
  if (o >= M * N * P(3u)) { return; }
  ${OUTPUT_OPERANDS}
  var pa = aBase; var pb = bBase;
  var acc: ${t} = ${zeroOf(t)};
  for (var p = 0u; p < K; p++) {
    acc += A[u32(pa)] * B[u32(pb)];
    pa += aSk; pb += bSk;
  }
  epilogue(o, acc);
}`;
}

function splitkSource(t: Scalar, epilogue: { decls: string; body: string }, words: number): string {
  return `${prelude(t, false, false, epilogue, words)}
var<workgroup> part: array<${t}, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wid.y * nwg.x + wid.x;
  let M = P(0u); let N = P(1u); let K = P(2u);
  ${OUTPUT_OPERANDS}
  let valid = o < M * N * P(3u);
  var acc: ${t} = ${zeroOf(t)};
  for (var p = lid; valid && p < K; p += 64u) {
    acc += A[u32(aBase + i32(p) * aSk)] * B[u32(bBase + i32(p) * bSk)];
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u && valid) { epilogue(o, part[0]); }
}`;
}

function aligned4(...values: number[]): boolean {
  return values.every((v) => v % 4 === 0);
}

/**
 * Record a matmul whose accumulator feeds `plan` (plan.host is the matmul node; every
 * output of the plan already has its buffer). Returns the variant used.
 */
export function recordMatmul(rt: Runtime, spec: MatmulSpec, plan: FusedPlan, forced?: MatmulVariant): MatmulVariant {
  const t = scalarOf(spec.a.node.dtype);
  const variant = forced ?? chooseVariant(spec);
  const params = matmulParams(spec);
  const epi = fusedCode(plan, 3, params);
  const words = params.length;
  const buffers = [spec.a.node.buffer!, spec.b.node.buffer!, ...epi.buffers];
  const total = spec.batch * spec.m * spec.n;
  if (variant === 'dot' || variant === 'splitk') {
    const code = variant === 'dot' ? dotSource(t, epi, words) : splitkSource(t, epi, words);
    const pipeline = rt.pipeline('matmul', code);
    rt.dispatch(pipeline, params.array(), buffers, variant === 'dot' ? grid(total, 64) : grid(total, 1));
    return variant;
  }
  const tiling = TILINGS[variant];
  const [, sam, sak] = spec.a.strides;
  const [sbb, sbk, sbn] = spec.b.strides;
  const vecA = t === 'f32' && sak === 1 && aligned4(spec.k, spec.a.offset, sam, spec.a.strides[0]);
  const vecB = t === 'f32' && sbn === 1 && aligned4(spec.n, spec.b.offset, sbk, sbb);
  const code = tiledSource(t, tiling, vecA, vecB, epi, words);
  const pipeline = rt.pipeline('matmul', code);
  const gx = Math.ceil(spec.n / tiling.bn);
  const gy = Math.ceil(spec.m / tiling.bm);
  for (let b0 = 0; b0 < spec.batch; b0 += 65535) {
    const words32 = params.array();
    words32[BATCH_WORD] = b0;
    rt.dispatch(pipeline, words32, buffers, [gx, gy, Math.min(65535, spec.batch - b0)]);
  }
  return variant;
}
