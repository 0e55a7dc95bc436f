// Fixtures of the tests that check a CPU fast path (a fused primitive of the CPU backend)
// against the composite ops it replaces: a backend without the primitives, and a function's
// value and gradients on either backend.
import { CpuBackend } from '../src/cpu/backend.js';
import { Rng, gradients, mul, sum, tensor, tidy, withBackend, type Tensor } from '../src/index.js';

export type FloatType = 'float32' | 'float64';

/** An input as values and a shape, made into a tensor of the dtype under test by `valueAndGradients`. */
export interface Input { data: Float64Array; shape: number[] }

export interface Result { value: Float64Array; grads: Float64Array[] }

/** A CPU backend without the named primitives: ops take the composite path, as on every backend that lacks them. */
export function compositeBackend(primitives: readonly (keyof CpuBackend)[]): CpuBackend {
  const backend = new CpuBackend();
  for (const name of primitives) Object.defineProperty(backend, name, { value: undefined });
  return backend;
}

/** f's value and the gradients of sum(f * w) for a fixed random w (seeded by `weightSeed`), on the given backend. */
export function valueAndGradients(backend: CpuBackend, f: (xs: Tensor[]) => Tensor, inputs: readonly Input[], dtype: FloatType, weightSeed: number): Result {
  return withBackend(backend, () => tidy(() => {
    const xs = inputs.map((i) => {
      const t = tensor(i.data, i.shape, { dtype });
      t.requiresGrad = true;
      return t;
    });
    const y = f(xs);
    const w = tensor(new Rng(weightSeed).normalArray(y.size), y.shape, { dtype });
    const grads = gradients(sum(mul(y, w)), xs);
    return { value: Float64Array.from(y.dataSync()), grads: grads.map((g) => Float64Array.from(g.dataSync())) };
  }));
}
