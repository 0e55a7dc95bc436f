// Reverse-mode autodiff. Every gradient rule is written with differentiable ops, so a
// backward pass run with `createGraph` records its own graph and can be differentiated
// again: grad(grad(f)), Hessian-vector products, and the neural memory's outer loop,
// which differentiates through the memory's own gradient step.
import { enableGrad, isGradEnabled, noGrad, type TensorTree } from './engine.js';
import { add, concat, mul, onesLike, padAxis, sum, zeros, zerosLike } from './ops/core.js';
import { setVjpImpl } from './ops/nn.js';
import { formatShape } from './shape.js';
import { Tensor, fromStorage, record, sameShape } from './tensor.js';

export interface GradientOptions {
  /** Seed gradient for `output` (default: ones, so `output` should be a scalar). */
  gradOutput?: Tensor;
  /** Record the backward pass so the result can be differentiated again. */
  createGraph?: boolean;
}

/**
 * d output / d inputs (vector-Jacobian product with `gradOutput`). Every input must be
 * tracked: a parameter (`nn.parameter(t)`), a tensor given `requiresGrad = true` before
 * `output` was computed from it, or anything computed from those while gradients were
 * recorded. An untracked input (a plain `tensor(...)`) is an error that names it, as in
 * PyTorch's `torch.autograd.grad`: nothing recorded how it was used, so its gradient is
 * unknown, not zero. A tracked input that `output` does not depend on gets zeros (PyTorch
 * raises there unless `allow_unused`).
 */
export function gradients(output: Tensor, inputs: readonly Tensor[], options: GradientOptions = {}): Tensor[] {
  checkArguments('gradients', output, inputs, options);
  return gradientsOf(output, inputs, options, null);
}

function checkArguments(op: string, output: Tensor, inputs: readonly Tensor[], options: GradientOptions): void {
  if (options.gradOutput === undefined && output.size !== 1) {
    throw new Error(`${op}: output has shape ${formatShape(output.shape)}; pass gradOutput for non-scalar outputs`);
  }
  if (options.gradOutput && !sameShape(options.gradOutput.shape, output.shape)) {
    throw new Error(`${op}: gradOutput ${formatShape(options.gradOutput.shape)} does not match output ${formatShape(output.shape)}`);
  }
  inputs.forEach((x, i) => {
    if (x.dtype === 'int32') throw new TypeError(`${op}: input ${i} ${formatShape(x.shape)} is int32; only float32 and float64 tensors have gradients`);
    if (!x.requiresGrad) {
      throw new Error(
        `${op}: input ${i} ${formatShape(x.shape)} is not tracked (requiresGrad is false), so no recorded graph leads to it and its gradient is unknown; ` +
        'make it a parameter (nn.parameter(t)) or set t.requiresGrad = true before computing the output from it, or differentiate a function with grad(f) / valueAndGrad(f), which track their argument',
      );
    }
  });
}

/**
 * `gradients` for graphs that copy tensors with `toBackend` from a backend that reads
 * synchronously (the CPU) to one that does not (WebGPU): the gradient of such a copy has to
 * come back to the CPU, which is a GPU read, so it is awaited here. The backward pass runs on
 * the GPU side first (stopping at the copies), the copies' gradients are read back, then the
 * CPU side is differentiated. Without such copies it is `gradients`. First order only: the
 * read-back gradients are constants, so `createGraph` is refused.
 */
export async function gradientsAsync(output: Tensor, inputs: readonly Tensor[], options: Omit<GradientOptions, 'createGraph'> = {}): Promise<Tensor[]> {
  if ((options as GradientOptions).createGraph) {
    throw new Error('gradientsAsync: createGraph is not supported (a gradient read back from another device is a constant); keep the graph on one backend to differentiate twice');
  }
  checkArguments('gradientsAsync', output, inputs, options);
  const copies = deviceCopies(output);
  if (copies.length === 0) return gradientsOf(output, inputs, options, null);
  const near = noGrad(() => gradientsOf(output, [...inputs, ...copies], options, new Set(copies)));
  const copyGrads = near.slice(inputs.length);
  const sources = copies.map((c) => c.node!.inputs[0]!);
  const back = await Promise.all(copyGrads.map(async (g, i) => {
    const source = sources[i]!;
    const values = await g.data();
    return fromStorage(source.backend.fromArray(values, g.dtype), g.shape);
  }));
  // The far side: the vector-Jacobian product of the copies' sources with their gradients.
  const surrogate = enableGrad(() => sources.map((src, i) => sum(mul(src, detachConstant(back[i]!)))).reduce((a, b) => add(a, b)));
  const far = gradients(surrogate, inputs);
  const totals = inputs.map((_, i) => {
    const a = near[i]!;
    const b = far[i]!;
    if (a.backend !== b.backend) throw new Error(`internal: gradientsAsync input ${i} got gradients on ${a.backend.name} and ${b.backend.name}`);
    return noGrad(() => add(a, b));
  });
  // A backward rule may hand one tensor to several inputs: free each part once (never the caller's gradOutput).
  const parts = new Set([...near, ...far, ...back]);
  if (options.gradOutput) parts.delete(options.gradOutput);
  for (const t of parts) t.dispose();
  return totals;
}

