// WGSL for the elementwise operators, matching the CPU reference backend (which computes in
// float64 and rounds once): NaN and edge-case behaviour follows its JavaScript expressions,
// and functions WGSL lacks or implements loosely (erf, log1p, pow with negative bases,
// tanh for large |x|) are written out here.
import type { BinaryOp, DType, UnaryOp } from '@titans/tensor';

export type Scalar = 'f32' | 'i32';

export function scalarOf(dtype: DType): Scalar {
  if (dtype === 'float32') return 'f32';
  if (dtype === 'int32') return 'i32';
  throw new Error(`@titans/webgpu: dtype ${dtype} is not supported on WebGPU (WGSL has no 64-bit floats); use float32`);
}

/** Convert an expression between scalar types with the CPU's conversion rules
 * (float to int truncates toward zero, NaN becomes 0). */
export function convert(expr: string, from: Scalar, to: Scalar): string {
  if (from === to) return expr;
  return to === 'f32' ? `f32(${expr})` : `to_i32(${expr})`;
}

// Infinities and NaN must not appear in WGSL constant expressions (shader creation fails),
// so they come from private variables, which are evaluated at run time.
export const SPECIALS = /* wgsl */ `
var<private> POS_INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;
fn pos_inf() -> f32 { return bitcast<f32>(POS_INF_BITS); }
fn neg_inf() -> f32 { return bitcast<f32>(NEG_INF_BITS); }
fn nan_f() -> f32 { return bitcast<f32>(NAN_BITS); }
// Floating-point NaN tests can be folded away (WGSL lets implementations assume no NaN or
// infinity), so these look at the bits.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
`;

