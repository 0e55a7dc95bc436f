// The fused neural-memory scan on the CPU (Backend.memoryScan, see backend.ts for the
// contract). Per memory, the weights and momentum live in float64 scratch matrices and are
// updated in place token by token: one pass over each matrix per token does the momentum
// step, the forgetting step and both retrievals (y_pre reads each row before its update,
// y_post after), so a token costs about 4 multiply-adds per weight and no tensor is made.
// The chunk-start surprise of every token of a chunk is computed first, from the weights
// before the chunk's first update, as rank-one factors (scaled delta, layer input).
//
// float32 runs whose widths are multiples of 4 take the three matrix loops (update + read,
// W x, W^T g) and SiLU from WebAssembly SIMD (memory-scan.wat) with float32 state; everything
// else runs the same loops in JavaScript with float64 state. A plain linear or SiLU 2-layer
// memory runs each chunk's two passes as one call each into the module (surprise1/updates1,
// surprise2/updates2); their surprise pass goes stage by stage over the chunk, four tokens per
// pass over each weight matrix (matVec4, matTVec4: the same per-token arithmetic,
// bit-identical). With dims.yPre false they skip the reading before each token and update each
// layer row by row over the chunk's tokens (rowsUpdatePost: a block of the row stays in
// registers; the same steps, bit-identical); so does every other memory on the SIMD module
// without y_pre (norm, residual, GELU, any depth: each layer over the chunk, its activation
// over the chunk, then each token's output from the last layer's readings). With
// A plain linear or SiLU 2-layer memory without y_pre whose layer inputs are multiples of 16 wide
// goes one step further (rowsUpdateScaled, option scaledFrame, default on): each layer updates in a
// scaled frame, p^ = P / D_t and s^ = S / D_t with D_t the product of the chunk's decays so far,
// s^ <- (eta_t / decay_t) s^ - (sc_t / D_t) inp_t, p^ <- p^ + s^, y_post_t = D_t (p^ . x_t): three
// multiplies per four weights and token instead of four, inputs in a blocked layout (16 columns of
// every token side by side), two tokens per pass. The same recurrence rounded differently (within
// float32 rounding of the exact updates, tested); a chunk restarts the frame where D_t falls below
// 2^-30 and takes the exact updates when a decay is below 2^-20 (a 64 x 64 linear memory's kernel
// runs 1.1-1.2x faster so). The surprise pass is the exact path's (surprise1, surprise2 on
// row-major inputs: the same products on blocked inputs made surprise2 1.3-1.4x slower under V8,
// the same bits), the blocked copies made after it (blockRows). With
// dims.maxSurpriseNorm the surprise pass runs with theta 1 and a pass over the chunk's rank-one
// factors (clampChunk) applies each token's clamp factor and then theta; on the SIMD module that pass
// runs there too (clampSquares, clampFactors, clampScale: the same float64 sums in the same order,
// four tokens' chains side by side, bit-identical to clampRows).
import { arrayConstructor, type MemoryScanDims, type TypedArray } from '../backend.js';
import { MEMORY_SCAN_WASM_BASE64 } from './memory-scan-wasm.generated.js';
import { decodeBase64 } from './wasm/engine.js';
import { erf } from './special.js';

const LN_EPS = 1e-5;
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export interface MemoryScanArrays {
  readonly k: TypedArray;
  readonly v: TypedArray;
  readonly q: TypedArray;
  readonly theta: TypedArray;
  readonly eta: TypedArray;
  readonly alpha: TypedArray;
  readonly weights: readonly TypedArray[];
  readonly momentum: readonly TypedArray[];
}

/** Checks the sizes of every input against the dims, naming the one at fault. */
function checkSizes(x: MemoryScanArrays, dims: MemoryScanDims): void {
  const { memories: m, tokens: t, layers, chunk } = dims;
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`memoryScan: chunk must be a positive integer, got ${chunk}`);
  if (layers.length < 1) throw new Error('memoryScan: at least one layer is needed');
  for (let l = 1; l < layers.length; l++) {
    if (layers[l]![1] !== layers[l - 1]![0]) throw new Error(`memoryScan: layer ${l} takes ${layers[l]![1]} inputs but layer ${l - 1} gives ${layers[l - 1]![0]}`);
  }
  const din = layers[0]![1];
  const dout = layers[layers.length - 1]![0];
  if ((dims.residual) && din !== dout) throw new Error(`memoryScan: a residual memory needs equal input and output widths, got ${din} and ${dout}`);
  const expect = (name: string, a: TypedArray, n: number): void => {
    if (a.length !== n) throw new Error(`memoryScan: ${name} has ${a.length} elements, expected ${n}`);
  };
  expect('k', x.k, m * t * din);
  expect('q', x.q, m * t * din);
  expect('v', x.v, m * t * dout);
  expect('theta', x.theta, m * t);
  expect('eta', x.eta, m * t);
  expect('alpha', x.alpha, m * t);
  if (x.weights.length !== layers.length || x.momentum.length !== layers.length) {
    throw new Error(`memoryScan: ${x.weights.length} weight and ${x.momentum.length} momentum matrices for ${layers.length} layers`);
  }
  layers.forEach(([o, i], l) => {
    expect(`weights[${l}]`, x.weights[l]!, m * o * i);
    expect(`momentum[${l}]`, x.momentum[l]!, m * o * i);
  });
}

type Vec = Float32Array | Float64Array;

/** A scratch buffer: its elements, and its byte address in the WebAssembly memory (0 for JavaScript buffers). */
interface Buf {
  readonly a: Vec;
  readonly p: number;
}

