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
export function castExpr(dtype: DType): string {
  return dtype === 'int32' ? 'Math.trunc(x)' : 'x';
}

/** Generates the loop of a fused group. */
export function generateKernel(group: FusedGroup): { kernel: FusedKernel; source: string } {
  const shape = group.shape;
  const loads = new Map<string, { name: string; id: number; strides: readonly number[]; offset: number }>();
  const hoisted = new Map<string, string>();
  const head: string[] = [];
  const term = (o: Operand): string => {
    switch (o.kind) {
      case 'register': return `r${o.id}`;
      case 'literal': return literal(o.value);
      case 'dynamic': {
        const key = `${o.id}@${o.offset}`;
        let name = hoisted.get(key);
        if (!name) {
          name = `u${hoisted.size}`;
          hoisted.set(key, name);
          head.push(`const ${name} = S[${o.id}].data[${o.offset}];`);
        }
        return name;
      }
      case 'load': {
        if (o.strides.every((s, i) => s === 0 || shape[i] === 1)) {
          const key = `${o.id}@${o.offset}`;
          let name = hoisted.get(key);
          if (!name) {
            name = `u${hoisted.size}`;
            hoisted.set(key, name);
            head.push(`const ${name} = S[${o.id}].data[${o.offset}];`);
          }
          return name;
        }
        const key = `${o.id}:${o.strides.join(',')}:${o.offset}`;
        let l = loads.get(key);
        if (!l) {
          l = { name: `x${loads.size}`, id: o.id, strides: o.strides, offset: o.offset };
          loads.set(key, l);
        }
        return l.name;
      }
    }
  };
  const body: string[] = [];
  // A register only stored (never read by a later op) skips the conversion: the typed
  // array's store converts it the same way.
  const read = new Set<number>();
  for (const op of group.ops) for (const o of op.operands) if (o.kind === 'register') read.add(o.id);
  for (const op of group.ops) {
    const names = ['x', 'y', 'z'];
    const binds = op.operands.map((o, i) => `${names[i]} = ${term(o)}`).join(', ');
    body.push(`let r${op.id}; { const ${binds}; r${op.id} = ${read.has(op.id) ? convert(op.expr, op.dtype) : `(${op.expr})`}; }`);
  }
  const streams = [...loads.values()];
  const outStrides = contiguousStrides(shape);
  const c = collapse(shape, [outStrides, ...streams.map((s) => s.strides)]);
  const nd = c.shape.length;
  const lines: string[] = [];
  for (const id of group.outputs) lines.push(`const o${id} = S[${id}].data;`);
  for (const s of streams) lines.push(`const a${s.name} = S[${s.id}].data;`);
  lines.push(...head);
  lines.push('let p = 0;');
  for (const [k, s] of streams.entries()) lines.push(`let q${k}_0 = ${s.offset};`);
  for (let d = 0; d < nd; d++) {
    for (let k = 0; k < streams.length; k++) lines.push(`let q${k}_${d + 1} = q${k}_${d};`);
    lines.push(`for (let i${d} = 0; i${d} < ${c.shape[d]}; i${d}++) {`);
  }
  for (const [k, s] of streams.entries()) lines.push(`const ${s.name} = a${s.name}[q${k}_${nd}];`);
  lines.push(...body);
  for (const id of group.outputs) lines.push(`o${id}[p] = r${id};`);
  lines.push('p++;');
  for (let d = nd - 1; d >= 0; d--) {
    for (let k = 0; k < streams.length; k++) {
      const stride = c.strides[k + 1]![d]!;
      if (stride !== 0) lines.push(`q${k}_${d + 1} += ${stride};`);
    }
    lines.push('}');
  }
  const source = `return function fused(S) {\n${lines.join('\n')}\n};`;
  const kernel = new Function('erf', 'fr', source)(erf, Math.fround) as FusedKernel;
  return { kernel, source };
}
