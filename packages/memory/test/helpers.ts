// Shared fixtures of the memory tests: random inputs with sensible gates, a rule builder,
// the spec's relative error, and a runner that compares the loop with the parallel form.
import { expect } from 'vitest';
import {
  Rng, add, broadcastShapes, cast, cpuBackend, expand, l2Normalize, mul, noGrad, sum, tensor, tidy, valueAndGrad, type DType, type Tensor,
} from '@titans/tensor';
import {
  initialState, linearArchitecture, memoryPreset, scanChunked, scanLoop, scanParallel, weightShapes,
  type MemoryArchitecture, type MemoryInputs, type MemoryOutputs, type MemoryRule, type MemoryState,
} from '../src/index.js';

// The two tensors hold the same bits (Object.is per element), as @titans/test-utils checks it.
export { expectSameBits } from '@titans/test-utils';

export interface Sizes {
  /** Leading axes (batch x heads). */
  lead?: number[];
  tokens: number;
  dim: number;
  dtype?: DType;
  seed?: number;
  /** Give each gate a Huber threshold input (Yaad with data-dependent delta). */
  huberDelta?: boolean;
  /** Add learning-rate multipliers for this many weight matrices. */
  rateLayers?: number;
  /** Draw from this generator (which goes on for the caller's own draws) instead of a new one seeded `seed`. */
  rng?: Rng;
}

/** Unit-norm keys and queries, Gaussian values, gates in ranges where the memory is stable. */
export function randomInputs(sizes: Sizes): MemoryInputs {
  const { lead = [2, 2], tokens, dim, dtype = 'float64', seed = 1 } = sizes;
  const rng = sizes.rng ?? new Rng(seed);
  const opts = { dtype };
  const rows = [...lead, tokens, dim];
  const gate = (low: number, high: number): Tensor => rng.uniform([...lead, tokens], low, high, opts);
  return {
    k: l2Normalize(rng.normal(rows, 0, 1, opts), -1),
    v: rng.normal(rows, 0, 1, opts),
    q: l2Normalize(rng.normal(rows, 0, 1, opts), -1),
    theta: gate(0.02, 0.2),
    eta: gate(0.3, 0.9),
    alpha: gate(0, 0.1),
    ...(sizes.huberDelta ? { delta: gate(0.2, 1.5) } : {}),
    ...(sizes.rateLayers ? { layerLearningRates: Array.from({ length: sizes.rateLayers }, () => rng.uniform([lead[lead.length - 1] ?? 1], 0.5, 1.5, opts)) } : {}),
  };
}

/** Initial weights [heads, out, in] scaled 1/sqrt(in). */
export function randomWeights(arch: MemoryArchitecture, dim: number, options: { heads?: number; dtype?: DType; seed?: number } = {}): Tensor[] {
  const rng = new Rng(options.seed ?? 2);
  return weightShapes(arch, dim).map(([out, inp]) => rng.normal([options.heads ?? 2, out, inp], 0, 1 / Math.sqrt(inp), { dtype: options.dtype ?? 'float64' }));
}

/** The Titans rule with overrides (an L2 rule unless the overrides say otherwise). */
export function rule(overrides: Partial<MemoryRule>, dim = 6): MemoryRule {
  return memoryPreset('titans', dim, { architecture: { depth: 2, hidden: 10, activation: 'silu', residual: true, norm: true }, ...overrides });
}

/** The spec's relative error: max |a - b| / max |b|. */
export function relError(actual: Tensor, expected: Tensor): number {
  expect(actual.shape, 'shapes differ').toEqual(expected.shape);
  const a = actual.dataSync();
  const b = expected.dataSync();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  if (!Number.isFinite(diff)) return Infinity;
  return diff / Math.max(scale, 1e-300);
}

export function expectClose(actual: Tensor, expected: Tensor, tolerance: number, what: string): void {
  const error = relError(actual, expected);
  expect(error, `${what}: relative error ${error.toExponential(3)} above ${tolerance}`).toBeLessThanOrEqual(tolerance);
}

