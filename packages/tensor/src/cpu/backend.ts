// The CPU backend: plain TypeScript over typed arrays. It is the reference every other
// backend is tested against, so clarity and exactness come before speed; elementwise
// loops are still generated per op (so V8 sees one monomorphic expression per kernel)
// and matmul uses a row-blocked kernel over contiguous rows of B.
import {
  arrayConstructor, bytesPerElement,
  type AttentionDims, type AttentionOptions, type ArgReduceOp, type Backend, type BinaryOp,
  type CausalConvDims, type CausalConvHeadsDims, type DType, type HeadRowsDims, type MemoryScanDims, type MemoryScanInputs, type NormKind, type ReduceOp, type Storage, type TypedArray, type UnaryOp, type View,
} from '../backend.js';
import { attentionBackwardF32, attentionFastApplies, attentionForwardF32 } from './attention-f32.js';
import { collapse } from './collapse.js';
import {
  normRowsBackwardKernel, normRowsKernel, ropeKernel, siluBackwardKernel, siluKernel, softmaxRowsBackwardKernel, softmaxRowsKernel,
} from './rows.js';
import { erf } from './special.js';
import { memoryScanCpu } from './memory-scan.js';
import type { BufferPool } from './pool.js';
import { reduceMiddleKernel, reduceRowsKernel } from './reduce.js';
import { causalConvBackwardKernel, causalConvKernel, headRowsBackwardKernel, headRowsKernel } from './qkv-rows.js';
import { causalConvBackwardF32 } from './causal-conv-wasm.js';
import { causalConvHeadsKernel } from './conv-heads.js';
import { binaryF32, unaryF32 } from './wasm/elementwise.js';
import { matmulF32 } from './wasm/matmul.js';
import { matmulF64, matmulF64Mode } from './matmul-f64.js';
import { matmulF64Wasm } from './matmul-f64-wasm.js';
import { cpuConfig } from './wasm/config.js';

export class CpuStorage implements Storage {
  disposed = false;
  /** @internal A number of this storage alone, given on first use by compiled kernels (compile/simd.ts stamp); 0 until then. */
  stamp = 0;
  constructor(
    readonly backend: CpuBackend,
    readonly dtype: DType,
    readonly data: TypedArray,
  ) {}
  get size(): number {
    return this.data.length;
  }
}

/** @internal The expression of each unary op over `x` (also used by compiled kernels). */
export const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  sqrt: 'Math.sqrt(x)',
  rsqrt: '1 / Math.sqrt(x)',
  abs: 'Math.abs(x)',
  sign: '(x > 0 ? 1 : x < 0 ? -1 : 0)',
  tanh: 'Math.tanh(x)',
  sigmoid: '1 / (1 + Math.exp(-x))',
  relu: '(x > 0 ? x : 0)',
  erf: 'erf(x)',
  recip: '1 / x',
  sin: 'Math.sin(x)',
  cos: 'Math.cos(x)',
  floor: 'Math.floor(x)',
  softplus: '(x > 30 ? x : Math.log1p(Math.exp(x)))',
  square: 'x * x',
  copy: 'x',
};

/** @internal The expression of each binary op over `x` and `y` (also used by compiled kernels). */
export const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  pow: 'Math.pow(x, y)',
  maximum: '(x >= y ? x : y)',
  minimum: '(x <= y ? x : y)',
  eq: '(x === y ? 1 : 0)',
  ne: '(x !== y ? 1 : 0)',
  lt: '(x < y ? 1 : 0)',
  le: '(x <= y ? 1 : 0)',
  gt: '(x > y ? 1 : 0)',
  ge: '(x >= y ? 1 : 0)',
};

/** @internal exp or sigmoid of a float32 view on WebAssembly SIMD into a new array (from `pool` when set), or null (cpu/unary-exp.ts). */
export type UnaryExpF32 = (op: UnaryOp, x: View, X: Float32Array, pool: BufferPool | null) => Float32Array | null;
/** @internal silu or its gradient over whole float32 arrays on WebAssembly SIMD; false where it did not run. */
export type SiluExpF32 = (op: 'silu' | 'siluBackward', ins: readonly Float32Array[], size: number, out: Float32Array) => boolean;
let unaryExpF32: UnaryExpF32 | null = null;
let siluExpF32: SiluExpF32 | null = null;
/**
 * @internal Installs the SIMD kernels of the exp-based ops (cpu/unary-exp.ts, which builds on the
 * compiled kernels; they import this file, so it cannot import them).
 */