function detachConstant(t: Tensor): Tensor {
  return t.requiresGrad ? t.detach() : t;
}

/** toBackend nodes whose gradient needs an asynchronous read (a copy to a backend without syncRead). */
function deviceCopies(output: Tensor): Tensor[] {
  const seen = new Set<Tensor>();
  const copies: Tensor[] = [];
  const stack = [output];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t) || !t.node) continue;
    seen.add(t);
    const source = t.node.inputs[0];
    if (t.node.name === 'to' && source && source.backend !== t.backend && !t.backend.syncRead) {
      copies.push(t);
      continue;
    }
    for (const input of t.node.inputs) if (input.requiresGrad) stack.push(input);
  }
  return copies;
}

/** The functional transforms differentiate floating-point arguments only. */
function checkDifferentiable(op: string, xs: readonly Tensor[]): void {
  xs.forEach((x, i) => {
    if (x.dtype === 'int32') {
      throw new TypeError(`${op}: argument leaf ${i} ${formatShape(x.shape)} is int32; only float32 and float64 tensors can be differentiated (pass integer data as a further argument)`);
    }
  });
}

/**
 * The backward pass. Tensors in `stopAt` are treated as leaves: the pass does not continue
 * into whatever they were computed from (composite backward rules use it, with fresh aliases
 * as inputs, to get each input's own gradient; gradientsAsync to stop at device copies).
 */
function gradientsOf(output: Tensor, inputs: readonly Tensor[], options: GradientOptions, stopAt: ReadonlySet<Tensor> | null): Tensor[] {
  const targets = new Set(inputs);
  const order = topologicalOrder(output, targets, stopAt);
  const createGraph = options.createGraph ?? false;
  const run = (): Tensor[] => {
    const grads = new Map<Tensor, Tensor>();
    const slices = new Map<Tensor, SliceGrad[]>();
    // Without createGraph no recorded node keeps a gradient, so each is freed as soon as
    // nothing holds it any more (the gradient map or a slice list): backward passes of
    // long chunked loops then stay close to the forward pass's memory.
    const holders = new Map<Tensor, number>();
    // The caller's gradOutput is never freed here: it is theirs (a vjp cotangent may be reused).
    const callers = new Set<Tensor>(options.gradOutput ? [options.gradOutput] : []);
    const pinned = new Set<Tensor>();
    const hold = (x: Tensor): void => {
      holders.set(x, (holders.get(x) ?? 0) + 1);
    };
    const release = (x: Tensor): void => {
      if (createGraph || pinned.has(x) || callers.has(x) || (holders.get(x) ?? 0) > 0) return;
      x.dispose();
    };
    const drop = (x: Tensor): void => {
      const n = (holders.get(x) ?? 0) - 1;
      if (n > 0) holders.set(x, n);
      else holders.delete(x);
      release(x);
    };
    const accumulate = (input: Tensor, g: Tensor): void => {
      const existing = grads.get(input);
      if (!existing) {
        grads.set(input, g);
        hold(g);
        return;
      }
      const total = add(existing, g);
      grads.set(input, total);
      hold(total);
      drop(existing);
      release(g);
    };
    /** The full gradient of t: dense contributions plus its slices' gradients, assembled once. */
    const gradOf = (t: Tensor): Tensor | undefined => {
      const parts = slices.get(t);
      if (parts) {
        slices.delete(t);
        const assembled = assembleSlices(t, parts);
        for (const part of parts) drop(part.grad);
        accumulate(t, assembled);
      }
      return grads.get(t);
    };
    /** Forgets t's gradient once its node has passed it on (targets keep theirs). */
    const done = (t: Tensor, g: Tensor): void => {
      if (targets.has(t)) return;
      grads.delete(t);
      drop(g);
    };
    if (output.requiresGrad || targets.has(output)) {
      const seed = options.gradOutput ?? onesLike(output);
      grads.set(output, seed);
      hold(seed);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = gradOf(t);
      if (!g || !t.node) continue;
      const node = t.node;
      if (node.slice) {
        const input = node.inputs[0]!;
        if (input.requiresGrad && input.dtype !== 'int32') {
          const list = slices.get(input) ?? [];
          list.push({ ...node.slice, grad: g });
          hold(g);
          slices.set(input, list);
        }
        done(t, g);
        continue;
      }
      const inputGrads = node.backward(g);
      pinned.add(g);
      node.inputs.forEach((input, j) => {
        const gi = inputGrads[j];
        if (!gi) return;
        if (!input.requiresGrad || input.dtype === 'int32') {
          release(gi);
          return;
        }
        if (!sameShape(gi.shape, input.shape)) {
          throw new Error(`internal: gradient of ${node.name} input ${j} has shape ${formatShape(gi.shape)}, expected ${formatShape(input.shape)}`);
        }
        accumulate(input, gi);
      });
      pinned.delete(g);
      done(t, g);
    }
    return inputs.map((x) => gradOf(x) ?? zerosLike(x));
  };
  return createGraph ? enableGrad(run) : noGrad(run);
}

