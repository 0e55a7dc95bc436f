// Node entry of @titans/data (the package's "node" export condition).
export * from './index.ts';
