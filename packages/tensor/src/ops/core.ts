// Primitive ops: each calls one backend primitive and states its gradient with other
// differentiable ops, so gradients of gradients come for free.
import type { Backend, BinaryOp, DType, ReduceOp, Storage, TypedArray, UnaryOp, View } from '../backend.js';
import { arrayConstructor } from '../backend.js';
import { SharedStorage, getBackend, isGradEnabled, rememberScalarValue } from '../engine.js';
import { isTracing } from '../compile/host.js';
import {
  ShapeError, broadcastShapes, checkShape, contiguousStrides, formatShape, normalizeAxes, normalizeAxis, sizeOf,
} from '../shape.js';
import { Tensor, fromStorage, record, sameShape, viewOf, type NestedArray } from '../tensor.js';
import { requireFloat } from './dtype.js';

// ---------------------------------------------------------------- creation

export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
}

function flatten(data: NestedArray, out: number[], shape: number[], depth: number): void {
  if (typeof data === 'number') {
    if (depth !== shape.length) throw new ShapeError('tensor: ragged nested array');
    out.push(data);
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new ShapeError('tensor: ragged nested array');
  for (const item of data) flatten(item, out, shape, depth + 1);
}

/** A tensor from nested arrays, or from a flat array and a shape. */
export function tensor(data: NestedArray | TypedArray | readonly number[], shape?: readonly number[], options: CreateOptions = {}): Tensor {
  const dtype = options.dtype ?? (data instanceof Int32Array ? 'int32' : data instanceof Float64Array ? 'float64' : 'float32');
  const backend = options.backend ?? getBackend();
  if (!backend.supports(dtype)) throw new Error(`tensor: the ${backend.name} backend does not support ${dtype}`);
  let flat: TypedArray;
  let inferred: number[];
  if (ArrayBuffer.isView(data)) {
    flat = data;
    inferred = [data.length];
  } else {
    const values: number[] = [];
    inferred = [];
    flatten(data as NestedArray, values, inferred, 0);
    flat = new (arrayConstructor(dtype))(values);
  }
  const finalShape = shape ? [...shape] : inferred;
  checkShape('tensor', finalShape);
  if (sizeOf(finalShape) !== flat.length) {
    throw new ShapeError(`tensor: ${flat.length} values cannot fill shape ${formatShape(finalShape)}`);
  }
  return fromStorage(backend.fromArray(flat, dtype), finalShape);
}

/**
 * Scalars are cached per (backend, dtype, value): models multiply by the same constants
 * thousands of times per step, and a fresh allocation each time dominated small ops.
 */
const scalarCache = new WeakMap<Backend, Map<string, SharedStorage>>();
/** Least-recently-used eviction keeps the cache (and the bytes it pins) bounded. */
const SCALAR_CACHE_LIMIT = 256;

export function scalar(value: number, options: CreateOptions = {}): Tensor {
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? 'float32';
  let cache = scalarCache.get(backend);
  if (!cache) {
    cache = new Map();
    scalarCache.set(backend, cache);
  }
  const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
  let shared = cache.get(key);
  if (shared) {
    cache.delete(key);
  } else {
    if (cache.size >= SCALAR_CACHE_LIMIT) {
      const [oldestKey, oldest] = cache.entries().next().value as [string, SharedStorage];
      cache.delete(oldestKey);
      oldest.release();
    }
    shared = new SharedStorage(backend.fill(1, value, dtype));
    rememberScalarValue(shared.storage, value);
  }
  cache.set(key, shared);
  return new Tensor(shared.retain(), [], [], 0);
}

/**
 * Drops a backend's cached scalars (the active one by default); their storage is freed once
 * no tensor uses it. Leak checks call it before reading `liveBytes`, since the cache keeps
 * up to SCALAR_CACHE_LIMIT values (an optimizer's per-step constants included).
 */
export function clearScalarCache(backend: Backend = getBackend()): void {
  const cache = scalarCache.get(backend);
  if (!cache) return;
  for (const shared of cache.values()) shared.release();
  cache.clear();
}

export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  const backend = options.backend ?? getBackend();
  return fromStorage(backend.fill(sizeOf(shape), value, options.dtype ?? 'float32'), shape);
}

export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(x: Tensor): Tensor {
  return full(x.shape, 0, { dtype: x.dtype, backend: x.backend });
}

export function onesLike(x: Tensor): Tensor {
  return full(x.shape, 1, { dtype: x.dtype, backend: x.backend });
}

export function fullLike(x: Tensor, value: number): Tensor {
  return full(x.shape, value, { dtype: x.dtype, backend: x.backend });
}