/** The matrix loops, on scratch buffers (offsets in elements). */
interface Loops {
  /** Scratch buffers of these sizes (elements), valid until the next call. */
  alloc(sizes: readonly number[]): Buf[];
  /**
   * One token's update of one matrix [rows, cols], fused with its two readings:
   * pre[r] = P[r] . xPre (before), S <- eta S - sc[r] inp, P <- decay P + S, post[r] = P[r] . xPost (after).
   */
  update(
    P: Buf, S: Buf, rows: number, cols: number, eta: number, decay: number, sc: Buf, scAt: number, inp: Buf, inpAt: number,
    xPre: Buf, xPreAt: number, xPost: Buf, xPostAt: number, pre: Buf, preAt: number, post: Buf, postAt: number,
  ): void;
  /** out[r] = W[r] . x for a [rows, cols] matrix. */
  matVec(W: Buf, rows: number, cols: number, x: Buf, xAt: number, out: Buf): void;
  /** out = W^T g. */
  matTVec(W: Buf, rows: number, cols: number, g: Buf, out: Buf): void;
  /** Optional fused backward step through layer l > 0: sc[scAt..] = th g, back = W^T g, g = back * slope. */
  backStep?(W: Buf, rows: number, cols: number, g: Buf, back: Buf, slope: Buf, sc: Buf, scAt: number, th: number): void;
  /** Optional sc[scAt..] = th g (rows entries). */
  scale?(sc: Buf, scAt: number, g: Buf, th: number, rows: number): void;
  /** Optional L2 bias at one token: g = 2 (f - v[vAt..]), returns sum (f - v)^2. */
  l2Error?(f: Buf, v: Buf, vAt: number, g: Buf, n: number): number;
  /** SiLU of z into out[outAt..] and its derivative into slope (when given); n a multiple of 4. Absent: `activate` runs. */
  silu?(z: Buf, out: Buf, outAt: number, slope: Buf | null, n: number): void;
}

const jsLoops: Loops = {
  alloc: (sizes) => sizes.map((n) => ({ a: new Float64Array(n), p: 0 })),
  update(Pb, Sb, rows, cols, eta, decay, scb, scAt, inpb, inpAt, xPreb, xPreAt, xPostb, xPostAt, preb, preAt, postb, postAt) {
    const P = Pb.a as Float64Array;
    const S = Sb.a as Float64Array;
    const sc = scb.a as Float64Array;
    const inp = inpb.a as Float64Array;
    const xPre = xPreb.a as Float64Array;
    const xPost = xPostb.a as Float64Array;
    for (let r = 0; r < rows; r++) {
      const c = sc[scAt + r]!;
      const base = r * cols;
      let a = 0;
      let b = 0;
      for (let j = 0; j < cols; j++) {
        const at = base + j;
        const p = P[at]!;
        a += p * xPre[xPreAt + j]!;
        const s = eta * S[at]! - c * inp[inpAt + j]!;
        S[at] = s;
        const pn = decay * p + s;
        P[at] = pn;
        b += pn * xPost[xPostAt + j]!;
      }
      preb.a[preAt + r] = a;
      postb.a[postAt + r] = b;
    }
  },
  matVec(Wb, rows, cols, xb, xAt, outb) {
    const W = Wb.a as Float64Array;
    const x = xb.a as Float64Array;
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let a = 0;
      for (let j = 0; j < cols; j++) a += W[base + j]! * x[xAt + j]!;
      outb.a[r] = a;
    }
  },
  matTVec(Wb, rows, cols, gb, outb) {
    const W = Wb.a as Float64Array;
    const g = gb.a as Float64Array;
    const out = outb.a as Float64Array;
    out.fill(0, 0, cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      const gr = g[r]!;
      if (gr === 0) continue;
      for (let j = 0; j < cols; j++) out[j] += W[base + j]! * gr;
    }
  },
};

interface WasmExports {
  readonly memory: WebAssembly.Memory;
  update(P: number, S: number, rows: number, cols: number, eta: number, decay: number, sc: number, inp: number, xPre: number, xPost: number, pre: number, post: number): void;
  matVec(W: number, rows: number, cols: number, x: number, out: number): void;
  matTVec(W: number, rows: number, cols: number, g: number, out: number): void;
  silu(z: number, out: number, slope: number, withSlope: number, n: number): void;
  backStep(W: number, rows: number, cols: number, g: number, back: number, slope: number, sc: number, th: number): void;
  scale(out: number, g: number, th: number, n: number): void;
  l2Error(f: number, v: number, g: number, n: number): number;
  conv(u: number, w: number, bias: number, y: number, n: number, channels: number, kernel: number): void;
  headRows(x: number, stride: number, out: number, n: number, heads: number, d: number, floor: number): void;
  surprise1(W: number, o: number, i: number, k: number, v: number, th: number, n: number, z: number, g: number, sc: number, loss: number): void;
  updates1(P: number, S: number, o: number, i: number, eta: number, decay: number, sc: number, k: number, q: number, yPre: number, yPost: number, n: number): void;
  surprise2(
    W1: number, h: number, i: number, W2: number, o: number, k: number, v: number, th: number, n: number,
    z1: number, z2: number, slope: number, g: number, back: number, a1: number, sc1: number, sc2: number, loss: number,
  ): void;
  updates2(
    P1: number, S1: number, h: number, i: number, P2: number, S2: number, o: number, eta: number, decay: number, sc1: number, sc2: number,
    k: number, a1: number, q: number, zPre: number, zPost: number, hPre: number, hPost: number, yPre: number, yPost: number, n: number,
  ): void;
  rowsUpdatePost(P: number, S: number, rows: number, cols: number, n: number, eta: number, decay: number, sc: number, inp: number, xPost: number, post: number, acc: number): void;
  rowsUpdateScaled(
    P: number, S: number, rows: number, cols: number, n: number, ratio: number, sc: number, inp: number, x: number, bstride: number,
    post: number, ysc: number, acc: number, end: number,
  ): void;
  blockRows(src: number, n: number, cols: number, dst: number): void;
  scaleRows(rows: number, o: number, n: number, f: number): void;
  matVecRows(W: number, rows: number, cols: number, x: number, xStride: number, out: number, oStride: number, n: number): void;
  matTVecRows(W: number, rows: number, cols: number, g: number, gStride: number, out: number, oStride: number, n: number): void;
  mulInto(out: number, a: number, b: number, n: number): void;
  clampSquares(sc: number, o: number, inp: number, c: number, n: number, sq: number, add: number, tmp: number): void;
  clampFactors(sq: number, n: number, clamp: number): void;
  clampScale(sc: number, o: number, n: number, factor: number, th: number): void;
}

