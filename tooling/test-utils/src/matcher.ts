// `expect(actual).toBeAllclose(expected, { rtol, atol })`: registered on import.
import { expect } from 'vitest';
import { allclose, type AllcloseOptions, type Numeric } from './allclose.js';

declare module 'vitest' {
  // The type parameter mirrors vitest's own declaration so the interfaces merge.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
  interface Matchers<T = any> {
    /** Element-wise |actual - expected| <= atol + rtol * |expected| (defaults rtol 1e-5, atol 1e-8). */
    toBeAllclose(expected: Numeric, options?: AllcloseOptions): void;
  }
}

let registered = false;

/** Adds `toBeAllclose` to vitest's `expect` (importing @titans/test-utils already does this). */
export function registerMatchers(): void {
  if (registered) return;
  registered = true;
  expect.extend({
    toBeAllclose(received: Numeric, expected: Numeric, options: AllcloseOptions = {}) {
      const result = allclose(received, expected, options);
      return {
        pass: result.ok,
        message: () => (result.ok ? `expected values not to be allclose, but ${result.message}` : `expected values to be allclose: ${result.message}`),
      };
    },
  });
}

registerMatchers();