/** Compares every output and the carried state of two runs. */
export function expectSameRun(actual: MemoryOutputs, expected: MemoryOutputs, tolerance: number): void {
  expectClose(actual.yPre, expected.yPre, tolerance, 'y_pre');
  expectClose(actual.yPost, expected.yPost, tolerance, 'y_post');
  expectClose(actual.loss, expected.loss, tolerance, 'loss');
  expectSameState(actual.state, expected.state, tolerance);
}

export function expectSameState(actual: MemoryState, expected: MemoryState, tolerance: number): void {
  expect(actual.position).toBe(expected.position);
  expect(actual.weights.length).toBe(expected.weights.length);
  expect(actual.momentum.length).toBe(expected.momentum.length);
  // A state that saw no complete chunk may still hold shared (unexpanded) initial weights.
  const common = (a: Tensor, b: Tensor): [Tensor, Tensor] => {
    const shape = broadcastShapes('test', a.shape, b.shape);
    return [expand(a, shape), expand(b, shape)];
  };
  actual.weights.forEach((w, l) => expectClose(...common(w, expected.weights[l]!), tolerance, `weights[${l}]`));
  actual.momentum.forEach((s, l) => expectClose(...common(s, expected.momentum[l]!), tolerance, `momentum[${l}]`));
  expect(Boolean(actual.pending)).toBe(Boolean(expected.pending));
  if (actual.pending && expected.pending) expectClose(actual.pending.k, expected.pending.k, 0, 'pending.k');
}

/** Runs the loop and the parallel form from the same initial state and compares them (inside a tidy scope). */
export function expectLoopEqualsParallel(memoryRule: MemoryRule, inputs: MemoryInputs, weights: Tensor[], tolerance: number): void {
  tidy(() => {
    const state = initialState(weights, memoryRule);
    expectSameRun(scanParallel(memoryRule, inputs, state), scanLoop(memoryRule, inputs, state), tolerance);
  });
}

/**
 * Outer-loop gradients by autograd (valueAndGrad) against central finite differences of
 * the same scalar objective, in float64, for the named inputs. Returns the worst error
 * relative to the largest gradient entry of each input.
 */
export function finiteDifferenceError(
  objective: (values: Record<string, Tensor>) => Tensor, values: Record<string, Tensor>, names: readonly string[],
  options: { eps?: number; elementsPerInput?: number } = {},
): Record<string, number> {
  const eps = options.eps ?? 1e-6;
  const perInput = options.elementsPerInput ?? 6;
  const analytic = tidy(() => {
    const [, grads] = valueAndGrad(objective)(values);
    return Object.fromEntries(names.map((n) => [n, Float64Array.from(grads[n]!.dataSync())]));
  });
  const errors: Record<string, number> = {};
  for (const name of names) {
    const base = values[name]!;
    const data = Float64Array.from(base.dataSync());
    const at = (moved: Float64Array): number => tidy(() => noGrad(() =>
      objective({ ...values, [name]: tensor(moved, base.shape, { dtype: 'float64' }) }).item()));
    let diff = 0;
    let scale = 1e-12;
    // A spread of elements per input (all of them for small inputs) keeps the check fast.
    const step = Math.max(1, Math.floor(data.length / perInput));
    for (let i = step >> 1; i < data.length; i += step) {
      const original = data[i]!;
      data[i] = original + eps;
      const plus = at(data);
      data[i] = original - eps;
      const minus = at(data);
      data[i] = original;
      const numeric = (plus - minus) / (2 * eps);
      diff = Math.max(diff, Math.abs(numeric - analytic[name]![i]!));
      scale = Math.max(scale, Math.abs(numeric));
    }
    errors[name] = diff / scale;
  }
  return errors;
}

/** sum(y_pre * r_pre) + sum(y_post * r_post) with fixed random r: the golden files' objective. */
export function outerObjective(outputs: { yPre: Tensor; yPost: Tensor }, seed = 9): Tensor {
  const rng = new Rng(seed);
  const rPre = rng.normal(outputs.yPre.shape, 0, 1, { dtype: outputs.yPre.dtype });
  const rPost = rng.normal(outputs.yPost.shape, 0, 1, { dtype: outputs.yPost.dtype });
  return add(sum(mul(outputs.yPre, rPre)), sum(mul(outputs.yPost, rPost)));
}

