// The neural memory over a sequence: the per-token reference loop and the chunked
// parallel form (Titans section 3.2). Both compute exactly the recurrence of
// shared/spec/neural-memory.md:
//
//   u_t     = grad_P l(P^(base(t)); k_t, v_t)      Eq. 12: surprise at the chunk's start weights
//   S^(t+1) = eta_t S^(t) - theta_t u_t             Eq. 14 (Eq. 10 without forgetting): momentum over surprise
//   P^(t+1) = (1 - alpha_t) P^(t) + S^(t+1)          Eq. 13: forgetting as weight decay
//   y_pre_t = M(P^(t); q_t),  y_post_t = M(P^(t+1); q_t)   Eq. 15: retrieval
//
// With a non-L2 retention (Miras), P is an accumulator and the weights used are R(P).
// The optional knobs of config.ts (momentum order, per-layer learning rates, orthogonalised
// surprise, the surprise norm clamp) change u_t and the momentum levels; both paths
// implement them and stay equal.
import {
  Tensor, add, concat, contiguous, div, expand, isGradEnabled, permute, stack, tidy, full, linearScan, matmul, maximum, mul, narrow, noGrad, pow, relu, reshape, sign, softmax,
  sqrt, square, sub, sum, tensor, transpose, unsqueeze, valueAndGrad, vjp, zeros, abs, broadcastShapes, enableGrad, gradients, memoryScan, sizeOf,
  type MemoryScanTensors,
} from '@titans/tensor';
import { ruleKnobs, validateRule, weightShapes, type MemoryRule, type Retention } from './config.js';
import { fusedUnsupported } from './fused.js';
import {
  activate, apply, biasLoss, finish, forward, newtonSchulz, rankOneNewtonSchulzFactor, surpriseClampFactor, tokenGradients,
} from './network.js';

/** Per-token inputs of the memory: leading axes [...] are batch x heads. */
export interface MemoryInputs {
  /** Keys, values, queries: [..., T, d]. */
  readonly k: Tensor;
  readonly v: Tensor;
  readonly q: Tensor;
  /** Gates [..., T]: learning rate, momentum decay, forgetting. */
  readonly theta: Tensor;
  readonly eta: Tensor;
  readonly alpha: Tensor;
  /** Huber thresholds [..., T] (Yaad), when the bias is Huber and data-dependent. */
  readonly delta?: Tensor;
  /**
   * Learning-rate multipliers r_l, one per weight matrix, each broadcastable to the leading
   * axes [...] (a scalar, or [heads]); required when `rule.layerLearningRates` is on.
   */
  readonly layerLearningRates?: readonly Tensor[];
}

/**
 * The memory between calls: weights and momentum at the start of the current chunk,
 * the tokens of that chunk seen so far (a chunk is completed by the next call), and
 * the absolute position (pending tokens included).
 */
export interface MemoryState {
  readonly weights: readonly Tensor[];
  /**
   * Momentum of each weight matrix. With `momentumOrder` m > 1 it holds m blocks of one
   * tensor per matrix, level 1 first: momentum[j * layers + l] is level j + 1 of matrix l.
   */
  readonly momentum: readonly Tensor[];
  readonly pending: PendingChunk | null;
  readonly position: number;
}

export interface PendingChunk {
  readonly k: Tensor;
  readonly v: Tensor;
  readonly theta: Tensor;
  readonly eta: Tensor;
  readonly alpha: Tensor;
  readonly delta?: Tensor;
}

export interface MemoryOutputs {
  /** M(P^(t); q_t): the memory before token t. [..., T, d] */
  readonly yPre: Tensor;
  /** M(P^(t+1); q_t): the memory after token t. [..., T, d] */
  readonly yPost: Tensor;
  /** l(P^(base(t)); k_t, v_t): the surprise signal. [..., T] */
  readonly loss: Tensor;
  readonly state: MemoryState;
}

/** A fresh state from initial weights (momentum zero, one level per `rule.momentumOrder`). */
export function initialState(weights: readonly Tensor[], rule?: Pick<MemoryRule, 'momentumOrder'>): MemoryState {
  const order = rule?.momentumOrder ?? 1;
  const momentum: Tensor[] = [];
  for (let j = 0; j < order; j++) for (const w of weights) momentum.push(zeros(w.shape, { dtype: w.dtype, backend: w.backend }));
  return { weights, momentum, pending: null, position: 0 };
}

/** The weights the retention makes of an accumulator. */
export function retain(retention: Retention, accumulator: Tensor): Tensor {
  switch (retention.kind) {
    case 'l2':
      return accumulator;
    case 'elastic-net':
      return mul(sign(accumulator), relu(sub(abs(accumulator), retention.lambda)));
    case 'lq': {
      // A / ||A||_q^(q-2), the norm over each head's whole matrix.
      const norm = pow(add(sum(pow(add(square(accumulator), 1e-12), retention.q / 2), [-2, -1], true), 1e-12), 1 / retention.q);
      return div(accumulator, pow(norm, retention.q - 2));
    }
    case 'kl':
      return mul(softmax(accumulator, -1), retention.scale);
  }
}

function effectiveGates(rule: MemoryRule, inputs: { eta: Tensor; alpha: Tensor }): { eta: Tensor; alpha: Tensor } {
  return {
    eta: rule.momentum ? inputs.eta : mul(inputs.eta, 0),
    alpha: rule.forgetting ? inputs.alpha : mul(inputs.alpha, 0),
  };
}

