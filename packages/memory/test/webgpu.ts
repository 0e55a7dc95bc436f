// Shared setup of the memory's WebGPU tests (kept apart from helpers.ts so that the CPU tests do
// not load Dawn): one backend per describe block, a runner that puts host arrays on a backend,
// runs a function there and reads every output back, and the CPU-vs-WebGPU comparison.
import { afterAll, beforeAll, expect } from 'vitest';
import { tensor, tidy, type Backend, type Tensor } from '@titans/tensor';
import { createWebGPUBackend, type WebGPUBackend } from '@titans/webgpu';
import { relativeError } from '../src/index.js';

/**
 * Creates a WebGPU backend before the tests of the enclosing describe block and destroys it
 * after them. Returns its getter, for use inside the tests. Without an adapter (no GPU, no
 * SwiftShader) the tests fail: they never skip.
 */
export function useWebGPUBackend(): () => WebGPUBackend {
  let backend: WebGPUBackend | undefined;
  beforeAll(async () => {
    backend = await createWebGPUBackend();
  });
  afterAll(() => backend?.destroy());
  return () => {
    if (!backend) throw new Error('the WebGPU backend was not created (see the beforeAll error)');
    return backend;
  };
}

/** Named inputs as host arrays with their shapes, so one problem runs on two backends. */
export type HostTensors = Record<string, { data: Float32Array; shape: number[] }>;

export const host = (x: Tensor): { data: Float32Array; shape: number[] } => ({ data: Float32Array.from(x.dataSync()), shape: [...x.shape] });

/** Runs `fn` on tensors made from `inputs` on a backend (the default one when undefined); returns every output as host arrays. */
export async function runOn(
  inputs: HostTensors, backend: Backend | undefined, fn: (x: Record<string, Tensor>) => Record<string, Tensor>,
): Promise<Record<string, Float32Array>> {
  const opts = backend ? { backend } : {};
  const kept = tidy(() => fn(Object.fromEntries(Object.entries(inputs).map(([n, v]) => [n, tensor(v.data, v.shape, opts)]))));
  return readBack(kept);
}

/** Reads every tensor back to the host and disposes it. */
export async function readBack(kept: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(kept)) {
    out[name] = Float32Array.from(await t.data());
    t.dispose();
  }
  return out;
}

/** The same outputs from both backends, to relative error 1e-4 (1e-3 for `grad.*` entries), as the spec asks of every backend. */
export function expectSameOutputs(cpu: Record<string, Float32Array>, gpu: Record<string, Float32Array>): void {
  expect(Object.keys(gpu).sort()).toEqual(Object.keys(cpu).sort());
  for (const key of Object.keys(cpu)) {
    expect(gpu[key]!.length, key).toBe(cpu[key]!.length);
    const error = cpu[key]!.length === 0 ? 0 : relativeError(gpu[key]!, cpu[key]!);
    expect(error, `${key}: relative error ${error.toExponential(2)}`).toBeLessThanOrEqual(key.startsWith('grad.') ? 1e-3 : 1e-4);
  }
}
