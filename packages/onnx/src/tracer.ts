// OnnxTracer: a Backend whose storages are values of an ONNX graph. Running ordinary
// tensor code with the tracer active (`withBackend(tracer, fn)`) records each primitive
// as ONNX nodes instead of computing it, so any model written on @titans/tensor exports
// without a second implementation.
//
// Storages are either constants (the data is known: weights, masks, scalars, anything
// computed only from constants) or symbolic (computed from graph inputs). Primitives on
// constants are folded on the CPU backend, so the graph only holds what depends on the
// inputs. Strided views become Reshape / Slice / Transpose / Expand (a Gather of constant
// offsets when a view fits none of those), and a broadcast operand of an elementwise op
// keeps its size-1 axes so ONNX broadcasting does the work.
import {
  arrayConstructor, attentionVisible, cpuBackend, zeros,
  type ArgReduceOp, type AttentionDims, type AttentionOptions, type Backend, type BinaryOp, type DType, type ReduceOp,
  type Storage, type Tensor, type TypedArray, type UnaryOp, type View,
} from '@titans/tensor';
import { GraphBuilder, constantArray, onnxType, sizeOf, type ConstantData, type Value, type ValueType } from './graph.js';

let nextStorageId = 1;

/**
 * Powers with a known exponent as the ops they equal: simpler graphs, and onnxruntime's
 * WebGPU provider fails on some broadcast Pow nodes.
 */
const POWERS: Readonly<Record<number, (g: GraphBuilder, x: Value) => Value>> = {
  1: (_g, x) => x,
  2: (g, x) => g.node('Mul', [x, x], x.shape, x.type),
  3: (g, x) => g.node('Mul', [g.node('Mul', [x, x], x.shape, x.type), x], x.shape, x.type),
  0.5: (g, x) => g.node('Sqrt', [x], x.shape, x.type),
  [-1]: (g, x) => g.node('Reciprocal', [x], x.shape, x.type),
};

/** A storage of the tracer: known data (a constant) or a graph value. */
export class TraceStorage implements Storage {
  readonly id = nextStorageId++;
  /** The whole storage as a graph value (for constants: once it has been needed in the graph). */
  value: Value | null;
  constructor(
    readonly backend: OnnxTracer,
    readonly dtype: DType,
    readonly size: number,
    value: Value | null,
    /** The values, when they are known while tracing. */
    readonly data: TypedArray | null,
    /** A readable name for the initializer (parameters). */
    public label = 'const',
  ) {
    this.value = value;
  }
}

export interface TracerOptions {
  /** Fold an op on constants when its result has at most this many elements (or no more than its largest input). Default 65536. */
  readonly foldLimit?: number;
  /** Linear scans (and cumulative products) up to this length are unrolled step by step; longer ones use a log-depth scan. Default 64. */
  readonly unrollLimit?: number;
}

/** The strided window of a View, without its storage. */
type Window = Pick<View, 'shape' | 'strides' | 'offset'>;

const isDense = (shape: readonly number[], strides: readonly number[]): boolean => {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
};

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);

function broadcastShape(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[i - rank + s.length] ?? 1)));
}

function dropLeadingOnes(shape: readonly number[]): number[] {
  const first = shape.findIndex((d) => d !== 1);
  return first < 0 ? [] : shape.slice(first);
}