export const HELPERS = SPECIALS + /* wgsl */ `
// ToInt32 of JavaScript: truncate, wrap modulo 2^32, NaN and infinities to 0. (f32 values
// at or above 2^31 are multiples of 256, so the modulo below is exact.)
fn to_i32(v: f32) -> i32 {
  if (!is_finite(v)) { return 0; }
  let t = trunc(v);
  if (abs(t) < 2147483648.0) { return i32(t); }
  let r = t - floor(t / 4294967296.0) * 4294967296.0;
  return bitcast<i32>(u32(r));
}
// log(1 + u) without losing u when it is far below one ulp of 1.
fn log1p_f(u: f32) -> f32 {
  let w = 1.0 + u;
  if (w == 1.0) { return u; }
  return log(w) * (u / (w - 1.0));
}
// erf: Taylor series near zero, Numerical Recipes' Chebyshev erfc (relative error < 1.2e-7) beyond.
fn erf_f(x: f32) -> f32 {
  let ax = abs(x);
  var r: f32;
  if (ax < 1.0) {
    let x2 = ax * ax;
    var term = ax;
    var sum = ax;
    for (var n = 1; n < 14; n++) {
      term = term * (-x2 / f32(n));
      sum += term / f32(2 * n + 1);
    }
    r = 1.1283791670955126 * sum;
  } else if (ax > 6.0) {
    r = 1.0;
  } else {
    let t = 1.0 / (1.0 + 0.5 * ax);
    let poly = -ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    r = 1.0 - t * exp(poly);
  }
  return select(r, -r, x < 0.0);
}
// sin and cos as in Cephes' sinf/cosf: reduction by pi/4 in three parts, then minimax
// polynomials (relative error ~1e-7). WGSL's builtins may be off by 2^-11 absolute.
fn sincos_poly(x: f32, useCos: bool) -> f32 {
  let z = x * x;
  if (useCos) {
    return ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  }
  return ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * x + x;
}
fn reduce_quarter(ax: f32) -> vec2<f32> {
  var j = u32(ax * 1.27323954473516);
  var y = f32(j);
  if ((j & 1u) == 1u) { j += 1u; y += 1.0; }
  let r = ((ax - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  return vec2<f32>(r, f32(j & 7u));
}
// Payne-Hanek reduction for |x| > 8192, where the three-part pi/4 above loses every bit:
// x = mant * 2^e exactly, and x * 2/pi mod 4 needs only the 64 bits of 2/pi from 2^(e-1)
// down (earlier bits give multiples of 4). mant (24 bits) times that window is done in
// 16-bit limbs. Returns (r, quadrant) with x = quadrant * pi/2 + r, |r| <= pi/4.
var<private> TWO_OVER_PI: array<u32, 8> = array<u32, 8>(0u, 0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u, 0xdb629599u, 0x3c439041u, 0xfe5163abu);
fn reduce_huge(ax: f32) -> vec2<f32> {
  let bits = bitcast<u32>(ax);
  let j0 = u32(i32((bits >> 23u) & 0xffu) - 120);
  let mant = (bits & 0x7fffffu) | 0x800000u;
  let k = j0 >> 5u;
  let sh = j0 & 31u;
  var hi = TWO_OVER_PI[k];
  var lo = TWO_OVER_PI[k + 1u];
  if (sh != 0u) {
    hi = (hi << sh) | (TWO_OVER_PI[k + 1u] >> (32u - sh));
    lo = (lo << sh) | (TWO_OVER_PI[k + 2u] >> (32u - sh));
  }
  var w = array<u32, 4>(lo & 0xffffu, lo >> 16u, hi & 0xffffu, hi >> 16u);
  var m = array<u32, 2>(mant & 0xffffu, mant >> 16u);
  var col = array<u32, 7>(0u, 0u, 0u, 0u, 0u, 0u, 0u);
  for (var a = 0u; a < 2u; a++) {
    for (var c = 0u; c < 4u; c++) {
      let p = m[a] * w[c];
      col[a + c] += p & 0xffffu;
      col[a + c + 1u] += p >> 16u;
    }
  }
  for (var i = 0u; i < 6u; i++) {
    col[i + 1u] += col[i] >> 16u;
    col[i] = col[i] & 0xffffu;
  }
  let r0 = (col[1] << 16u) | col[0];
  let r1 = (col[3] << 16u) | col[2];
  var q = (r1 >> 30u) & 3u;
  var f = f32(((r1 & 0x3fffffffu) << 2u) | (r0 >> 30u)) * 2.3283064365386963e-10;
  if (f >= 0.5) {
    f -= 1.0;
    q = (q + 1u) & 3u;
  }
  return vec2<f32>(f * 1.5707963267948966, f32(q));
}
// sin (cos when useCos) of a huge |x| from its reduction.
fn trig_huge(ax: f32, useCos: bool) -> f32 {
  let red = reduce_huge(ax);
  let q = (u32(red.y) + select(0u, 1u, useCos)) & 3u;
  let v = sincos_poly(red.x, q == 1u || q == 3u);
  return select(v, -v, q >= 2u);
}
fn sin_f(x: f32) -> f32 {
  if (!is_finite(x)) { return nan_f(); }
  if (abs(x) < 2.44140625e-4) { return x; }
  if (abs(x) > 8192.0) { let v = trig_huge(abs(x), false); return select(v, -v, x < 0.0); }
  let red = reduce_quarter(abs(x));
  var j = u32(red.y);
  var neg = x < 0.0;
  if (j > 3u) { neg = !neg; j -= 4u; }
  let v = sincos_poly(red.x, j == 1u || j == 2u);
  return select(v, -v, neg);
}
fn cos_f(x: f32) -> f32 {
  if (!is_finite(x)) { return nan_f(); }
  if (abs(x) > 8192.0) { return trig_huge(abs(x), true); }
  let red = reduce_quarter(abs(x));
  var j = u32(red.y);
  var neg = false;
  if (j > 3u) { neg = !neg; j -= 4u; }
  if (j > 1u) { neg = !neg; }
  let v = sincos_poly(red.x, !(j == 1u || j == 2u));
  return select(v, -v, neg);
}
// WGSL leaves exp, log, sqrt and division indeterminate outside their finite domains (and
// SwiftShader returns log(-1) = 0, log(-Inf) = 88.7), so the special values are explicit:
// the results are JavaScript's Math functions rounded to float32, as on the CPU.
fn sign_bit(x: f32) -> bool { return (bitcast<u32>(x) & 0x80000000u) != 0u; }
fn signed_inf(negative: bool) -> f32 { return select(pos_inf(), neg_inf(), negative); }
fn exp_f(x: f32) -> f32 {
  if (x > 88.72283935546875) { return pos_inf(); }
  if (x < -104.0) { return 0.0; }
  return exp(x);
}
fn log_f(x: f32) -> f32 {
  if (x < 0.0) { return nan_f(); }
  if (x == 0.0) { return neg_inf(); }
  if (!is_finite(x)) { return x; }
  // Denormals (where the device keeps them): scale into the normal range first.
  if (x < 1.1754943508222875e-38) { return log(x * 16777216.0) - 16.635532333438686; }
  return log(x);
}
fn sqrt_f(x: f32) -> f32 {
  if (x < 0.0) { return nan_f(); }
  if (x == 0.0 || !is_finite(x)) { return x; }
  return sqrt(x);
}
fn rsqrt_f(x: f32) -> f32 {
  if (x == 0.0) { return signed_inf(sign_bit(x)); }
  if (x < 0.0) { return nan_f(); }
  if (!is_finite(x)) { return 0.0; }
  return 1.0 / sqrt(x);
}
fn div_f(a: f32, b: f32) -> f32 {
  if (b == 0.0) {
    if (a == 0.0 || is_nan(a)) { return nan_f(); }
    return signed_inf(sign_bit(a) != sign_bit(b));
  }
  return a / b;
}
fn tanh_f(x: f32) -> f32 {
  if (abs(x) > 15.0) { return sign(x); }
  // tanh(x) rounds to x below 2^-12 (keeps -0 and tiny values the builtin may flush).
  if (abs(x) < 2.44140625e-4) { return x; }
  return tanh(x);
}
fn is_int_f(y: f32) -> bool { return is_finite(y) && floor(y) == y; }
// Every float32 at or above 2^24 is an even integer.
fn is_odd_int_f(y: f32) -> bool { return is_int_f(y) && abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1; }
// Math.pow: exact for small integer exponents, sign from odd integer exponents of negative
// bases (-0 and -Inf included), and JavaScript's rules for infinite exponents (1^Inf is NaN).
fn pow_f(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (is_nan(y) || is_nan(x)) { return nan_f(); }
  let ax = abs(x);
  if (!is_finite(y)) {
    if (ax == 1.0) { return nan_f(); }
    return select(0.0, pos_inf(), (ax > 1.0) == (y > 0.0));
  }
  if (y == 1.0) { return x; }
  if (y == 2.0) { return x * x; }
  let negative = sign_bit(x);
  var r: f32;
  if (ax == 0.0) {
    r = select(0.0, pos_inf(), y < 0.0);
  } else if (!is_finite(ax)) {
    r = select(pos_inf(), 0.0, y < 0.0);
  } else {
    if (negative && !is_int_f(y)) { return nan_f(); }
    if (y == 0.5) { return sqrt(ax); }
    r = exp2(y * log2(ax));
  }
  if (negative && is_odd_int_f(y)) { r = -r; }
  return r;
}
// Math.pow(x, y) | 0 for int32 operands, by repeated squaring (wrapping like int32 stores).
fn pow_i(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var base = x;
  var e = y;
  var r = 1;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * base; }
    base = base * base;
    e = e >> 1u;
  }
  return r;
}
fn div_i(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  return a / b;
}
`;

