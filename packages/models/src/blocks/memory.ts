// The neural memory of a layer, built from the model config.
import { NeuralMemory } from '@titans/memory';
import { memoryRuleOf, type ModelConfig } from '../config.js';

/** The NeuralMemory of layer `layer` (its own seed, so layers start different). */
export function createMemory(config: ModelConfig, layer: number): NeuralMemory {
  const rule = memoryRuleOf(config);
  if (!rule) throw new Error(`architecture ${config.architecture} has no memory`);
  return new NeuralMemory(config.dim, {
    heads: config.memory.heads,
    rule,
    thetaMax: config.memory.thetaMax,
    convKernel: config.memory.convKernel,
    outputGate: config.memory.outputGate,
    read: 'post',
    ...(config.memory.gateBias ? { gateBias: config.memory.gateBias } : {}),
    seed: config.seed * 7919 + 101 * (layer + 1),
    dtype: config.dtype,
  });
}
