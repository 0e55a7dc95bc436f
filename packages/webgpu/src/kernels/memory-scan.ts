/// <reference types="@webgpu/types" />
// The fused neural-memory scan (Backend.memoryScan; the contract is MemoryScanDims in
// @titans/tensor, the CPU reference packages/tensor/src/cpu/memory-scan.ts) as one dispatch:
// one workgroup per memory walks its tokens in order, chunk by chunk. For each chunk it first
// takes every token's surprise at the chunk-start weights (forward through the layers, the L2
// loss and its gradient through the optional LayerNorm, backward through the layers), kept as
// rank-one factors (theta_t times the layer's output gradient, the layer's input), then token by
// token runs the momentum and forgetting steps on each weight row with both retrievals (y_pre
// reads each row before its update, y_post after). Rows and columns are spread over the
// workgroup's threads; the scalar work of a token (loss, LayerNorm) runs on one thread. The
// weights and momentum live in a scratch copy updated in place, snapshotted into the output
// after the last complete chunk. Everything is float32 (the CPU keeps float64 state unless its
// SIMD path runs), so results agree with the CPU to float32 rounding of the recurrence.
import type { MemoryScanDims } from '@titans/tensor';
import { Params } from '../fusion.js';
import type { Runtime } from '../runtime.js';
import { HELPERS } from './ops.js';

const GROUP = 64;

export interface MemoryScanBuffers {
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly q: GPUBuffer;
  /** theta, eta, alpha, each [memories * tokens], one after the other. */
  readonly gates: GPUBuffer;
  /** Weights then momentum, laid out as the output's state block; updated in place. */
  readonly live: GPUBuffer;
  readonly out: GPUBuffer;
  /** Per memory: the chunk's surprise factors and per-token vectors (scratchPerMemory floats). */
  readonly scratch: GPUBuffer;
}

/** Floats of scratch one memory needs. */
export function scratchPerMemory(dims: MemoryScanDims): number {
  const { chunk, layers } = dims;
  const dout = layers[layers.length - 1]![0];
  const widest = Math.max(...layers.flatMap(([o, i]) => [o, i]));
  let n = 0;
  for (const [o, i] of layers) n += chunk * i + chunk * o + 7 * o;
  return n + 2 * widest + dout;
}

