// The must-show properties (architecture-suite.ts) for the Atlas family: OmegaNet, Atlas,
// Atlas-MAG and Atlas-MAL (the Omega-rule memory of @titans/memory in the model).
import { describeArchitecture } from './architecture-suite.js';

for (const architecture of ['omeganet', 'atlas', 'atlas-mag', 'atlas-mal'] as const) describeArchitecture(architecture);