export function expectFiniteDifferences(errors: Record<string, number>, tolerance = 1e-6): void {
  for (const [name, error] of Object.entries(errors)) {
    expect(error, `d objective / d ${name}: autograd vs central differences, relative error ${error.toExponential(3)}`).toBeLessThanOrEqual(tolerance);
  }
}

/** Outer-loop finite-difference check of a rule on a small problem (6 tokens, chunk 4: one full chunk and a pending one). */
export function checkOuterGradients(memoryRule: MemoryRule, options: { huberDelta?: boolean; rateLayers?: number; path?: 'parallel' | 'loop'; dim?: number } = {}): void {
  const d = options.dim ?? 3;
  const inputs = randomInputs({ lead: [1], tokens: 6, dim: d, seed: 4, huberDelta: options.huberDelta, rateLayers: options.rateLayers });
  const weights = randomWeights(memoryRule.architecture, d, { heads: 1, seed: 6 });
  const values: Record<string, Tensor> = {
    k: inputs.k, v: inputs.v, q: inputs.q, theta: inputs.theta, eta: inputs.eta, alpha: inputs.alpha,
    ...Object.fromEntries(weights.map((w, l) => [`P0.W${l + 1}`, w])),
    ...(inputs.delta ? { delta: inputs.delta } : {}),
    ...Object.fromEntries((inputs.layerLearningRates ?? []).map((r, l) => [`rate${l + 1}`, r])),
  };
  const scan = options.path === 'loop' ? scanLoop : scanParallel;
  const objective = (x: Record<string, Tensor>): Tensor => {
    const layers = weights.map((_, l) => x[`P0.W${l + 1}`]!);
    const rates = inputs.layerLearningRates ? layers.map((_, l) => x[`rate${l + 1}`]!) : undefined;
    const out = scan(memoryRule, {
      k: x.k!, v: x.v!, q: x.q!, theta: x.theta!, eta: x.eta!, alpha: x.alpha!,
      ...(x.delta ? { delta: x.delta } : {}), ...(rates ? { layerLearningRates: rates } : {}),
    }, initialState(layers, memoryRule));
    return outerObjective(out);
  };
  // Keys and queries move off the unit sphere under the differences: fine, the memory takes any vectors.
  const names = Object.keys(values);
  tidy(() => expectFiniteDifferences(finiteDifferenceError(objective, values, names, { elementsPerInput: options.path === 'loop' ? 2 : 6 })));
}

/** The largest |a[i] - b[i]| (the lengths must agree). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Every output of a run and its carried state, in a fixed order. */
export const runParts = (o: MemoryOutputs): Tensor[] => [o.yPre, o.yPost, o.loss, ...o.state.weights, ...o.state.momentum];

/** The fused float32 run is no further from a float64 chunked reference than twice the
 * composite float32 run's error (plus 1e-6), output by output. */
export function expectFusedNoWorse(memoryRule: MemoryRule, inputs: MemoryInputs, weights: Tensor[], fused: MemoryOutputs, composite: MemoryOutputs): void {
  const wide = (x: Tensor): Tensor => cast(x, 'float64');
  const reference = scanChunked(memoryRule, {
    k: wide(inputs.k), v: wide(inputs.v), q: wide(inputs.q), theta: wide(inputs.theta), eta: wide(inputs.eta), alpha: wide(inputs.alpha),
  }, initialState(weights.map(wide), memoryRule));
  runParts(reference).forEach((r, i) => {
    const fusedError = relError(wide(runParts(fused)[i]!), r);
    const compositeError = relError(wide(runParts(composite)[i]!), r);
    expect(fusedError, `output ${i}: fused float32 error ${fusedError.toExponential(2)}, composite ${compositeError.toExponential(2)}`)
      .toBeLessThanOrEqual(2 * compositeError + 1e-6);
  });
}

