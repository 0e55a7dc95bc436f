// The memory network M(P; x) and its per-token gradients, written with explicit matrix
// products so a whole chunk of tokens is handled at once. Weights W_l are [..., out, in];
// token matrices are [..., T, features]. Leading axes (batch x heads) broadcast.
import {
  abs, add, div, erf, exp, layerNorm, le, matmul, maximum, mean, minimum, mul, pow, rsqrt, sigmoid, sign, sqrt, square,
  sub, sum, transpose, where, type Tensor,
} from '@titans/tensor';
import type { AttentionalBias, MemoryArchitecture } from './config.js';

const LN_EPS = 1e-5;

export function activate(arch: MemoryArchitecture, z: Tensor): Tensor {
  if (arch.activation === 'silu') return mul(z, sigmoid(z));
  return mul(mul(z, 0.5), add(erf(mul(z, Math.SQRT1_2)), 1));
}

/** d act / d z, differentiable (the outer loop differentiates through it). */
export function activationDerivative(arch: MemoryArchitecture, z: Tensor): Tensor {
  if (arch.activation === 'silu') {
    const s = sigmoid(z);
    return mul(s, add(mul(z, sub(1, s)), 1));
  }
  const cdf = mul(add(erf(mul(z, Math.SQRT1_2)), 1), 0.5);
  const pdf = mul(exp(mul(square(z), -0.5)), 1 / Math.sqrt(2 * Math.PI));
  return add(cdf, mul(z, pdf));
}

/** What a forward pass of the network over token rows keeps for its backward pass. */
export interface ForwardCache {
  /** Input of each layer: inputs[0] = x, inputs[l] = act(pre[l-1]). */
  readonly inputs: Tensor[];
  /** Pre-activation of each layer; the last is f(x) before residual/norm. */
  readonly pre: Tensor[];
  readonly out: Tensor;
}

/** M(P; x) for rows of x, with everything the gradient needs. */
export function forward(arch: MemoryArchitecture, weights: readonly Tensor[], x: Tensor): ForwardCache {
  const inputs: Tensor[] = [x];
  const pre: Tensor[] = [];
  let h = x;
  weights.forEach((w, l) => {
    const z = matmul(h, transpose(w));
    pre.push(z);
    if (l < weights.length - 1) {
      h = activate(arch, z);
      inputs.push(h);
    }
  });
  return { inputs, pre, out: finish(arch, x, pre[pre.length - 1]!) };
}

/** Applies the residual and the norm to the last layer's output f. */
export function finish(arch: MemoryArchitecture, x: Tensor, f: Tensor): Tensor {
  const g = arch.norm ? layerNorm(f, { eps: LN_EPS }) : f;
  return arch.residual ? add(x, g) : g;
}

export function apply(arch: MemoryArchitecture, weights: readonly Tensor[], x: Tensor): Tensor {
  return forward(arch, weights, x).out;
}

/** Vector-Jacobian product of LayerNorm (no affine, biased variance) at f. */
function layerNormBackward(f: Tensor, g: Tensor): Tensor {
  const centred = sub(f, mean(f, -1, true));
  const inv = rsqrt(add(mean(square(centred), -1, true), LN_EPS));
  const n = mul(centred, inv);
  const gMean = mean(g, -1, true);
  const gnMean = mean(mul(g, n), -1, true);
  return mul(inv, sub(sub(g, gMean), mul(n, gnMean)));
}

/**
 * Per-token loss and d loss / d output for the attentional bias. `delta` is the Huber
 * threshold per token ([..., T, 1]) when the bias is Huber.
 */
export function biasLoss(bias: AttentionalBias, out: Tensor, v: Tensor, delta?: Tensor): { loss: Tensor; dOut: Tensor } {
  const e = sub(out, v);
  switch (bias.kind) {
    case 'l2':
      return { loss: sum(square(e), -1), dOut: mul(e, 2) };
    case 'lp': {
      // Smooth |e|^p = (e^2 + eps)^(p/2); its derivative p e (e^2 + eps)^(p/2 - 1).
      const eps = bias.eps ?? 1e-6;
      const base = add(square(e), eps);
      return { loss: sum(pow(base, bias.p / 2), -1), dOut: mul(mul(e, bias.p), pow(base, bias.p / 2 - 1)) };
    }
    case 'huber': {
      // Quadratic inside |e| <= delta, linear outside: outliers pull with a bounded force.
      const d: Tensor | number = delta ?? bias.delta ?? 1;
      const a = abs(e);
      const inside = le(a, d);
      const dSquared = typeof d === 'number' ? d * d : square(d);
      const loss = where(inside, square(e), sub(mul(mul(a, d), 2), dSquared));
      const dOut = where(inside, mul(e, 2), mul(mul(sign(e), d), 2));
      return { loss: sum(loss, -1), dOut };
    }
  }
}

