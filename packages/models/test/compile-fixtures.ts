// Fixtures of the compiled-function tests: a file's tests on WebGPU, the training step
// (forward, loss, gradients, clipping, one AdamW step) compiled and run eagerly, and token
// by token decoding with the compiled or the eager decode step.
import { afterAll, beforeAll } from 'vitest';
import { crossEntropy, getBackend, gradients, optim, setBackend, type Backend, type Tensor } from '@titans/tensor';
import { createWebGPUBackend, type WebGPUBackend } from '@titans/webgpu';
import { createModel, decodeStats, releaseModelState, type ArchitectureName, type ModelConfigInput, type ModelState, type TitansLanguageModel } from '../src/index.js';
import { decodeStep } from '../src/decode.js';
import { testConfig } from './helpers.js';

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

export interface Decoded {
  /** The last position's logits of every step. */
  readonly logits: Float32Array[];
  readonly stats: ReturnType<typeof decodeStats>;
}

/**
 * Decodes `steps` tokens one at a time with `decodeStep` (compiled or eager) on a fresh
 * float32 `testConfig(architecture, overrides)` model: the first token is `first`, each next one
 * `next(logits, step, token)` of the step's logits, its index and its input token. States and logits are released as it goes; the model's parameters
 * stay alive.
 */
export async function decodeLogits(
  architecture: ArchitectureName, compiled: boolean, steps: number, first: number, next: (logits: Float32Array, step: number, token: number) => number,
  overrides: Partial<ModelConfigInput> = {},
): Promise<Decoded> {
  const model = createModel(testConfig(architecture, { dtype: 'float32', ...overrides }));
  let state: ModelState = model.initialState(1);
  const logits: Float32Array[] = [];
  let token = first;
  for (let i = 0; i < steps; i++) {
    const out = decodeStep(model, token, state, compiled);
    releaseModelState(state, out.state);
    state = out.state;
    const values = Float32Array.from(await out.last.data());
    out.last.dispose();
    logits.push(values);
    token = next(values, i, token);
  }
  releaseModelState(state);
  return { logits, stats: decodeStats(model) };
}

/** The index of the largest logit (greedy decoding). */
export function argmax(values: Float32Array): number {
  return values.indexOf(Math.max(...values));
}