let wasm: WasmExports | null | undefined;

/** The SIMD module, instantiated on first use; null where WebAssembly SIMD is unavailable. */
function wasmExports(): WasmExports | null {
  if (wasm !== undefined) return wasm;
  try {
    const bytes = decodeBase64(MEMORY_SCAN_WASM_BASE64);
    wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as WasmExports;
  } catch {
    wasm = null;
  }
  return wasm;
}

/**
 * Where the scratch buffers start in the module's memory (bytes; 0, page-aligned). Copies of
 * the kernels' results out of the module into tensors' storage (TypedArray.set, a memcpy) are
 * 5-10x slower when the target trails the source by a few bytes modulo 4096 ("4K aliasing":
 * a 4 MB copy 1.54 ms against 0.16 ms); where the target lies depends on the allocator, so no
 * fixed base wins everywhere (bench/scratch-base.ts compares 0 and 16: 0.89-1.27x).
 */
let scratchBase = 0;

/** Sets scratchBase (a multiple of 16): for benchmarks comparing layouts. */
export function setScratchBase(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes % 16 !== 0) throw new Error(`setScratchBase: a multiple of 16 >= 0 is needed, got ${bytes}`);
  scratchBase = bytes;
}

/**
 * Float32 scratch buffers of these sizes (elements) in the module's memory, 16-byte aligned,
 * from address scratchBase: valid until the next call (of this or of any kernel of the module).
 */
function scratch(w: WasmExports, sizes: readonly number[]): { a: Float32Array; p: number }[] {
  const bytes = scratchBase + sizes.reduce((s, n) => s + 16 * Math.ceil((4 * n) / 16), 0);
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  const buffer = w.memory.buffer;
  let at = scratchBase;
  return sizes.map((n) => {
    const buf = { a: new Float32Array(buffer, at, n), p: at };
    at += 16 * Math.ceil((4 * n) / 16);
    return buf;
  });
}

/**
 * The module's float32 kernels that other CPU kernels share (cpu/qkv-rows.ts: the causal
 * convolution and SiLU, the L2-normalised head split), with its scratch allocator; null where WebAssembly SIMD is unavailable.
 */
export function sharedSimd(): {
  scratch(sizes: readonly number[]): { a: Float32Array; p: number }[];
  conv(u: number, w: number, bias: number, y: number, n: number, channels: number, kernel: number): void;
  silu(z: number, out: number, n: number): void;
  headRows(x: number, stride: number, out: number, n: number, heads: number, d: number, floor: number): void;
} | null {
  const w = wasmExports();
  if (!w) return null;
  return {
    scratch: (sizes) => scratch(w, sizes),
    conv: (u, wt, bias, y, n, channels, kernel) => w.conv(u, wt, bias, y, n, channels, kernel),
    silu: (z, out, n) => w.silu(z, out, 0, 0, n),
    headRows: (x, stride, out, n, heads, d, floor) => w.headRows(x, stride, out, n, heads, d, floor),
  };
}

function wasmLoops(w: WasmExports): Loops {
  return {
    alloc: (sizes) => scratch(w, sizes),
    update: (P, S, rows, cols, eta, decay, sc, scAt, inp, inpAt, xPre, xPreAt, xPost, xPostAt, pre, preAt, post, postAt) =>
      w.update(P.p, S.p, rows, cols, eta, decay, sc.p + 4 * scAt, inp.p + 4 * inpAt, xPre.p + 4 * xPreAt, xPost.p + 4 * xPostAt, pre.p + 4 * preAt, post.p + 4 * postAt),
    matVec: (W, rows, cols, x, xAt, out) => w.matVec(W.p, rows, cols, x.p + 4 * xAt, out.p),
    matTVec: (W, rows, cols, g, out) => w.matTVec(W.p, rows, cols, g.p, out.p),
    silu: (z, out, outAt, slope, n) => w.silu(z.p, out.p + 4 * outAt, slope ? slope.p : 0, slope ? 1 : 0, n),
    backStep: (W, rows, cols, g, back, slope, sc, scAt, th) => w.backStep(W.p, rows, cols, g.p, back.p, slope.p, sc.p + 4 * scAt, th),
    scale: (sc, scAt, g, th, rows) => w.scale(sc.p + 4 * scAt, g.p, th, rows),
    l2Error: (f, v, vAt, g, n) => w.l2Error(f.p, v.p + 4 * vAt, g.p, n),
  };
}

/** LayerNorm (no affine, biased variance) of f into out; returns 1 / sqrt(var + eps). */
function layerNorm(f: Vec, out: Vec, n: number): number {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += f[i]!;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    const c = f[i]! - mean;
    variance += c * c;
  }
  const inv = 1 / Math.sqrt(variance / n + LN_EPS);
  for (let i = 0; i < n; i++) out[i] = (f[i]! - mean) * inv;
  return inv;
}

/**
 * The vector-Jacobian product of that LayerNorm: given n = normalised f and inv, maps
 * g (in place) to inv (g - mean(g) - n mean(g n)).
 */
