// The self-modifying Titans of Hope (Behrouz et al., "Nested Learning", arXiv 2512.24695
// v1, the self-referential Titans equations; the table in apps/docs/concepts/hope.md). Per
// head, five memories read each token x_t (unit-normalised):
//
//   k_t = normalize(M_k(x_t)),  v_t = normalize(M_v(x_t))           keys and values of its own
//   eta_t = etaMax sigmoid(M_eta(x_t) + b_eta),  alpha_t = sigmoid(M_alpha(x_t) + b_alpha)
//   q_t = normalize(x_t W_q)                                        the one fixed projection
//   y_t = M_mem(q_t)                                                read before the update
//   vhat_(box,t) = M_box(v_t)                                       each memory makes its own target
//   M_box <- DGD step on 1/2 ||M_box(k_t) - vhat_(box,t)||^2 with eta_t, alpha_t   for box in {k, v, eta, alpha, mem}
//
// M_k, M_v and M_mem are residual MLPs x + W2 silu(W1 x); M_eta and M_alpha are linear maps
// to one logit. All five take the DGD step of hope-dgd.ts (W <- W (alpha I - eta_l a a^T) -
// eta_l delta a^T, per weight matrix, with the normalised step eta_l = eta / max(1, ||a||^2)),
// all read at the weights before token t (M_(t-1)), so the recurrence is token by token and
// streams with no pending tokens. Everything is differentiable: the outer loop learns the
// memories' initial weights, b_eta, b_alpha, W_q.
//
// Stability (the hope page's "Stability" section): every memory input is a unit vector
// (x, q, k and v; the targets M_box(v_t) read the unit v_t), so the targets cannot grow
// with the values they are made from (unnormalised values fed back into M_v(v_t) grew
// without bound in training), and the normalised step keeps the self term of each matrix's
// step in [alpha - 2 eta, alpha] whatever the norm of its input; with eta <= 1/3 the step of
// a linear memory then has its eigenvalues in [-1, 1] for every retention in [0, 1].
import {
  Rng, concat, expand, l2Normalize, mergeHeads, mul, narrow, nn, reshape, sigmoid, splitHeads, stack, tensor, zeros, type DType, type Tensor,
} from '@titans/tensor';
import { linearArchitecture, mlpArchitecture, type MemoryArchitecture } from './config.js';
import { cacheRow, dgdStep, dgdUpdate } from './hope-dgd.js';
import { apply, forward } from './network.js';
import { checkStatePosition, deserializeTensor, serializeTensor, type SerializedTensor } from './serialize.js';

/** The five self-modifying memories of a head, in this order. */
export const SELF_MODIFYING_MEMORIES = ['k', 'v', 'eta', 'alpha', 'memory'] as const;
export type SelfModifyingMemory = (typeof SELF_MODIFYING_MEMORIES)[number];

export interface SelfModifyingState {
  /** Weights of each memory [..., out, in] (network.ts layout). */
  readonly weights: Readonly<Record<SelfModifyingMemory, readonly Tensor[]>>;
  readonly position: number;
}

export interface SelfModifyingInputs {
  /** Unit-normalised token rows [..., T, d]. */
  readonly x: Tensor;
  /** Unit-normalised queries [..., T, d]. */
  readonly q: Tensor;
  /** Gate biases b_eta, b_alpha broadcastable to [..., 1, 1]. */
  readonly etaBias: Tensor;
  readonly alphaBias: Tensor;
}

/** The network of each memory for head width d and MLP hidden width `hidden`. */
export function selfModifyingArchitectures(hidden: number): Record<SelfModifyingMemory, MemoryArchitecture> {
  const mlp = mlpArchitecture(hidden, { depth: 2, residual: true, norm: false });
  return { k: mlp, v: mlp, eta: linearArchitecture(), alpha: linearArchitecture(), memory: mlp };
}

/** Weight shapes [out, in] of each memory. */
export function selfModifyingShapes(dim: number, hidden: number): Record<SelfModifyingMemory, [number, number][]> {
  const mlp: [number, number][] = [[hidden, dim], [dim, hidden]];
  return { k: mlp, v: mlp, eta: [[1, dim]], alpha: [[1, dim]], memory: mlp };
}