/** [start, stop) with a step. */
export function arange(start: number, stop?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = options.dtype ?? 'float32';
  const values = new (arrayConstructor(dtype))(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return tensor(values, [n], { ...options, dtype });
}

// ---------------------------------------------------------------- helpers

function checkAlive(op: string, t: Tensor, arg: string): void {
  if (t.disposed) throw new Error(`${op}: argument '${arg}' (tensor #${t.id} ${formatShape(t.shape)}) was used after dispose()`);
}

/** Numbers become scalars of the tensor's dtype; dtypes and backends must agree. */
function coerce(op: string, a: Tensor | number, b: Tensor | number): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one argument must be a tensor`);
  if (typeof a !== 'number') checkAlive(op, a, 'a');
  if (typeof b !== 'number') checkAlive(op, b, 'b');
  const ref = (typeof a === 'number' ? b : a) as Tensor;
  const ta = typeof a === 'number' ? scalar(a, { dtype: ref.dtype, backend: ref.backend }) : a;
  const tb = typeof b === 'number' ? scalar(b, { dtype: ref.dtype, backend: ref.backend }) : b;
  checkAlive(op, ta, 'a');
  checkAlive(op, tb, 'b');
  if (ta.dtype !== tb.dtype) {
    throw new TypeError(`${op}: dtype mismatch: a is ${ta.dtype} ${formatShape(ta.shape)}, b is ${tb.dtype} ${formatShape(tb.shape)} (cast one of them)`);
  }
  if (ta.backend !== tb.backend) {
    throw new Error(`${op}: tensors live on different backends (${ta.backend.name} and ${tb.backend.name}); move one with .to()`);
  }
  return [ta, tb];
}

/** A view of `t` broadcast to `shape` (zero strides on broadcast axes). */
function broadcastView(t: Tensor, shape: readonly number[]): View {
  const lead = shape.length - t.ndim;
  const strides = shape.map((n, i) => {
    if (i < lead) return 0;
    const d = t.shape[i - lead]!;
    return d === 1 && n !== 1 ? 0 : t.strides[i - lead]!;
  });
  return { ...t.view(), shape, strides };
}

/** Sums `g` down to `shape`, undoing a broadcast (the gradient of an implicit expand). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? sum(g, axes, true) : g;
  return reshape(summed, shape);
}

// ---------------------------------------------------------------- elementwise

/** Unary ops without an integer meaning, by their public names. */
const FLOAT_ONLY_UNARY: Partial<Record<UnaryOp, string>> = {
  exp: 'exp', log: 'log', sqrt: 'sqrt', rsqrt: 'rsqrt', tanh: 'tanh', sigmoid: 'sigmoid', erf: 'erf',
  recip: 'reciprocal', sin: 'sin', cos: 'cos', softplus: 'softplus',
};

function unaryPrimitive(op: UnaryOp, x: Tensor, backward: ((g: Tensor, out: Tensor) => Tensor) | null): Tensor {
  checkAlive(op, x, 'x');
  const floatName = FLOAT_ONLY_UNARY[op];
  if (floatName !== undefined) requireFloat(floatName, x);
  const out = fromStorage(x.backend.unary(op, x.view(), x.dtype), x.shape);
  if (backward === null || x.dtype === 'int32') return out;
  return record(out, op, [x], (g) => [backward(g, out)]);
}

export const neg = (x: Tensor): Tensor => unaryPrimitive('neg', x, (g) => neg(g));
export const exp = (x: Tensor): Tensor => unaryPrimitive('exp', x, (g, out) => mul(g, out));
export const log = (x: Tensor): Tensor => unaryPrimitive('log', x, (g) => div(g, x));
export const sqrt = (x: Tensor): Tensor => unaryPrimitive('sqrt', x, (g, out) => div(mul(g, 0.5), out));
export const rsqrt = (x: Tensor): Tensor => unaryPrimitive('rsqrt', x, (g, out) => mul(g, mul(div(out, x), -0.5)));
export const abs = (x: Tensor): Tensor => unaryPrimitive('abs', x, (g) => mul(g, sign(x)));
export const sign = (x: Tensor): Tensor => unaryPrimitive('sign', x, null);
export const floor = (x: Tensor): Tensor => unaryPrimitive('floor', x, null);
export const tanh = (x: Tensor): Tensor => unaryPrimitive('tanh', x, (g, out) => mul(g, sub(1, square(out))));
export const sigmoid = (x: Tensor): Tensor => unaryPrimitive('sigmoid', x, (g, out) => mul(g, mul(out, sub(1, out))));
export const relu = (x: Tensor): Tensor => unaryPrimitive('relu', x, (g) => mul(g, gt(x, 0)));
export const erf = (x: Tensor): Tensor => unaryPrimitive('erf', x, (g) => mul(g, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI))));
export const reciprocal = (x: Tensor): Tensor => unaryPrimitive('recip', x, (g, out) => neg(mul(g, square(out))));
export const sin = (x: Tensor): Tensor => unaryPrimitive('sin', x, (g) => mul(g, cos(x)));
export const cos = (x: Tensor): Tensor => unaryPrimitive('cos', x, (g) => neg(mul(g, sin(x))));
export const softplus = (x: Tensor): Tensor => unaryPrimitive('softplus', x, (g) => mul(g, sigmoid(x)));
export const square = (x: Tensor): Tensor => unaryPrimitive('square', x, (g) => mul(g, mul(x, 2)));

function binaryPrimitive(
  op: BinaryOp, a0: Tensor | number, b0: Tensor | number,
  backward: ((g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null]) | null,
): Tensor {
  const [a, b] = coerce(op, a0, b0);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const storage = a.backend.binary(op, broadcastView(a, shape), broadcastView(b, shape), a.dtype);
  const out = fromStorage(storage, shape);
  if (backward === null || a.dtype === 'int32') return out;
  return record(out, op, [a, b], (g) => {
    const [ga, gb] = backward(g, a, b, out);
    return [ga && a.requiresGrad ? sumTo(ga, a.shape) : null, gb && b.requiresGrad ? sumTo(gb, b.shape) : null];
  });
}

export const add = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('add', a, b, (g) => [g, g]);
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('sub', a, b, (g) => [g, neg(g)]);
export const mul = (a: Tensor | number, b: Tensor | number): Tensor =>
  binaryPrimitive('mul', a, b, (g, x, y) => [x.requiresGrad ? mul(g, y) : null, y.requiresGrad ? mul(g, x) : null]);
export const div = (a: Tensor | number, b: Tensor | number): Tensor =>
  binaryPrimitive('div', a, b, (g, x, y, out) => [x.requiresGrad ? div(g, y) : null, y.requiresGrad ? neg(div(mul(g, out), y)) : null]);
export const pow = (a: Tensor | number, b: Tensor | number): Tensor =>
  binaryPrimitive('pow', a, b, (g, x, y, out) => [
    x.requiresGrad ? mul(g, mul(y, pow(x, sub(y, 1)))) : null,
    y.requiresGrad ? mul(g, mul(out, log(x))) : null,
  ]);
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor =>
  binaryPrimitive('maximum', a, b, (g, x, y) => [mul(g, ge(x, y)), mul(g, lt(x, y))]);
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor =>
  binaryPrimitive('minimum', a, b, (g, x, y) => [mul(g, le(x, y)), mul(g, gt(x, y))]);
export const eq = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('eq', a, b, null);
export const ne = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('ne', a, b, null);
export const lt = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('lt', a, b, null);
export const le = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('le', a, b, null);
export const gt = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('gt', a, b, null);
export const ge = (a: Tensor | number, b: Tensor | number): Tensor => binaryPrimitive('ge', a, b, null);

/** cond ? a : b elementwise, with broadcasting. `cond` is any dtype (non-zero is true). */
export function where(cond: Tensor, a0: Tensor | number, b0: Tensor | number): Tensor {
  checkAlive('where', cond, 'cond');
  const ref = typeof a0 === 'number' ? (typeof b0 === 'number' ? undefined : b0) : a0;
  const opts = { dtype: ref?.dtype ?? 'float32', backend: cond.backend } as const;
  const a = typeof a0 === 'number' ? scalar(a0, opts) : a0;
  const b = typeof b0 === 'number' ? scalar(b0, opts) : b0;
  coerce('where', a, b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const out = fromStorage(cond.backend.where(broadcastView(cond, shape), broadcastView(a, shape), broadcastView(b, shape)), shape);
  if (a.dtype === 'int32') return out;
  return record(out, 'where', [a, b], (g) => [
    a.requiresGrad ? sumTo(where(cond, g, 0), a.shape) : null,
    b.requiresGrad ? sumTo(where(cond, 0, g), b.shape) : null,
  ]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  checkAlive('cast', x, 'x');
  if (x.dtype === dtype) return x;
  if (!x.backend.supports(dtype)) throw new Error(`cast: the ${x.backend.name} backend does not support ${dtype}`);
  const out = fromStorage(x.backend.cast(x.view(), dtype), x.shape);
  if (dtype === 'int32' || x.dtype === 'int32') return out;
  return record(out, 'cast', [x], (g) => [cast(g, x.dtype)]);
}

/** A contiguous copy (identity for gradients). */
export function contiguous(x: Tensor): Tensor {
  checkAlive('contiguous', x, 'x');
  const out = fromStorage(x.backend.unary('copy', x.view(), x.dtype), x.shape);
  return record(out, 'contiguous', [x], (g) => [g]);
}

export function clone(x: Tensor): Tensor {
  return contiguous(x);
}

/** The same values, cut from the gradient graph. */
export function detach(x: Tensor): Tensor {
  checkAlive('detach', x, 'x');
  return viewOf(x, x.shape, x.strides, x.offset);
}

/**
 * Copies a tensor to another backend. Gradients flow back: `gradients` handles copies
 * between backends that read synchronously (CPU to CPU); a copy from the CPU to WebGPU needs
 * its gradient read back from the GPU, which is asynchronous: use `await gradientsAsync(...)`.
 */
export function toBackend(x: Tensor, backend: Backend): Tensor {
  if (x.backend === backend) return x;
  if (!x.backend.syncRead) throw new Error(`toBackend: ${x.backend.name} reads asynchronously; copy with await toBackendAsync(x, backend)`);
  const out = fromStorage(backend.fromArray(x.dataSync(), x.dtype), x.shape);
  return record(out, 'to', [x], (g) => {
    if (!g.backend.syncRead) {
      throw new Error(
        `gradients: the gradient of toBackend(x, ${backend.name}) must be read back from ${backend.name} to ${x.backend.name}, ` +
        `which only reads asynchronously: use await gradientsAsync(output, inputs) (or create x on ${backend.name})`,
      );
    }
    return [toBackend(g, x.backend)];
  });
}

export async function toBackendAsync(x: Tensor, backend: Backend): Promise<Tensor> {
  if (x.backend === backend) return x;
  return fromStorage(backend.fromArray(await x.data(), x.dtype), x.shape);
}

// ---------------------------------------------------------------- views

export function reshape(x: Tensor, shape0: readonly number[]): Tensor {
  checkAlive('reshape', x, 'x');
  const shape = [...shape0];
  const infer = shape.indexOf(-1);
  if (infer >= 0) {
    const known = shape.reduce((p, d, i) => (i === infer ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) throw new ShapeError(`reshape: cannot infer -1 in ${formatShape(shape0)} for ${x.size} elements`);
    shape[infer] = x.size / known;
  }
  checkShape('reshape', shape);
  if (sizeOf(shape) !== x.size) throw new ShapeError(`reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) to ${formatShape(shape)}`);
  if (sameShape(shape, x.shape)) return x;
  const base = x.isContiguous() || isDenseRowMajor(x) ? x : contiguous(x);
  const out = viewOf(base, shape, contiguousStrides(shape), base.offset);
  return record(out, 'reshape', [base], (g) => [reshape(g, base.shape)]);
}

/** Row-major with an offset (a contiguous slice of a bigger storage). */
function isDenseRowMajor(x: Tensor): boolean {
  const expected = contiguousStrides(x.shape);
  return x.shape.every((n, i) => n === 1 || x.strides[i] === expected[i]);
}

export function permute(x: Tensor, axes0: readonly number[]): Tensor {
  checkAlive('permute', x, 'x');
  if (axes0.length !== x.ndim) throw new ShapeError(`permute: ${axes0.length} axes given for a tensor of rank ${x.ndim}`);
  const axes = axes0.map((a) => normalizeAxis('permute', a, x.ndim));
  if (new Set(axes).size !== axes.length) throw new ShapeError(`permute: axes ${JSON.stringify(axes0)} are not a permutation`);
  if (axes.every((a, i) => a === i)) return x;
  const out = viewOf(x, axes.map((a) => x.shape[a]!), axes.map((a) => x.strides[a]!), x.offset);
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => { inverse[a] = i; });
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  if (x.ndim < 2) throw new ShapeError(`transpose: needs rank >= 2, got ${formatShape(x.shape)}`);
  const axes = Array.from({ length: x.ndim }, (_, i) => i);
  const i = normalizeAxis('transpose', a, x.ndim);
  const j = normalizeAxis('transpose', b, x.ndim);
  [axes[i], axes[j]] = [axes[j]!, axes[i]!];
  return permute(x, axes);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  checkAlive('expand', x, 'x');
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) throw new ShapeError(`expand: cannot expand ${formatShape(x.shape)} to ${formatShape(shape)}`);
  if (sameShape(shape, x.shape)) return x;
  const v = broadcastView(x, shape);
  const out = viewOf(x, shape, v.strides, x.offset);
  return record(out, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}

/** Inserts a size-1 axis: always a view (a size-1 axis can take any stride). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  checkAlive('unsqueeze', x, 'x');
  const a = normalizeAxis('unsqueeze', axis, x.ndim + 1);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(a, 0, 1);
  strides.splice(a, 0, a < x.ndim ? x.strides[a]! * x.shape[a]! : 1);
  const out = viewOf(x, shape, strides, x.offset);
  return record(out, 'unsqueeze', [x], (g) => [squeeze(g, a)]);
}

/** Removes one size-1 axis (or all of them): always a view. */
export function squeeze(x: Tensor, axis?: number): Tensor {
  checkAlive('squeeze', x, 'x');
  let axes: number[];
  if (axis === undefined) {
    axes = x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  } else {
    const a = normalizeAxis('squeeze', axis, x.ndim);
    if (x.shape[a] !== 1) throw new ShapeError(`squeeze: axis ${axis} of ${formatShape(x.shape)} has size ${x.shape[a]}, not 1`);
    axes = [a];
  }
  if (axes.length === 0) return x;
  const keep = (_: number, i: number): boolean => !axes.includes(i);
  const out = viewOf(x, x.shape.filter(keep), x.strides.filter(keep), x.offset);
  return record(out, 'squeeze', [x], (g) => {
    let back = g;
    for (const a of axes) back = unsqueeze(back, a);
    return [back];
  });
}

/** Elements [start, start + length) along an axis, as a view. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  checkAlive('narrow', x, 'x');
  const a = normalizeAxis('narrow', axis, x.ndim);
  const n = x.shape[a]!;
  if (start < 0) start += n;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > n) {
    throw new ShapeError(`narrow: range [${start}, ${start + length}) is out of bounds for axis ${axis} of size ${n} (shape ${formatShape(x.shape)})`);
  }
  if (start === 0 && length === n) return x;
  const shape = [...x.shape];
  shape[a] = length;
  const out = viewOf(x, shape, x.strides, x.offset + start * x.strides[a]!);
  return record(out, 'narrow', [x], (g) => [padAxis(g, a, start, n - start - length)], { axis: a, start, length });
}

/** Slices every axis: `begin[i]` and `size[i]` (size -1 means to the end). */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  let out = x;
  begin.forEach((b, axis) => {
    const len = size?.[axis] ?? -1;
    const start = b < 0 ? b + x.shape[axis]! : b;
    out = narrow(out, axis, start, len === -1 ? x.shape[axis]! - start : len);
  });
  return out;
}

/** Zero padding before and after one axis. */
export function padAxis(x: Tensor, axis: number, before: number, after: number, value = 0): Tensor {
  const a = normalizeAxis('pad', axis, x.ndim);
  const parts: Tensor[] = [];
  const side = (n: number): Tensor => {
    const shape = [...x.shape];
    shape[a] = n;
    return full(shape, value, { dtype: x.dtype, backend: x.backend });
  };
  if (before > 0) parts.push(side(before));
  parts.push(x);
  if (after > 0) parts.push(side(after));
  return parts.length === 1 ? x : concat(parts, a);
}

/** Pads each axis by `[before, after]` pairs (missing leading axes are not padded). */
export function pad(x: Tensor, padding: readonly (readonly [number, number])[], value = 0): Tensor {
  if (padding.length > x.ndim) throw new ShapeError(`pad: ${padding.length} pairs for a tensor of rank ${x.ndim}`);
  let out = x;
  padding.forEach(([before, after], i) => {
    if (before < 0 || after < 0) throw new ShapeError(`pad: negative padding on axis ${i}`);
    out = padAxis(out, x.ndim - padding.length + i, before, after, value);
  });
  return out;
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: needs at least one tensor');
  xs.forEach((x, i) => checkAlive('concat', x, `xs[${i}]`));
  const first = xs[0]!;
  const a = normalizeAxis('concat', axis, first.ndim);
  for (const [i, x] of xs.entries()) {
    if (x.ndim !== first.ndim || x.shape.some((d, j) => j !== a && d !== first.shape[j])) {
      throw new ShapeError(`concat: xs[${i}] has shape ${formatShape(x.shape)}, incompatible with ${formatShape(first.shape)} along axis ${a}`);
    }
    if (x.dtype !== first.dtype) throw new TypeError(`concat: xs[${i}] is ${x.dtype}, xs[0] is ${first.dtype}`);
    if (x.backend !== first.backend) throw new Error(`concat: xs[${i}] lives on ${x.backend.name}, xs[0] on ${first.backend.name}`);
  }
  if (xs.length === 1) return first;
  const outer = sizeOf(first.shape.slice(0, a));
  const tail = sizeOf(first.shape.slice(a + 1));
  const parts = xs.map((x) => (x.isContiguous() ? x : contiguous(x)));
  const storage = first.backend.concatRows(parts.map((p) => p.view().storage), outer, parts.map((p) => p.shape[a]! * tail));
  parts.forEach((p, i) => { if (p !== xs[i]) p.dispose(); });
  const shape = [...first.shape];
  shape[a] = xs.reduce((s, x) => s + x.shape[a]!, 0);
  const out = fromStorage(storage, shape);
  return record(out, 'concat', xs, (g) => {
    let start = 0;
    return xs.map((x) => {
      const piece = narrow(g, a, start, x.shape[a]!);
      start += x.shape[a]!;
      return x.requiresGrad ? piece : null;
    });
  });
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: needs at least one tensor');
  const a = normalizeAxis('stack', axis, xs[0]!.ndim + 1);
  return concat(xs.map((x) => unsqueeze(x, a)), a);
}

/** Splits along an axis into pieces of the given sizes (or `n` equal pieces). */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normalizeAxis('split', axis, x.ndim);
  const n = x.shape[a]!;
  let list: number[];
  if (typeof sizes === 'number') {
    if (n % sizes !== 0) throw new ShapeError(`split: axis ${axis} of size ${n} does not divide into ${sizes} pieces`);
    list = Array.from({ length: sizes }, () => n / sizes);
  } else {
    list = [...sizes];
    if (list.reduce((s, v) => s + v, 0) !== n) throw new ShapeError(`split: sizes ${JSON.stringify(list)} do not add up to ${n}`);
  }
  let start = 0;
  return list.map((len) => {
    const piece = narrow(x, a, start, len);
    start += len;
    return piece;
  });
}

// ---------------------------------------------------------------- reductions

/**
 * Moves the reduced axes last, makes the tensor contiguous and hands the backend a
 * [kept, reduced] matrix.
 */
function reduceRowsOf(
  x: Tensor, axes: number[], outDtype: DType, run: (storage: Storage, rows: number, cols: number) => Storage,
): { storage: Storage; kept: number[] } {
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...keptAxes, ...axes];
  const moved = permuteRaw(x, perm);
  const dense = moved.isContiguous() ? moved : contiguousRaw(moved);
  const rows = sizeOf(keptAxes.map((i) => x.shape[i]!));
  const cols = sizeOf(axes.map((i) => x.shape[i]!));
  // No rows: an empty result on every backend, without a kernel launch.
  const storage = rows === 0 ? x.backend.fill(0, 0, outDtype) : run(dense.view().storage, rows, cols);
  if (dense !== moved) dense.dispose();
  if (moved !== x) moved.dispose();
  return { storage, kept: keptAxes.map((i) => x.shape[i]!) };
}

/**
 * A contiguous x reduced over one run of consecutive axes that are not its last ones (a bias
 * gradient's sum over the leading axes): the backend's optional reduceMiddle reads x as
 * [outer, mid, inner] in place, where reduceRowsOf would first copy the transposed view.
 * null where it does not apply.
 */
function reduceMiddleOf(op: ReduceOp, x: Tensor, axes: number[]): { storage: Storage; kept: number[] } | null {
  const reduceMiddle = x.backend.reduceMiddle;
  if (reduceMiddle === undefined || axes.length === 0 || !x.isContiguous()) return null;
  const sorted = [...axes].sort((p, q) => p - q);
  const first = sorted[0]!;
  const end = sorted.at(-1)! + 1;
  if (end - first !== sorted.length || end === x.ndim) return null;
  const outer = sizeOf(x.shape.slice(0, first));
  const mid = sizeOf(x.shape.slice(first, end));
  const inner = sizeOf(x.shape.slice(end));
  if (outer * inner === 0) return null;
  const kept = x.shape.filter((_, i) => i < first || i >= end);
  return { storage: reduceMiddle.call(x.backend, op, x.view().storage, outer, mid, inner), kept };
}

function permuteRaw(x: Tensor, perm: number[]): Tensor {
  if (perm.every((a, i) => a === i)) return x;
  return viewOf(x, perm.map((a) => x.shape[a]!), perm.map((a) => x.strides[a]!), x.offset);
}

function contiguousRaw(x: Tensor): Tensor {
  return fromStorage(x.backend.unary('copy', x.view(), x.dtype), x.shape);
}

function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/**
 * max/min/argmax/argmin have no value over an empty axis (there is no identity), as in
 * PyTorch; zero rows with a non-empty axis are fine and give an empty result.
 */
function checkReducedNotEmpty(op: string, x: Tensor, axes: readonly number[]): void {
  const empty = axes.filter((a) => x.shape[a] === 0);
  if (empty.length > 0) {
    throw new ShapeError(`${op}: cannot reduce over axis ${empty[0]} of size 0 (shape ${formatShape(x.shape)}): the ${op} of no values is undefined`);
  }
}

function reducePrimitive(op: ReduceOp, x: Tensor, axis: number | readonly number[] | undefined, keepDims: boolean): Tensor {
  checkAlive(op, x, 'x');
  const axes = normalizeAxes(op, axis, x.ndim);
  if (op === 'max' || op === 'min') checkReducedNotEmpty(op, x, axes);
  const { storage, kept } = reduceMiddleOf(op, x, axes) ?? reduceRowsOf(x, axes, x.dtype, (s, rows, cols) => x.backend.reduceRows(op, s, rows, cols));
  const outShape = keepDims ? keepDimsShape(x.shape, axes) : kept;
  const out = fromStorage(storage, outShape);
  if (x.dtype === 'int32') return out;
  const kd = keepDimsShape(x.shape, axes);
  return record(out, op, [x], (g) => {
    const gk = reshape(g, kd);
    switch (op) {
      case 'sum':
        return [expand(gk, x.shape)];
      case 'prod':
        return [mul(expand(gk, x.shape), div(reshape(out, kd), x))];
      case 'max':
      case 'min': {
        // Ties share the gradient equally.
        const mask = eq(x, reshape(detach(out), kd));
        return [mul(div(mask, sum(mask, axes, true)), gk)];
      }
    }
  });
}

export function sum(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  return reducePrimitive('sum', x, axis, keepDims);
}
export function max(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  return reducePrimitive('max', x, axis, keepDims);
}
export function min(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  return reducePrimitive('min', x, axis, keepDims);
}
/** Product over axes (the gradient divides by x, so x must be non-zero where gradients are needed). */
export function prod(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  return reducePrimitive('prod', x, axis, keepDims);
}

export function mean(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  requireFloat('mean', x);
  const axes = normalizeAxes('mean', axis, x.ndim);
  const count = sizeOf(axes.map((a) => x.shape[a]!));
  return div(sum(x, axes, keepDims), count);
}

/** Variance (biased by default, `correction: 1` for the unbiased estimate). */
export function variance(x: Tensor, axis?: number | readonly number[], keepDims = false, correction = 0): Tensor {
  requireFloat('variance', x);
  const axes = normalizeAxes('var', axis, x.ndim);
  const count = sizeOf(axes.map((a) => x.shape[a]!));
  const centred = sub(x, mean(x, axes, true));
  return div(sum(square(centred), axes, keepDims), count - correction);
}

export function logsumexp(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  requireFloat('logsumexp', x);
  const axes = normalizeAxes('logsumexp', axis, x.ndim);
  if (x.size === 0) {
    // Nothing to shift by: log(0) = -Infinity over an empty axis, an empty result over no rows.
    const empty = log(sum(exp(x), axes, true));
    return keepDims ? empty : reshape(empty, x.shape.filter((_, i) => !axes.includes(i)));
  }
  const m = detach(max(x, axes, true));
  const safeM = where(ne(m, m), 0, where(eq(abs(m), Infinity), 0, m));
  const out = add(log(sum(exp(sub(x, safeM)), axes, true)), safeM);
  return keepDims ? out : reshape(out, x.shape.filter((_, i) => !axes.includes(i)));
}

function argReduce(op: 'argmax' | 'argmin', x: Tensor, axis: number, keepDims: boolean): Tensor {
  checkAlive(op, x, 'x');
  const a = normalizeAxis(op, axis, x.ndim);
  checkReducedNotEmpty(op, x, [a]);
  const { storage, kept } = reduceRowsOf(x, [a], 'int32', (s, rows, cols) => x.backend.argReduceRows(op, s, rows, cols));
  return fromStorage(storage, keepDims ? keepDimsShape(x.shape, [a]) : kept);
}

export const argmax = (x: Tensor, axis = -1, keepDims = false): Tensor => argReduce('argmax', x, axis, keepDims);
export const argmin = (x: Tensor, axis = -1, keepDims = false): Tensor => argReduce('argmin', x, axis, keepDims);

// ---------------------------------------------------------------- matmul

/** A [batch, rows, cols] view of a tensor whose leading axes can merge into one stride. */
function batchView(x: Tensor, batch: number): View {
  const v = x.view();
  const nd = x.ndim;
  const lead = x.shape.slice(0, nd - 2);
  const leadStrides = x.strides.slice(0, nd - 2);
  let stride = 0;
  let ok = true;
  let expected: number | null = null;
  for (let i = lead.length - 1; i >= 0; i--) {
    if (lead[i] === 1) continue;
    if (expected === null) {
      stride = leadStrides[i]!;
      expected = stride * lead[i]!;
    } else if (leadStrides[i] === expected) {
      expected = leadStrides[i]! * lead[i]!;
    } else if (stride === 0 && leadStrides[i] === 0) {
      expected = 0;
    } else {
      ok = false;
      break;
    }
  }
  if (!ok) throw new Error('internal: batch axes not mergeable');
  return { ...v, shape: [batch, x.shape[nd - 2]!, x.shape[nd - 1]!], strides: [stride, x.strides[nd - 2]!, x.strides[nd - 1]!] };
}

function canMergeBatch(x: Tensor): boolean {
  try {
    batchView(x, 1);
    return true;
  } catch {
    return false;
  }
}

/** Matrix product with NumPy semantics: batched, broadcast, 1-D operands promoted. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkAlive('matmul', a, 'a');
  checkAlive('matmul', b, 'b');
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: operands must be at least 1-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  if (a.ndim === 1 && b.ndim === 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), []);
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  if (a.dtype !== b.dtype) throw new TypeError(`matmul: dtype mismatch: a is ${a.dtype}, b is ${b.dtype}`);
  if (a.backend !== b.backend) throw new Error(`matmul: a lives on ${a.backend.name}, b on ${b.backend.name}`);
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const k2 = b.shape[b.ndim - 2]!;
  const n = b.shape[b.ndim - 1]!;
  if (k !== k2) throw new ShapeError(`matmul: inner dimensions differ: a ${formatShape(a.shape)} has ${k} columns, b ${formatShape(b.shape)} has ${k2} rows`);
  if (b.ndim === 2 && a.ndim > 2 && a.size > 0 && (a.isContiguous() || isDenseRowMajor(a))) {
    // A stack of matrices times one matrix (a linear layer on [batch, tokens, features]): one
    // [rows, k] @ [k, n] product, so b's gradient is a single product over all rows rather
    // than a batch of products summed afterwards. Each output sums over k in the same order.
    return reshape(matmul(reshape(a, [a.size / k, k]), b), [...a.shape.slice(0, -1), n]);
  }
  const batchShape = broadcastShapes('matmul (batch axes)', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const ea = expandRaw(a, [...batchShape, m, k]);
  const eb = expandRaw(b, [...batchShape, k, n]);
  const da = canMergeBatch(ea) ? ea : contiguousRaw(ea);
  const db = canMergeBatch(eb) ? eb : contiguousRaw(eb);
  const storage = a.backend.matmul(batchView(da, batch), batchView(db, batch));
  for (const t of [ea, eb, da, db]) if (t !== a && t !== b) t.dispose();
  const out = fromStorage(storage, [...batchShape, m, n]);
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(b)), a.shape) : null,
    b.requiresGrad ? sumTo(matmul(transpose(a), g), b.shape) : null,
  ]);
}

function expandRaw(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const v = broadcastView(x, shape);
  return viewOf(x, shape, v.strides, x.offset);
}

// ---------------------------------------------------------------- scans

/** Applies a row primitive along `axis` by moving that axis last. */
function alongLastAxis(x: Tensor, axis: number, fn: (dense: Tensor, rows: number, cols: number) => Tensor): Tensor {
  const a = normalizeAxis('scan', axis, x.ndim);
  if (a !== x.ndim - 1) {
    const moved = transpose(x, a, -1);
    return transpose(alongLastAxis(moved, -1, fn), a, -1);
  }
  const cols = x.shape[x.ndim - 1] ?? 1;
  const rows = cols === 0 ? 0 : x.size / cols;
  return fn(x, rows, cols);
}

function scanPrimitive(op: 'sum' | 'prod', x: Tensor, axis: number, reverse: boolean): Tensor {
  checkAlive(op === 'sum' ? 'cumsum' : 'cumprod', x, 'x');
  return alongLastAxis(x, axis, (t, rows, cols) => {
    const dense = t.isContiguous() ? t : contiguousRaw(t);
    const out = fromStorage(t.backend.scanRows(op, dense.view().storage, rows, cols, reverse), t.shape);
    if (dense !== t) dense.dispose();
    return record(out, op === 'sum' ? 'cumsum' : 'cumprod', [t], (g) => {
      if (op === 'sum') return [cumsum(g, -1, !reverse)];
      // d out_j / d x_i = out_j / x_i for j at or after i: needs non-zero x.
      return [div(cumsum(mul(g, out), -1, !reverse), t)];
    });
  });
}

export function cumsum(x: Tensor, axis = -1, reverse = false): Tensor {
  return scanPrimitive('sum', x, axis, reverse);
}

/** Cumulative product (its gradient divides by x: use `linearScan` where zeros occur). */
export function cumprod(x: Tensor, axis = -1, reverse = false): Tensor {
  return scanPrimitive('prod', x, axis, reverse);
}

/** Shifts along the last axis by one (towards later positions, or earlier when reverse), filling 0. */
function shiftLast(x: Tensor, towardsEnd: boolean): Tensor {
  const n = x.shape[x.ndim - 1]!;
  if (n <= 1) return zerosLike(x);
  return towardsEnd ? padAxis(narrow(x, -1, 0, n - 1), -1, 1, 0) : padAxis(narrow(x, -1, 1, n - 1), -1, 0, 1);
}

/**
 * The first-order linear recurrence h_t = a_t * h_{t-1} + b_t along an axis (h before the
 * first step is 0; with `reverse` the recurrence runs from the end). Momentum and decay
 * in the neural memory are exactly this.
 */
export function linearScan(a: Tensor, b: Tensor, axis = -1, reverse = false): Tensor {
  checkAlive('linearScan', a, 'a');
  checkAlive('linearScan', b, 'b');
  if (!sameShape(a.shape, b.shape)) throw new ShapeError(`linearScan: a ${formatShape(a.shape)} and b ${formatShape(b.shape)} must have the same shape`);
  if (a.dtype !== b.dtype) throw new TypeError(`linearScan: a is ${a.dtype}, b is ${b.dtype}`);
  const ax = normalizeAxis('linearScan', axis, a.ndim);
  if (ax !== a.ndim - 1) return transpose(linearScan(transpose(a, ax, -1), transpose(b, ax, -1), -1, reverse), ax, -1);
  const cols = a.shape[a.ndim - 1]!;
  const rows = cols === 0 ? 0 : a.size / cols;
  const da = a.isContiguous() ? a : contiguousRaw(a);
  const db = b.isContiguous() ? b : contiguousRaw(b);
  const out = fromStorage(a.backend.linearScanRows(da.view().storage, db.view().storage, rows, cols, reverse), a.shape);
  if (da !== a) da.dispose();
  if (db !== b) db.dispose();
  return record(out, 'linearScan', [a, b], (g) => {
    // lambda_t = g_t + a_{t+1} lambda_{t+1}: the same recurrence run the other way.
    const lambda = linearScan(shiftLast(a, reverse), g, -1, !reverse);
    const previous = shiftLast(out, !reverse);
    return [a.requiresGrad ? mul(lambda, previous) : null, b.requiresGrad ? lambda : null];
  });
}

/**
 * A general inclusive associative scan along an axis (Hillis-Steele: log2(n) steps of
 * `combine`), differentiable through `combine`. `combine(earlier, later)` must be associative.
 */
export function associativeScan(combine: (earlier: Tensor, later: Tensor) => Tensor, x: Tensor, axis = 0): Tensor {
  const a = normalizeAxis('associativeScan', axis, x.ndim);
  const n = x.shape[a]!;
  let acc = x;
  for (let offset = 1; offset < n; offset *= 2) {
    const head = narrow(acc, a, 0, offset);
    const combined = combine(narrow(acc, a, 0, n - offset), narrow(acc, a, offset, n - offset));
    acc = concat([head, combined], a);
  }
  return acc;
}

// ---------------------------------------------------------------- gather / scatter

function checkIndices(op: string, indices: Tensor): void {
  checkAlive(op, indices, 'indices');
  if (indices.dtype !== 'int32') throw new TypeError(`${op}: indices must be int32, got ${indices.dtype}`);
}

/** Rows of `x` along `axis` picked by int32 `indices` (any shape): out shape replaces that axis by indices.shape. */
export function indexSelect(x: Tensor, axis: number, indices: Tensor): Tensor {
  checkAlive('indexSelect', x, 'x');
  checkIndices('indexSelect', indices);
  const a = normalizeAxis('indexSelect', axis, x.ndim);
  if (a !== 0) {
    const moved = transpose(x, 0, a);
    const picked = indexSelect(moved, 0, reshape(indices, [indices.size]));
    return reshape(transpose(picked, 0, a), [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)]);
  }
  const n = x.shape[0]!;
  const width = sizeOf(x.shape.slice(1));
  const dense = x.isContiguous() ? x : contiguousRaw(x);
  const idx = indices.isContiguous() ? indices : contiguousRaw(indices);
  let storage: Storage;
  try {
    storage = x.backend.gatherRows(dense.view().storage, width, idx.view().storage);
  } catch (error) {
    if (error instanceof RangeError) throw new RangeError(`indexSelect: ${error.message} (x ${formatShape(x.shape)})`);
    throw error;
  } finally {
    if (dense !== x) dense.dispose();
    if (idx !== indices) idx.dispose();
  }
  const out = fromStorage(storage, [...indices.shape, ...x.shape.slice(1)]);
  return record(out, 'indexSelect', [x], (g) => [scatterAdd(reshape(g, [indices.size, ...x.shape.slice(1)]), indices, n)]);
}

/** zeros([n, ...]) with src rows added at `indices` (repeated indices accumulate). */
export function scatterAdd(src: Tensor, indices: Tensor, n: number): Tensor {
  checkAlive('scatterAdd', src, 'src');
  checkIndices('scatterAdd', indices);
  if (src.shape[0] !== indices.size) throw new ShapeError(`scatterAdd: src ${formatShape(src.shape)} needs one row per index (${indices.size})`);
  const width = sizeOf(src.shape.slice(1));
  const dense = src.isContiguous() ? src : contiguousRaw(src);
  const idx = indices.isContiguous() ? indices : contiguousRaw(indices);
  const storage = src.backend.scatterAddRows(dense.view().storage, width, idx.view().storage, n);
  if (dense !== src) dense.dispose();
  if (idx !== indices) idx.dispose();
  const out = fromStorage(storage, [n, ...src.shape.slice(1)]);
  return record(out, 'scatterAdd', [src], (g) => [indexSelect(g, 0, reshape(indices, [indices.size]))]);
}

/** out[..., i] = x[..., indices[..., i]] along the last axis (indices has x's leading shape). */
export function takeAlongLastAxis(x: Tensor, indices: Tensor): Tensor {
  checkIndices('takeAlongLastAxis', indices);
  const v = x.shape[x.ndim - 1]!;
  const lead = x.shape.slice(0, -1);
  if (!sameShape(indices.shape.slice(0, -1), lead)) {
    throw new ShapeError(`takeAlongLastAxis: indices ${formatShape(indices.shape)} must match the leading axes of x ${formatShape(x.shape)}`);
  }
  const k = indices.shape[indices.ndim - 1]!;
  const rows = sizeOf(lead);
  // Not inside compile()'s trace, where a host read is refused (the gather's own flat range
  // check still applies there).
  if (indices.backend.syncRead && !isTracing()) {
    // A flat gather cannot see an index that spills into the next row: check here.
    const values = indices.dataSync();
    const bad = values.findIndex((i) => i < 0 || i >= v);
    if (bad >= 0) throw new RangeError(`takeAlongLastAxis: index ${values[bad]} at position ${bad} is out of range [0, ${v}) for x ${formatShape(x.shape)}`);
  }
  // Flat positions row * v + index, computed where the indices live.
  const rowStart = reshape(arange(0, rows * v, v, { dtype: 'int32', backend: indices.backend }), [rows, 1]);
  const flatIdx = reshape(add(rowStart, reshape(indices, [rows, k])), [rows * k]);
  return reshape(indexSelect(reshape(x, [rows * v, 1]), 0, flatIdx), [...lead, k]);
}

/** One-hot float vectors for int32 ids. */
export function oneHot(ids: Tensor, depth: number, dtype: DType = 'float32'): Tensor {
  checkIndices('oneHot', ids);
  const classes = arange(0, depth, 1, { dtype: 'int32', backend: ids.backend });
  return cast(eq(unsqueeze(ids, -1), classes), dtype);
}

export function isGradRecording(): boolean {
  return isGradEnabled();
}