/**
 * Backpropagates d loss / d output through the network at fixed weights, giving for
 * each layer the per-token factors of its gradient: grad W_l (token s) = delta_l[s] (x) inputs_l[s].
 */
export function tokenGradients(arch: MemoryArchitecture, weights: readonly Tensor[], cache: ForwardCache, dOut: Tensor): Tensor[] {
  const last = weights.length - 1;
  let delta = arch.norm ? layerNormBackward(cache.pre[last]!, dOut) : dOut;
  const deltas: Tensor[] = new Array<Tensor>(weights.length);
  deltas[last] = delta;
  for (let l = last - 1; l >= 0; l--) {
    delta = mul(matmul(delta, weights[l + 1]!), activationDerivative(arch, cache.pre[l]!));
    deltas[l] = delta;
  }
  return deltas;
}

/** Soft clamp of each token's surprise norm: scale factor min(1, c / |u_s|) per token. */
export function surpriseClampFactor(deltas: readonly Tensor[], inputs: readonly Tensor[], maxNorm: number): Tensor {
  // |u_s|^2 = sum_l |delta_l[s]|^2 |input_l[s]|^2 (each layer's gradient is rank one).
  let sq: Tensor | null = null;
  deltas.forEach((d, l) => {
    const term = mul(sum(square(d), -1), sum(square(inputs[l]!), -1));
    sq = sq === null ? term : add(sq, term);
  });
  const norm = sqrt(add(sq!, 1e-30));
  return minimum(div(maxNorm, maximum(norm, 1e-30)), 1);
}

// ---------------------------------------------------------------- orthogonalised surprise

/** Muon's quintic Newton-Schulz coefficients and step count (Jordan et al. 2024). */
export const NEWTON_SCHULZ = { a: 3.4445, b: -4.775, c: 2.0315, steps: 5, eps: 1e-7 } as const;

/** Frobenius norm over the last two axes, kept as [..., 1, 1]; the tiny shift keeps its gradient finite at 0. */
function frobenius(x: Tensor): Tensor {
  return sqrt(add(sum(square(x), [-2, -1], true), 1e-30));
}

/**
 * Approximate orthogonalisation (the polar factor U V^T) of each matrix [..., m, n] by
 * Newton-Schulz steps X <- a X + b (X X^T) X + c (X X^T)^2 X from X = G / (|G|_F + eps).
 */
export function newtonSchulz(g: Tensor, steps: number = NEWTON_SCHULZ.steps): Tensor {
  const { a, b, c, eps } = NEWTON_SCHULZ;
  // Iterate on the wide orientation so the Gram matrix is the smaller one.
  const tall = g.shape[g.ndim - 2]! > g.shape[g.ndim - 1]!;
  let x = tall ? transpose(g) : g;
  x = div(x, add(frobenius(x), eps));
  for (let i = 0; i < steps; i++) {
    const gram = matmul(x, transpose(x));
    x = add(mul(x, a), matmul(add(mul(gram, b), mul(matmul(gram, gram), c)), x));
  }
  return tall ? transpose(x) : x;
}

/**
 * Newton-Schulz of a rank-one matrix u = delta (x) input in closed form, as the factor f
 * with NS(u) = f u. For X = s U (U rank one with unit norm) one step gives
 * (a s + b s^3 + c s^5) U, so the iteration is a scalar recurrence on s, started at
 * s_0 = |u| / (|u| + eps), and f = prod_k (a + b s_k^2 + c s_k^4) / (|u| + eps): the same
 * arithmetic as `newtonSchulz` on the materialised matrix. Returns f per row, [..., T].
 */
export function rankOneNewtonSchulzFactor(delta: Tensor, input: Tensor, steps: number = NEWTON_SCHULZ.steps): Tensor {
  const { a, b, c, eps } = NEWTON_SCHULZ;
  const norm = sqrt(add(mul(sum(square(delta), -1), sum(square(input), -1)), 1e-30));
  const shifted = add(norm, eps);
  let s = div(norm, shifted);
  let factor: Tensor | null = null;
  for (let i = 0; i < steps; i++) {
    const s2 = square(s);
    const step = add(add(mul(s2, b), mul(square(s2), c)), a);
    factor = factor === null ? step : mul(factor, step);
    s = mul(s, step);
  }
  return div(factor!, shifted);
}
