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
// The recurrence is token by token (the a a^T factor is a product over tokens); it streams
// without pending tokens: the state is the weights and the position.
import { concat, matmul, mul, narrow, sub, transpose, unsqueeze, zeros, type Tensor } from '@titans/tensor';
import type { MemoryArchitecture } from './config.js';
import { apply, forward, tokenGradients } from './network.js';

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

/** One DGD step of every weight matrix for one token: rows k, v [..., 1, d], eta, alpha [..., 1, 1]. */
export function dgdStep(arch: MemoryArchitecture, weights: readonly Tensor[], k: Tensor, v: Tensor, eta: Tensor, alpha: Tensor): Tensor[] {
  const cache = forward(arch, weights, k);
  const deltas = tokenGradients(arch, weights, cache, sub(cache.out, v)); // d/dout of 1/2 ||M(k) - v||^2
  return weights.map((w, l) => {
    const a = cache.inputs[l]!; // [..., 1, in]
    const decay = matmul(matmul(w, transpose(a, -1, -2)), a); // (W a) a^T
    const grad = matmul(transpose(deltas[l]!, -1, -2), a); // delta a^T
    return sub(mul(w, alpha), mul(eta, decay.add(grad)));
  });
}

/** Runs DGD over T tokens from `state`; reads before (yPre) and after (yPost) each update. */
export function dgdScan(arch: MemoryArchitecture, inputs: DgdInputs, state: DgdState): DgdOutputs {
  const t = inputs.k.shape[inputs.k.ndim - 2]!;
  for (const name of ['v', 'q'] as const) {
    const x = inputs[name];
    if (x.shape.length !== inputs.k.shape.length || x.shape.some((n, i) => n !== inputs.k.shape[i])) {
      throw new Error(`dgdScan: ${name} [${x.shape.join(', ')}] must have the shape of k [${inputs.k.shape.join(', ')}]`);
    }
  }
  for (const name of ['eta', 'alpha'] as const) {
    const x = inputs[name];
    if (x.shape[x.ndim - 1] !== t) throw new Error(`dgdScan: ${name} [${x.shape.join(', ')}] must end with the ${t} tokens of k`);
  }
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
  // No tokens: fresh empty tensors (narrow of an empty axis would return q itself, twice).
  const join = (xs: Tensor[]): Tensor => (xs.length === 0 ? zeros(inputs.q.shape, { dtype: inputs.q.dtype, backend: inputs.q.backend }) : xs.length === 1 ? xs[0]! : concat(xs, -2));
  return { yPre: join(pre), yPost: join(post), state: { weights, position: state.position + t } };
}