/**
 * The readable reference: the self-modifying recurrence token by token, each memory read
 * and stepped on its own (`dgdStep`). `selfModifyingScan` is the fast form.
 */
export function selfModifyingLoop(
  hidden: number, etaMax: number, inputs: SelfModifyingInputs, state: SelfModifyingState,
): { y: Tensor; state: SelfModifyingState } {
  const archs = selfModifyingArchitectures(hidden);
  const t = inputs.x.shape[inputs.x.ndim - 2]!;
  if (inputs.q.shape.length !== inputs.x.shape.length || inputs.q.shape.some((n, i) => n !== inputs.x.shape[i])) {
    throw new Error(`selfModifyingLoop: q [${inputs.q.shape.join(', ')}] must have the shape of x [${inputs.x.shape.join(', ')}]`);
  }
  let weights = state.weights;
  const ys: Tensor[] = [];
  for (let i = 0; i < t; i++) {
    const x = narrow(inputs.x, -2, i, 1);
    const q = narrow(inputs.q, -2, i, 1);
    const k = l2Normalize(apply(archs.k, weights.k, x), -1);
    const v = l2Normalize(apply(archs.v, weights.v, x), -1);
    const eta = mul(sigmoid(apply(archs.eta, weights.eta, x).add(inputs.etaBias)), etaMax); // [..., 1, 1]
    const alpha = sigmoid(apply(archs.alpha, weights.alpha, x).add(inputs.alphaBias));
    ys.push(apply(archs.memory, weights.memory, q));
    const next = {} as Record<SelfModifyingMemory, readonly Tensor[]>;
    for (const name of SELF_MODIFYING_MEMORIES) {
      const target = apply(archs[name], weights[name], v);
      next[name] = dgdStep(archs[name], weights[name], k, target, eta, alpha, true);
    }
    weights = next;
  }
  const y = ys.length === 0 ? zeros(inputs.q.shape, { dtype: inputs.q.dtype, backend: inputs.q.backend }) : ys.length === 1 ? ys[0]! : concat(ys, -2);
  return { y, state: { weights, position: state.position + t } };
}

/** The MLP memories and the gate memories, in the order `selfModifyingScan` stacks them. */
const MLP_MEMORIES = ['k', 'v', 'memory'] as const;
const GATE_MEMORIES = ['eta', 'alpha'] as const;

/**
 * Runs the self-modifying recurrence over T tokens; returns y_t = M_mem,(t-1)(q_t) [..., T, d]
 * and the state. The three MLP memories (k, v, memory) share one network shape, as do the
 * two gate memories, so each group runs as one batch: their weights are stacked on a new
 * leading axis for the scan. Per token: one forward of the MLP stack over rows (x_t, x_t,
 * q_t) and one of the gate stack over x_t (keys, values, y_t, gates); one forward of each
 * stack over the two rows (k_t, v_t), whose v-row outputs are each memory's own target and
 * whose k-row cache gives the DGD step (`dgdUpdate`: one outer product per matrix). The same
 * arithmetic as `selfModifyingLoop` up to rounding.
 */
