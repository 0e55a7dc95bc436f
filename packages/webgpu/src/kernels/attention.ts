/// <reference types="@webgpu/types" />
// Flash-style attention. Forward: one thread per query row, 64 rows per workgroup; key and
// value tiles are staged in workgroup memory and folded into a running (max, sum, output)
// with the online softmax, one rescale per tile. Nothing of size T x T touches global memory.
// Backward recomputes probabilities from the saved row log-sum-exp: a dK/dV kernel with a
// thread per key iterating over query tiles, and a dQ kernel with a thread per query
// iterating over key tiles, so no atomics are needed. The mask (causal, sliding window,
// always-visible prefix) also bounds the tiles each workgroup visits.
import type { AttentionDims, AttentionOptions } from '@titans/tensor';
import { Params, grid } from '../fusion.js';
import type { Runtime } from '../runtime.js';
import { SPECIALS } from './ops.js';

/** Head sizes the fused kernels keep in per-thread registers. Larger heads use the
 * unfused path (see backend.ts). */
export const MAX_FUSED_HEAD_DIM = 256;
const ROWS = 64;
const WORKGROUP_FLOATS = 16384 / 4;

function tileKeys(floatsPerKey: number): number {
  return Math.max(4, Math.min(64, Math.floor(WORKGROUP_FLOATS / floatsPerKey)));
}

function attentionParams(dims: AttentionDims, options: AttentionOptions): Params {
  const p = new Params();
  p.u32(dims.batchHeads); // 0
  p.u32(dims.queryLength); // 1
  p.u32(dims.keyLength); // 2
  p.f32(options.scale); // 3
  p.u32(options.causal ? 1 : 0); // 4
  p.u32(options.window); // 5
  p.u32(options.prefix); // 6
  p.u32(0); // 7: first batch-head of this dispatch
  return p;
}

const COMMON = SPECIALS + /* wgsl */ `
fn TQ() -> i32 { return i32(P(1u)); }
fn TK() -> i32 { return i32(P(2u)); }
// Same rule as the CPU reference's visible(): prefix keys always, then causal and window.
fn visible(i: i32, j: i32) -> bool {
  if (j < i32(P(6u))) { return true; }
  let pos = i + TK() - TQ();
  if (P(4u) == 1u && j > pos) { return false; }
  if (P(5u) > 0u && j <= pos - i32(P(5u))) { return false; }
  return true;
}
// Keys a block of queries [i0, i1] can see lie in [0, prefix) and [lo, hi).
fn keyLo(i0: i32) -> i32 {
  if (P(5u) == 0u) { return 0; }
  return max(0, i0 + TK() - TQ() - i32(P(5u)) + 1);
}
fn keyHi(i1: i32) -> i32 {
  if (P(4u) == 0u) { return TK(); }
  return clamp(i1 + TK() - TQ() + 1, 0, TK());
}
// Queries a block of keys [j0, j1] is visible to lie in [qLo, qHi) (all of them when the
// block touches the prefix).
fn queryLo(j0: i32) -> i32 {
  if (j0 < i32(P(6u)) || P(4u) == 0u) { return 0; }
  return clamp(j0 - (TK() - TQ()), 0, TQ());
}
fn queryHi(j0: i32, j1: i32) -> i32 {
  if (j0 < i32(P(6u)) || P(5u) == 0u) { return TQ(); }
  return clamp(j1 + i32(P(5u)) - (TK() - TQ()), 0, TQ());
}
`;

/**
 * The entry point of the fused kernels: a thread per query (or key) row, ROWS rows per
 * workgroup; bh is the batch-head, `first` the workgroup's first row and `index` the thread's.
 */
function rowThreadEntry(first: string, index: string): string {
  return `@compute @workgroup_size(${ROWS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y + P(7u);
  let ${first} = i32(wid.x * ${ROWS}u);
  let ${index} = ${first} + i32(lid);
  let scale = Pf(3u);`;
}

/**
 * Stages `tile` rows of `width` floats from `src` into the workgroup array `dst`: rows
 * `first`, `first` + 1, ... of the head whose first row is `base`; rows at or past `limit`
 * read as 0.
 */
