// The neural memory of a layer, built from the model config.
import { NeuralMemory, OmegaMemory, type NeuralMemoryState, type OmegaMemoryState } from '@titans/memory';
import type { Tensor } from '@titans/tensor';
import { createOmegaMemory, isAtlasArchitecture } from '../atlas.js';
import { memoryRuleOf, type ModelConfig } from '../config.js';


/** The memory of layer `layer`: an OmegaMemory for the Atlas family, a NeuralMemory otherwise. */
export function createLayerMemory(config: ModelConfig, layer: number): NeuralMemory | OmegaMemory {
  return isAtlasArchitecture(config.architecture) ? createOmegaMemory(config, layer) : createMemory(config, layer);
}

/** Runs a layer's memory over x from its state (null: the initial state). */
export function runLayerMemory(
  memory: NeuralMemory | OmegaMemory, x: Tensor, state: NeuralMemoryState | OmegaMemoryState | null,
): { output: Tensor; state: NeuralMemoryState | OmegaMemoryState } {
  if (memory instanceof OmegaMemory) return memory.forward(x, (state as OmegaMemoryState | null) ?? memory.initialState());
  return memory.forward(x, (state as NeuralMemoryState | null) ?? memory.initialState());
}

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
    // The config's biases, else the Linear layer's random init for every gate (null, not
    // NeuralMemory's default): a saved config computes what it always did.
    gateBias: config.memory.gateBias ?? null,
    seed: config.seed * 7919 + 101 * (layer + 1),
    dtype: config.dtype,
  });
}