export function selfModifyingScan(
  hidden: number, etaMax: number, inputs: SelfModifyingInputs, state: SelfModifyingState,
): { y: Tensor; state: SelfModifyingState } {
  const archs = selfModifyingArchitectures(hidden);
  const { x, q } = inputs;
  const t = x.shape[x.ndim - 2]!;
  if (q.shape.length !== x.shape.length || q.shape.some((n, i) => n !== x.shape[i])) {
    throw new Error(`selfModifyingScan: q [${q.shape.join(', ')}] must have the shape of x [${x.shape.join(', ')}]`);
  }
  if (t === 0) return { y: zeros(q.shape, { dtype: q.dtype, backend: q.backend }), state: { weights: state.weights, position: state.position } };
  const lead = x.shape.slice(0, -2);
  const d = x.shape[x.ndim - 1]!;
  const group = (names: readonly SelfModifyingMemory[]): Tensor[] =>
    state.weights[names[0]!].map((_, l) => stack(names.map((n) => { const w = state.weights[n][l]!; return expand(w, [...lead, ...w.shape.slice(-2)]); }), 0));
  let mlp = group(MLP_MEMORIES); // [3, ...lead, out, in] per layer
  let gates = group(GATE_MEMORIES); // [2, ...lead, 1, d]
  const reads = stack([x, x, q], 0); // [3, ...lead, T, d]
  const member = (z: Tensor, j: number): Tensor => reshape(narrow(z, 0, j, 1), z.shape.slice(1));
  const ys: Tensor[] = [];
  for (let i = 0; i < t; i++) {
    const xi = narrow(x, -2, i, 1);
    const read = apply(archs.k, mlp, narrow(reads, -2, i, 1)); // [3, ...lead, 1, d]
    const logits = apply(archs.eta, gates, xi); // [2, ...lead, 1, 1]
    const k = l2Normalize(member(read, 0), -1);
    const v = l2Normalize(member(read, 1), -1);
    ys.push(member(read, 2));
    const eta = mul(sigmoid(member(logits, 0).add(inputs.etaBias)), etaMax); // [..., 1, 1]
    const alpha = sigmoid(member(logits, 1).add(inputs.alphaBias));
    const rows = concat([k, v], -2); // [..., 2, d]
    const step = (arch: MemoryArchitecture, weights: Tensor[]): Tensor[] => {
      const cache = forward(arch, weights, rows);
      return dgdUpdate(arch, weights, cacheRow(cache, 0), narrow(cache.out, -2, 1, 1), eta, alpha, true);
    };
    mlp = step(archs.k, mlp);
    gates = step(archs.eta, gates);
  }
  const weights = {} as Record<SelfModifyingMemory, readonly Tensor[]>;
  MLP_MEMORIES.forEach((n, j) => { weights[n] = mlp.map((w) => member(w, j)); });
  GATE_MEMORIES.forEach((n, j) => { weights[n] = gates.map((w) => member(w, j)); });
  const y = ys.length === 1 ? ys[0]! : concat(ys, -2);
  return { y: reshape(y, [...y.shape.slice(0, -2), t, d]), state: { weights, position: state.position + t } };
}

export interface SelfModifyingTitansOptions {
  readonly heads?: number;
  /** Hidden width of the MLP memories as a multiple of the head width (default 2). */
  readonly expansion?: number;
  /** Upper bound of the step size eta (default 1/3, the stable bound: see the file's header). */
  readonly etaMax?: number;
  /** Initial b_eta and b_alpha (defaults -2 and 4: small steps, alpha near 1 = retain). */
  readonly etaBias?: number;
  readonly alphaBias?: number;
  readonly seed?: number;
  readonly dtype?: DType;
}

/** The self-modifying Titans layer: input projection, the per-head recurrence, output projection. */
export class SelfModifyingTitans extends nn.Module {
  readonly heads: number;
  readonly headDim: number;
  readonly hidden: number;
  readonly etaMax: number;
  readonly input: nn.Linear;
  readonly query: nn.Linear;
  readonly proj: nn.Linear;
  /** Initial weights of each memory, [heads, out, in] each (one field per memory so nn.Module finds them). */
  readonly initK: Tensor[];
  readonly initV: Tensor[];
  readonly initEta: Tensor[];
  readonly initAlpha: Tensor[];
  readonly initMemory: Tensor[];
  /** b_eta, b_alpha per head [heads, 1, 1]. */
  readonly etaBias: Tensor;
  readonly alphaBias: Tensor;

