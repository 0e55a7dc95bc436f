export * from './core.js';
export * from './nn.js';
export * from './memory-scan.js';
export * from './qkv.js';
export * from './conv-heads.js';
