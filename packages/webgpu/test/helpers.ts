// Shared test helpers: one WebGPU backend per test file (creating it must succeed: a
// missing adapter fails the suite with the reason instead of skipping it), seeded random
// data, views, and comparisons against the CPU reference backend.
import { Rng, cpuBackend, gradients, matmul, mseLoss, optim, tensor, type Backend, type DType, type Storage, type Tensor, type TypedArray, type View } from '@titans/tensor';
import { expect } from 'vitest';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from '../src/index.js';

export async function makeBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  try {
    return await createWebGPUBackend(options);
  } catch (err) {
    throw new Error(
      `Could not create a WebGPU backend (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? '<unset>'}). ` +
      `These tests need an adapter: install libvulkan1 and chromium (for SwiftShader) and set ` +
      `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json. Cause: ${String(err)}`,
    );
  }
}

/** Seeded parameters [w1, b1, w2, b2] (requiring gradients) of a one-hidden-layer tanh MLP
 * `inputs -> hidden -> outputs` on `backend`: normal(0, 0.3) entries. */
export function mlpParams(backend: Backend, seed: number, inputs: number, hidden: number, outputs: number): Tensor[] {
  const rng = new Rng(seed);
  return [[inputs, hidden], [hidden], [hidden, outputs], [outputs]].map((shape) => {
    const p = tensor(Float32Array.from(rng.normalArray(shape.reduce((a, b) => a * b, 1)).map((v) => v * 0.3)), shape, { backend });
    p.requiresGrad = true;
    return p;
  });
}

/** The MLP of `mlpParams` applied to the rows of `x`. */
export function mlpForward(ps: Tensor[], x: Tensor): Tensor {
  const [w1, b1, w2, b2] = ps as [Tensor, Tensor, Tensor, Tensor];
  return matmul(matmul(x, w1).add(b1).tanh(), w2).add(b2);
}

/** One AdamW training step of that MLP (MSE loss, gradients clipped to norm 0.5); returns the loss. */
export function mlpStep(ps: Tensor[], opt: optim.AdamW): (x: Tensor, y: Tensor) => Tensor {
  return (x: Tensor, y: Tensor): Tensor => {
    const loss = mseLoss(mlpForward(ps, x), y);
    opt.step(optim.clipGradNorm(gradients(loss, ps), 0.5).grads);
    return loss;
  };
}

/** Deterministic PRNG (mulberry32). */
export class Random {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(n: number, lo = -1, hi = 1): Float32Array {
    return Float32Array.from({ length: n }, () => lo + (hi - lo) * this.next());
  }
  ints(n: number, lo: number, hi: number): Int32Array {
    return Int32Array.from({ length: n }, () => lo + Math.floor((hi - lo) * this.next()));
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor((hi - lo) * this.next());
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

export function view(storage: Storage, shape: readonly number[], strides = contiguousStrides(shape), offset = 0): View {
  return { storage, shape, strides, offset };
}

/** A pair of the same data on the CPU reference and on the GPU. */
export interface Pair {
  readonly cpu: Storage;
  readonly gpu: Storage;
}

export function upload(gpu: Backend, data: TypedArray, dtype: DType = data instanceof Int32Array ? 'int32' : 'float32'): Pair {
  return { cpu: cpuBackend.fromArray(data, dtype), gpu: gpu.fromArray(data, dtype) };
}

/** Swap a view's storage: the same view description on the other backend. */
export function on(v: View, storage: Storage): View {
  return { ...v, storage };
}

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export const ELEMENTWISE: Tolerance = { rtol: 1e-5, atol: 1e-6 };
export const ACCUMULATED: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** Element-by-element |a - e| <= atol + rtol |e|, NaN matching NaN and infinities exact. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = ELEMENTWISE, what = 'value'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${actual[worst]} but expected ${expected[worst]} (rtol ${tol.rtol}, atol ${tol.atol}, length ${expected.length})`);
  }
}

/** Read a GPU storage and the CPU reference and compare them. */
export async function expectMatches(gpu: Backend, g: Storage, c: Storage, tol: Tolerance = ELEMENTWISE, what = 'value'): Promise<void> {
  const actual = await gpu.read(g);
  const expected = cpuBackend.readSync(c);
  expect(actual.constructor.name, `${what}: dtype`).toBe(expected.constructor.name);
  expectClose(actual, expected, tol, what);
}

/** Odd sizes that do not divide any tile (plus 1). */
export const ODD_SIZES = [1, 3, 17, 33, 65] as const;
