// Delta Gradient Descent (DGD), the inner optimizer of Hope (Behrouz et al., "Nested
// Learning", arXiv 2512.24695 v1, Section "Delta Gradient Descent"; the table in
// apps/docs/concepts/hope.md). Gradient descent on the L2 regression form of a layer's
// associative-memory objective instead of its dot-product form: for a weight matrix W with
// input a_t and output gradient delta_t = d loss / d (W a_t),
//
//   W <- W (alpha_t I - eta_t a_t a_t^T) - eta_t delta_t a_t^T
//
// so the step depends on the current weights (the a a^T term erases what W stores along
// the current input) and not only on the gradient. alpha_t is the retention gate
// (alpha = 1: the paper's form without forgetting). For a memory network M(W; k) with the
// inner loss 1/2 ||M(W; k_t) - v_t||^2 every weight matrix takes this step with its own
// input and backpropagated delta (network.ts). A linear memory then takes
// W <- alpha W - 2 eta (W k) k^T + eta v k^T: with alpha = 1 and unit keys, the delta rule
// with beta = 2 eta writing v / 2.
//
// For an MLP memory the recurrence is token by token: delta_t and the hidden inputs a_t are
// nonlinear in W_t, so no chunk-parallel form is exact. A linear memory has one:
// W_(t+1) = W_t (alpha_t I - 2 eta_t k_t k_t^T) + eta_t v_t k_t^T is a product of
// scaled-identity-plus-rank-one factors, which `dgdChunked` computes a chunk at a time in
// WY form (the chunked delta rule). It streams without pending tokens: the state is the
// weights and the position. Three forms: `dgdLoop` (readable, one step and two reads per
// token), `dgdScan` (the same arithmetic with fewer kernels per token: see there) and
// `dgdChunked` (linear memories only, exact, chunk-parallel).
import {
  add, broadcastShapes, concat, contiguous, div, expand, linearScan, matmul, maximum, mul, narrow, neg, reshape, square, stack, sub, sum, tensor, transpose, unsqueeze, zeros, type Tensor,
} from '@titans/tensor';
import type { MemoryArchitecture } from './config.js';
import { apply, forward, tokenGradients, type ForwardCache } from './network.js';

/** Per-token inputs: leading axes [...] are batch x heads. */
export interface DgdInputs {
  /** Keys, values, queries [..., T, d]. */
  readonly k: Tensor;
  readonly v: Tensor;
  readonly q: Tensor;
  /** Step sizes eta_t and retention alpha_t [..., T]. */
  readonly eta: Tensor;
  readonly alpha: Tensor;
}

export interface DgdState {
  /** Weights W_l [..., out, in] of the memory network (network.ts layout). */
  readonly weights: readonly Tensor[];
  readonly position: number;
}

export interface DgdOutputs {
  /** M(W_t; q_t), read before token t's update [..., T, d]. */
  readonly yPre: Tensor;
  /** M(W_(t+1); q_t), read after it. */
  readonly yPost: Tensor;
  readonly state: DgdState;
}

/**
 * The step size of weight matrix l for input rows a [..., 1, in] when the step is
 * normalised (`normalizeStep`): eta / max(1, ||a||^2), the normalised-LMS step. The
 * self-term W (alpha I - 2 eta a a^T) of an L2 step on a layer with input a has the
 * eigenvalue alpha - 2 eta ||a||^2 along a; dividing eta by max(1, ||a||^2) keeps it in
 * [alpha - 2 eta, alpha] for inputs of any norm (a hidden layer's input is not a unit
 * vector), and leaves unit-input layers' steps as they were.
 */
export function normalizedEta(eta: Tensor, a: Tensor): Tensor {
  return div(eta, maximum(sum(square(a), -1, true), 1));
}

/**
 * One DGD step of every weight matrix for one token: rows k, v [..., 1, d], eta, alpha
 * [..., 1, 1]. `normalizeStep` divides each matrix's eta by max(1, ||a_l||^2) (`normalizedEta`).
 */
export function dgdStep(arch: MemoryArchitecture, weights: readonly Tensor[], k: Tensor, v: Tensor, eta: Tensor, alpha: Tensor, normalizeStep = false): Tensor[] {
  const cache = forward(arch, weights, k);
  const deltas = tokenGradients(arch, weights, cache, sub(cache.out, v)); // d/dout of 1/2 ||M(k) - v||^2
  return weights.map((w, l) => {
    const a = cache.inputs[l]!; // [..., 1, in]
    const decay = matmul(matmul(w, transpose(a, -1, -2)), a); // (W a) a^T
    const grad = matmul(transpose(deltas[l]!, -1, -2), a); // delta a^T
    return sub(mul(w, alpha), mul(normalizeStep ? normalizedEta(eta, a) : eta, decay.add(grad)));
  });
}

