// Opening a checkpoint directory written by `titans train` (or any saveCheckpoint caller):
// the model config, the weights, the trainer state and the run config when present, with
// every problem reported as one UsageError line.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHECKPOINT_FILES, createModel, defineConfig, hasCheckpoint, loadCheckpoint, parseTrainerState, readCheckpointConfig,
  type LanguageModel, type ModelConfig, type ModelConfigInput, type TrainerState,
} from '@titans/models';
import type { Tokenizer } from '@titans/data';
import { UsageError, type CommandContext } from './command.js';
import { resolveUserPath } from './command.js';
import { readUserJson } from './paths.js';
import { parseRunConfig, type RunConfig, type TokenizerChoice } from './run-config.js';
import { RUN_FILE, tokenizerFor } from './training.js';

export interface CheckpointSummary {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly run: RunConfig | null;
  readonly trainer: TrainerState | null;
  readonly tokenizerName: TokenizerChoice;
  /** File name -> bytes. */
  readonly files: Readonly<Record<string, number>>;
}

export interface OpenedCheckpoint extends CheckpointSummary {
  readonly model: LanguageModel;
  readonly tokenizer: Tokenizer;
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

/** Reads config.json, run.json and trainer.json without loading weights. */
export async function readCheckpointSummary(path: string, context: CommandContext): Promise<CheckpointSummary> {
  const dir = resolveUserPath(path, context);
  if (!existsSync(dir)) throw new UsageError(`cannot read checkpoint ${path}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${path} is not a checkpoint directory`);
  let hasModel: boolean;
  let rawConfig: unknown;
  try {
    hasModel = await hasCheckpoint(dir);
    rawConfig = await readCheckpointConfig(dir);
  } catch (error) {
    throw new UsageError(`${path}: ${message(error)}`);
  }
  if (!hasModel) throw new UsageError(`${path} is not a checkpoint (no ${CHECKPOINT_FILES.model})`);
  if (rawConfig === null) throw new UsageError(`${path} has no ${CHECKPOINT_FILES.config} (cannot tell which model it holds)`);
  let config: ModelConfig;
  try {
    config = defineConfig(rawConfig as ModelConfigInput);
  } catch (error) {
    throw new UsageError(`${path}/${CHECKPOINT_FILES.config}: ${message(error)}`);
  }
  let run: RunConfig | null = null;
  const runFile = join(dir, RUN_FILE);
  if (existsSync(runFile)) {
    run = parseRunConfig(readUserJson(runFile, `${path}/${RUN_FILE}`), `${path}/${RUN_FILE}`);
  }
  let trainer: TrainerState | null = null;
  const trainerFile = join(dir, CHECKPOINT_FILES.trainer);
  if (existsSync(trainerFile)) {
    try {
      trainer = parseTrainerState(JSON.parse(readFileSync(trainerFile, 'utf8')), `${path}/${CHECKPOINT_FILES.trainer}`);
    } catch (error) {
      throw new UsageError(message(error));
    }
  }
  const files: Record<string, number> = {};
  for (const name of readdirSync(dir).sort()) {
    const stat = statSync(join(dir, name));
    if (stat.isFile()) files[name] = stat.size;
  }
  const tokenizerName: TokenizerChoice = run?.data.tokenizer ?? (config.vocabSize >= 50257 ? 'gpt2' : 'byte');
  return { dir, config, run, trainer, tokenizerName, files };
}

/** Builds the model (on the current backend) and loads the checkpoint's weights into it. */
export async function openCheckpoint(path: string, context: CommandContext): Promise<OpenedCheckpoint> {
  const summary = await readCheckpointSummary(path, context);
  const model = createModel(summary.config);
  try {
    await loadCheckpoint(summary.dir, { model });
  } catch (error) {
    throw new UsageError(message(error));
  }
  model.eval();
  return { ...summary, model, tokenizer: await tokenizerFor(summary.tokenizerName) };
}
