/// <reference types="@webgpu/types" />
// Fused row kernels of the Backend's optional primitives (the CPU reference is
// packages/tensor/src/cpu/rows.ts): RMSNorm/LayerNorm and softmax/log-softmax over the rows
// of a contiguous float32 [rows, cols] matrix, forward and backward, and the rotary
// embedding. Each is one dispatch where the composite ops take two to four. Short rows get
// one thread per row (sequential sums); longer rows one workgroup per row, whose partial
// sums meet in a tree in workgroup memory, so sums are rounded in another order than the
// CPU's (float32 rounding apart, the same values).
import type { NormKind } from '@titans/tensor';
import { Params, flatIndex, grid } from '../fusion.js';
import type { Runtime } from '../runtime.js';
import { SPECIALS } from './ops.js';

/** Rows at most this long are handled by one thread each. */
const THREAD_PER_ROW_MAX = 32;
const GROUP = 64;

interface RowShape {
  readonly rows: number;
  readonly cols: number;
}

/**
 * A row program: `decls` are the storage bindings (from binding 1), `body` runs once per row
 * with `row`, `base` (row * cols), `cols`, `lid`, the column loop bounds `start`/`step` and
 * the reductions `rsum(v)` / `rmax(v)` (NaN wins, as in the CPU's loops), which every thread
 * of a row's workgroup must reach. `single` marks code only one thread per row runs.
 */
function rowKernel(rt: Runtime, label: string, shape: RowShape, params: Params, decls: string, body: (single: string) => string, buffers: readonly GPUBuffer[]): void {
  const perThread = shape.cols <= THREAD_PER_ROW_MAX;
  const reductions = perThread
    ? `fn rsum(v: f32, lid: u32) -> f32 { return v; }
fn rmax(v: f32, lid: u32) -> f32 { return v; }`
    : `var<workgroup> sh: array<f32, ${GROUP}>;
fn rsum(v: f32, lid: u32) -> f32 {
  sh[lid] = v;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = sh[lid] + sh[lid + s]; }
    workgroupBarrier();
  }
  let r = sh[0];
  workgroupBarrier();
  return r;
}
fn rmax(v: f32, lid: u32) -> f32 {
  sh[lid] = v;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = max_nan(sh[lid], sh[lid + s]); }
    workgroupBarrier();
  }
  let r = sh[0];
  workgroupBarrier();
  return r;
}`;
  const code = `${Params.decl(params.length)}
${decls}
${SPECIALS}
fn max_nan(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return nan_f(); } return select(a, b, b > a); }
// exp that keeps NaN (some implementations give infinity for exp(NaN)).
fn exp_nan(v: f32) -> f32 { if (is_nan(v)) { return nan_f(); } return exp(v); }
// a - b with IEEE's special cases spelled out (inf - inf and NaN operands give NaN).
fn sub_ieee(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b) || (!is_finite(a) && !is_finite(b) && (a > 0.0) == (b > 0.0))) { return nan_f(); }
  return a - b;
}
${reductions}
@compute @workgroup_size(${GROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${perThread
    ? `let row = (wid.y * nwg.x + wid.x) * ${GROUP}u + lid; let start = 0u; let step = 1u;`
    : `let row = wid.y * nwg.x + wid.x; let start = lid; let step = ${GROUP}u;`}
  if (row >= P(0u)) { return; }
  let cols = P(1u);
  let base = row * cols;
  ${body(perThread ? 'true' : 'lid == 0u')}
}`;
  rt.dispatch(rt.pipeline(label, code), params.array(), buffers, perThread ? grid(shape.rows, GROUP) : grid(shape.rows, 1));
}

function rowParams(shape: RowShape): Params {
  const params = new Params();
  params.u32(shape.rows);
  params.u32(shape.cols);
  return params;
}

const binding = (i: number, name: string, write = false): string =>
  `@group(0) @binding(${i}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<f32>;`;

/** y = (x - mean) r (mean 0 for 'rms'), r = 1 / sqrt(mean((x - mean)^2) + eps), per row (cols > 0). */
export function recordNormRows(rt: Runtime, kind: NormKind, x: GPUBuffer, y: GPUBuffer, rstd: GPUBuffer, shape: RowShape, eps: number): void {
  const params = rowParams(shape);
  params.f32(eps);
  const decls = [binding(1, 'x'), binding(2, 'y', true), binding(3, 'rstd', true)].join('\n');
  rowKernel(rt, 'normRows', shape, params, decls, (single) => `
  let n = f32(cols);
  var mean = 0.0;
  ${kind === 'layer' ? `var total = 0.0;
  for (var c = start; c < cols; c += step) { total += x[base + c]; }
  mean = rsum(total, lid) / n;` : ''}
  var sq = 0.0;
  for (var c = start; c < cols; c += step) { let v = x[base + c] - mean; sq += v * v; }
  let r = 1.0 / sqrt(rsum(sq, lid) / n + Pf(2u));
  if (${single}) { rstd[row] = r; }
  for (var c = start; c < cols; c += step) { y[base + c] = (x[base + c] - mean) * r; }`, [x, y, rstd]);
}

