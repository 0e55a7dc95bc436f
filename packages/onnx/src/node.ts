// Node entry of @titans/onnx (the package's "node" export condition).
export * from './index.ts';
