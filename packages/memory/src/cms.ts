// The Continuum Memory System of Hope (Behrouz et al., "Nested Learning: The Illusion of
// Deep Learning Architectures", arXiv 2512.24695, Eq. 70-71; see apps/docs/concepts/hope.md
// for the equations-to-code table). A chain of L MLP blocks; level l keeps its own fast
// weights and changes them only at the end of each of its chunks of C_l tokens (absolute
// positions), by the gradient accumulated over that chunk:
//
//   h_0 = x_t,   h_l = h_(l-1) + f_l(theta_l; h_(l-1)),   f_l(x) = W2_l silu(W1_l x)
//   output_t = h_L - h_0                                   (the residual stream adds it)
//   l_l(theta; x) = 1/2 ||f_l(theta; x) - Wv_l x||^2       the level's inner (task) loss
//   eta_(l,t) = lrMax sigmoid(w_l . x + b_l)               data-dependent step size
//   theta_l <- theta_l - sum_(t in chunk) eta_(l,t) grad l_l(theta_l; h_(l-1),t)
//                                                          at the chunk's end, theta at its start
//
// Step bound (the hope page's "Stability" section): a chunk's update of a weight matrix W with
// inputs a_t (x_t for W1, silu(W1 x_t) for W2) is W (I - sum_t eta_t a_t a_t^T) + ..., so its
// self term has eigenvalues down to 1 - E with E = sum_t eta_t ||a_t||^2, the chunk's step
// energy: past E = 2 the update expands W and, as a larger W1 makes larger hidden inputs for
// W2, runs away (measured: Hope's slowest level of the last block went from 0.4 to 1e22 and
// NaN within a few hundred tokens past 10x its training length). Each matrix's step is
// therefore divided by max(1, E / maxStepEnergy) (maxStepEnergy 2 by default): exactly the
// plain gradient step while E <= 2 (division by 1), the normalised-LMS step beyond. The
// bound is per matrix: W1's curvature also scales with ||W2||^2, which it leaves out (so a
// level with a very large step can still grow, only without the NaN runaway); counting it
// would change the steps of trained Hope models inside their training length.
//
// Tokens of a chunk are read by the weights of the chunk's start (the update is causal: it
// only serves later chunks). The state streams: a level's pending inputs (the rows of its
// unfinished chunk) are kept until the chunk completes, so any split of a sequence into
// pieces gives the same outputs as one pass. Gradients are written out in closed form with
// differentiable ops, so the outer loop differentiates through every update.
import { Rng, add, concat, div, matmul, maximum, mul, narrow, nn, reshape, sigmoid, square, sub, sum, tensor, transpose, unsqueeze, zeros, type DType, type Tensor } from '@titans/tensor';
import { checkStatePosition, deserializeTensor as deserializeAny, serializeTensor, type SerializedTensor } from './serialize.js';

export interface ContinuumMemoryOptions {
  /** Update periods C_1..C_L in tokens, one per level (the paper's frequencies 1 / C_l). */
  readonly periods: readonly number[];
  /** Hidden width of every level's MLP. */
  readonly hidden: number;
  /** Upper bound of the step-size gate eta (default 0.1), one for all levels or one per level. */
  readonly lrMax?: number | readonly number[];
  /** Initial bias of the step-size gate logits (default 0). */
  readonly lrBias?: number;
  /**
   * Largest step energy sum_t eta_t ||a_t||^2 of one chunk's update of a weight matrix before
   * its step is scaled down to it (default CMS_MAX_STEP_ENERGY = 2, the plain step's
   * stability limit; Infinity turns the bound off). See the file's header.
   */
  readonly maxStepEnergy?: number;
  readonly seed?: number;
  readonly dtype?: DType;
}

/** One level's fast weights and the inputs of its unfinished chunk. */
export interface ContinuumLevelState {
  /** W1 [.., hidden, dim], W2 [.., dim, hidden] (leading batch axis once a chunk has updated them). */
  readonly weights: readonly [Tensor, Tensor];
  /** Inputs h_(l-1) [B, p, dim] of the p < C_l tokens of the current chunk, or null. */
  readonly pending: Tensor | null;
}

export interface ContinuumMemoryState {
  readonly levels: readonly ContinuumLevelState[];
  /** Absolute position of the next token. */
  readonly position: number;
}

export interface ContinuumMemoryOutput {
  /** h_L - h_0 [B, T, dim]. */
  readonly output: Tensor;
  readonly state: ContinuumMemoryState;
}

/** Default bound of a chunk update's step energy: 2, where the plain step stops contracting (see the file's header). */
export const CMS_MAX_STEP_ENERGY = 2;

/** Throws a clear error for periods no CMS can run. */
export function validateCmsPeriods(periods: readonly number[]): void {
  if (!Array.isArray(periods) || periods.length === 0) throw new Error('ContinuumMemory: periods must list at least one level');
  periods.forEach((c, l) => {
    if (!Number.isInteger(c) || c < 1) throw new Error(`ContinuumMemory: periods[${l}] must be a positive integer, got ${c}`);
  });
}

