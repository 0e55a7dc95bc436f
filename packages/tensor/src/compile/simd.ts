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
// Anything else (other ops, other dtypes, layouts beyond contiguous / broadcast rows and
// columns) returns null and the JavaScript kernel runs.
import type { Storage } from '../backend.js';
import { BINARY_EXPR, UNARY_EXPR } from '../cpu/backend.js';
import { collapse } from '../cpu/collapse.js';
import { cpuConfig } from '../cpu/wasm/config.js';
import { contiguousStrides } from '../shape.js';
import { SILU_BACKWARD_EXPR, SILU_EXPR, type FusedGroup, type FusedKernel } from './kernels.js';

// ------------------------------------------------------------------ binary encoder

const SIMD = 0xfd;
/** SIMD opcodes (after the 0xfd prefix). */
export const V = {
  load: 0x00, load32Splat: 0x09, store: 0x0b, const: 0x0c, shuffle: 0x0d, f32Splat: 0x13, f64Splat: 0x14,
  f32Eq: 0x41, f32Ne: 0x42, f32Lt: 0x43, f32Gt: 0x44, f32Le: 0x45, f32Ge: 0x46,
  f64Eq: 0x47, f64Ne: 0x48, f64Lt: 0x49, f64Gt: 0x4a, f64Le: 0x4b, f64Ge: 0x4c,
  and: 0x4e, or: 0x50, bitselect: 0x52, demote: 0x5e, promote: 0x5f, f64Floor: 0x75, f64Trunc: 0x7a,
  i64Extend: 0xc7, i64Shl: 0xcb, i64Add: 0xce,
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
    return this.simd(V.const, ...b);
  }
  v128f64(v: number): this {
    const b = new Uint8Array(16);
    new Float64Array(b.buffer).fill(v);
    return this.simd(V.const, ...b);
  }
  v128i64(v: number): this {
    const b = new Uint8Array(16);
    new BigInt64Array(b.buffer).fill(BigInt(v));
    return this.simd(V.const, ...b);
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
    const body = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t]), ...this.code, 0x0b];
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

// ------------------------------------------------------------------ the fused ops

type Lanes = 'f32' | 'f64';
interface OpSpec {
  readonly arity: number;
  readonly lanes: Lanes;
  /** Emits the op over operands already pushed as locals (f32x4 or f64x2 each). */
  readonly emit: (b: Body, x: number[], tmp: () => number) => void;
}

const f32Binary = (op: number): OpSpec => ({ arity: 2, lanes: 'f32', emit: (b, [x, y]) => { b.get(x!).get(y!).simd(op); } });
/** x OP y ? x : y, as a select on the comparison's mask. */
const f32Select = (cmp: number): OpSpec => ({ arity: 2, lanes: 'f32', emit: (b, [x, y]) => { b.get(x!).get(y!).get(x!).get(y!).simd(cmp).simd(V.bitselect); } });

// fdlibm's exp (as V8's Math.exp), branch-free on two lanes.
const LN2_HI = 6.93147180369123816490e-01;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700e+00;
const EXP_P = [1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05, -1.65339022054652515390e-06, 4.13813679705723846039e-08];
const O_THRESHOLD = 7.09782712893383973096e+02;
const U_THRESHOLD = -7.45133219101941108420e+02;
const TINY = 2 ** -28;

