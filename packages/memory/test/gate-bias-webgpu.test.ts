// gateBias on the WebGPU backend: a memory built there starts from the same gate biases and
// computes the same outputs as one built on the CPU. (The biases are set with tensor ops, so
// construction never needs a synchronous read, which WebGPU cannot do.) Without an adapter
// the test fails, never skips.
import { describe, expect, it } from 'vitest';
import { Rng, getBackend, withBackend, type Tensor } from '@titans/tensor';
import { NeuralMemory } from '../src/index.js';
import { maxAbsDiff } from './helpers.js';
import { useWebGPUBackend } from './webgpu.js';

describe('NeuralMemory gateBias on WebGPU', () => {
  const backend = useWebGPUBackend();

  it('matches the CPU: biases set per gate block, untouched blocks keep their init, same outputs', async () => {
    const dim = 12;
    const heads = 3;
    const options = { heads, seed: 5, gateBias: { eta: -4, alpha: -2.5 } } as const;
    const cpu = getBackend();
    const input = new Rng(9).normal([2, 7, dim]);
    const onCpu = new NeuralMemory(dim, options);
    const expected = onCpu.forward(input).output;
    const [biasGpu, outGpu] = await withBackend(backend(), async () => {
      const memory = new NeuralMemory(dim, options);
      const bias = memory.gates.bias as Tensor;
      expect(bias.backend).toBe(backend());
      const out = memory.forward(input.to(backend())).output;
      return [await bias.data(), await out.data()] as const;
    });
    const biasCpu = (onCpu.gates.bias as Tensor).dataSync();
    const plain = new NeuralMemory(dim, { heads, seed: 5 });
    const initCpu = (plain.gates.bias as Tensor).dataSync();
    // theta block: the Linear's init; eta and alpha blocks: the requested values.
    expect(maxAbsDiff(biasCpu.slice(0, heads), initCpu.slice(0, heads))).toBe(0);
    expect(Array.from(biasCpu.slice(heads))).toEqual([-4, -4, -4, -2.5, -2.5, -2.5]);
    expect(maxAbsDiff(biasGpu, biasCpu)).toBeLessThan(1e-6);
    expect(maxAbsDiff(outGpu, expected.dataSync())).toBeLessThan(1e-4);
    expect(cpu).toBe(getBackend());
  });
});
