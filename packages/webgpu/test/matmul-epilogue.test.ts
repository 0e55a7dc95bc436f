// The tiled matmuls run their fused epilogue in a loop over each thread's 4x4 outputs: every
// output inside the product is written once (edges of partial tiles included), none outside,
// for float32 and int32, with several fused outputs and helper-using activations.
import { cpuBackend, type Backend, type DType, type Storage } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatmulVariant, WebGPUBackend } from '../src/index.js';
import { ACCUMULATED, Random, expectMatches, makeBackend, upload, view } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

/** (x @ w + bias) then an activation; keeps the product and the sum referenced when asked. */
function chain(backend: Backend, x: Storage, w: Storage, bias: Storage, [m, k, n]: readonly number[], dtype: DType, act: 'relu' | 'erf' | 'square') {
  const pre = backend.matmul(view(x, [1, m!, k!]), view(w, [1, k!, n!]));
  const sum = backend.binary('add', view(pre, [m!, n!]), view(bias, [m!, n!], [0, 1]), dtype);
  const out = backend.unary(act, view(sum, [m!, n!]), dtype);
  return { pre, sum, out };
}

const SHAPES: readonly (readonly number[])[] = [[37, 19, 45], [64, 16, 64], [65, 33, 130], [8, 5, 9], [130, 7, 66]];

describe('tiled matmul epilogue (looped over outputs)', () => {
  for (const variant of ['tile64', 'tile32'] as MatmulVariant[]) {
    it(`${variant}: float32 with erf and three fused outputs equals the CPU on partial tiles`, async () => {
      const rng = new Random(variant === 'tile64' ? 21 : 22);
      for (const shape of SHAPES) {
        const [m, k, n] = shape as [number, number, number];
        const x = upload(gpu, rng.uniform(m * k));
        const w = upload(gpu, rng.uniform(k * n));
        const bias = upload(gpu, rng.uniform(n));
        gpu.forceMatmulVariant = variant;
        const before = gpu.stats().dispatches;
        const g = chain(gpu, x.gpu, w.gpu, bias.gpu, shape, 'float32', 'erf');
        gpu.materialize(g.out);
        await gpu.sync();
        gpu.forceMatmulVariant = null;
        expect(gpu.lastMatmulVariant).toBe(variant);
        expect(gpu.stats().dispatches - before, `${shape.join('x')}: one fused kernel`).toBe(1);
        const c = chain(cpuBackend, x.cpu, w.cpu, bias.cpu, shape, 'float32', 'erf');
        await expectMatches(gpu, g.pre, c.pre, ACCUMULATED, `${variant} ${shape.join('x')} product`);
        await expectMatches(gpu, g.sum, c.sum, ACCUMULATED, `${variant} ${shape.join('x')} sum`);
        await expectMatches(gpu, g.out, c.out, ACCUMULATED, `${variant} ${shape.join('x')} erf`);
      }
    });

    it(`${variant}: int32 is exact on partial tiles`, async () => {
      const rng = new Random(variant === 'tile64' ? 23 : 24);
      for (const shape of SHAPES) {
        const [m, k, n] = shape as [number, number, number];
        const x = upload(gpu, rng.ints(m * k, -9, 9));
        const w = upload(gpu, rng.ints(k * n, -9, 9));
        const bias = upload(gpu, rng.ints(n, -50, 50));
        gpu.forceMatmulVariant = variant;
        const g = chain(gpu, x.gpu, w.gpu, bias.gpu, shape, 'int32', 'square');
        gpu.dispose(g.pre);
        gpu.dispose(g.sum);
        gpu.materialize(g.out);
        gpu.forceMatmulVariant = null;
        expect(gpu.lastMatmulVariant).toBe(variant);
        const c = chain(cpuBackend, x.cpu, w.cpu, bias.cpu, shape, 'int32', 'square');
        await expectMatches(gpu, g.out, c.out, { rtol: 0, atol: 0 }, `${variant} ${shape.join('x')} int32`);
      }
    });
  }
});
