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