const describe = (name: string, x: Tensor): string => `${name} [${x.shape.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);
const broadcastsTo = (shape: readonly number[], target: readonly number[]): boolean => {
  try {
    return sameShape(broadcastShapes('memory', shape, target), target);
  } catch {
    return false;
  }
};

/** Validates inputs and state against the rule, naming the argument at fault. */
function checkInputs(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState): void {
  validateRule(rule);
  const { k, v, q, theta, eta, alpha, delta } = inputs;
  if (k.ndim < 2) throw new Error(`memory: ${describe('k', k)} must be [..., tokens, dim]`);
  const t = k.shape[k.ndim - 2]!;
  const dim = k.shape[k.ndim - 1]!;
  const lead = k.shape.slice(0, -2);
  for (const [name, x] of [['v', v], ['q', q]] as const) {
    if (x.ndim !== k.ndim || !sameShape(x.shape.slice(0, -1), k.shape.slice(0, -1))) {
      throw new Error(`memory: ${describe(name, x)} does not match ${describe('k', k)} (same leading axes and tokens)`);
    }
  }
  if (q.shape[q.ndim - 1] !== dim) throw new Error(`memory: ${describe('q', q)} must have the key dimension ${dim} of ${describe('k', k)}`);
  const gates: [string, Tensor | undefined][] = [['theta', theta], ['eta', eta], ['alpha', alpha], ['delta', delta]];
  for (const [name, x] of gates) {
    if (x && !sameShape(x.shape, [...lead, t])) throw new Error(`memory: gate ${describe(name, x)} must be [${[...lead, t].join(', ')}] to match ${describe('k', k)}`);
  }
  if (delta && rule.bias.kind !== 'huber') throw new Error(`memory: inputs.delta (Huber thresholds) given, but the bias is '${rule.bias.kind}'`);

  const expected = weightShapes(rule.architecture, dim);
  const out = expected[expected.length - 1]![0];
  if (v.shape[v.ndim - 1] !== out) throw new Error(`memory: ${describe('v', v)} must have the memory's output dimension ${out}`);
  if (state.weights.length !== expected.length) {
    throw new Error(`memory: state.weights has ${state.weights.length} matrices, the architecture (depth ${rule.architecture.depth}) needs ${expected.length}`);
  }
  state.weights.forEach((w, l) => {
    const [o, i] = expected[l]!;
    if (w.ndim < 2 || w.shape[w.ndim - 2] !== o || w.shape[w.ndim - 1] !== i || !broadcastsTo(w.shape.slice(0, -2), lead)) {
      throw new Error(`memory: ${describe(`state.weights[${l}]`, w)} must be [..., ${o}, ${i}] with leading axes broadcastable to [${lead.join(', ')}]`);
    }
  });
  const { momentumOrder, layerLearningRates } = ruleKnobs(rule);
  if (state.momentum.length !== expected.length * momentumOrder) {
    throw new Error(`memory: state.momentum has ${state.momentum.length} tensors, momentumOrder ${momentumOrder} x ${expected.length} matrices needs ${expected.length * momentumOrder} (make the state with initialState(weights, rule))`);
  }
  state.momentum.forEach((s, n) => {
    const w = state.weights[n % expected.length]!;
    if (!sameShape(s.shape.slice(-2), w.shape.slice(-2))) throw new Error(`memory: ${describe(`state.momentum[${n}]`, s)} does not match ${describe(`state.weights[${n % expected.length}]`, w)}`);
  });
  const rates = inputs.layerLearningRates;
  if (layerLearningRates && !rates) throw new Error('memory: rule.layerLearningRates is on but inputs.layerLearningRates is missing');
  if (!layerLearningRates && rates) throw new Error('memory: inputs.layerLearningRates given but rule.layerLearningRates is off');
  if (rates) {
    if (rates.length !== expected.length) throw new Error(`memory: inputs.layerLearningRates has ${rates.length} entries, the memory has ${expected.length} weight matrices`);
    rates.forEach((r, l) => {
      if (!broadcastsTo(r.shape, lead)) throw new Error(`memory: ${describe(`inputs.layerLearningRates[${l}]`, r)} must broadcast to the leading axes [${lead.join(', ')}]`);
    });
  }
  const pend = state.pending;
  if (pend) {
    const p = pend.k.shape[pend.k.ndim - 2]!;
    if (!sameShape(pend.k.shape.slice(0, -2), lead) || pend.k.shape[pend.k.ndim - 1] !== dim) {
      throw new Error(`memory: ${describe('state.pending.k', pend.k)} does not match ${describe('k', k)}`);
    }
    if (p >= rule.chunkSize) throw new Error(`memory: state.pending holds ${p} tokens, not fewer than chunkSize ${rule.chunkSize}`);
    if (p > state.position) throw new Error(`memory: state.pending holds ${p} tokens but state.position is ${state.position}`);
    if (Boolean(pend.delta) !== Boolean(delta)) throw new Error('memory: inputs.delta must be given in every call or in none (state.pending disagrees)');
  }
}

// ---------------------------------------------------------------- shared pieces

/** Splits the flat momentum list into levels: levels[j][l]. */
function momentumLevels(momentum: readonly Tensor[], layers: number): Tensor[][] {
  const levels: Tensor[][] = [];
  for (let j = 0; j * layers < momentum.length; j++) levels.push(momentum.slice(j * layers, (j + 1) * layers));
  return levels;
}

/** A rate r_l [...] as a [..., 1, 1] factor on a token matrix or a weight matrix. */
function rateFactor(rate: Tensor): Tensor {
  return unsqueeze(unsqueeze(rate, -1), -1);
}

/**
 * The token stream of one call: the pending chunk's tokens (if any) followed by the new
 * ones, with zero queries for the pending tokens (their outputs were returned before).
 */
function joinPending(inputs: MemoryInputs, pend: PendingChunk | null): { k: Tensor; v: Tensor; q: Tensor; theta: Tensor; eta: Tensor; alpha: Tensor; delta?: Tensor; pendingCount: number } {
  const p = pend ? pend.k.shape[pend.k.ndim - 2]! : 0;
  if (!pend || p === 0) return { ...inputs, pendingCount: 0 };
  const q = inputs.q;
  const qPad = zeros([...q.shape.slice(0, -2), p, q.shape[q.ndim - 1]!], { dtype: q.dtype, backend: q.backend });
  return {
    k: concat([pend.k, inputs.k], -2),
    v: concat([pend.v, inputs.v], -2),
    q: concat([qPad, q], -2),
    theta: concat([pend.theta, inputs.theta], -1),
    eta: concat([pend.eta, inputs.eta], -1),
    alpha: concat([pend.alpha, inputs.alpha], -1),
    ...(inputs.delta && pend.delta ? { delta: concat([pend.delta, inputs.delta], -1) } : {}),
    pendingCount: p,
  };
}

