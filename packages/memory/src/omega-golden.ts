// Conformance against the golden files of the Omega-rule memory (`omega-memory/v1`, the
// format of `neural-memory/v1` plus the window, the feature map and the optimizer): runs a
// case through the production (parallel) path or the loop, on any backend, and reports the
// relative error of every output and outer-loop gradient.
import { tensor, type Backend, type DType, type Tensor } from '@titans/tensor';
import { architectureFromKind } from './config.js';
import { compareWithGolden, parseGoldenCase, verifyGoldenCase, type GoldenCase, type GoldenReport, type GoldenRun } from './golden.js';
import {
  omegaFeatureDim, omegaInitialState, omegaLoop, omegaParallel, type OmegaInputs, type OmegaRule,
} from './omega.js';

type Matrix = number[][];

export interface OmegaGoldenCase {
  spec: 'omega-memory/v1';
  memory: 'linear' | 'mlp2';
  activation: 'silu';
  dim: number;
  hidden: number | null;
  tokens: number;
  chunk: number;
  window: number;
  feature: { kind: 'identity' } | { kind: 'poly'; degree: number };
  optimizer: { kind: 'momentum' } | { kind: 'muon'; ns_steps: number };
  seed: number;
  inputs: {
    k: Matrix; v: Matrix; q: Matrix; theta: number[]; eta: number[]; alpha: number[]; gamma: Matrix; coef?: number[]; lr?: number[];
  };
  init: Record<string, Matrix>;
  outputs: {
    y_pre: Matrix; y_post: Matrix; loss: number[];
    final_params: Record<string, Matrix>; final_momentum: Record<string, Matrix>;
  };
  outer?: { objective: string; r_pre: Matrix; r_post: Matrix; grads: Record<string, Matrix | number[]> };
}

/** Validates the parsed JSON of an omega-memory golden file, naming the file and the field at fault. */
export function parseOmegaGoldenCase(json: unknown, file = 'omega golden case'): OmegaGoldenCase {
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const c = json as Partial<OmegaGoldenCase>;
  if (c.spec !== 'omega-memory/v1') fail(`unsupported spec ${JSON.stringify(c.spec)} (expected "omega-memory/v1")`);
  if (c.memory !== 'linear' && c.memory !== 'mlp2') fail(`unknown memory kind ${JSON.stringify(c.memory)} (expected "linear" or "mlp2")`);
  if (c.activation !== 'silu') fail(`unknown activation ${JSON.stringify(c.activation)}`);
  for (const key of ['dim', 'tokens', 'chunk', 'window'] as const) if (!Number.isInteger(c[key]) || c[key]! < 1) fail(`field '${key}' must be a positive integer`);
  const feature = c.feature;
  if (!feature || (feature.kind !== 'identity' && !(feature.kind === 'poly' && Number.isInteger(feature.degree) && feature.degree >= 1))) {
    fail(`field 'feature' must be {"kind": "identity"} or {"kind": "poly", "degree": p >= 1}, got ${JSON.stringify(feature)}`);
  }
  const optimizer = c.optimizer;
  if (!optimizer || (optimizer.kind !== 'momentum' && !(optimizer.kind === 'muon' && Number.isInteger(optimizer.ns_steps) && optimizer.ns_steps >= 0))) {
    fail(`field 'optimizer' must be {"kind": "momentum"} or {"kind": "muon", "ns_steps": k >= 0}, got ${JSON.stringify(optimizer)}`);
  }
  const { dim, tokens, window } = c as OmegaGoldenCase;
  const linear = c.memory === 'linear';
  if (!linear && (!Number.isInteger(c.hidden) || c.hidden! < 1)) fail(`field 'hidden' must be a positive integer for an MLP memory`);
  const hidden = c.hidden ?? 0;
  const width = omegaFeatureDim(feature!, dim);
  const isNumbers = (x: unknown, n: number): boolean => Array.isArray(x) && x.length === n && x.every((v) => typeof v === 'number' && Number.isFinite(v));
  const vector = (x: unknown, n: number, name: string): void => {
    if (!isNumbers(x, n)) fail(`${name} must be ${n} finite numbers`);
  };
  const matrix = (x: unknown, rows: number, cols: number, name: string): void => {
    if (!Array.isArray(x) || x.length !== rows || !x.every((row) => isNumbers(row, cols))) fail(`${name} must be a ${rows} x ${cols} matrix of finite numbers`);
  };
  const shapes: Record<string, [number, number]> = linear ? { W: [dim, width] } : { W1: [hidden, width], W2: [dim, hidden] };
  const params = (x: unknown, name: string): void => {
    if (typeof x !== 'object' || x === null) fail(`missing ${name}`);
    for (const [w, [rows, cols]] of Object.entries(shapes)) matrix((x as Record<string, unknown>)[w], rows, cols, `${name}.${w}`);
  };
  const inputs = c.inputs;
  if (typeof inputs !== 'object' || inputs === null) fail('missing inputs');
  for (const key of ['k', 'v', 'q'] as const) matrix(inputs![key], tokens, dim, `inputs.${key}`);
  for (const key of ['theta', 'eta', 'alpha'] as const) vector(inputs![key], tokens, `inputs.${key}`);
  matrix(inputs!.gamma, tokens, window, 'inputs.gamma');
  if (feature!.kind === 'poly') vector(inputs!.coef, feature!.degree + 1, 'inputs.coef');
  if (optimizer!.kind === 'muon') vector(inputs!.lr, tokens, 'inputs.lr');
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
      k: [tokens, dim], v: [tokens, dim], q: [tokens, dim], theta: tokens, eta: tokens, alpha: tokens, gamma: [tokens, window],
      ...(feature!.kind === 'poly' ? { coef: feature!.degree + 1 } : {}),
      ...(optimizer!.kind === 'muon' ? { lr: tokens } : {}),
      ...Object.fromEntries(Object.entries(shapes).map(([w, shape]) => [`P0.${w}`, shape])),
    };
    for (const [name, value] of Object.entries(c.outer.grads)) {
      const shape = expected[name];
      if (shape === undefined) fail(`unknown gradient outer.grads.${name}`);
      if (typeof shape === 'number') vector(value, shape, `outer.grads.${name}`);
      else matrix(value, shape![0], shape![1], `outer.grads.${name}`);
    }
  }
  return c as OmegaGoldenCase;
}

