// Model configuration: one typed object describes every architecture in the package (the
// Titans variants and the baselines built from the same parts), presets mirror the paper's
// sizes, and the parameter count is computed from the config alone (no weights needed).
import {
  linearArchitecture, memoryPreset, mlpArchitecture, weightShapes, type MemoryRule, type NeuralMemoryOptions, type PresetName,
} from '@titans/memory';
import { isAtlasArchitecture, omegaMemoryParameters } from './atlas.js';
import { cmsParameters, isHopeArchitecture, selfModifyingParameters } from './hope.js';

/** Every sequence mixer the package builds. */
export type ArchitectureName =
  | 'lmm' // Titans neural memory alone (Titans LMM)
  | 'mac' // Memory as a Context
  | 'mag' // Memory as a Gate
  | 'mal' // Memory as a Layer
  | 'transformer' // Transformer++: full causal attention
  | 'swa' // sliding-window attention only
  | 'deltanet'
  | 'gated-deltanet'
  | 'moneta'
  | 'yaad'
  | 'memora'
  | 'omeganet' // Atlas paper: the Omega rule with polynomial features, momentum (atlas.ts)
  | 'atlas' // the Omega rule with polynomial features and Muon
  | 'atlas-mag' // the Atlas memory in a MAG block
  | 'atlas-mal' // the Atlas memory in a MAL block
  | 'hope' // Nested Learning: self-modifying Titans followed by a Continuum Memory System (hope.ts)
  | 'hope-attention'; // Nested Learning: causal attention followed by a Continuum Memory System (hope.ts)

export const ARCHITECTURES: readonly ArchitectureName[] = [
  'lmm', 'mac', 'mag', 'mal', 'transformer', 'swa', 'deltanet', 'gated-deltanet', 'moneta', 'yaad', 'memora',
  'omeganet', 'atlas', 'atlas-mag', 'atlas-mal', 'hope', 'hope-attention',
];

/**
 * The revision of each architecture's computation: bumped when the same config and weights
 * start computing something else, so that tools which cache results (or checkpoints) per
 * config can tell them apart. Revision 1 for every architecture not listed. Each entry lists
 * what every revision from 2 on changed (checkpoints record the revision they were saved at,
 * and loading one saved at another revision names these changes).
 */
const ARCHITECTURE_REVISION_CHANGES: Readonly<Partial<Record<ArchitectureName, readonly string[]>>> = {
  mac: [
    /* 2 */ "y carries the attention block's residual connection and the gate's sigmoid is on y",
  ],
  omeganet: [
    /* 2 */ "the Omega rule's momentum step bounds each token's window gradient by memory.ruleOverrides.maxSurpriseNorm (the revision-1 memory could diverge on long sequences)",
  ],
  hope: [
    /* 2 */ "the self-modifying Titans normalises its values, divides each matrix's DGD step by its input's energy and bounds eta by 1/3 (the revision-1 recurrence could diverge)",
  ],
};

export function architectureRevision(name: ArchitectureName): number {
  return (ARCHITECTURE_REVISION_CHANGES[name]?.length ?? 0) + 1;
}

/**
 * What changed in `name`'s computation between revisions `from` and `to` (either order),
 * one line per revision, e.g. `revision 2: ...`. Empty when they are equal.
 */
export function architectureRevisionChanges(name: ArchitectureName, from: number, to: number): string[] {
  const changes = ARCHITECTURE_REVISION_CHANGES[name] ?? [];
  const out: string[] = [];
  for (let revision = Math.min(from, to) + 1; revision <= Math.max(from, to); revision++) {
    out.push(`revision ${revision}: ${changes[revision - 2] ?? '(not a revision this version knows)'}`);
  }
  return out;
}

/** What a block of the architecture contains. */
export interface ArchitectureParts {
  readonly attention: boolean;
  readonly memory: boolean;
}

export function architectureParts(name: ArchitectureName): ArchitectureParts {
  switch (name) {
    case 'transformer':
    case 'swa':
    case 'hope-attention': // its memory is the CMS in place of the MLP, not a NeuralMemory
      return { attention: true, memory: false };
    case 'mac':
    case 'mag':
    case 'mal':
    case 'atlas-mag':
    case 'atlas-mal':
      return { attention: true, memory: true };
    default:
      return { attention: false, memory: true };
  }
}

