// The backend-independent tensor suite from @titans/tensor (ops, first and second
// derivatives, errors, memory discipline), run on the WebGPU backend in float32 with small
// shapes and compared with the CPU reference.
import { eachBackend, registerTestBackend } from '@titans/test-utils';
import { defineTensorSuite } from '../../tensor/test/suite/index.js';
import type { WebGPUBackend } from '../src/index.js';
import { makeBackend } from './helpers.js';

let gpu: WebGPUBackend | undefined;

registerTestBackend({
  name: 'webgpu',
  backend: () => {
    if (!gpu) throw new Error('the WebGPU backend was not created (setup failed)');
    return gpu;
  },
  float64: false,
  small: true,
  setup: async () => {
    gpu = await makeBackend();
  },
  teardown: () => gpu?.destroy(),
});

eachBackend('tensor suite', (target) => defineTensorSuite(target.backend, { float64: target.float64, small: target.small }), ['webgpu']);
