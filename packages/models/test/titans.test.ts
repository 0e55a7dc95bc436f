// The must-show properties (architecture-suite.ts) for the Titans variants.
import { describeArchitecture } from './architecture-suite.js';

for (const architecture of ['lmm', 'mac', 'mag', 'mal'] as const) describeArchitecture(architecture);