/** The tokens of an unfinished chunk, copied out so the state does not keep the whole call's inputs alive. */
function pendingFrom(stream: { k: Tensor; v: Tensor; theta: Tensor; eta: Tensor; alpha: Tensor; delta?: Tensor }, from: number, count: number): PendingChunk | null {
  if (count === 0) return null;
  const tokens = (x: Tensor): Tensor => contiguous(narrow(x, -2, from, count));
  const gate = (x: Tensor): Tensor => contiguous(narrow(x, -1, from, count));
  return {
    k: tokens(stream.k),
    v: tokens(stream.v),
    theta: gate(stream.theta),
    eta: gate(stream.eta),
    alpha: gate(stream.alpha),
    ...(stream.delta ? { delta: gate(stream.delta) } : {}),
  };
}

// ---------------------------------------------------------------- the reference loop

/**
 * Post-processing of a token's surprise (per weight matrix): orthogonalisation, then the
 * soft norm clamp over all matrices together.
 */
function transformSurprise(rule: MemoryRule, u: Tensor[]): Tensor[] {
  let out = u;
  if (ruleKnobs(rule).orthogonalizeSurprise) out = out.map((g) => newtonSchulz(g));
  if (rule.maxSurpriseNorm > 0) {
    const squares = out.map((g) => sum(square(g), [-2, -1], true)).reduce((s, n) => add(s, n));
    const factor = div(rule.maxSurpriseNorm, maximum(sqrt(add(squares, 1e-30)), rule.maxSurpriseNorm));
    out = out.map((g) => mul(g, factor));
  }
  return out;
}

/**
 * The recurrence token by token, with u_t taken by autograd (not by the hand-derived
 * formulas of the parallel form): the readable reference the fast path is tested against.
 * It accepts and returns the same states as `scanParallel` (a pending chunk is replayed
 * first), so the two can continue each other's streams.
 */
export function scanLoop(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState): MemoryOutputs {
  checkInputs(rule, inputs, state);
  const stream = joinPending(inputs, state.pending);
  const p = stream.pendingCount;
  const { eta, alpha } = effectiveGates(rule, stream);
  const arch = rule.architecture;
  const b = rule.chunkSize;
  const layers = state.weights.length;
  const total = stream.k.shape[stream.k.ndim - 2]!;
  const token = (x: Tensor, i: number): Tensor => narrow(x, -2, i, 1);
  const gate = (x: Tensor, i: number): Tensor => unsqueeze(narrow(x, -1, i, 1), -1);
  const lead = stream.k.shape.slice(0, -2);
  // Every sequence and head has its own memory: broadcast shared initial weights out.
  const toLead = (w: Tensor): Tensor => expand(w, [...lead, ...w.shape.slice(-2)]);
  const rates = inputs.layerLearningRates?.map(rateFactor);
  let acc = state.weights.map(toLead);
  let levels = momentumLevels(state.momentum, layers).map((level) => level.map(toLead));
  let chunkStart = { acc, levels, at: 0 };
  let base: Tensor[] = acc;
  const yPre: Tensor[] = [];
  const yPost: Tensor[] = [];
  const losses: Tensor[] = [];
  for (let i = 0; i < total; i++) {
    if (i % b === 0) {
      chunkStart = { acc, levels, at: i };
      base = acc.map((a) => retain(rule.retention, a));
    }
    const k = token(stream.k, i);
    const v = token(stream.v, i);
    const delta = stream.delta ? unsqueeze(narrow(stream.delta, -1, i, 1), -1) : undefined;
    const tokenLoss = (weights: Tensor[]): Tensor => sum(biasLoss(rule.bias, apply(arch, weights, k), v, delta).loss);
    const [, grads] = valueAndGrad(tokenLoss)(base);
    const u = transformSurprise(rule, grads);
    const q = token(stream.q, i);
    const isNew = i >= p;
    if (isNew) {
      losses.push(biasLoss(rule.bias, apply(arch, base, k), v, delta).loss);
      yPre.push(apply(arch, acc.map((a) => retain(rule.retention, a)), q));
    }
    const theta = gate(stream.theta, i);
    const etaT = gate(eta, i);
    // Eq. 14 (level 1), then each higher level smooths the one below it (config.ts).
    const next: Tensor[][] = [levels[0]!.map((s, l) => sub(mul(s, etaT), mul(u[l]!, rates ? mul(theta, rates[l]!) : theta)))];
    for (let j = 1; j < levels.length; j++) next.push(levels[j]!.map((s, l) => add(mul(s, etaT), next[j - 1]![l]!)));
    levels = next;
    const top = levels[levels.length - 1]!;
    acc = acc.map((a, l) => add(mul(a, sub(1, gate(alpha, i))), top[l]!)); // Eq. 13
    if (isNew) yPost.push(apply(arch, acc.map((a) => retain(rule.retention, a)), q));
  }
  const newTokens = total - p;
  const d = inputs.q.shape[inputs.q.ndim - 1]!;
  const remainder = total % b;
  const state2: MemoryState = remainder === 0
    ? { weights: acc, momentum: levels.flat(), pending: null, position: state.position + newTokens }
    : {
      weights: chunkStart.acc,
      momentum: chunkStart.levels.flat(),
      pending: pendingFrom(stream, chunkStart.at, total - chunkStart.at),
      position: state.position + newTokens,
    };
  return {
    yPre: newTokens > 0 ? concat(yPre, -2) : zeros([...lead, 0, d], { dtype: inputs.q.dtype, backend: inputs.q.backend }),
    yPost: newTokens > 0 ? concat(yPost, -2) : zeros([...lead, 0, d], { dtype: inputs.q.dtype, backend: inputs.q.backend }),
    loss: newTokens > 0 ? concat(losses, -1) : zeros([...lead, 0], { dtype: inputs.k.dtype, backend: inputs.k.backend }),
    state: state2,
  };
}

// ---------------------------------------------------------------- the chunked parallel form

