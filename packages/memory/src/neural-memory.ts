// NeuralMemory: the Titans long-term memory as a module. Tokens are projected to keys,
// values and queries (linear -> SiLU -> causal depthwise conv, q and k L2-normalised),
// data-dependent gates are read from each token, and the memory network learns online
// through the chunked scan. Its state (memory weights, momentum, the pending chunk, the
// convolution's recent inputs) is an explicit value, so inputs of any length stream
// through in pieces with constant memory.
import {
  causalConvHeads, concat, contiguous, expand, headRows, mergeHeads, mul, narrow, nn, noGrad, rmsNorm, Rng, sigmoid, silu,
  tensor, transpose, type DType, type Tensor,
} from '@titans/tensor';
import { memoryPreset, weightShapes, type MemoryRule, type PresetName } from './config.js';
import {
  detachState, hasYPre, initialState, readMemory, scanLoop, scanParallel, type MemoryInputs, type MemoryState,
} from './scan.js';
import { deserializeTensor as deserializeAny, serializeTensor, serializeTensorRecord, type SerializedTensor } from './serialize.js';

export interface NeuralMemoryOptions {
  /** Number of memory heads (each its own memory network over dim / heads features). */
  heads?: number;
  /** The update rule: a preset name or a full rule (default 'titans'). */
  rule?: PresetName | MemoryRule;
  /** Overrides applied on top of the preset. */
  ruleOverrides?: Partial<MemoryRule>;
  /** Upper bound of the learning-rate gate theta (sigmoid scaled to this). */
  thetaMax?: number;
  /** Kernel of the causal depthwise convolution on q, k, v (0 = no convolution). */
  convKernel?: number;
  /** Learn one set of initial memory weights per head (default) or one shared by all heads. */
  perHeadInit?: boolean;
  /** Normalise and gate the retrieved values before the output projection (default on). */
  outputGate?: boolean;
  /** Which retrieval the forward pass returns: after (layer) or before (context) each token's update. */
  read?: 'post' | 'pre';
  /** 'parallel' (default) or the readable per-token 'loop' (for checking). */
  path?: 'parallel' | 'loop';
  /**
   * Initial biases of the gate logits, one value per gate for every head; gates left out keep
   * the Linear layer's random init (each near sigmoid(0) = 0.5). Default DEFAULT_GATE_BIAS,
   * `{ alpha: -8 }`: the forget gate starts near "retain" (alpha = 3.4e-4 per token). With
   * alpha near 0.5 the untrained recurrence of a LayerNorm memory is chaotic: float32 rounding
   * grows about 1.8x per chunk, so results depend on the kernel path after a few hundred
   * tokens (see the README's "Numerical stability"). It also erases the memory within a few
   * tokens, and tiny models then never learn to retrieve with forgetting on (Gated DeltaNet on
   * the compact passkey: answer loss stuck at the no-retrieval floor 1.64 for 500 steps);
   * `{ alpha: -4 }` (alpha = 0.018) lets them learn (loss 0.02 by step 200). `null`: every
   * gate at the random init (the earlier default; what @titans/models builds unless its
   * config sets a gateBias, so saved configs keep computing what they did).
   */
  gateBias?: { readonly theta?: number; readonly eta?: number; readonly alpha?: number } | null;
  seed?: number;
  dtype?: DType;
  /**
   * Refuse input tokens holding NaN or an infinity (an error naming the position) instead of
   * letting one bad value turn the whole state non-finite for good. The check reads x on the
   * host: one comparison per value (B x T x dim, against the forward's B x T x dim^2 work),
   * on backends that read synchronously (CPU); elsewhere it is skipped. Default off, since a
   * host read would also end a compiled trace.
   */
  checkFinite?: boolean;
}

/**
 * NeuralMemory's default initial gate biases: the forget gate's logit at -8 (alpha = 3.4e-4 per
 * token), the others at the Linear layer's random init. At this point the untrained recurrence
 * does not amplify rounding, so every kernel path gives the same surprises (README, "Numerical
 * stability").
 */
