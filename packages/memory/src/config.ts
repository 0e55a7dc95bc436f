// The memory's configuration: the network it learns with (its architecture), the
// attentional bias (what "surprise" measures), the retention (how it forgets) and the
// learning rule (momentum). Miras names these axes; Titans is one point in the space.

/** The memory network M(P; x). */
export interface MemoryArchitecture {
  /** 1 = linear memory (M(x) = W x); >= 2 = MLP with this many weight matrices. */
  readonly depth: number;
  /** Hidden width of an MLP memory (expansion * dim in the paper). */
  readonly hidden: number;
  readonly activation: 'silu' | 'gelu';
  /** M(x) = x + f(x). */
  readonly residual: boolean;
  /** M(x) = x + LN(f(x)) (LayerNorm without affine, the paper's residual + norm form). */
  readonly norm: boolean;
}

/** The attentional bias: the inner loss whose gradient is the surprise. */
export type AttentionalBias =
  | { readonly kind: 'l2' }
  /** sum (e^2 + eps)^(p/2): a smooth |e|^p (Moneta). */
  | { readonly kind: 'lp'; readonly p: number; readonly eps?: number }
  /** Huber with a threshold per token (Yaad): e^2 inside, 2 delta |e| - delta^2 outside. */
  | { readonly kind: 'huber'; readonly delta?: number };

/** How the memory forgets, applied after each update. */
export type Retention =
  /** Weight decay by the gate alpha (Titans, Gated DeltaNet). */
  | { readonly kind: 'l2' }
  /** Decay plus soft-thresholding of the weights by lambda (sparsity). */
  | { readonly kind: 'elastic-net'; readonly lambda: number }
  /** Weights are the accumulator divided by its Lq norm^(q-2) (Moneta). */
  | { readonly kind: 'lq'; readonly q: number }
  /** Weights are a softmax of the scaled accumulator over each row, times a scale (Memora). */
  | { readonly kind: 'kl'; readonly scale: number };

export interface MemoryRule {
  readonly architecture: MemoryArchitecture;
  readonly bias: AttentionalBias;
  readonly retention: Retention;
  /** Tokens whose gradients are taken at the same (chunk-start) weights. */
  readonly chunkSize: number;
  /** Use momentum over surprise (eta); off = eta treated as 0 (DeltaNet-style). */
  readonly momentum: boolean;
  /** Forgetting gate on (alpha); off = alpha treated as 0. */
  readonly forgetting: boolean;
  /** Soft clamp of the per-token surprise norm (0 = off): u * c / max(c, |u|). */
  readonly maxSurpriseNorm: number;
  /**
   * Levels of momentum (default 1: the paper's Eq. 14). With m levels S_1..S_m, all
   * decayed by the same eta_t:
   *   S_1^(t+1) = eta_t S_1^(t) - theta_t u_t
   *   S_j^(t+1) = eta_t S_j^(t) + S_(j-1)^(t+1)      j = 2..m
   *   P^(t+1)   = (1 - alpha_t) P^(t) + S_m^(t+1)
   * so level j smooths level j-1 (m = 2: momentum of the momentum). Every level is linear
   * in the surprises, so the chunked parallel form stays exact.
   */
  readonly momentumOrder?: number;
  /**
   * Per weight matrix learning-rate modulation (default off): the surprise of matrix l is
   * taken in at theta_t * r_l, with r_l from `MemoryInputs.layerLearningRates` (learned
   * scalars in NeuralMemory). Exact in the chunked form (a per-layer scale).
   */
  readonly layerLearningRates?: boolean;
  /**
   * Orthogonalise each token's surprise, matrix by matrix, with 5 Newton-Schulz steps
   * (Muon's quintic, coefficients 3.4445, -4.7750, 2.0315) before momentum and the norm
   * clamp (default off). A token's gradient is rank one per matrix, so the chunked form
   * applies the same iteration in closed form and stays exact and low-rank.
   */
  readonly orthogonalizeSurprise?: boolean;
}

/** The optional knobs of a rule with their defaults filled in. */
export function ruleKnobs(rule: MemoryRule): { momentumOrder: number; layerLearningRates: boolean; orthogonalizeSurprise: boolean } {
  return {
    momentumOrder: rule.momentumOrder ?? 1,
    layerLearningRates: rule.layerLearningRates ?? false,
    orthogonalizeSurprise: rule.orthogonalizeSurprise ?? false,
  };
}

