// Tensor-core defects of issue 24 on the WebGPU backend: gradients through a CPU-to-WebGPU
// copy, and reductions over an empty batch.
import * as ops from '@titans/tensor';
import { gradients, gradientsAsync, tensor } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import '@titans/test-utils';
import { makeBackend } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

describe('gradients through toBackend from the CPU to WebGPU', () => {
  it('gradients names the problem and the way out; gradientsAsync returns the CPU gradient', async () => {
    const x = tensor([1, -2, 3], [3]);
    x.requiresGrad = true;
    const y = ops.sum(ops.mul(ops.toBackend(x, gpu), 2));
    expect(() => gradients(y, [x])).toThrow(/gradient of toBackend\(x, webgpu\) must be read back from webgpu to cpu.*gradientsAsync/);
    const [g] = await gradientsAsync(y, [x]);
    expect(g!.backend.name).toBe('cpu');
    expect(Array.from(g!.dataSync())).toEqual([2, 2, 2]);
  });

  it('a model with CPU parameters, a GPU body and GPU parameters', async () => {
    const w = tensor([[0.5, -1], [2, 0.25]], [2, 2]);
    w.requiresGrad = true;
    const v = tensor([1, 3], [2], { backend: gpu });
    v.requiresGrad = true;
    const input = tensor([[1, 2], [3, -1], [0.5, 0.5]], [3, 2]);
    const loss = (wt: ops.Tensor, vt: ops.Tensor, on: ops.Backend): ops.Tensor =>
      ops.sum(ops.square(ops.mul(ops.tanh(ops.toBackend(ops.matmul(input, wt), on)), vt)));
    const [gw, gv] = await gradientsAsync(loss(w, v, gpu), [w, v]);
    // Reference: the same computation all on the CPU.
    const w2 = ops.detach(w);
    w2.requiresGrad = true;
    const v2 = tensor(Array.from(await v.data()), [2]);
    v2.requiresGrad = true;
    const [rw, rv] = gradients(loss(w2, v2, ops.cpuBackend), [w2, v2]);
    expect(gw!.dataSync()).toBeAllclose(rw!.dataSync(), { rtol: 1e-5, atol: 1e-6 });
    expect(await gv!.data()).toBeAllclose(rv!.dataSync(), { rtol: 1e-5, atol: 1e-6 });
  });
});

describe('reductions over an empty batch on WebGPU', () => {
  it('max, min, argmax, logsumexp, softmax, logSoftmax and crossEntropy of [0, 5]', async () => {
    const x = ops.zeros([0, 5], { backend: gpu });
    for (const f of [ops.max, ops.min, ops.sum, ops.logsumexp]) expect(f(x, -1).shape).toEqual([0]);
    expect(ops.argmax(x, -1).shape).toEqual([0]);
    expect(ops.softmax(x).shape).toEqual([0, 5]);
    expect(Array.from(await ops.logSoftmax(x).data())).toEqual([]);
    const loss = ops.crossEntropy(x, ops.zeros([0], { dtype: 'int32', backend: gpu }));
    expect((await loss.data())[0] === 0).toBe(true);
  });
});

describe('attention over empty axes on WebGPU (found by the property suite)', () => {
  it('head size 0, value size 0, no queries, no keys: the CPU values, and the device stays usable', async () => {
    const shapes: [number[], number[], number[]][] = [
      [[1, 2, 0], [1, 3, 0], [1, 3, 2]], [[1, 2, 2], [1, 3, 2], [1, 3, 0]], [[1, 0, 2], [1, 3, 2], [1, 3, 2]],
      [[1, 2, 2], [1, 0, 2], [1, 0, 2]], [[0, 2, 2], [0, 3, 2], [0, 3, 2]],
    ];
    for (const [qs, ks, vs] of shapes) {
      const make = (shape: number[], seed: number, backend: ops.Backend): ops.Tensor => ops.randn(shape, seed, { backend });
      const onGpu = ops.attention(make(qs, 1, gpu), make(ks, 2, gpu), make(vs, 3, gpu), { causal: false });
      const onCpu = ops.attention(make(qs, 1, ops.cpuBackend), make(ks, 2, ops.cpuBackend), make(vs, 3, ops.cpuBackend), { causal: false });
      expect(onGpu.shape).toEqual(onCpu.shape);
      expect(await onGpu.data()).toBeAllclose(onCpu.dataSync(), { rtol: 1e-5, atol: 1e-6 });
    }
    const x = ops.randn([1, 4, 8], 4, { backend: gpu });
    expect((await ops.attention(x, x, x).data()).every(Number.isFinite)).toBe(true);
  });
});
