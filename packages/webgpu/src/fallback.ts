// Picking a backend when WebGPU may be missing (older browsers, Node without a GPU driver).
import { cpuBackend, type Backend } from '@titans/tensor';
import { createWebGPUBackend, type WebGPUBackendOptions } from './backend.js';

export interface FallbackOptions extends WebGPUBackendOptions {
  /** Called with the reason when WebGPU could not be used and the CPU backend is returned. */
  readonly onFallback?: (error: Error) => void;
}

/** The WebGPU backend when an adapter and device can be had, otherwise the CPU backend. */
export async function fallbackToCpu(options: FallbackOptions = {}): Promise<Backend> {
  try {
    return await createWebGPUBackend(options);
  } catch (err) {
    options.onFallback?.(err instanceof Error ? err : new Error(String(err)));
    return cpuBackend;
  }
}
