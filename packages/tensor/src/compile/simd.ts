// Fused float32 elementwise chains as WebAssembly SIMD, generated at plan time: a tiny binary
// encoder writes one module per chain (its layout baked in), the operands are copied into a
// memory owned by this file, the chain runs four lanes at a time, and the results are copied
// back. Every op gives exactly what the JavaScript kernel gives (kernels.ts):
// - add, sub, mul, div, sqrt, neg, abs, square, recip, copy, maximum, minimum and relu run on
//   f32x4: IEEE float32 arithmetic rounds once, as the JavaScript double result rounded to
//   float32 does (double rounding is exact for these), and the selects copy JavaScript's
//   comparisons (NaN and signed zeros included);
// - exp, sigmoid, rsqrt, silu and the silu gradient run on f64x2 with the same double
//   operations as the JavaScript expression, Math.exp included: V8's Math.exp is fdlibm's
//   algorithm (only +, -, *, / on doubles), which is replayed here step for step. A self-check
//   against Math.exp at load time turns these ops off on an engine where it differs.
// Any layout of non-negative strides runs: contiguous chains and broadcast rows or columns in
// their own loops, every other one (transposed operands, rows of n % 4 elements, more axes)
// walking the outer axes by pointers and reading the last axis as vectors, splats or, at a
// stride above 1, lane by lane (only float32 bits move, so results do not change). Anything
// else (other ops, other dtypes, negative strides) returns null and the JavaScript kernel runs.
// A large chain (PARALLEL_MIN_ELEMENTS; contiguous, or 2-D with broadcast rows or columns)
// instead copies its operands into the CPU engine's shared memory and runs as an engine job
// (cpu/wasm/engine.ts, JobModule): the module's `task(t)` computes one range of TASK_ELEMENTS
// (whole rows when 2-D), and the worker threads, which
// instantiate the module on the same memory, share the ranges with the calling thread.
import type { Storage } from '../backend.js';
import { BINARY_EXPR, CpuStorage, UNARY_EXPR } from '../cpu/backend.js';
import { collapse } from '../cpu/collapse.js';
import { cpuConfig } from '../cpu/wasm/config.js';
import { ARENA, ENGINE_MAX_PAGES, getEngine, jobModule, reserve, runJob, type Engine, type JobModule } from '../cpu/wasm/engine.js';
import { contiguousStrides } from '../shape.js';
import { SILU_BACKWARD_EXPR, SILU_EXPR, type FusedGroup, type FusedKernel } from './kernels.js';

// ------------------------------------------------------------------ binary encoder

const SIMD = 0xfd;
/** SIMD opcodes (after the 0xfd prefix). */
export const V = {
  load: 0x00, load32Splat: 0x09, load32Lane: 0x56, store: 0x0b, store32Lane: 0x5a, store64Lane: 0x5b, const: 0x0c, shuffle: 0x0d, f32Splat: 0x13, f64Splat: 0x14,
  f32Eq: 0x41, f32Ne: 0x42, f32Lt: 0x43, f32Gt: 0x44, f32Le: 0x45, f32Ge: 0x46,
  f64Eq: 0x47, f64Ne: 0x48, f64Lt: 0x49, f64Gt: 0x4a, f64Le: 0x4b, f64Ge: 0x4c,
  and: 0x4e, andnot: 0x4f, or: 0x50, bitselect: 0x52, demote: 0x5e, promote: 0x5f, f64Floor: 0x75, f64Trunc: 0x7a,
  i32AllTrue: 0xa3, i64AllTrue: 0xc3, i64Extend: 0xc7, i64Shl: 0xcb, i64Add: 0xce,
  f32Abs: 0xe0, f32Neg: 0xe1, f32Sqrt: 0xe3, f32Add: 0xe4, f32Sub: 0xe5, f32Mul: 0xe6, f32Div: 0xe7,
  f64Abs: 0xec, f64Neg: 0xed, f64Sqrt: 0xef, f64Add: 0xf0, f64Sub: 0xf1, f64Mul: 0xf2, f64Div: 0xf3,
  i32TruncF64: 0xfc,
} as const;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const I32 = 0x7f;
const F32 = 0x7d;
export const V128 = 0x7b;

/** A function body under construction: locals and instruction bytes. */
export class Body {
  readonly code: number[] = [];
  private readonly locals: number[] = [];
  /** Code run at entry, before `code`: the constants' locals. */
  private readonly prologue: number[] = [];
  private readonly constants = new Map<string, number>();
  constructor(private readonly params: number) {}
  local(type: number): number {
    this.locals.push(type);
    return this.params + this.locals.length - 1;
  }
  simd(op: number, ...imm: number[]): this {
    this.code.push(SIMD, ...uleb(op), ...imm);
    return this;
  }
  get(i: number): this {
    this.code.push(0x20, ...uleb(i));
    return this;
  }
  set(i: number): this {
    this.code.push(0x21, ...uleb(i));
    return this;
  }
  i32(n: number): this {
    this.code.push(0x41, ...sleb(n));
    return this;
  }
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  /** v128 of four float32 or two float64 lanes. */
  v128f32(v: number): this {
    const b = new Uint8Array(16);
    new Float32Array(b.buffer).fill(v);
    return this.v128(b);
  }
  v128f64(v: number): this {
    const b = new Uint8Array(16);
    new Float64Array(b.buffer).fill(v);
    return this.v128(b);
  }
  v128i64(v: number): this {
    const b = new Uint8Array(16);
    new BigInt64Array(b.buffer).fill(BigInt(v));
    return this.v128(b);
  }
  /**
   * A v128 constant. Zero stays inline (engines clear a register for it); any other value is
   * a local set once at the function's entry, since an engine may rebuild an inline constant
   * from immediates at every use, inside the loops too.
   */
  v128(bytes: Uint8Array): this {
    if (bytes.every((x) => x === 0)) return this.simd(V.const, ...bytes);
    const key = bytes.join(',');
    let l = this.constants.get(key);
    if (l === undefined) {
      l = this.local(V128);
      this.constants.set(key, l);
      this.prologue.push(SIMD, ...uleb(V.const), ...bytes, 0x21, ...uleb(l));
    }
    return this.get(l);
  }
  /** A load or store with a static byte offset (alignment hint: 16 bytes, 4 for a splat). */
  memarg(op: number, offset: number): this {
    return this.simd(op, op === V.load32Splat ? 2 : 4, ...uleb(offset));
  }
  /** Encoded locals declaration followed by the code and `end`. */
  encode(): number[] {
    const groups: [number, number][] = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t]), ...this.prologue, ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A module importing env.mem and exporting `run` with `params` float32 parameters. */
export function moduleBytes(params: number, body: Body): Uint8Array<ArrayBuffer> {
  const type = section(1, [1, 0x60, ...uleb(params), ...new Array<number>(params).fill(F32), 0]);
  const imports = section(2, [1, 3, ...[...'env'].map((c) => c.charCodeAt(0)), 3, ...[...'mem'].map((c) => c.charCodeAt(0)), 0x02, 0x00, 1]);
  const funcs = section(3, [1, 0]);
  const exports = section(7, [1, 3, ...[...'run'].map((c) => c.charCodeAt(0)), 0x00, 0]);
  const code = section(10, [1, ...body.encode()]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...funcs, ...exports, ...code]);
}

/**
 * A module importing the CPU engine's shared memory as env.mem and exporting `task(t: i32)`
 * (see JobModule in cpu/wasm/engine.ts): the form a chain takes to run across worker threads.
 */
export function taskModuleBytes(body: Body): Uint8Array<ArrayBuffer> {
  const name = (t: string): number[] => [t.length, ...[...t].map((c) => c.charCodeAt(0))];
  const type = section(1, [1, 0x60, 1, I32, 0]);
  const imports = section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x03, ...uleb(1), ...uleb(ENGINE_MAX_PAGES)]);
  const funcs = section(3, [1, 0]);
  const exports = section(7, [1, ...name('task'), 0x00, 0]);
  const code = section(10, [1, ...body.encode()]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...funcs, ...exports, ...code]);
}

