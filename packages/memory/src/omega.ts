// The Omega-rule memory of the Atlas family (Behrouz et al. 2025, arXiv 2505.23735,
// Eq. 8-11 and 32-33), exactly as shared/spec/omega-memory.md states it. Three knobs on
// top of the Titans memory of scan.ts; with all three off it is that memory, bit for bit:
//
//   l_t(P)  = sum_{j < c, t-j >= 0} gamma[t, j] ||M(P; phi(k_{t-j})) - v_{t-j}||^2   Eq. 9: the Omega window
//   u_t     = grad_P l_t(P^(base(t)))                                               surprise at the chunk's start
//   u_t    <- u_t min(1, m / |u_t|)                    (maxSurpriseNorm m > 0 only)   the surprise bound
//   S^(t+1) = eta_t S^(t) - theta_t u_t                                               momentum over surprise
//   P^(t+1) = (1 - alpha_t) P^(t) + S^(t+1)                      (momentum)
//   P^(t+1) = (1 - alpha_t) P^(t) + lr_t NS_kappa(S^(t+1))        (muon, Eq. 32-33)
//   y_pre_t = M(P^(t); phi(q_t)),  y_post_t = M(P^(t+1); phi(q_t))
//
// |u_t| is the Frobenius norm of the whole window gradient over all matrices together (the
// NeuralMemory clamp of scan.ts, applied to the window's sum, not to each token's term).
// phi is the identity or the polynomial feature map of degree p (Eq. 11). Two
// implementations: `omegaLoop` (token by token, surprise by autograd: the reference) and
// `omegaParallel` (the chunked form: the window is a banded mask multiplying the chunk's
// token-to-token coefficient matrices; under Muon the momentum of every token of the chunk
// is formed and orthogonalised as one batch of matrix products).
import {
  Tensor, add, cast, concat, contiguous, div, expand, isGradEnabled, matmul, mul, narrow, noGrad, reshape, sqrt, square, stack, sub, sum, tensor,
  tidy, transpose, unsqueeze, valueAndGrad, zeros, broadcastShapes, maximum, minimum,
} from '@titans/tensor';
import type { MemoryArchitecture } from './config.js';
import { NEWTON_SCHULZ, activate, apply, biasLoss, finish, forward, newtonSchulz, surpriseClampFactor, tokenGradients } from './network.js';
import { fastOmega, omegaGramCarry, omegaLowRank } from './omega-fast.js';
import { chunkCoefficients } from './scan.js';

// ---------------------------------------------------------------- configuration

/** The feature map phi on keys and queries (Atlas Eq. 11). */
export type OmegaFeature =
  | { readonly kind: 'identity' }
  /** phi(x) = concat_{i=0..degree} a_i vec(x^(tensor i)); coefficients a_i from `OmegaInputs.coef`. */
  | { readonly kind: 'poly'; readonly degree: number };

/** The optimizer of the inner loop. */
export type OmegaOptimizer =
  | { readonly kind: 'momentum' }
  /** P <- (1 - alpha) P + lr NS_kappa(S): Newton-Schulz orthogonalised momentum (Muon), kappa = nsSteps. */
  | { readonly kind: 'muon'; readonly nsSteps: number };

export interface OmegaRule {
  readonly architecture: MemoryArchitecture;
  /** Tokens whose gradients are taken at the same (chunk-start) weights. */
  readonly chunkSize: number;
  /** The Omega window c >= 1: the memory is fitted to the last c tokens (c = 1: Titans). */
  readonly window: number;
  readonly feature: OmegaFeature;
  readonly optimizer: OmegaOptimizer;
  /** Momentum over surprise (eta); off = eta treated as 0. */
  readonly momentum: boolean;
  /** Forgetting gate (alpha); off = alpha treated as 0. */
  readonly forgetting: boolean;
  /**
   * Soft bound m on each token's window gradient before momentum (0 or absent = off, the
   * spec's rule): u_t <- u_t min(1, m / |u_t|_F), |.|_F over all matrices together, the
   * NeuralMemory clamp (MemoryRule.maxSurpriseNorm). Without it an unstable step
   * (theta_t sum_j gamma[t, j] |phi(k_(t-j))|^2 beyond the stable range, easy with a wide
   * window and polynomial features) makes the memory grow exponentially along the sequence;
   * with it the memory grows at most linearly. The rule applies it under either optimizer;
   * the models pass it for momentum only (Muon's step is already normalised, see atlas.ts).
   */
  readonly maxSurpriseNorm?: number;
}

/** Per-token inputs: leading axes [...] are batch x heads. */
export interface OmegaInputs {
  /** Keys, values, queries: [..., T, d]. */
  readonly k: Tensor;
  readonly v: Tensor;
  readonly q: Tensor;
  /** Learning rate, momentum decay, forgetting: [..., T]. */
  readonly theta: Tensor;
  readonly eta: Tensor;
  readonly alpha: Tensor;
  /** Window gates [..., T, c]: gamma[t, j] weights token t - j in token t's loss. */
  readonly gamma: Tensor;
  /** Polynomial coefficients a_0..a_p, [p + 1] or [..., p + 1] broadcastable to the leading axes (poly features only). */
  readonly coef?: Tensor;
  /** Muon step sizes lr_t [..., T] (muon only). */
  readonly lr?: Tensor;
}

/** Tokens of the unfinished chunk (gates included), kept until the chunk completes. */
export interface OmegaPending {
  readonly k: Tensor;
  readonly v: Tensor;
  readonly theta: Tensor;
  readonly eta: Tensor;
  readonly alpha: Tensor;
  readonly gamma: Tensor;
  readonly lr?: Tensor;
}

/**
 * The memory between calls: weights and momentum at the start of the current chunk, the
 * c - 1 tokens before that chunk (the window reaches back into them; zeros before the
 * stream's start), the pending tokens of the current chunk, and the absolute position.
 */
export interface OmegaState {
  readonly weights: readonly Tensor[];
  readonly momentum: readonly Tensor[];
  /** Keys and values [..., c - 1, d] of the tokens before the current chunk; null when c = 1. */
  readonly tail: { readonly k: Tensor; readonly v: Tensor } | null;
  readonly pending: OmegaPending | null;
  readonly position: number;
}

export interface OmegaOutputs {
  /** M(P^(t); phi(q_t)) [..., T, d]. */
  readonly yPre: Tensor;
  /** M(P^(t+1); phi(q_t)) [..., T, d]. */
  readonly yPost: Tensor;
  /** l_t(P^(base(t))), the window loss [..., T]. */
  readonly loss: Tensor;
  readonly state: OmegaState;
}

/** Width of phi(x) for keys of width d: d, or 1 + d + ... + d^p. */
export function omegaFeatureDim(feature: OmegaFeature, dim: number): number {
  if (feature.kind === 'identity') return dim;
  let total = 0;
  for (let i = 0, power = 1; i <= feature.degree; i++, power *= dim) total += power;
  return total;
}

/** Shapes [out, in] of the memory's weight matrices: the first takes phi(k), the last gives width d. */
export function omegaWeightShapes(rule: Pick<OmegaRule, 'architecture' | 'feature'>, dim: number): [number, number][] {
  const arch = rule.architecture;
  const input = omegaFeatureDim(rule.feature, dim);
  if (arch.depth === 1) return [[dim, input]];
  const shapes: [number, number][] = [[arch.hidden, input]];
  for (let l = 1; l < arch.depth - 1; l++) shapes.push([arch.hidden, arch.hidden]);
  shapes.push([dim, arch.hidden]);
  return shapes;
}