function checkDgdInputs(name: string, inputs: DgdInputs): number {
  const t = inputs.k.shape[inputs.k.ndim - 2]!;
  for (const key of ['v', 'q'] as const) {
    const x = inputs[key];
    if (x.shape.length !== inputs.k.shape.length || x.shape.some((n, i) => n !== inputs.k.shape[i])) {
      throw new Error(`${name}: ${key} [${x.shape.join(', ')}] must have the shape of k [${inputs.k.shape.join(', ')}]`);
    }
  }
  for (const key of ['eta', 'alpha'] as const) {
    const x = inputs[key];
    if (x.shape[x.ndim - 1] !== t) throw new Error(`${name}: ${key} [${x.shape.join(', ')}] must end with the ${t} tokens of k`);
  }
  return t;
}

/** No tokens: fresh empty tensors (narrow of an empty axis would return q itself, twice). */
const empty = (q: Tensor): Tensor => zeros(q.shape, { dtype: q.dtype, backend: q.backend });

/**
 * The readable reference: DGD over T tokens from `state`, one `dgdStep` and two reads
 * (before, yPre, and after, yPost, each update) per token. `dgdScan` is the fast form.
 */
export function dgdLoop(arch: MemoryArchitecture, inputs: DgdInputs, state: DgdState): DgdOutputs {
  const t = checkDgdInputs('dgdLoop', inputs);
  let weights = state.weights;
  const pre: Tensor[] = [];
  const post: Tensor[] = [];
  const row = (x: Tensor, i: number): Tensor => narrow(x, -2, i, 1);
  const gate = (x: Tensor, i: number): Tensor => unsqueeze(narrow(x, -1, i, 1), -1);
  for (let i = 0; i < t; i++) {
    const q = row(inputs.q, i);
    pre.push(apply(arch, weights, q));
    weights = dgdStep(arch, weights, row(inputs.k, i), row(inputs.v, i), gate(inputs.eta, i), gate(inputs.alpha, i));
    post.push(apply(arch, weights, q));
  }
  const join = (xs: Tensor[]): Tensor => (xs.length === 0 ? empty(inputs.q) : xs.length === 1 ? xs[0]! : concat(xs, -2));
  return { yPre: join(pre), yPost: join(post), state: { weights, position: state.position + t } };
}

/**
 * The DGD update of every weight matrix from a forward cache of one token row (key k):
 * W <- alpha W - (eta ((W a)^T + delta^T))^T a. (W a)^T is the forward's pre-activation
 * row, so the step costs one outer product per matrix (the readable form computes
 * (W a) a^T and delta a^T as two). `target` is the value row v; `normalizeStep` as in `dgdStep`.
 */
export function dgdUpdate(arch: MemoryArchitecture, weights: readonly Tensor[], cache: ForwardCache, target: Tensor, eta: Tensor, alpha: Tensor, normalizeStep = false): Tensor[] {
  const deltas = tokenGradients(arch, weights, cache, sub(cache.out, target));
  return weights.map((w, l) => {
    const u = mul(add(cache.pre[l]!, deltas[l]!), normalizeStep ? normalizedEta(eta, cache.inputs[l]!) : eta); // [..., 1, out]
    return sub(mul(w, perMatrix(alpha, w)), matmul(transpose(u, -1, -2), cache.inputs[l]!));
  });
}

/**
 * A gate [..., 1, 1] laid out with one contiguous entry per matrix of w [..., out, in]
 * (the leading axes broadcast), so `w * gate` runs as rows x scalar instead of a general
 * broadcast over stride-0 axes.
 */
function perMatrix(gate: Tensor, w: Tensor): Tensor {
  const lead = broadcastShapes('dgd', w.shape.slice(0, -2), gate.shape.slice(0, -2));
  const shape = [...lead, 1, 1];
  if (gate.isContiguous() && gate.shape.length === shape.length && gate.shape.every((n, i) => n === shape[i])) return gate;
  return contiguous(expand(gate, shape));
}

/** The rows [from, from + 1) of every tensor of a forward cache (rows on axis -2). */
export function cacheRow(cache: ForwardCache, from: number): ForwardCache {
  const row = (x: Tensor): Tensor => narrow(x, -2, from, 1);
  return { inputs: cache.inputs.map(row), pre: cache.pre.map(row), out: row(cache.out) };
}