// ------------------------------------------------------------------ the fused ops

interface F32Spec {
  readonly arity: number;
  readonly lanes: 'f32';
  /** Pushes the op over operands in locals (f32x4 each). */
  readonly emit: (b: Body, x: number[], tmp: () => number) => void;
}
interface F64Spec {
  readonly arity: number;
  readonly lanes: 'f64';
  /**
   * Sets out[j] to the op over the operands xs[j] (f64x2 locals), for every lane set j. The
   * sets are independent: their instructions are interleaved so that the engine overlaps
   * their latencies. `path` as emitExp's.
   */
  readonly emit: (b: Body, xs: number[][], out: number[], tmp: () => number, path?: ExpPath) => void;
  /** For ops built on exp: exp's argument is the first operand (1) or its negation (-1). */
  readonly expArg?: 1 | -1;
}
type OpSpec = F32Spec | F64Spec;

const f32Binary = (op: number): F32Spec => ({ arity: 2, lanes: 'f32', emit: (b, [x, y]) => { b.get(x!).get(y!).simd(op); } });
/** x OP y ? x : y, as a select on the comparison's mask. */
const f32Select = (cmp: number): F32Spec => ({ arity: 2, lanes: 'f32', emit: (b, [x, y]) => { b.get(x!).get(y!).get(x!).get(y!).simd(cmp).simd(V.bitselect); } });

// fdlibm's exp (as V8's Math.exp), branch-free on two lanes.
const LN2_HI = 6.93147180369123816490e-01;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700e+00;
const EXP_P = [1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05, -1.65339022054652515390e-06, 4.13813679705723846039e-08];
const O_THRESHOLD = 7.09782712893383973096e+02;
const U_THRESHOLD = -7.45133219101941108420e+02;
const TINY = 2 ** -28;

/** Below this |x| no lane takes the fast path (its scaling is exact down to k = -1021). */
const FAST_LIMIT = 700;
const SIGN = -0x8000000000000000;
/** The largest double whose high word is 0.5 ln2's (0x3fd62e42): fdlibm's k = 0 bound. */
const HALF_LN2_HIGH_WORD = new Float64Array(new BigUint64Array([0x3fd62e42ffffffffn]).buffer)[0]!;
/** 1.5 * 2^52: k + MAGIC holds k (two's complement) in its low mantissa bits. */
const MAGIC = 6755399441055744;

/** Emits f(j) for every lane set j. */
function each(n: number, f: (j: number) => void): void {
  for (let j = 0; j < n; j++) f(j);
}

/**
 * Which code emitExp writes. Two paths give the same bits: where every lane is ordinary
 * (2^-28 <= |x| <= 700 and x != 1) the fast one scales the result by adding k to the exponent
 * field (exact, as the result stays normal); the general one also handles tiny arguments, 1,
 * overflow, underflow (one rounding, as fdlibm's) and NaN, and gives the same bits as the fast
 * one on ordinary lanes.
 * - undefined or a function: both, chosen by a branch on the fast path's condition (the
 *   function pushes it as an i32, computed on the float32 values the arguments were promoted
 *   from: the same test, half the lanes' instructions);
 * - 'fast': the fast path alone (right only where the caller checked the condition, see
 *   f32FastTest; it reruns the lanes where it failed with 'general');
 * - 'general': the general path alone (right on every lane).
 */
export type ExpPath = (() => void) | 'fast' | 'general' | undefined;

/**
 * Sets out[j] = exp(xs[j]) (f64x2 locals; out may not alias xs) on `path` (see ExpPath).
 * With `float32Args` the arguments are float32 values (promoted), which lets the reduction
 * skip fdlibm's k = 0 bound test: no float32 lies between 0.5 ln2 and that bound.
 */
function emitExp(b: Body, xs: number[], out: number[], tmp: () => number, float32Args: boolean, path?: ExpPath): void {
  const n = xs.length;
  const x = (j: number): number => xs[j]!;
  const k = xs.map(() => tmp());
  const hi = xs.map(() => tmp());
  const lo = xs.map(() => tmp());
  const r = xs.map(() => tmp());
  const t = xs.map(() => tmp());
  const c = xs.map(() => tmp());
  const branch = path !== 'fast' && path !== 'general';
  // Lanes on the fast path: TINY <= |x| <= FAST_LIMIT and x != 1 (NaN fails every test).
  if (!branch) {
    // the caller tests (or needs no test)
  } else if (path !== undefined) path();
  else {
    each(n, (j) => {
      b.get(x(j)).simd(V.f64Abs).set(k[j]!);
      b.get(k[j]!).v128f64(TINY).simd(V.f64Ge).get(k[j]!).v128f64(FAST_LIMIT).simd(V.f64Le).simd(V.and);
      b.get(x(j)).v128f64(1).simd(V.f64Ne).simd(V.and);
      if (j > 0) b.simd(V.and);
    });
    b.simd(V.i64AllTrue);
  }
  const core = (): void => {
    // k = trunc(x / ln2 + (x < 0 ? -0.5 : 0.5)), the sign copied from x (x = -0 and NaN
    // are overridden on the general path)
    // and k = 0 where fdlibm skips the reduction: |x| <= 0.5 ln2 by the high word alone
    // (for float32 arguments the formula gives 0 there already).
    each(n, (j) => {
      b.get(x(j)).v128f64(INV_LN2).simd(V.f64Mul).get(x(j)).v128i64(SIGN).simd(V.and).v128f64(0.5).simd(V.or).simd(V.f64Add).simd(V.f64Trunc);
      if (!float32Args) b.get(x(j)).simd(V.f64Abs).v128f64(HALF_LN2_HIGH_WORD).simd(V.f64Le).simd(V.andnot);
      b.set(k[j]!);
    });
    each(n, (j) => { b.get(x(j)).get(k[j]!).v128f64(LN2_HI).simd(V.f64Mul).simd(V.f64Sub).set(hi[j]!); });
    each(n, (j) => { b.get(k[j]!).v128f64(LN2_LO).simd(V.f64Mul).set(lo[j]!); });
    each(n, (j) => { b.get(hi[j]!).get(lo[j]!).simd(V.f64Sub).set(r[j]!); });
    each(n, (j) => { b.get(r[j]!).get(r[j]!).simd(V.f64Mul).set(t[j]!); });
    // c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5)))), Horner step by step
    each(n, (j) => { b.get(t[j]!).v128f64(EXP_P[4]!).simd(V.f64Mul).set(c[j]!); });
    for (let i = 3; i >= 0; i--) {
      each(n, (j) => { b.get(t[j]!).v128f64(EXP_P[i]!).get(c[j]!).simd(V.f64Add).simd(V.f64Mul).set(c[j]!); });
    }
    each(n, (j) => { b.get(r[j]!).get(c[j]!).simd(V.f64Sub).set(c[j]!); });
    // y = 1 - ((lo - (r * c) / (2 - c)) - hi)
    each(n, (j) => {
      b.v128f64(1).get(lo[j]!).get(r[j]!).get(c[j]!).simd(V.f64Mul).v128f64(2).get(c[j]!).simd(V.f64Sub).simd(V.f64Div).simd(V.f64Sub).get(hi[j]!).simd(V.f64Sub).simd(V.f64Sub).set(out[j]!);
    });
  };
  if (path === 'fast' || branch) {
    if (branch) b.op(0x04, 0x40); // if
    core();
    // y * 2^k: k added to the exponent field.
    each(n, (j) => { b.get(out[j]!).get(k[j]!).v128f64(MAGIC).simd(V.f64Add).i32(52).simd(V.i64Shl).simd(V.i64Add).set(out[j]!); });
    if (!branch) return;
    b.op(0x05); // else
  }
  core();
  each(n, (j) => {
    const y = out[j]!;
    // y * 2^k1 * 2^(k - k1), k1 = floor(k / 2) (in hi): one rounding, as fdlibm's scaling.
    b.get(k[j]!).v128f64(0.5).simd(V.f64Mul).simd(V.f64Floor).set(hi[j]!);
    const pow2 = (kLocal: number | null): void => {
      if (kLocal === null) b.get(k[j]!).get(hi[j]!).simd(V.f64Sub);
      else b.get(kLocal);
      b.simd(V.i32TruncF64).simd(V.i64Extend).v128i64(1023).simd(V.i64Add).i32(52).simd(V.i64Shl);
    };
    b.get(y);
    pow2(hi[j]!);
    b.simd(V.f64Mul);
    pow2(null);
    b.simd(V.f64Mul).set(y);
    // Special cases: tiny |x| gives 1 + x; past the thresholds Infinity and 0; NaN stays NaN.
    b.v128f64(1).get(x(j)).simd(V.f64Add).get(y).get(x(j)).simd(V.f64Abs).v128f64(TINY).simd(V.f64Lt).simd(V.bitselect).set(y);
    // V8 returns the double nearest e for exp(1) (fdlibm's steps give one ulp more).
    b.v128f64(Math.E).get(y).get(x(j)).v128f64(1).simd(V.f64Eq).simd(V.bitselect).set(y);
    b.v128f64(Infinity).get(y).get(x(j)).v128f64(O_THRESHOLD).simd(V.f64Gt).simd(V.bitselect).set(y);
    b.v128f64(0).get(y).get(x(j)).v128f64(U_THRESHOLD).simd(V.f64Lt).simd(V.bitselect).set(y);
    b.get(x(j)).get(x(j)).simd(V.f64Add).get(y).get(x(j)).get(x(j)).simd(V.f64Ne).simd(V.bitselect).set(y);
  });
  if (branch) b.op(0x0b); // end
}