/** Throws a clear error for a rule no scan can run. */
export function validateOmegaRule(rule: OmegaRule): void {
  const fail = (what: string): never => {
    throw new Error(`omega rule: ${what}`);
  };
  if (!Number.isInteger(rule.chunkSize) || rule.chunkSize < 1) fail(`chunkSize must be a positive integer, got ${rule.chunkSize}`);
  if (!Number.isInteger(rule.window) || rule.window < 1) fail(`window must be a positive integer, got ${rule.window}`);
  const arch = rule.architecture;
  if (!Number.isInteger(arch.depth) || arch.depth < 1) fail(`architecture.depth must be a positive integer, got ${arch.depth}`);
  if (arch.depth > 1 && !(arch.hidden > 0)) fail(`an MLP memory needs architecture.hidden > 0, got ${arch.hidden}`);
  const bound = rule.maxSurpriseNorm ?? 0;
  if (!(bound >= 0) || !Number.isFinite(bound)) fail(`maxSurpriseNorm must be a finite number >= 0 (0 = off), got ${rule.maxSurpriseNorm}`);
  if (rule.feature.kind === 'poly') {
    if (!Number.isInteger(rule.feature.degree) || rule.feature.degree < 1) fail(`feature.degree must be a positive integer, got ${rule.feature.degree}`);
    if (arch.residual || arch.norm) fail('a residual (or residual + norm) memory needs identity features: phi(x) is wider than the output');
  } else if (rule.feature.kind !== 'identity') {
    fail(`unknown feature kind ${JSON.stringify((rule.feature as { kind: unknown }).kind)}`);
  }
  if (rule.optimizer.kind === 'muon') {
    if (!Number.isInteger(rule.optimizer.nsSteps) || rule.optimizer.nsSteps < 0) fail(`optimizer.nsSteps must be an integer >= 0, got ${rule.optimizer.nsSteps}`);
  } else if (rule.optimizer.kind !== 'momentum') {
    fail(`unknown optimizer kind ${JSON.stringify((rule.optimizer as { kind: unknown }).kind)}`);
  }
}

/**
 * A fresh state from initial weights [..., out, in]: zero momentum, no tokens before (the
 * window's tail is made, as zeros, when the first chunk completes).
 */
export function omegaInitialState(weights: readonly Tensor[]): OmegaState {
  const like = { dtype: weights[0]!.dtype, backend: weights[0]!.backend };
  return { weights, momentum: weights.map((w) => zeros(w.shape, like)), tail: null, pending: null, position: 0 };
}

// ---------------------------------------------------------------- the feature map

/**
 * phi(x) = concat_{i=0..p} a_i vec(x (x) ... (x) x), i factors, vec row-major (the first
 * factor's index slowest), so phi(x) . phi(y) = sum_i a_i^2 (x . y)^i. x [..., T, d],
 * coef [p + 1] or [..., p + 1]. Returns [..., T, 1 + d + ... + d^p].
 */
export function polynomialFeatures(x: Tensor, coef: Tensor, degree: number): Tensor {
  const d = x.shape[x.ndim - 1]!;
  const lead = x.shape.slice(0, -1);
  const a = (i: number): Tensor => unsqueeze(narrow(coef, -1, i, 1), -1); // [..., 1, 1]
  const parts: Tensor[] = [mul(expand(tensor([1], [1], { dtype: x.dtype, backend: x.backend }), [...lead, 1]), a(0))];
  let power = x;
  for (let i = 1; i <= degree; i++) {
    if (i > 1) {
      const width = power.shape[power.ndim - 1]!;
      power = reshape(mul(unsqueeze(power, -1), unsqueeze(x, -2)), [...lead, width * d]);
    }
    parts.push(mul(power, a(i)));
  }
  return concat(parts, -1);
}

/** Polynomial coefficients a_i = 1/sqrt(i!), so phi(x) . phi(y) is the Taylor polynomial of exp(x . y). */
export function expTaylorCoefficients(degree: number): number[] {
  const out: number[] = [];
  let factorial = 1;
  for (let i = 0; i <= degree; i++) {
    if (i > 0) factorial *= i;
    out.push(1 / Math.sqrt(factorial));
  }
  return out;
}

function features(rule: OmegaRule, x: Tensor, coef: Tensor | undefined): Tensor {
  if (rule.feature.kind === 'identity') return x;
  return polynomialFeatures(x, coef!, rule.feature.degree);
}

// ---------------------------------------------------------------- checks and stream plumbing

const describe = (name: string, x: Tensor): string => `${name} [${x.shape.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);
const broadcastsTo = (shape: readonly number[], target: readonly number[]): boolean => {
  try {
    return sameShape(broadcastShapes('omega', shape, target), target);
  } catch {
    return false;
  }
};

function checkInputs(rule: OmegaRule, inputs: OmegaInputs, state: OmegaState): void {
  validateOmegaRule(rule);
  const { k, v, q } = inputs;
  if (k.ndim < 2) throw new Error(`omega memory: ${describe('k', k)} must be [..., tokens, dim]`);
  const t = k.shape[k.ndim - 2]!;
  const dim = k.shape[k.ndim - 1]!;
  const lead = k.shape.slice(0, -2);
  if (q.ndim !== k.ndim || !sameShape(q.shape, k.shape)) throw new Error(`omega memory: ${describe('q', q)} must match ${describe('k', k)}`);
  if (v.ndim !== k.ndim || !sameShape(v.shape.slice(0, -1), k.shape.slice(0, -1))) throw new Error(`omega memory: ${describe('v', v)} does not match ${describe('k', k)}`);
  for (const name of ['theta', 'eta', 'alpha'] as const) {
    if (!sameShape(inputs[name].shape, [...lead, t])) throw new Error(`omega memory: gate ${describe(name, inputs[name])} must be [${[...lead, t].join(', ')}]`);
  }
  if (!sameShape(inputs.gamma.shape, [...lead, t, rule.window])) {
    throw new Error(`omega memory: window gates ${describe('gamma', inputs.gamma)} must be [${[...lead, t, rule.window].join(', ')}] (window ${rule.window})`);
  }
  if (rule.feature.kind === 'poly') {
    const coef = inputs.coef;
    if (!coef) throw new Error('omega memory: polynomial features need inputs.coef (a_0..a_p)');
    if (coef.shape[coef.ndim - 1] !== rule.feature.degree + 1 || !broadcastsTo(coef.shape.slice(0, -1), lead)) {
      throw new Error(`omega memory: ${describe('coef', coef)} must be [..., ${rule.feature.degree + 1}] with leading axes broadcastable to [${lead.join(', ')}]`);
    }
  } else if (inputs.coef) {
    throw new Error('omega memory: inputs.coef given, but the features are the identity');
  }
  if (rule.optimizer.kind === 'muon') {
    if (!inputs.lr) throw new Error('omega memory: the muon optimizer needs inputs.lr (step sizes [..., T])');
    if (!sameShape(inputs.lr.shape, [...lead, t])) throw new Error(`omega memory: ${describe('lr', inputs.lr)} must be [${[...lead, t].join(', ')}]`);
  } else if (inputs.lr) {
    throw new Error('omega memory: inputs.lr given, but the optimizer is momentum (lr is for muon)');
  }
  const expected = omegaWeightShapes(rule, dim);
  const out = expected[expected.length - 1]![0];
  if (v.shape[v.ndim - 1] !== out) throw new Error(`omega memory: ${describe('v', v)} must have the memory's output width ${out}`);
  if (state.weights.length !== expected.length) throw new Error(`omega memory: state.weights has ${state.weights.length} matrices, the memory needs ${expected.length}`);
  state.weights.forEach((w, l) => {
    const [o, i] = expected[l]!;
    if (w.ndim < 2 || w.shape[w.ndim - 2] !== o || w.shape[w.ndim - 1] !== i || !broadcastsTo(w.shape.slice(0, -2), lead)) {
      throw new Error(`omega memory: ${describe(`state.weights[${l}]`, w)} must be [..., ${o}, ${i}] with leading axes broadcastable to [${lead.join(', ')}]`);
    }
  });
  if (state.momentum.length !== expected.length) throw new Error(`omega memory: state.momentum has ${state.momentum.length} tensors, the memory has ${expected.length} matrices`);
  state.momentum.forEach((s, l) => {
    if (!sameShape(s.shape.slice(-2), state.weights[l]!.shape.slice(-2))) throw new Error(`omega memory: ${describe(`state.momentum[${l}]`, s)} does not match ${describe(`state.weights[${l}]`, state.weights[l]!)}`);
  });
  const c = rule.window;
  if (c > 1 && state.tail) {
    if (!sameShape(state.tail.k.shape, [...lead, c - 1, dim])) throw new Error(`omega memory: ${describe('state.tail.k', state.tail.k)} must be [${[...lead, c - 1, dim].join(', ')}]`);
    if (!sameShape(state.tail.v.shape, [...lead, c - 1, out])) throw new Error(`omega memory: ${describe('state.tail.v', state.tail.v)} must be [${[...lead, c - 1, out].join(', ')}]`);
  } else if (c > 1 && state.position - (state.pending ? state.pending.k.shape[state.pending.k.ndim - 2]! : 0) > 0) {
    throw new Error(`omega memory: window ${c} needs state.tail once a chunk has completed (state.position ${state.position})`);
  } else if (c === 1 && state.tail) {
    throw new Error('omega memory: state.tail is set but the window is 1');
  }
  const pend = state.pending;
  if (pend) {
    const p = pend.k.shape[pend.k.ndim - 2]!;
    if (!sameShape(pend.k.shape.slice(0, -2), lead) || pend.k.shape[pend.k.ndim - 1] !== dim) throw new Error(`omega memory: ${describe('state.pending.k', pend.k)} does not match ${describe('k', k)}`);
    if (p >= rule.chunkSize) throw new Error(`omega memory: state.pending holds ${p} tokens, not fewer than chunkSize ${rule.chunkSize}`);
    if (p > state.position) throw new Error(`omega memory: state.pending holds ${p} tokens but state.position is ${state.position}`);
  }
}

