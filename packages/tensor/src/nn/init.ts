// Standard initialisers, all drawing from an explicit seeded Rng.
import type { DType } from '../backend.js';
import type { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import { full } from '../ops/core.js';

export interface InitOptions {
  dtype?: DType;
}

/** Glorot/Xavier uniform for a [fanOut, fanIn] weight. */
export function xavierUniform(rng: Rng, shape: readonly [number, number], options: InitOptions = {}): Tensor {
  const [fanOut, fanIn] = shape;
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniform(shape, -bound, bound, options);
}

/** Kaiming/He uniform (the PyTorch Linear default: bound 1/sqrt(fanIn)). */
export function kaimingUniform(rng: Rng, shape: readonly number[], fanIn: number, options: InitOptions = {}): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return rng.uniform(shape, -bound, bound, options);
}

export function normalInit(rng: Rng, shape: readonly number[], std: number, options: InitOptions = {}): Tensor {
  return rng.normal(shape, 0, std, options);
}

export function zerosInit(shape: readonly number[], options: InitOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function onesInit(shape: readonly number[], options: InitOptions = {}): Tensor {
  return full(shape, 1, options);
}