  constructor(readonly dim: number, options: SelfModifyingTitansOptions = {}) {
    super();
    this.heads = options.heads ?? 1;
    if (!Number.isInteger(this.heads) || this.heads < 1 || dim % this.heads !== 0) throw new Error(`SelfModifyingTitans: dim ${dim} is not divisible by heads ${this.heads}`);
    this.headDim = dim / this.heads;
    const expansion = options.expansion ?? 2;
    if (!(expansion > 0)) throw new Error(`SelfModifyingTitans: expansion must be positive, got ${expansion}`);
    this.hidden = Math.max(1, Math.round(expansion * this.headDim));
    this.etaMax = options.etaMax ?? 1 / 3;
    if (!(this.etaMax > 0) || !Number.isFinite(this.etaMax)) throw new Error(`SelfModifyingTitans: etaMax must be a positive finite number, got ${this.etaMax}`);
    const rng = new Rng(options.seed ?? 0);
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    this.input = new nn.Linear(dim, dim, { rng, bias: false, ...dtype });
    this.query = new nn.Linear(dim, dim, { rng, bias: false, ...dtype });
    this.proj = new nn.Linear(dim, dim, { rng, bias: false, ...dtype });
    const shapes = selfModifyingShapes(this.headDim, this.hidden);
    const init = (name: SelfModifyingMemory): Tensor[] => shapes[name].map(([o, i]) => nn.parameter(rng.normal([this.heads, o, i], 0, 1 / Math.sqrt(i), dtype)));
    this.initK = init('k');
    this.initV = init('v');
    this.initEta = init('eta');
    this.initAlpha = init('alpha');
    this.initMemory = init('memory');
    const fill = (v: number): Tensor => nn.parameter(tensor(new Array<number>(this.heads).fill(v), [this.heads, 1, 1], dtype));
    this.etaBias = fill(options.etaBias ?? -2);
    this.alphaBias = fill(options.alphaBias ?? 4);
  }

  initialState(): SelfModifyingState {
    return { weights: { k: this.initK, v: this.initV, eta: this.initEta, alpha: this.initAlpha, memory: this.initMemory }, position: 0 };
  }

  /** x [B, T, dim] -> [B, T, dim] and the new state. */
  forward(x: Tensor, state: SelfModifyingState = this.initialState()): { output: Tensor; state: SelfModifyingState } {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) throw new Error(`SelfModifyingTitans: input must be [batch, tokens, ${this.dim}], got [${x.shape.join(', ')}]`);
    const heads = (t: Tensor): Tensor => l2Normalize(splitHeads(t, this.heads), -1); // [B, H, T, d]
    const r = selfModifyingScan(this.hidden, this.etaMax, {
      x: heads(this.input.forward(x)), q: heads(this.query.forward(x)), etaBias: this.etaBias, alphaBias: this.alphaBias,
    }, state);
    return { output: this.proj.forward(mergeHeads(r.y)), state: r.state };
  }
}

// ---------------------------------------------------------------- serialisation

export interface SerializedSelfModifyingState {
  format: 'titans-self-modifying-state/v1';
  position: number;
  weights: Record<SelfModifyingMemory, SerializedTensor[]>;
}

/** A JSON-serialisable copy of a self-modifying Titans state (exact float32/float64 values). */
export async function serializeSelfModifyingState(state: SelfModifyingState): Promise<SerializedSelfModifyingState> {
  const weights = {} as Record<SelfModifyingMemory, SerializedTensor[]>;
  for (const name of SELF_MODIFYING_MEMORIES) {
    weights[name] = await Promise.all(state.weights[name].map(serializeTensor));
  }
  return { format: 'titans-self-modifying-state/v1', position: state.position, weights };
}

/** The state `serializeSelfModifyingState` wrote. */
export function deserializeSelfModifyingState(s: SerializedSelfModifyingState): SelfModifyingState {
  if (s?.format !== 'titans-self-modifying-state/v1') throw new Error(`self-modifying state: unknown format ${JSON.stringify(s?.format)}`);
  checkStatePosition(s.position, 'self-modifying state');
  const weights = {} as Record<SelfModifyingMemory, readonly Tensor[]>;
  for (const name of SELF_MODIFYING_MEMORIES) {
    const list = s.weights?.[name];
    if (!Array.isArray(list)) throw new Error(`self-modifying state: weights.${name} must be an array of tensors`);
    weights[name] = list.map((t, i) => deserializeTensor(t, 'self-modifying state', `weights.${name}[${i}]`));
  }
  return { weights, position: s.position };
}