interface Stream {
  k: Tensor; v: Tensor; q: Tensor; theta: Tensor; eta: Tensor; alpha: Tensor; gamma: Tensor; lr?: Tensor;
  pendingCount: number;
}

/** The pending chunk's tokens followed by the new ones (zero queries for the pending ones), gates as the rule uses them. */
function joinPending(rule: OmegaRule, inputs: OmegaInputs, pend: OmegaPending | null): Stream {
  const p = pend ? pend.k.shape[pend.k.ndim - 2]! : 0;
  const gates = (s: { eta: Tensor; alpha: Tensor }): { eta: Tensor; alpha: Tensor } => ({
    eta: rule.momentum ? s.eta : mul(s.eta, 0),
    alpha: rule.forgetting ? s.alpha : mul(s.alpha, 0),
  });
  if (!pend || p === 0) {
    return { k: inputs.k, v: inputs.v, q: inputs.q, theta: inputs.theta, ...gates(inputs), gamma: inputs.gamma, ...(inputs.lr ? { lr: inputs.lr } : {}), pendingCount: 0 };
  }
  const q = inputs.q;
  const qPad = zeros([...q.shape.slice(0, -2), p, q.shape[q.ndim - 1]!], { dtype: q.dtype, backend: q.backend });
  const joined = {
    eta: concat([pend.eta, inputs.eta], -1),
    alpha: concat([pend.alpha, inputs.alpha], -1),
  };
  return {
    k: concat([pend.k, inputs.k], -2),
    v: concat([pend.v, inputs.v], -2),
    q: concat([qPad, q], -2),
    theta: concat([pend.theta, inputs.theta], -1),
    ...gates(joined),
    gamma: concat([pend.gamma, inputs.gamma], -2),
    ...(inputs.lr && pend.lr ? { lr: concat([pend.lr, inputs.lr], -1) } : {}),
    pendingCount: p,
  };
}

function pendingFrom(stream: Stream, from: number, count: number, raw: { eta: Tensor; alpha: Tensor }): OmegaPending | null {
  if (count === 0) return null;
  const tokens = (x: Tensor): Tensor => contiguous(narrow(x, -2, from, count));
  const gate = (x: Tensor): Tensor => contiguous(narrow(x, -1, from, count));
  return {
    k: tokens(stream.k), v: tokens(stream.v), theta: gate(stream.theta), eta: gate(raw.eta), alpha: gate(raw.alpha),
    gamma: tokens(stream.gamma), ...(stream.lr ? { lr: gate(stream.lr) } : {}),
  };
}

/** The raw (not zeroed) eta and alpha of the joined stream, so a pending chunk stores what the caller gave. */
function rawGates(inputs: OmegaInputs, pend: OmegaPending | null): { eta: Tensor; alpha: Tensor } {
  if (!pend) return { eta: inputs.eta, alpha: inputs.alpha };
  return { eta: concat([pend.eta, inputs.eta], -1), alpha: concat([pend.alpha, inputs.alpha], -1) };
}

/**
 * The tail (c - 1 tokens) followed by the stream: the window's sources, ext index = stream
 * index + c - 1. A missing tail (no chunk completed yet) is zeros (its tokens are masked out).
 */
function withTail(window: number, tail: Tensor | undefined, x: Tensor): Tensor {
  if (window === 1) return x;
  const before = tail ?? zeros([...x.shape.slice(0, -2), window - 1, x.shape[x.ndim - 1]!], { dtype: x.dtype, backend: x.backend });
  return concat([before, x], -2);
}

/** Newton-Schulz with kappa steps; kappa = 0 is the identity (no normalisation). */
function orthogonalize(x: Tensor, steps: number): Tensor {
  return steps === 0 ? x : newtonSchulz(x, steps);
}

/**
 * `newtonSchulz` for a batch of matrices [..., m, n] with fewer full-size elementwise
 * kernels: each step X <- a X + b G X + c G^2 X (G = X X^T) is formed as
 * X <- (a I + G (b I + c G)) X, the same polynomial grouped so that one step costs three
 * matrix products and three elementwise kernels (scale G, add b I, add a I) instead of
 * five full-size ones. Equal to `newtonSchulz` up to rounding (tested). kappa = 0 is the
 * identity, as in `orthogonalize`.
 */
export function newtonSchulzBatched(g: Tensor, steps: number = NEWTON_SCHULZ.steps): Tensor {
  if (steps === 0) return g;
  const { a, b, c, eps } = NEWTON_SCHULZ;
  const tall = g.shape[g.ndim - 2]! > g.shape[g.ndim - 1]!;
  let x = tall ? transpose(g) : g;
  const m = x.shape[x.ndim - 2]!;
  const like = { dtype: x.dtype, backend: x.backend };
  const diagonal = (v: number): Tensor => {
    const data = new Array<number>(m * m).fill(0);
    for (let i = 0; i < m; i++) data[i * m + i] = v;
    return tensor(data, [m, m], like);
  };
  const bI = diagonal(b);
  const aI = diagonal(a);
  x = div(x, add(sqrt(add(sum(square(x), [-2, -1], true), 1e-30)), eps));
  for (let i = 0; i < steps; i++) {
    const gram = matmul(x, transpose(x));
    x = matmul(add(matmul(gram, add(mul(gram, c), bI)), aI), x);
  }
  return tall ? transpose(x) : x;
}

// ---------------------------------------------------------------- the surprise bound

/** The rule's surprise bound m (0 = off). */
function surpriseBound(rule: OmegaRule): number {
  return rule.maxSurpriseNorm ?? 0;
}

