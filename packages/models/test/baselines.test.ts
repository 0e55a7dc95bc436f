// The must-show properties (architecture-suite.ts) for the baselines built from the same parts.
import { describeArchitecture } from './architecture-suite.js';

for (const architecture of ['transformer', 'swa', 'deltanet', 'gated-deltanet', 'moneta', 'yaad', 'memora'] as const) describeArchitecture(architecture);