const silu = (z: Tensor): Tensor => mul(z, sigmoid(z));
const siluDerivative = (z: Tensor): Tensor => {
  const s = sigmoid(z);
  return mul(s, add(mul(z, sub(1, s)), 1)); // s (1 + z (1 - s))
};

/** f(x) = W2 silu(W1 x) on rows x [B, n, d]; returns the pre-activation too. */
export function cmsLevelForward(weights: readonly [Tensor, Tensor], x: Tensor): { pre: Tensor; out: Tensor } {
  const pre = matmul(x, transpose(weights[0], -1, -2));
  return { pre, out: matmul(silu(pre), transpose(weights[1], -1, -2)) };
}

/**
 * The accumulated gradient of sum_t eta_t l(theta; x_t), l = 1/2 ||f(x_t) - v_t||^2, at
 * fixed weights: rows x, v [B, n, d], eta [B, n]. Returns [dW1 [B, h, d], dW2 [B, d, h]],
 * each divided by max(1, E / maxStepEnergy) where E = sum_t eta_t ||a_t||^2 is the step energy
 * of that matrix's inputs a_t (x_t for W1, silu(W1 x_t) for W2), per batch row (see the
 * file's header). With maxStepEnergy = Infinity: the plain gradient.
 */
export function cmsChunkGradient(weights: readonly [Tensor, Tensor], x: Tensor, v: Tensor, eta: Tensor, maxStepEnergy = CMS_MAX_STEP_ENERGY): [Tensor, Tensor] {
  const { pre, out } = cmsLevelForward(weights, x);
  const hidden = silu(pre);
  const e = mul(sub(out, v), unsqueeze(eta, -1)); // [B, n, d]
  let dW2 = matmul(transpose(e, -1, -2), hidden); // [B, d, h]
  const dPre = mul(matmul(e, weights[1]), siluDerivative(pre)); // [B, n, h]
  let dW1 = matmul(transpose(dPre, -1, -2), x); // [B, h, d]
  if (maxStepEnergy !== Infinity) {
    // [B, 1, 1]: max(1, sum_t eta_t ||a_t||^2 / maxStepEnergy); exactly 1 (no change) inside the bound.
    const scale = (a: Tensor): Tensor => reshape(maximum(div(sum(mul(sum(square(a), -1), eta), -1, true), maxStepEnergy), 1), [...eta.shape.slice(0, -1), 1, 1]);
    dW1 = div(dW1, scale(x));
    dW2 = div(dW2, scale(hidden));
  }
  return [dW1, dW2];
}

/** One level of the CMS: its learned initial weights, value map and step-size gate. */
export class ContinuumLevel extends nn.Module {
  readonly w1: Tensor;
  readonly w2: Tensor;
  /** The inner loss's target map Wv [dim, dim]. */
  readonly value: nn.Linear;
  /** The step-size gate: eta = lrMax sigmoid(x . w + b). */
  readonly lr: nn.Linear;

  /** Bound of a chunk update's step energy (see cmsChunkGradient). */
  readonly maxStepEnergy: number;

  constructor(readonly dim: number, readonly hidden: number, readonly period: number, readonly lrMax: number, options: { rng: Rng; dtype?: DType; lrBias: number; maxStepEnergy?: number }) {
    super();
    this.maxStepEnergy = options.maxStepEnergy ?? CMS_MAX_STEP_ENERGY;
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    this.w1 = nn.parameter(options.rng.normal([hidden, dim], 0, 1 / Math.sqrt(dim), dtype));
    this.w2 = nn.parameter(options.rng.normal([dim, hidden], 0, 1 / Math.sqrt(hidden), dtype));
    this.value = new nn.Linear(dim, dim, { rng: options.rng, bias: false, ...dtype });
    this.lr = new nn.Linear(dim, 1, { rng: options.rng, ...dtype });
    if (options.lrBias !== 0) this.lr.bias!.assign(tensor([options.lrBias], [1], dtype));
  }

  /** eta [B, n] for rows x [B, n, d]. */
  stepSize(x: Tensor): Tensor {
    const logits = this.lr.forward(x); // [B, n, 1]
    return mul(sigmoid(sum(logits, -1)), this.lrMax);
  }

  initialState(): ContinuumLevelState {
    return { weights: [this.w1, this.w2], pending: null };
  }

  /** Runs rows x [B, T, d] whose first token is at absolute `position`; returns f_l(x) and the new state. */
  forward(x: Tensor, state: ContinuumLevelState, position: number): { output: Tensor; state: ContinuumLevelState } {
    const total = x.shape[1]!;
    const pendingCount = state.pending?.shape[1] ?? 0;
    if (pendingCount !== position % this.period) {
      throw new Error(`ContinuumMemory: level with period ${this.period} holds ${pendingCount} pending tokens at position ${position} (expected ${position % this.period})`);
    }
    let weights = state.weights;
    let pending = state.pending;
    const outputs: Tensor[] = [];
    let at = 0;
    while (at < total) {
      const have = pending?.shape[1] ?? 0;
      const length = Math.min(this.period - have, total - at);
      const rows = narrow(x, 1, at, length);
      outputs.push(cmsLevelForward(weights, rows).out);
      pending = pending ? concat([pending, rows], 1) : rows;
      if (pending.shape[1] === this.period) {
        const [g1, g2] = cmsChunkGradient(weights, pending, this.value.forward(pending), this.stepSize(pending), this.maxStepEnergy);
        weights = [sub(weights[0], g1), sub(weights[1], g2)];
        pending = null;
      }
      at += length;
    }
    const output = outputs.length === 1 ? outputs[0]! : outputs.length === 0 ? zeros(x.shape, { dtype: x.dtype, backend: x.backend }) : concat(outputs, 1);
    return { output, state: { weights, pending } };
  }
}

