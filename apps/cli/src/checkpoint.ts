// Opening a checkpoint directory written by `titans train` (or any saveCheckpoint caller):
// the model config, the weights, the trainer state and the run config when present, with
// every problem reported as one UsageError line. Reading never changes the directory (a
// save in progress beside it is read as its last committed state), and sizes are checked
// from the headers before any weights are read or any model is built.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHECKPOINT_FILES, CheckpointError, checkHeaderFits, checkOptimizerHeaderFits, createModel, defineConfig, hasCheckpoint, inspectCheckpoint, loadCheckpoint, parseTrainerState,
  type CheckpointInspection, type LanguageModel, type ModelConfig, type ModelConfigInput, type TrainerState,
} from '@titans/models';
import type { Tokenizer } from '@titans/data';
import { UsageError, type CommandContext } from './command.js';
import { resolveUserPath } from './command.js';
import { grouped } from './format.js';
import { checkModelFits } from './limits.js';
import { readUserJson } from './paths.js';
import { parseRunConfig, type RunConfig, type TokenizerChoice } from './run-config.js';
import { RUN_FILE, tokenizerFor } from './training.js';

/** Up to this many parameters, the summary checks every tensor's name and shape (not just the total). */
const SHAPE_CHECK_PARAMETERS = 2 ** 22;

export interface CheckpointSummary {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly run: RunConfig | null;
  readonly trainer: TrainerState | null;
  readonly tokenizerName: TokenizerChoice;
  /** File name -> bytes. */
  readonly files: Readonly<Record<string, number>>;
  /** The validated headers (no weights). */
  readonly inspection: CheckpointInspection;
}

export interface OpenedCheckpoint extends CheckpointSummary {
  readonly model: LanguageModel;
  readonly tokenizer: Tokenizer;
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

/**
 * Reads config.json, run.json and trainer.json and validates the weights' headers against
 * their file sizes and the config (as loading does, without reading the weights).
 */
export async function readCheckpointSummary(path: string, context: CommandContext): Promise<CheckpointSummary> {
  const dir = resolveUserPath(path, context);
  if (!existsSync(dir)) throw new UsageError(`cannot read checkpoint ${path}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${path} is not a checkpoint directory`);
  let inspection: CheckpointInspection;
  try {
    if (!(await hasCheckpoint(dir))) throw new UsageError(`${path} is not a checkpoint (no ${CHECKPOINT_FILES.model})`);
    inspection = await inspectCheckpoint(dir);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(checkpointMessage(path, error));
  }
  if (inspection.config === null) throw new UsageError(`${path} has no ${CHECKPOINT_FILES.config} (cannot tell which model it holds)`);
  let config: ModelConfig;
  try {
    if (typeof inspection.config !== 'object' || Array.isArray(inspection.config)) throw new Error('not a JSON object');
    config = defineConfig(inspection.config as ModelConfigInput);
  } catch (error) {
    throw new UsageError(`${path}/${CHECKPOINT_FILES.config}: ${message(error)}`);
  }
  const parameters = checkModelFits(config, `${path}/${CHECKPOINT_FILES.config}`, 2);
  const held = inspection.model.entries.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
  if (held !== parameters) {
    throw new UsageError(`${path}/${CHECKPOINT_FILES.model}: holds ${grouped(held)} values but ${CHECKPOINT_FILES.config} describes a model of ${grouped(parameters)} parameters`);
  }
  // Names and shapes as the loader checks them, from a model built for the purpose when it is small.
  if (parameters <= SHAPE_CHECK_PARAMETERS) {
    const probe = createModel(config);
    try {
      checkHeaderFits(probe, inspection.model, join(dir, CHECKPOINT_FILES.model));
      if (inspection.optimizer) checkOptimizerHeaderFits(probe, inspection.optimizer, join(dir, CHECKPOINT_FILES.optimizer));
    } catch (error) {
      throw new UsageError(checkpointMessage(path, error));
    } finally {
      for (const p of probe.parameters()) p.dispose();
    }
  }
  let run: RunConfig | null = null;
  const runFile = join(dir, RUN_FILE);
  if (existsSync(runFile)) {
    run = parseRunConfig(readUserJson(runFile, `${path}/${RUN_FILE}`), `${path}/${RUN_FILE}`);
  }
  let trainer: TrainerState | null = null;
  if (inspection.trainer !== null) {
    try {
      trainer = parseTrainerState(inspection.trainer, `${path}/${CHECKPOINT_FILES.trainer}`);
    } catch (error) {
      throw new UsageError(message(error));
    }
  }
  const tokenizerName: TokenizerChoice = run?.data.tokenizer ?? (config.vocabSize >= 50257 ? 'gpt2' : 'byte');
  return { dir, config, run, trainer, tokenizerName, files: inspection.files, inspection };
}

/** A checkpoint error as one line, with the directory as the user typed it. */
export function checkpointMessage(path: string, error: unknown): string {
  // The library names its option; a command-line user has the flag.
  const text = message(error).replace('pass { allowRevisionMismatch: true }', `pass ${ALLOW_REVISION_MISMATCH}`);
  if (error instanceof CheckpointError) return text;
  return `${path}: ${text}`;
}

/** The flag of every command that opens a checkpoint: load weights saved by another revision of the architecture. */
export const ALLOW_REVISION_MISMATCH = '--allow-revision-mismatch';

export interface OpenCheckpointOptions {
  /** Load weights whose recorded architecture revision differs from this version's (--allow-revision-mismatch). */
  readonly allowRevisionMismatch?: boolean;
}

/** Builds the model (on the current backend) and loads the checkpoint's weights into it. */
export async function openCheckpoint(path: string, context: CommandContext, options: OpenCheckpointOptions = {}): Promise<OpenedCheckpoint> {
  const summary = await readCheckpointSummary(path, context);
  const model = createModel(summary.config);
  try {
    await loadCheckpoint(summary.dir, { model, allowRevisionMismatch: options.allowRevisionMismatch === true });
  } catch (error) {
    throw new UsageError(checkpointMessage(path, error));
  }
  model.eval();
  return { ...summary, model, tokenizer: await tokenizerFor(summary.tokenizerName) };
}