function stageTile(dst: string, src: string, base: string, first: string, index: string, tile: number, width: number, limit: string): string {
  return `for (var e = lid; e < ${tile * width}u; e += ${ROWS}u) {
      let ${index} = ${first} + i32(e / ${width}u);
      ${dst}[e] = select(0.0, ${src}[(${base} + u32(${index})) * ${width}u + e % ${width}u], ${index} < ${limit});
    }`;
}

/** Workgroup arrays for a tile of BC keys and their values (the kernels with a thread per query). */
function keyValueTiles(BC: number, D: number, DV: number): string {
  return `var<workgroup> Ks: array<f32, ${BC * D}>;
var<workgroup> Vs: array<f32, ${BC * DV}>;`;
}

/**
 * Opens the loop over the key tiles that the ROWS queries from i0 can see (the prefix and
 * the band from keyLo to keyHi) and stages each tile's keys and values in Ks and Vs. The
 * caller's code follows the barrier; it ends the loop with a barrier and a closing brace.
 */
function keyTileLoop(BC: number, D: number, DV: number): string {
  return `let kvBase = bh * u32(TK());
  let lo = keyLo(i0);
  let hi = max(keyHi(min(i0 + ${ROWS - 1}, TQ() - 1)), min(i32(P(6u)), TK()));
  let prefix = i32(P(6u));
  for (var kb = 0; kb < hi; kb += ${BC}) {
    if (kb >= prefix && kb + ${BC} <= lo) { continue; }
    ${stageTile('Ks', 'k', 'kvBase', 'kb', 'j', BC, D, 'TK()')}
    ${stageTile('Vs', 'v', 'kvBase', 'kb', 'j', BC, DV, 'TK()')}
    workgroupBarrier();`;
}

function dispatchPerHead(rt: Runtime, pipeline: GPUComputePipeline, params: Params, buffers: GPUBuffer[], blocks: number, heads: number): void {
  for (let h0 = 0; h0 < heads; h0 += 65535) {
    const words = params.array();
    words[7] = h0;
    rt.dispatch(pipeline, words, buffers, [blocks, Math.min(65535, heads - h0)]);
  }
}

export function recordAttentionForward(
  rt: Runtime, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer, lse: GPUBuffer, dims: AttentionDims, options: AttentionOptions,
): void {
  const { headDim: D, valueDim: DV } = dims;
  const BC = tileKeys(D + DV);
  const params = attentionParams(dims, options);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
${COMMON}
${keyValueTiles(BC, D, DV)}
${rowThreadEntry('i0', 'i')}
  let valid = i < TQ();
  var qr: array<f32, ${D}>;
  var o: array<f32, ${DV}>;
  let qBase = (bh * u32(TQ()) + u32(i)) * ${D}u;
  if (valid) { for (var c = 0u; c < ${D}u; c++) { qr[c] = q[qBase + c]; } }
  var m = neg_inf();
  var l = 0.0;
  ${keyTileLoop(BC, D, DV)}
    if (valid) {
      var s: array<f32, ${BC}>;
      var tmax = neg_inf();
      for (var jj = 0; jj < ${BC}; jj++) {
        let j = kb + jj;
        var sc = neg_inf();
        if (j < TK() && visible(i, j)) {
          var dot = 0.0;
          for (var c = 0u; c < ${D}u; c++) { dot += qr[c] * Ks[u32(jj) * ${D}u + c]; }
          sc = dot * scale;
        }
        s[jj] = sc;
        tmax = max(tmax, sc);
      }
      if (tmax > neg_inf()) {
        let mNew = max(m, tmax);
        let corr = exp(m - mNew);
        l = l * corr;
        for (var c = 0u; c < ${DV}u; c++) { o[c] = o[c] * corr; }
        for (var jj = 0; jj < ${BC}; jj++) {
          if (s[jj] == neg_inf()) { continue; }
          let p = exp(s[jj] - mNew);
          l += p;
          for (var c = 0u; c < ${DV}u; c++) { o[c] += p * Vs[u32(jj) * ${DV}u + c]; }
        }
        m = mNew;
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    let row = bh * u32(TQ()) + u32(i);
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < ${DV}u; c++) { out[row * ${DV}u + c] = o[c] * inv; }
    lse[row] = select(neg_inf(), m + log(l), l > 0.0);
  }
}`;
  dispatchPerHead(rt, rt.pipeline('attention', code), params, [q, k, v, out, lse], Math.ceil(dims.queryLength / ROWS), dims.batchHeads);
}

/** delta[row] = sum_c dO[row, c] * O[row, c] (softmax backward's row correction). */
export function recordAttentionDelta(rt: Runtime, out: GPUBuffer, gradOut: GPUBuffer, delta: GPUBuffer, rows: number, dv: number): void {
  const params = new Params();
  params.u32(rows);
  params.u32(dv);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (row >= P(0u)) { return; }
  let n = P(1u);
  var acc = 0.0;
  for (var c = 0u; c < n; c++) { acc += g[row * n + c] * o[row * n + c]; }
  delta[row] = acc;
}`;
  rt.dispatch(rt.pipeline('attention', code), params.array(), [out, gradOut, delta], grid(rows, 64));
}