interface SliceGrad {
  readonly axis: number;
  readonly start: number;
  readonly length: number;
  readonly grad: Tensor;
}

/**
 * The gradient of a tensor from the gradients of its slices: slices along one axis that do
 * not overlap are laid out with one concat (zeros in the gaps); anything else is padded
 * and summed.
 */
function assembleSlices(t: Tensor, parts: SliceGrad[]): Tensor {
  const axis = parts[0]!.axis;
  const sorted = [...parts].sort((a, b) => a.start - b.start);
  const disjoint = parts.every((p) => p.axis === axis) && sorted.every((p, i) => i === 0 || p.start >= sorted[i - 1]!.start + sorted[i - 1]!.length);
  if (!disjoint) {
    return parts.map((p) => padAxis(p.grad, p.axis, p.start, t.shape[p.axis]! - p.start - p.length)).reduce((a, b) => add(a, b));
  }
  const pieces: Tensor[] = [];
  let at = 0;
  const gap = (length: number): Tensor => {
    const shape = [...t.shape];
    shape[axis] = length;
    return zeros(shape, { dtype: t.dtype, backend: t.backend });
  };
  for (const p of sorted) {
    if (p.start > at) pieces.push(gap(p.start - at));
    pieces.push(p.grad);
    at = p.start + p.length;
  }
  if (at < t.shape[axis]!) pieces.push(gap(t.shape[axis]! - at));
  return pieces.length === 1 ? pieces[0]! : concat(pieces, axis);
}

/** Nodes between `output` and the targets, inputs before outputs (iterative: graphs can be deep). */
function topologicalOrder(output: Tensor, targets: Set<Tensor>, stopAt: ReadonlySet<Tensor> | null): Tensor[] {
  const needed = new Map<Tensor, boolean>();
  const order: Tensor[] = [];
  const stack: { t: Tensor; next: number }[] = [{ t: output, next: 0 }];
  const onStack = new Set<Tensor>([output]);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const leaf = stopAt !== null && stopAt.has(frame.t);
    const inputs = leaf ? [] : (frame.t.node?.inputs ?? []);
    if (frame.next < inputs.length) {
      const input = inputs[frame.next++]!;
      if (input.requiresGrad && !needed.has(input) && !onStack.has(input)) {
        stack.push({ t: input, next: 0 });
        onStack.add(input);
      }
      continue;
    }
    stack.pop();
    onStack.delete(frame.t);
    const isNeeded = targets.has(frame.t) || inputs.some((x) => needed.get(x) === true);
    needed.set(frame.t, isNeeded);
    if (isNeeded && frame.t.node && !leaf) order.push(frame.t);
  }
  return order;
}

// ---------------------------------------------------------------- functional transforms

let transformDepth = 0;

/** An alias of x whose gradient flows back to x (used to mark a fresh target). */
function alias(x: Tensor): Tensor {
  const out = x.detach();
  if (x.requiresGrad && isGradEnabled()) return record(out, 'alias', [x], (g) => [g]);
  out.requiresGrad = true;
  return out;
}

