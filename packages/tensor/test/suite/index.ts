// The backend-independent suites. A backend package runs them like this:
//
//   registerTestBackend({ name: 'webgpu', backend: () => gpu, float64: false, small: true, setup });
//   eachBackend('tensor suite', (b) => defineTensorSuite(b.backend, { float64: b.float64, small: b.small }), ['webgpu']);
import type { Backend } from '@titans/tensor';
import { defineErrorSuite } from './errors.js';
import { defineMemorySuite } from './memory.js';
import { defineOpSuite, type SuiteOptions } from './ops.js';

export { defineErrorSuite } from './errors.js';
export { defineMemorySuite, mlpForward, tinyMlp, type MemorySuiteOptions } from './memory.js';
export { defineOpSuite, expectClose, seedOf, type SuiteOptions } from './ops.js';
export { opCases, secondOrderCases, attentionVariants, type OpCase } from './cases.js';
export { makeInputs, type InputSpec, type InputKind } from './inputs.js';

/** Every shared suite: ops and gradients, errors, memory (with `steps` training steps). */
export function defineTensorSuite(getBackend: () => Backend, options: SuiteOptions & { steps?: number }): void {
  defineOpSuite(getBackend, options);
  defineErrorSuite(getBackend);
  defineMemorySuite(getBackend, { steps: options.steps ?? (options.small ? 200 : 10_000) });
}