/**
 * Pushes the fast path's condition of exp over float32 vectors `xs` (negated first when
 * `negate`): every lane has TINY <= |x| <= FAST_LIMIT or x = ±0, and an argument other than 1.
 * (At ±0 the fast path's steps give exactly 1, as fdlibm's 1 + x does: k = 0, r = 0, c = 0,
 * and the exponent field gains 0; so zeros, common in padded or rectified inputs, do not send
 * their step to the general path.)
 */
function f32FastTest(b: Body, xs: readonly number[], negate: boolean, tmp: () => number): () => void {
  return () => {
    const ax = tmp();
    xs.forEach((x, u) => {
      b.get(x).simd(V.f32Abs).set(ax);
      b.get(ax).v128f32(TINY).simd(V.f32Ge).get(ax).v128f32(0).simd(V.f32Eq).simd(V.or);
      b.get(ax).v128f32(FAST_LIMIT).simd(V.f32Le).simd(V.and);
      b.get(x).v128f32(negate ? -1 : 1).simd(V.f32Ne).simd(V.and);
      if (u > 0) b.simd(V.and);
    });
    b.simd(V.i32AllTrue);
  };
}

/** Sets s[j] = 1 / (1 + exp(-xs[j])). */
function emitSigmoid(b: Body, xs: number[], s: number[], tmp: () => number, path?: ExpPath): void {
  const nx = xs.map(() => tmp());
  const e = xs.map(() => tmp());
  each(xs.length, (j) => { b.get(xs[j]!).simd(V.f64Neg).set(nx[j]!); });
  emitExp(b, nx, e, tmp, true, path);
  each(xs.length, (j) => { b.v128f64(1).v128f64(1).get(e[j]!).simd(V.f64Add).simd(V.f64Div).set(s[j]!); });
}

const OPS = new Map<string, OpSpec>([
  [BINARY_EXPR.add, f32Binary(V.f32Add)],
  [BINARY_EXPR.sub, f32Binary(V.f32Sub)],
  [BINARY_EXPR.mul, f32Binary(V.f32Mul)],
  [BINARY_EXPR.div, f32Binary(V.f32Div)],
  [BINARY_EXPR.maximum, f32Select(V.f32Ge)],
  [BINARY_EXPR.minimum, f32Select(V.f32Le)],
  [UNARY_EXPR.neg, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.get(x!).simd(V.f32Neg); } }],
  [UNARY_EXPR.abs, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.get(x!).simd(V.f32Abs); } }],
  [UNARY_EXPR.sqrt, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.get(x!).simd(V.f32Sqrt); } }],
  [UNARY_EXPR.square, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.get(x!).get(x!).simd(V.f32Mul); } }],
  [UNARY_EXPR.recip, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.v128f32(1).get(x!).simd(V.f32Div); } }],
  [UNARY_EXPR.copy, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.get(x!); } }],
  [UNARY_EXPR.relu, { arity: 1, lanes: 'f32', emit: (b, [x]) => { b.get(x!).v128f32(0).get(x!).v128f32(0).simd(V.f32Gt).simd(V.bitselect); } }],
  [UNARY_EXPR.exp, { arity: 1, lanes: 'f64', expArg: 1, emit: (b, xs, out, tmp, fast) => { emitExp(b, xs.map(([x]) => x!), out, tmp, true, fast); } }],
  [UNARY_EXPR.sigmoid, { arity: 1, lanes: 'f64', expArg: -1, emit: (b, xs, out, tmp, fast) => { emitSigmoid(b, xs.map(([x]) => x!), out, tmp, fast); } }],
  [UNARY_EXPR.rsqrt, { arity: 1, lanes: 'f64', emit: (b, xs, out) => {
    each(xs.length, (j) => { b.v128f64(1).get(xs[j]![0]!).simd(V.f64Sqrt).simd(V.f64Div).set(out[j]!); });
  } }],
  // x / (1 + exp(-x))
  [SILU_EXPR, { arity: 1, lanes: 'f64', expArg: -1, emit: (b, xs, out, tmp, fast) => {
    const nx = xs.map(() => tmp());
    const e = xs.map(() => tmp());
    each(xs.length, (j) => { b.get(xs[j]![0]!).simd(V.f64Neg).set(nx[j]!); });
    emitExp(b, nx, e, tmp, true, fast);
    each(xs.length, (j) => { b.get(xs[j]![0]!).v128f64(1).get(e[j]!).simd(V.f64Add).simd(V.f64Div).set(out[j]!); });
  } }],
  // g * s * (1 + v * (1 - s)), s = 1 / (1 + exp(-v))
  [SILU_BACKWARD_EXPR, { arity: 2, lanes: 'f64', expArg: -1, emit: (b, xs, out, tmp, fast) => {
    const s = xs.map(() => tmp());
    emitSigmoid(b, xs.map(([v]) => v!), s, tmp, fast);
    each(xs.length, (j) => {
      const [v, g] = xs[j]! as [number, number];
      b.get(g).get(s[j]!).simd(V.f64Mul).v128f64(1).get(v).v128f64(1).get(s[j]!).simd(V.f64Sub).simd(V.f64Mul).simd(V.f64Add).simd(V.f64Mul).set(out[j]!);
    });
  } }],
]);

const TRANSCENDENTAL = new Set([UNARY_EXPR.exp, UNARY_EXPR.sigmoid, SILU_EXPR, SILU_BACKWARD_EXPR]);

// ------------------------------------------------------------------ memory and module cache

const PAGE = 65536;
/** The largest footprint (bytes) a chain may copy into the kernels' memory. */
const MAX_BYTES = 1 << 26;
let memory: WebAssembly.Memory | null = null;
let f32View = new Float32Array(0);

/** @internal Grows the kernels' memory to `bytes` (created on first use); false where it cannot. */
export function ensureMemory(bytes: number): boolean {
  if (memory === null) {
    try {
      memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
    } catch {
      return false;
    }
  }
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / PAGE));
  if (f32View.buffer !== memory.buffer) f32View = new Float32Array(memory.buffer);
  return true;
}

