// Node entry of @titans/eval (the package's "node" export condition).
export * from './index.ts';