function mapTree(tree: TensorTree, fn: (t: Tensor) => Tensor): TensorTree {
  if (tree instanceof Tensor) return fn(tree);
  if (Array.isArray(tree)) return tree.map((t: TensorTree) => mapTree(t, fn));
  const out: Record<string, TensorTree> = {};
  for (const [k, v] of Object.entries(tree as Record<string, TensorTree>)) out[k] = mapTree(v, fn);
  return out;
}

function leaves(tree: TensorTree, out: Tensor[] = []): Tensor[] {
  if (tree instanceof Tensor) out.push(tree);
  else if (Array.isArray(tree)) for (const t of tree as TensorTree[]) leaves(t, out);
  else for (const v of Object.values(tree as Record<string, TensorTree>)) leaves(v, out);
  return out;
}

function rebuild<T extends TensorTree>(tree: T, values: Tensor[]): T {
  let i = 0;
  return mapTree(tree, () => values[i++]!) as T;
}

/**
 * Differentiates `f` with respect to its first argument (a tensor or a tree of tensors),
 * returning the value and the gradient with the argument's structure. The backward pass
 * records a graph when called inside another transform or when the argument itself
 * requires gradients, so transforms nest: grad(grad(f)).
 */
export function valueAndGrad<A extends TensorTree = Tensor, R extends unknown[] = []>(
  f: (x: A, ...rest: R) => Tensor,
): (x: A, ...rest: R) => [Tensor, A] {
  return (x: A, ...rest: R) => {
    const xs = leaves(x);
    checkDifferentiable('grad', xs);
    const nested = transformDepth > 0 || xs.some((t) => t.requiresGrad);
    const tracked = xs.map(alias);
    transformDepth++;
    let value: Tensor;
    try {
      value = enableGrad(() => f(rebuild(x, tracked), ...rest));
    } finally {
      transformDepth--;
    }
    if (!(value instanceof Tensor) || value.size !== 1) {
      throw new Error(`grad: the function must return a scalar tensor, got ${value instanceof Tensor ? formatShape(value.shape) : typeof value}`);
    }
    const grads = gradients(value, tracked, { createGraph: nested && isGradEnabled() });
    return [value, rebuild(x, grads)];
  };
}

/** The gradient of a scalar function of a tensor (or tree of tensors). */
export function grad<A extends TensorTree = Tensor, R extends unknown[] = []>(f: (x: A, ...rest: R) => Tensor): (x: A, ...rest: R) => A {
  const vg = valueAndGrad(f);
  return (x: A, ...rest: R) => vg(x, ...rest)[1];
}

/** The output of `f` and a function mapping an output cotangent to the input cotangent. */
export function vjp<A extends TensorTree = Tensor>(f: (x: A) => Tensor, x: A): [Tensor, (cotangent: Tensor) => A] {
  const xs = leaves(x);
  checkDifferentiable('vjp', xs);
  const nested = transformDepth > 0 || xs.some((t) => t.requiresGrad);
  const tracked = xs.map(alias);
  transformDepth++;
  let out: Tensor;
  try {
    out = enableGrad(() => f(rebuild(x, tracked)));
  } finally {
    transformDepth--;
  }
  return [out, (cotangent: Tensor) => rebuild(x, gradients(out, tracked, { gradOutput: cotangent, createGraph: nested && isGradEnabled() }))];
}

/** Hessian-vector product H(f)(x) v without forming the Hessian. */
export function hvp(f: (x: Tensor) => Tensor, x: Tensor, v: Tensor): Tensor {
  const gradF = grad(f);
  return grad((y: Tensor) => {
    const g = gradF(y);
    return sumProduct(g, v);
  })(x);
}

function sumProduct(a: Tensor, b: Tensor): Tensor {
  return a.mul(b).sum();
}

/**
 * The recorded backward of a composite rule: differentiates `f` at `inputs` along `g`. `f`
 * runs on fresh aliases of the inputs, so an input that is passed twice (attention(x, x, x))
 * or that depends on another input (attention(x, 2x, x)) gets only the gradient of its own
 * argument slot; the aliases keep the result differentiable with respect to the inputs.
 */
setVjpImpl((f, inputs, g) => enableGrad(() => {
  const slots = inputs.map((x) => {
    const out = x.detach();
    return x.requiresGrad ? record(out, 'alias', [x], (gx) => [gx]) : out;
  });
  for (const s of slots) s.requiresGrad = true;
  return gradientsOf(f(...slots), slots, { gradOutput: g, createGraph: true }, new Set(slots));
}));
