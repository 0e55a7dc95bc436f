// The demo's recipe: every number `titans demo` uses (model sizes, data, optimisation, time
// budget, evaluation grid) in one object, so it can be tuned without touching the demo's
// code. `quick` holds the overrides of `titans demo --quick` (a smoke run under a minute).
//
// The models and the passkey task are those of `titans reproduce`'s PASSKEY_RECIPE (tuned
// there until tiny models learn retrieval in a few CPU minutes): a 64-byte compact passkey
// (filler sentences, "The pass key is NNNNN.", then " The pass key is"; loss on the answer
// only), a 16-byte attention window and a linear memory with one-shot writes and no
// forgetting. MAG is the Titans variant that learns it within the demo's budget (MAC needs
// several times as many steps). Text rows of State of the Union speeches are mixed into
// every batch so the demo also reports held-out perplexity.
import { countParameters, defineConfig, type ModelConfig } from '@titans/models';
import { BYTE_VOCAB, PASSKEY_RECIPE, matchedMlpHidden, recipeConfig, type ModelRecipe } from '@titans/experiments';

/** The demo's two models: a Titans MAG and a sliding-window Transformer of the same size. */
export type DemoArchitecture = 'mag' | 'swa';

export interface DemoRecipe {
  /** Shared by both models (SWA gets no persistent tokens and no memory). */
  readonly model: ModelRecipe & {
    readonly vocabSize: number;
    /** Widen SWA's MLP so both models have about the same number of parameters. */
    readonly matchParameters: boolean;
    readonly seed: number;
  };
  readonly data: {
    /** Training length in bytes (every row: a compact passkey example or a piece of SOTU text). */
    readonly sequenceLength: number;
    readonly batchSize: number;
    /** Rows of every batch that are passkey examples (answer-only loss); the others are SOTU text (train split). */
    readonly passkeyRows: number;
    readonly digits: number;
    /** Extra weight of the loss on the passkey answer tokens (on top of their share of the mean). */
    readonly answerWeight: number;
  };
  readonly train: {
    /** Upper bound of optimizer steps; the demo fits as many as the time budget allows. */
    readonly maxSteps: number;
    /**
     * Lower bound of optimizer steps: below it MAG has not learned to retrieve yet, so on a
     * slow machine the demo runs over its time budget rather than show nothing.
     */
    readonly minSteps: number;
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
    /** Validation (SOTU val loss and passkey answer loss) this many times during training. */
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

const passkeyTrain = PASSKEY_RECIPE.train;

export const DEMO_RECIPE: DemoRecipe = {
  model: { ...PASSKEY_RECIPE.model, vocabSize: BYTE_VOCAB, matchParameters: true, seed: 0 },
  data: { sequenceLength: PASSKEY_RECIPE.task.trainLength, batchSize: 20, passkeyRows: 16, digits: PASSKEY_RECIPE.task.digits, answerWeight: 1 },
  train: {
    maxSteps: 600, minSteps: 250, trainingSeconds: 360, lr: passkeyTrain.lr, warmupSteps: passkeyTrain.warmupSteps, minLrRatio: 0.1,
    weightDecay: passkeyTrain.weightDecay, clipNorm: passkeyTrain.clipNorm, evalPoints: 6,
  },
  eval: { lengthMultiples: PASSKEY_RECIPE.task.multiples, depths: [0, 0.25, 0.5, 0.75, 1], samplesPerCell: 6, perplexityTokens: 8192 },
  quick: {
    model: { dim: 16 },
    data: { batchSize: 3, passkeyRows: 2 },
    train: { maxSteps: 3, minSteps: 1, trainingSeconds: 20, warmupSteps: 1, evalPoints: 1 },
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

/** The demo's MAG or SWA config (also the presets `demo-mag` and `demo-swa`). */
export function demoModelConfig(architecture: DemoArchitecture, recipe: DemoRecipe = DEMO_RECIPE): ModelConfig {
  const m = recipe.model;
  const mag = defineConfig(recipeConfig('mag', m, m.vocabSize, m.seed));
  if (architecture === 'mag') return mag;
  const swa = recipeConfig('swa', m, m.vocabSize, m.seed);
  return defineConfig(m.matchParameters ? { ...swa, mlpHidden: matchedMlpHidden(swa, countParameters(mag)) } : swa);
}
