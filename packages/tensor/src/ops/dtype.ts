// Ops that only make sense on floating-point values refuse int32 tensors (as PyTorch does)
// instead of computing in integers and truncating.
import type { Tensor } from '../tensor.js';

/** Throws a TypeError naming `op` and the dtype when `x` is not float32 or float64. */
export function requireFloat(op: string, x: Tensor, arg = 'x'): void {
  if (x.dtype === 'int32') {
    throw new TypeError(`${op}: '${arg}' is int32, but ${op} is defined for float32 and float64 tensors only (cast it first: cast(${arg}, 'float32'))`);
  }
}
