// The README example, run through the @titans/tensor frontend on this backend.
import { add, cpuBackend, getBackend, matmul, relu, setBackend, tensor } from '@titans/tensor';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fallbackToCpu, type WebGPUBackend } from '../src/index.js';
import { expectClose, makeBackend } from './helpers.js';

let gpu: WebGPUBackend;
const previous = getBackend();
beforeAll(async () => {
  gpu = await makeBackend();
  setBackend(gpu);
});
afterAll(() => {
  setBackend(previous);
  gpu?.destroy();
});

it('runs the README example with the bias and relu fused into the matmul', async () => {
  const x = tensor([[1, 2], [3, 4]]);
  const w = tensor([[0.5, -1], [1, 0.25]]);
  const b = tensor([0.1, -0.2]);
  const before = gpu.stats().dispatches;
  const y = relu(add(matmul(x, w), b));
  expectClose(await y.data(), [2.6, 0, 5.6, 0]);
  expect(gpu.stats().dispatches - before).toBe(1);
  expect(() => y.dataSync()).toThrow(/asynchronously/);
  const backend = await fallbackToCpu();
  expect(backend === cpuBackend).toBe(false);
  (backend as WebGPUBackend).destroy();
});
