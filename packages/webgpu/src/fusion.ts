/// <reference types="@webgpu/types" />
// Turning a DAG of lazy elementwise nodes into one WGSL kernel body. The same body serves
// as a standalone elementwise kernel and as the epilogue of a matmul kernel (where the
// matmul's accumulator stands in for the matmul node). Shapes, strides, offsets and
// constants live in the uniform parameter block, so only the structure of the expression
// (ops, dtypes, ranks of strided inputs) reaches the shader source and its cache key.
import { type Layout, type Node } from './graph.js';
import { binaryCompute, binaryExpr, convert, isComparison, nonZero, scalarOf, unaryCompute, unaryExpr, type Scalar } from './kernels/ops.js';

export interface FusedPlan {
  /** Elementwise nodes to evaluate, inputs before users; the root is last. */
  readonly nodes: readonly Node[];
  /** A lazy matmul whose accumulator feeds the expression (epilogue fusion), if any. */
  readonly host: Node | null;
  /** Evaluated nodes read by the expression, in binding order. */
  readonly leaves: readonly Node[];
  /** Nodes written out: the root first, then intermediates that are still needed. */
  readonly outputs: readonly Node[];
}

/**
 * Collect the DAG under `root`. Lazy inputs reached through a non-identity layout never
 * occur (the backend evaluates them when the op is created). A second lazy matmul is
 * evaluated through `evaluate` and read as a plain input. Returns null when the kernel
 * would need more storage bindings than `maxBindings` even without optional outputs.
 */
export function planFusion(root: Node, maxBindings: number, allowHost: boolean, evaluate: (n: Node) => void): FusedPlan | null {
  const nodes: Node[] = [];
  const leaves: Node[] = [];
  const seen = new Set<Node>();
  const internalRefs = new Map<Node, number>();
  let host: Node | null = null;
  const visit = (node: Node): void => {
    seen.add(node);
    for (const { node: input, layout } of node.inputs) {
      internalRefs.set(input, (internalRefs.get(input) ?? 0) + 1);
      if (input.what.kind === 'const') continue;
      if (input.isElementwise && layout === null) {
        if (!seen.has(input)) visit(input);
        continue;
      }
      if (input.isLazy && input.what.kind === 'matmul' && layout === null) {
        if (allowHost && input.size === root.size && (host === null || host === input)) {
          host = input;
          continue;
        }
        evaluate(input);
      }
      if (input.buffer === null) evaluate(input);
      if (!leaves.includes(input)) leaves.push(input);
    }
    nodes.push(node);
  };
  visit(root);
  const needed = (n: Node): boolean => n.userRefs > 0 || n.consumers > (internalRefs.get(n) ?? 0);
  const outputs: Node[] = [root];
  const hostNode = host as Node | null;
  if (hostNode && needed(hostNode)) outputs.push(hostNode);
  // An intermediate larger than the root (the root reads a prefix of it) cannot be written
  // completely by this kernel, so it stays lazy.
  for (const n of nodes) if (n !== root && n.size === root.size && needed(n)) outputs.push(n);
  const fixed = leaves.length + (hostNode ? 2 : 0);
  if (fixed + 1 > maxBindings) return null;
  // Intermediates beyond the binding budget are left lazy: they are recomputed if needed.
  outputs.length = Math.min(outputs.length, maxBindings - fixed);
  return { nodes, host: hostNode, leaves, outputs };
}

/** Writes parameter words for a kernel; shared by every kernel builder. */
export class Params {
  private words: number[] = [];
  get length(): number {
    return this.words.length;
  }
  u32(v: number): number {
    this.words.push(v >>> 0);
    return this.words.length - 1;
  }
  i32(v: number): number {
    this.words.push(v | 0);
    return this.words.length - 1;
  }
  f32(v: number): number {
    const f = new Float32Array([v]);
    this.words.push(new Uint32Array(f.buffer)[0]!);
    return this.words.length - 1;
  }
  /** Store a constant of the given scalar type; returns its word index. */
  scalar(v: number, t: Scalar): number {
    return t === 'f32' ? this.f32(v) : this.i32(v);
  }
  array(): Uint32Array {
    const out = new Uint32Array(Math.max(4, Math.ceil(this.words.length / 4) * 4));
    out.set(this.words.map((w) => w >>> 0));
    return out;
  }
  /** WGSL declaration of the parameter block and its accessor `P(k)`. */
  static decl(words: number): string {
    const vecs = Math.max(1, Math.ceil(words / 4));
    return `@group(0) @binding(0) var<uniform> prm: array<vec4<u32>, ${vecs}>;
fn P(k: u32) -> u32 { return prm[k >> 2u][k & 3u]; }
fn Pi(k: u32) -> i32 { return bitcast<i32>(prm[k >> 2u][k & 3u]); }
fn Pf(k: u32) -> f32 { return bitcast<f32>(prm[k >> 2u][k & 3u]); }
`;
  }
}

export interface FusedCode {
  /** Storage binding declarations (bindings bindingBase..). */
  readonly decls: string;
  /** Statements that evaluate the expression at linear index `i` and store the outputs. */
  readonly body: string;
  /** Buffers to bind, in binding order (outputs must already have their buffers). */
  readonly buffers: readonly GPUBuffer[];
}

function wgslArray(t: Scalar): string {
  return `array<${t}>`;
}