/** Unary ops that stay in integer arithmetic when input and output are int32. */
const INT_UNARY = new Set<UnaryOp>(['neg', 'abs', 'sign', 'relu', 'square', 'copy']);

export function unaryCompute(op: UnaryOp, input: Scalar, output: Scalar): Scalar {
  return input === 'i32' && output === 'i32' && INT_UNARY.has(op) ? 'i32' : 'f32';
}

/** Float ops whose result is NaN for a NaN input in JavaScript; the hardware path may not
 * keep it (exp(NaN) can come back as a number), so it is restored explicitly. */
const NAN_PROPAGATING = new Set<UnaryOp>(['exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'erf', 'recip', 'sin', 'cos', 'floor', 'softplus']);

export function unaryExpr(op: UnaryOp, x: string, t: Scalar): string {
  const e = unaryRaw(op, x, t);
  return t === 'f32' && NAN_PROPAGATING.has(op) ? `select(${e}, nan_f(), is_nan(${x}))` : e;
}

function unaryRaw(op: UnaryOp, x: string, t: Scalar): string {
  switch (op) {
    case 'neg': return `(-${x})`;
    case 'abs': return `abs(${x})`;
    case 'sign': return t === 'f32' ? `select(sign(${x}), 0.0, is_nan(${x}))` : `sign(${x})`;
    case 'relu': return t === 'f32' ? `select(0.0, ${x}, ${x} > 0.0 && !is_nan(${x}))` : `max(${x}, 0)`;
    case 'square': return `(${x} * ${x})`;
    case 'copy': return x;
    case 'exp': return `exp_f(${x})`;
    case 'log': return `log_f(${x})`;
    case 'sqrt': return `sqrt_f(${x})`;
    case 'rsqrt': return `rsqrt_f(${x})`;
    case 'tanh': return `tanh_f(${x})`;
    case 'sigmoid': return `(1.0 / (1.0 + exp_f(-${x})))`;
    case 'erf': return `erf_f(${x})`;
    case 'recip': return `div_f(1.0, ${x})`;
    case 'sin': return `sin_f(${x})`;
    case 'cos': return `cos_f(${x})`;
    case 'floor': return `floor(${x})`;
    case 'softplus': return `select(log1p_f(exp_f(${x})), ${x}, ${x} > 30.0)`;
  }
}

const COMPARISONS = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

export function isComparison(op: BinaryOp): boolean {
  return COMPARISONS.has(op);
}

/** Arithmetic happens in int32 only when everything is int32 (comparisons: both inputs). */
export function binaryCompute(op: BinaryOp, a: Scalar, b: Scalar, out: Scalar): Scalar {
  if (a === 'i32' && b === 'i32' && (out === 'i32' || isComparison(op))) return 'i32';
  return 'f32';
}

/** Returns an expression of type `t` (arithmetic) or bool (comparisons). */
export function binaryExpr(op: BinaryOp, a: string, b: string, t: Scalar): string {
  switch (op) {
    case 'add': return `(${a} + ${b})`;
    case 'sub': return `(${a} - ${b})`;
    case 'mul': return `(${a} * ${b})`;
    case 'div': return t === 'i32' ? `div_i(${a}, ${b})` : `div_f(${a}, ${b})`;
    case 'pow': return t === 'i32' ? `pow_i(${a}, ${b})` : `pow_f(${a}, ${b})`;
    // (x >= y ? x : y), including its NaN behaviour
    case 'maximum': return `select(${b}, ${a}, ${cmp('>=', a, b, t)})`;
    case 'minimum': return `select(${b}, ${a}, ${cmp('<=', a, b, t)})`;
    case 'eq': return cmp('==', a, b, t);
    case 'ne': return `!${cmp('==', a, b, t)}`;
    case 'lt': return cmp('<', a, b, t);
    case 'le': return cmp('<=', a, b, t);
    case 'gt': return cmp('>', a, b, t);
    case 'ge': return cmp('>=', a, b, t);
  }
}

/** An IEEE ordered comparison: false when either side is NaN. */
function cmp(op: string, a: string, b: string, t: Scalar): string {
  return t === 'f32' ? `(!is_nan(${a}) && !is_nan(${b}) && ${a} ${op} ${b})` : `(${a} ${op} ${b})`;
}

/** JavaScript truthiness of a number as used by where(): x !== 0 (true for NaN). */
export function nonZero(x: string, t: Scalar): string {
  return t === 'f32' ? `(is_nan(${x}) || ${x} != 0.0)` : `(${x} != 0)`;
}
