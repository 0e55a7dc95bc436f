// The neural memory over a sequence: the per-token reference loop and the chunked
// parallel form (Titans section 3.2). Both compute exactly the recurrence of
// shared/spec/neural-memory.md:
//
//   u_t     = grad_P l(P^(base(t)); k_t, v_t)      surprise at the chunk's start weights
//   S^(t+1) = eta_t S^(t) - theta_t u_t             Eq. 10: momentum over surprise
//   P^(t+1) = (1 - alpha_t) P^(t) + S^(t+1)          Eq. 13: forgetting as weight decay
//   y_pre_t = M(P^(t); q_t),  y_post_t = M(P^(t+1); q_t)
//
// With a non-L2 retention (Miras), P is an accumulator and the weights used are R(P).
import {
  abs, add, concat, div, expand, full, linearScan, matmul, maximum, mul, narrow, noGrad, pow, relu, reshape, sign, softmax,
  sqrt, square, sub, sum, tensor, transpose, unsqueeze, valueAndGrad, zeros, type Tensor,
} from '@titans/tensor';
import type { MemoryRule, Retention } from './config.js';
import { activate, apply, biasLoss, finish, forward, surpriseClampFactor, tokenGradients } from './network.js';

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
}

/**
 * The memory between calls: weights and momentum at the start of the current chunk,
 * the tokens of that chunk seen so far (a chunk is completed by the next call), and
 * the absolute position.
 */
