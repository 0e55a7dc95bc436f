// The demo's recipe: every number `titans demo` uses (model sizes, data, optimisation, time
// budget, evaluation grid) in one object, so it can be tuned without touching the demo's
// code. `quick` holds the overrides of `titans demo --quick` (a smoke run under a minute).
import { countParameters, defineConfig, type MemoryConfig, type ModelConfig } from '@titans/models';

export interface DemoRecipe {
  /** Shared by both models: byte-level vocabulary, width, blocks, heads. */
  readonly model: {
    readonly vocabSize: number;
    readonly dim: number;
    readonly layers: number;
    readonly heads: number;
    /** SWA's attention window and MAC's attention span both stay below the training length. */
    readonly window: number;
    /** MAC segment length S (attention sees the segment plus memory tokens). */
    readonly segmentLength: number;
    /** MAC's learnable persistent-memory tokens. */
    readonly persistentTokens: number;
    readonly memory: Pick<MemoryConfig, 'heads' | 'depth' | 'expansion' | 'chunkSize' | 'convKernel' | 'thetaMax'> & {
      /**
       * Soft clamp of each token's surprise norm. Without it the outer-loop gradients of an
       * untrained MLP memory reach 1e7-1e8 on passkey text (clipping then hides all signal).
       */
      readonly maxSurpriseNorm: number;
    };
    /** Widen SWA's MLP so both models have about the same number of parameters. */
    readonly matchParameters: boolean;
    readonly seed: number;
  };
  readonly data: {
    /** Training length in bytes (the passkey prompt needs >= 250 with 5 digits). */
    readonly sequenceLength: number;
    readonly batchSize: number;
    /** Rows of every batch that are passkey examples; the others are SOTU text (train split). */
    readonly passkeyRows: number;
    readonly digits: number;
    /** Extra weight of the loss on the passkey answer tokens. */
    readonly answerWeight: number;
  };
  readonly train: {
    /** Upper bound of optimizer steps; the demo fits as many as the time budget allows. */
    readonly maxSteps: number;
    /**
     * Training time of both models together, in seconds. Both train the same number of steps
     * on the same batches (equal data, not equal time): steps = budget / (sum of the step
     * times measured before training).
     */
    readonly trainingSeconds: number;
    readonly lr: number;
    readonly warmupSteps: number;
    readonly minLrRatio: number;
    readonly weightDecay: number;
    readonly clipNorm: number;
    /** Validation (SOTU val bits per byte and passkey answer loss) this many times during training. */
    readonly evalPoints: number;
  };
  readonly eval: {
    /** Passkey prompt lengths as multiples of the training length. */
    readonly lengthMultiples: readonly number[];
    readonly depths: readonly number[];
    readonly samplesPerCell: number;
    /** SOTU test-split tokens scored for perplexity and bits per byte. */
    readonly perplexityTokens: number;
  };
  readonly quick: {
    readonly model: Partial<Pick<DemoRecipe['model'], 'dim' | 'layers' | 'heads' | 'window' | 'segmentLength'>>;
    readonly data: Partial<DemoRecipe['data']>;
    readonly train: Partial<DemoRecipe['train']>;
    readonly eval: Partial<DemoRecipe['eval']>;
  };
}

export const DEMO_RECIPE: DemoRecipe = {
  model: {
    vocabSize: 259,
    dim: 32,
    layers: 2,
    heads: 2,
    window: 64,
    segmentLength: 64,
    persistentTokens: 4,
    memory: { heads: 2, depth: 2, expansion: 2, chunkSize: 16, convKernel: 4, thetaMax: 0.1, maxSurpriseNorm: 1 },
    matchParameters: true,
    seed: 0,
  },
  data: { sequenceLength: 320, batchSize: 4, passkeyRows: 2, digits: 5, answerWeight: 1 },
  train: { maxSteps: 2000, trainingSeconds: 420, lr: 5e-3, warmupSteps: 20, minLrRatio: 0.1, weightDecay: 0.01, clipNorm: 1, evalPoints: 6 },
  eval: { lengthMultiples: [1, 2, 4], depths: [0, 0.25, 0.5, 0.75, 1], samplesPerCell: 2, perplexityTokens: 8192 },
  quick: {
    model: { dim: 16, heads: 2, window: 32, segmentLength: 32 },
    data: { sequenceLength: 256, batchSize: 2, passkeyRows: 1 },
    train: { maxSteps: 3, trainingSeconds: 20, warmupSteps: 1, evalPoints: 1 },
    eval: { lengthMultiples: [1, 2], depths: [0, 1], samplesPerCell: 1, perplexityTokens: 512 },
  },
};

/** The recipe with its `quick` overrides applied. */
export function quickRecipe(recipe: DemoRecipe = DEMO_RECIPE): DemoRecipe {
  return {
    ...recipe,
    model: { ...recipe.model, ...recipe.quick.model },
    data: { ...recipe.data, ...recipe.quick.data },
    train: { ...recipe.train, ...recipe.quick.train },
    eval: { ...recipe.eval, ...recipe.quick.eval },
  };
}

/** The demo's MAC or SWA config (also the presets `demo-mac` and `demo-swa`). */
export function demoModelConfig(architecture: 'mac' | 'swa', recipe: DemoRecipe = DEMO_RECIPE): ModelConfig {
  const m = recipe.model;
  const shared = { vocabSize: m.vocabSize, dim: m.dim, layers: m.layers, heads: m.heads, window: m.window, seed: m.seed };
  const { maxSurpriseNorm, ...memory } = m.memory;
  const mac = defineConfig({
    ...shared, architecture: 'mac', segmentLength: m.segmentLength, persistentTokens: m.persistentTokens,
    memory: { ...memory, ruleOverrides: { maxSurpriseNorm } },
  });
  if (architecture === 'mac') return mac;
  const swa = defineConfig({ ...shared, architecture: 'swa' });
  if (!m.matchParameters) return swa;
  // The MLP holds 3 * dim * hidden parameters per block: spend MAC's extra parameters there.
  const extra = countParameters(mac) - countParameters(swa);
  const hidden = Math.max(8, Math.round((swa.mlpHidden + extra / (3 * m.dim * m.layers)) / 8) * 8);
  return defineConfig({ ...shared, architecture: 'swa', mlpHidden: hidden });
}
