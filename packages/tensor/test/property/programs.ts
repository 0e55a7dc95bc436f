// Random programs over the public ops, for property-based tests (fast-check). A program is
// plain data (two input layouts and a list of steps), so fast-check can shrink a failing one
// to a minimal program; `describeProgram` prints it as code. Every program is valid for
// every shape: a step that does not apply to the current shape (an axis op on a scalar, a
// tensor that would grow too big) falls back to tanh, so shrinking never produces an invalid
// program.
import * as ops from '@titans/tensor';
import { Rng, tensor, type Backend, type DType, type Tensor } from '@titans/tensor';
import fc from 'fast-check';

/** fast-check itself, for packages that run these programs without depending on it (WebGPU). */
export { fc };

/** How an input reaches the program: the leaf itself or a non-contiguous view of it. */
export type Layout = 'contiguous' | 'transposed' | 'sliced' | 'broadcast';

export interface Step {
  readonly op: string;
  /** Picks an axis (modulo the rank), an earlier value (modulo their count), a length. */
  readonly a: number;
  readonly b: number;
}

export interface Program {
  /** The shape both inputs present to the program (after their layout's view). */
  readonly shape: readonly number[];
  readonly layouts: readonly [Layout, Layout];
  readonly seed: number;
  readonly steps: readonly Step[];
}

interface OpDef {
  /** Differentiable everywhere the inputs land with probability one. */
  readonly smooth: boolean;
  readonly apply: (x: Tensor, other: Tensor, a: number, b: number) => Tensor | null;
}

const MAX_SIZE = 48;
const MAX_RANK = 4;

const axisOf = (x: Tensor, a: number): number => a % x.ndim;
const sameShape = (x: Tensor, y: Tensor): boolean => x.ndim === y.ndim && x.shape.every((d, i) => d === y.shape[i]);
const broadcastable = (x: Tensor, y: Tensor): boolean => {
  try {
    ops.broadcastShapes('program', x.shape, y.shape);
    return true;
  } catch {
    return false;
  }
};
/** `other` when it broadcasts with x (the two are then any earlier values), else x itself (aliasing). */
const partner = (x: Tensor, other: Tensor): Tensor => (broadcastable(x, other) ? other : x);

const unary = (f: (x: Tensor) => Tensor, smooth = true): OpDef => ({ smooth, apply: (x) => f(x) });
const binary = (f: (x: Tensor, y: Tensor) => Tensor, smooth = true): OpDef => ({ smooth, apply: (x, o) => f(x, partner(x, o)) });
const alongAxis = (f: (x: Tensor, axis: number, b: number) => Tensor | null, smooth = true): OpDef => ({
  smooth,
  apply: (x, _o, a, b) => (x.ndim === 0 ? null : f(x, axisOf(x, a), b)),
});

