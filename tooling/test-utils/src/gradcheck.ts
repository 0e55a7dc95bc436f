// Gradient checks. On a float64 backend, autograd is compared with central finite
// differences (first derivatives) and with finite differences of the autograd gradient
// (second derivatives: grad of grad). On float32-only backends (WebGPU), forward values
// and gradients are compared with a float64 reference backend instead.
import {
  Rng, Tensor, cpuBackend, gradients, keep, mul, noGrad, sum, tensor, tidy, withBackend, type Backend,
} from '@titans/tensor';
import { allclose, type AllcloseOptions } from './allclose.js';

export type TensorFunction = (...inputs: Tensor[]) => Tensor;

export interface GradCheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
  /** Seed of the random cotangent that projects non-scalar outputs (default 1). */
  seed?: number;
  /** Which inputs to differentiate (default: every floating-point input). */
  wrt?: readonly number[];
}

export interface GradCheckInputReport {
  index: number;
  analytic: Float64Array;
  numeric: Float64Array;
  maxAbsError: number;
}

export interface GradCheckReport {
  inputs: GradCheckInputReport[];
  /** Largest |analytic - numeric| over all checked inputs. */
  maxAbsError: number;
}

const isFloat = (t: Tensor): boolean => t.dtype !== 'int32';

function float64Backend(x: Tensor): Backend {
  return x.backend.supports('float64') && x.backend.syncRead ? x.backend : cpuBackend;
}

/** A float64 leaf copy of a floating-point tensor (int32 tensors are shared as they are). */
function toFloat64Leaf(x: Tensor, values?: Float64Array): Tensor {
  if (!isFloat(x)) return x;
  const data = values ?? Float64Array.from(x.dataSync());
  return tensor(data, x.shape, { dtype: 'float64', backend: float64Backend(x) });
}

function wrtIndices(inputs: readonly Tensor[], wrt: readonly number[] | undefined): number[] {
  const list = wrt ? [...wrt] : inputs.map((_, i) => i).filter((i) => isFloat(inputs[i]!));
  for (const i of list) {
    if (!inputs[i] || !isFloat(inputs[i])) throw new Error(`checkGradients: input ${i} is not a floating-point tensor`);
  }
  return list;
}

/** sum(f(xs) * w) for a fixed random w of f's output shape (just the value for scalars). */
class Objective {
  private weight: Tensor | null = null;
  constructor(private readonly f: TensorFunction, private readonly seed: number) {}
  evaluate(xs: Tensor[]): Tensor {
    const out = this.f(...xs);
    if (!(out instanceof Tensor)) throw new Error('checkGradients: the function must return a tensor');
    if (out.size === 1) return sum(out);
    if (this.weight === null || this.weight.backend !== out.backend || this.weight.dtype !== out.dtype) {
      this.weight?.dispose();
      const values = new Rng(this.seed).normalArray(out.size);
      this.weight = keep(tensor(out.dtype === 'float32' ? Float32Array.from(values) : values, out.shape, { dtype: out.dtype, backend: out.backend }));
    }
    return sum(mul(out, this.weight));
  }
  dispose(): void {
    this.weight?.dispose();
    this.weight = null;
  }
}

function describeInput(i: number, x: Tensor): string {
  return `input ${i} [${x.shape.join(', ')}]`;
}

/** Central differences of `value(xs)` with respect to every element of the inputs in `wrt`. */
function finiteDifferences(value: (xs: Tensor[]) => number, xs: Tensor[], wrt: number[], eps: number): Float64Array[] {
  return wrt.map((i) => {
    const base = Float64Array.from(xs[i]!.dataSync());
    const out = new Float64Array(base.length);
    const at = (values: Float64Array): number =>
      tidy(() => {
        const moved = xs.slice();
        moved[i] = toFloat64Leaf(xs[i]!, values);
        return value(moved);
      });
    for (let j = 0; j < base.length; j++) {
      const original = base[j]!;
      base[j] = original + eps;
      const plus = at(base);
      base[j] = original - eps;
      const minus = at(base);
      base[j] = original;
      out[j] = (plus - minus) / (2 * eps);
    }
    return out;
  });
}