/**
 * Coefficients of a chunk of b tokens at local times t = 0..b (P^(t) is the state before
 * local token t), for a memory with m momentum levels:
 *
 *   P^(t)   = beta_t P0 + sum_i c_i[t] S_i0 - sum_s H[t, s] theta_s u_s
 *   S_j^(t) = sum_i gamma_j,i[t] S_i0 - sum_s G_j[t, s] theta_s u_s
 *
 * Each is the response of the linear recurrences to one source: a token s enters level 1
 * at time s + 1; an initial momentum S_i0 sits in level i at time 0. The responses come
 * from linear scans (no logs or divisions, so gates of exactly 0 are fine). Gates are
 * [..., nChunks, b]; results [..., nChunks, b + 1, ...].
 */
export interface ChunkCoefficients {
  /** [..., b + 1]: weight of the chunk-start weights. */
  readonly beta: Tensor;
  /** [..., b + 1, b]: weight of token s's update in P^(t). */
  readonly H: Tensor;
  /** c[i] [..., b + 1]: weight of the initial level-(i+1) momentum in P^(t). */
  readonly c: readonly Tensor[];
  /** G[j] [..., b + 1, b]: weight of token s's update in momentum level j + 1. */
  readonly G: readonly Tensor[];
  /** gamma[j][i] [..., b + 1]: weight of the initial level-(i+1) momentum in level j + 1. */
  readonly gamma: readonly (readonly Tensor[])[];
}

export function chunkCoefficients(eta: Tensor, alpha: Tensor, momentumOrder = 1): ChunkCoefficients {
  const b = eta.shape[eta.ndim - 1]!;
  const m = momentumOrder;
  const lead = eta.shape.slice(0, -1);
  const like = { dtype: eta.dtype, backend: eta.backend };
  const zero = zeros([...lead, 1], like);
  const aG = concat([zero, eta], -1); // a_t = eta_(t-1): momentum decay into time t
  const aH = concat([zero, sub(1, alpha)], -1); // 1 - alpha_(t-1): weight decay into time t
  // Columns: tokens 0..b-1, then the initial momentum of each level; rows: times 0..b.
  const columns = b + m;
  const times = b + 1;
  const constant = (fill: (data: number[]) => void): Tensor => {
    const data = new Array<number>(columns * times).fill(0);
    fill(data);
    return expand(tensor(data, [columns, times], like), [...lead, columns, times]);
  };
  const levelSource = (j: number): Tensor => constant((data) => {
    if (j === 0) for (let s = 0; s < b; s++) data[s * times + s + 1] = 1;
    data[(b + j) * times] = 1;
  });
  const afterStart = tensor(Array.from({ length: times }, (_, t) => (t === 0 ? 0 : 1)), [times], like);
  const decayG = expand(unsqueeze(aG, -2), [...lead, columns, times]);
  const decayH = expand(unsqueeze(aH, -2), [...lead, columns, times]);
  // Level j + 1 takes in level j from time 1 on (its own initial value sits at time 0).
  const responses: Tensor[] = [linearScan(decayG, levelSource(0), -1)];
  for (let j = 1; j < m; j++) responses.push(linearScan(decayG, add(mul(responses[j - 1]!, afterStart), levelSource(j)), -1));
  const weights = linearScan(decayH, mul(responses[m - 1]!, afterStart), -1);
  const e0 = concat([full([...lead, 1], 1, like), zeros([...lead, b], like)], -1);
  const beta = linearScan(aH, e0, -1);
  const tokens = (x: Tensor): Tensor => transpose(narrow(x, -2, 0, b)); // [..., time, token]
  const initial = (x: Tensor, i: number): Tensor => reshape(narrow(x, -2, b + i, 1), [...lead, times]);
  const levels = Array.from({ length: m }, (_, i) => i);
  return {
    beta,
    H: tokens(weights),
    c: levels.map((i) => initial(weights, i)),
    G: responses.map(tokens),
    gamma: responses.map((r) => levels.map((i) => initial(r, i))),
  };
}

function padTokens(x: Tensor, axis: number, extra: number): Tensor {
  if (extra === 0) return x;
  const shape = [...x.shape];
  const a = axis < 0 ? axis + x.ndim : axis;
  shape[a] = extra;
  return concat([x, zeros(shape, { dtype: x.dtype, backend: x.backend })], a);
}

/**
 * The surprise of every token of a chunk at the chunk-start weights, as rank-one factors
 * per weight matrix: theta_s r_l u_s,l = scaled[l][s] (x) inputs[l][s].
 */
interface ChunkSurprise {
  readonly loss: Tensor;
  readonly inputs: readonly Tensor[];
  readonly scaled: readonly Tensor[];
}

function chunkSurprise(
  rule: MemoryRule, base: readonly Tensor[], k: Tensor, v: Tensor, delta: Tensor | undefined, theta: Tensor, rates: readonly Tensor[] | undefined,
): ChunkSurprise {
  const cache = forward(rule.architecture, base, k);
  const { loss, dOut } = biasLoss(rule.bias, cache.out, v, delta);
  let deltas = tokenGradients(rule.architecture, base, cache, dOut);
  if (ruleKnobs(rule).orthogonalizeSurprise) {
    // A token's gradient is rank one per matrix: Newton-Schulz in closed form (network.ts).
    deltas = deltas.map((d, l) => mul(d, unsqueeze(rankOneNewtonSchulzFactor(d, cache.inputs[l]!), -1)));
  }
  if (rule.maxSurpriseNorm > 0) {
    const factor = unsqueeze(surpriseClampFactor(deltas, cache.inputs, rule.maxSurpriseNorm), -1);
    deltas = deltas.map((d) => mul(d, factor));
  }
  const thetaCol = unsqueeze(theta, -1);
  const scaled = deltas.map((d, l) => (rates ? mul(d, mul(thetaCol, rateFactor(rates[l]!))) : mul(d, thetaCol)));
  return { loss, inputs: cache.inputs, scaled };
}

/** sum_s coef_s scaled_s (x) input_s for coefficients [..., b]: a low-rank weight update. */
function lowRankSum(surprise: ChunkSurprise, l: number, coefficients: Tensor): Tensor {
  return matmul(transpose(mul(surprise.scaled[l]!, unsqueeze(coefficients, -1))), surprise.inputs[l]!);
}

