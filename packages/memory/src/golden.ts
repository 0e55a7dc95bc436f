// Conformance against the golden files of shared/golden/neural-memory: runs a case through
// the production (parallel) path on any backend and reports the relative error of every
// output and outer-loop gradient.
import { add, mul, sum, tensor, tidy, valueAndGrad, type Backend, type DType, type Tensor } from '@titans/tensor';
import { architectureFromKind, type MemoryRule } from './config.js';
import { initialState, scanLoop, scanParallel, type MemoryInputs } from './scan.js';

type Matrix = number[][];

export interface GoldenCase {
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
  outputs: {
    y_pre: Matrix; y_post: Matrix; loss: number[];
    final_params: Record<string, Matrix>; final_momentum: Record<string, Matrix>;
  };
  outer?: { objective: string; r_pre: Matrix; r_post: Matrix; grads: Record<string, Matrix | number[]> };
}

/** Validates the parsed JSON of a golden file, naming the file and the field at fault. */
export function parseGoldenCase(json: unknown, file = 'golden case'): GoldenCase {
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const c = json as Partial<GoldenCase>;
  if (c.spec !== 'neural-memory/v1') fail(`unsupported spec ${JSON.stringify(c.spec)} (expected "neural-memory/v1")`);
  if (!['linear', 'mlp2', 'mlp2_residual', 'mlp2_residual_ln'].includes(c.memory as string)) fail(`unknown memory kind ${JSON.stringify(c.memory)}`);
  if (c.activation !== 'silu' && c.activation !== 'gelu') fail(`unknown activation ${JSON.stringify(c.activation)}`);
  for (const key of ['dim', 'tokens', 'chunk'] as const) if (!Number.isInteger(c[key]) || c[key]! < 1) fail(`field '${key}' must be a positive integer`);
  const { dim, tokens } = c as GoldenCase;
  const linear = c.memory === 'linear';
  if (!linear && (!Number.isInteger(c.hidden) || c.hidden! < 1)) fail(`field 'hidden' must be a positive integer for an MLP memory`);
  const hidden = c.hidden ?? 0;
  const isNumbers = (x: unknown, n: number): boolean => Array.isArray(x) && x.length === n && x.every((v) => typeof v === 'number' && Number.isFinite(v));
  const vector = (x: unknown, n: number, name: string): void => {
    if (!isNumbers(x, n)) fail(`${name} must be ${n} finite numbers`);
  };
  const matrix = (x: unknown, rows: number, cols: number, name: string): void => {
    if (!Array.isArray(x) || x.length !== rows || !x.every((row) => isNumbers(row, cols))) fail(`${name} must be a ${rows} x ${cols} matrix of finite numbers`);
  };
  const shapes: Record<string, [number, number]> = linear ? { W: [dim, dim] } : { W1: [hidden, dim], W2: [dim, hidden] };
  const params = (x: unknown, name: string): void => {
    if (typeof x !== 'object' || x === null) fail(`missing ${name}`);
    for (const [w, [rows, cols]] of Object.entries(shapes)) matrix((x as Record<string, unknown>)[w], rows, cols, `${name}.${w}`);
  };
  if (typeof c.inputs !== 'object' || c.inputs === null) fail('missing inputs');
  for (const key of ['k', 'v', 'q'] as const) matrix(c.inputs![key], tokens, dim, `inputs.${key}`);
  for (const key of ['theta', 'eta', 'alpha'] as const) vector(c.inputs![key], tokens, `inputs.${key}`);
  params(c.init, 'init');
  if (typeof c.outputs !== 'object' || c.outputs === null) fail('missing outputs');
  matrix(c.outputs!.y_pre, tokens, dim, 'outputs.y_pre');
  matrix(c.outputs!.y_post, tokens, dim, 'outputs.y_post');
  vector(c.outputs!.loss, tokens, 'outputs.loss');
  params(c.outputs!.final_params, 'outputs.final_params');
  params(c.outputs!.final_momentum, 'outputs.final_momentum');
  if (c.outer !== undefined) {
    matrix(c.outer.r_pre, tokens, dim, 'outer.r_pre');
    matrix(c.outer.r_post, tokens, dim, 'outer.r_post');
    if (typeof c.outer.grads !== 'object' || c.outer.grads === null) fail('missing outer.grads');
    const expected: Record<string, [number, number] | number> = {
      k: [tokens, dim], v: [tokens, dim], q: [tokens, dim], theta: tokens, eta: tokens, alpha: tokens,
      ...Object.fromEntries(Object.entries(shapes).map(([w, shape]) => [`P0.${w}`, shape])),
    };
    for (const [name, value] of Object.entries(c.outer.grads)) {
      const shape = expected[name];
      if (shape === undefined) fail(`unknown gradient outer.grads.${name}`);
      if (typeof shape === 'number') vector(value, shape, `outer.grads.${name}`);
      else matrix(value, shape![0], shape![1], `outer.grads.${name}`);
    }
  }
  return c as GoldenCase;
}

export function goldenRule(c: GoldenCase): MemoryRule {
  return {
    architecture: architectureFromKind(c.memory, c.hidden ?? 0, c.activation),
    bias: { kind: 'l2' }, retention: { kind: 'l2' }, chunkSize: c.chunk,
    momentum: true, forgetting: true, maxSurpriseNorm: 0,
  };
}

function weightNames(c: GoldenCase): string[] {
  return c.memory === 'linear' ? ['W'] : ['W1', 'W2'];
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
  const dtype = options.dtype ?? 'float32';
  const opts = { dtype, ...(options.backend ? { backend: options.backend } : {}) };
  const rule = goldenRule(c);
  const names = weightNames(c);
  const t = (m: Matrix | number[]): Tensor => tensor(m.flat(), [m.length, ...(Array.isArray(m[0]) ? [(m[0] as number[]).length] : [])], opts);
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

/** What a golden case expects, in both specs (neural-memory/v1 and omega-memory/v1). */
export interface GoldenExpectations {
  outputs: {
    y_pre: Matrix; y_post: Matrix; loss: number[];
    final_params: Record<string, Matrix>; final_momentum: Record<string, Matrix>;
  };
  outer?: { r_pre: Matrix; r_post: Matrix; grads: Record<string, Matrix | number[]> };
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