function layerNormBackward(normed: Vec, inv: number, g: Vec, n: number): void {
  let gMean = 0;
  let gnMean = 0;
  for (let i = 0; i < n; i++) {
    gMean += g[i]!;
    gnMean += g[i]! * normed[i]!;
  }
  gMean /= n;
  gnMean /= n;
  for (let i = 0; i < n; i++) g[i] = inv * (g[i]! - gMean - normed[i]! * gnMean);
}

/** act(z) into out[outAt..] (and act'(z) into slope, when given). */
function activate(gelu: boolean, z: Vec, out: Vec, outAt: number, slope: Vec | null, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = z[i]!;
    if (gelu) {
      const cdf = 0.5 * (1 + erf(x * INV_SQRT2));
      out[outAt + i] = x * cdf;
      if (slope) slope[i] = cdf + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI;
    } else {
      const s = 1 / (1 + Math.exp(-x));
      out[outAt + i] = x * s;
      if (slope) slope[i] = s * (1 + x * (1 - s));
    }
  }
}

/** sum of a[i]^2 for i in [from, from + count), in order, in float64. */
function sumSquares(a: Vec, from: number, count: number): number {
  let sum = 0;
  for (let i = from, end = from + count; i < end; i++) sum += a[i]! * a[i]!;
  return sum;
}

/**
 * The surprise clamp over a chunk of n tokens from stream index `first`: the surprise pass then
 * ran with theta 1, so scaled[l] holds each token's gradient rows delta_l; each token's factor
 * min(clamp / max(norm, 1e-30), 1), norm = sqrt(sum_l |delta_l|^2 |input_l|^2 + 1e-30), then
 * scaled = (delta factor) theta: the order of the composite form (network.ts surpriseClampFactor).
 * A module-level function (not a closure made per scan), so its optimised code serves every call.
 */
function clampRows(
  scaled: readonly Vec[], inputs: readonly Vec[], rowsOf: readonly number[], colsOf: readonly number[], theta: TypedArray,
  first: number, n: number, clamp: number,
): void {
  const depth = scaled.length;
  const single = scaled[0] instanceof Float32Array; // the SIMD path's float32 state
  for (let s = 0; s < n; s++) {
    let squares = 0;
    for (let l = 0; l < depth; l++) {
      const o = rowsOf[l]!;
      const c = colsOf[l]!;
      const term = sumSquares(scaled[l]!, s * o, o) * sumSquares(inputs[l]!, s * c, c);
      squares = l === 0 ? term : squares + term;
    }
    const factor = Math.min(clamp / Math.max(Math.sqrt(squares + 1e-30), 1e-30), 1);
    const th = theta[first + s]!;
    for (let l = 0; l < depth; l++) {
      const o = rowsOf[l]!;
      const d = scaled[l]!;
      if (single) for (let r = s * o, end = r + o; r < end; r++) d[r] = Math.fround(d[r]! * factor) * th;
      else for (let r = s * o, end = r + o; r < end; r++) d[r] = d[r]! * factor * th;
    }
  }
}

/**
 * Runs the scan; returns the packed output of Backend.memoryScan in the inputs' dtype.
 * `simd: false` runs the JavaScript loops; `chunkCalls: false` keeps a plain linear or SiLU
 * 2-layer memory on the per-token calls instead of the module's whole-chunk drivers (the same
 * steps in the same order: bit-identical, for testing); `simdClamp: false` keeps the surprise
 * clamp of a SIMD run in JavaScript (clampRows; bit-identical, for testing); `scaledFrame: false`
 * keeps a y_post-only plain linear or SiLU 2-layer memory on the exact row updates (rowsUpdatePost) instead of the scaled
 * frame (rowsUpdateScaled, within float32 rounding of them; for testing and benchmarks). `alloc` gives the
 * zeroed output array (a compiled plan's pool; default a new array).
 */