/**
 * The chunked parallel form. Within a chunk all gradients are taken at the chunk-start
 * weights, so they come from one batched forward/backward of the network; momentum and
 * decay are linear recurrences whose coefficients come from scans; and the retrieval at
 * every token uses the chunk-start weights plus the chunk's rank-one gradient terms,
 * never materialising per-token weights (for the L2 retention; Miras retentions that are
 * non-linear in the accumulator materialise them, exactly).
 *
 * `state` may carry a pending partial chunk from a previous call: its tokens are
 * re-joined with the new ones so results equal a single pass over the whole stream.
 */
export function scanParallel(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState, options: ScanOptions = {}): MemoryOutputs {
  checkInputs(rule, inputs, state);
  const total = (state.pending ? state.pending.k.shape[state.pending.k.ndim - 2]! : 0) + inputs.k.shape[inputs.k.ndim - 2]!;
  const pend = state.pending;
  const recording = isGradEnabled() && [
    inputs.k, inputs.v, inputs.q, inputs.theta, inputs.eta, inputs.alpha, ...state.weights, ...state.momentum,
    ...(pend ? [pend.k, pend.v, pend.theta, pend.eta, pend.alpha] : []),
  ].some((x) => x.requiresGrad);
  if (fusedUnsupported(rule, inputs, total, { recording }) === null) return fusedRun(rule, inputs, state, options.yPre !== false);
  return chunkedComposite(rule, inputs, state);
}

/**
 * The fused kernel whatever `scanParallel` would choose (it takes the composite form for a
 * clamped surprise while a gradient is recorded, where that is faster): for checking and
 * benchmarking the kernel and its gradient. Throws, with the reason, where it cannot run.
 */
export function scanFused(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState, options: ScanOptions = {}): MemoryOutputs {
  checkInputs(rule, inputs, state);
  const total = (state.pending ? state.pending.k.shape[state.pending.k.ndim - 2]! : 0) + inputs.k.shape[inputs.k.ndim - 2]!;
  const why = fusedUnsupported(rule, inputs, total);
  if (why !== null) throw new Error(`memory: scanFused: the fused kernel cannot run this scan: ${why}`);
  return fusedRun(rule, inputs, state, options.yPre !== false);
}

/** Options of `scanParallel`. */
export interface ScanOptions {
  /**
   * false: the caller reads no y_pre, so the fused kernel leaves it out (less work: on the CPU
   * about a fifth of a linear or MLP memory's scan). The result's `yPre` then throws when
   * read (see `hasYPre`); the composite form computes it anyway. Default true.
   */
  readonly yPre?: boolean;
}

const withoutYPre = new WeakSet<MemoryOutputs>();

/** False when `outputs` came from `scanParallel(..., { yPre: false })` on the fused kernel, whose `yPre` was not computed. */
export function hasYPre(outputs: MemoryOutputs): boolean {
  return !withoutYPre.has(outputs);
}

/**
 * The composite chunked form (many small ops per chunk), whatever the backend offers: what
 * `scanParallel` runs when the fused kernel does not apply, and the reference it is tested
 * against. Same results as `scanParallel`.
 */
export function scanChunked(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState): MemoryOutputs {
  checkInputs(rule, inputs, state);
  return chunkedComposite(rule, inputs, state);
}

/**
 * The chunked form on the backend's fused kernel (Backend.memoryScan): one primitive call
 * for the whole stream. Its gradient rule recomputes the composite form and differentiates
 * it (with ops, so gradients of gradients work too).
 */
function fusedRun(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState, withYPre: boolean): MemoryOutputs {
  const stream = joinPending(inputs, state.pending);
  const p = stream.pendingCount;
  const gates = effectiveGates(rule, stream);
  const lead = inputs.k.shape.slice(0, -2);
  const total = stream.k.shape[stream.k.ndim - 2]!;
  const newTokens = total - p;
  const d = inputs.q.shape[inputs.q.ndim - 1]!;
  const dOut = inputs.v.shape[inputs.v.ndim - 1]!;
  const b = rule.chunkSize;
  const fullChunks = Math.floor(total / b);
  const shapes = weightShapes(rule.architecture, d);
  const toLead = (w: Tensor): Tensor => expand(w, [...lead, ...w.shape.slice(-2)]);
  const tensors: MemoryScanTensors = {
    k: stream.k, v: stream.v, q: stream.q, theta: stream.theta, eta: gates.eta, alpha: gates.alpha,
    weights: state.weights.map(toLead), momentum: state.momentum.map(toLead),
  };
  const { activation, residual, norm } = rule.architecture;
  const dims = {
    memories: sizeOf(lead), tokens: total, chunk: b, layers: shapes, activation, residual, norm,
    ...(withYPre ? {} : { yPre: false }), ...(rule.maxSurpriseNorm > 0 ? { maxSurpriseNorm: rule.maxSurpriseNorm } : {}),
  };
  const flat = memoryScan(tensors, dims, (g) => fusedBackward(rule, tensors, g, withYPre));
  let at = 0;
  const take = (shape: readonly number[]): Tensor => {
    const n = sizeOf(shape);
    const x = reshape(narrow(flat, 0, at, n), shape);
    at += n;
    return x;
  };
  const yPre = withYPre ? take([...lead, total, dOut]) : null;
  const yPost = take([...lead, total, dOut]);
  const loss = take([...lead, total]);
  const weights = shapes.map((shape) => take([...lead, ...shape]));
  const momentum = shapes.map((shape) => take([...lead, ...shape]));
  const fresh = (x: Tensor, axis: number): Tensor => (p === 0 ? x : narrow(x, axis, p, newTokens));
  const rest = {
    yPost: fresh(yPost, -2),
    loss: fresh(loss, -1),
    state: {
      // Without a complete chunk the state is the one given (as the composite form returns it).
      weights: fullChunks === 0 ? state.weights : weights,
      momentum: fullChunks === 0 ? state.momentum : momentum,
      pending: pendingFrom(stream, fullChunks * b, total - fullChunks * b),
      position: state.position + newTokens,
    },
  };
  if (yPre) return { yPre: fresh(yPre, -2), ...rest };
  const outputs = Object.defineProperty(rest, 'yPre', {
    enumerable: false,
    get(): never {
      throw new Error('memory: yPre was not computed (scanParallel was called with { yPre: false }); call it without that option to read y_pre');
    },
  }) as MemoryOutputs;
  withoutYPre.add(outputs);
  return outputs;
}