/** The ops programs draw from (bounded variants keep values finite over 8 steps). */
export const OPS: Readonly<Record<string, OpDef>> = {
  tanh: unary(ops.tanh),
  sigmoid: unary(ops.sigmoid),
  sin: unary(ops.sin),
  expTanh: unary((x) => ops.exp(ops.tanh(x))),
  softplus: unary(ops.softplus),
  scale: { smooth: true, apply: (x, _o, a) => ops.mul(x, ((a % 7) - 3) / 2 || 0.75) },
  shift: { smooth: true, apply: (x, _o, a) => ops.add(x, ((a % 5) - 2) / 4) },
  gelu: unary((x) => ops.gelu(x)),
  geluTanh: unary((x) => ops.gelu(x, 'tanh')),
  silu: unary(ops.silu),
  erf: unary(ops.erf),
  logSquarePlus1: unary((x) => ops.log(ops.add(ops.square(x), 1))),
  sqrtSquarePlus1: unary((x) => ops.sqrt(ops.add(ops.square(x), 1))),
  rsqrtSquarePlus1: unary((x) => ops.rsqrt(ops.add(ops.square(x), 1))),
  reciprocal: unary((x) => ops.reciprocal(ops.add(ops.square(x), 0.5))),
  squareTanh: unary((x) => ops.square(ops.tanh(x))),
  cos: unary(ops.cos),
  neg: unary(ops.neg),
  add: binary(ops.add),
  sub: binary(ops.sub),
  mul: binary((x, y) => ops.mul(x, ops.tanh(y))),
  div: binary((x, y) => ops.div(x, ops.add(ops.square(y), 1))),
  pow: binary((x, y) => ops.pow(ops.add(ops.square(x), 0.5), ops.tanh(y))),
  where: binary((x, y) => ops.where(ops.gt(ops.detach(y), 0), x, ops.tanh(y))),
  sum: alongAxis((x, axis, b) => ops.sum(x, axis, b % 2 === 0)),
  sumAll: unary((x) => ops.sum(x)),
  mean: alongAxis((x, axis, b) => (x.shape[axis] === 0 ? ops.sum(x, axis, b % 2 === 0) : ops.mean(x, axis, b % 2 === 0))),
  logsumexp: alongAxis((x, axis, b) => ops.logsumexp(x, axis, b % 2 === 0)),
  softmax: alongAxis((x, axis) => ops.softmax(x, axis)),
  logSoftmax: alongAxis((x, axis) => ops.logSoftmax(x, axis)),
  layerNorm: { smooth: true, apply: (x) => (x.ndim === 0 || x.shape[x.ndim - 1]! < 2 ? null : ops.layerNorm(x)) },
  rmsNorm: { smooth: true, apply: (x) => (x.ndim === 0 ? null : ops.rmsNorm(x)) },
  l2Normalize: alongAxis((x, axis) => ops.l2Normalize(ops.add(x, 0.5), axis)),
  cumsum: alongAxis((x, axis, b) => ops.cumsum(x, axis, b % 2 === 1)),
  linearScan: alongAxis((x, axis, b) => ops.linearScan(ops.sigmoid(x), x, axis, b % 2 === 1)),
  transpose: { smooth: true, apply: (x, _o, a, b) => (x.ndim < 2 ? null : ops.transpose(x, a % x.ndim, b % x.ndim)) },
  narrow: alongAxis((x, axis, b) => {
    const n = x.shape[axis]!;
    const start = n === 0 ? 0 : b % n;
    return ops.narrow(x, axis, start, Math.min(n - start, 1 + (b % 3)));
  }),
  concat: alongAxis((x, axis, b) => ops.concat(b % 2 === 0 ? [x, ops.tanh(x)] : [ops.sin(x), x], axis)),
  concatSelf: alongAxis((x, axis) => ops.concat([x, x], axis)),
  stack: { smooth: true, apply: (x, o, a) => (x.ndim >= MAX_RANK ? null : ops.stack(sameShape(x, o) ? [x, o] : [x, x], a % (x.ndim + 1))) },
  broadcast: { smooth: true, apply: (x, _o, a, b) => {
    if (x.ndim >= MAX_RANK) return null;
    const axis = a % (x.ndim + 1);
    const u = ops.unsqueeze(x, axis);
    const shape = [...u.shape];
    shape[axis] = 1 + (b % 3);
    return ops.mul(ops.expand(u, shape), 0.5);
  } },
  flatten: { smooth: true, apply: (x) => (x.ndim < 2 ? null : ops.reshape(x, [...x.shape.slice(0, -2), x.shape[x.ndim - 2]! * x.shape[x.ndim - 1]!])) },
  matmulSelfT: { smooth: true, apply: (x) => (x.ndim < 2 ? null : ops.mul(ops.matmul(x, ops.transpose(x)), 0.5)) },
  matmul: { smooth: true, apply: (x, o) => {
    if (x.ndim < 2 || o.ndim < 2 || !sameShape(x, o)) return null;
    return ops.matmul(ops.transpose(x), ops.tanh(o));
  } },
  attention: { smooth: true, apply: (x, _o, a) => (x.ndim < 2 ? null : ops.attention(x, ops.tanh(x), x, { causal: a % 2 === 0 })) },
  // Fewer keys than queries: with the causal mask the first queries see no key at all.
  attentionCross: { smooth: true, apply: (x, _o, a, b) => {
    if (x.ndim < 2) return null;
    const t = x.shape[x.ndim - 2]!;
    const keys = ops.narrow(x, -2, 0, Math.ceil(t / 2));
    return ops.attention(x, keys, ops.tanh(keys), { causal: a % 2 === 0, window: b % 3 });
  } },
  attentionSelf: { smooth: true, apply: (x) => (x.ndim < 2 ? null : ops.attention(x, x, x, { causal: false })) },
  variance: alongAxis((x, axis, b) => ops.variance(x, axis, b % 2 === 0)),
  prod: alongAxis((x, axis, b) => ops.prod(ops.add(ops.sigmoid(x), 0.5), axis, b % 2 === 0)),
  cumprod: alongAxis((x, axis, b) => ops.cumprod(ops.add(ops.sigmoid(x), 0.5), axis, b % 2 === 1)),
  associativeScan: alongAxis((x, axis) => ops.associativeScan((p, q) => ops.add(p, q), x, axis)),
  pad: alongAxis((x, axis, b) => ops.padAxis(x, axis, b % 2, (b >> 1) % 2)),
  contiguous: unary(ops.contiguous),
  squeeze: { smooth: true, apply: (x) => (x.shape.includes(1) ? ops.squeeze(x) : null) },
  permute: { smooth: true, apply: (x, _o, a) => {
    if (x.ndim < 2) return null;
    const axes = x.shape.map((_, i) => i);
    for (let i = axes.length - 1; i > 0; i--) {
      const j = (a * (i + 3)) % (i + 1);
      [axes[i], axes[j]] = [axes[j]!, axes[i]!];
    }
    return ops.permute(x, axes);
  } },
  mseLoss: binary((x, y) => ops.mseLoss(x, ops.tanh(y))),
  rope: { smooth: true, apply: (x, _o, _a, b) => (x.ndim < 2 || x.shape[x.ndim - 1]! % 2 !== 0 ? null : ops.rope(x, b % 3)) },
  heads: { smooth: true, apply: (x) => (x.ndim < 2 || x.ndim >= MAX_RANK || x.shape[x.ndim - 1]! % 2 !== 0 ? null : ops.mergeHeads(ops.tanh(ops.splitHeads(x, 2)))) },
  causalConv1d: { smooth: true, apply: (x, _o, _a, b) => {
    if (x.ndim < 2) return null;
    const c = x.shape[x.ndim - 1]!;
    const k = 1 + (b % 3);
    const lead = x.shape.slice(0, -1).map((_, i) => i);
    // A weight computed from x itself: the kernel's inputs depend on each other.
    const column = ops.reshape(ops.tanh(ops.sum(x, lead)), [c, 1]);
    const taps = tensor(Array.from({ length: k }, (_, j) => 0.3 * (j + 1)), [1, k], { dtype: x.dtype, backend: x.backend });
    return ops.causalConv1d(x, ops.mul(column, taps), ops.reshape(ops.sin(column), [c]));
  } },
  indexSelect: alongAxis((x, axis, b) => {
    const n = x.shape[axis]!;
    if (n === 0) return null;
    const idx = Array.from({ length: 1 + (b % 3) }, (_, i) => (b + 7 * i) % n);
    return ops.indexSelect(x, axis, tensor(idx, [idx.length], { dtype: 'int32', backend: x.backend }));
  }),
  takeAlongLastAxis: { smooth: true, apply: (x, _o, _a, b) => {
    if (x.ndim === 0 || x.shape[x.ndim - 1] === 0) return null;
    const v = x.shape[x.ndim - 1]!;
    const k = 1 + (b % 2);
    const rows = x.size / v;
    const idx = Array.from({ length: rows * k }, (_, i) => (5 * i + b) % v);
    return ops.takeAlongLastAxis(x, tensor(idx, [...x.shape.slice(0, -1), k], { dtype: 'int32', backend: x.backend }));
  } },
  scatterAdd: { smooth: true, apply: (x, _o, _a, b) => {
    if (x.ndim === 0) return null;
    const m = 1 + (b % 4);
    const idx = Array.from({ length: x.shape[0]! }, (_, i) => (3 * i + b) % m);
    return ops.scatterAdd(x, tensor(idx, [idx.length], { dtype: 'int32', backend: x.backend }), m);
  } },
  crossEntropy: { smooth: true, apply: (x, _o, _a, b) => {
    if (x.ndim === 0 || x.shape[x.ndim - 1] === 0) return null;
    const v = x.shape[x.ndim - 1]!;
    const lead = x.shape.slice(0, -1);
    const n = lead.reduce((p, q) => p * q, 1);
    const targets = Array.from({ length: n }, (_, i) => (i % 4 === 3 ? -100 : (i + b) % v));
    const reduction = (['mean', 'sum', 'none'] as const)[b % 3]!;
    return ops.crossEntropy(x, tensor(targets, lead, { dtype: 'int32', backend: x.backend }), { reduction });
  } },
  dropout: { smooth: true, apply: (x, _o, _a, b) => {
    const noise = new Rng(b).uniformArray(x.size);
    return ops.dropout(x, 0.3, tensor(x.dtype === 'float64' ? noise : Float32Array.from(noise), x.shape, { dtype: x.dtype, backend: x.backend }));
  } },
  attentionWindow: { smooth: true, apply: (x, _o, _a, b) => (x.ndim < 2 ? null : ops.attention(ops.sin(x), x, ops.tanh(x), { window: 1 + (b % 2), prefix: b % 2 })) },
  naiveAttention: { smooth: true, apply: (x, _o, a) => (x.ndim < 2 ? null : ops.naiveAttention(x, x, ops.sin(x), { causal: a % 2 === 1 })) },
  floor: unary(ops.floor, false),
  sign: unary((x) => ops.mul(ops.sign(x), x), false),
  relu: unary(ops.relu, false),
  abs: unary(ops.abs, false),
  maximum: binary(ops.maximum, false),
  minimum: binary(ops.minimum, false),
  max: alongAxis((x, axis, b) => (x.shape[axis] === 0 ? null : ops.max(x, axis, b % 2 === 0)), false),
  min: alongAxis((x, axis, b) => (x.shape[axis] === 0 ? null : ops.min(x, axis, b % 2 === 0)), false),
};