/** u_t min(1, m / |u_t|_F) for a token's window gradient u_t (one tensor per matrix, [..., out, in]), the norm over all matrices. */
function boundSurprise(rule: OmegaRule, u: Tensor[]): Tensor[] {
  const m = surpriseBound(rule);
  if (m === 0) return u;
  const squares = u.map((g) => sum(square(g), [-2, -1], true)).reduce((s, n) => add(s, n));
  const factor = div(m, maximum(sqrt(add(squares, 1e-30)), m));
  return u.map((g) => mul(g, factor));
}

/**
 * The bound's factor min(1, m / |u_t|_F) [..., b] of every token of a chunk, with the window
 * gradients in factored form: u_t = sum_s band[t, s] g_s, g_s = delta_s (x) input_s per matrix
 * (rank one). |u_t|^2 = sum_(s, s') band[t, s] band[t, s'] K[s, s'] with the Gram matrix
 * K = sum_l (Delta_l Delta_l^T) o (X_l X_l^T) [..., E, E], so no window gradient is formed.
 */
function bandClampFactor(deltas: readonly Tensor[], inputs: readonly Tensor[], band: Tensor, m: number): Tensor {
  let gram: Tensor | null = null;
  deltas.forEach((d, l) => {
    const x = inputs[l]!;
    const term = mul(matmul(d, transpose(d)), matmul(x, transpose(x)));
    gram = gram === null ? term : add(gram, term);
  });
  const squares = sum(mul(matmul(band, gram!), band), -1); // [..., b]
  return minimum(div(m, maximum(sqrt(add(maximum(squares, 0), 1e-30)), 1e-30)), 1);
}

// ---------------------------------------------------------------- the reference loop

/**
 * The recurrence token by token, the surprise by autograd of the window loss: the readable
 * reference. Accepts and returns the same states as `omegaParallel`.
 */
export function omegaLoop(rule: OmegaRule, inputs: OmegaInputs, state: OmegaState): OmegaOutputs {
  checkInputs(rule, inputs, state);
  const stream = joinPending(rule, inputs, state.pending);
  const p = stream.pendingCount;
  const arch = rule.architecture;
  const b = rule.chunkSize;
  const c = rule.window;
  const total = stream.k.shape[stream.k.ndim - 2]!;
  const lead = stream.k.shape.slice(0, -2);
  const start = state.position - p; // absolute position of stream token 0
  if (total === 0) {
    const like = { dtype: inputs.q.dtype, backend: inputs.q.backend };
    const d = inputs.q.shape[inputs.q.ndim - 1]!;
    return { yPre: zeros([...lead, 0, d], like), yPost: zeros([...lead, 0, d], like), loss: zeros([...lead, 0], like), state };
  }
  const kExt = withTail(c, state.tail?.k, stream.k);
  const vExt = withTail(c, state.tail?.v, stream.v);
  const token = (x: Tensor, i: number): Tensor => narrow(x, -2, i, 1);
  const gate = (x: Tensor, i: number): Tensor => unsqueeze(narrow(x, -1, i, 1), -1);
  const toLead = (w: Tensor): Tensor => expand(w, [...lead, ...w.shape.slice(-2)]);
  let weights = state.weights.map(toLead);
  let momentum = state.momentum.map(toLead);
  let chunkStart = { weights, momentum, at: 0 };
  let base = weights;
  const yPre: Tensor[] = [];
  const yPost: Tensor[] = [];
  const losses: Tensor[] = [];
  for (let i = 0; i < total; i++) {
    if (i % b === 0) {
      chunkStart = { weights, momentum, at: i };
      base = weights;
    }
    // Eq. 9: the window loss of token i, over the sources i - j that exist.
    const gammaAt = (j: number): Tensor => reshape(narrow(narrow(stream.gamma, -2, i, 1), -1, j, 1), [...lead, 1]);
    const windowLoss = (w: Tensor[]): Tensor => {
      let total: Tensor | null = null;
      for (let j = 0; j < c && start + i - j >= 0; j++) {
        const src = i - j + c - 1;
        const x = features(rule, token(kExt, src), inputs.coef);
        const term = mul(biasLoss({ kind: 'l2' }, apply(arch, w, x), token(vExt, src)).loss, gammaAt(j)); // [..., 1]
        total = total === null ? term : add(total, term);
      }
      return total!;
    };
    const [, gradient] = valueAndGrad((w: Tensor[]) => sum(windowLoss(w)))(base);
    const u = boundSurprise(rule, gradient);
    const isNew = i >= p;
    const q = features(rule, token(stream.q, i), inputs.coef);
    if (isNew) {
      losses.push(windowLoss(base));
      yPre.push(apply(arch, weights, q));
    }
    const theta = gate(stream.theta, i);
    const eta = gate(stream.eta, i);
    momentum = momentum.map((s, l) => sub(mul(s, eta), mul(u[l]!, theta))); // S^(t+1) = eta S - theta u
    const decay = sub(1, gate(stream.alpha, i));
    if (rule.optimizer.kind === 'muon') {
      const steps = rule.optimizer.nsSteps;
      const lr = gate(stream.lr!, i);
      weights = weights.map((w, l) => add(mul(w, decay), mul(orthogonalize(momentum[l]!, steps), lr))); // Eq. 33
    } else {
      weights = weights.map((w, l) => add(mul(w, decay), momentum[l]!));
    }
    if (isNew) yPost.push(apply(arch, weights, q));
  }
  const newTokens = total - p;
  const d = inputs.q.shape[inputs.q.ndim - 1]!;
  const like = { dtype: inputs.q.dtype, backend: inputs.q.backend };
  const complete = Math.floor(total / b) * b;
  const done = complete === total;
  const tail = c > 1 ? { k: contiguous(narrow(kExt, -2, complete, c - 1)), v: contiguous(narrow(vExt, -2, complete, c - 1)) } : null;
  return {
    yPre: newTokens > 0 ? concat(yPre, -2) : zeros([...lead, 0, d], like),
    yPost: newTokens > 0 ? concat(yPost, -2) : zeros([...lead, 0, d], like),
    loss: newTokens > 0 ? concat(losses, -1) : zeros([...lead, 0], like),
    state: {
      weights: done ? weights : chunkStart.weights,
      momentum: done ? momentum : chunkStart.momentum,
      tail,
      pending: done ? null : pendingFrom(stream, complete, total - complete, rawGates(inputs, state.pending)),
      position: state.position + newTokens,
    },
  };
}

// ---------------------------------------------------------------- the chunked parallel form

function padTokens(x: Tensor, axis: number, extra: number): Tensor {
  if (extra === 0) return x;
  const shape = [...x.shape];
  const a = axis < 0 ? axis + x.ndim : axis;
  shape[a] = extra;
  return concat([x, zeros(shape, { dtype: x.dtype, backend: x.backend })], a);
}

/**
 * How token s's gradient enters the chunk's updates. With c = 1 the window is diagonal and
 * is folded into the rank-one factors (scaled_s = delta_s theta_s gamma_s, the Titans
 * arithmetic exactly); with c > 1 the sources are the chunk's tokens plus the c - 1 before
 * it, and theta_t u_t = sum_s A[t, s] g_s with the banded A = diag(theta) Gamma.
 */
type Mixing = { kind: 'diagonal' } | { kind: 'band'; A: Tensor };

/** Applies the mixing to token-to-token coefficients [..., r, b] (or [..., b]), giving [..., r, E] (or [..., E]). */
function mix(m: Mixing, coef: Tensor): Tensor {
  if (m.kind === 'diagonal') return coef;
  if (coef.ndim === m.A.ndim - 1) return reshape(matmul(unsqueeze(coef, -2), m.A), [...coef.shape.slice(0, -1), m.A.shape[m.A.ndim - 1]!]);
  return matmul(coef, coef.ndim > m.A.ndim ? unsqueeze(m.A, -3) : m.A);
}

