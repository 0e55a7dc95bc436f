// OmegaMemory: the Atlas-family memory (omega.ts) as a module, the counterpart of
// NeuralMemory. Tokens are projected to keys, values and queries exactly as NeuralMemory
// does (linear -> SiLU -> causal depthwise conv, q and k L2-normalised); beside Titans'
// gates (theta, eta, alpha) each token also gives, per head, its c window gates
// gamma[t, 0..c-1] (sigmoids of a projection: how much each of the last c tokens counts in
// this token's loss) and, under Muon, its step size lr_t (a sigmoid scaled to lrMax). The
// polynomial feature map's coefficients a_0..a_p are learned per head, initialised to
// 1/sqrt(i!) so that phi(q) . phi(k) starts as the Taylor polynomial of exp(q . k).
import {
  concat, contiguous, l2Normalize, mergeHeads, mul, narrow, nn, noGrad, permute, reshape, rmsNorm, Rng, sigmoid, silu,
  splitHeads, tensor, transpose, type DType, type Tensor,
} from '@titans/tensor';
import {
  detachOmegaState, expTaylorCoefficients, omegaInitialState, omegaLoop, omegaParallel, omegaWeightShapes, validateOmegaRule,
  type OmegaInputs, type OmegaRule, type OmegaState,
} from './omega.js';
import { checkStatePosition, deserializeTensor as deserializeAny, serializeTensor, serializeTensorRecord, type SerializedTensor } from './serialize.js';

export interface OmegaMemoryOptions {
  /** Number of memory heads (each its own memory over dim / heads features). */
  heads?: number;
  /** The update rule (architecture, chunk, window, feature map, optimizer). */
  rule: OmegaRule;
  /** Upper bound of the learning-rate gate theta. */
  thetaMax?: number;
  /** Upper bound of Muon's step-size gate lr (muon only; default 0.1). */
  lrMax?: number;
  /** Kernel of the causal depthwise convolution on q, k, v (0 = none). */
  convKernel?: number;
  /** Normalise and gate the retrieved values before the output projection (default on). */
  outputGate?: boolean;
  /** Which retrieval the forward pass returns: after (layer) or before each token's update. */
  read?: 'post' | 'pre';
  /** 'parallel' (default) or the readable per-token 'loop'. */
  path?: 'parallel' | 'loop';
  /** Initial biases of the gate logits (theta, eta, alpha, the window gates gamma, Muon's lr). */
  gateBias?: { readonly theta?: number; readonly eta?: number; readonly alpha?: number; readonly gamma?: number; readonly lr?: number };
  seed?: number;
  dtype?: DType;
}

/** The streaming state of an OmegaMemory. */
export interface OmegaMemoryState {
  readonly memory: OmegaState;
  /** Last (kernel - 1) pre-convolution q, k, v rows, [B, kernel - 1, 3 * dim]. */
  readonly convCache: Tensor | null;
}

export interface OmegaMemoryOutput {
  /** [B, T, dim] after the output projection. */
  readonly output: Tensor;
  readonly yPre: Tensor;
  readonly yPost: Tensor;
  readonly state: OmegaMemoryState;
  /** The window loss l_t [B, H, T] and the gates read from the tokens. */
  readonly surprise: { readonly loss: Tensor; readonly theta: Tensor; readonly eta: Tensor; readonly alpha: Tensor; readonly gamma: Tensor; readonly lr?: Tensor };
}

export class OmegaMemory extends nn.Module {
  readonly heads: number;
  readonly headDim: number;
  readonly rule: OmegaRule;
  readonly thetaMax: number;
  readonly lrMax: number;
  readonly convKernel: number;
  readonly outputGate: boolean;
  readonly read: 'post' | 'pre';
  readonly path: 'parallel' | 'loop';
  readonly qkv: nn.Linear;
  readonly conv: nn.CausalConv1d | undefined;
  /** Gate logits per head: theta, eta, alpha, then c window gates, then lr (muon). */
  readonly gates: nn.Linear;
  readonly initWeights: Tensor[];
  /** Polynomial coefficients a_0..a_p per head [heads, p + 1] (poly features only). */
  readonly polyCoef: Tensor | undefined;
  readonly normWeight: Tensor | undefined;
  readonly gate: nn.Linear | undefined;
  readonly proj: nn.Linear;