/** The rule a golden case was produced with. */
export function omegaGoldenRule(c: OmegaGoldenCase): OmegaRule {
  return {
    architecture: architectureFromKind(c.memory, c.hidden ?? 0, c.activation),
    chunkSize: c.chunk,
    window: c.window,
    feature: c.feature.kind === 'poly' ? { kind: 'poly', degree: c.feature.degree } : { kind: 'identity' },
    optimizer: c.optimizer.kind === 'muon' ? { kind: 'muon', nsSteps: c.optimizer.ns_steps } : { kind: 'momentum' },
    momentum: true,
    forgetting: true,
  };
}

export interface OmegaVerifyOptions {
  backend?: Backend;
  dtype?: DType;
  /** 'parallel' (default, the production path) or 'loop' (the reference). */
  path?: 'parallel' | 'loop';
  outputTolerance?: number;
  gradTolerance?: number;
}

/** Runs one omega golden case and compares everything it carries (tolerances 1e-4 / 1e-3 by default, as the spec says). */
export async function verifyOmegaGoldenCase(c: OmegaGoldenCase, options: OmegaVerifyOptions = {}): Promise<GoldenReport> {
  const dtype = options.dtype ?? 'float32';
  const opts = { dtype, ...(options.backend ? { backend: options.backend } : {}) };
  const rule = omegaGoldenRule(c);
  const names = c.memory === 'linear' ? ['W'] : ['W1', 'W2'];
  const t = (m: Matrix | number[]): Tensor => tensor(m.flat(), [m.length, ...(Array.isArray(m[0]) ? [(m[0] as number[]).length] : [])], opts);
  const run: GoldenRun = (x) => {
    const inputs: OmegaInputs = {
      k: x.k!, v: x.v!, q: x.q!, theta: x.theta!, eta: x.eta!, alpha: x.alpha!, gamma: x.gamma!,
      ...(x.coef ? { coef: x.coef } : {}), ...(x.lr ? { lr: x.lr } : {}),
    };
    const state = omegaInitialState(names.map((n) => x[`P0.${n}`]!));
    const out = (options.path ?? 'parallel') === 'loop' ? omegaLoop(rule, inputs, state) : omegaParallel(rule, inputs, state);
    return { yPre: out.yPre, yPost: out.yPost, loss: out.loss, weights: out.state.weights, momentum: out.state.momentum };
  };
  const values: Record<string, Tensor> = {
    k: t(c.inputs.k), v: t(c.inputs.v), q: t(c.inputs.q),
    theta: t(c.inputs.theta), eta: t(c.inputs.eta), alpha: t(c.inputs.alpha), gamma: t(c.inputs.gamma),
    ...(c.inputs.coef && c.feature.kind === 'poly' ? { coef: t(c.inputs.coef) } : {}),
    ...(c.inputs.lr && c.optimizer.kind === 'muon' ? { lr: t(c.inputs.lr) } : {}),
    ...Object.fromEntries(names.map((n) => [`P0.${n}`, t(c.init[n]!)])),
  };
  return compareWithGolden(c, names, values, run, t, options);
}

/** A golden case of either spec: `neural-memory/v1` (Titans) or `omega-memory/v1` (Atlas). */
export type AnyGoldenCase = GoldenCase | OmegaGoldenCase;

/** Parses a golden file of either spec, dispatching on its `spec` field. */
export function parseAnyGoldenCase(json: unknown, file = 'golden case'): AnyGoldenCase {
  const spec = typeof json === 'object' && json !== null ? (json as { spec?: unknown }).spec : undefined;
  if (spec === 'omega-memory/v1') return parseOmegaGoldenCase(json, file);
  if (spec === 'neural-memory/v1') return parseGoldenCase(json, file);
  throw new Error(`${file}: unsupported spec ${JSON.stringify(spec)} (expected "neural-memory/v1" or "omega-memory/v1")`);
}

/** Verifies a golden case of either spec through its production (parallel) path. */
export function verifyAnyGoldenCase(c: AnyGoldenCase, options: OmegaVerifyOptions = {}): Promise<GoldenReport> {
  return c.spec === 'omega-memory/v1' ? verifyOmegaGoldenCase(c, options) : verifyGoldenCase(c, options);
}