export const DEFAULT_GATE_BIAS: { readonly alpha: number } = Object.freeze({ alpha: -8 });

/** The streaming state of a NeuralMemory. */
export interface NeuralMemoryState {
  readonly memory: MemoryState;
  /** Last (kernel - 1) pre-convolution q, k, v rows, [B, kernel - 1, 3 * dim]. */
  readonly convCache: Tensor | null;
}

export interface Surprise {
  /** Per-token associative-memory loss [B, H, T]. */
  readonly loss: Tensor;
  readonly theta: Tensor;
  readonly eta: Tensor;
  readonly alpha: Tensor;
}

export interface NeuralMemoryOutput {
  /** [B, T, dim] after the output projection. */
  readonly output: Tensor;
  /**
   * Raw retrievals per head, [B, H, T, headDim]. A module that reads 'post' (the default) on
   * the fused kernel computes yPre only when it is first read (the scan run again over the same
   * inputs and state, with the recording mode of that moment; a non-enumerable property, so
   * tidy() and object spreads leave it alone): read it before those tensors are disposed (a
   * clear error otherwise). The forward pass itself then does not pay for it.
   */
  readonly yPre: Tensor;
  readonly yPost: Tensor;
  readonly state: NeuralMemoryState;
  readonly surprise: Surprise;
}

export class NeuralMemory extends nn.Module {
  readonly heads: number;
  readonly headDim: number;
  readonly rule: MemoryRule;
  readonly thetaMax: number;
  readonly convKernel: number;
  readonly outputGate: boolean;
  readonly read: 'post' | 'pre';
  readonly path: 'parallel' | 'loop';
  readonly qkv: nn.Linear;
  readonly conv: nn.CausalConv1d | undefined;
  readonly gates: nn.Linear;
  readonly initWeights: Tensor[];
  /** Logits of the per-layer learning-rate multipliers r_l = 2 sigmoid(logit) in (0, 2), [heads] each (rule.layerLearningRates). */
  readonly layerRateLogits: Tensor[];
  readonly normWeight: Tensor | undefined;
  readonly gate: nn.Linear | undefined;
  readonly proj: nn.Linear;
  readonly checkFinite: boolean;

  constructor(readonly dim: number, options: NeuralMemoryOptions = {}) {
    super();
    this.checkFinite = options.checkFinite === true;
    this.heads = options.heads ?? 1;
    if (dim % this.heads !== 0) throw new Error(`NeuralMemory: dim ${dim} is not divisible by heads ${this.heads}`);
    this.headDim = dim / this.heads;
    const preset = typeof options.rule === 'string' || options.rule === undefined ? memoryPreset(options.rule ?? 'titans', this.headDim) : options.rule;
    this.rule = { ...preset, ...options.ruleOverrides };
    this.thetaMax = options.thetaMax ?? 1;
    this.convKernel = options.convKernel ?? 4;
    this.outputGate = options.outputGate ?? true;
    this.read = options.read ?? 'post';
    this.path = options.path ?? 'parallel';
    const rng = new Rng(options.seed ?? 0);
    const layer = { rng, ...(options.dtype ? { dtype: options.dtype } : {}) };
    this.qkv = new nn.Linear(dim, 3 * dim, { ...layer, bias: false });
    this.conv = this.convKernel > 0 ? new nn.CausalConv1d(3 * dim, this.convKernel, layer) : undefined;
    this.gates = new nn.Linear(dim, 3 * this.heads, layer);
    const gateBias = options.gateBias === undefined ? DEFAULT_GATE_BIAS : options.gateBias;
    if (gateBias) this.initGateBias(gateBias);
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    const initHeads = options.perHeadInit === false ? 1 : this.heads;
    this.initWeights = weightShapes(this.rule.architecture, this.headDim).map(([out, inp]) =>
      nn.parameter(rng.normal([initHeads, out, inp], 0, 1 / Math.sqrt(inp), dtype)));
    this.layerRateLogits = this.rule.layerLearningRates
      ? this.initWeights.map(() => nn.parameter(tensor(new Float32Array(this.heads), [this.heads], dtype)))
      : [];
    this.normWeight = this.outputGate ? nn.parameter(tensor(new Float32Array(dim).fill(1), [dim], dtype)) : undefined;
    this.gate = this.outputGate ? new nn.Linear(dim, dim, { ...layer, bias: false }) : undefined;
    this.proj = new nn.Linear(dim, dim, { ...layer, bias: false });
  }