/**
 * The banded window matrix Gamma [..., b, E], E = b + c - 1: Gamma[t, c - 1 + t - j] =
 * gamma[t, j], zero for sources before the stream's start (`firstValid` is the first valid
 * source index).
 */
function bandMatrix(gamma: Tensor, firstValid: number): Tensor {
  const b = gamma.shape[gamma.ndim - 2]!;
  const c = gamma.shape[gamma.ndim - 1]!;
  const e = b + c - 1;
  const like = { dtype: gamma.dtype, backend: gamma.backend };
  let out: Tensor | null = null;
  for (let j = 0; j < c; j++) {
    const mask = new Array<number>(b * e).fill(0);
    for (let t = 0; t < b; t++) if (c - 1 + t - j >= firstValid) mask[t * e + c - 1 + t - j] = 1;
    const term = mul(narrow(gamma, -1, j, 1), tensor(mask, [b, e], like)); // [..., b, 1] x [b, e]
    out = out === null ? term : add(out, term);
  }
  return out!;
}

interface ChunkSurprise {
  /** Per-source plain loss ||M(P0; phi(k_s)) - v_s||^2 [..., E]. */
  readonly sourceLoss: Tensor;
  readonly inputs: readonly Tensor[];
  /** Gradient factors per matrix [..., E, out] (scaled by theta gamma in the diagonal case). */
  readonly scaled: readonly Tensor[];
}

/**
 * Coefficients of the chunks, as the Titans form lays them out (rows for y_pre / y_post,
 * end-of-chunk entries), for gates [..., b].
 */
function coefficients(eta: Tensor, alpha: Tensor): {
  rows: { beta: Tensor; c: Tensor; H: Tensor }; all: { beta: Tensor; H: Tensor; G: Tensor; gamma: Tensor };
  end: { beta: Tensor; c: Tensor; gamma: Tensor; H: Tensor; G: Tensor };
} {
  const coef = chunkCoefficients(eta, alpha, 1);
  const b = eta.shape[eta.ndim - 1]!;
  const bothTimes = (x: Tensor): Tensor => unsqueeze(stack([narrow(x, -1, 0, b), narrow(x, -1, 1, b)], -2), -1);
  const lastTime = (x: Tensor): Tensor => unsqueeze(contiguous(narrow(x, -1, b, 1)), -1);
  const lastRow = (x: Tensor): Tensor => reshape(contiguous(narrow(x, -2, b, 1)), [...x.shape.slice(0, -2), b]);
  return {
    rows: { beta: bothTimes(coef.beta), c: bothTimes(coef.c[0]!), H: stack([narrow(coef.H, -2, 0, b), narrow(coef.H, -2, 1, b)], -3) },
    all: { beta: coef.beta, H: contiguous(coef.H), G: contiguous(coef.G[0]!), gamma: coef.gamma[0]![0]! },
    end: { beta: lastTime(coef.beta), c: lastTime(coef.c[0]!), gamma: lastTime(coef.gamma[0]![0]!), H: lastRow(coef.H), G: lastRow(coef.G[0]!) },
  };
}

/** sum_s coef_s scaled_s (x) input_s for coefficients [..., E]. */
function lowRankSum(surprise: ChunkSurprise, l: number, coef: Tensor): Tensor {
  return matmul(transpose(mul(surprise.scaled[l]!, unsqueeze(coef, -1))), surprise.inputs[l]!);
}

/**
 * The chunked parallel form. Per chunk: one batched forward/backward of the memory at the
 * chunk-start weights over the chunk's tokens and the c - 1 before them; the window as a
 * banded matrix multiplying the momentum/decay coefficient matrices; retrieval from the
 * chunk-start weights plus rank-one terms (momentum), or, under Muon, every token's
 * momentum formed as one batched product, orthogonalised by batched Newton-Schulz, and the
 * per-token weights from the decay coefficients.
 */
