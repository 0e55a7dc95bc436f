// Bit-for-bit comparison of numeric values: a fast path checked against the code it stands in
// for must give the same numbers, not close ones.
import { expect } from 'vitest';
import { flatten, type Numeric } from './allclose.js';

export interface SameBitsResult {
  ok: boolean;
  /** Elements that differ (Object.is: -0 differs from 0, NaN equals NaN). */
  differing: number;
  /** Index of the first differing element, -1 when none. */
  first: number;
  message: string;
}

/** Compares element by element with Object.is, after the shapes (when both sides have one) and sizes. */
export function sameBits(actual: Numeric, expected: Numeric): SameBitsResult {
  const a = flatten(actual);
  const b = flatten(expected);
  if (a.shape && b.shape && a.shape.join(',') !== b.shape.join(',')) {
    return { ok: false, differing: -1, first: -1, message: `shape mismatch: actual [${a.shape.join(', ')}] vs expected [${b.shape.join(', ')}]` };
  }
  if (a.values.length !== b.values.length) {
    return { ok: false, differing: -1, first: -1, message: `size mismatch: actual has ${a.values.length} elements, expected ${b.values.length}` };
  }
  let differing = 0;
  let first = -1;
  for (let i = 0; i < a.values.length; i++) {
    if (Object.is(a.values[i], b.values[i])) continue;
    differing++;
    if (first < 0) first = i;
  }
  const message = differing === 0 ? 'identical'
    : `${differing} of ${a.values.length} elements differ, the first at ${first}: ${fmt(a.values[first]!)} vs ${fmt(b.values[first]!)}`;
  return { ok: differing === 0, differing, first, message };
}

/** Fails unless `actual` holds exactly the values of `expected`, naming how many differ and the first. */
export function expectSameBits(actual: Numeric, expected: Numeric, label: string): void {
  const result = sameBits(actual, expected);
  expect(result.ok, `${label}: ${result.message}`).toBe(true);
}

const fmt = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));