  /** Sets the gate logits' biases (theta, eta, alpha blocks of `heads` each) to the given values. */
  private initGateBias(bias: NonNullable<NeuralMemoryOptions['gateBias']>): void {
    const current = this.gates.bias;
    if (!current) return;
    // Built with tensor ops, not read back: on an asynchronous backend (WebGPU) the current
    // biases cannot be read synchronously. keep = 1 where the init stays, fill = the new value.
    const keep = new Float64Array(3 * this.heads).fill(1);
    const fill = new Float64Array(3 * this.heads);
    (['theta', 'eta', 'alpha'] as const).forEach((name, block) => {
      const value = bias[name];
      if (value === undefined) return;
      if (!Number.isFinite(value)) throw new Error(`NeuralMemory: gateBias.${name} must be a finite number, got ${value}`);
      keep.fill(0, block * this.heads, (block + 1) * this.heads);
      fill.fill(value, block * this.heads, (block + 1) * this.heads);
    });
    const shape = [3 * this.heads];
    current.assign(noGrad(() => current.mul(tensor(keep, shape, { dtype: current.dtype })).add(tensor(fill, shape, { dtype: current.dtype }))));
  }

  /** A fresh state: the learned initial weights, zero momentum, position 0. */
  initialState(): NeuralMemoryState {
    const weights = this.initWeights.map((w) => (w.shape[0] === this.heads ? w : expand(w, [this.heads, ...w.shape.slice(1)])));
    return { memory: initialState(weights, this.rule), convCache: null };
  }

  /** The per-layer learning-rate multipliers r_l [heads], or undefined when the rule has none. */
  layerLearningRates(): Tensor[] | undefined {
    return this.rule.layerLearningRates ? this.layerRateLogits.map((logit) => mul(sigmoid(logit), 2)) : undefined;
  }