export function recordAttentionBackward(
  rt: Runtime,
  bufs: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; lse: GPUBuffer; delta: GPUBuffer; gradOut: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer },
  dims: AttentionDims, options: AttentionOptions,
): void {
  const { headDim: D, valueDim: DV } = dims;
  const params = attentionParams(dims, options);
  const decl = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read> g: array<f32>;
${COMMON}`;
  // dK, dV: a thread per key; query tiles (q, dO, lse, delta) staged in workgroup memory.
  const BR = tileKeys(D + DV + 2);
  const kvCode = `${decl}
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;
var<workgroup> Qs: array<f32, ${BR * D}>;
var<workgroup> Gs: array<f32, ${BR * DV}>;
var<workgroup> Ls: array<f32, ${BR}>;
var<workgroup> Ds: array<f32, ${BR}>;
${rowThreadEntry('j0', 'j')}
  let valid = j < TK();
  var kr: array<f32, ${D}>;
  var vr: array<f32, ${DV}>;
  var gk: array<f32, ${D}>;
  var gv: array<f32, ${DV}>;
  let kRow = bh * u32(TK()) + u32(j);
  if (valid) {
    for (var c = 0u; c < ${D}u; c++) { kr[c] = k[kRow * ${D}u + c]; }
    for (var c = 0u; c < ${DV}u; c++) { vr[c] = v[kRow * ${DV}u + c]; }
  }
  let qBase = bh * u32(TQ());
  let lo = queryLo(j0);
  let hi = queryHi(j0, min(j0 + ${ROWS - 1}, TK() - 1));
  for (var ib = lo; ib < hi; ib += ${BR}) {
    ${stageTile('Qs', 'q', 'qBase', 'ib', 'i', BR, D, 'TQ()')}
    ${stageTile('Gs', 'g', 'qBase', 'ib', 'i', BR, DV, 'TQ()')}
    for (var e = lid; e < ${BR}u; e += ${ROWS}u) {
      let i = ib + i32(e);
      Ls[e] = select(neg_inf(), lse[qBase + u32(i)], i < TQ());
      Ds[e] = select(0.0, delta[qBase + u32(i)], i < TQ());
    }
    workgroupBarrier();
    if (valid) {
      for (var ii = 0; ii < ${BR}; ii++) {
        let i = ib + ii;
        if (i >= TQ() || Ls[ii] == neg_inf() || !visible(i, j)) { continue; }
        var dot = 0.0;
        for (var c = 0u; c < ${D}u; c++) { dot += Qs[u32(ii) * ${D}u + c] * kr[c]; }
        let p = exp(dot * scale - Ls[ii]);
        var dp = 0.0;
        for (var c = 0u; c < ${DV}u; c++) {
          let gc = Gs[u32(ii) * ${DV}u + c];
          dp += gc * vr[c];
          gv[c] += p * gc;
        }
        let ds = p * (dp - Ds[ii]) * scale;
        for (var c = 0u; c < ${D}u; c++) { gk[c] += ds * Qs[u32(ii) * ${D}u + c]; }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var c = 0u; c < ${D}u; c++) { dk[kRow * ${D}u + c] = gk[c]; }
    for (var c = 0u; c < ${DV}u; c++) { dv[kRow * ${DV}u + c] = gv[c]; }
  }
}`;
  // dQ: a thread per query; key/value tiles staged as in the forward pass.
  const BC = tileKeys(D + DV);
  const qCode = `${decl}
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;
${keyValueTiles(BC, D, DV)}
${rowThreadEntry('i0', 'i')}
  let row = bh * u32(TQ()) + u32(i);
  var qr: array<f32, ${D}>;
  var gr: array<f32, ${DV}>;
  var gq: array<f32, ${D}>;
  var L = neg_inf();
  var dl = 0.0;
  if (i < TQ()) {
    for (var c = 0u; c < ${D}u; c++) { qr[c] = q[row * ${D}u + c]; }
    for (var c = 0u; c < ${DV}u; c++) { gr[c] = g[row * ${DV}u + c]; }
    L = lse[row];
    dl = delta[row];
  }
  let valid = i < TQ() && L != neg_inf();
  ${keyTileLoop(BC, D, DV)}
    if (valid) {
      for (var jj = 0; jj < ${BC}; jj++) {
        let j = kb + jj;
        if (j >= TK() || !visible(i, j)) { continue; }
        var dot = 0.0;
        for (var c = 0u; c < ${D}u; c++) { dot += qr[c] * Ks[u32(jj) * ${D}u + c]; }
        let p = exp(dot * scale - L);
        var dp = 0.0;
        for (var c = 0u; c < ${DV}u; c++) { dp += gr[c] * Vs[u32(jj) * ${DV}u + c]; }
        let ds = p * (dp - dl) * scale;
        for (var c = 0u; c < ${D}u; c++) { gq[c] += ds * Ks[u32(jj) * ${D}u + c]; }
      }
    }
    workgroupBarrier();
  }
  if (i < TQ()) { for (var c = 0u; c < ${D}u; c++) { dq[row * ${D}u + c] = gq[c]; } }
}`;
  const common = [bufs.q, bufs.k, bufs.v, bufs.lse, bufs.delta, bufs.gradOut];
  dispatchPerHead(rt, rt.pipeline('attention', kvCode), params, [...common, bufs.dk, bufs.dv], Math.ceil(dims.keyLength / ROWS), dims.batchHeads);
  dispatchPerHead(rt, rt.pipeline('attention', qCode), params, [...common, bufs.dq], Math.ceil(dims.queryLength / ROWS), dims.batchHeads);
}

/**
 * The unfused path's softmax: scores [rows, tk] (already scaled) to probabilities, masked,
 * with the row log-sum-exp. One workgroup per query row.
 */
export function recordMaskedSoftmax(rt: Runtime, scores: GPUBuffer, probs: GPUBuffer, lse: GPUBuffer, dims: AttentionDims, options: AttentionOptions): void {
  const params = attentionParams(dims, options);
  const code = `${Params.decl(params.length)}
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
${COMMON}
var<workgroup> sh: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = i32(wid.x);
  let row = (wid.y + P(7u)) * u32(TQ()) + u32(i);
  let base = row * u32(TK());
  var m = neg_inf();
  for (var j = i32(lid); j < TK(); j += 64) { if (visible(i, j)) { m = max(m, s[base + u32(j)]); } }
  sh[lid] = m;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w >> 1u) { if (lid < w) { sh[lid] = max(sh[lid], sh[lid + w]); } workgroupBarrier(); }
  m = sh[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = i32(lid); j < TK(); j += 64) { if (visible(i, j) && m > neg_inf()) { sum += exp(s[base + u32(j)] - m); } }
  sh[lid] = sum;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w >> 1u) { if (lid < w) { sh[lid] += sh[lid + w]; } workgroupBarrier(); }
  let total = sh[0];
  for (var j = i32(lid); j < TK(); j += 64) {
    var pv = 0.0;
    if (visible(i, j) && total > 0.0) { pv = exp(s[base + u32(j)] - m) / total; }
    p[base + u32(j)] = pv;
  }
  if (lid == 0u) { lse[row] = select(neg_inf(), m + log(total), total > 0.0); }
}`;
  dispatchPerHead(rt, rt.pipeline('attention', code), params, [scores, probs, lse], dims.queryLength, dims.batchHeads);
}