  constructor(readonly dim: number, options: OmegaMemoryOptions) {
    super();
    this.heads = options.heads ?? 1;
    if (dim % this.heads !== 0) throw new Error(`OmegaMemory: dim ${dim} is not divisible by heads ${this.heads}`);
    this.headDim = dim / this.heads;
    validateOmegaRule(options.rule);
    this.rule = options.rule;
    this.thetaMax = options.thetaMax ?? 1;
    this.lrMax = options.lrMax ?? 0.1;
    this.convKernel = options.convKernel ?? 4;
    this.outputGate = options.outputGate ?? true;
    this.read = options.read ?? 'post';
    this.path = options.path ?? 'parallel';
    const rng = new Rng(options.seed ?? 0);
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    const layer = { rng, ...dtype };
    this.qkv = new nn.Linear(dim, 3 * dim, { ...layer, bias: false });
    this.conv = this.convKernel > 0 ? new nn.CausalConv1d(3 * dim, this.convKernel, layer) : undefined;
    this.gates = new nn.Linear(dim, this.gateCount() * this.heads, layer);
    if (options.gateBias) this.initGateBias(options.gateBias);
    this.initWeights = omegaWeightShapes(this.rule, this.headDim).map(([out, inp]) =>
      nn.parameter(rng.normal([this.heads, out, inp], 0, 1 / Math.sqrt(inp), dtype)));
    const feature = this.rule.feature;
    this.polyCoef = feature.kind === 'poly'
      ? nn.parameter(tensor(Array.from({ length: this.heads }, () => expTaylorCoefficients(feature.degree)).flat(), [this.heads, feature.degree + 1], dtype))
      : undefined;
    this.normWeight = this.outputGate ? nn.parameter(tensor(new Float32Array(dim).fill(1), [dim], dtype)) : undefined;
    this.gate = this.outputGate ? new nn.Linear(dim, dim, { ...layer, bias: false }) : undefined;
    this.proj = new nn.Linear(dim, dim, { ...layer, bias: false });
  }

  /** Gate logits per head: theta, eta, alpha, c window gates, lr under Muon. */
  private gateCount(): number {
    return 3 + this.rule.window + (this.rule.optimizer.kind === 'muon' ? 1 : 0);
  }

  private initGateBias(bias: NonNullable<OmegaMemoryOptions['gateBias']>): void {
    const current = this.gates.bias;
    if (!current) return;
    const h = this.heads;
    const c = this.rule.window;
    const blocks: Record<string, [number, number]> = { theta: [0, h], eta: [h, 2 * h], alpha: [2 * h, 3 * h], gamma: [3 * h, (3 + c) * h] };
    if (this.rule.optimizer.kind === 'muon') blocks.lr = [(3 + c) * h, (4 + c) * h];
    const n = this.gateCount() * h;
    const keep = new Float64Array(n).fill(1);
    const fill = new Float64Array(n);
    for (const [name, value] of Object.entries(bias)) {
      if (value === undefined) continue;
      const range = blocks[name];
      if (!range) throw new Error(`OmegaMemory: gateBias.${name} is not a gate of this rule (gates: ${Object.keys(blocks).join(', ')})`);
      if (!Number.isFinite(value)) throw new Error(`OmegaMemory: gateBias.${name} must be a finite number, got ${value}`);
      keep.fill(0, range[0], range[1]);
      fill.fill(value, range[0], range[1]);
    }
    current.assign(noGrad(() => current.mul(tensor(keep, [n], { dtype: current.dtype })).add(tensor(fill, [n], { dtype: current.dtype }))));
  }

  /** A fresh state: the learned initial weights, zero momentum, position 0. */
  initialState(): OmegaMemoryState {
    return { memory: omegaInitialState(this.initWeights), convCache: null };
  }

