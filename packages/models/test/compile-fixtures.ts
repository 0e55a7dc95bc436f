// Fixtures of the compiled-function tests: a file's tests on WebGPU, and the training step
// (forward, loss, gradients, clipping, one AdamW step) compiled and run eagerly.
import { afterAll, beforeAll } from 'vitest';
import { crossEntropy, getBackend, gradients, optim, setBackend, type Backend, type Tensor } from '@titans/tensor';
import { createWebGPUBackend, type WebGPUBackend } from '@titans/webgpu';
import type { TitansLanguageModel } from '../src/index.js';

/** Runs the calling test file on a WebGPU backend (SwiftShader here), restoring the previous one after. */
export function useWebGPU(): void {
  let gpu: WebGPUBackend | undefined;
  let previous: Backend;
  beforeAll(async () => {
    previous = getBackend();
    gpu = await createWebGPUBackend();
    setBackend(gpu);
  });
  afterAll(() => {
    setBackend(previous);
    gpu?.destroy();
  });
}

/**
 * One training step of `model` with `optimizer`: [logits, loss, ...clipped gradients]. The
 * clip norm is small, so the clipping scale is active (not 1) in the step.
 */
export function trainingStep(model: TitansLanguageModel, optimizer: optim.AdamW): (ids: Tensor, targets: Tensor) => Tensor[] {
  const params = model.parameters();
  return (ids, targets) => {
    const logits = model.forward(ids).logits;
    const loss = crossEntropy(logits, targets);
    const { grads } = optim.clipGradNorm(gradients(loss, params), 0.5);
    optimizer.step(grads);
    return [logits, loss, ...grads];
  };
}