/** Record the scan. The caller has filled `live` with the initial weights and momentum. */
export function recordMemoryScan(rt: Runtime, b: MemoryScanBuffers, dims: MemoryScanDims): void {
  // No surprise clamp here: the backend does not declare memoryScanClamp, so the memory runs its composite form instead.
  if ((dims.maxSurpriseNorm ?? 0) > 0) throw new Error(`@titans/webgpu: memoryScan has no surprise clamp (maxSurpriseNorm ${dims.maxSurpriseNorm})`);
  const { memories, tokens, chunk, layers, residual, norm } = dims;
  const gelu = dims.activation === 'gelu';
  const pre = dims.yPre !== false;
  const depth = layers.length;
  const last = depth - 1;
  const din = layers[0]![1];
  const dout = layers[last]![0];
  const sizes = layers.map(([o, i]) => o * i);
  const totalWeights = sizes.reduce((s, n) => s + n, 0);
  const yLen = memories * tokens * dout;
  const postAt = pre ? yLen : 0;

  const p = new Params();
  const iM = p.u32(memories);
  const iT = p.u32(tokens);
  const iC = p.u32(chunk);
  const iFull = p.u32(Math.floor(tokens / chunk) * chunk);
  const iStride = p.u32(scratchPerMemory(dims));
  const iDin = p.u32(din);
  const iDout = p.u32(dout);
  const iMomentum = p.u32(memories * totalWeights);
  const iPost = p.u32(postAt);
  const iLoss = p.u32(postAt + yLen);
  const iState = p.u32(postAt + yLen + memories * tokens);
  const iMT = p.u32(memories * tokens);
  // Per layer: rows, cols, matrix size, live block start, scratch offsets.
  interface L { o: number; i: number; sz: number; lw: number; inp: number; sc: number; z: number; sl: number; zPre: number; zPost: number; hPre: number; hPost: number }
  const L: L[] = [];
  let scratchAt = 0;
  let prefix = 0;
  for (let l = 0; l < depth; l++) {
    const [o, i] = layers[l]!;
    const at = (n: number): number => {
      const start = scratchAt;
      scratchAt += n;
      return start;
    };
    L.push({
      o: p.u32(o), i: p.u32(i), sz: p.u32(o * i), lw: p.u32(memories * prefix),
      inp: p.u32(at(chunk * i)), sc: p.u32(at(chunk * o)), z: p.u32(at(o)), sl: p.u32(at(o)),
      zPre: p.u32(at(o)), zPost: p.u32(at(o)), hPre: p.u32(at(o)), hPost: p.u32(at(o)),
    });
    scratchAt += o; // spare (keeps scratchPerMemory's 7 vectors per layer)
    prefix += o * i;
  }
  const widest = Math.max(...layers.flatMap(([o, i]) => [o, i]));
  const iGrad = p.u32(scratchAt);
  const iBack = p.u32(scratchAt + widest);
  const iNormed = p.u32(scratchAt + 2 * widest);

  const P = (k: number): string => `P(${k}u)`;
  const act = (z: string): string => (gelu ? `gelu_f(${z})` : `silu_f(${z})`);
  const slope = (z: string): string => (gelu ? `gelu_slope(${z})` : `silu_slope(${z})`);
  const bar = 'storageBarrier();';

  // 1. Surprise of token s at the chunk-start weights.
  let surprise = `for (var j = lid; j < ${P(iDin)}; j += ${GROUP}u) { scr[sb + ${P(L[0]!.inp)} + s * ${P(iDin)} + j] = kk[t * ${P(iDin)} + j]; }
      ${bar}\n`;
  for (let l = 0; l < depth; l++) {
    const x = L[l]!;
    surprise += `{
        let wb = ${P(x.lw)} + m * ${P(x.sz)};
        let xb = sb + ${P(x.inp)} + s * ${P(x.i)};
        for (var r = lid; r < ${P(x.o)}; r += ${GROUP}u) {
          var a = 0.0;
          for (var j = 0u; j < ${P(x.i)}; j++) { a += live[wb + r * ${P(x.i)} + j] * scr[xb + j]; }
          scr[sb + ${P(x.z)} + r] = a;
        }
      }
      ${bar}\n`;
    if (l < last) {
      const nx = L[l + 1]!;
      surprise += `for (var r = lid; r < ${P(x.o)}; r += ${GROUP}u) {
        let z = scr[sb + ${P(x.z)} + r];
        scr[sb + ${P(nx.inp)} + s * ${P(nx.i)} + r] = ${act('z')};
        scr[sb + ${P(x.sl)} + r] = ${slope('z')};
      }
      ${bar}\n`;
    }
  }
  const fz = `sb + ${P(L[last]!.z)}`;
  surprise += `if (lid == 0u) {
        var inv = 0.0;
        ${norm ? `inv = layer_norm(${fz}, sb + ${P(iNormed)});` : ''}
        var loss = 0.0;
        for (var i = 0u; i < ${P(iDout)}; i++) {
          let y = ${norm ? `scr[sb + ${P(iNormed)} + i]` : `scr[${fz} + i]`};
          let e = ${residual ? `kk[t * ${P(iDin)} + i] + y` : 'y'} - vv[t * ${P(iDout)} + i];
          loss += e * e;
          scr[sb + ${P(iGrad)} + i] = 2.0 * e;
        }
        outb[${P(iLoss)} + t] = loss;
        ${norm ? `layer_norm_backward(sb + ${P(iNormed)}, inv, sb + ${P(iGrad)});` : ''}
      }
      ${bar}
      let th = gates[t];\n`;
  for (let l = last; l >= 0; l--) {
    const x = L[l]!;
    surprise += `for (var r = lid; r < ${P(x.o)}; r += ${GROUP}u) { scr[sb + ${P(x.sc)} + s * ${P(x.o)} + r] = th * scr[sb + ${P(iGrad)} + r]; }\n`;
    if (l > 0) {
      const prev = L[l - 1]!;
      surprise += `{
        let wb = ${P(x.lw)} + m * ${P(x.sz)};
        for (var j = lid; j < ${P(x.i)}; j += ${GROUP}u) {
          var a = 0.0;
          for (var r = 0u; r < ${P(x.o)}; r++) { a += live[wb + r * ${P(x.i)} + j] * scr[sb + ${P(iGrad)} + r]; }
          scr[sb + ${P(iBack)} + j] = a;
        }
      }
      ${bar}
      for (var j = lid; j < ${P(x.i)}; j += ${GROUP}u) { scr[sb + ${P(iGrad)} + j] = scr[sb + ${P(iBack)} + j] * scr[sb + ${P(prev.sl)} + j]; }
      ${bar}\n`;
    }
  }
  surprise += `${bar}\n`;

  // 2. Token s's updates and retrievals.
  let update = `let eta = gates[${P(iMT)} + t];
      let decay = 1.0 - gates[2u * ${P(iMT)} + t];\n`;
  for (let l = 0; l < depth; l++) {
    const x = L[l]!;
    const xPre = l === 0 ? `qq[t * ${P(iDin)} + j]` : `scr[sb + ${P(L[l - 1]!.hPre)} + j]`;
    const xPost = l === 0 ? `qq[t * ${P(iDin)} + j]` : `scr[sb + ${P(L[l - 1]!.hPost)} + j]`;
    update += `{
        let wb = ${P(x.lw)} + m * ${P(x.sz)};
        let mb = ${P(iMomentum)} + wb;
        let ib = sb + ${P(x.inp)} + s * ${P(x.i)};
        for (var r = lid; r < ${P(x.o)}; r += ${GROUP}u) {
          let c = scr[sb + ${P(x.sc)} + s * ${P(x.o)} + r];
          var a = 0.0;
          var b = 0.0;
          for (var j = 0u; j < ${P(x.i)}; j++) {
            let at = r * ${P(x.i)} + j;
            let w = live[wb + at];
            a += w * ${xPre};
            let sn = eta * live[mb + at] - c * scr[ib + j];
            live[mb + at] = sn;
            let wn = decay * w + sn;
            live[wb + at] = wn;
            b += wn * ${xPost};
          }
          scr[sb + ${P(x.zPre)} + r] = a;
          scr[sb + ${P(x.zPost)} + r] = b;
        }
      }
      ${bar}\n`;
    if (l < last) {
      update += `for (var r = lid; r < ${P(x.o)}; r += ${GROUP}u) {
        scr[sb + ${P(x.hPre)} + r] = ${act(`scr[sb + ${P(x.zPre)} + r]`)};
        scr[sb + ${P(x.hPost)} + r] = ${act(`scr[sb + ${P(x.zPost)} + r]`)};
      }
      ${bar}\n`;
    }
  }
  const finish = (from: string, to: string): string => `{
          ${norm ? `layer_norm(${from}, sb + ${P(iNormed)});` : ''}
          for (var i = 0u; i < ${P(iDout)}; i++) {
            let y = ${norm ? `scr[sb + ${P(iNormed)} + i]` : `scr[${from} + i]`};
            outb[${to} + i] = ${residual ? `qq[t * ${P(iDin)} + i] + y` : 'y'};
          }
        }`;
  update += `if (lid == 0u) {
        ${pre ? finish(`sb + ${P(L[last]!.zPre)}`, `t * ${P(iDout)}`) : ''}
        ${finish(`sb + ${P(L[last]!.zPost)}`, `${P(iPost)} + t * ${P(iDout)}`)}
      }
      ${bar}\n`;

  const snapshot = layers.map((_, l) => {
    const x = L[l]!;
    return `{
      let wb = ${P(x.lw)} + m * ${P(x.sz)};
      for (var j = lid; j < ${P(x.sz)}; j += ${GROUP}u) {
        outb[${P(iState)} + wb + j] = live[wb + j];
        outb[${P(iState)} + ${P(iMomentum)} + wb + j] = live[${P(iMomentum)} + wb + j];
      }
    }`;
  }).join('\n');

  const code = `${Params.decl(p.length)}
@group(0) @binding(1) var<storage, read> kk: array<f32>;
@group(0) @binding(2) var<storage, read> vv: array<f32>;
@group(0) @binding(3) var<storage, read> qq: array<f32>;
@group(0) @binding(4) var<storage, read> gates: array<f32>;
@group(0) @binding(5) var<storage, read_write> live: array<f32>;
@group(0) @binding(6) var<storage, read_write> outb: array<f32>;
@group(0) @binding(7) var<storage, read_write> scr: array<f32>;
${HELPERS}
fn silu_f(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn silu_slope(x: f32) -> f32 { let s = 1.0 / (1.0 + exp(-x)); return s * (1.0 + x * (1.0 - s)); }
fn gelu_f(x: f32) -> f32 { return x * 0.5 * (1.0 + erf_f(x * 0.7071067811865476)); }
fn gelu_slope(x: f32) -> f32 { return 0.5 * (1.0 + erf_f(x * 0.7071067811865476)) + x * exp(-0.5 * x * x) * 0.3989422804014327; }
// LayerNorm (no affine, biased variance, eps 1e-5) of scr[f..] into scr[o..]; returns 1 / sqrt(var + eps).
fn layer_norm(f: u32, o: u32) -> f32 {
  let n = ${P(iDout)};
  var mean = 0.0;
  for (var i = 0u; i < n; i++) { mean += scr[f + i]; }
  mean = mean / f32(n);
  var variance = 0.0;
  for (var i = 0u; i < n; i++) { let c = scr[f + i] - mean; variance += c * c; }
  let inv = 1.0 / sqrt(variance / f32(n) + 1e-5);
  for (var i = 0u; i < n; i++) { scr[o + i] = (scr[f + i] - mean) * inv; }
  return inv;
}
// Its vector-Jacobian product, in place on scr[g..]: inv (g - mean(g) - y mean(g y)).
fn layer_norm_backward(y: u32, inv: f32, g: u32) {
  let n = ${P(iDout)};
  var gm = 0.0;
  var gy = 0.0;
  for (var i = 0u; i < n; i++) { gm += scr[g + i]; gy += scr[g + i] * scr[y + i]; }
  gm = gm / f32(n);
  gy = gy / f32(n);
  for (var i = 0u; i < n; i++) { scr[g + i] = inv * (scr[g + i] - gm - scr[y + i] * gy); }
}
@compute @workgroup_size(${GROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = wg.x;
  if (m >= ${P(iM)}) { return; }
  let T = ${P(iT)};
  let C = ${P(iC)};
  let sb = m * ${P(iStride)};
  var snapped = false;
  for (var start = 0u; start < T; start += C) {
    if (start == ${P(iFull)}) {
      ${snapshot}
      snapped = true;
    }
    let n = min(C, T - start);
    let first = m * T + start;
    for (var s = 0u; s < n; s++) {
      let t = first + s;
      ${surprise}
    }
    for (var s = 0u; s < n; s++) {
      let t = first + s;
      ${update}
    }
  }
  if (!snapped) {
    ${snapshot}
  }
}`;
  rt.dispatch(rt.pipeline('memory-scan', code), p.array(), [b.k, b.v, b.q, b.gates, b.live, b.out, b.scratch], [memories]);
}