export const SMOOTH_OPS = Object.keys(OPS).filter((k) => OPS[k]!.smooth);
export const ALL_OPS = Object.keys(OPS);

export interface ProgramOptions {
  /** Op names to draw from (default: the smooth ones). */
  ops?: readonly string[];
  minSteps?: number;
  maxSteps?: number;
  /** Largest dimension (0, 1 and odd sizes are always possible). */
  maxDim?: number;
  maxRank?: number;
}

export function programArbitrary(options: ProgramOptions = {}): fc.Arbitrary<Program> {
  const names = options.ops ?? SMOOTH_OPS;
  const layout = fc.constantFrom<Layout>('contiguous', 'transposed', 'sliced', 'broadcast');
  const step = fc.record({ op: fc.constantFrom(...names), a: fc.nat(11), b: fc.nat(11) });
  return fc.record({
    shape: fc.array(fc.oneof(fc.constantFrom(1, 2, 3, 5), fc.integer({ min: 0, max: options.maxDim ?? 4 })), { minLength: 0, maxLength: options.maxRank ?? 3 }),
    layouts: fc.tuple(layout, layout),
    seed: fc.nat(1 << 20),
    steps: fc.array(step, { minLength: options.minSteps ?? 3, maxLength: options.maxSteps ?? 8 }),
  });
}