/**
 * The gradient of the fused scan's packed output: the composite chunked form recomputed
 * from the same tensors and differentiated (first order on detached copies inside a tidy
 * scope; with a recorded graph when the caller differentiates the gradient again).
 */
function fusedBackward(rule: MemoryRule, x: MemoryScanTensors, g: Tensor, withYPre: boolean): (Tensor | null)[] {
  const list = [x.k, x.v, x.q, x.theta, x.eta, x.alpha, ...x.weights, ...x.momentum];
  const layers = x.weights.length;
  // The gates arrive already switched off where the rule says so (effectiveGates).
  const inner = { ...rule, momentum: true, forgetting: true };
  const packed = (t: readonly Tensor[]): Tensor => {
    const [k, v, q, theta, eta, alpha] = t as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    const o = chunkedComposite(inner, { k, v, q, theta, eta, alpha }, { weights: t.slice(6, 6 + layers), momentum: t.slice(6 + layers), pending: null, position: 0 });
    return concat([...(withYPre ? [o.yPre] : []), o.yPost, o.loss, ...o.state.weights, ...o.state.momentum].map((y) => reshape(y, [y.size])), 0);
  };
  const needed = list.map((t) => t.requiresGrad);
  if (isGradEnabled()) {
    // Recording (createGraph): the gradient must itself be differentiable in the inputs. vjp
    // differentiates at fresh aliases, so each slot gets its own gradient even when two slots
    // hold one tensor (q = k) or one is computed from another (v = f(k)).
    const grads = vjp((t: Tensor[]) => packed(t), list)[1](g);
    return grads.map((gr, i) => (needed[i] ? gr : null));
  }
  const grads = tidy(() => {
    const leaves = list.map((t) => {
      const leaf = t.detach();
      leaf.requiresGrad = t.requiresGrad;
      return leaf;
    });
    // Only the tracked slots: gradients refuses an untracked input.
    return gradients(enableGrad(() => packed(leaves)), leaves.filter((_, i) => needed[i]), { gradOutput: g });
  });
  let next = 0;
  return needed.map((n) => (n ? grads[next++]! : null));
}

function chunkedComposite(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState): MemoryOutputs {
  const b = rule.chunkSize;
  const { momentumOrder } = ruleKnobs(rule);
  const layers = state.weights.length;
  const stream = joinPending(inputs, state.pending);
  const p = stream.pendingCount;
  const newTokens = inputs.k.shape[inputs.k.ndim - 2]!;
  const gates = effectiveGates(rule, stream);
  const total = p + newTokens;
  const fullChunks = Math.floor(total / b);
  const remainder = total - fullChunks * b;
  const nChunks = fullChunks + (remainder > 0 ? 1 : 0);
  const padded = nChunks * b - total;
  const lead = inputs.k.shape.slice(0, -2);
  const d = inputs.q.shape[inputs.q.ndim - 1]!;
  const like = { dtype: inputs.q.dtype, backend: inputs.q.backend };
  if (nChunks === 0) {
    return {
      yPre: zeros([...lead, 0, d], like), yPost: zeros([...lead, 0, d], like), loss: zeros([...lead, 0], like),
      state: { ...state, pending: null },
    };
  }

  // Chunk-first layouts, [nChunks, ...lead, b, ...], so that a chunk is a dense slice (a view).
  const chunkFirst = (x: Tensor, isGate: boolean): Tensor => {
    const axis = isGate ? -1 : -2;
    const split = reshape(padTokens(x, axis, padded), isGate ? [...lead, nChunks, b] : [...lead, nChunks, b, x.shape[x.ndim - 1]!]);
    const chunkAxis = lead.length;
    return contiguous(permute(split, [chunkAxis, ...lead.map((_, i) => i), ...(isGate ? [chunkAxis + 1] : [chunkAxis + 1, chunkAxis + 2])]));
  };
  const at = (x: Tensor, i: number): Tensor => reshape(narrow(x, 0, i, 1), x.shape.slice(1));
  const [kC, vC, qC] = [stream.k, stream.v, stream.q].map((x) => chunkFirst(x, false)) as [Tensor, Tensor, Tensor];
  const [etaC, alphaC, thetaC] = [gates.eta, gates.alpha, stream.theta].map((x) => chunkFirst(x, true)) as [Tensor, Tensor, Tensor];
  const deltaC = stream.delta ? chunkFirst(stream.delta, true) : undefined;
  // Gate coefficients for a group of chunks at a time (they do not depend on the weights;
  // groups of ~4096 tokens keep their O(tokens x chunk) memory bounded).
  const group = Math.max(1, Math.floor(COEFFICIENT_GROUP_TOKENS / b));
  // Without a gradient graph to keep, each chunk's intermediates are freed as it ends, so
  // memory stays flat over the length of a call (outputs aside).
  const recording = isGradEnabled() && [...Object.values(stream), ...state.weights, ...state.momentum, ...(inputs.layerLearningRates ?? [])]
    .some((x) => typeof x === 'object' && x.requiresGrad);
  const scope = <T>(fn: () => T): T => (recording ? fn() : tidy(fn));

  let weights = [...state.weights];
  let levels = momentumLevels(state.momentum, layers);
  let coef: GroupCoefficients | null = null;
  const outputs: Tensor[] = [];
  const losses: Tensor[] = [];
  for (let i = 0; i < nChunks; i++) {
    const inGroup = i % group;
    if (inGroup === 0) {
      const count = Math.min(group, nChunks - i);
      const previous = coef;
      coef = scope(() => groupCoefficients(narrow(etaC, 0, i, count), narrow(alphaC, 0, i, count), momentumOrder));
      if (previous && !recording) disposeTree(previous);
    }
    const groupCoef = coef!;
    const complete = i < fullChunks;
    const step = scope(() => {
      const pick = (x: Tensor): Tensor => at(x, inGroup);
      const base = weights.map((w) => retain(rule.retention, w));
      const dc = deltaC ? unsqueeze(at(deltaC, i), -1) : undefined;
      const surprise = chunkSurprise(rule, base, at(kC, i), at(vC, i), dc, at(thetaC, i), inputs.layerLearningRates);
      const rows = { beta: pick(groupCoef.rows.beta), c: groupCoef.rows.c.map(pick), H: pick(groupCoef.rows.H) };
      const out = rule.retention.kind === 'l2'
        ? retrieveLowRank(rule, weights, levels, surprise, at(qC, i), rows)
        : retrieveMaterialized(rule, weights, levels, surprise, at(qC, i), { beta: pick(groupCoef.all.beta), c: groupCoef.all.c.map(pick), H: pick(groupCoef.all.H) });
      if (!complete) return { out, loss: surprise.loss, weights, levels };
      // End-of-chunk state: P^(b) and every momentum level S_j^(b).
      const end = groupCoef.end;
      const fromMomentum = (coefficients: readonly Tensor[], l: number): Tensor =>
        coefficients.map((c, n) => mul(levels[n]![l]!, pick(c))).reduce((sum, x) => add(sum, x));
      return {
        out,
        loss: surprise.loss,
        weights: weights.map((w, l) => sub(add(mul(w, pick(end.beta)), fromMomentum(end.c, l)), lowRankSum(surprise, l, pick(end.H)))),
        levels: levels.map((level, j) => level.map((_, l) => sub(fromMomentum(end.gamma[j]!, l), lowRankSum(surprise, l, pick(end.G[j]!))))),
      };
    });
    outputs.push(step.out);
    losses.push(step.loss);
    if (complete && !recording && i > 0) disposeTree([weights, levels]); // the previous chunk's state, made by this call
    weights = step.weights;
    levels = step.levels;
  }

  const join = (parts: Tensor[], axis: number): Tensor => (parts.length === 1 ? parts[0]! : concat(parts, axis));
  const all = join(outputs, -2); // [..., 2, tokens, d]: y_pre and y_post
  const loss = join(losses, -1);
  const read = (which: number): Tensor => reshape(narrow(narrow(all, -3, which, 1), -2, p, newTokens), [...lead, newTokens, d]);
  const result = { yPre: read(0), yPost: read(1), loss: narrow(loss, -1, p, newTokens) };
  if (!recording) disposeTree([coef!, kC, vC, qC, etaC, alphaC, thetaC, deltaC, ...(nChunks > 1 ? [outputs, losses] : [])]);
  return {
    ...result,
    state: { weights, momentum: levels.flat(), pending: pendingFrom(stream, fullChunks * b, remainder), position: state.position + newTokens },
  };
}

