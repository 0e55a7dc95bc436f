// OnnxRunner: runs an exported model in onnxruntime-node or onnxruntime-web (wasm, or the
// WebGPU provider in a browser), in one call or streamed in pieces with the state carried
// from each call's outputs to the next call's inputs. Works from the model bytes alone:
// the export's metadata travels inside the model.
import type { OnnxExport, OnnxModelMetadata } from './export.js';
import { METADATA_KEY } from './export.js';
import { decodeModel } from './proto.js';

/** The part of an onnxruntime Tensor the runner uses. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtSessionOptions {
  executionProviders?: string[];
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
}

/** The part of an onnxruntime module (`onnxruntime-node` or `onnxruntime-web`) the runner uses. */
export interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  readonly Tensor: new (type: 'float32' | 'float64' | 'int32' | 'int64', data: Float32Array | Float64Array | Int32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  readonly env?: { wasm?: { numThreads?: number }; versions?: { readonly web?: string } };
}

export interface RunnerOptions {
  /** Which onnxruntime package to load (default 'node' under Node, 'web' elsewhere). */
  readonly runtime?: 'node' | 'web';
  /** An already imported onnxruntime module (takes precedence over `runtime`). */
  readonly ort?: OrtModule;
  /** Default ['cpu'] (node) or ['wasm'] (web); ['webgpu'] in a browser with onnxruntime-web. */
  readonly executionProviders?: readonly string[];
  /** CPU threads: intra-op threads (node) or `env.wasm.numThreads` before the first web session (default 1 for web). */
  readonly threads?: number;
  /** Default 'all' ('basic' for float64 models: onnxruntime fuses float64 patterns into float-only kernels). */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** The streaming state between calls: the absolute position and the state tensors by input name. */
export interface OnnxState {
  readonly position: number;
  readonly tensors: Readonly<Record<string, OrtTensor>>;
}

export interface RunResult {
  /** [batch, tokens, vocab], row-major. */
  readonly logits: Float32Array | Float64Array;
  readonly dims: readonly [number, number, number];
  readonly state: OnnxState;
}

/** The metadata embedded in an exported model. */
export function readOnnxMetadata(bytes: Uint8Array): OnnxModelMetadata {
  const entry = decodeModel(bytes).metadataProps.find((p) => p.key === METADATA_KEY);
  if (!entry) throw new Error(`readOnnxMetadata: the model has no '${METADATA_KEY}' entry (not exported by @titans/onnx)`);
  const metadata = JSON.parse(entry.value) as OnnxModelMetadata;
  if (metadata.format !== 'titans-onnx/v1') throw new Error(`readOnnxMetadata: unknown format ${JSON.stringify(metadata.format)}`);
  return metadata;
}

async function loadOrt(runtime: 'node' | 'web'): Promise<OrtModule> {
  const name = runtime === 'node' ? 'onnxruntime-node' : 'onnxruntime-web';
  try {
    const module = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as { default?: unknown };
    return (('InferenceSession' in module ? module : module.default) as unknown) as OrtModule;
  } catch (error) {
    throw new Error(`OnnxRunner: cannot load ${name} (install it next to @titans/onnx): ${(error as Error).message}`);
  }
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

export class OnnxRunner {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    readonly metadata: OnnxModelMetadata,
  ) {}

  /** Loads an exported model (its bytes, or the result of `exportOnnx`). */
  static async create(model: Uint8Array | OnnxExport, options: RunnerOptions = {}): Promise<OnnxRunner> {
    const bytes = model instanceof Uint8Array ? model : model.bytes;
    const metadata = model instanceof Uint8Array ? readOnnxMetadata(bytes) : model.metadata;
    const runtime = options.runtime ?? (isNode ? 'node' : 'web');
    const ort = options.ort ?? await loadOrt(runtime);
    const web = options.ort ? options.ort.env?.versions?.web !== undefined : runtime === 'web';
    if (web && ort.env?.wasm) ort.env.wasm.numThreads = options.threads ?? ort.env.wasm.numThreads ?? 1;
    const sessionOptions: OrtSessionOptions = {
      executionProviders: [...(options.executionProviders ?? [web ? 'wasm' : 'cpu'])],
      graphOptimizationLevel: options.graphOptimizationLevel ?? (metadata.config.dtype === 'float64' ? 'basic' : 'all'),
      ...(!web && options.threads ? { intraOpNumThreads: options.threads } : {}),
    };
    const session = await ort.InferenceSession.create(bytes, sessionOptions);
    return new OnnxRunner(ort, session, metadata);
  }

  get sequenceLength(): number {
    return this.metadata.sequenceLength;
  }

  /** The state of a fresh stream: zeros at position 0 (the graph puts in the learned initial values). */
  initialState(): OnnxState {
    const tensors: Record<string, OrtTensor> = {};
    for (const s of this.metadata.state) {
      const size = s.shape.reduce((a, b) => a * b, 1);
      tensors[s.input] = new this.ort.Tensor(s.dtype, s.dtype === 'float64' ? new Float64Array(size) : new Float32Array(size), s.shape);
    }
    return { position: 0, tensors };
  }

  /**
   * One call: `ids` holds batch x sequenceLength token ids (row-major, or one array per
   * sequence). Continues from `state` (default: a fresh stream).
   */
  async forward(ids: Int32Array | readonly (readonly number[])[], state: OnnxState = this.initialState()): Promise<RunResult> {
    const { batch, sequenceLength: T } = this.metadata;
    const flat = flattenIds(ids, batch);
    if (flat.length !== batch * T) throw new Error(`OnnxRunner: the model takes ${batch} x ${T} token ids per call, got ${flat.length}`);
    const feeds: Record<string, OrtTensor> = { [this.metadata.ids.name]: new this.ort.Tensor('int32', flat, [batch, T]) };
    const position = this.metadata.position;
    if (position) {
      const limit = this.metadata.maxPosition;
      if (limit !== null && state.position > limit) {
        throw new RangeError(`OnnxRunner: position ${state.position} is past ${limit}, the last one this export attends fully (export with a larger maxContext)`);
      }
      feeds[position.input] = new this.ort.Tensor('int64', BigInt64Array.from([BigInt(state.position)]), []);
      for (const s of this.metadata.state) {
        const t = state.tensors[s.input];
        if (!t) throw new Error(`OnnxRunner: the state has no '${s.input}'`);
        feeds[s.input] = t;
      }
    }
    const out = await this.session.run(feeds);
    const logits = out[this.metadata.logits.name]!;
    const next: Record<string, OrtTensor> = {};
    for (const s of this.metadata.state) next[s.input] = out[s.output]!;
    return {
      logits: logits.data as Float32Array | Float64Array,
      dims: [batch, T, this.metadata.config.vocabSize],
      state: { position: position ? Number(state.position) + T : 0, tensors: next },
    };
  }

  /**
   * Streams ids of batch x (k * sequenceLength) tokens through k calls, carrying the state;
   * returns the logits of every token and the final state.
   */
  async stream(ids: Int32Array | readonly (readonly number[])[], state: OnnxState = this.initialState()): Promise<RunResult> {
    const { batch, sequenceLength: T } = this.metadata;
    if (!this.metadata.stateful) throw new Error('OnnxRunner: this export is stateless (exported with stateful: false); use forward()');
    const flat = flattenIds(ids, batch);
    const total = flat.length / batch;
    if (!Number.isInteger(total) || total % T !== 0 || total === 0) {
      throw new Error(`OnnxRunner: stream needs a positive multiple of ${T} tokens per sequence, got ${flat.length / batch}`);
    }
    const V = this.metadata.config.vocabSize;
    const pieces = total / T;
    const logits = this.metadata.config.dtype === 'float64' ? new Float64Array(batch * total * V) : new Float32Array(batch * total * V);
    let current = state;
    for (let p = 0; p < pieces; p++) {
      const piece = new Int32Array(batch * T);
      for (let b = 0; b < batch; b++) piece.set(flat.subarray(b * total + p * T, b * total + (p + 1) * T), b * T);
      const result = await this.forward(piece, current);
      for (let b = 0; b < batch; b++) logits.set(result.logits.subarray(b * T * V, (b + 1) * T * V), (b * total + p * T) * V);
      current = result.state;
    }
    return { logits, dims: [batch, total, V], state: current };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function flattenIds(ids: Int32Array | readonly (readonly number[])[], batch: number): Int32Array {
  if (ids instanceof Int32Array) return ids;
  if (ids.length !== batch) throw new Error(`OnnxRunner: expected ${batch} sequences, got ${ids.length}`);
  return Int32Array.from(ids.flat());
}