export function omegaParallel(rule: OmegaRule, inputs: OmegaInputs, state: OmegaState): OmegaOutputs {
  checkInputs(rule, inputs, state);
  const b = rule.chunkSize;
  const c = rule.window;
  const arch = rule.architecture;
  const stream = joinPending(rule, inputs, state.pending);
  const p = stream.pendingCount;
  const newTokens = inputs.k.shape[inputs.k.ndim - 2]!;
  const total = p + newTokens;
  const fullChunks = Math.floor(total / b);
  const remainder = total - fullChunks * b;
  const nChunks = fullChunks + (remainder > 0 ? 1 : 0);
  const padded = nChunks * b - total;
  const lead = inputs.k.shape.slice(0, -2);
  const d = inputs.q.shape[inputs.q.ndim - 1]!;
  const like = { dtype: inputs.q.dtype, backend: inputs.q.backend };
  const start = state.position - p;
  if (nChunks === 0) {
    return { yPre: zeros([...lead, 0, d], like), yPost: zeros([...lead, 0, d], like), loss: zeros([...lead, 0], like), state: { ...state, pending: null } };
  }
  const kExt = withTail(c, state.tail?.k, padTokens(stream.k, -2, padded));
  const vExt = withTail(c, state.tail?.v, padTokens(stream.v, -2, padded));
  const qS = padTokens(stream.q, -2, padded);
  const gammaS = padTokens(stream.gamma, -2, padded);
  const [thetaS, etaS, alphaS] = [stream.theta, stream.eta, stream.alpha].map((x) => padTokens(x, -1, padded)) as [Tensor, Tensor, Tensor];
  const lrS = stream.lr ? padTokens(stream.lr, -1, padded) : undefined;
  // Gate coefficients of every chunk at once: gates [..., nChunks, b].
  const perChunk = (x: Tensor): Tensor => reshape(x, [...lead, nChunks, b]);
  const coefAll = coefficients(perChunk(etaS), perChunk(alphaS));
  const decayAll = rule.optimizer.kind === 'muon' ? chunkCoefficients(zeros([...lead, nChunks, b], like), perChunk(alphaS), 1) : null;
  const pick = (x: Tensor, i: number, axis: number): Tensor => {
    const a = axis < 0 ? axis + x.ndim : axis;
    return reshape(narrow(x, a, i, 1), [...x.shape.slice(0, a), ...x.shape.slice(a + 1)]);
  };
  const chunkAxis = lead.length;
  const recording = isGradEnabled() && [inputs.k, inputs.v, inputs.q, inputs.theta, inputs.eta, inputs.alpha, inputs.gamma, inputs.coef, inputs.lr, ...state.weights, ...state.momentum]
    .some((x) => x !== undefined && x.requiresGrad);
  const scope = <T>(fn: () => T): T => (recording ? fn() : tidy(fn));

  let weights = [...state.weights];
  let momentum = [...state.momentum];
  // Fast Muon path: each layer's S^(t) S^(t)^T [..., 1, out, out] in float64 at the current chunk's start, from the chunk before (null: form it).
  let grams: Tensor[] | null = null;
  const outputs: Tensor[] = [];
  const losses: Tensor[] = [];
  for (let i = 0; i < nChunks; i++) {
    const complete = i < fullChunks;
    const step = scope(() => {
      const e = b + c - 1;
      const kc = features(rule, narrow(kExt, -2, i * b, e), inputs.coef);
      const vc = narrow(vExt, -2, i * b, e);
      const qc = features(rule, narrow(qS, -2, i * b, b), inputs.coef);
      const gammaC = narrow(gammaS, -2, i * b, b); // [..., b, c]
      const thetaC = narrow(thetaS, -1, i * b, b);
      const cache = forward(arch, weights, kc);
      const { loss: sourceLoss, dOut } = biasLoss({ kind: 'l2' }, cache.out, vc);
      const deltas = tokenGradients(arch, weights, cache, dOut);
      let mixing: Mixing;
      let surprise: ChunkSurprise;
      let loss: Tensor;
      const bound = surpriseBound(rule);
      if (c === 1) {
        const g0 = reshape(gammaC, [...lead, b]);
        mixing = { kind: 'diagonal' };
        const w = unsqueeze(mul(thetaC, g0), -1);
        // The bound's factor scales delta before theta gamma, as the Titans memory orders it
        // (with gamma = 1 the two stay equal bit for bit under the clamp too).
        const factor = bound > 0 ? unsqueeze(surpriseClampFactor(deltas.map((dl) => mul(dl, unsqueeze(g0, -1))), cache.inputs, bound), -1) : null;
        surprise = { sourceLoss, inputs: cache.inputs, scaled: deltas.map((dl) => mul(factor ? mul(dl, factor) : dl, w)) };
        loss = mul(sourceLoss, g0);
      } else {
        const firstValid = Math.max(0, c - 1 - (start + i * b)); // sources before the stream's start are left out
        const band = bandMatrix(gammaC, firstValid); // [..., b, E]
        // theta_t min(1, m / |u_t|) u_t = sum_s A[t, s] g_s: the bound folds into the rows of A.
        const rowScale = bound > 0 ? mul(thetaC, bandClampFactor(deltas, cache.inputs, band, bound)) : thetaC;
        mixing = { kind: 'band', A: mul(unsqueeze(rowScale, -1), band) };
        surprise = { sourceLoss, inputs: cache.inputs, scaled: deltas };
        loss = reshape(matmul(band, unsqueeze(sourceLoss, -1)), [...lead, b]); // l_t = sum_j gamma[t, j] l(source t - j)
      }
      if (rule.optimizer.kind === 'muon') {
        const lrC = narrow(lrS!, -1, i * b, b);
        if (muonLowRankApplies(rule, weights)) {
          return { ...muonChunkLowRank(rule, weights, momentum, surprise, mixing, qc, i, chunkAxis, coefAll, decayAll!, lrC, complete, pick, grams), loss };
        }
        return { ...muonChunk(rule, weights, momentum, surprise, mixing, qc, i, chunkAxis, coefAll, decayAll!, lrC, complete, pick), loss, grams: null };
      }
      const rows = {
        beta: pick(coefAll.rows.beta, i, chunkAxis), c: pick(coefAll.rows.c, i, chunkAxis), H: mix(mixing, pick(coefAll.rows.H, i, chunkAxis)),
      };
      const out = retrieveLowRank(arch, weights, momentum, surprise, qc, rows);
      if (!complete) return { out, loss, weights, momentum, grams: null };
      const end = coefAll.end;
      const at = (x: Tensor): Tensor => pick(x, i, chunkAxis);
      const hEnd = mix(mixing, at(end.H));
      const gEnd = mix(mixing, at(end.G));
      return {
        out,
        loss,
        weights: weights.map((w, l) => sub(add(mul(w, at(end.beta)), mul(momentum[l]!, at(end.c))), lowRankSum(surprise, l, hEnd))),
        momentum: momentum.map((s, l) => sub(mul(s, at(end.gamma)), lowRankSum(surprise, l, gEnd))),
        grams: null,
      };
    });
    outputs.push(step.out);
    losses.push(step.loss);
    weights = step.weights;
    momentum = step.momentum;
    grams = step.grams;
  }
  const join = (parts: Tensor[], axis: number): Tensor => (parts.length === 1 ? parts[0]! : concat(parts, axis));
  const all = join(outputs, -2); // [..., 2, tokens, d]
  const loss = join(losses, -1);
  const read = (which: number): Tensor => reshape(narrow(narrow(all, -3, which, 1), -2, p, newTokens), [...lead, newTokens, d]);
  const complete = fullChunks * b;
  const tail = c > 1 ? { k: contiguous(narrow(kExt, -2, complete, c - 1)), v: contiguous(narrow(vExt, -2, complete, c - 1)) } : null;
  return {
    yPre: read(0),
    yPost: read(1),
    loss: narrow(loss, -1, p, newTokens),
    state: {
      weights, momentum, tail,
      pending: pendingFrom(stream, complete, remainder, rawGates(inputs, state.pending)),
      position: state.position + newTokens,
    },
  };
}

/**
 * Retrieval through per-token weights without forming them (momentum): layer l computes
 * Z = diag(beta) X W0^T + diag(c) X S0^T - (H' o (X A^T)) Delta, H' = H (diagonal window)
 * or H Gamma_theta (banded), for y_pre and y_post at once. Returns [..., 2, b, d].
 */
function retrieveLowRank(
  arch: MemoryArchitecture, weights: readonly Tensor[], momentum: readonly Tensor[], surprise: ChunkSurprise, q: Tensor,
  rows: { beta: Tensor; c: Tensor; H: Tensor },
): Tensor {
  const b = q.shape[q.ndim - 2]!;
  const e = surprise.inputs[0]!.shape[surprise.inputs[0]!.ndim - 2]!;
  const layer = (x: Tensor, l: number): Tensor => {
    const outer = x.shape.slice(0, -3);
    const r = x.shape[x.ndim - 3]!;
    const flat = reshape(x, [...outer, r * b, x.shape[x.ndim - 1]!]);
    const product = (w: Tensor): Tensor => reshape(matmul(flat, transpose(w)), [...outer, r, b, w.shape[w.ndim - 2]!]);
    let z = mul(product(weights[l]!), rows.beta);
    z = add(z, mul(product(momentum[l]!), rows.c));
    const scores = mul(rows.H, product(surprise.inputs[l]!)); // [..., 2, b, E]
    const update = matmul(reshape(scores, [...outer, 2 * b, e]), surprise.scaled[l]!);
    return sub(z, reshape(update, [...outer, 2, b, update.shape[update.ndim - 1]!]));
  };
  const x0 = unsqueeze(q, -3);
  let z = layer(x0, 0);
  for (let l = 1; l < weights.length; l++) z = layer(activate(arch, z), l);
  return finish(arch, x0, z);
}

/**
 * One chunk under Muon. S^(t+1) for every token is formed as a batch [..., b, out, in]
 * (S^(t+1) = gamma_(t+1) S0 - sum_s G'[t+1, s] g_s, G' the momentum coefficients mixed by
 * the window), orthogonalised by one batched Newton-Schulz, then P^(t) = beta_t P0 +
 * sum_(s<t) D[t, s] lr_s NS(S^(s+1)) with D the decay-only coefficients, and retrieval
 * through the formed per-token weights.
 */