/** Gradients of the outer loss sum(0.7 yPre) + sum(yPost^2) of `forward` at `x`, keyed `grad.<input>`. */
export function outerGrads(forward: (x: Record<string, Tensor>) => { yPre: Tensor; yPost: Tensor }, x: Record<string, Tensor>): Record<string, Tensor> {
  const [, grads] = valueAndGrad((v: Record<string, Tensor>) => {
    const o = forward(v);
    return add(sum(mul(o.yPre, 0.7)), sum(mul(o.yPost, o.yPost)));
  })(x);
  return Object.fromEntries(Object.entries(grads).map(([name, g]) => [`grad.${name}`, g]));
}

// The fused memory kernel's tests (fused, fused-clamp): the same memories, the same check of the
// kernel against the composite chunked form it replaces.

/** The memory networks the fused-kernel tests run: linear, and MLPs of `hidden` units. */
export const FUSED_KINDS: Record<string, (hidden: number) => MemoryArchitecture> = {
  linear: () => linearArchitecture(),
  mlp2: (hidden) => ({ depth: 2, hidden, activation: 'silu', residual: false, norm: false }),
  'mlp2 residual LayerNorm': (hidden) => ({ depth: 2, hidden, activation: 'silu', residual: true, norm: true }),
  'mlp3 gelu residual': (hidden) => ({ depth: 3, hidden, activation: 'gelu', residual: true, norm: false }),
};

/**
 * Counts the CPU backend's memoryScan calls while `fn` runs, with the surprise clamp and the
 * yPre flag (undefined: y_pre wanted) each was given.
 */
export function countFused<T>(fn: () => T): { result: T; calls: number; clamps: number[]; flags: (boolean | undefined)[] } {
  const original = cpuBackend.memoryScan.bind(cpuBackend);
  let calls = 0;
  const clamps: number[] = [];
  const flags: (boolean | undefined)[] = [];
  cpuBackend.memoryScan = (inputs, dims) => {
    calls++;
    clamps.push(dims.maxSurpriseNorm ?? 0);
    flags.push(dims.yPre);
    return original(inputs, dims);
  };
  try {
    return { result: fn(), calls, clamps, flags };
  } finally {
    cpuBackend.memoryScan = original;
  }
}

/** Every output and the final state, weighted by fixed random tensors and summed: one scalar that depends on all of a run. */
export function weightedRunSum(out: MemoryOutputs, seed: number): Tensor {
  const rng = new Rng(seed);
  return runParts(out).map((x) => sum(mul(x, rng.normal(x.shape, 0, 1, { dtype: x.dtype })))).reduce((a, b) => add(a, b));
}

/** Both paths from the same state; the fused one must really run the kernel, once, with the rule's clamp. */
export function fusedAndComposite(memoryRule: MemoryRule, inputs: MemoryInputs, state: MemoryState): { fused: MemoryOutputs; composite: MemoryOutputs } {
  const { result: fused, calls, clamps } = countFused(() => scanParallel(memoryRule, inputs, state));
  expect(calls, 'the fused kernel ran').toBe(1);
  expect(clamps).toEqual([memoryRule.maxSurpriseNorm]);
  return { fused, composite: scanChunked(memoryRule, inputs, state) };
}

/**
 * The fused kernel's run from `weights` equals the composite form's: to round-off in float64
 * (1e-12, 1e-10 for memories deeper than 2 layers); in float32 (both round every step, in
 * different orders) within 1e-3, and each is measured against the float64 run of the same
 * inputs: the fused one must be as close as the composite.
 */
export function expectFusedMatchesComposite(memoryRule: MemoryRule, inputs: MemoryInputs, weights: Tensor[]): void {
  const { fused, composite } = fusedAndComposite(memoryRule, inputs, initialState(weights, memoryRule));
  if (inputs.k.dtype === 'float64') {
    expectSameRun(fused, composite, memoryRule.architecture.depth > 2 ? 1e-10 : 1e-12);
    return;
  }
  expectSameRun(fused, composite, 1e-3);
  expectFusedNoWorse(memoryRule, inputs, weights, fused, composite);
}
