// Exporting a language model: its forward pass over one piece of `sequenceLength` tokens,
// traced into a static ONNX graph. The memory runs in its chunk-parallel form, unrolled
// over the piece's chunks as matrix products (no Loop or Scan, which onnxruntime's WebGPU
// provider would run on the CPU). With `stateful` (the default) the whole streaming state
// is explicit: every tensor of the model state is a graph input `state.<path>` and the
// state after the piece is the output `next_state.<path>`, so feeding the outputs back in
// continues the stream exactly as `model.forward(ids, state)` does.
//
// Making the graph static takes three choices, all checked against the runtime by tests:
//   - Every state tensor has one shape for every piece. State that is null before the first
//     call (convolution caches, attention caches) starts as zeros instead, which the model
//     treats exactly like no history; memory weights start broadcast to the batch.
//   - Attention caches have a fixed number of slots: window - 1 for sliding windows (what
//     the model keeps anyway) and maxContext - sequenceLength for full attention. Slots
//     are right-aligned, and those not yet filled are masked from the position input.
//   - Rotary tables depend on the absolute position: the tracer recognises them and
//     computes them in the graph from `state.position` (in float64, as the runtime does).
// At position 0 the graph substitutes the learned initial values (memory weights) for the
// state inputs, so a fresh stream is started by feeding zeros everywhere.
import { cpuBackend, noGrad, narrow, Tensor, tensor, withBackend, type DType, type TypedArray } from '@titans/tensor';
import type { LanguageModel, ModelConfig, ModelState } from '@titans/models';
import { constantArray, type ConstantData, type Value } from './graph.js';
import { OPSET, PRODUCER_VERSION } from './function.js';
import { encodeModel } from './proto.js';
import { OnnxTracer, type TracerOptions } from './tracer.js';

export interface ExportOptions extends TracerOptions {
  /**
   * Tokens per call. For memory architectures a multiple of `memory.chunkSize`; for MAC a
   * multiple of `segmentLength` (which must itself be a multiple of the chunk size), so no
   * partial chunk or segment is ever carried between calls.
   */
  readonly sequenceLength: number;
  /** Sequences per call (default 1). */
  readonly batch?: number;
  /** State as graph inputs and outputs (default true); false exports one pass from the initial state. */
  readonly stateful?: boolean;
  /**
   * Full (unwindowed) attention keeps this many tokens in view, the current piece included
   * (default 4 x sequenceLength). Streams longer than this stop matching the runtime, which
   * keeps every token; the runner refuses to go past it.
   */
  readonly maxContext?: number;
}

export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'float64' | 'int32' | 'int64';
}

export interface StateTensorInfo {
  /** Path in the model state, e.g. `layers.0.memory.memory.weights.1`. */
  readonly path: string;
  readonly input: string;
  readonly output: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'float64';
  /** What a fresh stream holds: zeros, or the learned initial value the graph substitutes at position 0. */
  readonly initial: 'zeros' | 'learned';
}

/** Everything a runner needs to drive an exported model (also embedded in the model as `titans.metadata`). */
export interface OnnxModelMetadata {
  readonly format: 'titans-onnx/v1';
  readonly architecture: string;
  readonly config: ModelConfig;
  readonly opset: number;
  readonly sequenceLength: number;
  readonly batch: number;
  readonly stateful: boolean;
  readonly ids: TensorInfo;
  readonly logits: TensorInfo;
  /** int64 scalar inputs/outputs carrying the absolute position (stateful only). */
  readonly position: { readonly input: string; readonly output: string } | null;
  readonly state: readonly StateTensorInfo[];
  /** The last position a piece may start at and still match the runtime (null: unbounded). */
  readonly maxPosition: number | null;
}

export interface OnnxExport {
  readonly bytes: Uint8Array;
  readonly metadata: OnnxModelMetadata;
}

export const METADATA_KEY = 'titans.metadata';

/** The position the graph is traced at: arbitrary (nothing but rotary tables depends on it), only distinctive. */
const TRACE_POSITION = 4099;

