// The issue-21 comparison's memory (B = 1, T = 4096, D = 256, 4 heads of 64, chunk 64, conv 4)
// and its input, shared by the module benches (module-parts.ts, compiled-profile.ts).
import { Rng, type Tensor } from '@titans/tensor';
import { NeuralMemory, memoryPreset, mlpArchitecture } from '../src/index.js';

export const SHAPE = { tokens: 4096, dim: 256, heads: 4, chunk: 64, thetaMax: 0.1, conv: 4 } as const;

/** The linear memory, or the 2-layer MLP memory (hidden 4x, no residual, no norm). */
export type Arch = 'linear' | 'mlp2';

/** The module at the comparison's shape (seed 1) and a [1, T, D] normal input (seed 7). */
export function comparisonMemory(arch: Arch): { memory: NeuralMemory; x: Tensor } {
  const width = SHAPE.dim / SHAPE.heads;
  const rule = arch === 'linear'
    ? memoryPreset('titans-linear', width, { chunkSize: SHAPE.chunk })
    : memoryPreset('titans', width, { chunkSize: SHAPE.chunk, architecture: mlpArchitecture(4 * width, { residual: false, norm: false }) });
  const memory = new NeuralMemory(SHAPE.dim, { heads: SHAPE.heads, rule, thetaMax: SHAPE.thetaMax, convKernel: SHAPE.conv, seed: 1 });
  return { memory, x: new Rng(7).normal([1, SHAPE.tokens, SHAPE.dim]) };
}
