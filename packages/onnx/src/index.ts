// @titans/onnx: ONNX export of @titans/tensor code by tracing (any function, or a whole
// language model with its streaming state as graph inputs and outputs), and a runner for
// onnxruntime-node / onnxruntime-web that streams pieces through the exported graph.
export { OnnxTracer, TraceStorage, type TracerOptions } from './tracer.js';
export { GraphBuilder, type Value, type ValueType } from './graph.js';
export { exportFunction, OPSET, type ExportFunctionOptions, type InputSpec, type TracedOutputs } from './function.js';
export {
  exportOnnx, METADATA_KEY,
  type ExportOptions, type OnnxExport, type OnnxModelMetadata, type StateTensorInfo, type TensorInfo,
} from './export.js';
export {
  OnnxRunner, readOnnxMetadata,
  type OnnxState, type OrtModule, type OrtSession, type OrtSessionOptions, type OrtTensor, type RunnerOptions, type RunResult,
} from './runner.js';
export { exportCheckpointToOnnx, type CheckpointExportOptions, type CheckpointExportResult } from './checkpoint.js';
export { decodeModel, encodeModel, type ModelProto } from './proto.js';