  /**
   * Keys, values, queries [B, H, T, headDim] and gates [B, H, T] for tokens x [B, T, dim]. The
   * convolution writes the heads directly (causalConvHeads: one pass where no gradient is
   * recorded, else causalConv then headRows; the same values).
   */
  project(x: Tensor, convCache: Tensor | null): { inputs: MemoryInputs; convCache: Tensor | null } {
    if (x.ndim !== 3 || x.shape[2] !== this.dim) throw new Error(`NeuralMemory: input must be [batch, tokens, ${this.dim}], got [${x.shape.join(', ')}]`);
    if (this.checkFinite && x.backend.syncRead) {
      const values = x.dataSync();
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (v - v !== 0) {
          const token = Math.floor(i / this.dim) % x.shape[1]!;
          throw new Error(`NeuralMemory: input value ${v} at batch ${Math.floor(i / (this.dim * x.shape[1]!))}, token ${token}, feature ${i % this.dim}; the memory refuses non-finite input (it would make its state non-finite for good)`);
        }
      }
    }
    const t = x.shape[1]!;
    const pre = this.qkv.forward(x);
    let q: Tensor;
    let k: Tensor;
    let v: Tensor;
    let nextCache: Tensor | null = null;
    if (this.conv) {
      // SiLU and the convolution (over the cached rows, then these) in one fused op.
      const keep = this.convKernel - 1;
      const history = convCache ?? null;
      // The heads [B, H, T, headDim] (contiguous, what the scan reads), q and k L2-normalised,
      // written by the convolution directly.
      [q, k, v] = causalConvHeads(pre, this.conv.weight, this.conv.bias ?? null, [
        { offset: 0, heads: this.heads, headDim: this.headDim, l2: true },
        { offset: this.dim, heads: this.heads, headDim: this.headDim, l2: true },
        { offset: 2 * this.dim, heads: this.heads, headDim: this.headDim },
      ], { silu: true, history }) as [Tensor, Tensor, Tensor];
      if (keep > 0) {
        // The cache holds the last `keep` activated rows (the history's when x is shorter).
        const length = (history ? history.shape[1]! : 0) + t;
        if (t >= keep) nextCache = silu(narrow(pre, 1, t - keep, keep));
        else {
          const joined = history ? concat([history, silu(pre)], 1) : silu(pre);
          nextCache = length >= keep ? narrow(joined, 1, length - keep, keep) : joined;
        }
      }
    } else {
      // Heads [B, H, T, headDim], contiguous (what the scan reads), q and k L2-normalised.
      const h = silu(pre);
      q = headRows(h, 0, this.heads, this.headDim, { l2: true });
      k = headRows(h, this.dim, this.heads, this.headDim, { l2: true });
      v = headRows(h, 2 * this.dim, this.heads, this.headDim);
    }
    const g = sigmoid(this.gates.forward(x)); // [B, T, 3H]
    const gate = (i: number): Tensor => contiguous(transpose(narrow(g, 2, i * this.heads, this.heads), 1, 2)); // [B, H, T]
    const theta = mul(gate(0), this.thetaMax);
    const rates = this.layerLearningRates();
    return { inputs: { k, v, q, theta, eta: gate(1), alpha: gate(2), ...(rates ? { layerLearningRates: rates } : {}) }, convCache: nextCache };
  }

  /** Processes tokens x [B, T, dim]: retrieves and updates; returns the new state. */
  forward(x: Tensor, state: NeuralMemoryState = this.initialState()): NeuralMemoryOutput {
    const { inputs, convCache } = this.project(x, state.convCache);
    // Reading 'post', the parallel path leaves y_pre out of the scan (computed on first read below).
    const result = this.path === 'loop'
      ? scanLoop(this.rule, inputs, state.memory)
      : scanParallel(this.rule, inputs, state.memory, { yPre: this.read === 'pre' });
    const y = this.read === 'post' ? result.yPost : result.yPre;
    const rest = {
      output: this.outputOf(y, x),
      yPost: result.yPost,
      state: { memory: result.state, convCache },
      surprise: { loss: result.loss, theta: inputs.theta, eta: inputs.eta, alpha: inputs.alpha },
    };
    if (hasYPre(result)) return { ...rest, yPre: result.yPre };
    // Not enumerable: tidy() and spreads that walk the output do not trigger the second scan.
    let yPre: Tensor | null = null;
    return Object.defineProperty(rest, 'yPre', {
      enumerable: false,
      get: (): Tensor => {
        if (yPre) return yPre;
        const m = state.memory;
        const used = [inputs.k, inputs.v, inputs.q, inputs.theta, inputs.eta, inputs.alpha, ...m.weights, ...m.momentum];
        if (m.pending) used.push(m.pending.k, m.pending.v, m.pending.theta, m.pending.eta, m.pending.alpha);
        if (used.some((t) => t.disposed)) {
          throw new Error("NeuralMemory: yPre is computed when first read, from the forward pass's keys, values, queries, gates and starting state, and some of them were disposed since: read it in the scope of the forward call (before tidy() ends), or construct the module with read: 'pre'");
        }
        return (yPre = scanParallel(this.rule, inputs, m).yPre);
      },
    }) as NeuralMemoryOutput;
  }

  /** Reads the memory at queries from x [B, T, dim] without updating it (MAC's h = M*(q)). */
  retrieve(x: Tensor, state: NeuralMemoryState): Tensor {
    const { inputs } = this.project(x, state.convCache);
    return this.outputOf(readMemory(this.rule, state.memory, inputs.q, inputs.layerLearningRates), x);
  }

  /** Merge heads, normalise, gate by the input, project. */
  private outputOf(y: Tensor, x: Tensor): Tensor {
    let out = mergeHeads(y);
    if (this.outputGate) out = mul(rmsNorm(out, { weight: this.normWeight! }), sigmoid(this.gate!.forward(x)));
    return this.proj.forward(out);
  }
}

