// Node entry of @titans/models (the package's "node" export condition).
export * from './index.ts';