/** Exports `model` as ONNX (see the module comment). */
export function exportOnnx(model: LanguageModel, options: ExportOptions): OnnxExport {
  const config = model.config;
  const T = options.sequenceLength;
  const batch = options.batch ?? 1;
  const stateful = options.stateful ?? true;
  if (!Number.isInteger(T) || T < 1) throw new Error(`exportOnnx: sequenceLength must be a positive integer, got ${T}`);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`exportOnnx: batch must be a positive integer, got ${batch}`);
  if (stateful) checkPieceLength(config, T);
  const maxContext = options.maxContext ?? 4 * T;
  if (maxContext < T) throw new Error(`exportOnnx: maxContext ${maxContext} is shorter than sequenceLength ${T}`);

  const tracer = new OnnxTracer(options);
  const graph = tracer.graph;
  const ids: TensorInfo = { name: 'input_ids', shape: [batch, T], dtype: 'int32' };
  const logits: TensorInfo = { name: 'logits', shape: [batch, T, config.vocabSize], dtype: config.dtype };
  const state: StateTensorInfo[] = [];
  let maxPosition: number | null = null;
  let position: Value | null = null;

  // The state's shapes after one piece, and its initial values, from the runtime itself.
  const template = stateful ? steadyState(model, batch, T) : null;
  const initial = stateful ? withBackend(cpuBackend, () => model.initialState(batch)) : null;

  withParametersOn(tracer, model, () => withBackend(tracer, () => noGrad(() => {
    const inputIds = tracer.input(ids.name, ids.shape, 'int32');
    if (!template || !initial) {
      tracer.output(logits.name, model.forward(inputIds).logits);
      return;
    }
    const pos = graph.input('state.position', [], 'int64');
    position = pos;
    const fresh = graph.node('Equal', [pos, graph.scalar(0, 'int64')], [], 'bool');
    installRotaryTables(tracer, config, T, pos);
    installCacheValidity(tracer, pos);

    const capacities = kvCapacities(model, maxContext - T);
    if ([...capacities.values()].some((c) => c.full)) maxPosition = maxContext - T;
    const traceState = mapState(template, (path, t) => {
      const shape = [...t.shape];
      const capacity = capacities.get(layerOf(path));
      if (capacity && /\.kv\.(keys|values)$/.test(path)) shape[2] = capacity.slots;
      const start = valueAt(initial, path);
      const learned = start !== null && !start.dataSync().every((x) => x === 0);
      const info: StateTensorInfo = { path, input: `state.${path}`, output: `next_state.${path}`, shape, dtype: t.dtype as 'float32' | 'float64', initial: learned ? 'learned' : 'zeros' };
      state.push(info);
      const input = graph.input(info.input, shape, t.dtype);
      if (!learned) return tracer.tensorOf(input);
      const init = graph.constant(start.dataSync() as ConstantData, start.shape, start.dtype, `initial.${path}`);
      return tracer.tensorOf(graph.node('Where', [fresh, init, input], shape, t.dtype));
    });
    const result = model.forward(inputIds, { ...traceState, position: TRACE_POSITION, batch });
    tracer.output(logits.name, result.logits);
    const produced = new Map<string, Tensor>();
    mapState(result.state, (path, t) => {
      produced.set(path, t);
      return t;
    });
    for (const info of state) {
      let t = produced.get(info.path);
      if (!t) throw new Error(`exportOnnx: the state after a piece has no tensor at '${info.path}' (its structure changes between pieces)`);
      produced.delete(info.path);
      if (/\.kv\.(keys|values)$/.test(info.path) && t.shape[2]! > info.shape[2]!) t = narrow(t, 2, t.shape[2]! - info.shape[2]!, info.shape[2]!);
      if (t.shape.length !== info.shape.length || t.shape.some((n, i) => n !== info.shape[i])) {
        throw new Error(`exportOnnx: state '${info.path}' goes from [${info.shape.join(', ')}] to [${t.shape.join(', ')}] over a piece; the graph needs one shape (see sequenceLength)`);
      }
      tracer.output(info.output, t);
    }
    if (produced.size > 0) throw new Error(`exportOnnx: the state after a piece has tensors the state before it lacks: ${[...produced.keys()].join(', ')}`);
    tracer.graph.output('next_state.position', graph.node('Add', [pos, graph.scalar(T, 'int64')], [], 'int64'));
  })));

  const metadata: OnnxModelMetadata = {
    format: 'titans-onnx/v1',
    architecture: config.architecture,
    config,
    opset: OPSET,
    sequenceLength: T,
    batch,
    stateful,
    ids,
    logits,
    position: position ? { input: 'state.position', output: 'next_state.position' } : null,
    state,
    maxPosition,
  };
  const proto = graph.build({
    graphName: `titans_${config.architecture}`,
    opset: OPSET,
    producerVersion: PRODUCER_VERSION,
    docString: `Titans ${config.architecture} language model, ${T} tokens per call${stateful ? ', streaming state as inputs/outputs' : ''}.`,
    metadata: { [METADATA_KEY]: JSON.stringify(metadata) },
  });
  return { bytes: encodeModel(proto), metadata };
}

