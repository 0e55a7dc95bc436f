export * from './core.js';
export * from './nn.js';
