// The JSON form of tensors in the memories' serialised states (exact float32/float64
// values), shared by the Titans, Omega, CMS and self-modifying memory states.
import { tensor, type DType, type Tensor } from '@titans/tensor';

export interface SerializedTensor {
  shape: number[];
  dtype: DType;
  data: number[];
}

export async function serializeTensor(t: Tensor): Promise<SerializedTensor> {
  return { shape: [...t.shape], dtype: t.dtype, data: Array.from(await t.data()) };
}

/** The defined entries of `record` (an object of optional tensors), serialised; null for null. */
export async function serializeTensorRecord(record: object | null): Promise<Record<string, SerializedTensor> | null> {
  if (!record) return null;
  const entries = (Object.entries(record) as [string, Tensor | undefined][]).filter((e): e is [string, Tensor] => e[1] !== undefined);
  return Object.fromEntries(await Promise.all(entries.map(async ([k, v]) => [k, await serializeTensor(v)] as const)));
}

/** The tensor `s` describes; `state` and `what` name the state and the field in the error. */
export function deserializeTensor(s: SerializedTensor | undefined, state: string, what: string): Tensor {
  if (!s || !Array.isArray(s.shape) || !Array.isArray(s.data)) throw new Error(`${state}: ${what} is not a serialised tensor`);
  return tensor(s.data, s.shape, { dtype: s.dtype });
}

/** Checks a serialised state's position (a non-negative integer). */
export function checkStatePosition(position: unknown, state: string): void {
  if (!Number.isInteger(position) || (position as number) < 0) throw new Error(`${state}: position must be a non-negative integer, got ${JSON.stringify(position)}`);
}
