// @titans/tensor: tensors, composable autograd, the CPU reference backend, nn and optim.
// One copy per process: loading registers this copy and stops at a second one (instance.ts).
export { TENSOR_VERSION } from './instance.js';
export type {
  ArgReduceOp, AttentionDims, AttentionOptions, Backend, BinaryOp, DType, NormKind, MemoryScanDims, MemoryScanInputs, ReduceOp, Storage, TypedArray, UnaryOp, View,
} from './backend.js';
export { arrayConstructor, bytesPerElement } from './backend.js';
export { CpuBackend, cpuBackend, visible as attentionVisible } from './cpu/backend.js';
export { configureCpu, cpuConfig, cpuInfo, startCpuWorkers, type CpuConfig, type CpuInfo } from './cpu/wasm/index.js';
export { erf as erfScalar } from './cpu/special.js';
export {
  enableGrad, getBackend, isGradEnabled, keep, liveBytes, liveTensors, noGrad, setBackend, tidy, tidyAsync, withBackend,
  type TensorTree,
} from './engine.js';
export { ShapeError, broadcastShapes, contiguousStrides, formatShape, sizeOf } from './shape.js';
export { Tensor, type GradNode, type NestedArray } from './tensor.js';
export * from './ops/index.js';
export { gradients, gradientsAsync, grad, hvp, valueAndGrad, vjp, type GradientOptions } from './autograd.js';
export { Rng, rand, randn, type RandomOptions } from './random.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export {
  CompileError, compile, hostScalar, isTracing, onReplay, type CompileOptions, type CompileStats, type Compiled,
} from './compile/index.js';
export type { PlanStats, PoolStats, StepProfile } from './compile/plan.js';

// The eager CPU backend's exp-based float32 ops on the compiled chains' SIMD kernels (not imported
// by cpu/backend.ts itself: those kernels import it).
import { useSimdExpKernels } from './cpu/unary-exp.js';
useSimdExpKernels();