export function setUnaryExpF32(unary: UnaryExpF32 | null, silu: SiluExpF32 | null): void {
  unaryExpF32 = unary;
  siluExpF32 = silu;
}

type Kernel = (out: TypedArray, inputs: TypedArray[], shape: number[], strides: number[][], offsets: number[]) => void;

/** Generates a strided n-ary elementwise loop around one expression of x, y, z. */
function makeKernel(arity: number, expr: string): Kernel {
  const names = ['x', 'y', 'z'].slice(0, arity);
  const lines = [
    'return function kernel(out, ins, shape, strides, offsets) {',
    ...names.map((n, i) => `const in${n} = ins[${i}]; const s${n} = strides[${i}]; let p${n} = offsets[${i}];`),
    'const nd = shape.length; const inner = shape[nd - 1]; const outer = out.length / inner;',
    ...names.map((n) => `const is${n} = s${n}[nd - 1];`),
    'const idx = new Int32Array(nd); let p = 0;',
    'for (let r = 0; r < outer; r++) {',
    ...names.map((n) => `let i${n} = p${n};`),
    'for (let j = 0; j < inner; j++) {',
    ...names.map((n) => `const ${n} = in${n}[i${n}]; i${n} += is${n};`),
    `out[p++] = ${expr};`,
    '}',
    'for (let d = nd - 2; d >= 0; d--) {',
    'idx[d]++;',
    ...names.map((n) => `p${n} += s${n}[d];`),
    'if (idx[d] < shape[d]) break;',
    ...names.map((n) => `p${n} -= s${n}[d] * shape[d];`),
    'idx[d] = 0;',
    '}',
    '}',
    '};',
  ];
  return new Function('erf', lines.join('\n'))(erf) as Kernel;
}

const kernelCache = new Map<string, Kernel>();
/**
 * One generated function per expression and per dtypes of its arrays (`types`), so that each
 * stays monomorphic: V8 compiles typed-array loads of one element kind much tighter.
 */
