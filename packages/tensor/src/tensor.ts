// The Tensor: a strided view onto backend storage, plus the autograd node that produced it.
// Ops live in ./ops; the methods here are thin conveniences over them.
import type { Backend, DType, TypedArray, View } from './backend.js';
import { SharedStorage, isGradEnabled, registerTensor, setTensorClass, unregisterTensor } from './engine.js';
import { contiguousStrides, sizeOf, formatShape } from './shape.js';
import * as ops from './ops/index.js';
import { hooks as traceHooks } from './compile/host.js';

/** How a tensor was produced: its inputs and the rule that maps its gradient to theirs. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null when an input gets none). Written with differentiable ops. */
  backward(gradOutput: Tensor): readonly (Tensor | null)[];
  /**
   * Set when this tensor is a slice of its single input: the engine then collects the
   * gradients of all slices of that input and assembles them with one concat, instead of
   * padding each to full size (which would make chunked loops quadratic).
   */
  readonly slice?: { readonly axis: number; readonly start: number; readonly length: number };
}

export type NestedArray = number | NestedArray[];

export class Tensor {
  readonly id: number;
  /** The rule that produced this tensor, when gradients flow through it. */
  node: GradNode | null = null;
  /** True for leaves that gradients are taken with respect to, and for anything computed from them. */
  requiresGrad = false;
  /** Set on module parameters. */
  isParameter = false;
  private shared: SharedStorage | null;
  private _shape: readonly number[];
  private _strides: readonly number[];
  private _offset: number;
  private _dtype: DType;

  /** @internal Use the creation functions (`tensor`, `zeros`, ...) instead. */
  constructor(shared: SharedStorage, shape: readonly number[], strides: readonly number[], offset: number) {
    this.shared = shared;
    // A frozen array cannot change under the tensor: shared, not copied (compiled plans pass theirs).
    this._shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this._strides = Object.isFrozen(strides) ? strides : Object.freeze([...strides]);
    this._offset = offset;
    this._dtype = shared.storage.dtype;
    this.id = registerTensor(this);
  }

  get shape(): readonly number[] { return this._shape; }
  get strides(): readonly number[] { return this._strides; }
  get offset(): number { return this._offset; }
  get dtype(): DType { return this._dtype; }
  get ndim(): number { return this._shape.length; }
  get size(): number { return sizeOf(this._shape); }
  get backend(): Backend { return this.sharedStorage().storage.backend; }
  get disposed(): boolean { return this.shared === null; }

  /** @internal */
  sharedStorage(): SharedStorage {
    if (this.shared === null) throw new Error(`tensor #${this.id} ${formatShape(this._shape)} was used after dispose()`);
    if (traceHooks !== null) traceHooks.touched(this, this.shared.storage);
    return this.shared;
  }

  /** The strided view backends consume. */
  view(): View {
    return { storage: this.sharedStorage().storage, shape: this._shape, strides: this._strides, offset: this._offset };
  }

  isContiguous(): boolean {
    if (this._offset !== 0) return false;
    const expected = contiguousStrides(this._shape);
    return this._shape.every((n, i) => n === 1 || this._strides[i] === expected[i]) && this.size === this.sharedStorage().storage.size;
  }

  /** Frees the storage (once no view of it is alive). Safe to call twice. */
  dispose(): void {
    if (this.shared === null) return;
    this.shared.release();
    this.shared = null;
    unregisterTensor(this);
  }

  /**
   * Replaces this leaf's value in place (optimizer updates, loading weights). The shape
   * and dtype must match; the old storage is released.
   */
  assign(value: Tensor): this {
    if (this.node !== null) throw new Error(`assign: tensor #${this.id} is not a leaf (it was produced by ${this.node.name})`);
    if (!sameShape(value.shape, this._shape)) throw new Error(`assign: shape ${formatShape(value.shape)} does not match ${formatShape(this._shape)}`);
    if (value.dtype !== this._dtype) throw new Error(`assign: dtype ${value.dtype} does not match ${this._dtype}`);
    const source = value.isContiguous() ? value : ops.contiguous(value);
    const next = source.sharedStorage().retain();
    const previous = this.sharedStorage();
    const previousStrides = this._strides;
    const previousOffset = this._offset;
    previous.release();
    this.shared = next;
    this._strides = source.strides;
    this._offset = source.offset;
    if (source !== value) source.dispose();
    if (traceHooks !== null) traceHooks.assigned(this, previous.storage, previousStrides, previousOffset);
    return this;
  }

  /** @internal A compiled function's replay of `assign`: takes over `shared` (one reference). */
  replaceStorage(shared: SharedStorage, strides: readonly number[], offset: number): void {
    this.sharedStorage().release();
    this.shared = shared;
    this._strides = strides;
    this._offset = offset;
  }

  /** A contiguous copy of the values, read asynchronously (works on every backend). */
  async data(): Promise<TypedArray> {
    if (traceHooks !== null) traceHooks.hostRead('tensor.data()');
    const t = this.isContiguous() ? this : ops.contiguous(this);
    const out = await t.backend.read(t.sharedStorage().storage);
    if (t !== this) t.dispose();
    return out;
  }

