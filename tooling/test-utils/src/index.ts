// @titans/test-utils: closeness and bit-for-bit checks, the `toBeAllclose` matcher, gradient checks
// (finite differences, second derivatives, cross-backend), the per-backend test registry
// and loaders for the golden files in shared/golden.
export * from './allclose.js';
export * from './bits.js';
export * from './matcher.js';
export * from './gradcheck.js';
export * from './backends.js';
export * from './golden.js';
export * from './processes.js';
