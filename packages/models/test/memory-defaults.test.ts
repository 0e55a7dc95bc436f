// A changed NeuralMemory default must not change what a model config computes: models build
// their memories with the config's gateBias, or with every gate at the Linear layer's random
// init (gateBias: null) when the config has none, never with NeuralMemory's own default.
import { describe, expect, it } from 'vitest';
import { NeuralMemory } from '@titans/memory';
import { createMemory, defineConfig, tinyConfig } from '../src/index.js';

describe('model memories ignore NeuralMemory defaults', () => {
  it('a config without gateBias keeps the random gate init; one with it gets exactly its biases', () => {
    const config = tinyConfig('lmm');
    expect(config.memory.gateBias).toBeUndefined();
    const memory = createMemory(config, 0);
    const seed = config.seed * 7919 + 101;
    const reference = new NeuralMemory(config.dim, { heads: config.memory.heads, seed, gateBias: null, convKernel: config.memory.convKernel });
    expect(Array.from(memory.gates.bias!.dataSync())).toEqual(Array.from(reference.gates.bias!.dataSync()));
    expect(Array.from(memory.gates.weight.dataSync())).toEqual(Array.from(reference.gates.weight.dataSync()));

    const biased = createMemory(defineConfig({ ...config, memory: { ...config.memory, gateBias: { eta: -4, alpha: -4 } } }), 0);
    const bias = Array.from(biased.gates.bias!.dataSync());
    const h = config.memory.heads;
    expect(bias.slice(0, h)).toEqual(Array.from(reference.gates.bias!.dataSync()).slice(0, h));
    expect(bias.slice(h)).toEqual(new Array<number>(2 * h).fill(-4));
  });
});