function compare(
  what: string, inputs: readonly Tensor[], wrt: number[], analytic: Float64Array[], numeric: Float64Array[], options: AllcloseOptions,
): GradCheckReport {
  const reports: GradCheckInputReport[] = [];
  const failures: string[] = [];
  wrt.forEach((i, n) => {
    const result = allclose(analytic[n]!, numeric[n]!, options);
    reports.push({ index: i, analytic: analytic[n]!, numeric: numeric[n]!, maxAbsError: result.maxAbsError });
    if (!result.ok) failures.push(`${describeInput(i, inputs[i]!)}: ${result.message}`);
  });
  if (failures.length > 0) throw new Error(`${what}: autograd (actual) disagrees with finite differences (expected):\n  ${failures.join('\n  ')}`);
  return { inputs: reports, maxAbsError: Math.max(0, ...reports.map((r) => r.maxAbsError)) };
}

/**
 * Checks the gradients of `f` (projected on a fixed random cotangent when its output is not
 * a scalar) against central finite differences, in float64 (inputs are copied to float64).
 * Throws an error naming the input and element that disagree; returns the errors otherwise.
 */
export function checkGradients(f: TensorFunction, inputs: readonly Tensor[], options: GradCheckOptions = {}): GradCheckReport {
  const eps = options.eps ?? 1e-6;
  const wrt = wrtIndices(inputs, options.wrt);
  const objective = new Objective(f, options.seed ?? 1);
  try {
    const xs = inputs.map((x) => toFloat64Leaf(x));
    const analytic = tidy(() => {
      const tracked = xs.map((x, i) => (wrt.includes(i) ? track(x) : x));
      const loss = objective.evaluate(tracked);
      return gradients(loss, wrt.map((i) => tracked[i]!)).map((g) => Float64Array.from(g.dataSync()));
    });
    const numeric = finiteDifferences((moved) => noGrad(() => objective.evaluate(moved).item()), xs, wrt, eps);
    xs.forEach((x, i) => { if (x !== inputs[i]) x.dispose(); });
    return compare('checkGradients', inputs, wrt, analytic, numeric, { rtol: options.rtol ?? 1e-5, atol: options.atol ?? 1e-6 });
  } finally {
    objective.dispose();
  }
}

/** A view of x that gradients are taken with respect to. */
function track(x: Tensor): Tensor {
  const t = x.detach();
  t.requiresGrad = true;
  return t;
}

/** Fixed random directions, one per differentiated input. */
function directions(inputs: readonly Tensor[], wrt: number[], seed: number): Float64Array[] {
  const rng = new Rng(seed + 7919);
  return wrt.map((i) => rng.normalArray(inputs[i]!.size));
}

/**
 * Second derivatives: for S(x) = sum_i <grad_i f(x), v_i> with fixed random v, compares
 * grad S computed by differentiating the recorded backward pass (grad of grad, i.e. the
 * Hessian-vector product) with central finite differences of S, where S itself uses
 * first-order autograd. float64.
 */
export function checkSecondDerivatives(f: TensorFunction, inputs: readonly Tensor[], options: GradCheckOptions = {}): GradCheckReport {
  const eps = options.eps ?? 1e-5;
  const wrt = wrtIndices(inputs, options.wrt);
  const objective = new Objective(f, options.seed ?? 1);
  const vs = directions(inputs, wrt, options.seed ?? 1);
  const projected = (xs: Tensor[], createGraph: boolean): Tensor => {
    const tracked = xs.map((x, i) => (wrt.includes(i) ? (x.requiresGrad ? x : track(x)) : x));
    const loss = objective.evaluate(tracked);
    const grads = gradients(loss, wrt.map((i) => tracked[i]!), { createGraph });
    let s: Tensor | null = null;
    grads.forEach((g, n) => {
      const v = tensor(vs[n]!, g.shape, { dtype: 'float64', backend: g.backend });
      const term = sum(mul(g, v));
      s = s === null ? term : s.add(term);
    });
    return s!;
  };
  try {
    const xs = inputs.map((x) => toFloat64Leaf(x));
    const analytic = tidy(() => {
      const tracked = xs.map((x, i) => (wrt.includes(i) ? track(x) : x));
      const s = projected(tracked, true);
      return gradients(s, wrt.map((i) => tracked[i]!)).map((g) => Float64Array.from(g.dataSync()));
    });
    const numeric = finiteDifferences((moved) => projected(moved, false).item(), xs, wrt, eps);
    xs.forEach((x, i) => { if (x !== inputs[i]) x.dispose(); });
    return compare('checkSecondDerivatives', inputs, wrt, analytic, numeric, { rtol: options.rtol ?? 1e-4, atol: options.atol ?? 1e-5 });
  } finally {
    objective.dispose();
  }
}