let supported: boolean | undefined;
let transcendentalOk: boolean | undefined;

/** True where WebAssembly SIMD is available (a one-op module validates and runs). */
export function simdSupported(): boolean {
  if (supported !== undefined) return supported;
  supported = false;
  try {
    if (typeof WebAssembly !== 'object' || !ensureMemory(PAGE)) return supported;
    const b = new Body(0);
    b.i32(0).i32(0).simd(V.load, 4, 0).i32(16).simd(V.load, 4, 0).simd(V.f32Add).simd(V.store, 4, 0);
    const bytes = moduleBytes(0, b);
    supported = WebAssembly.validate(bytes);
  } catch {
    supported = false;
  }
  return supported;
}

const expRuns = new Map<boolean, () => void>();
/** Doubles per pass of expF64. */
const EXP_CHUNK = 1 << 14;

/**
 * @internal The generated exp over doubles (two lane sets interleaved, as the fused chains
 * run it), for the self-check and the tests that compare it with Math.exp. `float32Args`:
 * the variant of the fused chains, whose arguments are float32 values.
 */
export function expF64(values: ArrayLike<number>, float32Args = false): Float64Array {
  if (!simdSupported() || !ensureMemory(EXP_CHUNK * 16 + 64)) throw new Error('expF64: WebAssembly SIMD is not available');
  let expRun = expRuns.get(float32Args);
  if (expRun === undefined) {
    const b = new Body(0);
    const p = b.local(I32);
    const x = [b.local(V128), b.local(V128)];
    const y = [b.local(V128), b.local(V128)];
    const tmp = (): number => b.local(V128);
    b.op(0x03, 0x40); // loop over pairs of vectors: in at [0, 8n), out at [8n, 16n)
    b.get(p).simd(V.load, 4, 0).set(x[0]!).get(p).simd(V.load, 4, 16).set(x[1]!);
    emitExp(b, x, y, tmp, float32Args);
    b.get(p).get(y[0]!).simd(V.store, 4, ...uleb(EXP_CHUNK * 8)).get(p).get(y[1]!).simd(V.store, 4, ...uleb(EXP_CHUNK * 8 + 16));
    b.get(p).i32(32).op(0x6a).set(p);
    b.get(p).i32(EXP_CHUNK * 8).op(0x49, 0x0d, 0); // i32.lt_u, br_if 0
    b.op(0x0b);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(0, b)), { env: { mem: memory! } });
    expRun = instance.exports['run'] as () => void;
    expRuns.set(float32Args, expRun);
  }
  const out = new Float64Array(values.length);
  memoryKernels.last = null;
  const f64 = new Float64Array(memory!.buffer, 0, 2 * EXP_CHUNK);
  for (let at = 0; at < values.length; at += EXP_CHUNK) {
    const count = Math.min(EXP_CHUNK, values.length - at);
    f64.fill(0, 0, EXP_CHUNK);
    for (let i = 0; i < count; i++) f64[i] = values[at + i]!;
    expRun();
    out.set(f64.subarray(EXP_CHUNK, EXP_CHUNK + count), at);
  }
  return out;
}

/** Checks the generated exp against Math.exp on a spread of doubles (bit for bit). */
function expMatchesMathExp(): boolean {
  if (transcendentalOk !== undefined) return transcendentalOk;
  transcendentalOk = false;
  try {
    const probe: number[] = [0, -0, 1, -1, 0.5, 1e-9, -1e-9, 3.7252902984e-9, 0.34657359027997264, 1.0397207708399179, -1.0397207708399179,
      88.72, -87.33, -103.97, 700, 709.78, 709.7827128933839, 709.79, -745.13, -745.1332191019411, -746, -708.4, -720, 1e30, -1e30, Infinity, -Infinity, NaN];
    let s = 12345;
    for (let i = 0; i < 4000; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const u = s / 2 ** 32;
      probe.push(i % 4 === 0 ? (u - 0.5) * 1500 : i % 4 === 1 ? (u - 0.5) * 40 : i % 4 === 2 ? (u - 0.5) * 2 : Math.fround((u - 0.5) * 200));
    }
    const got = expF64(probe);
    const f32 = probe.map(Math.fround);
    const gotF32 = expF64(f32, true);
    transcendentalOk = probe.every((v, i) => Object.is(Math.exp(v), got[i])) && f32.every((v, i) => Object.is(Math.exp(v), gotF32[i]));
  } catch {
    transcendentalOk = false;
  }
  return transcendentalOk;
}

const moduleCache = new Map<string, (...u: number[]) => void>();
const MODULE_CACHE_LIMIT = 2048;

/** @internal The float32 view of the kernels' memory (replaced when the memory grows). */
export function memoryView(): Float32Array {
  return f32View;
}

/** @internal The `run` export of a module over the kernels' memory (cached by its bytes), or null. */
export function instantiate(bytes: Uint8Array<ArrayBuffer>): ((...u: number[]) => void) | null {
  let key = '';
  for (let i = 0; i < bytes.length; i += 4096) key += String.fromCharCode(...bytes.subarray(i, i + 4096));
  let run = moduleCache.get(key);
  if (run === undefined) {
    try {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory! } });
      run = instance.exports['run'] as (...u: number[]) => void;
    } catch {
      return null;
    }
    if (moduleCache.size >= MODULE_CACHE_LIMIT) moduleCache.clear();
    moduleCache.set(key, run);
  }
  return run;
}

// ------------------------------------------------------------------ residency
//
// The fused chains and small matmuls of a plan run on this file's memory, which nothing else
// writes: each copies its operands in, runs, and copies its results out to their storages.
// An operand that the kernel run just before left in the memory (as its result or its own
// operand) is read where it is instead of copied again. At plan time each kernel places its
// operands where the kernel built before it (the one before it in the plan's order) leaves
// them; at run time it skips the copy only when that kernel was the last one to run on the
// memory and saw the very same storage object there. Storage objects are not written after
// the call that makes them, except a plan's arena slots, which hold one value at a time and
// are only read while that value is live; so the same object is the same values, whichever
// plans run in between (another plan's kernel changes `last`, and its storages differ).
// A kernel that runs again with nothing else on the memory in between (the same plan replayed
// on the same tensors: a loop of calls) also finds its own operands where it copied them, and
// reads those in place whose storages the plan never rewrites (`kept`: the function's inputs,
// captured state and constants; not arena slots or dynamic scalars, refilled at every replay).

/**
 * @internal Whether a plan value's storage keeps its values for as long as it lives, across
 * replays (see the residency notes above): inputs, captured state and constants do; values the
 * plan computes (arena slots are rewritten at every replay) and dynamic scalars do not.
 */
export function kept(kind: string): boolean {
  return kind === 'input' || kind === 'state' || kind === 'fill' || kind === 'array' || kind === 'constant';
}

/** Elements [lo, hi) of value `id` (-1: a matmul's result, id unknown) lie at `at` + 4 * index. */
interface Region { readonly id: number; readonly at: number; readonly lo: number; readonly hi: number }

/**
 * @internal A kernel on this memory: what it leaves there, and the storages it last saw for each
 * (by `stamp`, so that a kernel keeps no storage alive).
 */
export class MemoryKernel {
  readonly seen: Float64Array;
  constructor(readonly left: readonly Region[]) {
    this.seen = new Float64Array(left.length);
  }
}

const stamps = new WeakMap<Storage, number>();
let nextStamp = 1;
/**
 * @internal A number for each storage object, never given to another one (0 for none): a field
 * of CPU storages (a WeakMap entry per new storage cost about a microsecond per compiled call),
 * a WeakMap for any other.
 */
export function stamp(s: Storage | undefined): number {
  if (s === undefined) return 0;
  if (s instanceof CpuStorage) {
    if (s.stamp === 0) s.stamp = nextStamp++;
    return s.stamp;
  }
  let v = stamps.get(s);
  if (v === undefined) {
    v = nextStamp++;
    stamps.set(s, v);
  }
  return v;
}