/**
 * Frees the tensors of `previous` that `next` does not reuse (never the module's parameters):
 * the state handoff of a streaming loop, so the old state does not pile up.
 */
export function releaseMemoryState(previous: NeuralMemoryState, next: NeuralMemoryState | null = null): void {
  const tensorsOf = (state: NeuralMemoryState | null): Tensor[] => {
    if (state === null) return [];
    const m = state.memory;
    const pending = m.pending ? [m.pending.k, m.pending.v, m.pending.theta, m.pending.eta, m.pending.alpha, ...(m.pending.delta ? [m.pending.delta] : [])] : [];
    return [...m.weights, ...m.momentum, ...pending, ...(state.convCache ? [state.convCache] : [])];
  };
  const keep = new Set(tensorsOf(next));
  for (const t of tensorsOf(previous)) if (!keep.has(t) && !t.isParameter && !t.disposed) t.dispose();
}

/** Cuts the state from the gradient graph (truncated backpropagation between segments). */
export function detachMemoryState(state: NeuralMemoryState): NeuralMemoryState {
  return { memory: detachState(state.memory), convCache: state.convCache ? noGrad(() => state.convCache!.detach()) : null };
}

// ---------------------------------------------------------------- serialisation

export type { SerializedTensor } from './serialize.js';

export interface SerializedMemoryState {
  format: 'titans-memory-state/v1';
  position: number;
  weights: SerializedTensor[];
  momentum: SerializedTensor[];
  pending: Record<string, SerializedTensor> | null;
  convCache: SerializedTensor | null;
}

const deserializeTensor = (s: SerializedTensor | undefined, what: string): Tensor => deserializeAny(s, 'memory state', what);

/** A JSON-serialisable copy of the state (exact float32/float64 values). */
export async function serializeMemoryState(state: NeuralMemoryState): Promise<SerializedMemoryState> {
  const m = state.memory;
  const pending = await serializeTensorRecord(m.pending);
  return {
    format: 'titans-memory-state/v1',
    position: m.position,
    weights: await Promise.all(m.weights.map(serializeTensor)),
    momentum: await Promise.all(m.momentum.map(serializeTensor)),
    pending,
    convCache: state.convCache ? await serializeTensor(state.convCache) : null,
  };
}

export function deserializeMemoryState(s: SerializedMemoryState): NeuralMemoryState {
  if (s?.format !== 'titans-memory-state/v1') throw new Error(`memory state: unknown format ${JSON.stringify(s?.format)}`);
  const p = s.pending;
  const pendingTensor = (name: string): Tensor => deserializeTensor(p![name]!, `pending.${name}`);
  return {
    memory: {
      position: s.position,
      weights: s.weights.map((w, i) => deserializeTensor(w, `weights[${i}]`)),
      momentum: s.momentum.map((w, i) => deserializeTensor(w, `momentum[${i}]`)),
      pending: p ? { k: pendingTensor('k'), v: pendingTensor('v'), theta: pendingTensor('theta'), eta: pendingTensor('eta'), alpha: pendingTensor('alpha'), ...(p.delta ? { delta: pendingTensor('delta') } : {}) } : null,
    },
    convCache: s.convCache ? deserializeTensor(s.convCache, 'convCache') : null,
  };
}


