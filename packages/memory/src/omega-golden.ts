// Conformance against the golden files of the Omega-rule memory (`omega-memory/v1`, the
// format of `neural-memory/v1` plus the window, the feature map and the optimizer): runs a
// case through the production (parallel) path or the loop, on any backend, and reports the
// relative error of every output and outer-loop gradient.
import type { Tensor } from '@titans/tensor';
import { architectureFromKind } from './config.js';
import {
  compareWithGolden, parseGoldenCase, verifyGoldenCase, type GoldenCase, type GoldenExpectations, type GoldenReport, type GoldenRun, type VerifyOptions,
} from './golden.js';
import { checkSharedGoldenFields, goldenTensor, goldenWeightNames, startGoldenCheck } from './golden-shared.js';
import {
  omegaFeatureDim, omegaInitialState, omegaLoop, omegaParallel, type OmegaInputs, type OmegaRule,
} from './omega.js';

type Matrix = number[][];

export interface OmegaGoldenCase extends GoldenExpectations {
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
  outer?: { objective: string; r_pre: Matrix; r_post: Matrix; grads: Record<string, Matrix | number[]> };
}

/** Validates the parsed JSON of an omega-memory golden file, naming the file and the field at fault. */
export function parseOmegaGoldenCase(json: unknown, file = 'omega golden case'): OmegaGoldenCase {
  const { c, check } = startGoldenCheck<OmegaGoldenCase>(json, file, 'omega-memory/v1');
  const { fail, vector, matrix } = check;
  if (c.memory !== 'linear' && c.memory !== 'mlp2') fail(`unknown memory kind ${JSON.stringify(c.memory)} (expected "linear" or "mlp2")`);
  if (c.activation !== 'silu') fail(`unknown activation ${JSON.stringify(c.activation)}`);
  const feature = c.feature;
  const optimizer = c.optimizer;
  check.integers(c, ['dim', 'tokens', 'chunk', 'window']);
  if (!feature || (feature.kind !== 'identity' && !(feature.kind === 'poly' && Number.isInteger(feature.degree) && feature.degree >= 1))) {
    fail(`field 'feature' must be {"kind": "identity"} or {"kind": "poly", "degree": p >= 1}, got ${JSON.stringify(feature)}`);
  }
  if (!optimizer || (optimizer.kind !== 'momentum' && !(optimizer.kind === 'muon' && Number.isInteger(optimizer.ns_steps) && optimizer.ns_steps >= 0))) {
    fail(`field 'optimizer' must be {"kind": "momentum"} or {"kind": "muon", "ns_steps": k >= 0}, got ${JSON.stringify(optimizer)}`);
  }
  const window = c.window!;
  checkSharedGoldenFields(
    c, check, (dim) => omegaFeatureDim(feature!, dim),
    (inputs, tokens) => {
      matrix(inputs.gamma, tokens, window, 'inputs.gamma');
      if (feature!.kind === 'poly') vector(inputs.coef, feature!.degree + 1, 'inputs.coef');
      if (optimizer!.kind === 'muon') vector(inputs.lr, tokens, 'inputs.lr');
    },
    (tokens) => ({
      gamma: [tokens, window],
      ...(feature!.kind === 'poly' ? { coef: feature!.degree + 1 } : {}),
      ...(optimizer!.kind === 'muon' ? { lr: tokens } : {}),
    }),
  );
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

/** The options of `verifyOmegaGoldenCase`: those of `verifyGoldenCase`. */
export type OmegaVerifyOptions = VerifyOptions;

/** Runs one omega golden case and compares everything it carries (tolerances 1e-4 / 1e-3 by default, as the spec says). */
export async function verifyOmegaGoldenCase(c: OmegaGoldenCase, options: OmegaVerifyOptions = {}): Promise<GoldenReport> {
  const rule = omegaGoldenRule(c);
  const names = goldenWeightNames(c);
  const t = (m: Matrix | number[]): Tensor => goldenTensor(m, options);
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