/**
 * @internal `last`: the kernel that last ran on the memory (null: unknown); `built`: the last one
 * made; `reads`: operand reads by kernels at run time, `inPlace` of them found in the memory.
 */
export const memoryKernels: { last: MemoryKernel | null; built: MemoryKernel | null; reads: number; inPlace: number } = { last: null, built: null, reads: 0, inPlace: 0 };

/** An operand to place: elements [lo, lo + span) of value `id`, `bytes` with slack. */
export interface Wanted { readonly id: number; readonly lo: number; readonly span: number; readonly bytes: number }

/** @internal Where a kernel's operands and results go, and which operands the kernel before leaves there. */
export interface Placement {
  /** The kernel built just before (the operands' source), or null. */
  readonly before: MemoryKernel | null;
  /** Byte address of each operand's element `lo`. */
  readonly ins: number[];
  /** For each operand, the index in `before.left` of the region it reads in place, or -1. */
  readonly reuse: Int32Array;
  readonly outs: number[];
  /** Regions of `before.left` that this kernel neither reads in place nor writes: still there after it. */
  readonly carried: readonly Region[];
  /** For each carried region, its index in `before.left`. */
  readonly carriedFrom: Int32Array;
  /** The memory needed (bytes). */
  readonly top: number;
}

/** Regions a kernel passes on from the kernels before it, at most. */
const MAX_CARRIED = 48;

/**
 * @internal Places a kernel's operands (`ins`) and results (`outs`, bytes each): an operand the
 * kernel built before leaves whole in the memory goes where it is (a matmul's result, whose id
 * is unknown, is taken for one operand of its size: the storage check at run time decides); the
 * rest go first-fit around those regions.
 */
export function place(ins: readonly Wanted[], outs: readonly number[]): Placement {
  const before = memoryKernels.built;
  const left = before?.left ?? [];
  const reuse = new Int32Array(ins.length).fill(-1);
  const at = new Array<number>(ins.length).fill(-1);
  const busy: [number, number][] = [];
  const guessed = new Set<number>();
  const slack = 256;
  ins.forEach((w, j) => {
    let r = left.findIndex((e) => e.id === w.id && e.id >= 0 && e.lo <= w.lo && w.lo + w.span <= e.hi);
    if (r < 0 && w.id >= 0 && !left.some((e) => e.id === w.id)) {
      r = left.findIndex((e, k) => e.id === -1 && !guessed.has(k) && e.lo === 0 && w.lo + w.span <= e.hi);
      if (r >= 0) guessed.add(r);
    }
    if (r < 0) return;
    const e = left[r]!;
    reuse[j] = r;
    at[j] = e.at + 4 * w.lo;
    busy.push([e.at + 4 * e.lo, e.at + 4 * e.hi + slack]);
  });
  const fit = (bytes: number): number => {
    let start = 0;
    for (;;) {
      const clash = busy.find(([lo, hi]) => start < hi && lo < start + bytes);
      if (clash === undefined) break;
      start = Math.ceil(clash[1] / 64) * 64;
    }
    busy.push([start, start + bytes]);
    return start;
  };
  const written: [number, number][] = [];
  ins.forEach((w, j) => {
    if (at[j]! < 0) {
      at[j] = fit(w.bytes);
      written.push(busy[busy.length - 1]!);
    }
  });
  const outAt = outs.map((bytes) => {
    const a = fit(bytes);
    written.push(busy[busy.length - 1]!);
    return a;
  });
  const top = busy.reduce((m, [, hi]) => Math.max(m, hi), 0) + ins.reduce((m, w) => Math.max(m, w.bytes), 0) + slack;
  // What the kernel before left that this one does not touch stays valid after it.
  const used = new Set(reuse);
  const carried: Region[] = [];
  const carriedFrom: number[] = [];
  left.forEach((e, k) => {
    if (used.has(k) || carried.length >= MAX_CARRIED) return;
    const lo = e.at + 4 * e.lo;
    const hi = e.at + 4 * e.hi;
    if (written.some(([a, b]) => lo < b && a < hi)) return;
    carried.push(e);
    carriedFrom.push(k);
  });
  return { before, ins: at, reuse, outs: outAt, carried, carriedFrom: Int32Array.from(carriedFrom), top };
}

/** @internal Passes on the storages of the regions a kernel carries (unknown, 0, unless `warm`). */
export function carry(self: MemoryKernel, own: number, before: MemoryKernel | null, from: Int32Array, warm: boolean): void {
  const seen = self.seen;
  for (let i = 0; i < from.length; i++) seen[own + i] = warm ? before!.seen[from[i]!]! : 0;
}

// ------------------------------------------------------------------ kernels

interface Stream {
  readonly id: number;
  readonly offset: number;
  /**
   * 'full': one element per iteration point; 'row': the same row every row; 'col': one value
   * per row; 'strided' (shapes of 3 or more axes): its own strides over the outer axes, and a
   * contiguous ('vector') or broadcast ('splat') last axis.
   */
  readonly kind: 'full' | 'row' | 'col' | 'strided';
  /** 'gather' ('strided' only): a last axis of stride `step` > 1, read lane by lane. */
  readonly inner: 'vector' | 'splat' | 'gather';
  /** Element stride of the last axis ('gather' only, else 1 or 0). */
  readonly step: number;
  /** Element strides over the outer axes ('strided' only). */
  readonly outer: readonly number[];
  readonly at: number;
  /** Elements copied in. */
  readonly span: number;
}

/** Smallest chain (elements) handed to WebAssembly: below it the copies cost more than they save. */
const MIN_ELEMENTS = 16;
/** Vectors per iteration of a contiguous chain. */
const UNROLL = 2;
/**
 * Contiguous chains from this many elements up run as jobs of the CPU engine (on its shared
 * memory), split into tasks of TASK_ELEMENTS that the worker threads share when there are
 * some. Each element is computed by the same instructions either way, so results do not
 * depend on the thread count.
 */
export let PARALLEL_MIN_ELEMENTS = chainJobMin();

/** @internal For benchmarks and tests: sets PARALLEL_MIN_ELEMENTS (Infinity: never) for chains planned from now on; returns the previous value. */
export function setChainJobMin(n: number): number {
  const before = PARALLEL_MIN_ELEMENTS;
  PARALLEL_MIN_ELEMENTS = n;
  return before;
}

/** 2^16, or the env TITANS_CPU_CHAIN_JOB_MIN (an integer >= 16; `off` keeps every chain on the calling thread, as before). */
function chainJobMin(): number {
  const raw = typeof process === 'undefined' ? undefined : process.env?.['TITANS_CPU_CHAIN_JOB_MIN'];
  if (raw === 'off') return Infinity;
  const n = Number.parseInt(raw ?? '', 10);
  return Number.isInteger(n) && n >= 16 ? n : 1 << 16;
}
/**
 * How chains with exp-based ops (exp, sigmoid, silu and its gradient) choose between exp's
 * fast and general paths: 'split' (the default) runs each step on the fast path and reruns it
 * on the general path where a lane was not ordinary; 'branch' branches around both paths op by
 * op (the form before; the same bits, slower).
 */
let chainExpPaths: 'split' | 'branch' = 'split';

/** @internal For tests and benchmarks: sets chainExpPaths for chains planned from now on; returns the previous value. */
export function setChainExpPaths(paths: 'split' | 'branch'): 'split' | 'branch' {
  const before = chainExpPaths;
  chainExpPaths = paths;
  return before;
}

/** Elements per task of such a job (a multiple of 4 * UNROLL). */
const TASK_ELEMENTS = 1 << 14;

/**
 * A WebAssembly SIMD kernel for a fused group over float32 values, or null where the group
 * has another dtype, an op or layout it does not handle, or WebAssembly SIMD is unavailable.
 * `dtypeOf` gives the dtype of a value read by the group.
 */