/** The neural memory of memory-based layers (see @titans/memory). */
export interface MemoryConfig {
  /** Memory heads, each an independent memory over dim / heads features. */
  readonly heads: number;
  /** 1 = linear memory (DeltaNet-style); >= 2 = MLP memory with this many weight matrices. */
  readonly depth: number;
  /** Hidden width of an MLP memory as a multiple of the head width (paper: 4). */
  readonly expansion: number;
  /** Tokens per chunk of the parallel memory update (paper: 16). */
  readonly chunkSize: number;
  /** Causal depthwise convolution kernel on q, k, v (paper: 4; 0 = off). */
  readonly convKernel: number;
  /** Normalise and gate retrieved values before the memory's output projection. */
  readonly outputGate: boolean;
  /**
   * Upper bound of the memory's learning-rate gate theta (default 0.1: with 1, an untrained
   * MLP memory takes steps of about half its weights per token and the loss becomes
   * extremely sensitive to its inputs).
   */
  readonly thetaMax: number;
  /**
   * Extra overrides of the update rule; the architecture comes from depth/expansion. Models
   * default `maxSurpriseNorm` to 1 (DEFAULT_MAX_SURPRISE_NORM): without the clamp, the
   * gradient of the loss through an untrained MLP memory grows exponentially with sequence
   * length (tiny LMM: max |grad| 2.5e8 at 256 tokens, 1.5e27 at 1024, non-finite at 2048;
   * with it 0.1-1.5), so training on long sequences would skip every step. Pass
   * `ruleOverrides: { maxSurpriseNorm: 0 }` for the paper's unclamped rule.
   */
  readonly ruleOverrides?: Partial<Omit<MemoryRule, 'architecture'>>;
  /**
   * Initial biases of the memory's gate logits (theta, eta, alpha), e.g. `{ alpha: -4 }` to
   * start the forget gate near "retain" (alpha = 0.018) instead of sigmoid(0) = 0.5 per token,
   * which erases an untrained memory within a few tokens (see NeuralMemoryOptions.gateBias).
   * Absent = the Linear layer's random init.
   */
  readonly gateBias?: NeuralMemoryOptions['gateBias'];
}

/** Models' default soft clamp of each token's surprise norm (see MemoryConfig.ruleOverrides). */
export const DEFAULT_MAX_SURPRISE_NORM = 1;

export interface ModelConfig {
  readonly architecture: ArchitectureName;
  readonly vocabSize: number;
  /** Width of the residual stream. */
  readonly dim: number;
  /** Number of blocks. */
  readonly layers: number;
  /** Attention heads. */
  readonly heads: number;
  /** Hidden width of the SwiGLU MLP. */
  readonly mlpHidden: number;
  /** Sliding window of SWA, MAG and MAL attention (0 = unlimited; the transformer ignores it). */
  readonly window: number;
  /** MAC segment length S. */
  readonly segmentLength: number;
  /** Learnable persistent-memory tokens per attention layer (always-visible keys/values). */
  readonly persistentTokens: number;
  readonly memory: MemoryConfig;
  readonly ropeBase: number;
  readonly normEps: number;
  /** Share the token embedding with the output projection. */
  readonly tieEmbeddings: boolean;
  readonly dtype: 'float32' | 'float64';
  /** Seed of the initial weights. */
  readonly seed: number;
}

/** A config with any field left out; `defineConfig` fills the defaults. */
export type ModelConfigInput = Partial<Omit<ModelConfig, 'memory'>> & {
  readonly architecture: ArchitectureName;
  readonly memory?: Partial<MemoryConfig>;
};

const MEMORY_RULES: Record<ArchitectureName, PresetName | null> = {
  lmm: 'titans', mac: 'titans', mag: 'titans', mal: 'titans',
  transformer: null, swa: null,
  deltanet: 'deltanet', 'gated-deltanet': 'gated-deltanet',
  moneta: 'moneta', yaad: 'yaad', memora: 'memora',
  // The Atlas family's memory is an Omega rule, not a MemoryRule (atlas.ts: omegaRuleOf).
  omeganet: null, atlas: null, 'atlas-mag': null, 'atlas-mal': null,
  // The Hope family's memory is a Continuum Memory System (hope.ts).
  hope: null, 'hope-attention': null,
};

