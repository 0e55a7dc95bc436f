// @titans/models: the Titans architectures (LMM, MAC, MAG, MAL), the baselines built from
// the same parts (Transformer++, SWA, DeltaNet, Gated DeltaNet, Moneta, Yaad, Memora),
// configs and presets, streaming state, and generation.
export * from './config.js';
export * from './atlas.js';
export * from './hope.js';
export {
  TitansLanguageModel, countParameters, createModel, detachModelState, releaseModelState,
  type ForwardResult, type LanguageModel, type ModelState,
} from './model.js';
export {
  NonFiniteOutputError, asGenerativeModel, asNextTokenModel, asScoringModel, generate, sampleToken, streamTokens,
  type AdapterOptions, type GenerationOptions, type GenerativeModel, type NextTokenModel, type SamplingOptions, type ScoringModel,
} from './generate.js';
export { decodeStats, type DecodeStats } from './decode.js';
export { Block, MlpSublayer, type BlockOutput } from './blocks/block.js';
export { MultiHeadAttention, type AttentionOptions } from './blocks/attention.js';
export { BranchGate } from './blocks/gate.js';
export { createMemory } from './blocks/memory.js';
export type { KVCache, LayerState, SegmentBuffer } from './blocks/state.js';
export {
  AttentionBlock, MemoryAsContextBlock, MemoryAsGateBlock, MemoryAsLayerBlock, MemoryBlock, createBlock,
  type BlockContext, type SegmentStep,
} from './architectures/index.js';
export * from './train/index.js';
export * from './checkpoint/index.js';
export * from './train/index.js';
export * from './checkpoint/index.js';