function muonChunk(
  rule: OmegaRule, weights: readonly Tensor[], momentum: readonly Tensor[], surprise: ChunkSurprise, mixing: Mixing, q: Tensor,
  i: number, chunkAxis: number, coefAll: ReturnType<typeof coefficients>, decayAll: ReturnType<typeof chunkCoefficients>,
  lr: Tensor, complete: boolean, pick: (x: Tensor, i: number, axis: number) => Tensor,
): { out: Tensor; weights: Tensor[]; momentum: Tensor[] } {
  const steps = (rule.optimizer as { nsSteps: number }).nsSteps;
  const b = q.shape[q.ndim - 2]!;
  const at = (x: Tensor): Tensor => pick(x, i, chunkAxis);
  const gRows = mix(mixing, narrow(at(coefAll.all.G), -2, 1, b)); // [..., b, E]: times 1..b
  const decayH = at(decayAll.H); // [..., b + 1, b]
  // lr_s folded into the decay coefficients: P^(t) = beta_t P0 + sum_s D[t, s] lr_s NS(S^(s+1)).
  const weightCoef = concat([unsqueeze(at(decayAll.beta), -1), mul(decayH, unsqueeze(lr, -2))], -1); // [..., b + 1, 1 + b]
  const gammaT = unsqueeze(narrow(at(coefAll.all.gamma), -1, 1, b), -1); // [..., b, 1]
  const momentumCoef = concat([gammaT, mul(gRows, -1)], -1); // [..., b, 1 + E]
  const lead = q.shape.slice(0, -2);
  const flatten = (x: Tensor): Tensor => reshape(contiguous(expand(x, [...lead, ...x.shape.slice(-2)])), [...lead, 1, x.shape[x.ndim - 2]! * x.shape[x.ndim - 1]!]);
  const perTokenWeights = weights.map((w, l) => {
    // S^(t+1) = gamma_(t+1) S0 - sum_s G'[t + 1, s] g_s for t = 0..b-1, as one product
    // [gamma | -G'] [S0; g_1; ...; g_E] with the rank-one g_s = scaled_s (x) input_s flattened.
    const scaled = surprise.scaled[l]!;
    const input = surprise.inputs[l]!;
    const [out, inner] = [scaled.shape[scaled.ndim - 1]!, input.shape[input.ndim - 1]!];
    const e = scaled.shape[scaled.ndim - 2]!;
    const outer = reshape(matmul(unsqueeze(scaled, -1), unsqueeze(input, -2)), [...lead, e, out * inner]); // [..., E, out in]
    const sFlat = matmul(momentumCoef, concat([flatten(momentum[l]!), outer], -2)); // [..., b, out in]
    const s = reshape(sFlat, [...lead, b, out, inner]);
    const o = newtonSchulzBatched(s, steps); // Eq. 32: NS_kappa on every token's momentum, one batch
    const oFlat = reshape(contiguous(o), [...lead, b, out * inner]);
    const p = reshape(matmul(weightCoef, concat([flatten(w), oFlat], -2)), [...lead, b + 1, out, inner]); // [..., b + 1, out, in]
    return { s, p };
  });
  const windows = perTokenWeights.map(({ p }) => stack([narrow(p, -3, 0, b), narrow(p, -3, 1, b)], -4)); // [..., 2, b, out, in]
  let x = reshape(q, [...q.shape.slice(0, -2), 1, b, 1, q.shape[q.ndim - 1]!]);
  let z: Tensor = x;
  windows.forEach((w, l) => {
    z = matmul(x, transpose(w));
    if (l < windows.length - 1) x = activate(rule.architecture, z);
  });
  const out = finish(rule.architecture, unsqueeze(q, -3), reshape(z, [...z.shape.slice(0, -2), z.shape[z.ndim - 1]!]));
  if (!complete) return { out, weights: [...weights], momentum: [...momentum] };
  return {
    out,
    weights: perTokenWeights.map(({ p }) => reshape(narrow(p, -3, b, 1), [...p.shape.slice(0, -3), ...p.shape.slice(-2)])),
    momentum: perTokenWeights.map(({ s }) => reshape(narrow(s, -3, b - 1, 1), [...s.shape.slice(0, -3), ...s.shape.slice(-2)])),
  };
}

/**
 * Whether a Muon chunk takes `muonChunkLowRank`: the fast path is on, Newton-Schulz runs at
 * least one step, every weight matrix is wide or square (out <= in: the Gram matrix S S^T is
 * the smaller one, as `newtonSchulz` orients it), and (setOmegaLowRank 'auto', the default)
 * `lowRankPays`. Otherwise `muonChunk`.
 */
function muonLowRankApplies(rule: OmegaRule, weights: readonly Tensor[]): boolean {
  if (!fastOmega() || rule.optimizer.kind !== 'muon' || rule.optimizer.nsSteps < 1) return false;
  if (!weights[0]!.backend.supports('float64')) return false;
  if (!weights.every((w) => w.shape[w.ndim - 2]! <= w.shape[w.ndim - 1]!)) return false;
  return omegaLowRank() === 'always' || lowRankPays(weights);
}

/**
 * The cost model that picks the Muon form: per token and Newton-Schulz step, the batched form
 * multiplies each m x n momentum (working dtype: 2 m^2 n + m^3 multiply-adds for X X^T and the
 * polynomial times X), the low-rank form its m x m Gram matrix in float64 (17 m^3 over 5 steps
 * forward, 3.4 m^3 a step), which the CPU runs about 4 times slower than float32 products.
 * Measured (2026-12-07, one thread): a square 64 x 64 memory runs its forward 4-5 times faster
 * in the batched form; the Atlas MQAR training step (32 x 1,057) 8.6 times faster in the
 * low-rank form; the Atlas passkey memory (16 x 273) 1.7 times (eager, forward and backward).
 */
function lowRankPays(weights: readonly Tensor[]): boolean {
  let lowRank = 0;
  let batched = 0;
  for (const w of weights) {
    const m = w.shape[w.ndim - 2]!;
    const n = w.shape[w.ndim - 1]!;
    lowRank += 4 * 3.4 * m ** 3;
    batched += 2 * m * m * n + m ** 3;
  }
  return lowRank < batched;
}

/** c I as an [m, m] constant like x. */
function scaledIdentity(m: number, c: number, like: Tensor): Tensor {
  const data = new Array<number>(m * m).fill(0);
  for (let i = 0; i < m; i++) data[i * m + i] = c;
  return tensor(data, [m, m], { dtype: like.dtype, backend: like.backend });
}

/**
 * One chunk under Muon without forming any per-token matrix of the memory's size. The same
 * numbers as `muonChunk` up to rounding (float64: 1e-10 relative, tested), by three facts:
 *
 * 1. Every token's momentum is low rank around the chunk-start one: S_t = gamma_t S0 + F_t^T X,
 *    with X [E, in] the chunk's layer inputs and F_t = diag(-G'[t + 1, .]) Delta [E, out] its
 *    scaled gradient factors. So its Gram matrix A_t = S_t S_t^T [out, out] comes from
 *    three chunk-level products (S0 S0^T, S0 X^T, X X^T) and small per-token ones, and
 *    |S_t|_F^2 = trace(A_t).
 * 2. A Newton-Schulz step X <- (a I + b G + c G^2) X with G = X X^T multiplies on the left by a
 *    polynomial P_k of the Gram matrix, and the next Gram matrix is P_k G P_k. So
 *    NS(S_t) = Q_t S_t with Q_t = P_(kappa-1) ... P_0 / (|S_t|_F + eps): every step is a
 *    product of [out, out] matrices, not of [out, in] ones.
 * 3. The weights P^(t) = beta_t P0 + sum_s W[t, s] Q_s S_s (W = D diag(lr), the decay-only
 *    coefficients) are only ever applied to vectors x: P^(t) x = beta_t P0 x + sum_s W[t, s]
 *    Q_s (gamma_s S0 x + F_s^T (X x)), all small products; the chunk-end weights and momentum
 *    are formed once.
 */