function kernelFor(arity: number, expr: string, types = ''): Kernel {
  const key = `${arity}:${expr}:${types}`;
  let kernel = kernelCache.get(key);
  if (!kernel) {
    kernel = makeKernel(arity, expr);
    kernelCache.set(key, kernel);
  }
  return kernel;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly syncRead = true;
  private bytes = 0;

  supports(_dtype: DType): boolean {
    return true;
  }

  private wrap(dtype: DType, data: TypedArray): CpuStorage {
    this.bytes += data.length * bytesPerElement(dtype);
    return new CpuStorage(this, dtype, data);
  }

  /**
   * @internal Where new result arrays come from while a compiled plan replays (compile/plan.ts
   * sets it for the replay and gives its freed intermediates back to it); null otherwise.
   */
  pool: BufferPool | null = null;

  /** Arrays for a kernel that writes every element: the plan pool's while a compiled plan replays (no zero fill), else fresh. */
  private f32Target(): (size: number) => Float32Array {
    const pool = this.pool;
    return pool !== null ? (size) => pool.take('float32', size, true) as Float32Array : (size) => new Float32Array(size);
  }

  /** alloc for a kernel that writes every element: a pooled array comes without the zero fill. */
  private allocFull(dtype: DType, size: number): CpuStorage {
    return this.wrap(dtype, this.pool !== null ? this.pool.take(dtype, size, true) : new (arrayConstructor(dtype))(size));
  }

  private alloc(dtype: DType, size: number): CpuStorage {
    return this.wrap(dtype, this.pool !== null ? this.pool.take(dtype, size) : new (arrayConstructor(dtype))(size));
  }

  data(storage: Storage): TypedArray {
    const s = storage as CpuStorage;
    if (s.disposed) throw new Error('cpu: storage used after it was disposed');
    return s.data;
  }

  fromArray(data: TypedArray, dtype: DType): Storage {
    const Ctor = arrayConstructor(dtype);
    return this.wrap(dtype, data instanceof Ctor ? data.slice() : Ctor.from(data));
  }

  fill(size: number, value: number, dtype: DType): Storage {
    const out = this.alloc(dtype, size);
    if (value !== 0) out.data.fill(value);
    return out;
  }

  /**
   * @internal A new storage over `data` itself (not copied, not cleared): compiled plans
   * (src/compile) recycle the arrays of result storages that were disposed.
   */
  adopt(data: TypedArray, dtype: DType): CpuStorage {
    return this.wrap(dtype, data);
  }

  read(storage: Storage): Promise<TypedArray> {
    return Promise.resolve(this.readSync(storage));
  }

  readSync(storage: Storage): TypedArray {
    return this.data(storage).slice();
  }

  dispose(storage: Storage): void {
    const s = storage as CpuStorage;
    if (s.disposed) return;
    s.disposed = true;
    this.bytes -= s.data.length * bytesPerElement(s.dtype);
  }

  liveBytes(): number {
    return this.bytes;
  }

  private elementwise(expr: string, views: readonly View[], dtype: DType): Storage {
    const shape = views[0]!.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const out = this.alloc(dtype, size);
    if (size === 0) return out;
    const c = collapse(shape, views.map((v) => v.strides));
    kernelFor(views.length, expr, `${dtype}<${views.map((v) => v.storage.dtype).join(',')}`)(out.data, views.map((v) => this.data(v.storage)), c.shape, c.strides, views.map((v) => v.offset));
    return out;
  }

  unary(op: UnaryOp, x: View, outDtype: DType): Storage {
    if (outDtype === 'float32' && x.storage.dtype === 'float32') {
      // WebAssembly SIMD, bit-identical (wasm/elementwise.ts; exp and sigmoid: unary-exp.ts)
      const X = this.data(x.storage) as Float32Array;
      const fast = unaryF32(op, x, X) ?? (unaryExpF32 !== null ? unaryExpF32(op, x, X, this.pool) : null);
      if (fast) return this.wrap('float32', fast);
    }
    const expr = outDtype === 'int32' && op !== 'copy' && op !== 'neg' && op !== 'abs' && op !== 'sign' ? `(${UNARY_EXPR[op]}) | 0` : UNARY_EXPR[op];
    return this.elementwise(expr, [x], outDtype);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    const fast = outDtype === 'float32' && a.storage.dtype === 'float32' && b.storage.dtype === 'float32'
      ? binaryF32(op, a, this.data(a.storage) as Float32Array, b, this.data(b.storage) as Float32Array) : null;
    if (fast) return this.wrap('float32', fast); // WebAssembly SIMD, bit-identical (wasm/elementwise.ts)
    const expr = outDtype === 'int32' && (op === 'div' || op === 'pow') ? `(${BINARY_EXPR[op]}) | 0` : BINARY_EXPR[op];
    return this.elementwise(expr, [a, b], outDtype);
  }

  where(cond: View, a: View, b: View): Storage {
    return this.elementwise('(x !== 0 ? y : z)', [cond, a, b], a.storage.dtype);
  }

  cast(x: View, dtype: DType): Storage {
    return this.elementwise(dtype === 'int32' ? 'Math.trunc(x)' : 'x', [x], dtype);
  }

  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage {
    const out = this.alloc(x.dtype, rows);
    reduceRowsKernel(op, this.data(x), rows, cols, out.data); // four rows at a time, the reference loop's bits (reduce.ts)
    return out;
  }

  /** reduceRows of the transposed [outer, inner, mid] copy, in place and without the copy (reduce.ts). */
  reduceMiddle(op: ReduceOp, x: Storage, outer: number, mid: number, inner: number): Storage {
    const out = this.alloc(x.dtype, outer * inner);
    reduceMiddleKernel(op, this.data(x), outer, mid, inner, out.data);
    return out;
  }

  argReduceRows(op: ArgReduceOp, x: Storage, rows: number, cols: number): Storage {
    const src = this.data(x);
    const out = this.alloc('int32', rows);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let best = 0;
      for (let c = 1; c < cols; c++) {
        const v = src[base + c]!;
        if (op === 'argmax' ? v > src[base + best]! : v < src[base + best]!) best = c;
      }
      out.data[r] = best;
    }
    return out;
  }

  matmul(a: View, b: View): Storage {
    // float32: WebAssembly SIMD kernels (wasm/matmul.ts) when available and worthwhile.
    // While a compiled plan replays, the product lands in an array of its pool (no fresh allocation).
    const pool = this.pool;
    const target = pool !== null ? (size: number): Float32Array => pool.take('float32', size, true) as Float32Array : undefined;
    const fast = a.storage.dtype === 'float32' ? matmulF32(a, this.data(a.storage) as Float32Array, b, this.data(b.storage) as Float32Array, target) : null;
    if (fast) return this.wrap('float32', fast);
    const [batch, m, k] = a.shape as [number, number, number];
    const n = b.shape[2]!;
    const f64Mode = matmulF64Mode();
    if (a.storage.dtype === 'float64' && b.storage.dtype === 'float64' && f64Mode !== 'off') {
      // float64: WebAssembly SIMD (matmul-f64-wasm.ts) or the register-blocked JavaScript kernel
      // (matmul-f64.ts), both bit for bit the loop below; they write every element of the
      // product, so a pooled array needs no zero fill.
      const [sab, sam, sak] = a.strides as [number, number, number];
      const [sbb, sbk, sbn] = b.strides as [number, number, number];
      const size = batch * m * n;
      const o = (pool !== null ? pool.take('float64', size, true) : new Float64Array(size)) as Float64Array;
      const A = this.data(a.storage) as Float64Array;
      const B = this.data(b.storage) as Float64Array;
      const done = f64Mode === 'wasm' && cpuConfig().wasm && matmulF64Wasm(o, A, a.offset, sab, sam, sak, B, b.offset, sbb, sbk, sbn, batch, m, k, n);
      if (!done) matmulF64(o, A, a.offset, sab, sam, sak, B, b.offset, sbb, sbk, sbn, batch, m, k, n);
      return this.wrap('float64', o);
    }
    const out = this.alloc(a.storage.dtype, batch * m * n);
    const o = out.data;
    const A = this.data(a.storage);
    const [sab, sam, sak] = a.strides as [number, number, number];
    let B = this.data(b.storage);
    let [sbb, sbk, sbn] = b.strides as [number, number, number];
    let bOffset = b.offset;
    if (sbn !== 1) {
      // Pack B so that each of its k rows is contiguous: the inner loop streams over them.
      const packed = new (arrayConstructor(b.storage.dtype))(batch * k * n);
      const batchesOfB = sbb === 0 ? 1 : batch;
      for (let bi = 0; bi < batchesOfB; bi++) {
        for (let p = 0; p < k; p++) {
          for (let j = 0; j < n; j++) packed[bi * k * n + p * n + j] = B[bOffset + bi * sbb + p * sbk + j * sbn]!;
        }
      }
      B = packed;
      sbb = sbb === 0 ? 0 : k * n;
      sbk = n;
      sbn = 1;
      bOffset = 0;
    }
    for (let bi = 0; bi < batch; bi++) {
      matmulBlock(o, bi * m * n, A, a.offset + bi * sab, sam, sak, B, bOffset + bi * sbb, sbk, m, k, n);
    }
    return out;
  }

  scanRows(op: 'sum' | 'prod', x: Storage, rows: number, cols: number, reverse: boolean): Storage {
    const src = this.data(x);
    const out = this.alloc(x.dtype, rows * cols);
    const o = out.data;
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let acc = op === 'sum' ? 0 : 1;
      for (let i = 0; i < cols; i++) {
        const c = reverse ? cols - 1 - i : i;
        acc = op === 'sum' ? acc + src[base + c]! : acc * src[base + c]!;
        o[base + c] = acc;
      }
    }
    return out;
  }

  linearScanRows(a: Storage, b: Storage, rows: number, cols: number, reverse: boolean): Storage {
    const A = this.data(a);
    const B = this.data(b);
    const out = this.alloc(b.dtype, rows * cols);
    const o = out.data;
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let h = 0;
      for (let i = 0; i < cols; i++) {
        const c = reverse ? cols - 1 - i : i;
        h = A[base + c]! * h + B[base + c]!;
        o[base + c] = h;
      }
    }
    return out;
  }

  concatRows(parts: readonly Storage[], outer: number, inners: readonly number[]): Storage {
    const total = inners.reduce((s, v) => s + v, 0);
    const out = this.alloc(parts[0]!.dtype, outer * total);
    let col = 0;
    const o = out.data;
    parts.forEach((part, i) => {
      const src = this.data(part);
      const inner = inners[i]!;
      if (outer === 1) o.set(src.subarray(0, inner), col);
      else if (inner >= 64) for (let r = 0; r < outer; r++) o.set(src.subarray(r * inner, (r + 1) * inner), r * total + col);
      else {
        // Short rows: a plain loop beats making a subarray view per row.
        for (let r = 0; r < outer; r++) {
          const from = r * inner;
          const to = r * total + col;
          for (let c = 0; c < inner; c++) o[to + c] = src[from + c]!;
        }
      }
      col += inner;
    });
    return out;
  }

  gatherRows(x: Storage, width: number, indices: Storage): Storage {
    const src = this.data(x);
    const idx = this.data(indices);
    const n = src.length / width;
    const out = this.alloc(x.dtype, idx.length * width);
    for (let i = 0; i < idx.length; i++) {
      const row = idx[i]!;
      if (row < 0 || row >= n || !Number.isInteger(row)) throw new RangeError(`gather: index ${row} at position ${i} is out of range [0, ${n})`);
      out.data.set(src.subarray(row * width, (row + 1) * width), i * width);
    }
    return out;
  }

  scatterAddRows(src: Storage, width: number, indices: Storage, n: number): Storage {
    const s = this.data(src);
    const idx = this.data(indices);
    const out = this.alloc(src.dtype, n * width);
    const o = out.data;
    for (let i = 0; i < idx.length; i++) {
      const row = idx[i]!;
      if (row < 0 || row >= n) throw new RangeError(`scatterAdd: index ${row} at position ${i} is out of range [0, ${n})`);
      const ob = row * width;
      const sb = i * width;
      for (let c = 0; c < width; c++) o[ob + c] += s[sb + c]!;
    }
    return out;
  }

  attention(q: Storage, k: Storage, v: Storage, dims: AttentionDims, options: AttentionOptions): { out: Storage; lse: Storage } {
    if (q.dtype === 'float32' && attentionFastApplies(dims)) { // matmul blocks on the WebAssembly kernels (attention-f32.ts)
      const r = attentionForwardF32(this.data(q) as Float32Array, this.data(k) as Float32Array, this.data(v) as Float32Array, dims, options, this.f32Target());
      return { out: this.wrap('float32', r.out), lse: this.wrap('float32', r.lse) };
    }
    const { batchHeads, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
    const Q = this.data(q); const K = this.data(k); const V = this.data(v);
    const out = this.alloc(q.dtype, batchHeads * tq * dv);
    const lse = this.alloc(q.dtype, batchHeads * tq);
    const scores = new Float64Array(tk);
    const acc = new Float64Array(dv);
    for (let bh = 0; bh < batchHeads; bh++) {
      for (let i = 0; i < tq; i++) {
        const qBase = (bh * tq + i) * d;
        let max = -Infinity;
        for (let j = 0; j < tk; j++) {
          if (!visible(i, j, tq, tk, options)) { scores[j] = -Infinity; continue; }
          const kBase = (bh * tk + j) * d;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += Q[qBase + c]! * K[kBase + c]!;
          scores[j] = dot * options.scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        acc.fill(0);
        let sum = 0;
        if (max > -Infinity) {
          for (let j = 0; j < tk; j++) {
            if (scores[j] === -Infinity) continue;
            const p = Math.exp(scores[j]! - max);
            sum += p;
            const vBase = (bh * tk + j) * dv;
            for (let c = 0; c < dv; c++) acc[c] += p * V[vBase + c]!;
          }
        }
        const oBase = (bh * tq + i) * dv;
        for (let c = 0; c < dv; c++) out.data[oBase + c] = sum > 0 ? acc[c]! / sum : 0;
        lse.data[bh * tq + i] = sum > 0 ? max + Math.log(sum) : -Infinity;
      }
    }
    return { out, lse };
  }

  /** memoryScan implements the surprise clamp (MemoryScanDims.maxSurpriseNorm). */
  readonly memoryScanClamp = true;

  /** The fused neural-memory scan (cpu/memory-scan.ts). */
  memoryScan(inputs: MemoryScanInputs, dims: MemoryScanDims): Storage {
    const dtype = inputs.k.dtype;
    if (dtype !== 'float32' && dtype !== 'float64') throw new TypeError(`cpu memoryScan: float32 or float64 inputs, got ${dtype}`);
    const d = (s: Storage): TypedArray => this.data(s);
    const arrays = {
      k: d(inputs.k), v: d(inputs.v), q: d(inputs.q), theta: d(inputs.theta), eta: d(inputs.eta), alpha: d(inputs.alpha),
      weights: inputs.weights.map(d), momentum: inputs.momentum.map(d),
    };
    const pool = this.pool;
    return this.wrap(dtype, memoryScanCpu(arrays, dims, dtype, pool !== null ? { alloc: (size) => pool.take(dtype, size) } : {}));
  }

  /** Channels-last causal depthwise convolution, SiLU on its input optional (cpu/qkv-rows.ts). */
  causalConv(x: Storage, weight: Storage, bias: Storage | null, history: Storage | null, dims: CausalConvDims): Storage {
    const out = this.alloc(x.dtype, dims.batch * dims.tokens * dims.channels);
    causalConvKernel(this.floats(x), this.floats(weight), bias ? this.floats(bias) : null, history ? this.floats(history) : null, dims, out.data as Floats);
    return out;
  }

  causalConvBackward(
    x: Storage, weight: Storage, history: Storage | null, gradOut: Storage, dims: CausalConvDims,
  ): { dx: Storage; dweight: Storage; dbias: Storage; dhistory: Storage } {
    const dtype = x.dtype;
    const dx = this.alloc(dtype, x.size);
    const dweight = this.alloc(dtype, weight.size);
    const dbias = this.alloc(dtype, dims.channels);
    const dhistory = this.alloc(dtype, dims.batch * dims.past * dims.channels);
    if (dtype === 'float32') {
      const f = (s: Storage): Float32Array => this.data(s) as Float32Array;
      // WebAssembly kernel, the same bits as the loop (causal-conv-wasm.ts); false leaves it to the loop.
      if (causalConvBackwardF32(f(x), f(weight), history ? f(history) : null, f(gradOut), dims, f(dx), f(dweight), f(dbias), f(dhistory))) {
        return { dx, dweight, dbias, dhistory };
      }
    }
    causalConvBackwardKernel(
      this.floats(x), this.floats(weight), history ? this.floats(history) : null, this.floats(gradOut), dims,
      dx.data as Floats, dweight.data as Floats, dbias.data as Floats, dhistory.data as Floats,
    );
    return { dx, dweight, dbias, dhistory };
  }

  headRowsBackward(x: Storage, gradOut: Storage, dims: HeadRowsDims): Storage {
    const dx = this.alloc(x.dtype, x.size);
    headRowsBackwardKernel(this.floats(x), this.floats(gradOut), dims, dx.data as Floats);
    return dx;
  }

  /** causalConv then headRows of each channel block, in one pass (cpu/conv-heads.ts). */
  causalConvHeads(x: Storage, weight: Storage, bias: Storage | null, history: Storage | null, dims: CausalConvHeadsDims): Storage[] {
    const outs = dims.blocks.map((b) => this.alloc(x.dtype, dims.batch * b.heads * dims.tokens * b.headDim));
    causalConvHeadsKernel(
      this.floats(x), this.floats(weight), bias ? this.floats(bias) : null, history ? this.floats(history) : null, dims, outs.map((o) => o.data as Floats),
    );
    return outs;
  }

  /** A channel block split into heads, rows L2-normalised optionally (cpu/qkv-rows.ts). */
  headRows(x: Storage, dims: HeadRowsDims): Storage {
    const out = this.alloc(x.dtype, dims.batch * dims.heads * dims.tokens * dims.headDim);
    headRowsKernel(this.floats(x), dims, out.data as Floats);
    return out;
  }

  attentionBackward(
    q: Storage, k: Storage, v: Storage, out: Storage, lse: Storage, gradOut: Storage,
    dims: AttentionDims, options: AttentionOptions,
  ): { dq: Storage; dk: Storage; dv: Storage } {
    if (q.dtype === 'float32' && attentionFastApplies(dims)) {
      const f = (s: Storage): Float32Array => this.data(s) as Float32Array;
      const r = attentionBackwardF32(f(q), f(k), f(v), f(out), f(lse), f(gradOut), dims, options, this.f32Target());
      return { dq: this.wrap('float32', r.dq), dk: this.wrap('float32', r.dk), dv: this.wrap('float32', r.dv) };
    }
    const { batchHeads, queryLength: tq, keyLength: tk, headDim: d, valueDim: dvDim } = dims;
    const Q = this.data(q); const K = this.data(k); const V = this.data(v);
    const O = this.data(out); const L = this.data(lse); const dO = this.data(gradOut);
    const dq = this.alloc(q.dtype, batchHeads * tq * d);
    const dk = this.alloc(q.dtype, batchHeads * tk * d);
    const dv = this.alloc(q.dtype, batchHeads * tk * dvDim);
    for (let bh = 0; bh < batchHeads; bh++) {
      for (let i = 0; i < tq; i++) {
        const l = L[bh * tq + i]!;
        if (l === -Infinity) continue;
        const qBase = (bh * tq + i) * d;
        const oBase = (bh * tq + i) * dvDim;
        // delta_i = sum_c dO_ic O_ic: the softmax Jacobian's diagonal correction.
        let delta = 0;
        for (let c = 0; c < dvDim; c++) delta += dO[oBase + c]! * O[oBase + c]!;
        for (let j = 0; j < tk; j++) {
          if (!visible(i, j, tq, tk, options)) continue;
          const kBase = (bh * tk + j) * d;
          const vBase = (bh * tk + j) * dvDim;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += Q[qBase + c]! * K[kBase + c]!;
          const p = Math.exp(dot * options.scale - l);
          let dp = 0;
          for (let c = 0; c < dvDim; c++) {
            dp += dO[oBase + c]! * V[vBase + c]!;
            dv.data[vBase + c] += p * dO[oBase + c]!;
          }
          const ds = p * (dp - delta) * options.scale;
          for (let c = 0; c < d; c++) {
            dq.data[qBase + c] += ds * K[kBase + c]!;
            dk.data[kBase + c] += ds * Q[qBase + c]!;
          }
        }
      }
    }
    return { dq, dk, dv };
  }

  // Fused row kernels (rows.ts).
  normRows(kind: NormKind, x: Storage, rows: number, cols: number, eps: number): { out: Storage; rstd: Storage } {
    // The row kernels (rows.ts, rows-wasm.ts) write every element of their results.
    const out = this.allocFull(x.dtype, rows * cols);
    const rstd = this.allocFull(x.dtype, rows);
    normRowsKernel(kind, this.floats(x), rows, cols, eps, out.data as Floats, rstd.data as Floats);
    return { out, rstd };
  }

  normRowsBackward(kind: NormKind, y: Storage, rstd: Storage, gradOut: Storage, rows: number, cols: number): Storage {
    const dx = this.allocFull(y.dtype, rows * cols);
    normRowsBackwardKernel(kind, this.floats(y), this.floats(rstd), this.floats(gradOut), rows, cols, dx.data as Floats);
    return dx;
  }

  softmaxRows(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const out = this.allocFull(x.dtype, rows * cols);
    softmaxRowsKernel(this.floats(x), rows, cols, log, out.data as Floats);
    return out;
  }

  softmaxRowsBackward(y: Storage, gradOut: Storage, rows: number, cols: number, log: boolean): Storage {
    const dx = this.allocFull(y.dtype, rows * cols);
    softmaxRowsBackwardKernel(this.floats(y), this.floats(gradOut), rows, cols, log, dx.data as Floats);
    return dx;
  }

  ropeRows(x: Storage, cos: Storage, sin: Storage, outer: number, t: number, d: number): Storage {
    // An odd d leaves each row's last column to the zero fill.
    const out = d % 2 === 0 ? this.allocFull(x.dtype, outer * t * d) : this.alloc(x.dtype, outer * t * d);
    ropeKernel(this.floats(x), this.floats(cos), this.floats(sin), outer, t, d, out.data as Floats);
    return out;
  }

  silu(x: Storage): Storage {
    const out = this.allocFull(x.dtype, x.size);
    // float32: WebAssembly SIMD, bit-identical (unary-exp.ts), else the loop
    if (x.dtype === 'float32' && siluExpF32 !== null && siluExpF32('silu', [this.data(x) as Float32Array], x.size, out.data as Float32Array)) return out;
    siluKernel(this.floats(x), out.data as Floats);
    return out;
  }

  siluBackward(x: Storage, gradOut: Storage): Storage {
    const dx = this.allocFull(x.dtype, x.size);
    if (x.dtype === 'float32' && gradOut.dtype === 'float32' && gradOut.size === x.size && siluExpF32 !== null
      && siluExpF32('siluBackward', [this.data(x) as Float32Array, this.data(gradOut) as Float32Array], x.size, dx.data as Float32Array)) return dx;
    siluBackwardKernel(this.floats(x), this.floats(gradOut), dx.data as Floats);
    return dx;
  }

  private floats(s: Storage): Floats {
    if (s.dtype === 'int32') throw new TypeError('cpu: a fused row kernel got int32 data (float32 or float64 only)');
    return this.data(s) as Floats;
  }
}

type Floats = Float32Array | Float64Array;

/** Which keys query i may attend to: the attention mask shared by every backend. */
export function visible(i: number, j: number, queryLength: number, keyLength: number, options: AttentionOptions): boolean {
  if (j < options.prefix) return true;
  const position = i + keyLength - queryLength;
  if (options.causal && j > position) return false;
  if (options.window > 0 && j <= position - options.window) return false;
  return true;
}

/** out[i, :] += sum_p A[i, p] * B[p, :], four rows of A at a time so each B row is read once per block. */
function matmulBlock(
  o: TypedArray, oBase: number,
  A: TypedArray, aBase: number, sam: number, sak: number,
  B: TypedArray, bBase: number, sbk: number,
  m: number, k: number, n: number,
): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const o0 = oBase + i * n; const o1 = o0 + n; const o2 = o1 + n; const o3 = o2 + n;
    const a0 = aBase + i * sam; const a1 = a0 + sam; const a2 = a1 + sam; const a3 = a2 + sam;
    for (let p = 0; p < k; p++) {
      const x0 = A[a0 + p * sak]!; const x1 = A[a1 + p * sak]!; const x2 = A[a2 + p * sak]!; const x3 = A[a3 + p * sak]!;
      const b = bBase + p * sbk;
      for (let j = 0; j < n; j++) {
        const y = B[b + j]!;
        o[o0 + j] += x0 * y; o[o1 + j] += x1 * y; o[o2 + j] += x2 * y; o[o3 + j] += x3 * y;
      }
    }
  }
  for (; i < m; i++) {
    const o0 = oBase + i * n;
    const a0 = aBase + i * sam;
    for (let p = 0; p < k; p++) {
      const x0 = A[a0 + p * sak]!;
      const b = bBase + p * sbk;
      for (let j = 0; j < n; j++) o[o0 + j] += x0 * B[b + j]!;
    }
  }
}

export const cpuBackend = new CpuBackend();
