// Moving model and optimizer state between tensors and safetensors bytes, with no file IO.
// Loading is all-or-nothing: every tensor is checked against the model (names, shapes,
// dtypes) and uploaded to a temporary first; parameters are assigned only when all passed.
import { keep, noGrad, tensor, type optim, type Tensor } from '@titans/tensor';
import { architectureOf, checkRevision, revisionMetadata, type RevisionOptions } from './revision.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, firstNonFinite, type HostTensor } from './safetensors.js';

/** What checkpoints need from a model: named parameters (an nn.Module has them). */
export interface NamedParameters {
  namedParameters(): [string, Tensor][];
}

/** What checkpoints need from an optimizer (optim.AdamW and optim.SGD fit). */
export interface StatefulOptimizer {
  readonly params: readonly Tensor[];
  state(): optim.OptimizerState;
  loadState(state: optim.OptimizerState): void;
  /** Frees the slot tensors (called before loading, so the old slots do not leak). */
  dispose?(): void;
}

/** Reads tensors back to the host (awaits, so it works on GPU backends too). */
export async function toHost(tensors: Readonly<Record<string, Tensor>>): Promise<Record<string, HostTensor>> {
  const out: Record<string, HostTensor> = {};
  for (const [name, t] of Object.entries(tensors)) out[name] = { dtype: t.dtype, shape: [...t.shape], data: await t.data() };
  return out;
}

/**
 * A model's parameters as safetensors bytes. When the model has a `config.architecture`, its
 * `__metadata__` records the architecture and its revision (see revision.ts).
 */
export async function encodeModel(model: NamedParameters, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  return encodeSafetensors(await toHost(Object.fromEntries(model.namedParameters())), { format: 'pt', ...revisionMetadata(architectureOf(model)), ...metadata });
}

/**
 * Loads safetensors bytes into a model's parameters. Names must match exactly; shapes must
 * match; float dtypes convert to the parameter's, integer and float do not mix. Throws a
 * CheckpointError naming `file` and the tensor, leaving the model untouched. Weights saved at
 * another revision of the model's architecture are refused (CheckpointRevisionError) unless
 * `allowRevisionMismatch`.
 */
export function loadModelBytes(model: NamedParameters, bytes: Uint8Array, file = 'model.safetensors', options: StageOptions & RevisionOptions = {}): Record<string, string> {
  const { tensors, metadata } = decodeSafetensors(bytes, { file });
  checkRevision(architectureOf(model), metadata, file, options);
  const staged = stageModel(model, tensors, file, options);
  commit(staged);
  return metadata;
}

/** A parameter paired with the validated value it will receive. */
export interface StagedAssignment {
  readonly target: Tensor;
  readonly value: HostTensor;
}

export interface StageOptions {
  /** Accept NaN and infinite values (default false: a CheckpointError names the tensor). */
  readonly allowNonFinite?: boolean;
}

/** Checks decoded tensors against the model without changing it. */
export function stageModel(model: NamedParameters, tensors: Readonly<Record<string, HostTensor>>, file: string, options: StageOptions = {}): StagedAssignment[] {
  const named = model.namedParameters();
  const known = new Set(named.map(([name]) => name));
  const missing = named.map(([name]) => name).filter((name) => !(name in tensors));
  if (missing.length > 0) throw new CheckpointError(file, `missing ${missing.length} tensor(s) the model has: ${list(missing)}`, missing[0]);
  const unexpected = Object.keys(tensors).filter((name) => !known.has(name));
  if (unexpected.length > 0) throw new CheckpointError(file, `has ${unexpected.length} tensor(s) the model does not: ${list(unexpected)}`, unexpected[0]);
  return named.map(([name, target]) => ({ target, value: checkFits(tensors[name]!, target, file, name, options) }));
}

/** Assigns staged values; cannot fail on shape or dtype because staging checked them. */
export function commit(staged: readonly StagedAssignment[]): void {
  // Upload everything first so a backend failure mid-way leaves the parameters untouched.
  const uploads = staged.map(({ target, value }) => keep(toTensorOf(value, target)));
  try {
    noGrad(() => staged.forEach(({ target }, i) => target.assign(uploads[i]!)));
  } finally {
    for (const t of uploads) t.dispose();
  }
}

function toTensorOf(value: HostTensor, like: Tensor): Tensor {
  const data = value.dtype === like.dtype ? value.data : like.dtype === 'float64' ? Float64Array.from(value.data) : Float32Array.from(value.data);
  return tensor(data, like.shape, { dtype: like.dtype, backend: like.backend });
}

