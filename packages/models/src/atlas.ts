// The Atlas family (Behrouz et al. 2025, arXiv 2505.23735): models whose memory follows the
// Omega rule of @titans/memory (a window of the last c tokens with data-dependent gates,
// polynomial features with learned coefficients, and, for Atlas, Muon as the inner
// optimizer). OmegaNet and Atlas are memory-only blocks (like LMM); Atlas-MAG and Atlas-MAL
// put the Atlas memory in the Titans MAG and MAL blocks.
import {
  linearArchitecture, mlpArchitecture, omegaFeatureDim, omegaWeightShapes, OmegaMemory,
  type OmegaFeature, type OmegaOptimizer, type OmegaRule,
} from '@titans/memory';
import type { ArchitectureName, ModelConfig } from './config.js';

export type AtlasArchitecture = 'omeganet' | 'atlas' | 'atlas-mag' | 'atlas-mal';

/**
 * The Omega knobs of each architecture. The window c = 4 and degree-2 features are our
 * choice for CPU-sized models (the paper tunes c; its polynomial kernels are of low degree);
 * Muon uses the 5 Newton-Schulz steps of Muon's quintic.
 */
export const ATLAS_SETTINGS: Readonly<Record<AtlasArchitecture, { window: number; feature: OmegaFeature; optimizer: OmegaOptimizer }>> = {
  omeganet: { window: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'momentum' } },
  atlas: { window: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 } },
  'atlas-mag': { window: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 } },
  'atlas-mal': { window: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 } },
};

/** Upper bound of Muon's step-size gate lr_t = ATLAS_LR_MAX sigmoid(.). */
export const ATLAS_LR_MAX = 0.1;

export function isAtlasArchitecture(name: ArchitectureName): name is AtlasArchitecture {
  return name in ATLAS_SETTINGS;
}

/** The Omega rule of an Atlas-family config, or null for other architectures. */
export function omegaRuleOf(c: ModelConfig): OmegaRule | null {
  if (!isAtlasArchitecture(c.architecture)) return null;
  const settings = ATLAS_SETTINGS[c.architecture];
  const headDim = c.dim / c.memory.heads;
  // Residual memories need phi(x) as wide as x: the Atlas memory is a plain MLP (or linear).
  const architecture = c.memory.depth === 1
    ? linearArchitecture()
    : mlpArchitecture(Math.round(c.memory.expansion * headDim), { depth: c.memory.depth, residual: false, norm: false });
  // The surprise bound (the config's maxSurpriseNorm, 1 by default as for every memory model)
  // for the momentum optimizer only: there the step is theta_t times the window gradient, and
  // with c = 4 and degree-2 features (|phi(k)|^2 = a_0^2 + a_1^2 + a_2^2, 2.5 at init, learned)
  // an unbounded step can leave the stable range and the memory grows exponentially along
  // the sequence (the full plan's passkey OmegaNet, trained at 64 bytes, gave NaN from about
  // 250 bytes on). Muon's step is lr_t NS(S), already of bounded size (Newton-Schulz
  // normalises S; lr_t <= ATLAS_LR_MAX), so Atlas, Atlas-MAG and Atlas-MAL take no bound and
  // compute what they did.
  const bound = settings.optimizer.kind === 'momentum' ? c.memory.ruleOverrides?.maxSurpriseNorm ?? 0 : 0;
  return {
    architecture,
    chunkSize: c.memory.chunkSize,
    ...settings,
    momentum: c.memory.ruleOverrides?.momentum ?? true,
    forgetting: c.memory.ruleOverrides?.forgetting ?? true,
    ...(bound > 0 ? { maxSurpriseNorm: bound } : {}),
  };
}

/** The OmegaMemory of layer `layer` of an Atlas-family model. */
export function createOmegaMemory(config: ModelConfig, layer: number): OmegaMemory {
  const rule = omegaRuleOf(config);
  if (!rule) throw new Error(`architecture ${config.architecture} has no Omega-rule memory`);
  return new OmegaMemory(config.dim, {
    heads: config.memory.heads,
    rule,
    thetaMax: config.memory.thetaMax,
    lrMax: ATLAS_LR_MAX,
    convKernel: config.memory.convKernel,
    outputGate: config.memory.outputGate,
    read: 'post',
    ...(config.memory.gateBias ? { gateBias: config.memory.gateBias } : {}),
    seed: config.seed * 7919 + 101 * (layer + 1),
    dtype: config.dtype,
  });
}

/** Parameters of one OmegaMemory, from the config alone (what createOmegaMemory allocates). */
export function omegaMemoryParameters(c: ModelConfig): number {
  const rule = omegaRuleOf(c);
  if (!rule) return 0;
  const d = c.dim;
  const mh = c.memory.heads;
  const k = c.memory.convKernel;
  const gates = 3 + rule.window + (rule.optimizer.kind === 'muon' ? 1 : 0);
  const init = omegaWeightShapes(rule, d / mh).reduce((n, [o, i]) => n + o * i, 0) * mh;
  const coefficients = rule.feature.kind === 'poly' ? (rule.feature.degree + 1) * mh : 0;
  return 3 * d * d // qkv
    + (k > 0 ? 3 * d * k + 3 * d : 0) // depthwise conv + bias
    + d * gates * mh + gates * mh // theta, eta, alpha, c window gates, Muon's lr
    + init + coefficients
    + (c.memory.outputGate ? d + d * d : 0)
    + d * d; // output projection
}

/** Width of the memory's input phi(k) for a config (for reports). */
export function omegaFeatureWidth(c: ModelConfig): number {
  const rule = omegaRuleOf(c);
  return rule ? omegaFeatureDim(rule.feature, c.dim / c.memory.heads) : 0;
}
