// Seeded random numbers that are the same on every backend and every platform: values
// are a pure function of (seed, position), computed on the host and uploaded.
import type { Backend, DType } from './backend.js';
import { arrayConstructor } from './backend.js';
import { tensor } from './ops/core.js';
import { checkShape, sizeOf } from './shape.js';
import type { Tensor } from './tensor.js';

/** A 32-bit hash of (seed, counter): splitmix-style mixing, stable across engines. */
function hash32(seed: number, counter: number): number {
  let z = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(counter, 0x9e3779b1)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
  return (z ^ (z >>> 15)) >>> 0;
}

/** Uniform in (0, 1), never exactly 0 (safe for log). */
function uniformAt(seed: number, counter: number): number {
  return (hash32(seed, counter) + 0.5) / 4294967296;
}

export interface RandomOptions {
  dtype?: DType;
  backend?: Backend;
}

/**
 * A stream of random tensors. Each draw advances a counter, so a generator with the same
 * seed replays the same sequence, and its state (seed, counter) can be saved and restored.
 */
export class Rng {
  private counter: number;
  constructor(readonly seed: number, counter = 0) {
    this.counter = counter;
  }

  /** The state to store in a checkpoint. */
  state(): { seed: number; counter: number } {
    return { seed: this.seed, counter: this.counter };
  }

  static fromState(state: { seed: number; counter: number }): Rng {
    return new Rng(state.seed, state.counter);
  }

  /** Uniform numbers in [0, 1) as a plain array. */
  uniformArray(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = uniformAt(this.seed, this.counter + i);
    this.counter += n;
    return out;
  }

  /** Standard normal numbers (Box-Muller over pairs of uniforms). */
  normalArray(n: number): Float64Array {
    const u = this.uniformArray(2 * Math.ceil(n / 2));
    const out = new Float64Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(u[i]!));
      const theta = 2 * Math.PI * u[i + 1]!;
      out[i] = r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniformArray(1)[0]! * n);
  }

  uniform(shape: readonly number[], low = 0, high = 1, options: RandomOptions = {}): Tensor {
    checkShape('uniform', shape);
    const u = this.uniformArray(sizeOf(shape));
    return build(u.map((x) => low + (high - low) * x), shape, options);
  }

  normal(shape: readonly number[], mean = 0, std = 1, options: RandomOptions = {}): Tensor {
    checkShape('normal', shape);
    const z = this.normalArray(sizeOf(shape));
    return build(z.map((x) => mean + std * x), shape, options);
  }

  /** Normal values outside [mean - 2 std, mean + 2 std] are redrawn. */
  truncatedNormal(shape: readonly number[], std = 1, options: RandomOptions = {}): Tensor {
    const n = sizeOf(shape);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let z: number;
      do z = this.normalArray(1)[0]!; while (Math.abs(z) > 2);
      out[i] = z * std;
    }
    return build(out, shape, options);
  }
}

function build(values: Float64Array, shape: readonly number[], options: RandomOptions): Tensor {
  const dtype = options.dtype ?? 'float32';
  const data = dtype === 'float64' ? values : new (arrayConstructor(dtype))(values);
  return tensor(data, shape, { dtype, ...(options.backend ? { backend: options.backend } : {}) });
}

/** Convenience: seeded standard normal tensor. */
export function randn(shape: readonly number[], seed: number, options: RandomOptions = {}): Tensor {
  return new Rng(seed).normal(shape, 0, 1, options);
}

/** Convenience: seeded uniform [0, 1) tensor. */
export function rand(shape: readonly number[], seed: number, options: RandomOptions = {}): Tensor {
  return new Rng(seed).uniform(shape, 0, 1, options);
}