/** Pushes exp(local x) (f64x2). */
function emitExp(b: Body, x: number, tmp: () => number): void {
  const k = tmp();
  const hi = tmp();
  const lo = tmp();
  const r = tmp();
  const t = tmp();
  const c = tmp();
  const y = tmp();
  const k1 = tmp();
  // k = trunc(x / ln2 + (x < 0 ? -0.5 : 0.5))
  b.get(x).v128f64(INV_LN2).simd(V.f64Mul).v128f64(-0.5).v128f64(0.5).get(x).v128f64(0).simd(V.f64Lt).simd(V.bitselect).simd(V.f64Add).simd(V.f64Trunc).set(k);
  b.get(x).get(k).v128f64(LN2_HI).simd(V.f64Mul).simd(V.f64Sub).set(hi);
  b.get(k).v128f64(LN2_LO).simd(V.f64Mul).set(lo);
  b.get(hi).get(lo).simd(V.f64Sub).set(r);
  b.get(r).get(r).simd(V.f64Mul).set(t);
  // c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))))
  b.get(r).get(t);
  b.v128f64(EXP_P[0]!).get(t).v128f64(EXP_P[1]!).get(t).v128f64(EXP_P[2]!).get(t).v128f64(EXP_P[3]!).get(t).v128f64(EXP_P[4]!);
  b.simd(V.f64Mul).simd(V.f64Add).simd(V.f64Mul).simd(V.f64Add).simd(V.f64Mul).simd(V.f64Add).simd(V.f64Mul).simd(V.f64Add);
  b.simd(V.f64Mul).simd(V.f64Sub).set(c);
  // y = 1 - ((lo - (r * c) / (2 - c)) - hi)
  b.v128f64(1).get(lo).get(r).get(c).simd(V.f64Mul).v128f64(2).get(c).simd(V.f64Sub).simd(V.f64Div).simd(V.f64Sub).get(hi).simd(V.f64Sub).simd(V.f64Sub).set(y);
  // y * 2^k1 * 2^(k - k1), k1 = floor(k / 2): one rounding, as fdlibm's scaling.
  b.get(k).v128f64(0.5).simd(V.f64Mul).simd(V.f64Floor).set(k1);
  const pow2 = (kLocal: number | null): void => {
    if (kLocal === null) b.get(k).get(k1).simd(V.f64Sub);
    else b.get(kLocal);
    b.simd(V.i32TruncF64).simd(V.i64Extend).v128i64(1023).simd(V.i64Add).i32(52).simd(V.i64Shl);
  };
  b.get(y);
  pow2(k1);
  b.simd(V.f64Mul);
  pow2(null);
  b.simd(V.f64Mul).set(c);
  // Special cases: tiny |x| gives 1 + x; past the thresholds Infinity and 0; NaN stays NaN.
  b.v128f64(1).get(x).simd(V.f64Add).get(c).get(x).simd(V.f64Abs).v128f64(TINY).simd(V.f64Lt).simd(V.bitselect).set(c);
  // V8 returns the double nearest e for exp(1) (fdlibm's steps give one ulp more).
  b.v128f64(Math.E).get(c).get(x).v128f64(1).simd(V.f64Eq).simd(V.bitselect).set(c);
  b.v128f64(Infinity).get(c).get(x).v128f64(O_THRESHOLD).simd(V.f64Gt).simd(V.bitselect).set(c);
  b.v128f64(0).get(c).get(x).v128f64(U_THRESHOLD).simd(V.f64Lt).simd(V.bitselect).set(c);
  b.get(x).get(x).simd(V.f64Add).get(c).get(x).get(x).simd(V.f64Ne).simd(V.bitselect);
}

