// Conformance against the golden files of neural-memory/v1 (packages/memory/golden): runs a case through
// the production (parallel) path on any backend and reports the relative error of every
// output and outer-loop gradient.
import { add, mul, sum, tidy, valueAndGrad, type Backend, type DType, type Tensor } from '@titans/tensor';
import { architectureFromKind, type MemoryRule } from './config.js';
import { checkSharedGoldenFields, goldenTensor, goldenWeightNames, startGoldenCheck } from './golden-shared.js';
import { initialState, scanLoop, scanParallel, type MemoryInputs } from './scan.js';

type Matrix = number[][];

/** What a golden case expects, in both specs (neural-memory/v1 and omega-memory/v1). */
export interface GoldenExpectations {
  outputs: {
    y_pre: Matrix; y_post: Matrix; loss: number[];
    final_params: Record<string, Matrix>; final_momentum: Record<string, Matrix>;
  };
  outer?: { r_pre: Matrix; r_post: Matrix; grads: Record<string, Matrix | number[]> };
}

export interface GoldenCase extends GoldenExpectations {
  spec: 'neural-memory/v1';
  memory: 'linear' | 'mlp2' | 'mlp2_residual' | 'mlp2_residual_ln';
  activation: 'silu' | 'gelu';
  dim: number;
  hidden: number | null;
  tokens: number;
  chunk: number;
  seed: number;
  inputs: { k: Matrix; v: Matrix; q: Matrix; theta: number[]; eta: number[]; alpha: number[] };
  init: Record<string, Matrix>;
  outer?: { objective: string; r_pre: Matrix; r_post: Matrix; grads: Record<string, Matrix | number[]> };
}

/** Validates the parsed JSON of a golden file, naming the file and the field at fault. */
export function parseGoldenCase(json: unknown, file = 'golden case'): GoldenCase {
  const { c, check } = startGoldenCheck<GoldenCase>(json, file, 'neural-memory/v1');
  if (!['linear', 'mlp2', 'mlp2_residual', 'mlp2_residual_ln'].includes(c.memory as string)) check.fail(`unknown memory kind ${JSON.stringify(c.memory)}`);
  if (c.activation !== 'silu' && c.activation !== 'gelu') check.fail(`unknown activation ${JSON.stringify(c.activation)}`);
  check.integers(c, ['dim', 'tokens', 'chunk']);
  checkSharedGoldenFields(c, check, (dim) => dim, () => {}, () => ({}));
  return c as GoldenCase;
}

export function goldenRule(c: GoldenCase): MemoryRule {
  return {
    architecture: architectureFromKind(c.memory, c.hidden ?? 0, c.activation),
    bias: { kind: 'l2' }, retention: { kind: 'l2' }, chunkSize: c.chunk,
    momentum: true, forgetting: true, maxSurpriseNorm: 0,
  };
}

/** max |a - b| / max |b|: the spec's relative error. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

export interface GoldenReport {
  /** Relative error of each compared array, by name (outputs and 'grad.<name>'). */
  errors: Record<string, number>;
  passed: boolean;
  outputTolerance: number;
  gradTolerance: number;
}

export interface VerifyOptions {
  backend?: Backend;
  dtype?: DType;
  /** 'parallel' (default, the production path) or 'loop' (the reference). */
  path?: 'parallel' | 'loop';
  outputTolerance?: number;
  gradTolerance?: number;
}

/** Runs one golden case and compares everything it carries. */
export async function verifyGoldenCase(c: GoldenCase, options: VerifyOptions = {}): Promise<GoldenReport> {
  const rule = goldenRule(c);
  const names = goldenWeightNames(c);
  const t = (m: Matrix | number[]): Tensor => goldenTensor(m, options);
  const run: GoldenRun = (x) => {
    const inputs: MemoryInputs = { k: x.k!, v: x.v!, q: x.q!, theta: x.theta!, eta: x.eta!, alpha: x.alpha! };
    const state = initialState(names.map((n) => x[`P0.${n}`]!));
    const out = (options.path ?? 'parallel') === 'loop' ? scanLoop(rule, inputs, state) : scanParallel(rule, inputs, state);
    return { yPre: out.yPre, yPost: out.yPost, loss: out.loss, weights: out.state.weights, momentum: out.state.momentum };
  };
  const values: Record<string, Tensor> = {
    k: t(c.inputs.k), v: t(c.inputs.v), q: t(c.inputs.q),
    theta: t(c.inputs.theta), eta: t(c.inputs.eta), alpha: t(c.inputs.alpha),
    ...Object.fromEntries(names.map((n) => [`P0.${n}`, t(c.init[n]!)])),
  };
  return compareWithGolden(c, names, values, run, t, options);
}

/** One run of a memory over a golden case's inputs (keyed as the case names them). */
export type GoldenRun = (x: Record<string, Tensor>) => {
  yPre: Tensor; yPost: Tensor; loss: Tensor; weights: readonly Tensor[]; momentum: readonly Tensor[];
};

/**
 * Runs `run` over `values`, takes the outer-loop gradients when the case carries them, and
 * compares every array with the case (relative error); disposes `values` and the results.
 */
export async function compareWithGolden(
  c: GoldenExpectations, names: readonly string[], values: Record<string, Tensor>, run: GoldenRun,
  t: (m: Matrix | number[]) => Tensor, options: Pick<VerifyOptions, 'outputTolerance' | 'gradTolerance'>,
): Promise<GoldenReport> {
  const kept = tidy(() => {
    const out = run(values);
    const result: Record<string, Tensor> = { y_pre: out.yPre, y_post: out.yPost, loss: out.loss };
    names.forEach((n, i) => {
      result[`final_params.${n}`] = out.weights[i]!;
      result[`final_momentum.${n}`] = out.momentum[i]!;
    });
    if (c.outer) {
      const rPre = t(c.outer.r_pre);
      const rPost = t(c.outer.r_post);
      const [, grads] = valueAndGrad((x: Record<string, Tensor>) => {
        const o = run(x);
        return add(sum(mul(o.yPre, rPre)), sum(mul(o.yPost, rPost)));
      })(values);
      for (const name of Object.keys(c.outer.grads)) result[`grad.${name}`] = grads[name]!;
    }
    return result;
  });
  const expectedOf = (name: string): Matrix | number[] => {
    if (name.startsWith('grad.')) return c.outer!.grads[name.slice(5)]!;
    if (name.startsWith('final_params.')) return c.outputs.final_params[name.slice(13)]!;
    if (name.startsWith('final_momentum.')) return c.outputs.final_momentum[name.slice(15)]!;
    return c.outputs[name as 'y_pre' | 'y_post' | 'loss'];
  };
  const errors: Record<string, number> = {};
  await Promise.all(Object.entries(kept).map(async ([name, value]) => {
    errors[name] = relativeError(await value.data(), (expectedOf(name) as number[][]).flat());
  }));
  for (const v of Object.values(kept)) v.dispose();
  for (const v of Object.values(values)) v.dispose();
  const outputTolerance = options.outputTolerance ?? 1e-4;
  const gradTolerance = options.gradTolerance ?? 1e-3;
  const passed = Object.entries(errors).every(([name, e]) => e <= (name.startsWith('grad.') ? gradTolerance : outputTolerance));
  return { errors, passed, outputTolerance, gradTolerance };
}