function checkPieceLength(config: ModelConfig, T: number): void {
  const hasMemory = !['transformer', 'swa'].includes(config.architecture);
  const chunk = config.memory.chunkSize;
  if (config.architecture === 'mac') {
    if (T % config.segmentLength !== 0 || config.segmentLength % chunk !== 0) {
      throw new Error(`exportOnnx: MAC needs sequenceLength (${T}) a multiple of segmentLength (${config.segmentLength}), itself a multiple of memory.chunkSize (${chunk})`);
    }
  } else if (hasMemory && T % chunk !== 0) {
    throw new Error(`exportOnnx: sequenceLength ${T} must be a multiple of memory.chunkSize ${chunk} (a partial chunk would change the state's shape between calls)`);
  }
}

/** Runs `fn` with every parameter of `model` temporarily living on the tracer as a constant. */
function withParametersOn<T>(tracer: OnnxTracer, model: LanguageModel, fn: () => T): T {
  const saved: [Tensor, Tensor][] = [];
  try {
    noGrad(() => {
      const seen = new Set<Tensor>();
      for (const [name, p] of model.namedParameters()) {
        if (seen.has(p)) continue; // shared under two names
        seen.add(p);
        if (!p.backend.syncRead) throw new Error(`exportOnnx: parameter '${name}' lives on the ${p.backend.name} backend; export from the CPU`);
        saved.push([p, p.detach()]);
        p.assign(tracer.constantTensor(p.dataSync(), p.shape, p.dtype, name));
      }
    });
    return fn();
  } finally {
    noGrad(() => {
      for (const [p, original] of saved) {
        p.assign(original);
        original.dispose();
      }
    });
  }
}

/** The state after one piece from the initial state, on the CPU: the shapes every later piece keeps. */
function steadyState(model: LanguageModel, batch: number, T: number): ModelState {
  return withBackend(cpuBackend, () => noGrad(() => {
    const probeIds = tensor(new Int32Array(batch * T), [batch, T], { dtype: 'int32' });
    return model.forward(probeIds, model.initialState(batch)).state;
  }));
}

// ---------------------------------------------------------------- state trees

type StateNode = Tensor | null | number | string | boolean | undefined | readonly StateNode[] | { readonly [key: string]: StateNode };

/** Rebuilds a state tree with each tensor replaced (paths are dotted keys and indices, without `position`/`batch`). */
function mapState<S>(tree: S, fn: (path: string, t: Tensor) => Tensor): S {
  const walk = (node: StateNode, path: string): StateNode => {
    if (node instanceof Tensor) return fn(path, node);
    if (Array.isArray(node)) return (node as readonly StateNode[]).map((child, i) => walk(child, path ? `${path}.${i}` : `${i}`));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node as Record<string, StateNode>).map(([k, v]) => [k, walk(v, path ? `${path}.${k}` : k)]));
    }
    return node;
  };
  return walk(tree as StateNode, '') as S;
}

function valueAt(tree: unknown, path: string): Tensor | null {
  let node: unknown = tree;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string, unknown>)[key];
  }
  return node instanceof Tensor ? node : null;
}

