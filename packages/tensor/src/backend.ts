// The small set of primitives a backend implements. Everything else in @titans/tensor
// (composite ops, gradients, modules) is written once on top of these.
//
// A backend receives *views*: a storage handle plus shape, strides and offset, so that
// transposes, slices and broadcasts reach a kernel without a copy. Elementwise primitives
// must accept arbitrary strides (a stride of 0 means a broadcast axis); the others state
// what layout they need and the frontend makes a contiguous copy when required.
//
// Primitives return new storage and never mutate their inputs. A backend may defer the
// work (record the op and run fused kernels later); results only have to be ready when
// `read`/`readSync` is called.

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;

/** An opaque block of device memory owned by one backend. */
export interface Storage {
  readonly backend: Backend;
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
}

/** A strided window onto a storage. */
export interface View {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'tanh' | 'sigmoid'
  | 'relu' | 'erf' | 'recip' | 'sin' | 'cos' | 'floor' | 'softplus' | 'square' | 'copy';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';
export type ArgReduceOp = 'argmax' | 'argmin';

export interface AttentionOptions {
  /** Multiplier of q.k (usually 1/sqrt(headDim)). */
  readonly scale: number;
  /** Causal mask: query i sees keys j <= i + (keyLength - queryLength). */
  readonly causal: boolean;
  /** Sliding window: a query sees at most this many most recent keys (0 = unlimited). */
  readonly window: number;
  /** The first `prefix` keys are always visible (persistent memory tokens). */
  readonly prefix: number;
}

export interface Backend {
  readonly name: string;
  /** True when `readSync` works (the CPU backend); GPU backends only read asynchronously. */
  readonly syncRead: boolean;
  /** Which dtypes this backend stores. */
  supports(dtype: DType): boolean;

  fromArray(data: TypedArray, dtype: DType): Storage;
  fill(size: number, value: number, dtype: DType): Storage;
  read(storage: Storage): Promise<TypedArray>;
  readSync(storage: Storage): TypedArray;
  dispose(storage: Storage): void;
  /** Bytes currently allocated by live storages. */
  liveBytes(): number;

  /** out[i] = op(x[i]); output is contiguous with shape x.shape. */
  unary(op: UnaryOp, x: View, outDtype: DType): Storage;
  /** Broadcast is already applied: a.shape == b.shape == outShape (strides may be 0). */
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage;
  /** cond ? a : b, all three with the same (broadcast) shape. */
  where(cond: View, a: View, b: View): Storage;
  cast(x: View, dtype: DType): Storage;
  /** Reduce each row of a contiguous [rows, cols] matrix. */
  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage;
  argReduceRows(op: ArgReduceOp, x: Storage, rows: number, cols: number): Storage;
  /**
   * Optional: reduce the middle axis of a contiguous [outer, mid, inner] array, out[o, j] = op
   * over i = 0, 1, ..., mid - 1 of x[o, i, j] ([outer, inner] contiguous), each output in the
   * order reduceRows would take on the transposed copy. Without it the op copies and calls reduceRows.
   */
  reduceMiddle?(op: ReduceOp, x: Storage, outer: number, mid: number, inner: number): Storage;
  /**
   * Batched matmul: a is [batch, m, k], b is [batch, k, n], any strides (a zero batch
   * stride broadcasts; transposes arrive as swapped strides). Output contiguous [batch, m, n].
   */
  matmul(a: View, b: View): Storage;
  /** Inclusive scan along each row of a contiguous [rows, cols] matrix. */
  scanRows(op: 'sum' | 'prod', x: Storage, rows: number, cols: number, reverse: boolean): Storage;
  /**
   * First-order linear recurrence along each row: h_t = a_t * h_{t-1} + b_t with h_{-1} = 0
   * (reverse: h_t = a_t * h_{t+1} + b_t, scanning from the end). Contiguous [rows, cols].
   */
  linearScanRows(a: Storage, b: Storage, rows: number, cols: number, reverse: boolean): Storage;
  /** Concatenate contiguous [outer, inner_i] blocks along the inner axis. */
  concatRows(parts: readonly Storage[], outer: number, inners: readonly number[]): Storage;
  /** rows of a contiguous [n, width] matrix picked by int32 indices: out [k, width]. */
  gatherRows(x: Storage, width: number, indices: Storage): Storage;
  /** out [n, width] = zeros; out[indices[i]] += src[i] for src [k, width]. */
  scatterAddRows(src: Storage, width: number, indices: Storage, n: number): Storage;
  /**
   * Fused attention over contiguous q [bh, tq, d], k [bh, tk, d], v [bh, tk, dv]. Returns
   * the output [bh, tq, dv] and the row log-sum-exp [bh, tq] (for the backward pass).
   */
  attention(q: Storage, k: Storage, v: Storage, dims: AttentionDims, options: AttentionOptions): { out: Storage; lse: Storage };
  attentionBackward(
    q: Storage, k: Storage, v: Storage, out: Storage, lse: Storage, gradOut: Storage,
    dims: AttentionDims, options: AttentionOptions,
  ): { dq: Storage; dk: Storage; dv: Storage };