function checkFits(value: HostTensor, target: Tensor, file: string, name: string, options: StageOptions): HostTensor {
  const shapeMatches = value.shape.length === target.shape.length && value.shape.every((d, i) => d === target.shape[i]);
  if (!shapeMatches) throw new CheckpointError(file, `shape [${value.shape.join(', ')}] does not match the model's [${target.shape.join(', ')}]`, name);
  if ((value.dtype === 'int32') !== (target.dtype === 'int32')) throw new CheckpointError(file, `dtype ${value.dtype} does not match the model's ${target.dtype}`, name);
  if (options.allowNonFinite !== true) {
    const bad = firstNonFinite(value.data);
    if (bad) throw new CheckpointError(file, `holds a non-finite value (${bad.value} at element ${bad.index}); the checkpoint is corrupt or its training diverged`, name);
  }
  // A float64 checkpoint loaded into float32 parameters can overflow to infinity.
  if (options.allowNonFinite !== true && value.dtype === 'float64' && target.dtype === 'float32') {
    const bad = firstNonFinite(Float32Array.from(value.data));
    if (bad) throw new CheckpointError(file, `holds a value (element ${bad.index}) outside float32's range`, name);
  }
  return value;
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 8).map((n) => `'${n}'`).join(', ');
  return names.length > 8 ? `${shown}, ... (${names.length - 8} more)` : shown;
}

// ---------------------------------------------------------------- optimizer state

/** Slot tensors are stored as `<slot>.<parameter name>`, e.g. `m.embed.weight`. */
export async function encodeOptimizer(optimizer: StatefulOptimizer, model: NamedParameters, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const names = parameterNames(optimizer, model);
  const state = optimizer.state();
  const flat: Record<string, Tensor> = {};
  for (const [slot, values] of Object.entries(state.slots)) values.forEach((t, i) => (flat[`${slot}.${names[i]!}`] = t));
  return encodeSafetensors(await toHost(flat), { ...metadata, step: String(state.step), slots: Object.keys(state.slots).join(',') });
}

/** Checks optimizer bytes against the optimizer; returns a commit function that cannot fail on shapes. */
export function stageOptimizer(optimizer: StatefulOptimizer, model: NamedParameters, bytes: Uint8Array, file = 'optimizer.safetensors', options: StageOptions = {}): () => void {
  const { tensors, metadata } = decodeSafetensors(bytes, { file });
  return stageOptimizerTensors(optimizer, model, tensors, metadata, file, options);
}

/**
 * Checks an optimizer file's header (names, shapes, dtypes, step and slots metadata) against
 * an AdamW/SGD over all of `model`'s parameters, without its data: what `titans info` checks.
 */
export function checkOptimizerHeader(model: NamedParameters & { parameters(): Tensor[] }, tensors: Readonly<Record<string, HostTensor>>, metadata: Record<string, string>, file: string): void {
  const params = model.parameters();
  const probe: StatefulOptimizer = { params, state: () => ({ step: 0, slots: {} }), loadState: () => undefined };
  stageOptimizerTensors(probe, model, tensors, metadata, file, { allowNonFinite: true });
}

function stageOptimizerTensors(
  optimizer: StatefulOptimizer, model: NamedParameters, tensors: Readonly<Record<string, HostTensor>>, metadata: Record<string, string>, file: string, options: StageOptions,
): () => void {
  const step = Number(metadata.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(file, `__metadata__.step is ${JSON.stringify(metadata.step)}, not a step count`);
  const slotNames = metadata.slots ? metadata.slots.split(',') : [];
  const names = parameterNames(optimizer, model);
  const used = new Set<string>();
  const slots: Record<string, StagedAssignment[]> = Object.create(null) as Record<string, StagedAssignment[]>;
  if (new Set(slotNames).size !== slotNames.length) throw new CheckpointError(file, `__metadata__.slots names a slot twice (${JSON.stringify(metadata.slots)})`);
  for (const slot of slotNames) {
    slots[slot] = names.map((name, i) => {
      const key = `${slot}.${name}`;
      const value = Object.hasOwn(tensors, key) ? tensors[key] : undefined;
      if (!value) throw new CheckpointError(file, `missing optimizer slot '${slot}' for parameter '${name}'`, key);
      used.add(key);
      return { target: optimizer.params[i]!, value: checkFits(value, optimizer.params[i]!, file, key, options) };
    });
  }
  const unexpected = Object.keys(tensors).filter((key) => !used.has(key));
  if (unexpected.length > 0) throw new CheckpointError(file, `has ${unexpected.length} tensor(s) that match no optimizer slot: ${list(unexpected)}`, unexpected[0]);
  return () => {
    const uploaded: Record<string, Tensor[]> = {};
    for (const [slot, staged] of Object.entries(slots)) uploaded[slot] = staged.map(({ target, value }) => keep(toTensorOf(value, target)));
    try {
      optimizer.dispose?.();
      optimizer.loadState({ step, slots: uploaded });
    } finally {
      // loadState keeps its own clones.
      for (const values of Object.values(uploaded)) for (const t of values) t.dispose();
    }
  };
}

function parameterNames(optimizer: StatefulOptimizer, model: NamedParameters): string[] {
  const byTensor = new Map(model.namedParameters().map(([name, p]) => [p, name] as const));
  return optimizer.params.map((p, i) => {
    const name = byTensor.get(p);
    if (name === undefined) throw new Error(`checkpoint: optimizer parameter ${i} (shape [${p.shape.join(', ')}]) is not a parameter of the model`);
    return name;
  });
}
