// Public surface of the CPU backend's fast paths (re-exported by the package index).
export { configureCpu, cpuConfig, type CpuConfig } from './config.js';
export { startWorkers as startCpuWorkers } from './engine.js';
export { cpuInfo, type CpuInfo } from './fma.js';
