/// <reference types="@webgpu/types" />
// The deferred-evaluation graph. Every storage the backend hands out points at a Node.
// Elementwise ops (and matmul) do not run when called: they create a lazy node whose
// inputs are other nodes. A chain of elementwise nodes is compiled into a single kernel
// when something needs its values (a read, or a non-elementwise op), and a matmul
// followed by elementwise ops (bias, activation) becomes one matmul kernel with the chain
// as its epilogue. Reference counts decide when a node's buffer and inputs can be freed.
import type { BinaryOp, DType, UnaryOp } from '@titans/tensor';

/** A strided window in element units, with size-1 axes dropped and contiguous axes merged. */
export interface Layout {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** An input of a lazy node. `layout` null: read element i at output index i (the input has
 * the same size and is read contiguously); that is the only way a lazy input is inlined. */
export interface Operand {
  readonly node: Node;
  readonly layout: Layout | null;
}

export type ElementwiseOp =
  | { readonly kind: 'unary'; readonly op: UnaryOp }
  | { readonly kind: 'binary'; readonly op: BinaryOp }
  | { readonly kind: 'where' }
  | { readonly kind: 'cast' };

/** A 3-d view [batch, rows, cols] of a matmul operand. */
export interface MatView {
  readonly node: Node;
  readonly offset: number;
  readonly strides: readonly [number, number, number];
}

export interface MatmulSpec {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: MatView;
  readonly b: MatView;
}

export type NodeKind =
  | { readonly kind: 'data' }
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'elementwise'; readonly op: ElementwiseOp }
  | { readonly kind: 'matmul'; readonly spec: MatmulSpec };

let nextId = 0;

export class Node {
  readonly id = nextId++;
  buffer: GPUBuffer | null = null;
  /** Live storages pointing here. */
  userRefs = 0;
  /** Unevaluated nodes that list this one as an input. */
  consumers = 0;
  /** Upper bound on the number of unevaluated elementwise nodes this one would inline. */
  fusedCount: number;

  constructor(
    readonly dtype: DType,
    readonly size: number,
    public what: NodeKind,
    public inputs: readonly Operand[],
  ) {
    let count = what.kind === 'elementwise' ? 1 : 0;
    for (const input of inputs) {
      input.node.consumers++;
      if (input.layout === null && input.node.isLazy) count += input.node.fusedCount;
    }
    this.fusedCount = count;
  }

  /** Not yet evaluated: an elementwise node or a matmul without a buffer. */
  get isLazy(): boolean {
    return this.buffer === null && (this.what.kind === 'elementwise' || this.what.kind === 'matmul');
  }

  get isElementwise(): boolean {
    return this.buffer === null && this.what.kind === 'elementwise';
  }
}

export function matmulInputs(spec: MatmulSpec): Operand[] {
  return [
    { node: spec.a.node, layout: null },
    { node: spec.b.node, layout: null },
  ];
}

/** Merge axes that are contiguous with their neighbour and drop size-1 axes. */
export function collapseLayout(shape: readonly number[], strides: readonly number[], offset: number): Layout {
  const outShape: number[] = [];
  const outStrides: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && outStrides[last] === strides[d]! * shape[d]!) {
      outShape[last]! *= shape[d]!;
      outStrides[last] = strides[d]!;
    } else {
      outShape.push(shape[d]!);
      outStrides.push(strides[d]!);
    }
  }
  return { shape: outShape, strides: outStrides, offset };
}

/** True when a layout reads elements 0..size-1 in order: element i is at index i. */
export function isIdentity(layout: Layout, size: number): boolean {
  if (layout.offset !== 0) return false;
  if (layout.shape.length === 0) return size <= 1;
  return layout.shape.length === 1 && layout.strides[0] === 1 && layout.shape[0] === size;
}