/** dx = r (g - [mean(g)] - y mean(g y)) per row. */
export function recordNormRowsBackward(rt: Runtime, kind: NormKind, y: GPUBuffer, rstd: GPUBuffer, g: GPUBuffer, dx: GPUBuffer, shape: RowShape): void {
  const params = rowParams(shape);
  const decls = [binding(1, 'y'), binding(2, 'rstd'), binding(3, 'g'), binding(4, 'dx', true)].join('\n');
  rowKernel(rt, 'normRowsBackward', shape, params, decls, () => `
  let n = f32(cols);
  var gy = 0.0;
  var gs = 0.0;
  for (var c = start; c < cols; c += step) { let gv = g[base + c]; gy += gv * y[base + c]; gs += gv; }
  let a = rsum(gy, lid) / n;
  ${kind === 'layer' ? 'let b = rsum(gs, lid) / n;' : 'let b = 0.0;'}
  let s = rstd[row];
  for (var c = start; c < cols; c += step) { dx[base + c] = s * (g[base + c] - b - y[base + c] * a); }`, [y, rstd, g, dx]);
}

/** softmax (or log-softmax) per row; the shift is the row max when finite, else 0, as on the CPU. */
export function recordSoftmaxRows(rt: Runtime, x: GPUBuffer, y: GPUBuffer, shape: RowShape, log: boolean): void {
  const params = rowParams(shape);
  const decls = [binding(1, 'x'), binding(2, 'y', true)].join('\n');
  rowKernel(rt, log ? 'logSoftmaxRows' : 'softmaxRows', shape, params, decls, () => `
  var m = neg_inf();
  for (var c = start; c < cols; c += step) { m = max_nan(m, x[base + c]); }
  m = rmax(m, lid);
  let shift = select(0.0, m, is_finite(m));
  var sum = 0.0;
  for (var c = start; c < cols; c += step) { sum += exp_nan(x[base + c] - shift); }
  let total = rsum(sum, lid);
  var lse = shift + log(total);
  if (is_nan(total)) { lse = nan_f(); } else if (total == 0.0) { lse = neg_inf(); } else if (!is_finite(total)) { lse = pos_inf(); }
  for (var c = start; c < cols; c += step) { y[base + c] = ${log ? 'sub_ieee(x[base + c], lse)' : 'exp_nan(sub_ieee(x[base + c], lse))'}; }`, [x, y]);
}

/** softmax dx = y (g - sum(g y)); log-softmax dx = g - exp(y) sum(g). */
export function recordSoftmaxRowsBackward(rt: Runtime, y: GPUBuffer, g: GPUBuffer, dx: GPUBuffer, shape: RowShape, log: boolean): void {
  const params = rowParams(shape);
  const decls = [binding(1, 'y'), binding(2, 'g'), binding(3, 'dx', true)].join('\n');
  rowKernel(rt, log ? 'logSoftmaxRowsBackward' : 'softmaxRowsBackward', shape, params, decls, () => `
  var s = 0.0;
  for (var c = start; c < cols; c += step) { s += ${log ? 'g[base + c]' : 'g[base + c] * y[base + c]'}; }
  s = rsum(s, lid);
  for (var c = start; c < cols; c += step) { dx[base + c] = ${log ? 'g[base + c] - exp_nan(y[base + c]) * s' : 'y[base + c] * (g[base + c] - s)'}; }`, [y, g, dx]);
}

/**
 * Rotary embedding of x [outer, t, d] by cos, sin [t, d / 2] (rotate-half pairing), one
 * thread per rotated pair: y_i = x_i c - x_(h+i) s, y_(h+i) = x_i s + x_(h+i) c.
 */
export function recordRope(rt: Runtime, x: GPUBuffer, cos: GPUBuffer, sin: GPUBuffer, y: GPUBuffer, outer: number, t: number, d: number): void {
  const half = d >> 1;
  const pairs = outer * t * half;
  const params = new Params();
  params.u32(pairs);
  params.u32(half);
  params.u32(t);
  const code = `${Params.decl(params.length)}
${binding(1, 'x')}
${binding(2, 'cs')}
${binding(3, 'sn')}
${binding(4, 'y', true)}
${flatIndex(GROUP)}
  if (i >= P(0u)) { return; }
  let half = P(1u);
  let row = i / half;
  let j = i - row * half;
  let p = row % P(2u);
  let base = row * 2u * half;
  let x1 = x[base + j];
  let x2 = x[base + half + j];
  let c = cs[p * half + j];
  let s = sn[p * half + j];
  y[base + j] = x1 * c - x2 * s;
  y[base + half + j] = x1 * s + x2 * c;
}`;
  rt.dispatch(rt.pipeline('rope', code), params.array(), [x, cos, sin, y], grid(pairs, GROUP));
}