/** Fills defaults (a tiny CPU-sized model) and validates. */
export function defineConfig(input: ModelConfigInput): ModelConfig {
  const linearFamily = input.architecture === 'deltanet' || input.architecture === 'gated-deltanet';
  const dim = input.dim ?? 32;
  const heads = input.heads ?? 2;
  const memory: MemoryConfig = {
    heads: input.memory?.heads ?? heads,
    depth: input.memory?.depth ?? (linearFamily ? 1 : 2),
    expansion: input.memory?.expansion ?? 4,
    chunkSize: input.memory?.chunkSize ?? 16,
    convKernel: input.memory?.convKernel ?? 4,
    outputGate: input.memory?.outputGate ?? true,
    thetaMax: input.memory?.thetaMax ?? 0.1,
    ruleOverrides: { maxSurpriseNorm: DEFAULT_MAX_SURPRISE_NORM, ...input.memory?.ruleOverrides },
    ...(input.memory?.gateBias ? { gateBias: input.memory.gateBias } : {}),
  };
  const config: ModelConfig = {
    architecture: input.architecture,
    vocabSize: input.vocabSize ?? 256,
    dim,
    layers: input.layers ?? 2,
    heads,
    mlpHidden: input.mlpHidden ?? llamaHidden(dim),
    window: input.window ?? 64,
    segmentLength: input.segmentLength ?? 32,
    persistentTokens: input.persistentTokens ?? (architectureParts(input.architecture).memory ? 4 : 0),
    memory,
    ropeBase: input.ropeBase ?? 10000,
    normEps: input.normEps ?? 1e-6,
    tieEmbeddings: input.tieEmbeddings ?? false,
    dtype: input.dtype ?? 'float32',
    seed: input.seed ?? 0,
  };
  validateConfig(config);
  return config;
}

/** Llama's MLP width: 8/3 of the model width, rounded up to a multiple of 32. */
export function llamaHidden(dim: number): number {
  return Math.ceil((8 * dim) / 3 / 32) * 32;
}

export function validateConfig(c: ModelConfig): void {
  const fail = (what: string): never => {
    throw new Error(`model config (${c.architecture}): ${what}`);
  };
  if (!ARCHITECTURES.includes(c.architecture)) fail(`unknown architecture ${JSON.stringify(c.architecture)}`);
  const positive = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) fail(`${name} must be a positive integer, got ${v}`);
  };
  positive('vocabSize', c.vocabSize);
  positive('dim', c.dim);
  positive('layers', c.layers);
  positive('heads', c.heads);
  positive('mlpHidden', c.mlpHidden);
  positive('segmentLength', c.segmentLength);
  positive('memory.heads', c.memory.heads);
  positive('memory.depth', c.memory.depth);
  positive('memory.chunkSize', c.memory.chunkSize);
  if (!Number.isInteger(c.window) || c.window < 0) fail(`window must be a non-negative integer, got ${c.window}`);
  if (!Number.isInteger(c.persistentTokens) || c.persistentTokens < 0) fail(`persistentTokens must be a non-negative integer, got ${c.persistentTokens}`);
  if (!Number.isInteger(c.memory.convKernel) || c.memory.convKernel < 0) fail(`memory.convKernel must be a non-negative integer, got ${c.memory.convKernel}`);
  if (c.dim % c.heads !== 0) fail(`dim ${c.dim} is not divisible by heads ${c.heads}`);
  if ((c.dim / c.heads) % 2 !== 0) fail(`head width ${c.dim / c.heads} must be even (RoPE)`);
  if (c.dim % c.memory.heads !== 0) fail(`dim ${c.dim} is not divisible by memory.heads ${c.memory.heads}`);
  if (c.memory.depth > 1 && !(c.memory.expansion > 0)) fail(`memory.expansion must be positive for an MLP memory, got ${c.memory.expansion}`);
  if (c.dtype !== 'float32' && c.dtype !== 'float64') fail(`dtype must be float32 or float64, got ${String(c.dtype)}`);
}

/** The update rule of the architecture's memory, or null when it has none. */
export function memoryRuleOf(c: ModelConfig): MemoryRule | null {
  const preset = MEMORY_RULES[c.architecture];
  if (preset === null) return null;
  const headDim = c.dim / c.memory.heads;
  const architecture = c.memory.depth === 1
    ? linearArchitecture()
    : mlpArchitecture(Math.round(c.memory.expansion * headDim), { depth: c.memory.depth });
  return memoryPreset(preset, headDim, { ...c.memory.ruleOverrides, chunkSize: c.memory.chunkSize, architecture });
}

// ---------------------------------------------------------------- presets

export type PaperSize = '170M' | '340M' | '760M' | '1.3B';

/** Blocks, width and heads of the paper's model sizes. */
export const PAPER_SIZES: Readonly<Record<PaperSize, { layers: number; dim: number; heads: number }>> = {
  '170M': { layers: 12, dim: 768, heads: 16 },
  '340M': { layers: 24, dim: 1024, heads: 16 },
  '760M': { layers: 24, dim: 1536, heads: 16 },
  '1.3B': { layers: 18, dim: 2048, heads: 8 },
};

