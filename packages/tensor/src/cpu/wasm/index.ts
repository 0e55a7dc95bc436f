// Public surface of the CPU backend's fast paths (re-exported by the package index).
export { configureCpu, cpuConfig, type CpuConfig } from './config.js';
export { cpuInfo, startWorkers as startCpuWorkers, type CpuInfo } from './engine.js';