  /** A contiguous copy of the values, read synchronously (CPU backend only). */
  dataSync(): TypedArray {
    if (traceHooks !== null) traceHooks.hostRead('tensor.dataSync()');
    if (!this.backend.syncRead) throw new Error(`dataSync: the ${this.backend.name} backend reads asynchronously; use await tensor.data()`);
    const t = this.isContiguous() ? this : ops.contiguous(this);
    const out = t.backend.readSync(t.sharedStorage().storage);
    if (t !== this) t.dispose();
    return out;
  }

  /** The single value of a one-element tensor (CPU backend). */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor has shape ${formatShape(this._shape)}, not a single element`);
    if (traceHooks !== null) traceHooks.hostRead('tensor.item()');
    return this.dataSync()[0]!;
  }

  async itemAsync(): Promise<number> {
    if (this.size !== 1) throw new Error(`itemAsync: tensor has shape ${formatShape(this._shape)}, not a single element`);
    return (await this.data())[0]!;
  }

  /** Values as nested arrays (CPU backend). */
  toArray(): NestedArray {
    if (traceHooks !== null) traceHooks.hostRead('tensor.toArray()');
    return nest(Array.from(this.dataSync()), this._shape);
  }

  async toArrayAsync(): Promise<NestedArray> {
    return nest(Array.from(await this.data()), this._shape);
  }

  toString(): string {
    return `Tensor(${formatShape(this._shape)}, ${this._dtype}, ${this.disposed ? 'disposed' : this.backend.name})`;
  }

  // ------------------------------------------------------------ conveniences over ops
  add(other: Tensor | number): Tensor { return ops.add(this, other); }
  sub(other: Tensor | number): Tensor { return ops.sub(this, other); }
  mul(other: Tensor | number): Tensor { return ops.mul(this, other); }
  div(other: Tensor | number): Tensor { return ops.div(this, other); }
  pow(other: Tensor | number): Tensor { return ops.pow(this, other); }
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  rsqrt(): Tensor { return ops.rsqrt(this); }
  abs(): Tensor { return ops.abs(this); }
  square(): Tensor { return ops.square(this); }
  tanh(): Tensor { return ops.tanh(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  relu(): Tensor { return ops.relu(this); }
  silu(): Tensor { return ops.silu(this); }
  softplus(): Tensor { return ops.softplus(this); }
  matmul(other: Tensor): Tensor { return ops.matmul(this, other); }
  sum(axis?: number | readonly number[], keepDims = false): Tensor { return ops.sum(this, axis, keepDims); }
  mean(axis?: number | readonly number[], keepDims = false): Tensor { return ops.mean(this, axis, keepDims); }
  max(axis?: number | readonly number[], keepDims = false): Tensor { return ops.max(this, axis, keepDims); }
  min(axis?: number | readonly number[], keepDims = false): Tensor { return ops.min(this, axis, keepDims); }
  reshape(shape: readonly number[]): Tensor { return ops.reshape(this, shape); }
  permute(axes: readonly number[]): Tensor { return ops.permute(this, axes); }
  transpose(a = -2, b = -1): Tensor { return ops.transpose(this, a, b); }
  get T(): Tensor { return ops.transpose(this, -2, -1); }
  expand(shape: readonly number[]): Tensor { return ops.expand(this, shape); }
  squeeze(axis?: number): Tensor { return ops.squeeze(this, axis); }
  unsqueeze(axis: number): Tensor { return ops.unsqueeze(this, axis); }
  narrow(axis: number, start: number, length: number): Tensor { return ops.narrow(this, axis, start, length); }
  contiguous(): Tensor { return ops.contiguous(this); }
  cast(dtype: DType): Tensor { return ops.cast(this, dtype); }
  detach(): Tensor { return ops.detach(this); }
  clone(): Tensor { return ops.clone(this); }
  to(backend: Backend): Tensor { return ops.toBackend(this, backend); }
}

setTensorClass(Tensor);

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function nest(flat: number[], shape: readonly number[]): NestedArray {
  if (shape.length === 0) return flat[0]!;
  const [head, ...rest] = shape as [number, ...number[]];
  const step = sizeOf(rest);
  return Array.from({ length: head }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), rest));
}

/** @internal A new contiguous tensor over fresh storage. */
export function fromStorage(storage: import('./backend.js').Storage, shape: readonly number[]): Tensor {
  if (storage.size !== sizeOf(shape)) {
    throw new Error(`internal: storage of ${storage.size} elements cannot hold shape ${formatShape(shape)}`);
  }
  return new Tensor(new SharedStorage(storage), shape, contiguousStrides(shape), 0);
}

/** @internal A view sharing `base`'s storage. */
export function viewOf(base: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(base.sharedStorage().retain(), shape, strides, offset);
}

/**
 * @internal Attaches a gradient rule to `out` when any input needs gradients and
 * recording is on. Returns `out` for chaining.
 */
export function record(
  out: Tensor, name: string, inputs: readonly Tensor[], backward: (g: Tensor) => readonly (Tensor | null)[],
  slice?: GradNode['slice'],
): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.node = slice ? { name, inputs, backward, slice } : { name, inputs, backward };
  return out;
}