function broadcastable(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 1; i <= Math.min(a.length, b.length); i++) {
    const x = a[a.length - i]!;
    const y = b[b.length - i]!;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

/**
 * How a strided window is cut from a row-major block: flatten the first `used` elements,
 * view them as `parent`, take `lengths` elements from `starts` on each axis. Axes are in
 * decreasing stride order (`order` names the window axis of each).
 */
interface SlicePlan {
  readonly used: number;
  readonly parent: number[];
  readonly starts: number[];
  readonly lengths: number[];
  readonly order: number[];
  /** True when an innermost size-1 axis was added (the smallest stride is not 1). */
  readonly inner: boolean;
}

function slicePlan(window: Window, total: number): SlicePlan | null {
  const { shape, strides, offset } = window;
  const order = shape.map((_, i) => i).filter((i) => shape[i]! > 1 && strides[i] !== 0).sort((a, b) => strides[b]! - strides[a]! || a - b);
  if (order.some((i) => strides[i]! < 0)) return null;
  if (order.length === 0) return { used: total, parent: [total], starts: [offset], lengths: [1], order: [], inner: true };
  const s = order.map((i) => strides[i]!);
  const n = order.map((i) => shape[i]!);
  const parent: number[] = [Math.floor(total / s[0]!)];
  for (let i = 1; i < s.length; i++) {
    if (s[i]! <= 0 || s[i - 1]! % s[i]! !== 0) return null;
    parent.push(s[i - 1]! / s[i]!);
  }
  const last = s[s.length - 1]!;
  const inner = last !== 1;
  if (inner) parent.push(last);
  const starts: number[] = [];
  let rest = offset;
  for (const stride of s) {
    const start = Math.floor(rest / stride);
    starts.push(start);
    rest -= start * stride;
  }
  if (inner) starts.push(rest);
  const lengths = inner ? [...n, 1] : [...n];
  if (starts.some((start, i) => start + lengths[i]! > parent[i]!)) return null;
  return { used: parent[0]! * s[0]!, parent, starts, lengths, order, inner };
}

export class OnnxTracer implements Backend {
  readonly name = 'onnx-trace';
  /** Constants read synchronously; reading a symbolic value throws (data-dependent control flow cannot be exported). */
  readonly syncRead = true;
  readonly graph = new GraphBuilder();
  /**
   * Called for every array handed to the tracer (`tensor(...)` inside the traced code).
   * Returning a value replaces the constant with it (the exporter turns position-dependent
   * tables into functions of a position input this way).
   */
  constantHook: ((data: TypedArray, dtype: DType) => Value | null) | null = null;
  /**
   * Called for attention whose keys outnumber its queries plus the prefix (a cache in
   * front of the new tokens): returns a bool [keyLength] value of the keys that may be
   * seen at all, or null when every key is valid.
   */
  keyValidity: ((queryLength: number, keyLength: number, prefix: number) => Value | null) | null = null;

  private readonly foldLimit: number;
  private readonly unrollLimit: number;
  private readonly viewCache = new Map<string, Value>();
  private readonly reshapeSource = new Map<string, Value>();
  /** The storage the next `fill` hands out (how graph values become tensors). */
  private claimed: TraceStorage | null = null;

  constructor(options: TracerOptions = {}) {
    this.foldLimit = options.foldLimit ?? 65536;
    this.unrollLimit = options.unrollLimit ?? 64;
  }

  // ------------------------------------------------------------ tensors in and out

  /** A graph input as a tensor. */
  input(name: string, shape: readonly number[], dtype: DType): Tensor {
    return this.tensorOf(this.graph.input(name, shape, dtype));
  }

  /** Any graph value as a tensor (its type must be a tensor dtype). */
  tensorOf(value: Value): Tensor {
    if (value.type !== 'float32' && value.type !== 'float64' && value.type !== 'int32') {
      throw new Error(`OnnxTracer: a ${value.type} value cannot become a tensor`);
    }
    return this.adopt(new TraceStorage(this, value.type, sizeOf(value.shape), value, null), value.shape);
  }

  /** A known array as a tensor on the tracer (a constant), labelled for its initializer. */
  constantTensor(data: TypedArray, shape: readonly number[], dtype: DType, label = 'const'): Tensor {
    const Ctor = arrayConstructor(dtype);
    return this.adopt(new TraceStorage(this, dtype, data.length, null, data instanceof Ctor ? data.slice() : Ctor.from(data), label), shape);
  }

  /** The graph value of a tensor (its exact shape). */
  valueOf(t: Tensor): Value {
    return this.viewValue(t.view(), 'exact');
  }

  /** Declares a tensor as the graph output `name`. */
  output(name: string, t: Tensor): void {
    this.graph.output(name, this.valueOf(t));
  }

  private adopt(storage: TraceStorage, shape: readonly number[]): Tensor {
    this.claimed = storage;
    try {
      return zeros(shape, { backend: this, dtype: storage.dtype });
    } finally {
      this.claimed = null;
    }
  }

  // ------------------------------------------------------------ storage basics

  supports(_dtype: DType): boolean {
    return true;
  }

  fromArray(data: TypedArray, dtype: DType): Storage {
    const replaced = this.constantHook?.(data, dtype) ?? null;
    if (replaced) {
      if (sizeOf(replaced.shape) !== data.length || replaced.type !== dtype) throw new Error('OnnxTracer: a constant hook returned a value of another size or type');
      return new TraceStorage(this, dtype, data.length, replaced, null);
    }
    const Ctor = arrayConstructor(dtype);
    return new TraceStorage(this, dtype, data.length, null, data instanceof Ctor ? data.slice() : Ctor.from(data));
  }

  fill(size: number, value: number, dtype: DType): Storage {
    const claimed = this.claimed;
    if (claimed) {
      this.claimed = null;
      if (claimed.size !== size || claimed.dtype !== dtype) throw new Error('internal: claimed storage does not match');
      return claimed;
    }
    return new TraceStorage(this, dtype, size, null, new (arrayConstructor(dtype))(size).fill(value));
  }

  read(storage: Storage): Promise<TypedArray> {
    return Promise.resolve(this.readSync(storage));
  }

  readSync(storage: Storage): TypedArray {
    const s = this.own(storage);
    if (!s.data) {
      throw new Error('OnnxTracer: the traced code reads a value computed from the graph inputs; data-dependent control flow cannot be exported');
    }
    return s.data.slice();
  }

  dispose(_storage: Storage): void {
    // Graph values live as long as the graph.
  }

  liveBytes(): number {
    return 0;
  }

  private own(storage: Storage): TraceStorage {
    if (!(storage instanceof TraceStorage) || storage.backend !== this) {
      throw new Error(`OnnxTracer: a tensor of the ${storage.backend.name} backend reached the trace (parameters and state must live on the tracer)`);
    }
    return storage;
  }

  private symbolic(value: Value, dtype: DType): TraceStorage {
    return new TraceStorage(this, dtype, sizeOf(value.shape), value, null);
  }

  // ------------------------------------------------------------ constant folding

  private foldable(storages: readonly Storage[], outSize: number): boolean {
    const owned = storages.map((s) => this.own(s));
    if (!owned.every((s) => s.data !== null)) return false;
    return outSize <= this.foldLimit || outSize <= Math.max(...owned.map((s) => s.size));
  }

  /** Runs a primitive on the CPU backend over copies of constant storages. */
  private onCpu<T>(run: (cpu: (s: Storage) => Storage) => T): T {
    const made = new Map<Storage, Storage>();
    const cpu = (s: Storage): Storage => {
      let c = made.get(s);
      if (!c) {
        const owned = this.own(s);
        c = cpuBackend.fromArray(owned.data!, owned.dtype);
        made.set(s, c);
      }
      return c;
    };
    try {
      return run(cpu);
    } finally {
      for (const c of made.values()) cpuBackend.dispose(c);
    }
  }

  private fromCpu(storage: Storage): TraceStorage {
    const data = cpuBackend.readSync(storage);
    cpuBackend.dispose(storage);
    return new TraceStorage(this, storage.dtype, data.length, null, data);
  }

  private fold(run: (cpu: (s: Storage) => Storage) => Storage): TraceStorage {
    return this.onCpu((cpu) => this.fromCpu(run(cpu)));
  }

  // ------------------------------------------------------------ views to values

  /** The whole storage as a value of shape [size] (or its natural shape for computed values). */
  private storageValue(s: TraceStorage): Value {
    if (s.value) return s.value;
    const data = s.data!;
    let value: Value;
    const first = data[0];
    if (data.length > 16 && data.every((x) => Object.is(x, first))) {
      value = this.graph.node('ConstantOfShape', [this.graph.int64([data.length])], [data.length], s.dtype, {
        value: { tensor: { name: '', dims: [1], dataType: onnxType(s.dtype), rawData: bytes(constantArray([first!], s.dtype)) } },
      });
    } else {
      value = this.graph.constant(data as ConstantData, [data.length], s.dtype, s.label);
    }
    s.value = value;
    return value;
  }

  /** The storage's values in a given shape (a contiguous storage). */
  private asShape(storage: Storage, shape: readonly number[]): Value {
    return this.reshape(this.storageValue(this.own(storage)), shape);
  }

  /**
   * The value of a strided view. 'exact' has the view's shape; 'broadcast' keeps broadcast
   * axes (stride 0) at size 1, for ops that broadcast themselves.
   */
  private viewValue(view: View, mode: 'exact' | 'broadcast'): Value {
    const s = this.own(view.storage);
    const key = `${s.id}|${view.shape.join(',')}|${view.strides.join(',')}|${view.offset}|${mode}`;
    const hit = this.viewCache.get(key);
    if (hit) return hit;
    const compact = view.shape.map((n, i) => (view.strides[i] === 0 ? 1 : n));
    // Constants for broadcasting ops also lose their leading size-1 axes (scalars stay scalars).
    const target = mode === 'exact' ? [...view.shape] : dropLeadingOnes(compact);
    let value: Value;
    if (s.data && sizeOf(target) <= Math.max(s.size, this.foldLimit)) {
      const data = this.onCpu((cpu) => {
        const out = cpuBackend.unary('copy', { storage: cpu(s), shape: target, strides: view.strides.slice(view.strides.length - target.length), offset: view.offset }, s.dtype);
        const values = cpuBackend.readSync(out);
        cpuBackend.dispose(out);
        return values;
      });
      value = this.graph.constant(data as ConstantData, target, s.dtype, s.label);
    } else {
      value = this.mapView(this.storageValue(s), view, mode);
    }
    if (mode === 'broadcast') value = this.withoutLeadingOnes(value);
    this.viewCache.set(key, value);
    return value;
  }

  /** A reshape that only adds leading size-1 axes is undone: ONNX broadcasting aligns shapes on the right. */
  private withoutLeadingOnes(x: Value): Value {
    const root = this.reshapeSource.get(x.name);
    if (!root) return x;
    const lead = x.shape.length - root.shape.length;
    return lead > 0 && x.shape.slice(0, lead).every((d) => d === 1) && sameShape(x.shape.slice(lead), root.shape) ? root : x;
  }

  private mapView(src: Value, window: Window, mode: 'exact' | 'broadcast'): Value {
    const { shape, strides, offset } = window;
    const total = sizeOf(src.shape);
    if (offset === 0 && sizeOf(shape) === total && isDense(shape, strides)) return this.reshape(src, shape);
    const compact = shape.map((n, i) => (strides[i] === 0 ? 1 : n));
    const root = this.unreshaped(src);
    const natural = this.sliceOfValue(root, window, compact) ?? (root === src ? null : this.sliceOfValue(src, window, compact));
    if (natural) return mode === 'exact' ? this.expandTo(natural, shape) : natural;
    const plan = slicePlan(window, total);
    let x: Value;
    if (plan) {
      x = src;
      if (plan.used !== total) x = this.slice(this.reshape(x, [total]), [0], [plan.used], [0]);
      x = this.reshape(x, plan.parent);
      const axes = plan.parent.map((_, i) => i).filter((i) => plan.starts[i] !== 0 || plan.lengths[i] !== plan.parent[i]);
      if (axes.length > 0) {
        x = this.slice(x, axes.map((i) => plan.starts[i]!), axes.map((i) => plan.starts[i]! + plan.lengths[i]!), axes);
      }
      if (plan.inner) x = this.reshape(x, plan.lengths.slice(0, -1));
      const inOrder = [...plan.order].sort((a, b) => a - b);
      const perm = inOrder.map((axis) => plan.order.indexOf(axis));
      if (perm.some((p, i) => p !== i)) x = this.graph.node('Transpose', [x], perm.map((p) => x.shape[p]!), x.type, { perm });
      x = this.reshape(x, compact);
    } else {
      // No slicing explains the view: gather its elements by their offsets.
      const offsets = new Array<number>(sizeOf(compact));
      const index = new Array<number>(compact.length).fill(0);
      for (let n = 0; n < offsets.length; n++) {
        offsets[n] = offset + index.reduce((sum, i, axis) => sum + i * strides[axis]!, 0);
        for (let axis = compact.length - 1; axis >= 0; axis--) {
          if (++index[axis]! < compact[axis]!) break;
          index[axis] = 0;
        }
      }
      const indices = this.graph.constant(constantArray(offsets, 'int64'), compact, 'int64', 'offsets');
      x = this.graph.node('Gather', [this.reshape(src, [total]), indices], compact, src.type, { axis: 0 });
    }
    return mode === 'exact' ? this.expandTo(x, shape) : x;
  }

  /**
   * The window as a Slice (and Transpose) of `x` in its own shape, when each axis of the
   * window runs along one axis of x: the common case of narrowing or permuting a value,
   * with no reshapes around the slice.
   */
  private sliceOfValue(x: Value, window: Window, compact: readonly number[]): Value | null {
    const { shape, strides, offset } = window;
    const dims = x.shape;
    const rootStrides = new Array<number>(dims.length);
    for (let j = dims.length - 1, s = 1; j >= 0; j--) {
      rootStrides[j] = s;
      s *= dims[j]!;
    }
    const axisOf = new Map<number, number>(); // window axis -> axis of x
    const used = new Set<number>();
    for (let i = 0; i < shape.length; i++) {
      if (shape[i] === 1 || strides[i] === 0) continue;
      const j = dims.findIndex((d, k) => d > 1 && rootStrides[k] === strides[i] && !used.has(k));
      if (j < 0) return null;
      axisOf.set(i, j);
      used.add(j);
    }
    const starts: number[] = [];
    let rest = offset;
    for (let j = 0; j < dims.length; j++) {
      starts.push(Math.floor(rest / rootStrides[j]!));
      rest -= starts[j]! * rootStrides[j]!;
    }
    if (rest !== 0) return null;
    const lengths = dims.map(() => 1);
    for (const [i, j] of axisOf) lengths[j] = shape[i]!;
    if (starts.some((start, j) => start + lengths[j]! > dims[j]!)) return null;
    const sliced = dims.map((_, j) => j).filter((j) => starts[j] !== 0 || lengths[j] !== dims[j]);
    let out = sliced.length > 0 ? this.slice(x, sliced.map((j) => starts[j]!), sliced.map((j) => starts[j]! + lengths[j]!), sliced) : x;
    const order = [...axisOf.keys()].sort((a, b) => a - b).map((i) => axisOf.get(i)!);
    if (order.some((j, k) => k > 0 && j < order[k - 1]!)) {
      // Axes the window does not use (length 1) go first, where broadcasting ignores them.
      const perm = [...dims.map((_, j) => j).filter((j) => !used.has(j)), ...order];
      out = this.graph.node('Transpose', [out], perm.map((p) => out.shape[p]!), out.type, { perm });
    }
    return this.reshape(out, compact);
  }

  // ------------------------------------------------------------ node helpers

  /** Reshapes, going back to the value before any chain of reshapes (constants are reshaped in place). */
  private reshape(x: Value, shape: readonly number[]): Value {
    if (sameShape(x.shape, shape)) return x;
    if (sizeOf(x.shape) !== sizeOf(shape)) throw new Error(`internal: reshape [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
    const root = this.reshapeSource.get(x.name) ?? x;
    if (sameShape(root.shape, shape)) return root;
    if (this.graph.isConstant(root)) return this.graph.reshapeConstant(root, shape);
    const out = this.graph.node('Reshape', [root, this.graph.int64(shape)], shape, x.type);
    this.reshapeSource.set(out.name, root);
    return out;
  }

  /** The value a reshape was made from (or the value itself). */
  private unreshaped(x: Value): Value {
    return this.reshapeSource.get(x.name) ?? x;
  }

  private slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[]): Value {
    const shape = [...x.shape];
    axes.forEach((axis, i) => { shape[axis] = ends[i]! - starts[i]!; });
    return this.graph.node('Slice', [x, this.graph.int64(starts), this.graph.int64(ends), this.graph.int64(axes)], shape, x.type);
  }

  private expandTo(x: Value, shape: readonly number[]): Value {
    if (sameShape(x.shape, shape)) return x;
    const padded = this.reshape(x, [...new Array<number>(shape.length - x.shape.length).fill(1), ...x.shape]);
    if (sameShape(padded.shape, shape)) return padded;
    return this.graph.node('Expand', [padded, this.graph.int64(shape)], shape, x.type);
  }

  private castValue(x: Value, type: ValueType): Value {
    return x.type === type ? x : this.graph.node('Cast', [x], x.shape, type, { to: onnxType(type) });
  }

  private concat(parts: readonly Value[], axis: number): Value {
    if (parts.length === 1) return parts[0]!;
    const shape = [...parts[0]!.shape];
    shape[axis] = parts.reduce((n, p) => n + p.shape[axis]!, 0);
    return this.graph.node('Concat', parts, shape, parts[0]!.type, { axis });
  }

  /** The columns of a [rows, cols] value, each [rows, 1]. */
  private columns(x: Value): Value[] {
    const [rows, cols] = x.shape as [number, number];
    if (cols === 1) return [x];
    return this.graph.nodeMulti('Split', [x, this.graph.int64(new Array<number>(cols).fill(1))],
      Array.from({ length: cols }, () => ({ shape: [rows, 1], type: x.type })), { axis: 1 });
  }

  private elementwise(op: string, inputs: readonly Value[], type: ValueType): Value {
    return this.graph.node(op, inputs, broadcastShape(inputs.map((v) => v.shape)), type);
  }

  // ------------------------------------------------------------ elementwise primitives

  unary(op: UnaryOp, x: View, outDtype: DType): Storage {
    if (this.foldable([x.storage], sizeOf(x.shape))) return this.fold((cpu) => cpuBackend.unary(op, { ...x, storage: cpu(x.storage) }, outDtype));
    const v = this.viewValue(x, 'broadcast');
    return this.symbolic(this.expandTo(this.emitUnary(op, v, outDtype), x.shape), outDtype);
  }

  private emitUnary(op: UnaryOp, v: Value, outDtype: DType): Value {
    if (op === 'copy') return this.castValue(v, outDtype);
    if (v.type === 'int32' && op !== 'neg' && op !== 'abs' && op !== 'sign') {
      // Float-only ONNX ops on integers: compute in float64 and truncate, like the CPU's `| 0`.
      return this.castValue(this.emitUnary(op, this.castValue(v, 'float64'), 'float64'), outDtype);
    }
    const g = this.graph;
    const simple: Partial<Record<UnaryOp, string>> = {
      neg: 'Neg', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', abs: 'Abs', sign: 'Sign', tanh: 'Tanh', sigmoid: 'Sigmoid',
      relu: 'Relu', erf: 'Erf', recip: 'Reciprocal', sin: 'Sin', cos: 'Cos', floor: 'Floor', softplus: 'Softplus',
    };
    if (op === 'erf' && v.type === 'float64') {
      // onnxruntime has no float64 Erf kernel: evaluated in float32 (about 1e-7 absolute).
      return this.castValue(this.emitUnary('erf', this.castValue(v, 'float32'), 'float32'), outDtype);
    }
    let out: Value;
    if (op === 'rsqrt') out = g.node('Reciprocal', [g.node('Sqrt', [v], v.shape, v.type)], v.shape, v.type);
    else if (op === 'square') out = g.node('Mul', [v, v], v.shape, v.type);
    else out = g.node(simple[op]!, [v], v.shape, v.type);
    return this.castValue(out, outDtype);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    if (this.foldable([a.storage, b.storage], sizeOf(a.shape))) {
      return this.fold((cpu) => cpuBackend.binary(op, { ...a, storage: cpu(a.storage) }, { ...b, storage: cpu(b.storage) }, outDtype));
    }
    const va = this.viewValue(a, 'broadcast');
    const vb = this.viewValue(b, 'broadcast');
    const ops: Record<BinaryOp, string> = {
      add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min',
      eq: 'Equal', ne: 'Equal', lt: 'Less', le: 'LessOrEqual', gt: 'Greater', ge: 'GreaterOrEqual',
    };
    const comparison = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(op);
    const exponent = op === 'pow' && va.type !== 'int32' ? this.scalarConstant(b) : null;
    let out = exponent !== null && POWERS[exponent]
      ? POWERS[exponent](this.graph, va)
      : this.elementwise(ops[op], [va, vb], comparison ? 'bool' : va.type);
    if (op === 'ne') out = this.graph.node('Not', [out], out.shape, 'bool');
    return this.symbolic(this.expandTo(this.castValue(out, outDtype), a.shape), outDtype);
  }

  where(cond: View, a: View, b: View): Storage {
    const dtype = a.storage.dtype;
    if (this.foldable([cond.storage, a.storage, b.storage], sizeOf(a.shape))) {
      return this.fold((cpu) => cpuBackend.where({ ...cond, storage: cpu(cond.storage) }, { ...a, storage: cpu(a.storage) }, { ...b, storage: cpu(b.storage) }));
    }
    const c = this.castValue(this.viewValue(cond, 'broadcast'), 'bool');
    const out = this.elementwise('Where', [c, this.viewValue(a, 'broadcast'), this.viewValue(b, 'broadcast')], dtype);
    return this.symbolic(this.expandTo(out, a.shape), dtype);
  }

  cast(x: View, dtype: DType): Storage {
    if (this.foldable([x.storage], sizeOf(x.shape))) return this.fold((cpu) => cpuBackend.cast({ ...x, storage: cpu(x.storage) }, dtype));
    return this.symbolic(this.expandTo(this.castValue(this.viewValue(x, 'broadcast'), dtype), x.shape), dtype);
  }

  /** The value of a view that reads a single known element everywhere, else null. */
  private scalarConstant(view: View): number | null {
    const s = this.own(view.storage);
    if (!s.data || !view.strides.every((stride, i) => stride === 0 || view.shape[i] === 1)) return null;
    return s.data[view.offset] ?? null;
  }

  // ------------------------------------------------------------ reductions

  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage {
    if (this.foldable([x], rows)) return this.fold((cpu) => cpuBackend.reduceRows(op, cpu(x), rows, cols));
    // Reduce the last axis of the value as it is when that axis is the row (no reshapes).
    const natural = this.unreshaped(this.storageValue(this.own(x)));
    const v = natural.shape[natural.shape.length - 1] === cols && natural.shape.length > 1 ? natural : this.asShape(x, [rows, cols]);
    const shape = [...v.shape.slice(0, -1), 1];
    const g = this.graph;
    const out = op === 'sum'
      ? g.node('ReduceSum', [v, g.int64([-1])], shape, v.type, { keepdims: 1 })
      : g.node({ max: 'ReduceMax', min: 'ReduceMin', prod: 'ReduceProd' }[op], [v], shape, v.type, { axes: [-1], keepdims: 1 });
    return this.symbolic(out, x.dtype);
  }

  argReduceRows(op: ArgReduceOp, x: Storage, rows: number, cols: number): Storage {
    if (this.foldable([x], rows)) return this.fold((cpu) => cpuBackend.argReduceRows(op, cpu(x), rows, cols));
    const v = this.asShape(x, [rows, cols]);
    const index = this.graph.node(op === 'argmax' ? 'ArgMax' : 'ArgMin', [v], [rows], 'int64', { axis: 1, keepdims: 0 });
    return this.symbolic(this.castValue(index, 'int32'), 'int32');
  }

  // ------------------------------------------------------------ matmul

  matmul(a: View, b: View): Storage {
    const [batch, m, k] = a.shape as [number, number, number];
    const n = b.shape[2]!;
    if (this.foldable([a.storage, b.storage], batch * m * n)) {
      return this.fold((cpu) => cpuBackend.matmul({ ...a, storage: cpu(a.storage) }, { ...b, storage: cpu(b.storage) }));
    }
    // Operands keep the batch axes they had before the frontend merged them (ONNX MatMul
    // broadcasts batch axes itself); a shared operand goes in as a plain matrix.
    const operand = (view: View, rows: number, cols: number): Value => {
      const v = this.viewValue(view, 'broadcast');
      if (sizeOf(v.shape) === rows * cols) return this.reshape(v, [rows, cols]);
      const before = this.unreshaped(v);
      const r = before.shape.length;
      return r >= 3 && before.shape[r - 2] === rows && before.shape[r - 1] === cols ? before : v;
    };
    let left = operand(a, m, k);
    let right = operand(b, k, n);
    const leadLeft = left.shape.slice(0, -2);
    const leadRight = right.shape.slice(0, -2);
    if (!broadcastable(leadLeft, leadRight) || sizeOf(broadcastShape([leadLeft, leadRight])) !== Math.max(sizeOf(leadLeft), sizeOf(leadRight))) {
      left = this.reshape(this.viewValue(a, 'broadcast'), [a.strides[0] === 0 ? 1 : batch, m, k]);
      right = this.reshape(this.viewValue(b, 'broadcast'), [b.strides[0] === 0 ? 1 : batch, k, n]);
    }
    const lead = broadcastShape([left.shape.slice(0, -2), right.shape.slice(0, -2)]);
    let out = this.graph.node('MatMul', [left, right], [...lead, m, n], a.storage.dtype);
    if (sizeOf(lead) !== batch) out = this.expandTo(this.reshape(out, [sizeOf(lead), m, n]), [batch, m, n]);
    return this.symbolic(out, a.storage.dtype);
  }

  // ------------------------------------------------------------ scans

  scanRows(op: 'sum' | 'prod', x: Storage, rows: number, cols: number, reverse: boolean): Storage {
    if (this.foldable([x], rows * cols)) return this.fold((cpu) => cpuBackend.scanRows(op, cpu(x), rows, cols, reverse));
    const v = this.asShape(x, [rows, cols]);
    if (op === 'sum') {
      return this.symbolic(this.graph.node('CumSum', [v, this.graph.scalar(1, 'int64')], v.shape, v.type, { reverse: reverse ? 1 : 0 }), x.dtype);
    }
    return this.symbolic(this.recurrence(null, v, reverse), x.dtype);
  }

  linearScanRows(a: Storage, b: Storage, rows: number, cols: number, reverse: boolean): Storage {
    if (this.foldable([a, b], rows * cols)) return this.fold((cpu) => cpuBackend.linearScanRows(cpu(a), cpu(b), rows, cols, reverse));
    return this.symbolic(this.recurrence(this.asShape(a, [rows, cols]), this.asShape(b, [rows, cols]), reverse), b.dtype);
  }

  /**
   * Along the columns of [rows, cols] values: h_t = a_t h_{t-1} + b_t (h_{-1} = 0), or the
   * cumulative product of b when `a` is null. Short rows are unrolled step by step (the
   * exact order of the CPU loop); long ones use a log-depth (Hillis-Steele) scan.
   */
  private recurrence(a: Value | null, b: Value, reverse: boolean): Value {
    const g = this.graph;
    const [rows, cols] = b.shape as [number, number];
    if (cols <= this.unrollLimit) {
      const as = a ? this.columns(a) : null;
      const bs = this.columns(b);
      const h = new Array<Value>(cols);
      let previous: Value | null = null;
      for (let i = 0; i < cols; i++) {
        const c = reverse ? cols - 1 - i : i;
        const step: Value = previous === null
          ? bs[c]!
          : as
            ? g.node('Add', [g.node('Mul', [as[c]!, previous], [rows, 1], b.type), bs[c]!], [rows, 1], b.type)
            : g.node('Mul', [previous, bs[c]!], [rows, 1], b.type);
        h[c] = step;
        previous = step;
      }
      return this.concat(h, 1);
    }
    const flip = (x: Value): Value => g.node('Slice', [x, g.int64([-1]), g.int64([-(2 ** 62)]), g.int64([1]), g.int64([-1])], x.shape, x.type);
    let A = a ? (reverse ? flip(a) : a) : null;
    let B = reverse ? flip(b) : b;
    const part = (x: Value, start: number, end: number): Value => this.slice(x, [start], [end], [1]);
    const mul = (x: Value, y: Value): Value => g.node('Mul', [x, y], x.shape, x.type);
    for (let d = 1; d < cols; d *= 2) {
      const head = (x: Value): Value => part(x, 0, d);
      if (A) {
        const aTail = part(A, d, cols);
        B = this.concat([head(B), g.node('Add', [mul(aTail, part(B, 0, cols - d)), part(B, d, cols)], [rows, cols - d], B.type)], 1);
        A = this.concat([head(A), mul(aTail, part(A, 0, cols - d))], 1);
      } else {
        B = this.concat([head(B), mul(part(B, d, cols), part(B, 0, cols - d))], 1);
      }
    }
    return reverse ? flip(B) : B;
  }

  // ------------------------------------------------------------ layout

  concatRows(parts: readonly Storage[], outer: number, inners: readonly number[]): Storage {
    const total = inners.reduce((s, v) => s + v, 0);
    if (this.foldable(parts, outer * total)) return this.fold((cpu) => cpuBackend.concatRows(parts.map(cpu), outer, inners));
    const kept = parts.filter((_, i) => inners[i]! > 0);
    // Concatenate along an axis of the values as they are when one fits (no reshapes).
    const natural = kept.map((p) => this.unreshaped(this.storageValue(this.own(p))));
    const rank = natural[0]!.shape.length;
    for (let axis = 0; axis < rank; axis++) {
      const fits = natural.every((v) => v.shape.length === rank && sizeOf(v.shape.slice(0, axis)) === outer
        && v.shape.every((d, i) => i === axis || d === natural[0]!.shape[i]));
      if (fits) return this.symbolic(this.concat(natural, axis), parts[0]!.dtype);
    }
    const values = kept.map((p) => this.asShape(p, [outer, p.size / outer]));
    return this.symbolic(this.concat(values, 1), parts[0]!.dtype);
  }

  gatherRows(x: Storage, width: number, indices: Storage): Storage {
    if (this.foldable([x, indices], indices.size * width)) return this.fold((cpu) => cpuBackend.gatherRows(cpu(x), width, cpu(indices)));
    const n = x.size / width;
    const out = this.graph.node('Gather', [this.asShape(x, [n, width]), this.asShape(indices, [indices.size])], [indices.size, width], x.dtype, { axis: 0 });
    return this.symbolic(out, x.dtype);
  }

  scatterAddRows(src: Storage, width: number, indices: Storage, n: number): Storage {
    if (this.foldable([src, indices], n * width)) return this.fold((cpu) => cpuBackend.scatterAddRows(cpu(src), width, cpu(indices), n));
    const g = this.graph;
    const k = indices.size;
    const zero = g.node('ConstantOfShape', [g.int64([n, width])], [n, width], src.dtype, {
      value: { tensor: { name: '', dims: [1], dataType: onnxType(src.dtype), rawData: bytes(constantArray([0], src.dtype)) } },
    });
    const index = this.reshape(this.castValue(this.asShape(indices, [k]), 'int64'), [k, 1]);
    const out = g.node('ScatterND', [zero, index, this.asShape(src, [k, width])], [n, width], src.dtype, { reduction: 'add' });
    return this.symbolic(out, src.dtype);
  }

  // ------------------------------------------------------------ attention

  attention(q: Storage, k: Storage, v: Storage, dims: AttentionDims, options: AttentionOptions): { out: Storage; lse: Storage } {
    const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
    if (this.foldable([q, k, v], bh * tq * dv)) {
      return this.onCpu((cpu) => {
        const r = cpuBackend.attention(cpu(q), cpu(k), cpu(v), dims, options);
        return { out: this.fromCpu(r.out), lse: this.fromCpu(r.lse) };
      });
    }
    const g = this.graph;
    const type = q.dtype;
    const Q = this.asShape(q, [bh, tq, d]);
    const K = this.asShape(k, [bh, tk, d]);
    const V = this.asShape(v, [bh, tk, dv]);
    const keysT = g.node('Transpose', [K], [bh, d, tk], type, { perm: [0, 2, 1] });
    let scores = g.node('Mul', [g.node('MatMul', [Q, keysT], [bh, tq, tk], type), g.scalar(options.scale, type)], [bh, tq, tk], type);
    const visible = new Uint8Array(tq * tk);
    for (let i = 0; i < tq; i++) for (let j = 0; j < tk; j++) visible[i * tk + j] = attentionVisible(i, j, tq, tk, options) ? 1 : 0;
    let mask: Value | null = visible.every((x) => x === 1) ? null : g.constant(visible, [tq, tk], 'bool', 'mask');
    const valid = tk > tq + options.prefix ? this.keyValidity?.(tq, tk, options.prefix) ?? null : null;
    if (valid) {
      const row = this.reshape(valid, [1, tk]);
      mask = mask ? g.node('And', [mask, row], [tq, tk], 'bool') : row;
    }
    if (mask) scores = g.node('Where', [mask, scores, g.scalar(-Infinity, type)], [bh, tq, tk], type);
    const weights = g.node('Softmax', [scores], [bh, tq, tk], type, { axis: -1 });
    const out = g.node('MatMul', [weights, V], [bh, tq, dv], type);
    const lse = g.node('ReduceLogSumExp', [scores], [bh, tq], type, { axes: [2], keepdims: 0 });
    return { out: this.symbolic(out, type), lse: this.symbolic(lse, type) };
  }

  attentionBackward(): { dq: Storage; dk: Storage; dv: Storage } {
    throw new Error('OnnxTracer: backward passes are not exported (trace inference under noGrad)');
  }
}

function bytes(data: ConstantData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}