/** Throws a clear error for a rule no scan can run (named field, offending value). */
export function validateRule(rule: MemoryRule): void {
  const fail = (what: string): never => {
    throw new Error(`memory rule: ${what}`);
  };
  if (!Number.isInteger(rule.chunkSize) || rule.chunkSize < 1) fail(`chunkSize must be a positive integer, got ${rule.chunkSize}`);
  const order = rule.momentumOrder ?? 1;
  if (!Number.isInteger(order) || order < 1) fail(`momentumOrder must be a positive integer, got ${order}`);
  if (!(rule.maxSurpriseNorm >= 0)) fail(`maxSurpriseNorm must be >= 0 (0 = off), got ${rule.maxSurpriseNorm}`);
  const arch = rule.architecture;
  if (!Number.isInteger(arch.depth) || arch.depth < 1) fail(`architecture.depth must be a positive integer, got ${arch.depth}`);
  if (arch.depth > 1 && !(arch.hidden > 0)) fail(`an MLP memory needs architecture.hidden > 0, got ${arch.hidden}`);
  if (rule.bias.kind === 'lp' && !(rule.bias.p >= 1)) fail(`the lp bias needs p >= 1, got ${rule.bias.p}`);
  if (rule.bias.kind === 'huber' && rule.bias.delta !== undefined && !(rule.bias.delta > 0)) fail(`the huber bias needs delta > 0, got ${rule.bias.delta}`);
  if (rule.retention.kind === 'elastic-net' && !(rule.retention.lambda >= 0)) fail(`elastic-net retention needs lambda >= 0, got ${rule.retention.lambda}`);
  if (rule.retention.kind === 'lq' && !(rule.retention.q > 1)) fail(`lq retention needs q > 1, got ${rule.retention.q}`);
}

export function linearArchitecture(): MemoryArchitecture {
  return { depth: 1, hidden: 0, activation: 'silu', residual: false, norm: false };
}

export function mlpArchitecture(hidden: number, options: Partial<Omit<MemoryArchitecture, 'hidden'>> = {}): MemoryArchitecture {
  return { depth: options.depth ?? 2, hidden, activation: options.activation ?? 'silu', residual: options.residual ?? true, norm: options.norm ?? true };
}

/** Names of the golden-file memory kinds, mapped to architectures. */
export function architectureFromKind(kind: 'linear' | 'mlp2' | 'mlp2_residual' | 'mlp2_residual_ln', hidden: number, activation: 'silu' | 'gelu' = 'silu'): MemoryArchitecture {
  switch (kind) {
    case 'linear': return linearArchitecture();
    case 'mlp2': return { depth: 2, hidden, activation, residual: false, norm: false };
    case 'mlp2_residual': return { depth: 2, hidden, activation, residual: true, norm: false };
    case 'mlp2_residual_ln': return { depth: 2, hidden, activation, residual: true, norm: true };
  }
}

export type PresetName = 'titans' | 'moneta' | 'yaad' | 'memora' | 'deltanet' | 'gated-deltanet' | 'titans-linear';

/** The named points of the Miras space, for a memory of width `dim`. */
export function memoryPreset(name: PresetName, dim: number, overrides: Partial<MemoryRule> = {}): MemoryRule {
  const mlp = mlpArchitecture(4 * dim);
  const base: MemoryRule = {
    architecture: mlp, bias: { kind: 'l2' }, retention: { kind: 'l2' }, chunkSize: 16,
    momentum: true, forgetting: true, maxSurpriseNorm: 0,
  };
  const presets: Record<PresetName, MemoryRule> = {
    titans: base,
    'titans-linear': { ...base, architecture: linearArchitecture() },
    moneta: { ...base, bias: { kind: 'lp', p: 3 }, retention: { kind: 'lq', q: 4 }, momentum: false },
    yaad: { ...base, bias: { kind: 'huber' }, momentum: false },
    memora: { ...base, retention: { kind: 'kl', scale: 1 }, momentum: false },
    deltanet: { ...base, architecture: linearArchitecture(), momentum: false, forgetting: false },
    'gated-deltanet': { ...base, architecture: linearArchitecture(), momentum: false, forgetting: true },
  };
  return { ...presets[name], ...overrides };
}

/** Shapes [out, in] of the weight matrices of a memory over `dim` features. */
export function weightShapes(arch: MemoryArchitecture, dim: number): [number, number][] {
  if (arch.depth < 1 || !Number.isInteger(arch.depth)) throw new Error(`memory: depth must be a positive integer, got ${arch.depth}`);
  if (arch.depth === 1) return [[dim, dim]];
  if (!(arch.hidden > 0)) throw new Error(`memory: an MLP memory needs hidden > 0, got ${arch.hidden}`);
  const shapes: [number, number][] = [[arch.hidden, dim]];
  for (let l = 1; l < arch.depth - 1; l++) shapes.push([arch.hidden, arch.hidden]);
  shapes.push([dim, arch.hidden]);
  return shapes;
}