/** The Continuum Memory System: a chain of levels with their own update periods. */
export class ContinuumMemory extends nn.Module {
  readonly levels: ContinuumLevel[];
  readonly periods: readonly number[];

  constructor(readonly dim: number, options: ContinuumMemoryOptions) {
    super();
    validateCmsPeriods(options.periods);
    if (!Number.isInteger(options.hidden) || options.hidden < 1) throw new Error(`ContinuumMemory: hidden must be a positive integer, got ${options.hidden}`);
    const lrMax = options.lrMax ?? 0.1;
    const lrs = typeof lrMax === 'number' ? options.periods.map(() => lrMax) : [...lrMax];
    if (lrs.length !== options.periods.length) throw new Error(`ContinuumMemory: lrMax lists ${lrs.length} values for ${options.periods.length} levels`);
    lrs.forEach((lr, l) => {
      if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`ContinuumMemory: lrMax[${l}] must be a positive finite number, got ${lr}`);
    });
    const maxStepEnergy = options.maxStepEnergy ?? CMS_MAX_STEP_ENERGY;
    if (!(maxStepEnergy > 0)) throw new Error(`ContinuumMemory: maxStepEnergy must be positive (Infinity turns the bound off), got ${maxStepEnergy}`);
    this.periods = [...options.periods];
    const rng = new Rng(options.seed ?? 0);
    this.levels = this.periods.map((c, l) => new ContinuumLevel(dim, options.hidden, c, lrs[l]!, {
      rng, lrBias: options.lrBias ?? 0, maxStepEnergy, ...(options.dtype ? { dtype: options.dtype } : {}),
    }));
  }

  initialState(): ContinuumMemoryState {
    return { levels: this.levels.map((l) => l.initialState()), position: 0 };
  }

  /** x [B, T, dim] -> h_L - h_0 [B, T, dim], carrying every level's state. */
  forward(x: Tensor, state: ContinuumMemoryState = this.initialState()): ContinuumMemoryOutput {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) throw new Error(`ContinuumMemory: input must be [batch, tokens, ${this.dim}], got [${x.shape.join(', ')}]`);
    if (state.levels.length !== this.levels.length) throw new Error(`ContinuumMemory: state has ${state.levels.length} levels, the memory ${this.levels.length}`);
    let h = x;
    let total: Tensor | null = null;
    const levels = this.levels.map((level, l) => {
      const r = level.forward(h, state.levels[l]!, state.position);
      h = add(h, r.output);
      total = total ? add(total, r.output) : r.output;
      return r.state;
    });
    return { output: total!, state: { levels, position: state.position + x.shape[1]! } };
  }
}

// ---------------------------------------------------------------- serialisation

export interface SerializedContinuumMemoryState {
  format: 'titans-cms-state/v1';
  position: number;
  levels: { weights: [SerializedTensor, SerializedTensor]; pending: SerializedTensor | null }[];
}

const deserializeTensor = (s: SerializedTensor | undefined, what: string): Tensor => deserializeAny(s, 'cms state', what);

/** A JSON-serialisable copy of a CMS state (exact float32/float64 values), pending chunk inputs included. */
export async function serializeContinuumMemoryState(state: ContinuumMemoryState): Promise<SerializedContinuumMemoryState> {
  return {
    format: 'titans-cms-state/v1',
    position: state.position,
    levels: await Promise.all(state.levels.map(async (l) => ({
      weights: [await serializeTensor(l.weights[0]), await serializeTensor(l.weights[1])] as [SerializedTensor, SerializedTensor],
      pending: l.pending ? await serializeTensor(l.pending) : null,
    }))),
  };
}

/** The state `serializeContinuumMemoryState` wrote. */
export function deserializeContinuumMemoryState(s: SerializedContinuumMemoryState): ContinuumMemoryState {
  if (s?.format !== 'titans-cms-state/v1') throw new Error(`cms state: unknown format ${JSON.stringify(s?.format)}`);
  checkStatePosition(s.position, 'cms state');
  if (!Array.isArray(s.levels)) throw new Error('cms state: levels must be an array');
  return {
    position: s.position,
    levels: s.levels.map((l, i) => ({
      weights: [deserializeTensor(l.weights?.[0], `levels[${i}].weights[0]`), deserializeTensor(l.weights?.[1], `levels[${i}].weights[1]`)] as const,
      pending: l.pending ? deserializeTensor(l.pending, `levels[${i}].pending`) : null,
    })),
  };
}