/** Tokens of gates whose chunk coefficients are computed in one batch. */
const COEFFICIENT_GROUP_TOKENS = 4096;

/** Disposes every tensor in a nested structure of arrays and plain objects. */
function disposeTree(value: unknown): void {
  if (value instanceof Tensor) value.dispose();
  else if (Array.isArray(value)) value.forEach(disposeTree);
  else if (typeof value === 'object' && value !== null) Object.values(value).forEach(disposeTree);
}

/** The coefficients of one chunk that retrieval needs, over times 0..b: beta [..., b+1], c[i] [..., b+1], H [..., b+1, b]. */
interface RetrievalCoefficients {
  readonly beta: Tensor;
  readonly c: readonly Tensor[];
  readonly H: Tensor;
}

/**
 * Retrieval rows: index 0 of the [2] axis reads P^(t) (y_pre, times 0..b-1), index 1 reads
 * P^(t+1) (y_post, times 1..b). beta and c[i] are [..., 2, b, 1], H [..., 2, b, b].
 */
type RetrievalRows = RetrievalCoefficients;

/**
 * The coefficients of a group of chunks, laid out chunk first ([chunks, ...lead, ...]) and
 * contiguous, so that picking one chunk is a view: the retrieval rows and the end-of-chunk
 * entries that the chunk loop needs.
 */
interface GroupCoefficients {
  readonly rows: RetrievalRows;
  /** Times 0..b (for retentions that materialise per-token weights). */
  readonly all: RetrievalCoefficients;
  /** Time b: beta, c[i], gamma[j][i] as [chunks, ...lead, 1, 1]; H and G[j] as [chunks, ...lead, b]. */
  readonly end: { beta: Tensor; c: Tensor[]; gamma: Tensor[][]; H: Tensor; G: Tensor[] };
}

function groupCoefficients(eta: Tensor, alpha: Tensor, momentumOrder: number): GroupCoefficients {
  const coef = chunkCoefficients(eta, alpha, momentumOrder);
  const b = eta.shape[eta.ndim - 1]!;
  const bothTimes = (x: Tensor): Tensor => unsqueeze(stack([narrow(x, -1, 0, b), narrow(x, -1, 1, b)], -2), -1);
  const lastTime = (x: Tensor): Tensor => unsqueeze(contiguous(narrow(x, -1, b, 1)), -1);
  const lastRow = (x: Tensor): Tensor => reshape(contiguous(narrow(x, -2, b, 1)), [...x.shape.slice(0, -2), b]);
  return {
    rows: {
      beta: bothTimes(coef.beta),
      c: coef.c.map(bothTimes),
      H: stack([narrow(coef.H, -2, 0, b), narrow(coef.H, -2, 1, b)], -3),
    },
    all: { beta: coef.beta, c: [...coef.c], H: contiguous(coef.H) },
    end: {
      beta: lastTime(coef.beta),
      c: coef.c.map(lastTime),
      gamma: coef.gamma.map((level) => level.map(lastTime)),
      H: lastRow(coef.H),
      G: coef.G.map(lastRow),
    },
  };
}

/**
 * Retrieval at queries X through per-token weights without forming them (L2 retention):
 * layer l computes  Z = diag(beta) X W0^T + sum_i diag(c_i) X S_i0^T - (H o (X A^T)) (theta o Delta),
 * for y_pre and y_post at once (the [2] axis); the first layer's products with the queries
 * are shared by both. Returns [..., 2, b, d].
 */
