// Exporting a plain tensor function: graph inputs in, the function traced once, its
// results out. The model exporter is built on the same steps.
import { noGrad, withBackend, type DType, type Tensor } from '@titans/tensor';
import { encodeModel } from './proto.js';
import { OnnxTracer, type TracerOptions } from './tracer.js';

/** ONNX opset the exporter targets (onnxruntime 1.30 runs it on every execution provider). */
export const OPSET = 17;
export const PRODUCER_VERSION = '0.1.0';

export interface InputSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype?: DType;
}

export type TracedOutputs = Tensor | Readonly<Record<string, Tensor>>;

export interface ExportFunctionOptions extends TracerOptions {
  readonly graphName?: string;
}

/**
 * Traces `fn` on graph inputs of the given shapes and returns the ONNX model bytes. A
 * single tensor result is the output 'output'; a record names its outputs.
 */
export function exportFunction(
  fn: (...inputs: Tensor[]) => TracedOutputs, inputs: readonly InputSpec[], options: ExportFunctionOptions = {},
): Uint8Array {
  const tracer = new OnnxTracer(options);
  withBackend(tracer, () => noGrad(() => {
    const args = inputs.map((spec) => tracer.input(spec.name, spec.shape, spec.dtype ?? 'float32'));
    const result = fn(...args);
    const outputs: Record<string, Tensor> = isTensorLike(result) ? { output: result } : { ...result };
    for (const [name, t] of Object.entries(outputs)) tracer.output(name, t);
  }));
  return encodeModel(tracer.graph.build({ graphName: options.graphName ?? 'function', opset: OPSET, producerVersion: PRODUCER_VERSION }));
}

function isTensorLike(value: TracedOutputs): value is Tensor {
  return typeof (value as Tensor).view === 'function';
}
