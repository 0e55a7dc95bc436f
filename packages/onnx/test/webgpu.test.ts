// The WebGPU execution provider (onnxruntime-node's, on whatever adapter the machine has:
// SwiftShader's Vulkan in CI). The exported graphs have no Loop or Scan, so everything but
// the position arithmetic runs on the GPU. Skipped where no WebGPU adapter is found.
// Compiling shaders on a software adapter takes ~20 s per model, so by default only MAC
// (memory, attention, rotary positions and segments together) runs; TITANS_ONNX_WEBGPU=all
// runs every architecture.
import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { noGrad } from '@titans/tensor';
import { ARCHITECTURES, createModel } from '@titans/models';
import { exportFunction, exportOnnx, OnnxRunner } from '../src/index.js';
import { randomIds, relativeError, tinyConfig } from './helpers.js';

async function webgpuAvailable(): Promise<boolean> {
  try {
    const probe = exportFunction((x) => x.mul(2), [{ name: 'x', shape: [2] }]);
    await ortNode.InferenceSession.create(probe, { executionProviders: ['webgpu'] });
    return true;
  } catch {
    return false;
  }
}

const available = await webgpuAvailable();
const architectures = process.env.TITANS_ONNX_WEBGPU === 'all' ? ARCHITECTURES : (['mac'] as const);

describe('WebGPU execution provider (onnxruntime-node)', () => {
  // Fails rather than skips without an adapter: in CI WebGPU runs on SwiftShader.
  it('has a WebGPU adapter (SwiftShader on machines without a GPU)', () => {
    expect(available).toBe(true);
  });
  it.each(architectures)('%s: 2 streamed pieces match the runtime to 1e-4', async (architecture) => {
    const model = createModel(tinyConfig(architecture));
    const ids = randomIds(1, 8, 13);
    const expected = noGrad(() => model.forward(ids.tensor).logits).dataSync();
    const runner = await OnnxRunner.create(exportOnnx(model, { sequenceLength: 4 }), { ort: ortNode, executionProviders: ['webgpu'] });
    const result = await runner.stream(ids.flat);
    expect(relativeError(result.logits, expected)).toBeLessThan(1e-4);
    await runner.release();
  });
});