/**
 * Runs DGD over T tokens from `state`; reads before (yPre) and after (yPost) each update.
 * Per token one forward of the memory at W_t over three rows: q_(t-1) (yPost of the token
 * before), q_t (yPre) and k_t (the step's forward), then `dgdUpdate`; one more read of
 * q_(T-1) at the end. Equal to `dgdLoop` up to rounding (the same products, grouped
 * differently).
 */
export function dgdScan(arch: MemoryArchitecture, inputs: DgdInputs, state: DgdState): DgdOutputs {
  const t = checkDgdInputs('dgdScan', inputs);
  if (t === 0) return { yPre: empty(inputs.q), yPost: empty(inputs.q), state: { weights: state.weights, position: state.position } };
  const { k, v, q } = inputs;
  const lead = q.shape.slice(0, -2);
  const d = q.shape[q.ndim - 1]!;
  // rows[..., i, :, :] = [q_(i-1), q_i, k_i] (q_(-1) = 0, its read is dropped).
  const qPrev = t === 1 ? empty(narrow(q, -2, 0, 1)) : concat([empty(narrow(q, -2, 0, 1)), narrow(q, -2, 0, t - 1)], -2);
  const rows = stack([qPrev, q, k], -2); // [..., T, 3, d]
  const at = (x: Tensor, i: number): Tensor => reshape(narrow(x, -3, i, 1), [...lead, 3, d]);
  const gate = (x: Tensor, i: number): Tensor => unsqueeze(narrow(x, -1, i, 1), -1);
  let weights = state.weights;
  const reads: Tensor[] = [];
  for (let i = 0; i < t; i++) {
    const cache = forward(arch, weights, at(rows, i));
    reads.push(cache.out);
    weights = dgdUpdate(arch, weights, cacheRow(cache, 2), narrow(v, -2, i, 1), gate(inputs.eta, i), gate(inputs.alpha, i));
  }
  const last = apply(arch, weights, narrow(q, -2, t - 1, 1));
  const all = reads.length === 1 ? unsqueeze(reads[0]!, -3) : stack(reads, -3); // [..., T, 3, d]
  const column = (j: number): Tensor => reshape(narrow(all, -2, j, 1), [...all.shape.slice(0, -3), t, d]);
  const yPre = column(1);
  const yPost = t === 1 ? last : concat([narrow(column(0), -2, 1, t - 1), last], -2);
  return { yPre, yPost, state: { weights, position: state.position + t } };
}

/**
 * The decay coefficients of one chunk of C tokens with retention alpha [..., C]: g [..., C + 1]
 * with g_t = alpha_0 ... alpha_(t-1) (g_0 = 1), and D [..., C + 1, C] with
 * D[t][s] = alpha_(s+1) ... alpha_(t-1) for t > s (the decay of token s's write by time t),
 * 0 for t <= s. One linear scan over an identity of sources: no logarithms or divisions, so
 * alpha = 0 is exact.
 */
function chunkDecay(alpha: Tensor): { g: Tensor; D: Tensor } {
  const c = alpha.shape[alpha.ndim - 1]!;
  const lead = alpha.shape.slice(0, -1);
  const like = { dtype: alpha.dtype, backend: alpha.backend };
  const times = c + 1;
  // Times 0..C; column 0 starts at time 0 (the chunk-start weights), column s + 1 at time s + 1 (token s's write).
  const a = concat([zeros([...lead, 1], like), alpha], -1); // a_t = alpha_(t-1)
  const identity = new Array<number>(times * times).fill(0);
  for (let i = 0; i < times; i++) identity[i * times + i] = 1;
  const sources = expand(tensor(identity, [times, times], like), [...lead, times, times]);
  const r = transpose(linearScan(expand(unsqueeze(a, -2), [...lead, times, times]), sources, -1)); // [..., time, column]
  return { g: reshape(narrow(r, -1, 0, 1), [...lead, times]), D: narrow(r, -1, 1, c) };
}

/**
 * (I - N)^(-1) x for a strictly lower-triangular N [..., C, C] and x [..., C, n]: the
 * Neumann series I + N + ... + N^(C-1), exact because N^C = 0, as the product
 * (I + N)(I + N^2)(I + N^4)... of ceil(log2 C) factors: two C x C products per factor
 * instead of C dependent rows. Differentiable (matrix products and sums only).
 */