  // Optional fused row kernels. A backend that leaves one undefined gets the composite ops
  // (ops/nn.ts); their gradients are written with ops either way, so gradients of gradients
  // keep working. All take and return contiguous float storages.
  /**
   * Each row of x [rows, cols] normalised: 'rms' y = x r, r = 1 / sqrt(mean(x^2) + eps);
   * 'layer' y = (x - mean) r, r = 1 / sqrt(mean((x - mean)^2) + eps). Returns y and r [rows].
   */
  normRows?(kind: NormKind, x: Storage, rows: number, cols: number, eps: number): { out: Storage; rstd: Storage };
  /** dx of normRows from its y, r and the gradient g of y: r (g - [mean(g)] - y mean(g y)). */
  normRowsBackward?(kind: NormKind, y: Storage, rstd: Storage, gradOut: Storage, rows: number, cols: number): Storage;
  /** softmax (log: log-softmax) of each row of x [rows, cols]. */
  softmaxRows?(x: Storage, rows: number, cols: number, log: boolean): Storage;
  /** dx of softmaxRows from its output y and g: y (g - sum(g y)), or g - exp(y) sum(g) for log. */
  softmaxRowsBackward?(y: Storage, gradOut: Storage, rows: number, cols: number, log: boolean): Storage;
  /** Rotary embedding of x [outer, t, d] (d even) by tables cos, sin [t, d / 2] (rotate-half pairing). */
  ropeRows?(x: Storage, cos: Storage, sin: Storage, outer: number, t: number, d: number): Storage;
  /** SiLU x sigmoid(x) of a contiguous x (the gate of SwiGLU). */
  silu?(x: Storage): Storage;
  /** dx of silu from x and g: g sigmoid(x) (1 + x (1 - sigmoid(x))). */
  siluBackward?(x: Storage, gradOut: Storage): Storage;
  /**
   * Optional fused neural-memory recurrence (see MemoryScanDims): the whole chunked scan of
   * `memories` independent memories in one call. Backends without it leave it undefined and
   * the memory runs its composite path. Never differentiated directly (the op's gradient
   * rule is written with differentiable ops).
   */
  memoryScan?(inputs: MemoryScanInputs, dims: MemoryScanDims): Storage;
  /** True when `memoryScan` implements `MemoryScanDims.maxSurpriseNorm` (absent: it does not, and callers must not pass it). */
  readonly memoryScanClamp?: boolean;
  /**
   * Optional channels-last causal depthwise convolution (see CausalConvDims) of a contiguous
   * x [batch, tokens, channels] by weight [channels, kernel] (+ bias [channels]), with the
   * already-activated rows `history` [batch, past, channels] before x. Returns y [batch,
   * tokens, channels]. Never differentiated directly (the op's gradient is composite).
   */
  causalConv?(x: Storage, weight: Storage, bias: Storage | null, history: Storage | null, dims: CausalConvDims): Storage;
  /**
   * First-order gradients of causalConv along gradOut [batch, tokens, channels]: dx, dweight
   * [channels, kernel], dbias [channels] and dhistory [batch, past, channels] (size 0 when past is 0).
   */
  causalConvBackward?(
    x: Storage, weight: Storage, history: Storage | null, gradOut: Storage, dims: CausalConvDims,
  ): { dx: Storage; dweight: Storage; dbias: Storage; dhistory: Storage };
  /**
   * Optional split of the channel block [offset, offset + heads headDim) of a contiguous
   * x [batch, tokens, channels] into contiguous heads [batch, heads, tokens, headDim], each
   * row divided by max(||row||_2, eps) when `normalize` (see HeadRowsDims).
   */
  headRows?(x: Storage, dims: HeadRowsDims): Storage;
  /** First-order gradient of headRows along gradOut [batch, heads, tokens, headDim]: dx [batch, tokens, channels]. */
  headRowsBackward?(x: Storage, gradOut: Storage, dims: HeadRowsDims): Storage;
  /**
   * Optional causalConv followed by headRows of each channel block, in one pass: x's rows may
   * be wider than the convolved channels (see CausalConvHeadsDims). Returns one contiguous
   * [batch, heads, tokens, headDim] storage per block, equal to causalConv then headRows.
   * Never differentiated directly (the op falls back to the two ops when a gradient is recorded).
   */
  causalConvHeads?(x: Storage, weight: Storage, bias: Storage | null, history: Storage | null, dims: CausalConvHeadsDims): Storage[];
}

/** Sizes of Backend.causalConv: u = silu(x) when `silu`, else x; y_t = sum_j w_j u_(t - kernel + 1 + j) (+ bias). */
export interface CausalConvDims {
  readonly batch: number;
  readonly tokens: number;
  readonly channels: number;
  readonly kernel: number;
  /** Rows of `history` per batch (0 without one); positions before them are zero. */
  readonly past: number;
  readonly silu: boolean;
}

/**
 * Sizes of Backend.causalConvHeads: the convolution of CausalConvDims over `channels` channels
 * of x, whose row b t starts at element offset + (b tokens + t) rowStride (rowStride >=
 * channels), then each block's channels [offset, offset + heads headDim) of the result split
 * into heads, rows divided by max(||row||_2, eps) where `normalize`.
 */
export interface CausalConvHeadsDims extends CausalConvDims {
  readonly rowStride: number;
  readonly offset: number;
  readonly blocks: readonly { readonly offset: number; readonly heads: number; readonly headDim: number; readonly normalize: boolean }[];
  readonly eps: number;
}

/** Sizes of Backend.headRows. */
export interface HeadRowsDims {
  readonly batch: number;
  readonly tokens: number;
  readonly channels: number;
  readonly offset: number;
  readonly heads: number;
  readonly headDim: number;
  readonly normalize: boolean;
  readonly eps: number;
}

/**
 * Contiguous storages of a fused memory scan: k, q [memories, tokens, in_0], v [memories,
 * tokens, out_last], the gates theta, eta, alpha [memories, tokens], and the chunk-start
 * weights and momentum of each layer l, [memories, out_l, in_l].
 */
export interface MemoryScanInputs {
  readonly k: Storage;
  readonly v: Storage;
  readonly q: Storage;
  readonly theta: Storage;
  readonly eta: Storage;
  readonly alpha: Storage;
  readonly weights: readonly Storage[];
  readonly momentum: readonly Storage[];
}

/**
 * The neural memory's recurrence with an L2 attentional bias, L2 retention and one momentum
 * level (shared/spec/neural-memory.md): per memory, chunks of `chunk` tokens take their
 * surprise u_s = grad l(P^(chunk start); k_s, v_s), then token by token
 * S <- eta_t S - theta_t u_t, P <- (1 - alpha_t) P + S, with y_pre_t = M(P^(t); q_t) and
 * y_post_t = M(P^(t+1); q_t). M is x -> W_L act(... act(W_1 x)), then LayerNorm (no affine,
 * eps 1e-5) when `norm`, then + x when `residual`. The result is one storage holding, in
 * order: y_pre (unless yPre is false) and y_post [memories, tokens, out_last], the loss l(P^(chunk start); k_t, v_t)
 * [memories, tokens], then each layer's weights and then each layer's momentum after the
 * last complete chunk (the initial ones when there is none), [memories, out_l, in_l].
 */
export interface MemoryScanDims {
  readonly memories: number;
  readonly tokens: number;
  readonly chunk: number;
  /** [out, in] of each weight matrix, first layer first (in_0 = key width). */
  readonly layers: readonly (readonly [number, number])[];
  readonly activation: 'silu' | 'gelu';
  readonly residual: boolean;
  readonly norm: boolean;
  /**
   * false: y_pre is neither computed nor packed (the packed output starts with y_post), for
   * callers that read only the retrieval after each update. Default true.
   */
  readonly yPre?: boolean;
  /**
   * The soft clamp of each token's surprise (0 or absent: off). With m > 0, every weight
   * matrix's gradient of token t is multiplied by min(m / max(n_t, 1e-30), 1) before the
   * theta scaling, where n_t = sqrt(sum_l |delta_l|^2 |input_l|^2 + 1e-30) is the Frobenius
   * norm of the token's whole gradient (rank one per matrix). Only backends with
   * `memoryScanClamp` accept it.
   */
  readonly maxSurpriseNorm?: number;
}

/** The row normalisations with a fused kernel: RMSNorm and LayerNorm (no affine). */
export type NormKind = 'rms' | 'layer';

export interface AttentionDims {
  readonly batchHeads: number;
  readonly queryLength: number;
  readonly keyLength: number;
  readonly headDim: number;
  readonly valueDim: number;
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function arrayConstructor(dtype: DType): Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'float64': return Float64Array;
    case 'int32': return Int32Array;
  }
}
