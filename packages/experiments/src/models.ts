// The models of a reproduction plan: every architecture built from the plan's base recipe,
// with its MLP width chosen so its parameter count matches the LMM's (the paper compares
// models of equal size), and the ablations as one change each to their base model.
import { ARCHITECTURES, countParameters, defineConfig, type ArchitectureName, type ModelConfig, type ModelConfigInput } from '@titans/models';
import { ABLATIONS, type AblationName, type ModelName, type ModelRecipe, type ReproducePlan, type Track } from './recipes.ts';
import { modelVariant, trackDefinition } from './registry.ts';

/** Byte-level vocabulary: 256 bytes + BOS, EOS, PAD. */
export const BYTE_VOCAB = 259;

export function isAblation(name: ModelName): name is AblationName {
  return Object.hasOwn(ABLATIONS, name);
}

/** The config input of `architecture` built from a recipe (no parameter matching). */
export function recipeConfig(architecture: ArchitectureName, recipe: ModelRecipe, vocabSize: number, seed: number): ModelConfigInput {
  const attentionOnly = architecture === 'transformer' || architecture === 'swa';
  const { maxSurpriseNorm, forgetting, ...memory } = recipe.memory;
  // DeltaNet and Gated DeltaNet are linear memories by definition (the recipe's depth is
  // Titans'), and whether they forget is what tells them apart, so the recipe's forgetting
  // switch (a Titans knob) does not apply to them.
  const deltaFamily = architecture === 'deltanet' || architecture === 'gated-deltanet';
  const depth = deltaFamily ? 1 : memory.depth;
  return {
    architecture, vocabSize, seed,
    dim: recipe.dim, layers: recipe.layers, heads: recipe.heads, window: recipe.window, segmentLength: recipe.segmentLength,
    persistentTokens: attentionOnly ? 0 : recipe.persistentTokens,
    memory: { ...memory, depth, ruleOverrides: { maxSurpriseNorm, ...(forgetting === undefined || deltaFamily ? {} : { forgetting }) } },
  };
}

/**
 * The MLP width (a multiple of 8) that brings `input`'s parameter count closest to `target`.
 * Attention-only models have fewer mixer parameters than memory models, so they get a wider MLP.
 */
export function matchedMlpHidden(input: ModelConfigInput, target: number): number {
  let best = { hidden: 8, gap: Infinity };
  for (let hidden = 8; hidden <= 64 * input.dim!; hidden += 8) {
    const gap = Math.abs(countParameters(defineConfig({ ...input, mlpHidden: hidden })) - target);
    if (gap < best.gap) best = { hidden, gap };
  }
  return best.hidden;
}

/** The base model recipe and vocabulary of a track. */
export function trackModel(plan: ReproducePlan, track: Track): { recipe: ModelRecipe; vocabSize: number } {
  if (track === 'mqar') return { recipe: plan.mqar.model, vocabSize: plan.mqar.vocabSize };
  if (track === 'long' || track === 'passkey') return { recipe: track === 'long' ? plan.longContext.model : plan.passkey.model, vocabSize: BYTE_VOCAB };
  const settings = plan.tracks?.[track];
  if (!settings) throw new Error(`plan '${plan.name}' has no track '${track}'`);
  return { recipe: settings.model, vocabSize: trackDefinition(track).vocabSize(settings) };
}

/** The config of one model of the plan on one track. */
export function planModelConfig(plan: ReproducePlan, name: ModelName, track: Track): ModelConfig {
  const seed = plan.seed;
  if (isAblation(name)) {
    const ablation = ABLATIONS[name as AblationName];
    const base = planModelConfig(plan, ablation.base, track);
    const change = ablation.change as Partial<ModelConfigInput>;
    // Ablations keep the base model's widths: the paper removes a component, it does not re-match sizes.
    const ruleOverrides = { ...base.memory.ruleOverrides, ...change.memory?.ruleOverrides };
    return defineConfig({ ...base, ...change, architecture: base.architecture, memory: { ...base.memory, ...change.memory, ruleOverrides } });
  }
  const { recipe, vocabSize } = trackModel(plan, track);
  const variant = modelVariant(name);
  let input = recipeConfig(variant ? variant.base : (name as ArchitectureName), recipe, vocabSize, seed);
  if (variant) {
    const change = variant.change;
    input = { ...input, ...change, architecture: variant.base, memory: { ...input.memory, ...change.memory, ruleOverrides: { ...input.memory?.ruleOverrides, ...change.memory?.ruleOverrides } } };
    if (variant.matchParameters === false) return defineConfig(input);
  } else if (!(ARCHITECTURES as readonly string[]).includes(name)) {
    throw new Error(`unknown model '${name}': not an architecture of @titans/models, an ablation, or a model registered with registerModel`);
  }
  if (!plan.matchParameters) return defineConfig(input);
  const target = countParameters(defineConfig(recipeConfig('lmm', recipe, vocabSize, seed)));
  return defineConfig({ ...input, mlpHidden: matchedMlpHidden(input, target) });
}

/** Every model the plan trains on the long-context and MQAR tracks, architectures first. */
export function planModels(plan: ReproducePlan): ModelName[] {
  return [...plan.architectures, ...plan.ablations];
}