export function simdKernel(group: FusedGroup, dtypeOf: (id: number) => string, stable: (id: number) => boolean = () => false): FusedKernel | null {
  if (!cpuConfig().wasm || !simdSupported()) return null;
  const shape = group.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  if (size < MIN_ELEMENTS) return null;
  for (const op of group.ops) {
    const spec = OPS.get(op.expr);
    if (op.dtype !== 'float32' || spec === undefined || spec.arity !== op.operands.length) return null;
    if (TRANSCENDENTAL.has(op.expr) && !expMatchesMathExp()) return null;
    for (const o of op.operands) if ((o.kind === 'load' || o.kind === 'dynamic') && dtypeOf(o.id) !== 'float32') return null;
  }
  // Streams (non-uniform loads) and uniforms, as kernels.ts names them.
  const uniforms = new Map<string, { index: number; id: number; offset: number }>();
  const loads = new Map<string, { id: number; strides: readonly number[]; offset: number }>();
  for (const op of group.ops) {
    for (const o of op.operands) {
      if (o.kind === 'dynamic' || (o.kind === 'load' && o.strides.every((st, i) => st === 0 || shape[i] === 1))) {
        const key = `${o.id}@${o.offset}`;
        if (!uniforms.has(key)) uniforms.set(key, { index: uniforms.size, id: o.id, offset: o.offset });
      } else if (o.kind === 'load') {
        const key = `${o.id}:${o.strides.join(',')}:${o.offset}`;
        if (!loads.has(key)) loads.set(key, { id: o.id, strides: o.strides, offset: o.offset });
      }
    }
  }
  const loadList = [...loads.values()];
  const collapsed = collapse(shape, [contiguousStrides(shape), ...loadList.map((l) => l.strides)]);
  let c: { shape: readonly number[]; strides: readonly (readonly number[])[] } = collapsed;
  let rows = 1;
  let cols = 0;
  let kinds: Stream['kind'][] = [];
  // The 1-D and 2-D forms (contiguous; broadcast rows or columns of a row length that is a
  // multiple of 4); any other layout runs as 'strided' (below).
  let general = false;
  if (c.shape.length === 1) {
    rows = 1;
    cols = c.shape[0]!;
    for (let j = 0; j < loadList.length; j++) {
      if (c.strides[j + 1]![0] !== 1) general = true;
      kinds.push('full');
    }
  } else if (c.shape.length === 2) {
    [rows, cols] = c.shape as [number, number];
    if (cols % 4 !== 0) general = true;
    for (let j = 0; j < loadList.length; j++) {
      const [so, si] = c.strides[j + 1]! as [number, number];
      if (so === cols && si === 1) kinds.push('full');
      else if (so === 0 && si === 1) kinds.push('row');
      else if (so === 1 && si === 0) kinds.push('col');
      else general = true;
    }
  } else {
    general = true;
  }
  if (general) {
    // Outer axes walked by per-stream pointers; the last axis read as vectors (stride 1),
    // splats (stride 0) or lane by lane (any other positive stride). A 1-D shape is one row.
    if (c.shape.length === 1) c = { shape: [1, c.shape[0]!], strides: c.strides.map((st) => [0, st[0]!]) };
    rows = c.shape.slice(0, -1).reduce((x, y) => x * y, 1);
    cols = c.shape[c.shape.length - 1]!;
    kinds = [];
    for (let j = 0; j < loadList.length; j++) {
      if (c.strides[j + 1]!.some((x) => x < 0)) return null;
      kinds.push('strided');
    }
  }
  const nd = c.shape.length;
  const vecBytes = Math.ceil(size / 4) * 16;
  const align = (n: number): number => Math.ceil(n / 64) * 64;
  // A large contiguous chain runs as a job on the engine's shared memory: its uniforms at
  // ARENA, its streams and outputs after them.
  // (Not the general form: a row of n % 4 elements ends in a vector that spills into the next
  // row, which only the same thread may write later.)
  const engine = !general && size >= PARALLEL_MIN_ELEMENTS ? getEngine() : null;
  const job = engine !== null && engine.shared;
  const base = job ? ARENA + align(Math.max(16, 4 * uniforms.size)) : 0;
  let top = base;
  const streams: Stream[] = [];
  const wanted: Wanted[] = [];
  for (let j = 0; j < loadList.length; j++) {
    const l = loadList[j]!;
    const kind = kinds[j]!;
    const st = c.strides[j + 1]!;
    let span = kind === 'full' ? size : kind === 'row' ? cols : rows;
    const si = st[nd - 1]!;
    if (kind === 'strided') {
      span = 1 + st.reduce((acc, x, d) => acc + x * (c.shape[d]! - 1), 0);
      if (span > 4 * size + 4096) return null;
    }
    const inner = kind === 'col' || (kind === 'strided' && si === 0) ? 'splat' : kind === 'strided' && si !== 1 ? 'gather' : 'vector';
    const at = top;
    // Slack after the span: the last vector of a row reads up to 3 elements past its end
    // (lanes whose results are never kept), `si` apart when gathered.
    const bytes = align(Math.max(span * 4, 16) + 16 * UNROLL + (inner === 'gather' ? 12 * si : 0));
    top += bytes;
    wanted.push({ id: l.id, lo: l.offset, span, bytes });
    streams.push({ id: l.id, offset: l.offset, kind, inner, step: inner === 'gather' ? si : inner === 'splat' ? 0 : 1, outer: kind === 'strided' ? st.slice(0, -1) : [], at, span });
  }
  let outAt = group.outputs.map(() => {
    const at = top;
    top += align(vecBytes + 16 * UNROLL);
    return at;
  });
  // On the kernels' own memory, streams still there from the kernel before are read in place.
  let placed: Placement | null = null;
  if (!job) {
    placed = place(wanted, outAt.map(() => align(vecBytes + 16 * UNROLL)));
    placed.ins.forEach((at, j) => { streams[j] = { ...streams[j]!, at }; });
    outAt = placed.outs;
    top = placed.top;
  }
  if (top - base > MAX_BYTES || !(job ? reserve(engine, top - ARENA) : ensureMemory(top))) return null;

  // ---- the function: params are the uniforms (float32), or for a job the task index (the
  // uniforms then wait in memory at ARENA)
  const uniformList = [...uniforms.values()];
  const b = new Body(job ? 1 : uniformList.length);
  const p = b.local(I32); // byte offset of the vector in full streams and outputs
  const q = b.local(I32); // byte offset within the row
  const rb = b.local(I32); // row index * 4
  const end = b.local(I32); // a job's task: where its range ends (bytes)
  const pr = b.local(I32); // byte offset of the row in full streams and outputs (general form)
  const ga = b.local(I32); // address of a gathered vector's first lane
  const splats = uniformList.map(() => b.local(V128));
  uniformList.forEach((_, j) => {
    if (job) b.i32(0).memarg(V.load32Splat, ARENA + 4 * j).set(splats[j]!);
    else b.get(j).simd(V.f32Splat).set(splats[j]!);
  });
  const full = !general && rows === 1;
  // Contiguous chains run UNROLL vectors per iteration (their instructions interleaved, so
  // the long f64 sequences of two vectors overlap); an odd last vector reads and writes the
  // slack after each buffer.
  const unroll = full && size > 4 ? UNROLL : 1;
  const streamLocals = Array.from({ length: unroll }, () => streams.map(() => b.local(V128)));
  let streamLocal = streamLocals[0]!;
  const literalLocals = new Map<string, number>();
  const litKey = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
  const regsOf = Array.from({ length: unroll }, () => new Map<number, number>()); // value id -> v128 local (f32x4)
  let regs = regsOf[0]!;
  // Temporaries of f64 code are reused op to op (locals are cheap, but keep the count down).
  const pool: number[] = [];
  let poolAt = 0;
  const tmp = (): number => {
    if (poolAt < pool.length) return pool[poolAt++]!;
    const t = b.local(V128);
    pool.push(t);
    poolAt++;
    return t;
  };
  // Literals as splatted locals, set before the loops.
  for (const op of group.ops) {
    for (const o of op.operands) {
      if (o.kind === 'literal' && !literalLocals.has(litKey(o.value))) {
        const l = b.local(V128);
        literalLocals.set(litKey(o.value), l);
        b.v128f32(o.value).set(l);
      }
    }
  }
  const opLocalsOf = Array.from({ length: unroll }, () => group.ops.map(() => b.local(V128)));
  const lit = (v: number): number => literalLocals.get(litKey(v))!;
  const strided = general;
  // Pointers of the streams at each outer axis (strided shapes), and the axis counters.
  const ptr = strided ? c.shape.slice(0, -1).map(() => streams.map(() => b.local(I32))) : [];
  const counters = strided ? c.shape.slice(0, -1).map(() => b.local(I32)) : [];
  // loops: outer over rows (when 2-D) or over the outer axes (strided), inner over vectors
  // A job's rows per task (2-D: broadcast rows or columns), and its task count.
  const taskRows = Math.max(1, Math.ceil(TASK_ELEMENTS / cols));
  const tasks = full ? Math.ceil(size / TASK_ELEMENTS) : Math.ceil(rows / taskRows);
  if (job && full) {
    // task t: bytes [t * TASK, min((t + 1) * TASK, vecBytes))
    const taskBytes = TASK_ELEMENTS * 4;
    b.get(0).i32(taskBytes).op(0x6c).set(p); // i32.mul
    b.get(p).i32(taskBytes).op(0x6a).set(end);
    b.get(end).i32(vecBytes).get(end).i32(vecBytes).op(0x49).op(0x1b).set(end); // select(end, vecBytes, end < vecBytes)
  } else if (job) {
    // task t: rows [t * taskRows, min((t + 1) * taskRows, rows)); p starts at its first row
    b.get(0).i32(taskRows * cols * 4).op(0x6c).set(p);
  } else {
    b.i32(0).set(p).i32(0).set(pr);
  }
  if (strided) {
    streams.forEach((st, j) => { b.i32(st.at).set(ptr[0]![j]!); });
    for (let d = 0; d < nd - 1; d++) {
      if (d > 0) streams.forEach((_, j) => { b.get(ptr[d - 1]![j]!).set(ptr[d]![j]!); });
      b.i32(0).set(counters[d]!);
      b.op(0x03, 0x40); // axis d
    }
    streams.forEach((st, j) => { if (st.inner === 'splat') b.get(ptr[nd - 2]![j]!).memarg(V.load32Splat, 0).set(streamLocal[j]!); });
    // Rows start cols * 4 bytes apart in the outputs, whatever the vectors of the last row wrote past it.
    b.i32(0).set(q).get(pr).set(p);
  } else if (!full) {
    if (job) {
      b.get(0).i32(taskRows * 4).op(0x6c).set(rb);
      b.get(rb).i32(taskRows * 4).op(0x6a).set(end);
      b.get(end).i32(rows * 4).get(end).i32(rows * 4).op(0x49).op(0x1b).set(end); // select(end, rows * 4, end < rows * 4)
    } else {
      b.i32(0).set(rb);
    }
    b.op(0x03, 0x40); // row loop
    streams.forEach((s, j) => { if (s.kind === 'col') b.get(rb).memarg(V.load32Splat, s.at).set(streamLocal[j]!); });
    b.i32(0).set(q);
  }
  const operandLocal = (o: FusedGroup['ops'][number]['operands'][number]): number => {
    switch (o.kind) {
      case 'register': return regs.get(o.id)!;
      case 'literal': return lit(o.value);
      case 'dynamic': return splats[uniforms.get(`${o.id}@${o.offset}`)!.index]!;
      case 'load': {
        const u = uniforms.get(`${o.id}@${o.offset}`);
        if (u !== undefined && (o.strides.every((st, i) => st === 0 || shape[i] === 1))) return splats[u.index]!;
        const key = `${o.id}:${o.strides.join(',')}:${o.offset}`;
        return streamLocal[loadList.findIndex((l) => `${l.id}:${l.strides.join(',')}:${l.offset}` === key)]!;
      }
    }
  };
  // The fused body over one step's vectors: loads, ops, stores. A chain with exp-based ops runs
  // their fast path branch-free ('fast'), tests that every lane was ordinary (`ok`), and reruns
  // the step on the general path ('general', same bits) where one was not: out of the way of
  // the common case, whose values then stay in registers ('branch', a branch per op around both
  // paths, spilled them around the join: 1.4x slower).
  const transcendental = group.ops.some((op) => OPS.get(op.expr)!.lanes === 'f64' && (OPS.get(op.expr) as F64Spec).expArg !== undefined);
  const ok = b.local(I32);
  let tested = false;
  const emitBody = (mode: 'fast' | 'general' | 'branch'): void => {
    for (let u = 0; u < unroll; u++) {
      streams.forEach((s, j) => {
        if (s.inner === 'splat') return;
        if (s.inner === 'gather') {
          // Lane l of the vector at byte q of the row: element (q / 4 + l) * step.
          b.get(ptr[nd - 2]![j]!).get(q).i32(s.step).op(0x6c).op(0x6a).set(ga);
          b.get(ga).memarg(V.load32Splat, 0);
          for (let lane = 1; lane < 4; lane++) {
            b.set(streamLocals[u]![j]!).get(ga).get(streamLocals[u]![j]!).simd(V.load32Lane, 2, ...uleb(lane * s.step * 4), lane);
          }
          b.set(streamLocals[u]![j]!);
        } else if (s.kind === 'strided') b.get(ptr[nd - 2]![j]!).get(q).op(0x6a).memarg(V.load, 0).set(streamLocals[u]![j]!);
        else b.get(s.kind === 'full' ? p : q).memarg(V.load, s.at + 16 * u).set(streamLocals[u]![j]!);
      });
    }
    group.ops.forEach((op, i) => {
      const spec = OPS.get(op.expr)!;
      const insOf = Array.from({ length: unroll }, (_, u) => {
        streamLocal = streamLocals[u]!;
        regs = regsOf[u]!;
        return op.operands.map(operandLocal);
      });
      poolAt = 0;
      if (spec.lanes === 'f32') {
        for (let u = 0; u < unroll; u++) {
          spec.emit(b, insOf[u]!, tmp);
          b.set(opLocalsOf[u]![i]!);
        }
      } else {
        // Two halves on f64x2 per vector, each from the float32 lanes promoted exactly, demoted
        // at the end; the halves of all the vectors are the op's interleaved lane sets.
        const sets: number[][] = [];
        for (const ins of insOf) {
          const lo = ins.map(() => tmp());
          const hi = ins.map(() => tmp());
          ins.forEach((x, j) => {
            b.get(x).simd(V.promote).set(lo[j]!);
            b.get(x).get(x).simd(V.shuffle, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15).simd(V.promote).set(hi[j]!);
          });
          sets.push(lo, hi);
        }
        const res = sets.map(() => tmp());
        let path: ExpPath = mode === 'branch' ? undefined : mode;
        if (spec.expArg !== undefined && mode !== 'general') {
          const test = f32FastTest(b, insOf.map((ins) => ins[0]!), spec.expArg < 0, tmp);
          if (mode === 'fast') {
            // This op's lanes all ordinary, and every op's before it: `ok` stays 1.
            test();
            if (tested) b.get(ok).op(0x71); // i32.and
            b.set(ok);
            tested = true;
          } else {
            path = test;
          }
        }
        spec.emit(b, sets, res, tmp, path);
        for (let u = 0; u < unroll; u++) {
          b.get(res[2 * u]!).simd(V.demote).get(res[2 * u + 1]!).simd(V.demote).simd(V.shuffle, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
          b.set(opLocalsOf[u]![i]!);
        }
      }
      for (let u = 0; u < unroll; u++) regsOf[u]!.set(op.id, opLocalsOf[u]![i]!);
    });
    for (let u = 0; u < unroll; u++) group.outputs.forEach((id, j) => { b.get(p).get(regsOf[u]!.get(id)!).memarg(V.store, outAt[j]! + 16 * u); });
  };
  b.op(0x03, 0x40); // vector loop
  if (transcendental && chainExpPaths === 'split') {
    emitBody('fast');
    b.get(ok).op(0x45).op(0x04, 0x40); // i32.eqz, if
    emitBody('general');
    b.op(0x0b);
  } else {
    emitBody(transcendental ? 'branch' : 'general');
  }
  b.get(p).i32(16 * unroll).op(0x6a).set(p);
  if (strided) {
    b.get(q).i32(16).op(0x6a).set(q);
    b.get(q).i32(cols * 4).op(0x49, 0x0d, 0);
    b.op(0x0b);
    b.get(pr).i32(cols * 4).op(0x6a).set(pr);
    for (let d = nd - 2; d >= 0; d--) {
      streams.forEach((st, j) => {
        if (st.outer[d] !== 0) b.get(ptr[d]![j]!).i32(st.outer[d]! * 4).op(0x6a).set(ptr[d]![j]!);
      });
      b.get(counters[d]!).i32(1).op(0x6a).set(counters[d]!);
      b.get(counters[d]!).i32(c.shape[d]!).op(0x49, 0x0d, 0);
      b.op(0x0b);
    }
  } else if (full) {
    if (job) b.get(p).get(end);
    else b.get(p).i32(vecBytes);
    b.op(0x49, 0x0d, 0); // lt_u, br_if 0
    b.op(0x0b);
  } else {
    b.get(q).i32(16).op(0x6a).set(q);
    b.get(q).i32(cols * 4).op(0x49, 0x0d, 0);
    b.op(0x0b);
    b.get(rb).i32(4).op(0x6a).set(rb);
    if (job) b.get(rb).get(end);
    else b.get(rb).i32(rows * 4);
    b.op(0x49, 0x0d, 0);
    b.op(0x0b);
  }
  if (job) {
    // Cached by its bytes in the engine, which bounds how many modules it and its workers keep.
    const jm = jobModule(engine, taskModuleBytes(b));
    if (jm === null) return null;
    return bindJobKernel(engine, jm, tasks, streams, uniformList, group.outputs, outAt, size);
  }
  const run = instantiate(moduleBytes(uniformList.length, b));
  if (run === null) return null;
  return bindKernel(run, streams, uniformList, group.outputs, outAt, size, placed!, stable);
}

/** The index tables a bound kernel reads its storages through (plan-time, flat typed arrays). */
function bindingTables(streams: readonly Stream[], uniforms: readonly { id: number; offset: number }[], outputs: readonly number[]) {
  return {
    ns: streams.length,
    sIds: Int32Array.from(streams.map((s) => s.id)),
    sOff: Int32Array.from(streams.map((s) => s.offset)),
    sSpan: Int32Array.from(streams.map((s) => s.span)),
    sAt: Int32Array.from(streams.map((s) => s.at >> 2)),
    nu: uniforms.length,
    uIds: Int32Array.from(uniforms.map((u) => u.id)),
    uOff: Int32Array.from(uniforms.map((u) => u.offset)),
    oIds: Int32Array.from(outputs),
  };
}

/** bindKernel for a chain that runs as a job of `tasks` tasks on the engine's memory. */
function bindJobKernel(
  engine: Engine, jm: JobModule, tasks: number, streams: readonly Stream[], uniforms: readonly { id: number; offset: number }[],
  outputs: readonly number[], outAt: readonly number[], size: number,
): FusedKernel {
  const { ns, sIds, sOff, sSpan, sAt, nu, uIds, uOff, oIds } = bindingTables(streams, uniforms, outputs);
  const oAt = Int32Array.from(outAt.map((at) => at >> 2));
  const no = outputs.length;
  const uAt = ARENA >> 2;
  return (S: readonly (Storage | undefined)[]): void => {
    const mem = engine.f32; // (replaced when the memory grows)
    for (let j = 0; j < ns; j++) {
      const data = (S[sIds[j]!] as unknown as { data: Float32Array }).data;
      const off = sOff[j]!;
      const span = sSpan[j]!;
      mem.set(off === 0 && span === data.length ? data : data.subarray(off, off + span), sAt[j]!);
    }
    for (let j = 0; j < nu; j++) mem[uAt + j] = (S[uIds[j]!] as unknown as { data: Float32Array }).data[uOff[j]!]!;
    runJob(engine, tasks, true, null, jm);
    for (let j = 0; j < no; j++) (S[oIds[j]!] as unknown as { data: Float32Array }).data.set(mem.subarray(oAt[j]!, oAt[j]! + size));
  };
}

function bindKernel(
  run: (...u: number[]) => void, streams: readonly Stream[], uniforms: readonly { id: number; offset: number }[],
  outputs: readonly number[], outAt: readonly number[], size: number, placed: Placement, stable: (id: number) => boolean,
): FusedKernel {
  const { ns, sIds, sOff, sSpan, sAt, nu, uIds, uOff, oIds } = bindingTables(streams, uniforms, outputs);
  // Streams whose storages nothing rewrites (see `kept`): still here after this kernel's own last run.
  const keeps = Uint8Array.from(streams, (st) => (stable(st.id) ? 1 : 0));
  const no = outputs.length;
  let viewsFor: ArrayBuffer | null = null;
  let outViews: Float32Array[] = [];
  const args: number[] = new Array<number>(nu).fill(0);
  // What this kernel leaves in the memory: its outputs, then its streams (as `seen` lists them).
  const self = new MemoryKernel([
    ...outputs.map((id, j) => ({ id, at: outAt[j]!, lo: 0, hi: size })),
    ...streams.map((st) => ({ id: st.id, at: st.at - 4 * st.offset, lo: st.offset, hi: st.offset + st.span })),
    ...placed.carried,
  ]);
  const { before, reuse, carriedFrom } = placed;
  const own = no + ns;
  memoryKernels.built = self;
  return (S: readonly (Storage | undefined)[]): void => {
    // Streams left by the kernel that ran just before, on the same storages, are there already.
    const warm = before !== null && memoryKernels.last === before;
    const again = memoryKernels.last === self;
    memoryKernels.last = null;
    carry(self, own, before, carriedFrom, warm);
    const mem = f32View;
    if (viewsFor !== mem.buffer) {
      viewsFor = mem.buffer as ArrayBuffer;
      outViews = Array.from(outAt, (at) => new Float32Array(viewsFor!, at, size));
    }
    const seen = self.seen;
    memoryKernels.reads += ns;
    for (let j = 0; j < ns; j++) {
      const storage = S[sIds[j]!];
      const id = stamp(storage);
      const r = reuse[j]!;
      if ((warm && r >= 0 && before.seen[r] === id) || (again && keeps[j] === 1 && seen[no + j] === id)) {
        seen[no + j] = id;
        memoryKernels.inPlace++;
        continue;
      }
      seen[no + j] = id;
      const data = (storage as unknown as { data: Float32Array }).data;
      const off = sOff[j]!;
      const span = sSpan[j]!;
      mem.set(off === 0 && span === data.length ? data : data.subarray(off, off + span), sAt[j]!);
    }
    for (let j = 0; j < nu; j++) args[j] = (S[uIds[j]!] as unknown as { data: Float32Array }).data[uOff[j]!]!;
    if (nu === 0) run();
    else if (nu === 1) run(args[0]!);
    else if (nu === 2) run(args[0]!, args[1]!);
    else run(...args);
    for (let j = 0; j < no; j++) {
      const storage = S[oIds[j]!];
      seen[j] = stamp(storage);
      (storage as unknown as { data: Float32Array }).data.set(outViews[j]!);
    }
    memoryKernels.last = self;
  };
}
