/// <reference types="@webgpu/types" />
// Row reductions (sum/prod/max/min and argmax/argmin) over a contiguous [rows, cols] matrix.
// Short rows get one thread per row (sequential, same order as the CPU reference); longer
// rows get one workgroup per row: strided partial results, then a tree in workgroup memory.
import type { ArgReduceOp, ReduceOp } from '@titans/tensor';
import { Params, grid } from '../fusion.js';
import type { Runtime } from '../runtime.js';
import { SPECIALS, type Scalar } from './ops.js';

/** Rows at most this long are reduced by a single thread. */
const THREAD_PER_ROW_MAX = 32;

function identity(op: ReduceOp, t: Scalar): string {
  switch (op) {
    case 'sum': return t === 'f32' ? '0.0' : '0';
    case 'prod': return t === 'f32' ? '1.0' : '1';
    case 'max': return t === 'f32' ? 'neg_inf()' : 'bitcast<i32>(0x80000000u)';
    case 'min': return t === 'f32' ? 'pos_inf()' : '2147483647';
  }
}

/** combine(acc, v); max/min let NaN win, as the CPU reference does. */
function combineFn(op: ReduceOp, t: Scalar): string {
  let body: string;
  switch (op) {
    case 'sum': body = 'return a + b;'; break;
    case 'prod': body = 'return a * b;'; break;
    // On ties (0 and -0) the earlier value stays, as in the CPU's loop (WGSL's max/min may pick either zero).
    case 'max': body = t === 'f32' ? 'if (is_nan(a) || is_nan(b)) { return nan_f(); } return select(a, b, b > a);' : 'return max(a, b);'; break;
    case 'min': body = t === 'f32' ? 'if (is_nan(a) || is_nan(b)) { return nan_f(); } return select(a, b, b < a);' : 'return min(a, b);'; break;
  }
  return `fn comb(a: ${t}, b: ${t}) -> ${t} { ${body} }`;
}

function wgSize(cols: number): number {
  return cols <= 1024 ? 64 : 256;
}

export function recordReduce(rt: Runtime, op: ReduceOp, t: Scalar, x: GPUBuffer, out: GPUBuffer, rows: number, cols: number): void {
  const params = new Params();
  params.u32(rows);
  params.u32(cols);
  const head = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;
${SPECIALS}
${combineFn(op, t)}`;
  if (cols <= THREAD_PER_ROW_MAX) {
    const code = `${head}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  let cols = P(1u);
  if (row >= P(0u)) { return; }
  var acc: ${t} = ${identity(op, t)};
  for (var c = 0u; c < cols; c++) { acc = comb(acc, x[row * cols + c]); }
  out[row] = acc;
}`;
    rt.dispatch(rt.pipeline('reduce', code), params.array(), [x, out], grid(rows, 64));
    return;
  }
  const wg = wgSize(cols);
  const code = `${head}
var<workgroup> sh: array<${t}, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  let cols = P(1u);
  if (row >= P(0u)) { return; }
  var acc: ${t} = ${identity(op, t)};
  for (var c = lid; c < cols; c += ${wg}u) { acc = comb(acc, x[row * cols + c]); }
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = comb(sh[lid], sh[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = sh[0]; }
}`;
  rt.dispatch(rt.pipeline('reduce', code), params.array(), [x, out], grid(rows, 1));
}

/**
 * argmax/argmin with the CPU's semantics: the first index of the best non-NaN value, and
 * index 0 when the row starts with NaN (every comparison with it is false) or is empty.
 */
export function recordArgReduce(rt: Runtime, op: ArgReduceOp, t: Scalar, x: GPUBuffer, out: GPUBuffer, rows: number, cols: number): void {
  const params = new Params();
  params.u32(rows);
  params.u32(cols);
  const cmp = op === 'argmax' ? '>' : '<';
  const wg = cols <= THREAD_PER_ROW_MAX ? 1 : wgSize(cols);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;
${SPECIALS}
const NONE = 0xffffffffu;
// (v1, i1) is a better candidate than (v2, i2); i1 < i2 whenever both come from one thread.
fn better(v1: ${t}, i1: u32, v2: ${t}, i2: u32) -> bool {
  if (i1 == NONE) { return false; }
  if (i2 == NONE) { return true; }
  return v1 ${cmp} v2 || (v1 == v2 && i1 < i2);
}
var<workgroup> shv: array<${t}, ${wg}>;
var<workgroup> shi: array<u32, ${wg}>;
@compute @workgroup_size(${wg === 1 ? 64 : wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = P(1u);
  ${wg === 1 ? 'let row = (wid.y * nwg.x + wid.x) * 64u + lid; let start = 0u; let step = 1u;' : `let row = wid.y * nwg.x + wid.x; let start = lid; let step = ${wg}u;`}
  if (row >= P(0u)) { return; }
  var bv: ${t} = x[row * cols];
  var bi = NONE;
  for (var c = start; c < cols; c += step) {
    let v = x[row * cols + c];
    if (${t === 'f32' ? '!is_nan(v)' : 'true'} && (bi == NONE || v ${cmp} bv)) { bv = v; bi = c; }
  }
  ${wg === 1 ? '' : `shv[lid] = bv; shi[lid] = bi;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s && better(shv[lid + s], shi[lid + s], shv[lid], shi[lid])) { shv[lid] = shv[lid + s]; shi[lid] = shi[lid + s]; }
    workgroupBarrier();
  }
  bv = shv[0]; bi = shi[0];
  if (lid != 0u) { return; }`}
  let first = x[row * cols];
  if (${t === 'f32' ? 'is_nan(first)' : 'false'} || bi == NONE) { bi = 0u; }
  out[row] = i32(bi);
}`;
  rt.dispatch(rt.pipeline('reduce', code), params.array(), [x, out], wg === 1 ? grid(rows, 64) : grid(rows, 1));
}
