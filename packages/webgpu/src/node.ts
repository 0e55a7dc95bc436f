// Node entry of @titans/webgpu (the package's "node" export condition).
export * from './index.ts';