/** Pushes 1 / (1 + exp(-x)) (f64x2). */
function emitSigmoid(b: Body, x: number, tmp: () => number): void {
  const nx = tmp();
  b.get(x).simd(V.f64Neg).set(nx);
  b.v128f64(1).v128f64(1);
  emitExp(b, nx, tmp);
  b.simd(V.f64Add).simd(V.f64Div);
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
  [UNARY_EXPR.exp, { arity: 1, lanes: 'f64', emit: (b, [x], tmp) => { emitExp(b, x!, tmp); } }],
  [UNARY_EXPR.sigmoid, { arity: 1, lanes: 'f64', emit: (b, [x], tmp) => { emitSigmoid(b, x!, tmp); } }],
  [UNARY_EXPR.rsqrt, { arity: 1, lanes: 'f64', emit: (b, [x]) => { b.v128f64(1).get(x!).simd(V.f64Sqrt).simd(V.f64Div); } }],
  // x / (1 + exp(-x))
  [SILU_EXPR, { arity: 1, lanes: 'f64', emit: (b, [x], tmp) => {
    const nx = tmp();
    b.get(x!).simd(V.f64Neg).set(nx);
    b.get(x!).v128f64(1);
    emitExp(b, nx, tmp);
    b.simd(V.f64Add).simd(V.f64Div);
  } }],
  // g * s * (1 + v * (1 - s)), s = 1 / (1 + exp(-v))
  [SILU_BACKWARD_EXPR, { arity: 2, lanes: 'f64', emit: (b, [v, g], tmp) => {
    const s = tmp();
    emitSigmoid(b, v!, tmp);
    b.set(s);
    b.get(g!).get(s).simd(V.f64Mul).v128f64(1).get(v!).v128f64(1).get(s).simd(V.f64Sub).simd(V.f64Mul).simd(V.f64Add).simd(V.f64Mul);
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
    const n = probe.length + (probe.length % 2);
    ensureMemory(n * 16 + 64);
    const b = new Body(0);
    const p = b.local(I32);
    const x = b.local(V128);
    const temps: number[] = [];
    const tmp = (): number => {
      const t = b.local(V128);
      temps.push(t);
      return t;
    };
    b.op(0x03, 0x40); // loop
    b.get(p).simd(V.load, 4, 0).set(x);
    b.get(p);
    emitExp(b, x, tmp);
    b.simd(V.store, 4, ...uleb(n * 8));
    b.get(p).i32(16).op(0x6a).set(p);
    b.get(p).i32(n * 8).op(0x49, 0x0d, 0); // i32.lt_u, br_if 0
    b.op(0x0b);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(0, b)), { env: { mem: memory! } });
    const f64 = new Float64Array(memory!.buffer, 0, 2 * n);
    f64.fill(0);
    f64.set(probe);
    (instance.exports['run'] as () => void)();
    transcendentalOk = probe.every((v, i) => Object.is(Math.exp(v), f64[n + i]));
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
  readonly inner: 'vector' | 'splat';
  /** Element strides over the outer axes ('strided' only). */
  readonly outer: readonly number[];
  readonly at: number;
  /** Elements copied in. */
  readonly span: number;
}

/** Smallest chain (elements) handed to WebAssembly: below it the copies cost more than they save. */
const MIN_ELEMENTS = 16;

/**
 * A WebAssembly SIMD kernel for a fused group over float32 values, or null where the group
 * has another dtype, an op or layout it does not handle, or WebAssembly SIMD is unavailable.
 * `dtypeOf` gives the dtype of a value read by the group.
 */
export function simdKernel(group: FusedGroup, dtypeOf: (id: number) => string): FusedKernel | null {
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
  const c = collapse(shape, [contiguousStrides(shape), ...loadList.map((l) => l.strides)]);
  let rows: number;
  let cols: number;
  const kinds: Stream['kind'][] = [];
  if (c.shape.length === 1) {
    rows = 1;
    cols = c.shape[0]!;
    for (let j = 0; j < loadList.length; j++) {
      if (c.strides[j + 1]![0] !== 1) return null;
      kinds.push('full');
    }
  } else if (c.shape.length === 2) {
    [rows, cols] = c.shape as [number, number];
    if (cols % 4 !== 0) return null;
    for (let j = 0; j < loadList.length; j++) {
      const [so, si] = c.strides[j + 1]! as [number, number];
      if (so === cols && si === 1) kinds.push('full');
      else if (so === 0 && si === 1) kinds.push('row');
      else if (so === 1 && si === 0) kinds.push('col');
      else return null;
    }
  } else {
    rows = c.shape.slice(0, -1).reduce((x, y) => x * y, 1);
    cols = c.shape[c.shape.length - 1]!;
    if (cols % 4 !== 0) return null;
    for (let j = 0; j < loadList.length; j++) {
      const st = c.strides[j + 1]!;
      const si = st[st.length - 1]!;
      if ((si !== 0 && si !== 1) || st.some((x) => x < 0)) return null;
      kinds.push('strided');
    }
  }
  const nd = c.shape.length;
  const vecBytes = Math.ceil(size / 4) * 16;
  const align = (n: number): number => Math.ceil(n / 64) * 64;
  let top = 0;
  const streams: Stream[] = [];
  for (let j = 0; j < loadList.length; j++) {
    const l = loadList[j]!;
    const kind = kinds[j]!;
    const st = c.strides[j + 1]!;
    let span = kind === 'full' ? size : kind === 'row' ? cols : rows;
    if (kind === 'strided') {
      span = 1 + st.reduce((acc, x, d) => acc + x * (c.shape[d]! - 1), 0);
      if (span > 4 * size + 4096) return null;
    }
    const at = top;
    top += align(Math.max(span * 4, 16) + 16);
    streams.push({ id: l.id, offset: l.offset, kind, inner: kind === 'col' || (kind === 'strided' && st[nd - 1] === 0) ? 'splat' : 'vector', outer: kind === 'strided' ? st.slice(0, -1) : [], at, span });
  }
  const outAt = group.outputs.map(() => {
    const at = top;
    top += align(vecBytes + 16);
    return at;
  });
  if (top > MAX_BYTES || !ensureMemory(top)) return null;

  // ---- the function: params are the uniforms (float32)
  const uniformList = [...uniforms.values()];
  const b = new Body(uniformList.length);
  const p = b.local(I32); // byte offset of the vector in full streams and outputs
  const q = b.local(I32); // byte offset within the row
  const rb = b.local(I32); // row index * 4
  const splats = uniformList.map(() => b.local(V128));
  uniformList.forEach((_, j) => { b.get(j).simd(V.f32Splat).set(splats[j]!); });
  const streamLocal = streams.map(() => b.local(V128));
  const literalLocals = new Map<string, number>();
  const litKey = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
  const regs = new Map<number, number>(); // value id -> v128 local (f32x4)
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
  const opLocals = group.ops.map(() => b.local(V128));
  const lit = (v: number): number => literalLocals.get(litKey(v))!;
  const full = rows === 1;
  const strided = nd >= 3;
  // Pointers of the streams at each outer axis (strided shapes), and the axis counters.
  const ptr = strided ? c.shape.slice(0, -1).map(() => streams.map(() => b.local(I32))) : [];
  const counters = strided ? c.shape.slice(0, -1).map(() => b.local(I32)) : [];
  // loops: outer over rows (when 2-D) or over the outer axes (strided), inner over vectors
  b.i32(0).set(p);
  if (strided) {
    streams.forEach((st, j) => { b.i32(st.at).set(ptr[0]![j]!); });
    for (let d = 0; d < nd - 1; d++) {
      if (d > 0) streams.forEach((_, j) => { b.get(ptr[d - 1]![j]!).set(ptr[d]![j]!); });
      b.i32(0).set(counters[d]!);
      b.op(0x03, 0x40); // axis d
    }
    streams.forEach((st, j) => { if (st.inner === 'splat') b.get(ptr[nd - 2]![j]!).memarg(V.load32Splat, 0).set(streamLocal[j]!); });
    b.i32(0).set(q);
  } else if (!full) {
    b.i32(0).set(rb);
    b.op(0x03, 0x40); // row loop
    streams.forEach((s, j) => { if (s.kind === 'col') b.get(rb).memarg(V.load32Splat, s.at).set(streamLocal[j]!); });
    b.i32(0).set(q);
  }
  b.op(0x03, 0x40); // vector loop
  streams.forEach((s, j) => {
    if (s.inner === 'splat') return;
    if (s.kind === 'strided') b.get(ptr[nd - 2]![j]!).get(q).op(0x6a).memarg(V.load, 0).set(streamLocal[j]!);
    else b.get(s.kind === 'full' ? p : q).memarg(V.load, s.at).set(streamLocal[j]!);
  });
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
  group.ops.forEach((op, i) => {
    const spec = OPS.get(op.expr)!;
    const ins = op.operands.map(operandLocal);
    poolAt = 0;
    if (spec.lanes === 'f32') {
      spec.emit(b, ins, tmp);
    } else {
      // Two halves on f64x2, each from the float32 lanes promoted exactly, demoted at the end.
      const lo = ins.map(() => tmp());
      const hi = ins.map(() => tmp());
      ins.forEach((x, j) => {
        b.get(x).simd(V.promote).set(lo[j]!);
        b.get(x).get(x).simd(V.shuffle, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15).simd(V.promote).set(hi[j]!);
      });
      const resLo = tmp();
      spec.emit(b, lo, tmp);
      b.set(resLo);
      spec.emit(b, hi, tmp);
      const resHi = tmp();
      b.set(resHi);
      b.get(resLo).simd(V.demote).get(resHi).simd(V.demote).simd(V.shuffle, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    }
    b.set(opLocals[i]!);
    regs.set(op.id, opLocals[i]!);
  });
  group.outputs.forEach((id, j) => { b.get(p).get(regs.get(id)!).memarg(V.store, outAt[j]!); });
  b.get(p).i32(16).op(0x6a).set(p);
  if (strided) {
    b.get(q).i32(16).op(0x6a).set(q);
    b.get(q).i32(cols * 4).op(0x49, 0x0d, 0);
    b.op(0x0b);
    for (let d = nd - 2; d >= 0; d--) {
      streams.forEach((st, j) => {
        if (st.outer[d] !== 0) b.get(ptr[d]![j]!).i32(st.outer[d]! * 4).op(0x6a).set(ptr[d]![j]!);
      });
      b.get(counters[d]!).i32(1).op(0x6a).set(counters[d]!);
      b.get(counters[d]!).i32(c.shape[d]!).op(0x49, 0x0d, 0);
      b.op(0x0b);
    }
  } else if (full) {
    b.get(p).i32(vecBytes).op(0x49, 0x0d, 0); // lt_u, br_if 0
    b.op(0x0b);
  } else {
    b.get(q).i32(16).op(0x6a).set(q);
    b.get(q).i32(cols * 4).op(0x49, 0x0d, 0);
    b.op(0x0b);
    b.get(rb).i32(4).op(0x6a).set(rb);
    b.get(rb).i32(rows * 4).op(0x49, 0x0d, 0);
    b.op(0x0b);
  }
  const run = instantiate(moduleBytes(uniformList.length, b));
  if (run === null) return null;
  return bindKernel(run, streams, uniformList, group.outputs, outAt, size);
}

function bindKernel(
  run: (...u: number[]) => void, streams: readonly Stream[], uniforms: readonly { id: number; offset: number }[],
  outputs: readonly number[], outAt: readonly number[], size: number,
): FusedKernel {
  const ns = streams.length;
  const sIds = Int32Array.from(streams.map((s) => s.id));
  const sOff = Int32Array.from(streams.map((s) => s.offset));
  const sSpan = Int32Array.from(streams.map((s) => s.span));
  const sAt = Int32Array.from(streams.map((s) => s.at >> 2));
  const nu = uniforms.length;
  const uIds = Int32Array.from(uniforms.map((u) => u.id));
  const uOff = Int32Array.from(uniforms.map((u) => u.offset));
  const oIds = Int32Array.from(outputs);
  const no = outputs.length;
  let viewsFor: ArrayBuffer | null = null;
  let outViews: Float32Array[] = [];
  const args: number[] = new Array<number>(nu).fill(0);
  return (S: readonly (Storage | undefined)[]): void => {
    const mem = f32View;
    if (viewsFor !== mem.buffer) {
      viewsFor = mem.buffer as ArrayBuffer;
      outViews = Array.from(outAt, (at) => new Float32Array(viewsFor!, at, size));
    }
    for (let j = 0; j < ns; j++) {
      const data = (S[sIds[j]!] as unknown as { data: Float32Array }).data;
      const off = sOff[j]!;
      const span = sSpan[j]!;
      mem.set(off === 0 && span === data.length ? data : data.subarray(off, off + span), sAt[j]!);
    }
    for (let j = 0; j < nu; j++) args[j] = (S[uIds[j]!] as unknown as { data: Float32Array }).data[uOff[j]!]!;
    if (nu === 0) run();
    else if (nu === 1) run(args[0]!);
    else if (nu === 2) run(args[0]!, args[1]!);
    else run(...args);
    for (let j = 0; j < no; j++) (S[oIds[j]!] as unknown as { data: Float32Array }).data.set(outViews[j]!);
  };
}
