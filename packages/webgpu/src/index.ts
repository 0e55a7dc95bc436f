/// <reference types="@webgpu/types" />
// @titans/webgpu: a WebGPU backend for @titans/tensor (browsers via navigator.gpu, Node via
// the npm `webgpu` package).
export { WebGPUBackend, WebGPUStorage, createWebGPUBackend, type WebGPUBackendOptions, type WebGPUStats } from './backend.js';
export { acquireDevice, type AcquiredDevice, type DeviceOptions } from './device.js';
export { fallbackToCpu, type FallbackOptions } from './fallback.js';
export { chooseVariant as chooseMatmulVariant, type MatmulVariant } from './kernels/matmul.js';
export { MAX_FUSED_HEAD_DIM } from './kernels/attention.js';
export type { PoolStats } from './pool.js';