function unitLowerSolve(n: Tensor, x: Tensor): Tensor {
  const c = n.shape[n.ndim - 1]!;
  let power = n;
  let out = x;
  for (let span = 1; span < c; span *= 2) {
    out = add(out, matmul(power, out));
    if (span * 2 < c) power = matmul(power, power);
  }
  return out;
}

/**
 * DGD on a linear memory, a chunk of `chunkSize` tokens at a time, exactly: the same
 * outputs and state as `dgdLoop` / `dgdScan` up to rounding (the chunk size changes only the
 * grouping of the products; it is not an approximation and not a model choice).
 *
 * With b_t = 2 eta_t and u_t = eta_t v_t the step is W_(t+1) = alpha_t W_t + e_t k_t^T with
 * e_t = u_t - b_t W_t k_t. In a chunk starting at W_0, W_t = g_t W_0 + sum_(s<t) D[t][s] e_s k_s^T
 * (`chunkDecay`), so the writes E = [e_t] solve the unit lower-triangular system
 * e_t + b_t sum_(s<t) D[t][s] (k_t . k_s) e_s = u_t - b_t g_t W_0 k_t (`unitLowerSolve`); then
 * yPre_t = g_t W_0 q_t + sum_(s<t) D[t][s] (q_t . k_s) e_s, yPost_t the same at t + 1 (s <= t),
 * and the next chunk starts at g_C W_0 + sum_s D[C][s] e_s k_s^T. Keys need not be unit.
 * Linear memories only (depth 1, no residual, no norm): `dgdScan` runs the others.
 */
export function dgdChunked(arch: MemoryArchitecture, inputs: DgdInputs, state: DgdState, chunkSize = 64): DgdOutputs {
  if (arch.depth !== 1 || arch.residual || arch.norm) {
    throw new Error('dgdChunked: a chunk-parallel DGD is exact only for a linear memory (depth 1, no residual, no norm); use dgdScan for this architecture');
  }
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`dgdChunked: chunkSize must be a positive integer, got ${chunkSize}`);
  if (state.weights.length !== 1) throw new Error(`dgdChunked: a linear memory has one weight matrix, got ${state.weights.length}`);
  const t = checkDgdInputs('dgdChunked', inputs);
  if (t === 0) return { yPre: empty(inputs.q), yPost: empty(inputs.q), state: { weights: state.weights, position: state.position } };
  let w = state.weights[0]!; // [..., dv, dk]
  const pre: Tensor[] = [];
  const post: Tensor[] = [];
  for (let start = 0; start < t; start += chunkSize) {
    const c = Math.min(chunkSize, t - start);
    const rows = (x: Tensor): Tensor => narrow(x, -2, start, c);
    const k = rows(inputs.k);
    const v = rows(inputs.v);
    const q = rows(inputs.q);
    const eta = narrow(inputs.eta, -1, start, c);
    const { g, D } = chunkDecay(narrow(inputs.alpha, -1, start, c));
    const b = mul(eta, 2); // [..., C]
    const col = (x: Tensor): Tensor => unsqueeze(x, -1);
    const wT = transpose(w, -1, -2); // [..., dk, dv]
    const dTok = narrow(D, -2, 0, c); // D[t][s], t = 0..C-1
    const dNext = narrow(D, -2, 1, c); // D[t + 1][s]
    const gTok = narrow(g, -1, 0, c);
    const gNext = narrow(g, -1, 1, c);
    const kk = matmul(k, transpose(k, -1, -2)); // [..., C, C]
    const n = neg(mul(mul(col(b), dTok), kk)); // strictly lower: D[t][s] = 0 for s >= t
    const rhs = sub(mul(col(eta), v), mul(col(mul(b, gTok)), matmul(k, wT))); // [..., C, dv]
    const e = unitLowerSolve(n, rhs);
    const qk = matmul(q, transpose(k, -1, -2)); // q_t . k_s
    const wq = matmul(q, wT);
    pre.push(add(mul(col(gTok), wq), matmul(mul(dTok, qk), e)));
    post.push(add(mul(col(gNext), wq), matmul(mul(dNext, qk), e)));
    const last = narrow(D, -2, c, 1); // [..., 1, C]: D[C][s]
    const gLast = unsqueeze(narrow(g, -1, c, 1), -1); // [..., 1, 1]
    w = add(mul(w, gLast), matmul(transpose(mul(e, transpose(last, -1, -2)), -1, -2), k));
  }
  const join = (xs: Tensor[]): Tensor => (xs.length === 1 ? xs[0]! : concat(xs, -2));
  return { yPre: join(pre), yPost: join(post), state: { weights: [w], position: state.position + t } };
}