export interface BackendCheckOptions {
  /** The trusted backend (default the CPU backend, computing in float64). */
  reference?: Backend;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /**
   * Absolute tolerance as a fraction of the largest |expected| of each compared array
   * (default 1e-4), so float32 round-off on large values does not fail the check.
   */
  atol?: number;
  seed?: number;
  wrt?: readonly number[];
  /** Also compare first derivatives (default true). */
  gradients?: boolean;
  /** Also compare second derivatives (Hessian-vector products; default false). */
  secondOrder?: boolean;
}

function scaledAtol(expected: Float64Array, atol: number): number {
  let max = 0;
  for (const v of expected) if (Number.isFinite(v)) max = Math.max(max, Math.abs(v));
  return atol * Math.max(1, max);
}

/**
 * Runs `f` on the inputs' own backend (e.g. WebGPU, float32) and on a float64 reference
 * backend, and compares outputs, gradients and optionally Hessian-vector products.
 * Works on asynchronous backends: values are read with `await tensor.data()`.
 */
export async function checkAgainstBackend(f: TensorFunction, inputs: readonly Tensor[], options: BackendCheckOptions = {}): Promise<void> {
  const reference = options.reference ?? cpuBackend;
  const wantGrads = options.gradients ?? true;
  const wantSecond = options.secondOrder ?? false;
  const wrt = wantGrads || wantSecond ? wrtIndices(inputs, options.wrt) : [];
  const seed = options.seed ?? 1;
  const vs = directions(inputs, wrt, seed);
  const run = (xs: readonly Tensor[]): Tensor[] => {
    const objective = new Objective(f, seed);
    try {
      return tidy(() => {
        const tracked = xs.map((x, i) => (wrt.includes(i) ? track(x) : x));
        const out = f(...tracked);
        const results = [out];
        if (wrt.length === 0) return results;
        const loss = objective.evaluate(tracked);
        const grads = gradients(loss, wrt.map((i) => tracked[i]!), { createGraph: wantSecond });
        if (wantGrads) results.push(...grads);
        if (wantSecond) {
          let s: Tensor | null = null;
          grads.forEach((g, n) => {
            const values = g.dtype === 'float32' ? Float32Array.from(vs[n]!) : vs[n]!;
            const term = sum(mul(g, tensor(values, g.shape, { dtype: g.dtype, backend: g.backend })));
            s = s === null ? term : s.add(term);
          });
          results.push(...gradients(s!, wrt.map((i) => tracked[i]!)));
        }
        return results;
      });
    } finally {
      objective.dispose();
    }
  };
  // Constants that f creates land on the active backend: make it the one under test.
  const actualTensors = inputs[0] ? withBackend(inputs[0].backend, () => run(inputs)) : run(inputs);
  const actual = await Promise.all(actualTensors.map(async (t) => Float64Array.from(await t.data())));
  actualTensors.forEach((t) => t.dispose());

  const refInputs = await Promise.all(inputs.map(async (x) => {
    const values = await x.data();
    return isFloat(x)
      ? tensor(Float64Array.from(values), x.shape, { dtype: 'float64', backend: reference })
      : tensor(Int32Array.from(values), x.shape, { dtype: 'int32', backend: reference });
  }));
  const expectedTensors = withBackend(reference, () => run(refInputs));
  const expected = await Promise.all(expectedTensors.map(async (t) => Float64Array.from(await t.data())));
  expectedTensors.forEach((t) => t.dispose());
  refInputs.forEach((t) => t.dispose());

  const labels = ['output', ...(wantGrads ? wrt.map((i) => `gradient of input ${i}`) : []), ...(wantSecond ? wrt.map((i) => `Hessian-vector product for input ${i}`) : [])];
  const failures: string[] = [];
  labels.forEach((label, n) => {
    const result = allclose(actual[n]!, expected[n]!, { rtol: options.rtol ?? 1e-3, atol: scaledAtol(expected[n]!, options.atol ?? 1e-4), equalNan: true });
    if (!result.ok) failures.push(`${label}: ${result.message}`);
  });
  if (failures.length > 0) {
    throw new Error(`checkAgainstBackend (${inputs[0]?.backend.name ?? '?'} vs ${reference.name}):\n  ${failures.join('\n  ')}`);
  }
}