export interface MemoryState {
  readonly weights: readonly Tensor[];
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

/** A fresh state from initial weights (momentum zero). */
export function initialState(weights: readonly Tensor[]): MemoryState {
  return { weights, momentum: weights.map((w) => zeros(w.shape, { dtype: w.dtype, backend: w.backend })), pending: null, position: 0 };
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

function checkInputs(inputs: MemoryInputs, state: MemoryState): void {
  const { k, v, q, theta, eta, alpha } = inputs;
  const t = k.shape[k.ndim - 2];
  const describe = (name: string, x: Tensor): string => `${name} [${x.shape.join(', ')}]`;
  for (const [name, x] of [['v', v], ['q', q]] as const) {
    if (x.ndim !== k.ndim || x.shape[x.ndim - 2] !== t) throw new Error(`memory: ${describe(name, x)} does not match ${describe('k', k)}`);
  }
  for (const [name, x] of [['theta', theta], ['eta', eta], ['alpha', alpha]] as const) {
    if (x.ndim !== k.ndim - 1 || x.shape[x.ndim - 1] !== t) throw new Error(`memory: gate ${describe(name, x)} must be [..., ${t}] to match ${describe('k', k)}`);
  }
  if (state.weights.length === 0) throw new Error('memory: the state has no weights');
}

// ---------------------------------------------------------------- the reference loop

/**
 * The recurrence token by token, with u_t taken by autograd (not by the hand-derived
 * formulas of the parallel form): the readable reference the fast path is tested against.
 */
export function scanLoop(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState): MemoryOutputs {
  checkInputs(inputs, state);
  if (state.pending) throw new Error('scanLoop: takes a state without a pending chunk (the loop has none)');
  const { eta, alpha } = effectiveGates(rule, inputs);
  const arch = rule.architecture;
  const t = inputs.k.shape[inputs.k.ndim - 2]!;
  const token = (x: Tensor, i: number): Tensor => narrow(x, -2, i, 1);
  const gate = (x: Tensor, i: number): Tensor => unsqueeze(narrow(x, -1, i, 1), -1);
  const lead = inputs.k.shape.slice(0, -2);
  // Every sequence and head has its own memory: broadcast shared initial weights out.
  const toLead = (w: Tensor): Tensor => expand(w, [...lead, ...w.shape.slice(-2)]);
  let acc = state.weights.map(toLead);
  let mom = state.momentum.map(toLead);
  let base: Tensor[] = acc.map((a) => retain(rule.retention, a));
  const yPre: Tensor[] = [];
  const yPost: Tensor[] = [];
  const losses: Tensor[] = [];
  for (let i = 0; i < t; i++) {
    if ((state.position + i) % rule.chunkSize === 0) base = acc.map((a) => retain(rule.retention, a));
    const k = token(inputs.k, i);
    const v = token(inputs.v, i);
    const delta = inputs.delta ? unsqueeze(narrow(inputs.delta, -1, i, 1), -1) : undefined;
    const tokenLoss = (weights: Tensor[]): Tensor => sum(biasLoss(rule.bias, apply(arch, weights, k), v, delta).loss);
    const [, grads] = valueAndGrad(tokenLoss)(base);
    let u = grads;
    if (rule.maxSurpriseNorm > 0) {
      const norm = sqrt(add(u.reduce((s: Tensor | null, g) => { const n = sum(square(g), [-2, -1], true); return s ? add(s, n) : n; }, null)!, 1e-30));
      const factor = div(rule.maxSurpriseNorm, maximum(norm, rule.maxSurpriseNorm));
      u = u.map((g) => mul(g, factor));
    }
    losses.push(biasLoss(rule.bias, apply(arch, base, k), v, delta).loss);
    const current = acc.map((a) => retain(rule.retention, a));
    const q = token(inputs.q, i);
    yPre.push(apply(arch, current, q));
    mom = mom.map((s, l) => sub(mul(s, gate(eta, i)), mul(u[l]!, gate(inputs.theta, i))));
    acc = acc.map((a, l) => add(mul(a, sub(1, gate(alpha, i))), mom[l]!));
    yPost.push(apply(arch, acc.map((a) => retain(rule.retention, a)), q));
  }
  return {
    yPre: concat(yPre, -2),
    yPost: concat(yPost, -2),
    loss: concat(losses, -1),
    state: { weights: acc, momentum: mom, pending: null, position: state.position + t },
  };
}

// ---------------------------------------------------------------- the chunked parallel form

/**
 * Coefficients of a chunk of b tokens, for times t = 0..b (t = local index; P^(t) is the
 * state before local token t):
 *   P^(t) = beta_t P0 + c_t S0 - sum_s H[t, s] theta_s u_s
 *   S^(t) = gamma_t S0 - sum_s G[t, s] theta_s u_s
 * Built with two linear scans (no logs or divisions, so gates of exactly 0 are fine).
 * Gates are [..., nChunks, b]; results [..., nChunks, b + 1, ...].
 */
export function chunkCoefficients(eta: Tensor, alpha: Tensor): { G: Tensor; H: Tensor; beta: Tensor; gamma: Tensor; c: Tensor } {
  const b = eta.shape[eta.ndim - 1]!;
  const lead = eta.shape.slice(0, -1);
  const zero = zeros([...lead, 1], { dtype: eta.dtype, backend: eta.backend });
  const aG = concat([zero, eta], -1); // aG_t = eta_{t-1}
  const aH = concat([zero, sub(1, alpha)], -1); // aH_t = 1 - alpha_{t-1}
  // Source column j (j < b: token j, j = b: the initial momentum) starts at time (j + 1) mod (b + 1).
  const n = b + 1;
  const src = new Float32Array(n * n);
  for (let j = 0; j < n; j++) src[j * n + ((j + 1) % n)] = 1;
  const sources = expand(tensor(src, [n, n], { dtype: eta.dtype, backend: eta.backend }), [...lead, n, n]);
  const G = linearScan(expand(unsqueeze(aG, -2), [...lead, n, n]), sources, -1); // [..., column, time]
  const H = linearScan(expand(unsqueeze(aH, -2), [...lead, n, n]), G, -1);
  const e0 = concat([full([...lead, 1], 1, { dtype: eta.dtype, backend: eta.backend }), zeros([...lead, b], { dtype: eta.dtype, backend: eta.backend })], -1);
  const beta = linearScan(aH, e0, -1);
  const gamma = reshape(narrow(G, -2, b, 1), [...lead, n]);
  const c = sub(reshape(narrow(H, -2, b, 1), [...lead, n]), beta);
  // Token columns as [..., time, token].
  return { G: transpose(narrow(G, -2, 0, b)), H: transpose(narrow(H, -2, 0, b)), beta, gamma, c };
}

/** Splits [..., T, ...rest] into chunks along `axis` (T a multiple of b). */
function chunked(x: Tensor, axis: number, b: number, index: number): Tensor {
  return narrow(x, axis, index * b, b);
}

function padTokens(x: Tensor, axis: number, extra: number): Tensor {
  if (extra === 0) return x;
  const shape = [...x.shape];
  const a = axis < 0 ? axis + x.ndim : axis;
  shape[a] = extra;
  return concat([x, zeros(shape, { dtype: x.dtype, backend: x.backend })], a);
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
export function scanParallel(rule: MemoryRule, inputs: MemoryInputs, state: MemoryState): MemoryOutputs {
  checkInputs(inputs, state);
  const b = rule.chunkSize;
  if (!Number.isInteger(b) || b < 1) throw new Error(`memory: chunkSize must be a positive integer, got ${b}`);
  const arch = rule.architecture;
  const newTokens = inputs.k.shape[inputs.k.ndim - 2]!;
  const p = state.pending ? state.pending.k.shape[state.pending.k.ndim - 2]! : 0;
  if (p > 0 && (state.position - p) % b !== 0) throw new Error('memory: pending chunk is misaligned with the position');
  const joinTokens = (pend: Tensor | undefined, x: Tensor, axis: number): Tensor => (pend && p > 0 ? concat([pend, x], axis) : x);
  const pend = state.pending;
  const k = joinTokens(pend?.k, inputs.k, -2);
  const v = joinTokens(pend?.v, inputs.v, -2);
  const q = p > 0 ? concat([zeros([...inputs.q.shape.slice(0, -2), p, inputs.q.shape[inputs.q.ndim - 1]!], { dtype: inputs.q.dtype, backend: inputs.q.backend }), inputs.q], -2) : inputs.q;
  const theta = joinTokens(pend?.theta, inputs.theta, -1);
  const gates = effectiveGates(rule, { eta: joinTokens(pend?.eta, inputs.eta, -1), alpha: joinTokens(pend?.alpha, inputs.alpha, -1) });
  const delta = inputs.delta ? joinTokens(pend?.delta, inputs.delta, -1) : undefined;

  const total = p + newTokens;
  const fullChunks = Math.floor(total / b);
  const remainder = total - fullChunks * b;
  const nChunks = fullChunks + (remainder > 0 ? 1 : 0);
  const padded = nChunks * b - total;
  const lead = inputs.k.shape.slice(0, -2);

  // Gate coefficients of every chunk at once (they do not depend on the weights).
  const chunkGates = (x: Tensor): Tensor => reshape(padTokens(x, -1, padded), [...lead, nChunks, b]);
  const coef = nChunks > 0 ? chunkCoefficients(chunkGates(gates.eta), chunkGates(gates.alpha)) : null;
  const thetaChunks = nChunks > 0 ? chunkGates(theta) : null;

  let weights = [...state.weights];
  let momentum = [...state.momentum];
  const yPre: Tensor[] = [];
  const yPost: Tensor[] = [];
  const losses: Tensor[] = [];
  const kP = padTokens(k, -2, padded);
  const vP = padTokens(v, -2, padded);
  const qP = padTokens(q, -2, padded);
  const deltaP = delta ? padTokens(delta, -1, padded) : undefined;
  const pick = (x: Tensor, i: number): Tensor => reshape(narrow(x, -3, i, 1), [...x.shape.slice(0, -3), ...x.shape.slice(-2)]);
  const pickVec = (x: Tensor, i: number): Tensor => reshape(narrow(x, -2, i, 1), [...x.shape.slice(0, -2), x.shape[x.ndim - 1]!]);

  for (let i = 0; i < nChunks; i++) {
    const kc = chunked(kP, -2, b, i);
    const vc = chunked(vP, -2, b, i);
    const qc = chunked(qP, -2, b, i);
    const dc = deltaP ? unsqueeze(chunked(deltaP, -1, b, i), -1) : undefined;
    const thetaC = pickVec(thetaChunks!, i); // [..., b]
    const G = pick(coef!.G, i); // [..., b+1, b]
    const H = pick(coef!.H, i);
    const beta = pickVec(coef!.beta, i); // [..., b+1]
    const gamma = pickVec(coef!.gamma, i);
    const c = pickVec(coef!.c, i);

    // Surprise of every token of the chunk, at the chunk-start weights.
    const base = weights.map((w) => retain(rule.retention, w));
    const cache = forward(arch, base, kc);
    const { loss, dOut } = biasLoss(rule.bias, cache.out, vc, dc);
    let deltas = tokenGradients(arch, base, cache, dOut);
    if (rule.maxSurpriseNorm > 0) {
      const factor = unsqueeze(surpriseClampFactor(deltas, cache.inputs, rule.maxSurpriseNorm), -1);
      deltas = deltas.map((d) => mul(d, factor));
    }
    // theta_s folded into the token factors: the update of token s is -theta_s delta_s (x) input_s.
    const scaled = deltas.map((d) => mul(d, unsqueeze(thetaC, -1)));

    const rows = (x: Tensor, from: number): Tensor => narrow(x, -2, from, b);
    const entries = (x: Tensor, from: number): Tensor => narrow(x, -1, from, b);
    const retrieveAt = (from: number): Tensor => {
      if (rule.retention.kind === 'l2') {
        return retrieveLowRank(rule, weights, momentum, cache.inputs, scaled, qc, entries(beta, from), entries(c, from), rows(H, from));
      }
      return retrieveMaterialized(rule, weights, momentum, cache.inputs, scaled, qc, entries(beta, from), entries(c, from), rows(H, from));
    };
    yPre.push(retrieveAt(0));
    yPost.push(retrieveAt(1));
    losses.push(loss);

    const isComplete = i < fullChunks;
    if (isComplete) {
      // End-of-chunk state: P^(b) and S^(b).
      const hEnd = reshape(narrow(H, -2, b, 1), [...lead, b]);
      const gEnd = reshape(narrow(G, -2, b, 1), [...lead, b]);
      const bEnd = unsqueeze(narrow(beta, -1, b, 1), -1);
      const cEnd = unsqueeze(narrow(c, -1, b, 1), -1);
      const gammaEnd = unsqueeze(narrow(gamma, -1, b, 1), -1);
      const updateSum = (coefficients: Tensor, l: number): Tensor =>
        matmul(transpose(mul(scaled[l]!, unsqueeze(coefficients, -1))), cache.inputs[l]!); // sum_s coef_s theta_s delta_s input_s^T
      const nextWeights = weights.map((w, l) => sub(add(mul(w, bEnd), mul(momentum[l]!, cEnd)), updateSum(hEnd, l)));
      const nextMomentum = momentum.map((s, l) => sub(mul(s, gammaEnd), updateSum(gEnd, l)));
      weights = nextWeights;
      momentum = nextMomentum;
    }
  }

  const keepFrom = p;
  const trim = (x: Tensor, axis: number): Tensor => narrow(x, axis, keepFrom, newTokens);
  const pendingCount = remainder;
  const pending: PendingChunk | null = pendingCount > 0
    ? {
      k: narrow(k, -2, fullChunks * b, pendingCount),
      v: narrow(v, -2, fullChunks * b, pendingCount),
      theta: narrow(theta, -1, fullChunks * b, pendingCount),
      eta: narrow(joinTokens(pend?.eta, inputs.eta, -1), -1, fullChunks * b, pendingCount),
      alpha: narrow(joinTokens(pend?.alpha, inputs.alpha, -1), -1, fullChunks * b, pendingCount),
      ...(delta ? { delta: narrow(delta, -1, fullChunks * b, pendingCount) } : {}),
    }
    : null;
  const emptyOut = (): Tensor => zeros([...lead, 0, inputs.q.shape[inputs.q.ndim - 1]!], { dtype: inputs.q.dtype, backend: inputs.q.backend });
  return {
    yPre: nChunks > 0 ? trim(narrow(concat(yPre, -2), -2, 0, total), -2) : emptyOut(),
    yPost: nChunks > 0 ? trim(narrow(concat(yPost, -2), -2, 0, total), -2) : emptyOut(),
    loss: nChunks > 0 ? trim(narrow(concat(losses, -1), -1, 0, total), -1) : zeros([...lead, 0], { dtype: inputs.k.dtype, backend: inputs.k.backend }),
    state: { weights, momentum, pending, position: state.position + newTokens },
  };
}

/**
 * Retrieval at queries X through per-token weights without forming them (L2 retention):
 * layer l computes  Z = diag(beta) X W0^T + diag(c) X S0^T - (H o (X A^T)) (theta o Delta).
 */
function retrieveLowRank(
  rule: MemoryRule, weights: readonly Tensor[], momentum: readonly Tensor[], inputs: readonly Tensor[], scaled: readonly Tensor[],
  q: Tensor, beta: Tensor, c: Tensor, H: Tensor,
): Tensor {
  const betaCol = unsqueeze(beta, -1);
  const cCol = unsqueeze(c, -1);
  let x = q;
  let z: Tensor = q;
  weights.forEach((w, l) => {
    const fromStart = mul(matmul(x, transpose(w)), betaCol);
    const fromMomentum = mul(matmul(x, transpose(momentum[l]!)), cCol);
    const scores = mul(H, matmul(x, transpose(inputs[l]!))); // [..., tq, s]
    z = sub(add(fromStart, fromMomentum), matmul(scores, scaled[l]!));
    if (l < weights.length - 1) x = activateOf(rule, z);
  });
  return finishOf(rule, q, z);
}

/** Retrieval through explicitly formed per-token weights (for retentions non-linear in P). */
function retrieveMaterialized(
  rule: MemoryRule, weights: readonly Tensor[], momentum: readonly Tensor[], inputs: readonly Tensor[], scaled: readonly Tensor[],
  q: Tensor, beta: Tensor, c: Tensor, H: Tensor,
): Tensor {
  const b4 = unsqueeze(unsqueeze(beta, -1), -1); // [..., t, 1, 1]
  const c4 = unsqueeze(unsqueeze(c, -1), -1);
  // Per-token accumulators [..., t, out, in] = beta_t W0 + c_t S0 - sum_s H[t,s] delta_s input_s^T.
  const perToken = weights.map((w, l) => {
    const lowRank = matmul(mul(unsqueeze(transpose(scaled[l]!), -3), unsqueeze(H, -2)), unsqueeze(inputs[l]!, -3));
    return retain(rule.retention, sub(add(mul(unsqueeze(w, -3), b4), mul(unsqueeze(momentum[l]!, -3), c4)), lowRank));
  });
  let x = unsqueeze(q, -2); // [..., t, 1, d]
  let z: Tensor = x;
  perToken.forEach((w, l) => {
    z = matmul(x, transpose(w));
    if (l < perToken.length - 1) x = activateOf(rule, z);
  });
  const out = reshape(z, [...q.shape.slice(0, -1), z.shape[z.ndim - 1]!]);
  return finishOf(rule, q, out);
}

function activateOf(rule: MemoryRule, z: Tensor): Tensor {
  return activate(rule.architecture, z);
}
function finishOf(rule: MemoryRule, x: Tensor, f: Tensor): Tensor {
  return finish(rule.architecture, x, f);
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
 */
export function currentWeights(rule: MemoryRule, state: MemoryState): Tensor[] {
  const pend = state.pending;
  if (!pend) return state.weights.map((w) => retain(rule.retention, w));
  const arch = rule.architecture;
  const b = rule.chunkSize;
  const p = pend.k.shape[pend.k.ndim - 2]!;
  const lead = pend.k.shape.slice(0, -2);
  const gates = effectiveGates(rule, { eta: pend.eta, alpha: pend.alpha });
  const coef = chunkCoefficients(padTokens(gates.eta, -1, b - p), padTokens(gates.alpha, -1, b - p));
  const base = state.weights.map((w) => retain(rule.retention, w));
  const cache = forward(arch, base, pend.k);
  const { dOut } = biasLoss(rule.bias, cache.out, pend.v, pend.delta ? unsqueeze(pend.delta, -1) : undefined);
  let deltas = tokenGradients(arch, base, cache, dOut);
  if (rule.maxSurpriseNorm > 0) {
    const factor = unsqueeze(surpriseClampFactor(deltas, cache.inputs, rule.maxSurpriseNorm), -1);
    deltas = deltas.map((d) => mul(d, factor));
  }
  const hRow = reshape(narrow(narrow(coef.H, -2, p, 1), -1, 0, p), [...lead, p]);
  const betaP = unsqueeze(narrow(coef.beta, -1, p, 1), -1);
  const cP = unsqueeze(narrow(coef.c, -1, p, 1), -1);
  return state.weights.map((w, l) => {
    const scaled = mul(deltas[l]!, unsqueeze(mul(pend.theta, hRow), -1));
    const update = matmul(transpose(scaled), cache.inputs[l]!);
    return retain(rule.retention, sub(add(mul(w, betaP), mul(state.momentum[l]!, cP)), update));
  });
}

/** Reads the memory at queries q [..., T, d] with its current weights (no update). */
export function readMemory(rule: MemoryRule, state: MemoryState, q: Tensor): Tensor {
  return apply(rule.architecture, currentWeights(rule, state), q);
}
