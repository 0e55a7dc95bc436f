// @titans/memory: the Titans neural long-term memory and the Miras family.
export * from './config.js';
export {
  NEWTON_SCHULZ, activate, activationDerivative, apply as applyMemory, biasLoss, forward as memoryForward, newtonSchulz,
  rankOneNewtonSchulzFactor, tokenGradients,
} from './network.js';
export * from './scan.js';
export * from './golden.js';
export * from './neural-memory.js';
export * from './omega.js';
export * from './omega-fast.js';
export * from './omega-golden.js';
export * from './omega-module.js';
export * from './fused.js';
export * from './cms.js';
export * from './hope-dgd.js';
export * from './hope-titans.js';