function muonChunkLowRank(
  rule: OmegaRule, weights: readonly Tensor[], momentum: readonly Tensor[], surprise: ChunkSurprise, mixing: Mixing, q: Tensor,
  i: number, chunkAxis: number, coefAll: ReturnType<typeof coefficients>, decayAll: ReturnType<typeof chunkCoefficients>,
  lr: Tensor, complete: boolean, pick: (x: Tensor, i: number, axis: number) => Tensor, grams: readonly Tensor[] | null,
): { out: Tensor; weights: Tensor[]; momentum: Tensor[]; grams: Tensor[] | null } {
  const steps = (rule.optimizer as { nsSteps: number }).nsSteps;
  const { a, b: nsB, c: nsC, eps } = NEWTON_SCHULZ;
  const b = q.shape[q.ndim - 2]!;
  const lead = q.shape.slice(0, -2);
  // The Gram matrices and their Newton-Schulz polynomials are formed in float64 (`wide`):
  // a Gram matrix squares the condition number of its momentum, and in float32 the golden MLP
  // Muon files (5 chunks) end 1.4e-4 from the float64 reference, above the spec's 1e-4 (the
  // composite form: 3e-6). Everything of the memory's size stays in the working dtype.
  const wide = (x: Tensor): Tensor => cast(x, 'float64');
  const at = (x: Tensor): Tensor => pick(x, i, chunkAxis);
  const negG = mul(mix(mixing, narrow(at(coefAll.all.G), -2, 1, b)), -1); // [..., b, E]: S_t = gamma_t S0 + sum_s negG[t, s] g_s
  const gamma = narrow(at(coefAll.all.gamma), -1, 1, b); // [..., b]
  const gamma3 = unsqueeze(unsqueeze(gamma, -1), -1); // [..., b, 1, 1]
  const W = mul(at(decayAll.H), unsqueeze(lr, -2)); // [..., b + 1, b]: D[t, s] lr_s
  const beta = at(decayAll.beta); // [..., b + 1]
  // Rows of W and beta for y_pre (P^(t)) and y_post (P^(t+1)): [..., 2, b, b] and [..., 2, b].
  const rowsW = stack([narrow(W, -2, 0, b), narrow(W, -2, 1, b)], -3);
  const rowsBeta = stack([narrow(beta, -1, 0, b), narrow(beta, -1, 1, b)], -2);
  const layers = weights.map((w, l) => {
    const p0 = w;
    const s0 = momentum[l]!;
    const delta = surprise.scaled[l]!; // [..., E, out]
    const x = surprise.inputs[l]!; // [..., E, in]
    const m = delta.shape[delta.ndim - 1]!;
    const f = mul(unsqueeze(negG, -1), unsqueeze(delta, -3)); // [..., b, E, out]: F_t
    const [s064, x64, f64, gamma64] = [s0, x, f, gamma3].map(wide) as [Tensor, Tensor, Tensor, Tensor];
    // S0 S0^T [..., 1, out, out]: the previous chunk's last-token Gram matrix (S0 is that token's
    // momentum), or formed here (the first chunk of a call, or the carry switched off).
    const k0 = grams?.[l] ?? unsqueeze(matmul(s064, transpose(s064)), -3);
    const r = unsqueeze(matmul(s064, transpose(x64)), -3); // [..., 1, out, E]
    const kx = unsqueeze(matmul(x64, transpose(x64)), -3); // [..., 1, E, E]
    const rf = matmul(r, f64); // [..., b, out, out]: S0 X^T F_t
    const gram = add(add(mul(k0, square(gamma64)), mul(add(rf, transpose(rf)), gamma64)), matmul(transpose(f64), matmul(kx, f64)));
    // |S_t|_F = sqrt(trace(A_t)); the clamp at 0 only guards rounding (A_t is a Gram matrix).
    const trace = sum(mul(gram, scaledIdentity(m, 1, gram)), [-2, -1], true); // [..., b, 1, 1]
    const norm = add(sqrt(add(maximum(trace, 0), 1e-30)), eps);
    let g = div(gram, square(norm));
    let poly: Tensor | null = null;
    const bI = scaledIdentity(m, nsB, g);
    const aI = scaledIdentity(m, a, g);
    for (let k = 0; k < steps; k++) {
      const pk = add(matmul(g, add(mul(g, nsC), bI)), aI); // a I + b G + c G^2
      poly = poly === null ? pk : matmul(pk, poly);
      if (k < steps - 1) g = matmul(matmul(pk, g), pk);
    }
    const qs = cast(div(poly!, cast(norm, poly!.dtype)), q.dtype); // [..., b, out, out]: NS(S_t) = qs_t S_t
    // A_(b-1) = S^(b) S^(b)^T: the next chunk's S0 S0^T.
    const gramEnd = complete && omegaGramCarry() ? narrow(gram, -3, b - 1, 1) : null;
    return { p0, s0, delta, f, x, qs, m, gramEnd };
  });
  // Retrieval: layer l reads P_l^(t) x (y_pre) and P_l^(t+1) x (y_post) for its inputs x [..., R, b, in] (R = 1: shared).
  const read = (l: number, input: Tensor): Tensor => {
    const { p0, s0, delta, x, qs } = layers[l]!;
    const r = input.shape[input.ndim - 3]!;
    const flat = reshape(input, [...lead, r * b, input.shape[input.ndim - 1]!]);
    const p0x = matmul(flat, transpose(p0)); // [..., R b, out]
    const s0x = matmul(flat, transpose(s0));
    const xx = matmul(flat, transpose(x)); // [..., R b, E]
    // Z[j, s] = gamma_s S0 x_j + F_s^T (X x_j): [..., R b, b, out].
    const z = add(mul(unsqueeze(s0x, -2), unsqueeze(unsqueeze(gamma, -1), -3)), matmul(mul(unsqueeze(xx, -2), unsqueeze(negG, -3)), unsqueeze(delta, -3)));
    const v = matmul(unsqueeze(z, -2), unsqueeze(transpose(qs), -4)); // [..., R b, b, 1, out]: Q_s Z[j, s]
    const out = v.shape[v.ndim - 1]!;
    const vr = reshape(v, [...lead, r, b, b, out]);
    const mixed = sum(mul(unsqueeze(rowsW, -1), vr), -2); // [..., 2, b, out]: sum_s W[t + which, s] Q_s Z[t, s]
    return add(mul(unsqueeze(rowsBeta, -1), reshape(p0x, [...lead, r, b, out])), mixed);
  };
  let z = read(0, unsqueeze(q, -3));
  for (let l = 1; l < layers.length; l++) z = read(l, activate(rule.architecture, z));
  const out = finish(rule.architecture, unsqueeze(q, -3), z);
  if (!complete) return { out, weights: [...weights], momentum: [...momentum], grams: null };
  const lastW = narrow(W, -2, b, 1); // [..., 1, b]
  const lastBeta = unsqueeze(narrow(beta, -1, b, 1), -1); // [..., 1, 1]
  const lastGamma = unsqueeze(narrow(gamma, -1, b - 1, 1), -1); // [..., 1, 1]
  return {
    out,
    weights: layers.map(({ p0, s0, f, x, qs, m }) => {
      // P^(b) = beta_b P0 + (sum_s W[b, s] gamma_s Q_s) S0 + (sum_s W[b, s] Q_s F_s^T) X.
      const e = x.shape[x.ndim - 2]!;
      const qSum = reshape(matmul(mul(lastW, unsqueeze(gamma, -2)), reshape(qs, [...lead, b, m * m])), [...lead, m, m]);
      const qf = reshape(matmul(qs, transpose(f)), [...lead, b, m * e]);
      const u = reshape(matmul(lastW, qf), [...lead, m, e]);
      return add(add(mul(p0, lastBeta), matmul(qSum, s0)), matmul(u, x));
    }),
    momentum: layers.map(({ s0, f, x }) => {
      const fLast = reshape(narrow(f, -3, b - 1, 1), [...lead, f.shape[f.ndim - 2]!, f.shape[f.ndim - 1]!]);
      return add(mul(s0, lastGamma), matmul(transpose(fLast), x)); // S^(b) = gamma_b S0 + F_(b-1)^T X
    }),
    grams: layers.every(({ gramEnd }) => gramEnd !== null) ? layers.map(({ gramEnd }) => gramEnd!) : null,
  };
}

/** Drops the gradient graph of a state. */
export function detachOmegaState(state: OmegaState): OmegaState {
  return noGrad(() => ({
    weights: state.weights.map((w) => w.detach()),
    momentum: state.momentum.map((s) => s.detach()),
    tail: state.tail ? { k: state.tail.k.detach(), v: state.tail.v.detach() } : null,
    pending: state.pending
      ? Object.fromEntries(Object.entries(state.pending).map(([key, x]) => [key, (x as Tensor).detach()])) as unknown as OmegaPending
      : null,
    position: state.position,
  }));
}
