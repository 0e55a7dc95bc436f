// Seeded test inputs: values drawn per "kind" so each op sees a valid, generic domain
// (positive for log, away from zero for division, no ties for max, ...).
import { Rng, tensor, type Backend, type DType, type Tensor } from '@titans/tensor';

export type InputKind =
  | 'normal'
  /** Uniform in [0.5, 2]. */
  | 'positive'
  /** Uniform in [0.1, 0.9] (decays, gates). */
  | 'unit'
  /** |x| in [0.5, 1.5] with a random sign. */
  | 'nonzero'
  /** Values in {-1, 0, 1} (forward-only comparisons with ties). */
  | 'small-int'
  /** int32 0/1 (conditions). */
  | 'mask'
  /** int32 in [0, int); every `ignoreEvery`-th element set to `ignore`. */
  | { int: number; ignore?: number; ignoreEvery?: number };

export interface InputSpec {
  shape: readonly number[];
  kind?: InputKind;
}

export function isIntKind(kind: InputKind | undefined): boolean {
  return kind === 'mask' || (typeof kind === 'object' && kind !== null);
}

export function drawValues(spec: InputSpec, rng: Rng): Float64Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const kind = spec.kind ?? 'normal';
  const u = rng.uniformArray(n);
  switch (kind) {
    case 'normal': return rng.normalArray(n);
    case 'positive': return u.map((x) => 0.5 + 1.5 * x);
    case 'unit': return u.map((x) => 0.1 + 0.8 * x);
    case 'nonzero': return rng.uniformArray(n).map((s, i) => (s < 0.5 ? -1 : 1) * (0.5 + u[i]!));
    case 'small-int': return u.map((x) => Math.floor(x * 3) - 1);
    case 'mask': return u.map((x) => (x < 0.5 ? 0 : 1));
    default: {
      const every = kind.ignoreEvery ?? 0;
      return u.map((x, i) => (every > 0 && i % every === every - 1 ? kind.ignore ?? -100 : Math.floor(x * kind.int)));
    }
  }
}

/** Tensors for `specs` on `backend`: float inputs in `dtype`, integer kinds as int32. */
export function makeInputs(specs: readonly InputSpec[], dtype: DType, backend: Backend, seed: number): Tensor[] {
  const rng = new Rng(seed);
  return specs.map((spec) => {
    const values = drawValues(spec, rng);
    if (isIntKind(spec.kind)) return tensor(Int32Array.from(values), spec.shape, { dtype: 'int32', backend });
    return tensor(dtype === 'float64' ? values : Float32Array.from(values), spec.shape, { dtype, backend });
  });
}

/** A deterministic "random" shape of the given rank from small and odd sizes (1 included). */
export function randomShape(rng: Rng, rank: number, sizes: readonly number[] = [1, 2, 3, 5]): number[] {
  return Array.from({ length: rank }, () => sizes[rng.int(sizes.length)]!);
}