/** The leaf shape behind a layout (the view the program sees has `shape`). */
function leafShape(shape: readonly number[], layout: Layout): number[] {
  const s = [...shape];
  if (s.length === 0) return s;
  switch (layout) {
    case 'contiguous': return s;
    case 'transposed': return s.length < 2 ? s : [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];
    case 'sliced': s[0] = s[0]! + 2; return s;
    case 'broadcast': s[0] = 1; return s;
  }
}

/** The view of a leaf that the program sees. */
export function presentInput(leaf: Tensor, shape: readonly number[], layout: Layout): Tensor {
  if (shape.length === 0) return leaf;
  switch (layout) {
    case 'contiguous': return leaf;
    case 'transposed': return shape.length < 2 ? leaf : ops.transpose(leaf);
    case 'sliced': return ops.narrow(leaf, 0, 1, shape[0]!);
    case 'broadcast': return ops.expand(leaf, shape);
  }
}

/** The two leaves of a program (values in [-1.5, 1.5], no exact ties), in `dtype` on `backend`. */
export function programInputs(p: Program, dtype: DType, backend: Backend): Tensor[] {
  const rng = new Rng(p.seed);
  return p.layouts.map((layout) => {
    const shape = leafShape(p.shape, layout);
    const n = shape.reduce((x, y) => x * y, 1);
    const values = rng.uniformArray(n).map((u) => 3 * u - 1.5);
    return tensor(dtype === 'float64' ? values : Float32Array.from(values), shape, { dtype, backend });
  });
}

/** Runs the program on its two leaves; returns the last value. */
export function runProgram(p: Program, x: Tensor, y: Tensor): Tensor {
  const values = [presentInput(x, p.shape, p.layouts[0]), presentInput(y, p.shape, p.layouts[1])];
  for (const step of p.steps) {
    const current = values[values.length - 1]!;
    const other = values[step.b % values.length]!;
    let out = OPS[step.op]!.apply(current, other, step.a, step.b);
    if (out === null || out.size > MAX_SIZE || out.ndim > MAX_RANK) out = ops.tanh(current);
    values.push(out);
  }
  return values[values.length - 1]!;
}

/** The program as code, for failure messages. */
export function describeProgram(p: Program): string {
  const lines = [
    `shape [${p.shape.join(', ')}], inputs ${p.layouts.join(' / ')}, seed ${p.seed}`,
    ...p.steps.map((s, i) => `  v${i + 2} = ${s.op}(v${i + 1}, other=v${s.b % (i + 2)}, a=${s.a}, b=${s.b})`),
  ];
  return lines.join('\n');
}

/** fast-check settings: a fixed seed in CI, TITANS_PROPERTY_SEED / TITANS_PROPERTY_RUNS for longer local runs. */
export function propertyParameters(defaultRuns: number): { seed: number; numRuns: number } {
  const seed = process.env.TITANS_PROPERTY_SEED === undefined ? 24 : Number(process.env.TITANS_PROPERTY_SEED);
  const scale = process.env.TITANS_PROPERTY_RUNS === undefined ? 1 : Number(process.env.TITANS_PROPERTY_RUNS);
  if (!Number.isFinite(seed) || !Number.isFinite(scale) || scale <= 0) {
    throw new Error('TITANS_PROPERTY_SEED must be an integer and TITANS_PROPERTY_RUNS a positive multiplier of the default run counts');
  }
  return { seed, numRuns: Math.max(1, Math.round(defaultRuns * scale)) };
}
