// The shared suites on every registered backend. Here: the CPU backend in float64 (finite
// differences), and the CPU backend again through the float32 path that GPU backends take
// (forward values vs plain-JS references, gradients vs the float64 CPU reference), which
// also checks the float32 fast kernels (WebAssembly matmul) against the float64 ones.
import { cpuBackend } from '@titans/tensor';
import { eachBackend, registerTestBackend } from '@titans/test-utils';
import { defineTensorSuite } from './suite/index.js';

registerTestBackend({ name: 'cpu-float32', backend: () => cpuBackend, float64: false, small: false });

eachBackend('tensor', (target) =>
  defineTensorSuite(target.backend, { float64: target.float64, small: target.small, steps: target.name === 'cpu' ? 10_000 : 500 }),
);