/**
 * Checks the gradients of `loss()` with respect to a module's parameters (float64
 * parameters; each element is perturbed in place with `assign` and restored).
 */
export function checkParameterGradients(parameters: readonly Tensor[], loss: () => Tensor, options: GradCheckOptions = {}): GradCheckReport {
  const eps = options.eps ?? 1e-6;
  for (const [i, p] of parameters.entries()) {
    if (p.dtype !== 'float64') throw new Error(`checkParameterGradients: parameter ${i} is ${p.dtype}; build the module with dtype 'float64'`);
  }
  const analytic = tidy(() => gradients(loss(), [...parameters]).map((g) => Float64Array.from(g.dataSync())));
  const numeric = parameters.map((p) => {
    const values = Float64Array.from(p.dataSync());
    const out = new Float64Array(values.length);
    const at = (): number => tidy(() => {
      p.assign(tensor(values, p.shape, { dtype: 'float64', backend: p.backend }));
      return noGrad(() => loss().item());
    });
    for (let j = 0; j < values.length; j++) {
      const original = values[j]!;
      values[j] = original + eps;
      const plus = at();
      values[j] = original - eps;
      const minus = at();
      values[j] = original;
      out[j] = (plus - minus) / (2 * eps);
    }
    tidy(() => { p.assign(tensor(values, p.shape, { dtype: 'float64', backend: p.backend })); });
    return out;
  });
  const wrt = parameters.map((_, i) => i);
  return compare('checkParameterGradients', parameters, wrt, analytic, numeric, { rtol: options.rtol ?? 1e-5, atol: options.atol ?? 1e-6 });
}

export interface SpotCheckOptions {
  /** Picks the elements: `rng.int(size)` per check, tensor by tensor, in order. */
  rng: Rng;
  /** Elements checked per tensor (default 1). */
  elements?: number;
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance on |autograd - finite differences| (default 1e-6). */
  rtol?: number;
  /** Absolute tolerance (default 1e-7). */
  atol?: number;
  /** Also require each gradient to have a non-zero element (the tensor takes part). */
  nonZero?: boolean;
}

/**
 * Spot check for models too large for `checkParameterGradients`' every element: at a few
 * random elements of each named tensor (moved in place with `assign`, then restored), the
 * central finite difference of `loss()` against `grads[i]`, the autograd gradient of the
 * i-th tensor computed by the caller. Throws an error naming the tensor and element.
 */
export function spotCheckGradients(
  loss: () => Tensor, targets: readonly (readonly [string, Tensor])[], grads: readonly Tensor[], options: SpotCheckOptions,
): void {
  const { rng, elements = 1, eps = 1e-6, rtol = 1e-6, atol = 1e-7 } = options;
  if (grads.length !== targets.length) throw new Error(`spotCheckGradients: ${targets.length} tensors but ${grads.length} gradients`);
  targets.forEach(([name, p], i) => {
    const g = grads[i]!.dataSync();
    if (g.length !== p.size) throw new Error(`spotCheckGradients: ${name} has ${p.size} elements but its gradient ${g.length}`);
    if (options.nonZero && !g.some((v) => v !== 0)) throw new Error(`spotCheckGradients: ${name} gets no gradient (all zero)`);
    for (let n = 0; n < elements; n++) {
      const index = rng.int(p.size);
      const original = Float64Array.from(p.dataSync());
      const at = (dx: number): number => tidy(() => noGrad(() => {
        const moved = original.slice();
        moved[index]! += dx;
        p.assign(tensor(moved, p.shape, { dtype: p.dtype, backend: p.backend }));
        const value = loss().item();
        p.assign(tensor(original, p.shape, { dtype: p.dtype, backend: p.backend }));
        return value;
      }));
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      const analytic = g[index]!;
      const difference = Math.abs(analytic - numeric);
      if (!(difference < atol + rtol * Math.abs(numeric))) {
        throw new Error(`spotCheckGradients: ${name}[${index}]: autograd ${analytic}, finite differences ${numeric} (|difference| ${difference})`);
      }
    }
  });
}
