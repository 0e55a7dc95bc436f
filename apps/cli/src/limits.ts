// Size checks made before anything large is allocated or read: the parameters a config
// describes, a training step's activations, and token counts. A request that cannot fit
// is refused with its estimate (one line, exit 2) instead of hanging or crashing the process.
import { totalmem } from 'node:os';
import { countParameters, type ModelConfig } from '@titans/models';
import { UsageError } from './command.js';
import { formatBytes, grouped } from './format.js';

/** The memory a command may plan to use: 3/4 of the machine's (or the container's) memory. */
export function memoryBudget(): number {
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const total = constrained && constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return Math.floor(total * 0.75);
}

/** The longest memory chunk: a chunk's per-token gradients of the memory are held at once. */
const MAX_CHUNK_TOKENS = 2 ** 16;

/** The largest single tensor V8 can hold (typed arrays of up to 2^32 elements). */
const MAX_TENSOR_ELEMENTS = 2 ** 32 - 1;

function elementBytes(config: ModelConfig): number {
  return config.dtype === 'float64' ? 8 : 4;
}

/** Parameters of a config, refusing sizes whose count is not even a safe number. */
export function parameterCount(config: ModelConfig, what: string): number {
  let count: number;
  try {
    count = countParameters(config);
  } catch (error) {
    throw new UsageError(`${what}: cannot count its parameters (${(error as Error).message})`);
  }
  if (!Number.isFinite(count) || count > Number.MAX_SAFE_INTEGER) throw new UsageError(`${what}: the model is far too large (dim ${config.dim}, ${config.layers} blocks)`);
  return count;
}

/**
 * Refuses a model whose weights (times `copies`: 2 to load a checkpoint, 4 to train with
 * AdamW) do not fit in memory, or whose embedding is beyond a single tensor.
 */
export function checkModelFits(config: ModelConfig, what: string, copies: number): number {
  const params = parameterCount(config, what);
  const bytes = params * elementBytes(config) * copies;
  const budget = memoryBudget();
  if (bytes > budget) {
    throw new UsageError(`${what}: ${grouped(params)} parameters need about ${formatBytes(bytes)} (${copies} copies of ${config.dtype} weights), more than the ${formatBytes(budget)} this machine can give`);
  }
  for (const [key, value, limit] of [['model.memory.chunkSize', config.memory.chunkSize, MAX_CHUNK_TOKENS], ['model.segmentLength', config.segmentLength, MAX_PROMPT_TOKENS]] as const) {
    if (value > limit) throw new UsageError(`${what}: ${key} ${grouped(value)} is more than ${grouped(limit)} tokens (buffers of that many tokens are allocated per block)`);
  }
  const widest = Math.max(config.vocabSize * config.dim, config.dim * config.mlpHidden);
  if (widest > MAX_TENSOR_ELEMENTS) throw new UsageError(`${what}: one weight matrix would hold ${grouped(widest)} values, more than a tensor can (${grouped(MAX_TENSOR_ELEMENTS)})`);
  return params;
}

/**
 * A lower bound on a training step's memory: logits and their gradient (batch x sequence x
 * vocabulary), and per block a dozen activations of batch x sequence x width; refused with
 * the estimate when it is beyond the budget.
 */
export function checkTrainingFits(config: ModelConfig, batchSize: number, sequenceLength: number, what = 'invalid config'): void {
  const tokens = batchSize * sequenceLength;
  const chunk = Math.min(config.memory.chunkSize, sequenceLength);
  const perToken = 2 * config.vocabSize + 12 * config.layers * config.dim + chunk;
  const bytes = tokens * perToken * elementBytes(config);
  const budget = memoryBudget();
  if (!Number.isFinite(bytes) || bytes > budget) {
    throw new UsageError(`${what}: a step of data.batchSize ${batchSize} x data.sequenceLength ${sequenceLength} needs at least ${formatBytes(bytes)} of activations, more than the ${formatBytes(budget)} this machine can give`);
  }
  if (tokens * config.vocabSize > MAX_TENSOR_ELEMENTS) {
    throw new UsageError(`${what}: the logits of a step (${grouped(tokens)} tokens x ${grouped(config.vocabSize)} ids) are more than a tensor can hold`);
  }
}

/** The longest prompt eval and niah build (in tokens): 2^20 tokens already take hours through a CPU model. */
export const MAX_PROMPT_TOKENS = 2 ** 20;

export function checkLengthsFit(lengths: readonly number[], option = 'lengths'): void {
  for (const length of lengths) {
    if (length > MAX_PROMPT_TOKENS) throw new UsageError(`--${option} ${length}: at most ${grouped(MAX_PROMPT_TOKENS)} tokens per prompt (a prompt of ${grouped(length)} tokens needs about ${formatBytes(length * 8)} for its token ids alone and hours per sample)`);
  }
}