/**
 * The paper's settings (Llama-2 32K vocabulary, SWA window 2048, MAC segment 512, 128
 * persistent tokens, 2-layer memory MLP with expansion 4, chunk 16, conv kernel 4).
 * Far too large for the CPU: for analysis (`countParameters`) and for GPU backends.
 */
export function paperConfig(architecture: ArchitectureName, size: PaperSize, overrides: Partial<ModelConfigInput> = {}): ModelConfig {
  const s = PAPER_SIZES[size];
  const titans = architecture === 'mac' || architecture === 'mag' || architecture === 'mal' || architecture === 'atlas-mag' || architecture === 'atlas-mal';
  return defineConfig({
    vocabSize: 32000, ...s, window: 2048, segmentLength: 512,
    persistentTokens: titans ? 128 : 0,
    ...overrides,
    architecture,
    memory: { heads: s.heads, expansion: 4, chunkSize: 16, convKernel: 4, ...overrides.memory },
  });
}

/**
 * A byte-level model that trains on a 2-core CPU: width 48, 2 blocks, 2 heads, window 64,
 * MAC segment 32, 4 persistent tokens, memory chunk 16. Its vocabulary is 259: the 256 byte
 * values plus the byte tokenizer's BOS, EOS and PAD (ids 256-258 of `ByteTokenizer` in
 * `@titans/data`), so it takes that tokenizer's ids as they are; the CLI's `tiny-<arch>`
 * presets are exactly this config.
 */
export function tinyConfig(architecture: ArchitectureName, overrides: Partial<ModelConfigInput> = {}): ModelConfig {
  return defineConfig({
    vocabSize: 259, dim: 48, layers: 2, heads: 2, window: 64, segmentLength: 32,
    ...overrides,
    architecture,
    // The Atlas memory's input is phi(k), 1 + 24 + 24^2 = 601 wide here: expansion 1 keeps it under 200k parameters.
    memory: { heads: 2, expansion: isAtlasArchitecture(architecture) ? 1 : 2, chunkSize: 16, ...overrides.memory },
  });
}

// ---------------------------------------------------------------- parameter counts

/** Parameters of each part of one block, and of the whole model. */
export interface ParameterBreakdown {
  readonly embedding: number;
  readonly head: number;
  readonly finalNorm: number;
  readonly perBlock: number;
  readonly attention: number;
  readonly memory: number;
  readonly mlp: number;
  readonly total: number;
}

/** Counts parameters from the config alone (exactly what `createModel` allocates). */
export function parameterBreakdown(c: ModelConfig): ParameterBreakdown {
  const d = c.dim;
  const parts = architectureParts(c.architecture);
  const attention = parts.attention ? 4 * d * d + c.persistentTokens * d : 0;
  // The Hope family replaces the MLP with a CMS (counted as memory).
  const mlp = isHopeArchitecture(c.architecture) ? 0 : 3 * d * c.mlpHidden;
  let memory = isHopeArchitecture(c.architecture) ? cmsParameters(c) + (c.architecture === 'hope' ? selfModifyingParameters(c) : 0) : 0;
  const rule = memoryRuleOf(c);
  if (rule) {
    const mh = c.memory.heads;
    const k = c.memory.convKernel;
    const init = weightShapes(rule.architecture, d / mh).reduce((n, [o, i]) => n + o * i, 0) * mh;
    memory = 3 * d * d // qkv
      + (k > 0 ? 3 * d * k + 3 * d : 0) // depthwise conv + bias
      + d * 3 * mh + 3 * mh // gates theta, eta, alpha
      + init
      // Learned per-matrix learning-rate multipliers, one per head, when the rule asks for them.
      + ((rule as { layerLearningRates?: boolean }).layerLearningRates ? weightShapes(rule.architecture, d / mh).length * mh : 0)
      + (c.memory.outputGate ? d + d * d : 0)
      + d * d; // output projection
  }
  if (isAtlasArchitecture(c.architecture)) memory = omegaMemoryParameters(c);
  const norms = c.architecture === 'mal' || c.architecture === 'atlas-mal' ? 3 : 2;
  const gate = c.architecture === 'mac' || c.architecture === 'mag' || c.architecture === 'atlas-mag' ? 2 * d : 0;
  const perBlock = attention + memory + mlp + norms * d + gate;
  const embedding = c.vocabSize * d;
  const head = c.tieEmbeddings ? 0 : c.vocabSize * d;
  return {
    embedding, head, finalNorm: d, perBlock, attention, memory, mlp,
    total: embedding + head + d + c.layers * perBlock,
  };
}