export function memoryScanCpu(
  x: MemoryScanArrays, dims: MemoryScanDims, dtype: 'float32' | 'float64',
  options: { simd?: boolean; chunkCalls?: boolean; simdClamp?: boolean; scaledFrame?: boolean; alloc?: (size: number) => TypedArray } = {},
): TypedArray {
  checkSizes(x, dims);
  const { memories, tokens, chunk, layers, residual, norm } = dims;
  const clamp = dims.maxSurpriseNorm ?? 0;
  if (!(clamp >= 0) || !Number.isFinite(clamp)) throw new Error(`memoryScan: maxSurpriseNorm must be a finite number >= 0 (0 = off), got ${clamp}`);
  const gelu = dims.activation === 'gelu';
  const depth = layers.length;
  const last = depth - 1;
  const din = layers[0]![1];
  const dout = layers[last]![0];
  const rowsOf = layers.map(([o]) => o);
  const colsOf = layers.map(([, i]) => i);
  const sizes = layers.map(([o, i]) => o * i);
  const totalWeights = sizes.reduce((s, n) => s + n, 0);
  const yLen = memories * tokens * dout;
  // Without y_pre (dims.yPre false) the packed output starts with y_post.
  const pre = dims.yPre !== false;
  const postAt = pre ? yLen : 0;
  const outSize = postAt + yLen + memories * tokens + 2 * memories * totalWeights;
  const out = options.alloc ? options.alloc(outSize) : new (arrayConstructor(dtype))(outSize);
  const lossAt = postAt + yLen;
  const stateAt = lossAt + memories * tokens;
  const fullChunks = Math.floor(tokens / chunk);
  const widest = Math.max(din, dout, ...rowsOf);

  // M(x) = f(x) (no norm, no residual): retrievals are written in place into per-memory output buffers.
  const plain = !norm && !residual;
  const w = dtype === 'float32' && (options.simd ?? true) && layers.every(([o, i]) => o % 4 === 0 && i % 4 === 0) ? wasmExports() : null;
  const loops = w ? wasmLoops(w) : jsLoops;
  // A plain linear or SiLU 2-layer memory on the SIMD module runs each chunk's two passes as one call each (the same per-token steps).
  const drives = w !== null && (options.chunkCalls ?? true) && plain && (depth === 1 || (depth === 2 && !gelu));
  // Without y_pre, every other memory on the SIMD module (norm, residual, GELU, any depth) updates each layer row by row over
  // the chunk's tokens too (rowsUpdatePost: the per-token update's y_post arithmetic, bit-identical), the output finished per token.
  const rowUpdates = w !== null && !pre && !drives && (options.chunkCalls ?? true);
  // Their surprise pass goes stage by stage over the chunk as the drivers' does (the matrix stages four tokens per pass over the
  // weights: matVecRows, matTVecRows), the loss and the norm's backward per token in JavaScript: per token the same operations.
  const staged = w !== null && !drives && (options.chunkCalls ?? true);
  const wasmClamp = w !== null && clamp > 0 && (options.simdClamp ?? true);
  // Without y_pre, a plain linear or SiLU 2-layer memory whose layers' inputs are multiples of 16 wide updates each layer in the
  // scaled frame (rowsUpdateScaled: one multiply fewer per four weights and token; the same recurrence, rounded differently).
  const scaledFrame = drives && !pre && (options.scaledFrame ?? true) && colsOf.every((c) => c % 16 === 0);
  // Scratch: state, per-chunk surprise factors (theta_s delta_l[s], layer inputs x_l[s]), per-token vectors.
  const buffers = loops.alloc([
    ...sizes, ...sizes, ...rowsOf.map((o) => chunk * o), ...colsOf.map((i) => chunk * i),
    ...rowsOf, ...rowsOf, ...rowsOf, ...rowsOf, ...rowsOf, ...rowsOf, widest, widest, dout, dout,
    chunk * din, chunk * dout, plain ? tokens * dout : 0, plain ? tokens * dout : 0, chunk, chunk, chunk, chunk,
    ...(w && !pre && depth === 2 ? [chunk * rowsOf[0]!, chunk * rowsOf[0]!] : [0, 0]), 16 * chunk,
    // The drivers' surprise pass, stage by stage over the chunk: the readings of each layer, the hidden slopes, dOut and back rows.
    ...(drives ? [chunk * rowsOf[0]!, chunk * dout, chunk * rowsOf[0]!, chunk * dout, chunk * rowsOf[0]!] : [0, 0, 0, 0, 0]),
    // Without y_pre on the SIMD module, any other memory: each layer's readings and activations of a whole chunk.
    ...rowsOf.map((o) => (rowUpdates ? chunk * o : 0)), ...rowsOf.map((o) => (rowUpdates ? chunk * o : 0)),
    // The staged surprise pass of any other memory on the SIMD module: each layer's readings, slopes and gradient rows of a
    // whole chunk, and the rows back through a layer.
    ...rowsOf.map((o) => (staged ? chunk * o : 0)), ...rowsOf.map((o) => (staged ? chunk * o : 0)), ...rowsOf.map((o) => (staged ? chunk * o : 0)),
    staged ? chunk * widest : 0,
    // The clamp on the SIMD module: each token's float64 squares then factor (two floats each), theta, 64 bytes of scratch.
    ...(wasmClamp ? [2 * chunk, chunk, 16] : [0, 0, 0]),
    // The scaled frame: each layer's inputs and readings' inputs in blocked layout, and per token eta / decay, 1 / D and D.
    ...colsOf.map((c) => (scaledFrame ? chunk * c : 0)), ...colsOf.map((c) => (scaledFrame ? chunk * c : 0)),
    ...(scaledFrame ? [chunk, chunk, chunk] : [0, 0, 0]),
  ]);
  let next = 0;
  const take = (n: number): Buf[] => buffers.slice(next, (next += n));
  const P = take(depth);
  const S = take(depth);
  const scaled = take(depth);
  const inputs = take(depth);
  const zs = take(depth); // pre-activations of one token (surprise pass)
  const slopes = take(depth);
  const zPre = take(depth);
  const zPost = take(depth);
  const hPre = take(depth);
  const hPost = take(depth);
  const [grad, back, normed, fOut, qChunk, vChunk, yPreAll, yPostAll] = take(8) as [Buf, Buf, Buf, Buf, Buf, Buf, Buf, Buf];
  const [thetaChunk, etaChunk, decayChunk, lossChunk] = take(4) as [Buf, Buf, Buf, Buf];
  // Without y_pre: the hidden layer's readings and activations of a whole chunk, and the lane sums of rowsUpdatePost (of four rows
  // for rowsUpdateScaled).
  const [zChunk, hChunk, laneSums] = take(3) as [Buf, Buf, Buf];
  const [z1Chunk, z2Chunk, slopeChunk, gChunk, backChunk] = take(5) as [Buf, Buf, Buf, Buf, Buf];
  const zRows = take(depth);
  const hRows = take(depth);
  const zStage = take(depth);
  const slopeStage = take(depth);
  const gStage = take(depth);
  const [backStage] = take(1) as [Buf];
  const [clampSq, clampTheta, clampTmp] = take(3) as [Buf, Buf, Buf];
  const inpBlocks = take(depth);
  const xBlocks = take(depth);
  const [ratioChunk, invDChunk, dChunk] = take(3) as [Buf, Buf, Buf];
  const segments: number[] = [];
  const segmentEnds: number[] = [];
  const driven = drives ? w : null;

  /** Writes M's output for the last layer's pre-activation f and input row x into out at offset. */
  const finishInto = (f: Vec, xAt: number, target: TypedArray, offset: number): void => {
    const g = fOut.a;
    const x0 = qChunk.a;
    if (norm) layerNorm(f, g, dout);
    else for (let i = 0; i < dout; i++) g[i] = f[i]!;
    for (let i = 0; i < dout; i++) target[offset + i] = residual ? x0[xAt + i]! + g[i]! : g[i]!;
  };
  // Layer l's weights start at stateAt + memories * (sizes of layers before l); the momentum blocks follow all weights.
  const blockAt = sizes.map((_, l) => stateAt + memories * sizes.slice(0, l).reduce((a, b) => a + b, 0));
  const snapshot = (memory: number): void => {
    for (let l = 0; l < depth; l++) {
      const at = blockAt[l]! + memory * sizes[l]!;
      out.set(P[l]!.a, at);
      out.set(S[l]!.a, at + memories * totalWeights);
    }
  };

  const scaledRows = scaled.map((b) => b.a);
  const inputRows = inputs.map((b) => b.a);
  const clampChunk = (n: number, first: number): void => {
    if (!wasmClamp || !w) {
      clampRows(scaledRows, inputRows, rowsOf, colsOf, x.theta, first, n, clamp);
      return;
    }
    for (let l = 0; l < depth; l++) w.clampSquares(scaled[l]!.p, rowsOf[l]!, inputs[l]!.p, colsOf[l]!, n, clampSq.p, l === 0 ? 0 : 1, clampTmp.p);
    w.clampFactors(clampSq.p, n, clamp);
    clampTheta.a.set(x.theta.subarray(first, first + n));
    for (let l = 0; l < depth; l++) w.clampScale(scaled[l]!.p, rowsOf[l]!, n, clampSq.p, clampTheta.p);
  };

  /**
   * The scaled frame's gates for a chunk of n tokens (etaChunk, decayChunk set): per token ratio = eta / decay, D (the
   * decays' product from its segment's first token), 1 / D; a new segment starts where D would fall below 2^-30. False (the
   * chunk then takes rowsUpdatePost) when a decay is below 2^-20 or not finite, or a gate is not finite.
   */
  const scaledGates = (n: number): boolean => {
    segments.length = 0;
    segmentEnds.length = 0;
    let product = 1;
    for (let s = 0; s < n; s++) {
      const d = decayChunk.a[s]!;
      const e = etaChunk.a[s]!;
      if (!(d >= 2 ** -20) || !Number.isFinite(d) || !Number.isFinite(e)) return false;
      if (s === 0 || product * d < 2 ** -30) {
        if (s > 0) segmentEnds.push(product);
        segments.push(s);
        product = 1;
      }
      product *= d;
      ratioChunk.a[s] = e / d;
      dChunk.a[s] = product;
      invDChunk.a[s] = 1 / product;
    }
    segmentEnds.push(product);
    segments.push(n);
    return true;
  };
  /** Layer l over a chunk of n tokens in the scaled frame (scaledGates run, inputs blocked): y_post rows into `target`. */
  const scaledLayer = (l: number, n: number, target: number): void => {
    if (!driven) return;
    const o = rowsOf[l]!;
    const c = colsOf[l]!;
    driven.scaleRows(scaled[l]!.p, o, n, invDChunk.p);
    for (let i = 0; i + 1 < segments.length; i++) {
      const a = segments[i]!;
      driven.rowsUpdateScaled(
        P[l]!.p, S[l]!.p, o, c, segments[i + 1]! - a, ratioChunk.p + 4 * a, scaled[l]!.p + 4 * a * o, inpBlocks[l]!.p + 64 * a,
        xBlocks[l]!.p + 64 * a, 64 * n, target + 4 * a * o, dChunk.p + 4 * a, laneSums.p, segmentEnds[i]!,
      );
    }
  };

  for (let mem = 0; mem < memories; mem++) {
    for (let l = 0; l < depth; l++) {
      const off = mem * sizes[l]!;
      P[l]!.a.set(x.weights[l]!.subarray(off, off + sizes[l]!));
      S[l]!.a.set(x.momentum[l]!.subarray(off, off + sizes[l]!));
    }
    let snapped = false;
    for (let start = 0; start < tokens; start += chunk) {
      if (start === fullChunks * chunk) {
        snapshot(mem);
        snapped = true;
      }
      const n = Math.min(chunk, tokens - start);
      const first = mem * tokens + start;
      const in0 = inputs[0]!.a;
      in0.set(x.k.subarray(first * din, (first + n) * din));
      qChunk.a.set(x.q.subarray(first * din, (first + n) * din));
      vChunk.a.set(x.v.subarray(first * dout, (first + n) * dout));
      if (driven) {
        for (let s = 0; s < n; s++) {
          thetaChunk.a[s] = clamp > 0 ? 1 : x.theta[first + s]!;
          etaChunk.a[s] = x.eta[first + s]!;
          decayChunk.a[s] = 1 - x.alpha[first + s]!;
        }
        const yAt = 4 * start * dout;
        if (depth === 1) {
          driven.surprise1(P[0]!.p, dout, din, inputs[0]!.p, vChunk.p, thetaChunk.p, n, z2Chunk.p, grad.p, scaled[0]!.p, lossChunk.p);
          if (clamp > 0) clampChunk(n, first);
          if (pre) driven.updates1(P[0]!.p, S[0]!.p, dout, din, etaChunk.p, decayChunk.p, scaled[0]!.p, inputs[0]!.p, qChunk.p, yPreAll.p + yAt, yPostAll.p + yAt, n);
          else if (scaledFrame && scaledGates(n)) {
            // The scaled frame (as each layer of the 2-layer memory below): the inputs and the readings' inputs blocked.
            driven.blockRows(inputs[0]!.p, n, din, inpBlocks[0]!.p);
            driven.blockRows(qChunk.p, n, din, xBlocks[0]!.p);
            scaledLayer(0, n, yPostAll.p + yAt);
          } else driven.rowsUpdatePost(P[0]!.p, S[0]!.p, dout, din, n, etaChunk.p, decayChunk.p, scaled[0]!.p, inputs[0]!.p, qChunk.p, yPostAll.p + yAt, laneSums.p);
        } else {
          const hidden = rowsOf[0]!;
          const frame = scaledFrame && scaledGates(n);
          driven.surprise2(
            P[0]!.p, hidden, din, P[1]!.p, dout, inputs[0]!.p, vChunk.p, thetaChunk.p, n,
            z1Chunk.p, z2Chunk.p, slopeChunk.p, gChunk.p, backChunk.p, inputs[1]!.p, scaled[0]!.p, scaled[1]!.p, lossChunk.p,
          );
          if (frame) {
            // The scaled frame's updates read both layers' inputs in blocked layout.
            driven.blockRows(inputs[0]!.p, n, din, inpBlocks[0]!.p);
            driven.blockRows(inputs[1]!.p, n, hidden, inpBlocks[1]!.p);
          }
          if (clamp > 0) clampChunk(n, first);
          if (pre) {
            driven.updates2(
              P[0]!.p, S[0]!.p, hidden, din, P[1]!.p, S[1]!.p, dout, etaChunk.p, decayChunk.p, scaled[0]!.p, scaled[1]!.p,
              inputs[0]!.p, inputs[1]!.p, qChunk.p, zPre[0]!.p, zPost[0]!.p, hPre[0]!.p, hPost[0]!.p, yPreAll.p + yAt, yPostAll.p + yAt, n,
            );
          } else if (frame) {
            // The same in the scaled frame: the layers' inputs in blocked layout (above), the readings' too.
            driven.blockRows(qChunk.p, n, din, xBlocks[0]!.p);
            scaledLayer(0, n, zChunk.p);
            driven.silu(zChunk.p, hChunk.p, 0, 0, n * hidden);
            driven.blockRows(hChunk.p, n, hidden, xBlocks[1]!.p);
            scaledLayer(1, n, yPostAll.p + yAt);
          } else {
            // Layer 1 for the whole chunk, SiLU of all its readings, then layer 2 (each row's steps as per token).
            driven.rowsUpdatePost(P[0]!.p, S[0]!.p, hidden, din, n, etaChunk.p, decayChunk.p, scaled[0]!.p, inputs[0]!.p, qChunk.p, zChunk.p, laneSums.p);
            driven.silu(zChunk.p, hChunk.p, 0, 0, n * hidden);
            driven.rowsUpdatePost(P[1]!.p, S[1]!.p, dout, hidden, n, etaChunk.p, decayChunk.p, scaled[1]!.p, inputs[1]!.p, hChunk.p, yPostAll.p + yAt, laneSums.p);
          }
        }
        for (let s = 0; s < n; s++) out[lossAt + first + s] = lossChunk.a[s]!;
        continue;
      }
      // 1. Surprise of each token of the chunk at the chunk-start weights.
      if (staged && w) {
        // The readings of every layer for all n tokens, each hidden layer's activation (and slope) over the chunk.
        for (let l = 0; l < depth; l++) {
          const o = rowsOf[l]!;
          const c = colsOf[l]!;
          w.matVecRows(P[l]!.p, o, c, inputs[l]!.p, 4 * c, zStage[l]!.p, 4 * o, n);
          if (l < last) {
            if (!gelu) w.silu(zStage[l]!.p, inputs[l + 1]!.p, slopeStage[l]!.p, 1, n * o);
            else activate(gelu, zStage[l]!.a, inputs[l + 1]!.a, 0, slopeStage[l]!.a, n * o);
          }
        }
        // Per token: the loss and dOut = 2 (M(k) - v), back through the norm, into gStage[last].
        for (let s = 0; s < n; s++) {
          const at = s * dout;
          if (plain) {
            out[lossAt + first + s] = w.l2Error(zStage[last]!.p + 4 * at, vChunk.p + 4 * at, gStage[last]!.p + 4 * at, dout);
            continue;
          }
          const f = zStage[last]!.a.subarray(at, at + dout);
          const g = gStage[last]!.a.subarray(at, at + dout);
          const inv = norm ? layerNorm(f, normed.a, dout) : 0;
          let loss = 0;
          const vc = vChunk.a;
          for (let i = 0; i < dout; i++) {
            const y = norm ? normed.a[i]! : f[i]!;
            const e = (residual ? in0[s * din + i]! + y : y) - vc[at + i]!;
            loss += e * e;
            g[i] = 2 * e;
          }
          out[lossAt + first + s] = loss;
          if (norm) layerNormBackward(normed.a, inv, g, dout);
        }
        // Back through the layers: each token's scaled rows, then (below the last layer) W^T g over the chunk times the slopes.
        for (let l = last; l >= 0; l--) {
          const o = rowsOf[l]!;
          for (let s = 0; s < n; s++) w.scale(scaled[l]!.p + 4 * s * o, gStage[l]!.p + 4 * s * o, clamp > 0 ? 1 : x.theta[first + s]!, o);
          if (l > 0) {
            const c = colsOf[l]!;
            w.matTVecRows(P[l]!.p, o, c, gStage[l]!.p, 4 * o, backStage.p, 4 * c, n);
            for (let s = 0; s < n; s++) w.mulInto(gStage[l - 1]!.p + 4 * s * c, backStage.p + 4 * s * c, slopeStage[l - 1]!.p + 4 * s * c, c);
          }
        }
      }
      for (let s = 0; s < (staged ? 0 : n); s++) {
        const t = first + s;
        for (let l = 0; l < depth; l++) {
          loops.matVec(P[l]!, rowsOf[l]!, colsOf[l]!, inputs[l]!, s * colsOf[l]!, zs[l]!);
          if (l < last) {
            if (!gelu && loops.silu) loops.silu(zs[l]!, inputs[l + 1]!, s * rowsOf[l]!, slopes[l]!, rowsOf[l]!);
            else activate(gelu, zs[l]!.a, inputs[l + 1]!.a, s * rowsOf[l]!, slopes[l]!.a, rowsOf[l]!);
          }
        }
        // Loss and dOut = 2 (M(k) - v), then back through the norm and the layers.
        const f = zs[last]!.a;
        const g = grad.a;
        let inv = 0;
        if (plain && loops.l2Error) {
          out[lossAt + t] = loops.l2Error(zs[last]!, vChunk, s * dout, grad, dout);
        } else {
          if (norm) inv = layerNorm(f, normed.a, dout);
          let loss = 0;
          const vc = vChunk.a;
          for (let i = 0; i < dout; i++) {
            const y = norm ? normed.a[i]! : f[i]!;
            const e = (residual ? in0[s * din + i]! + y : y) - vc[s * dout + i]!;
            loss += e * e;
            g[i] = 2 * e;
          }
          out[lossAt + t] = loss;
        }
        if (norm) layerNormBackward(normed.a, inv, g, dout);
        const th = clamp > 0 ? 1 : x.theta[t]!;
        for (let l = last; l >= 0; l--) {
          const o = rowsOf[l]!;
          const at = s * o;
          if (loops.backStep && loops.scale) {
            if (l > 0) loops.backStep(P[l]!, o, colsOf[l]!, grad, back, slopes[l - 1]!, scaled[l]!, at, th);
            else loops.scale(scaled[l]!, at, grad, th, o);
            continue;
          }
          const sc = scaled[l]!.a;
          for (let r = 0; r < o; r++) sc[at + r] = th * g[r]!;
          if (l > 0) {
            const cols = colsOf[l]!;
            loops.matTVec(P[l]!, o, cols, grad, back);
            const slope = slopes[l - 1]!.a;
            const b = back.a;
            for (let j = 0; j < cols; j++) g[j] = b[j]! * slope[j]!;
          }
        }
      }
      if (clamp > 0) clampChunk(n, first);
      if (rowUpdates && w) {
        // 2. Without y_pre: each layer row by row over the chunk's tokens, its readings after each token's update into zRows,
        // activated into hRows (the next layer's readings' inputs); then each token's output from the last layer's readings.
        for (let s = 0; s < n; s++) {
          etaChunk.a[s] = x.eta[first + s]!;
          decayChunk.a[s] = 1 - x.alpha[first + s]!;
        }
        let xRows = qChunk;
        for (let l = 0; l < depth; l++) {
          const o = rowsOf[l]!;
          const toY = l === last && plain;
          const target = toY ? yPostAll.p + 4 * start * dout : zRows[l]!.p;
          w.rowsUpdatePost(P[l]!.p, S[l]!.p, o, colsOf[l]!, n, etaChunk.p, decayChunk.p, scaled[l]!.p, inputs[l]!.p, xRows.p, target, laneSums.p);
          if (l < last) {
            if (!gelu && loops.silu) loops.silu(zRows[l]!, hRows[l]!, 0, null, n * o);
            else activate(gelu, zRows[l]!.a, hRows[l]!.a, 0, null, n * o);
            xRows = hRows[l]!;
          }
        }
        if (!plain) {
          const f = zRows[last]!.a;
          for (let s = 0; s < n; s++) finishInto(f.subarray(s * dout, (s + 1) * dout), s * din, out, postAt + (first + s) * dout);
        }
        continue;
      }
      // 2. Token by token: momentum, forgetting, and both retrievals.
      for (let s = 0; s < n; s++) {
        const t = mem * tokens + start + s;
        const eta = x.eta[t]!;
        const decay = 1 - x.alpha[t]!;
        let xPre = qChunk;
        let xPost = qChunk;
        let xAt = s * din;
        for (let l = 0; l < depth; l++) {
          const o = rowsOf[l]!;
          const c = colsOf[l]!;
          if (l === last && plain) {
            const yAt = (start + s) * dout;
            loops.update(P[l]!, S[l]!, o, c, eta, decay, scaled[l]!, s * o, inputs[l]!, s * c, xPre, xAt, xPost, xAt, yPreAll, yAt, yPostAll, yAt);
            break;
          }
          loops.update(P[l]!, S[l]!, o, c, eta, decay, scaled[l]!, s * o, inputs[l]!, s * c, xPre, xAt, xPost, xAt, zPre[l]!, 0, zPost[l]!, 0);
          if (l < last) {
            if (!gelu && loops.silu) {
              loops.silu(zPre[l]!, hPre[l]!, 0, null, o);
              loops.silu(zPost[l]!, hPost[l]!, 0, null, o);
            } else {
              activate(gelu, zPre[l]!.a, hPre[l]!.a, 0, null, o);
              activate(gelu, zPost[l]!.a, hPost[l]!.a, 0, null, o);
            }
            xPre = hPre[l]!;
            xPost = hPost[l]!;
            xAt = 0;
          }
        }
        if (!plain) {
          if (pre) finishInto(zPre[last]!.a, s * din, out, t * dout);
          finishInto(zPost[last]!.a, s * din, out, postAt + t * dout);
        }
      }
    }
    if (!snapped) snapshot(mem);
    if (plain) {
      if (pre) out.set(yPreAll.a.subarray(0, tokens * dout), mem * tokens * dout);
      out.set(yPostAll.a.subarray(0, tokens * dout), postAt + mem * tokens * dout);
    }
  }
  return out;
}