  /** Keys, values, queries [B, H, T, headDim], gates [B, H, T], window gates [B, H, T, c] for tokens x [B, T, dim]. */
  project(x: Tensor, convCache: Tensor | null): { inputs: OmegaInputs; convCache: Tensor | null } {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) throw new Error(`OmegaMemory: input must be [batch, tokens, ${this.dim}], got [${x.shape.join(', ')}]`);
    const [batch, t] = x.shape as [number, number, number];
    let h = silu(this.qkv.forward(x));
    let nextCache: Tensor | null = null;
    if (this.conv) {
      const keep = this.convKernel - 1;
      const joined = convCache ? concat([convCache, h], 1) : h;
      const conv = this.conv.forward(joined);
      h = convCache ? narrow(conv, 1, convCache.shape[1]!, t) : conv;
      const length = joined.shape[1]!;
      nextCache = keep > 0 ? (length >= keep ? narrow(joined, 1, length - keep, keep) : joined) : null;
    }
    const [q0, k0, v0] = [0, 1, 2].map((i) => narrow(h, 2, i * this.dim, this.dim)) as [Tensor, Tensor, Tensor];
    const H = this.heads;
    const c = this.rule.window;
    const g = sigmoid(this.gates.forward(x)); // [B, T, gates * H]
    const gate = (i: number): Tensor => contiguous(transpose(narrow(g, 2, i * H, H), 1, 2)); // [B, H, T]
    // Window gates: c per head, laid out head-major within their block: [B, T, H, c] -> [B, H, T, c].
    const gamma = contiguous(permute(reshape(narrow(g, 2, 3 * H, c * H), [batch, t, H, c]), [0, 2, 1, 3]));
    const muon = this.rule.optimizer.kind === 'muon';
    const inputs: OmegaInputs = {
      k: l2Normalize(splitHeads(k0, H), -1),
      v: splitHeads(v0, H),
      q: l2Normalize(splitHeads(q0, H), -1),
      theta: mul(gate(0), this.thetaMax),
      eta: gate(1),
      alpha: gate(2),
      gamma,
      ...(this.polyCoef ? { coef: this.polyCoef } : {}),
      ...(muon ? { lr: mul(gate(3 + c), this.lrMax) } : {}),
    };
    return { inputs, convCache: nextCache };
  }

  /** Processes tokens x [B, T, dim]: retrieves and updates; returns the new state. */
  forward(x: Tensor, state: OmegaMemoryState = this.initialState()): OmegaMemoryOutput {
    const { inputs, convCache } = this.project(x, state.convCache);
    const scan = this.path === 'loop' ? omegaLoop : omegaParallel;
    const result = scan(this.rule, inputs, state.memory);
    const y = this.read === 'post' ? result.yPost : result.yPre;
    let out = mergeHeads(y);
    if (this.outputGate) out = mul(rmsNorm(out, { weight: this.normWeight! }), sigmoid(this.gate!.forward(x)));
    return {
      output: this.proj.forward(out),
      yPre: result.yPre,
      yPost: result.yPost,
      state: { memory: result.state, convCache },
      surprise: { loss: result.loss, theta: inputs.theta, eta: inputs.eta, alpha: inputs.alpha, gamma: inputs.gamma, ...(inputs.lr ? { lr: inputs.lr } : {}) },
    };
  }
}

/** Cuts the state from the gradient graph (truncated backpropagation between segments). */
export function detachOmegaMemoryState(state: OmegaMemoryState): OmegaMemoryState {
  return { memory: detachOmegaState(state.memory), convCache: state.convCache ? noGrad(() => state.convCache!.detach()) : null };
}

// ---------------------------------------------------------------- serialisation

export interface SerializedOmegaMemoryState {
  format: 'titans-omega-memory-state/v1';
  position: number;
  weights: SerializedTensor[];
  momentum: SerializedTensor[];
  tail: { k: SerializedTensor; v: SerializedTensor } | null;
  pending: Record<string, SerializedTensor> | null;
  convCache: SerializedTensor | null;
}

const deserializeTensor = (s: SerializedTensor | undefined, what: string): Tensor => deserializeAny(s, 'omega memory state', what);

/** A JSON-serialisable copy of an OmegaMemory state (exact float32/float64 values). */
export async function serializeOmegaMemoryState(state: OmegaMemoryState): Promise<SerializedOmegaMemoryState> {
  const m = state.memory;
  const pending = await serializeTensorRecord(m.pending);
  return {
    format: 'titans-omega-memory-state/v1',
    position: m.position,
    weights: await Promise.all(m.weights.map(serializeTensor)),
    momentum: await Promise.all(m.momentum.map(serializeTensor)),
    tail: m.tail ? { k: await serializeTensor(m.tail.k), v: await serializeTensor(m.tail.v) } : null,
    pending,
    convCache: state.convCache ? await serializeTensor(state.convCache) : null,
  };
}

/** The state `serializeOmegaMemoryState` wrote. */
export function deserializeOmegaMemoryState(s: SerializedOmegaMemoryState): OmegaMemoryState {
  if (s?.format !== 'titans-omega-memory-state/v1') throw new Error(`omega memory state: unknown format ${JSON.stringify(s?.format)}`);
  checkStatePosition(s.position, 'omega memory state');
  const p = s.pending;
  const pendingTensor = (name: string): Tensor => deserializeTensor(p![name], `pending.${name}`);
  return {
    memory: {
      position: s.position,
      weights: s.weights.map((w, i) => deserializeTensor(w, `weights[${i}]`)),
      momentum: s.momentum.map((w, i) => deserializeTensor(w, `momentum[${i}]`)),
      tail: s.tail ? { k: deserializeTensor(s.tail.k, 'tail.k'), v: deserializeTensor(s.tail.v, 'tail.v') } : null,
      pending: p
        ? {
          k: pendingTensor('k'), v: pendingTensor('v'), theta: pendingTensor('theta'), eta: pendingTensor('eta'), alpha: pendingTensor('alpha'),
          gamma: pendingTensor('gamma'), ...(p.lr ? { lr: pendingTensor('lr') } : {}),
        }
        : null,
    },
    convCache: s.convCache ? deserializeTensor(s.convCache, 'convCache') : null,
  };
}