function retrieveLowRank(
  rule: MemoryRule, weights: readonly Tensor[], levels: readonly (readonly Tensor[])[], surprise: ChunkSurprise, q: Tensor,
  rows: RetrievalRows,
): Tensor {
  const b = q.shape[q.ndim - 2]!;
  // x is [..., r, b, in] with r = 1 (the queries) or 2 (y_pre and y_post rows); products
  // run on the merged [..., r b, in] rows so the weights are never broadcast (copied).
  const layer = (x: Tensor, l: number): Tensor => {
    const outer = x.shape.slice(0, -3);
    const r = x.shape[x.ndim - 3]!;
    const flat = reshape(x, [...outer, r * b, x.shape[x.ndim - 1]!]);
    const product = (w: Tensor): Tensor => reshape(matmul(flat, transpose(w)), [...outer, r, b, w.shape[w.ndim - 2]!]);
    let z = mul(product(weights[l]!), rows.beta);
    levels.forEach((level, i) => { z = add(z, mul(product(level[l]!), rows.c[i]!)); });
    const scores = mul(rows.H, product(surprise.inputs[l]!)); // [..., 2, b, b]
    const update = matmul(reshape(scores, [...outer, 2 * b, b]), surprise.scaled[l]!);
    return sub(z, reshape(update, [...outer, 2, b, update.shape[update.ndim - 1]!]));
  };
  const x0 = unsqueeze(q, -3);
  let z = layer(x0, 0);
  for (let l = 1; l < weights.length; l++) z = layer(activate(rule.architecture, z), l);
  return finish(rule.architecture, x0, z);
}

/** Retrieval through explicitly formed per-token weights (for retentions non-linear in P). Returns [..., 2, b, d]. */
function retrieveMaterialized(
  rule: MemoryRule, weights: readonly Tensor[], levels: readonly (readonly Tensor[])[], surprise: ChunkSurprise, q: Tensor,
  coef: RetrievalCoefficients,
): Tensor {
  const b = q.shape[q.ndim - 2]!;
  const perTime = (x: Tensor): Tensor => unsqueeze(unsqueeze(x, -1), -1); // [..., b+1, 1, 1]
  // Accumulators at times 0..b, [..., b+1, out, in] = beta_t W0 + sum_i c_i[t] S_i0 - sum_s H[t,s] scaled_s input_s^T,
  // then the y_pre (0..b-1) and y_post (1..b) windows as [..., 2, b, out, in].
  const perToken = weights.map((w, l) => {
    const lowRank = matmul(mul(unsqueeze(transpose(surprise.scaled[l]!), -3), unsqueeze(coef.H, -2)), unsqueeze(surprise.inputs[l]!, -3));
    let accumulator = mul(unsqueeze(w, -3), perTime(coef.beta));
    levels.forEach((level, i) => { accumulator = add(accumulator, mul(unsqueeze(level[l]!, -3), perTime(coef.c[i]!))); });
    const retained = retain(rule.retention, sub(accumulator, lowRank));
    return stack([narrow(retained, -3, 0, b), narrow(retained, -3, 1, b)], -4);
  });
  let x = reshape(q, [...q.shape.slice(0, -2), 1, b, 1, q.shape[q.ndim - 1]!]); // one query row per token
  let z: Tensor = x;
  perToken.forEach((w, l) => {
    z = matmul(x, transpose(w)); // [..., 2, b, 1, out]
    if (l < perToken.length - 1) x = activate(rule.architecture, z);
  });
  const out = reshape(z, [...z.shape.slice(0, -2), z.shape[z.ndim - 1]!]); // [..., 2, b, out]
  return finish(rule.architecture, unsqueeze(q, -3), out);
}

/** Drops the gradient graph of a state (between training segments, or for storage). */
export function detachState(state: MemoryState): MemoryState {
  return noGrad(() => ({
    weights: state.weights.map((w) => w.detach()),
    momentum: state.momentum.map((s) => s.detach()),
    pending: state.pending
      ? {
        k: state.pending.k.detach(), v: state.pending.v.detach(), theta: state.pending.theta.detach(),
        eta: state.pending.eta.detach(), alpha: state.pending.alpha.detach(),
        ...(state.pending.delta ? { delta: state.pending.delta.detach() } : {}),
      }
      : null,
    position: state.position,
  }));
}

/**
 * The weights the memory holds right now, P^(position), including the tokens of a
 * pending partial chunk (a sequence shorter than a chunk is still stored).
 * `layerLearningRates` are the multipliers of `MemoryInputs` (needed when the rule uses them).
 */
export function currentWeights(rule: MemoryRule, state: MemoryState, layerLearningRates?: readonly Tensor[]): Tensor[] {
  const pend = state.pending;
  if (!pend) return state.weights.map((w) => retain(rule.retention, w));
  if (ruleKnobs(rule).layerLearningRates && !layerLearningRates) throw new Error('memory: rule.layerLearningRates is on: pass layerLearningRates to read a state with a pending chunk');
  const b = rule.chunkSize;
  const layers = state.weights.length;
  const p = pend.k.shape[pend.k.ndim - 2]!;
  const lead = pend.k.shape.slice(0, -2);
  const gates = effectiveGates(rule, pend);
  const coef = chunkCoefficients(padTokens(gates.eta, -1, b - p), padTokens(gates.alpha, -1, b - p), ruleKnobs(rule).momentumOrder);
  const base = state.weights.map((w) => retain(rule.retention, w));
  const surprise = chunkSurprise(rule, base, pend.k, pend.v, pend.delta ? unsqueeze(pend.delta, -1) : undefined, pend.theta, layerLearningRates);
  const at = (x: Tensor): Tensor => unsqueeze(narrow(x, -1, p, 1), -1); // time p, [..., 1, 1]
  const hRow = reshape(narrow(narrow(coef.H, -2, p, 1), -1, 0, p), [...lead, p]);
  const levels = momentumLevels(state.momentum, layers);
  return state.weights.map((w, l) => {
    let accumulator = mul(w, at(coef.beta));
    levels.forEach((level, i) => { accumulator = add(accumulator, mul(level[l]!, at(coef.c[i]!))); });
    return retain(rule.retention, sub(accumulator, lowRankSum(surprise, l, hRow)));
  });
}

/** Reads the memory at queries q [..., T, d] with its current weights (no update). */
export function readMemory(rule: MemoryRule, state: MemoryState, q: Tensor, layerLearningRates?: readonly Tensor[]): Tensor {
  return apply(rule.architecture, currentWeights(rule, state, layerLearningRates), q);
}
