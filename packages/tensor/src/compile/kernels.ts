// Fused elementwise kernels for the CPU: a chain of unary/binary/where/cast primitives over
// one iteration shape becomes one generated JavaScript loop. Every intermediate is
// converted to its dtype exactly as storing it into a typed array would (Math.fround for
// float32, ToInt32 for int32), so a fused chain is bit-identical to running its ops one by
// one; views, offsets, strides and constants are baked into the generated source.
import type { DType, Storage } from '../backend.js';
import { BINARY_EXPR, UNARY_EXPR } from '../cpu/backend.js';
import { collapse } from '../cpu/collapse.js';
import { erf } from '../cpu/special.js';
import type { BinaryOp, UnaryOp } from '../backend.js';
import { contiguousStrides } from '../shape.js';

/** An operand of a fused op. */
export type Operand =
  | { readonly kind: 'register'; readonly id: number }
  | { readonly kind: 'literal'; readonly value: number }
  | { readonly kind: 'dynamic'; readonly id: number; readonly offset: number }
  | { readonly kind: 'load'; readonly id: number; readonly strides: readonly number[]; readonly offset: number };

export interface FusedOp {
  /** The value this op defines. */
  readonly id: number;
  readonly dtype: DType;
  /** An expression over x, y, z (the operands in order). */
  readonly expr: string;
  readonly operands: readonly Operand[];
}

export interface FusedGroup {
  readonly shape: readonly number[];
  readonly ops: readonly FusedOp[];
  /** Values written to memory (used after the group or returned). */
  readonly outputs: readonly number[];
}

export type FusedKernel = (S: readonly (Storage | undefined)[]) => void;

