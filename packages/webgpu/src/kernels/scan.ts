/// <reference types="@webgpu/types" />
// Inclusive scans along rows: sum, prod and the first-order linear recurrence
// h_t = a_t h_{t-1} + b_t, all as one associative operator on a state type:
//   sum/prod: the running value;  linear: the affine map (a, b), composed as
//   (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2).
// Long rows: one workgroup per row walks the row in chunks of 1024; each thread scans 4
// elements sequentially, a Hillis-Steele scan over the 256 thread totals in workgroup
// memory combines them, and a carry links consecutive chunks. Short rows: a thread per row.
import { Params, grid } from '../fusion.js';
import type { Runtime } from '../runtime.js';
import type { Scalar } from './ops.js';

export type ScanOp = 'sum' | 'prod' | 'linear';

const THREAD_PER_ROW_MAX = 64;
const WG = 256;
const PER_THREAD = 4;

interface Monoid {
  readonly state: string;
  readonly identity: string;
  /** combine(l, r): l covers earlier elements. */
  readonly combine: string;
  /** Expression loading element at flat index `j` as a state. */
  readonly load: string;
  /** Output value of a state `s`. */
  readonly output: string;
}

function monoid(op: ScanOp, t: Scalar): Monoid {
  const zero = t === 'f32' ? '0.0' : '0';
  const one = t === 'f32' ? '1.0' : '1';
  switch (op) {
    case 'sum':
      return { state: t, identity: zero, combine: 'return l + r;', load: 'x[j]', output: 's' };
    case 'prod':
      return { state: t, identity: one, combine: 'return l * r;', load: 'x[j]', output: 's' };
    case 'linear':
      return {
        state: `vec2<${t}>`,
        identity: `vec2<${t}>(${one}, ${zero})`,
        combine: `return vec2<${t}>(l.x * r.x, r.x * l.y + r.y);`,
        load: 'vec2<' + t + '>(x[j], y[j])',
        output: 's.y',
      };
  }
}

/** Record a scan. `inputs` is [x] for sum/prod and [a, b] for linear. */
export function recordScan(
  rt: Runtime, op: ScanOp, t: Scalar, inputs: readonly GPUBuffer[], out: GPUBuffer, rows: number, cols: number, reverse: boolean,
): void {
  const m = monoid(op, t);
  const params = new Params();
  params.u32(rows);
  params.u32(cols);
  params.u32(reverse ? 1 : 0);
  const decls = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
${op === 'linear' ? `@group(0) @binding(2) var<storage, read> y: array<${t}>;` : ''}
@group(0) @binding(${op === 'linear' ? 3 : 2}) var<storage, read_write> out: array<${t}>;
fn comb(l: ${m.state}, r: ${m.state}) -> ${m.state} { ${m.combine} }
fn ld(j: u32) -> ${m.state} { return ${m.load}; }
fn res(s: ${m.state}) -> ${t} { return ${m.output}; }
// Flat index of the c-th element of a row in scan order.
fn at(row: u32, c: u32, cols: u32) -> u32 { return row * cols + select(c, cols - 1u - c, P(2u) == 1u); }`;
  const buffers = [...inputs, out];
  if (cols <= THREAD_PER_ROW_MAX) {
    const code = `${decls}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  let cols = P(1u);
  if (row >= P(0u)) { return; }
  var s: ${m.state} = ${m.identity};
  for (var c = 0u; c < cols; c++) {
    let j = at(row, c, cols);
    s = comb(s, ld(j));
    out[j] = res(s);
  }
}`;
    rt.dispatch(rt.pipeline('scan', code), params.array(), buffers, grid(rows, 64));
    return;
  }
  const chunk = WG * PER_THREAD;
  const code = `${decls}
var<workgroup> sh: array<${m.state}, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  let cols = P(1u);
  if (row >= P(0u)) { return; }
  var carry: ${m.state} = ${m.identity};
  for (var base = 0u; base < cols; base += ${chunk}u) {
    var loc: array<${m.state}, ${PER_THREAD}>;
    var run: ${m.state} = ${m.identity};
    for (var e = 0u; e < ${PER_THREAD}u; e++) {
      let c = base + lid * ${PER_THREAD}u + e;
      if (c < cols) { run = comb(run, ld(at(row, c, cols))); }
      loc[e] = run;
    }
    sh[lid] = run;
    workgroupBarrier();
    for (var off = 1u; off < ${WG}u; off = off << 1u) {
      var v = sh[lid];
      if (lid >= off) { v = comb(sh[lid - off], v); }
      workgroupBarrier();
      sh[lid] = v;
      workgroupBarrier();
    }
    var prefix = carry;
    if (lid > 0u) { prefix = comb(carry, sh[lid - 1u]); }
    for (var e = 0u; e < ${PER_THREAD}u; e++) {
      let c = base + lid * ${PER_THREAD}u + e;
      if (c < cols) { out[at(row, c, cols)] = res(comb(prefix, loc[e])); }
    }
    carry = comb(carry, sh[${WG - 1}u]);
    workgroupBarrier();
  }
}`;
  rt.dispatch(rt.pipeline('scan', code), params.array(), buffers, grid(rows, 1));
}