const layerOf = (path: string): number => Number(/^layers\.(\d+)\./.exec(path)?.[1] ?? -1);

/** Cache slots of each attention layer: window - 1 for sliding windows, the full-attention budget otherwise. */
function kvCapacities(model: LanguageModel, fullSlots: number): Map<number, { slots: number; full: boolean }> {
  const out = new Map<number, { slots: number; full: boolean }>();
  const blocks = (model as unknown as { blocks?: readonly { attention?: { window?: number } }[] }).blocks ?? [];
  blocks.forEach((block, i) => {
    const window = block.attention?.window;
    if (window === undefined) return;
    out.set(i, window > 0 ? { slots: window - 1, full: false } : { slots: fullSlots, full: true });
  });
  return out;
}

// ---------------------------------------------------------------- position-dependent pieces

/**
 * Rotary tables (`rope` in @titans/tensor: cos/sin of (position + t) * base^(-2i/d), made
 * with `tensor(...)` in float64 and rounded to the model's dtype) are recognised by value
 * and computed from the position input instead, in float64 like the runtime.
 */
function installRotaryTables(tracer: OnnxTracer, config: ModelConfig, T: number, position: Value): void {
  const d = config.dim / config.heads;
  const half = d / 2;
  if (!Number.isInteger(half) || half < 1) return;
  const inv = Float64Array.from({ length: half }, (_, i) => Math.pow(config.ropeBase, (-2 * i) / d));
  const graph = tracer.graph;
  const cache = new Map<string, Value>();
  const round = (dtype: DType) => (x: number): number => (dtype === 'float32' ? Math.fround(x) : x);
  const matches = (data: TypedArray, rows: number, start: number, fn: (x: number) => number, r: (x: number) => number): boolean => {
    for (let t = 0; t < rows; t++) {
      for (let i = 0; i < half; i++) if (data[t * half + i] !== r(fn((start + t) * inv[i]!))) return false;
    }
    return true;
  };
  tracer.constantHook = (data, dtype) => {
    if (dtype === 'int32' || data.length % half !== 0) return null;
    const rows = data.length / half;
    if (rows > T) return null;
    const r = round(dtype);
    for (const [kind, fn] of [['Cos', Math.cos], ['Sin', Math.sin]] as const) {
      for (let offset = 0; offset < T; offset++) {
        const start = TRACE_POSITION + offset;
        if (!matches(data, 1, start, fn, r) || !matches(data, rows, start, fn, r)) continue;
        const key = `${kind}|${rows}|${offset}|${dtype}`;
        let value = cache.get(key);
        if (!value) {
          const steps = graph.constant(constantArray(Array.from({ length: rows }, (_, t) => offset + t), 'float64'), [rows, 1], 'float64', 'rope_steps');
          const at = graph.node('Add', [graph.node('Cast', [position], [], 'float64', { to: 11 }), steps], [rows, 1], 'float64');
          const angles = graph.node('Mul', [at, graph.constant(inv, [1, half], 'float64', 'rope_inv')], [rows, half], 'float64');
          const table = graph.node(kind, [angles], [rows, half], 'float64');
          value = dtype === 'float64' ? table : graph.node('Cast', [table], [rows, half], dtype, { to: 1 });
          cache.set(key, value);
        }
        return value;
      }
    }
    return null;
  };
}

/**
 * Attention over [prefix, cache, new tokens]: cache slot s (of C, right-aligned) holds the
 * token at position - C + s, which exists once position >= C - s.
 */
function installCacheValidity(tracer: OnnxTracer, position: Value): void {
  const graph = tracer.graph;
  tracer.keyValidity = (queryLength, keyLength, prefix) => {
    const slots = keyLength - queryLength - prefix;
    const threshold = Array.from({ length: keyLength }, (_, j) => (j >= prefix && j < prefix + slots ? slots - (j - prefix) : 0));
    return graph.node('GreaterOrEqual', [position, graph.constant(constantArray(threshold, 'int64'), [keyLength], 'int64', 'cache_slots')], [keyLength], 'bool');
  };
}