/** Formats a number as a JavaScript literal that reads back to exactly the same double. */
export function literal(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${String(v)})` : String(v);
}

/** The value a typed array of `dtype` stores for `v`. */
export function stored(v: number, dtype: DType): number {
  switch (dtype) {
    case 'float32': return Math.fround(v);
    case 'float64': return v;
    case 'int32': return v | 0;
  }
}

function convert(expr: string, dtype: DType): string {
  switch (dtype) {
    case 'float32': return `fr(${expr})`;
    case 'float64': return `(${expr})`;
    case 'int32': return `((${expr}) | 0)`;
  }
}

export function unaryExpr(op: UnaryOp): string {
  return UNARY_EXPR[op];
}

export function binaryExpr(op: BinaryOp): string {
  return BINARY_EXPR[op];
}

export const WHERE_EXPR = '(x !== 0 ? y : z)';
/** Backend.silu and Backend.siluBackward (x, then the gradient y) as the CPU kernels compute them (cpu/rows.ts). */
export const SILU_EXPR = '(x / (1 + Math.exp(-x)))';
export const SILU_BACKWARD_EXPR = 'siluGrad(x, y)';
function siluGrad(v: number, g: number): number {
  const s = 1 / (1 + Math.exp(-v));
  return g * s * (1 + v * (1 - s));
}
export function castExpr(dtype: DType): string {
  return dtype === 'int32' ? 'Math.trunc(x)' : 'x';
}

type SharedKernel = (
  S: readonly (Storage | undefined)[], outIds: Int32Array, loadIds: Int32Array, uniIds: Int32Array, uniOffsets: Int32Array,
  literals: Float64Array, shape: Int32Array, strides: Int32Array, offsets: Int32Array,
) => void;

/**
 * Kernels by source. The source names no value, shape, stride, offset or constant (those are
 * arguments), so groups that apply the same chain share one function, which V8 then
 * optimises once for all of them.
 */
const kernelCache = new Map<string, SharedKernel>();
const KERNEL_CACHE_LIMIT = 4096;

/** Generates (or reuses) the loop of a fused group and binds it to the group's values. */
export function generateKernel(group: FusedGroup): { kernel: FusedKernel; source: string } {
  const shape = group.shape;
  const loads = new Map<string, { index: number; id: number; strides: readonly number[]; offset: number }>();
  const uniforms = new Map<string, { index: number; id: number; offset: number }>();
  const literals: number[] = [];
  const term = (o: Operand): string => {
    switch (o.kind) {
      case 'register': return `r${o.id}`;
      case 'literal':
        literals.push(o.value);
        return `L${literals.length - 1}`;
      case 'dynamic':
      case 'load': {
        if (o.kind === 'dynamic' || o.strides.every((st, i) => st === 0 || shape[i] === 1)) {
          const key = `${o.id}@${o.offset}`;
          let u = uniforms.get(key);
          if (!u) {
            u = { index: uniforms.size, id: o.id, offset: o.offset };
            uniforms.set(key, u);
          }
          return `u${u.index}`;
        }
        const key = `${o.id}:${o.strides.join(',')}:${o.offset}`;
        let l = loads.get(key);
        if (!l) {
          l = { index: loads.size, id: o.id, strides: o.strides, offset: o.offset };
          loads.set(key, l);
        }
        return `x${l.index}`;
      }
    }
  };
  // Registers are named by their position in the group, so equal chains give equal sources.
  const position = new Map<number, number>();
  group.ops.forEach((op, i) => position.set(op.id, i));
  const read = new Set<number>();
  for (const op of group.ops) for (const o of op.operands) if (o.kind === 'register') read.add(o.id);
  const body: string[] = [];
  for (const op of group.ops) {
    const names = ['x', 'y', 'z'];
    const binds = op.operands.map((o, i) => `${names[i]} = ${o.kind === 'register' ? `r${position.get(o.id)}` : term(o)}`).join(', ');
    // A register only stored (never read by a later op) skips the conversion: the typed
    // array's store converts it the same way.
    const r = `r${position.get(op.id)}`;
    body.push(`let ${r}; { const ${binds}; ${r} = ${read.has(op.id) ? convert(op.expr, op.dtype) : `(${op.expr})`}; }`);
  }
  const streams = [...loads.values()];
  const c = collapse(shape, [contiguousStrides(shape), ...streams.map((st) => st.strides)]);
  const nd = c.shape.length;
  const k = streams.length;
  const lines: string[] = [];
  group.outputs.forEach((_, j) => lines.push(`const o${j} = S[outIds[${j}]].data;`));
  for (let j = 0; j < k; j++) lines.push(`const a${j} = S[loadIds[${j}]].data;`);
  for (let j = 0; j < uniforms.size; j++) lines.push(`const u${j} = S[uniIds[${j}]].data[uniOffsets[${j}]];`);
  literals.forEach((_, j) => lines.push(`const L${j} = literals[${j}];`));
  for (let d = 0; d < nd; d++) lines.push(`const n${d} = shape[${d}];`);
  for (let j = 0; j < k; j++) for (let d = 0; d < nd; d++) lines.push(`const s${j}_${d} = strides[${j * nd + d}];`);
  if (nd === 1 && streams.every((_, j) => c.strides[j + 1]![0] === 1)) {
    // Every stream contiguous: one index for all of them (a tighter loop for V8).
    for (let j = 0; j < k; j++) lines.push(`const b${j} = offsets[${j}];`);
    lines.push('for (let p = 0; p < n0; p++) {');
    for (let j = 0; j < k; j++) lines.push(`const x${j} = a${j}[b${j} + p];`);
    lines.push(...body);
    group.outputs.forEach((id, j) => lines.push(`o${j}[p] = r${position.get(id)};`));
    lines.push('}');
    return bind(lines, group, streams, uniforms, literals, c);
  }
  lines.push('let p = 0;');
  for (let j = 0; j < k; j++) lines.push(`let q${j}_0 = offsets[${j}];`);
  for (let d = 0; d < nd; d++) {
    for (let j = 0; j < k; j++) lines.push(`let q${j}_${d + 1} = q${j}_${d};`);
    lines.push(`for (let i${d} = 0; i${d} < n${d}; i${d}++) {`);
  }
  for (let j = 0; j < k; j++) lines.push(`const x${j} = a${j}[q${j}_${nd}];`);
  lines.push(...body);
  group.outputs.forEach((id, j) => lines.push(`o${j}[p] = r${position.get(id)};`));
  lines.push('p++;');
  for (let d = nd - 1; d >= 0; d--) {
    for (let j = 0; j < k; j++) lines.push(`q${j}_${d + 1} += s${j}_${d};`);
    lines.push('}');
  }
  return bind(lines, group, streams, uniforms, literals, c);
}

/** Compiles (or reuses) a kernel's source and binds it to the group's values. */
function bind(
  lines: readonly string[], group: FusedGroup, streams: readonly { id: number; offset: number }[],
  uniforms: ReadonlyMap<string, { index: number; id: number; offset: number }>, literals: readonly number[],
  c: { shape: readonly number[]; strides: readonly (readonly number[])[] },
): { kernel: FusedKernel; source: string } {
  const source = `return function fused(S, outIds, loadIds, uniIds, uniOffsets, literals, shape, strides, offsets) {\n${lines.join('\n')}\n};`;
  let shared = kernelCache.get(source);
  if (!shared) {
    if (kernelCache.size >= KERNEL_CACHE_LIMIT) kernelCache.clear();
    shared = new Function('erf', 'fr', 'siluGrad', source)(erf, Math.fround, siluGrad) as SharedKernel;
    kernelCache.set(source, shared);
  }
  const run = shared;
  const outIds = Int32Array.from(group.outputs);
  const loadIds = Int32Array.from(streams.map((st) => st.id));
  const uniList = [...uniforms.values()];
  const uniIds = Int32Array.from(uniList.map((u) => u.id));
  const uniOffsets = Int32Array.from(uniList.map((u) => u.offset));
  const lits = Float64Array.from(literals);
  const dims = Int32Array.from(c.shape);
  const strides = Int32Array.from(streams.flatMap((_, j) => c.strides[j + 1]!));
  const offsets = Int32Array.from(streams.map((st) => st.offset));
  const kernel: FusedKernel = (S) => run(S, outIds, loadIds, uniIds, uniOffsets, lits, dims, strides, offsets);
  return { kernel, source };
}