/** Statements computing the flat element index of `i` in a strided layout. */
function indexCode(name: string, layout: Layout, params: Params): string {
  const off = params.i32(layout.offset);
  const rank = layout.shape.length;
  if (rank === 0) return `let ${name} = u32(Pi(${off}u));`;
  if (rank === 1 && layout.strides[0] === 1) return `let ${name} = i + u32(Pi(${off}u));`;
  const lines = [`var ${name}_o = Pi(${off}u);`, `var ${name}_r = i;`];
  for (let d = rank - 1; d >= 0; d--) {
    const s = params.u32(layout.shape[d]!);
    const st = params.i32(layout.strides[d]!);
    if (d === 0) lines.push(`${name}_o += i32(${name}_r) * Pi(${st}u);`);
    else lines.push(`${name}_o += i32(${name}_r % P(${s}u)) * Pi(${st}u); ${name}_r = ${name}_r / P(${s}u);`);
  }
  lines.push(`let ${name} = u32(${name}_o);`);
  return lines.join('\n  ');
}

/**
 * Generate the expression code for a plan. `hostValue` names the variable holding the
 * matmul accumulator when the plan has a host.
 */
export function fusedCode(plan: FusedPlan, bindingBase: number, params: Params, hostValue = 'acc'): FusedCode {
  const decls: string[] = [];
  const buffers: GPUBuffer[] = [];
  const leafBinding = new Map<Node, string>();
  plan.leaves.forEach((leaf, j) => {
    const name = `in${j}`;
    decls.push(`@group(0) @binding(${bindingBase + j}) var<storage, read> ${name}: ${wgslArray(scalarOf(leaf.dtype))};`);
    buffers.push(leaf.buffer!);
    leafBinding.set(leaf, name);
  });
  plan.outputs.forEach((out, j) => {
    buffers.push(out.buffer!);
    decls.push(`@group(0) @binding(${bindingBase + plan.leaves.length + j}) var<storage, read_write> out${j}: ${wgslArray(scalarOf(out.dtype))};`);
  });
  const body: string[] = [];
  const valueName = new Map<Node, string>();
  if (plan.host) valueName.set(plan.host, hostValue);
  let loads = 0;
  const consts = new Map<Node, string>();
  const operand = (input: Node, layout: Layout | null): string => {
    if (input.what.kind === 'const') {
      let c = consts.get(input);
      if (!c) {
        const t = scalarOf(input.dtype);
        const w = params.scalar(input.what.value, t);
        c = `c${consts.size}`;
        body.push(`let ${c} = ${t === 'f32' ? 'Pf' : 'Pi'}(${w}u);`);
        consts.set(input, c);
      }
      return c;
    }
    const inlined = layout === null ? valueName.get(input) : undefined;
    if (inlined) return inlined;
    const buf = leafBinding.get(input)!;
    const name = `l${loads++}`;
    if (layout === null) {
      body.push(`let ${name} = ${buf}[i];`);
    } else {
      body.push(indexCode(`${name}_i`, layout, params));
      body.push(`let ${name} = ${buf}[${name}_i];`);
    }
    return name;
  };
  plan.nodes.forEach((node, j) => {
    if (node.what.kind !== 'elementwise') throw new Error('fusedCode: non-elementwise node in plan');
    const op = node.what.op;
    const out = scalarOf(node.dtype);
    const ins = node.inputs.map((o) => ({ expr: operand(o.node, o.layout), t: scalarOf(o.node.dtype) }));
    let expr: string;
    switch (op.kind) {
      case 'unary': {
        const t = unaryCompute(op.op, ins[0]!.t, out);
        expr = convert(unaryExpr(op.op, convert(ins[0]!.expr, ins[0]!.t, t), t), t, out);
        break;
      }
      case 'binary': {
        const t = binaryCompute(op.op, ins[0]!.t, ins[1]!.t, out);
        const e = binaryExpr(op.op, convert(ins[0]!.expr, ins[0]!.t, t), convert(ins[1]!.expr, ins[1]!.t, t), t);
        expr = isComparison(op.op) ? (out === 'f32' ? `select(0.0, 1.0, ${e})` : `select(0, 1, ${e})`) : convert(e, t, out);
        break;
      }
      case 'where': {
        expr = `select(${convert(ins[2]!.expr, ins[2]!.t, out)}, ${convert(ins[1]!.expr, ins[1]!.t, out)}, ${nonZero(ins[0]!.expr, ins[0]!.t)})`;
        break;
      }
      case 'cast':
        expr = ins[0]!.t === 'f32' && out === 'f32' ? ins[0]!.expr : convert(ins[0]!.expr, ins[0]!.t, out);
        break;
    }
    const name = `v${j}`;
    body.push(`let ${name}: ${out} = ${expr};`);
    valueName.set(node, name);
  });
  plan.outputs.forEach((out, j) => body.push(`out${j}[i] = ${valueName.get(out)!};`));
  return { decls: decls.join('\n'), body: body.join('\n  '), buffers };
}

/** 1-d grid for `count` threads in workgroups of `size`, spilling into y past 65535 groups. */
export function grid(count: number, size: number): [number, number] {
  const groups = Math.ceil(count / size);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

/** The WGSL prologue that turns a 2-d grid of 1-d workgroups back into a flat thread index. */
export function flatIndex(size: number): string {
  return `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${size}u + lid;`;
}
