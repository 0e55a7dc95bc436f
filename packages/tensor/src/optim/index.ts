export * from './optimizers.js';
