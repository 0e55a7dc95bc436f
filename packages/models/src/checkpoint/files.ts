// Checkpoint directories on disk (Node only; the formats themselves live in safetensors.ts).
//
//   <dir>/model.safetensors      parameters
//   <dir>/optimizer.safetensors  optimizer slots (optional)
//   <dir>/config.json            the model config (what createModel needs)
//   <dir>/trainer.json           step, schedule, data position, RNG state, loss history
//
// A save never leaves a mixed or half-written checkpoint: every file is written to a
// temporary name in the same directory and fsynced; then a journal (commit.json) naming
// the renames is itself written and renamed into place, which is the commit point; then
// the renames happen. A crash before the commit leaves the old files untouched; a crash
// after it is rolled forward by the next save or load. Same-directory renames are atomic.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type HostTensor, type SafetensorsContents } from './safetensors.js';
import { commit, encodeModel, encodeOptimizer, stageModel, stageOptimizer, type NamedParameters, type StatefulOptimizer } from './state.js';

/** The file operations a save uses, so tests can inject failures at any point. */
export interface CheckpointFileSystem {
  /** Writes and fsyncs a new file. */
  writeFile(file: string, bytes: Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(file: string): Promise<void>;
  /** Makes renames in `dir` durable (a no-op where directories cannot be fsynced). */
  syncDirectory(dir: string): Promise<void>;
  /** The file's bytes, or null when it does not exist. */
  readFile(file: string): Promise<Uint8Array | null>;
  list(dir: string): Promise<string[]>;
  makeDirectory(dir: string): Promise<void>;
}

export const nodeFileSystem: CheckpointFileSystem = {
  async writeFile(file, bytes) {
    const handle = await fs.open(file, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  rename: (from, to) => fs.rename(from, to),
  remove: (file) => fs.rm(file, { force: true }),
  async syncDirectory(dir) {
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(dir, 'r');
      await handle.sync();
    } catch {
      // Windows cannot open or fsync a directory; its renames are durable enough.
    } finally {
      await handle?.close();
    }
  },
  async readFile(file) {
    try {
      const buffer = await fs.readFile(file);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  },
  async list(dir) {
    try {
      return await fs.readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  },
  makeDirectory: async (dir) => {
    await fs.mkdir(dir, { recursive: true });
  },
};

export const CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  config: 'config.json',
  trainer: 'trainer.json',
} as const;

const JOURNAL = 'commit.json';
const TEMP_MARK = '.tmp-';

/**
 * Replaces files in `dir` all at once: after a crash at any point the directory holds
 * either every old file or every new one. `files` maps a file name to its bytes.
 */
export async function writeFilesAtomically(dir: string, files: Readonly<Record<string, Uint8Array>>, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<void> {
  await fileSystem.makeDirectory(dir);
  await recoverCheckpoint(dir, fileSystem);
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const renames: [string, string][] = [];
  try {
    for (const [name, bytes] of Object.entries(files)) {
      if (name !== path.basename(name) || name === JOURNAL || name.includes(TEMP_MARK)) throw new Error(`checkpoint: invalid file name '${name}'`);
      const temp = `.${name}${TEMP_MARK}${id}`;
      await fileSystem.writeFile(path.join(dir, temp), bytes);
      renames.push([temp, name]);
    }
    const journalTemp = `.${JOURNAL}${TEMP_MARK}${id}`;
    await fileSystem.writeFile(path.join(dir, journalTemp), new TextEncoder().encode(JSON.stringify({ renames })));
    await fileSystem.rename(path.join(dir, journalTemp), path.join(dir, JOURNAL));
  } catch (error) {
    // Not committed: the old checkpoint is intact; drop what was written (best effort).
    for (const [temp] of renames) await fileSystem.remove(path.join(dir, temp)).catch(() => undefined);
    throw error;
  }
  await fileSystem.syncDirectory(dir);
  await recoverCheckpoint(dir, fileSystem);
}

/**
 * Finishes a save that committed but did not complete its renames (the process died), and
 * deletes temporaries of saves that never committed. Safe to call at any time.
 */
export async function recoverCheckpoint(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<void> {
  const journalPath = path.join(dir, JOURNAL);
  const journal = await fileSystem.readFile(journalPath);
  if (journal !== null) {
    let renames: [string, string][];
    try {
      renames = (JSON.parse(new TextDecoder().decode(journal)) as { renames: [string, string][] }).renames;
      if (!Array.isArray(renames)) throw new Error('no renames');
    } catch (error) {
      throw new CheckpointError(journalPath, `the save journal is unreadable (${(error as Error).message})`);
    }
    const present = new Set(await fileSystem.list(dir));
    for (const [temp, name] of renames) {
      if (present.has(temp)) await fileSystem.rename(path.join(dir, temp), path.join(dir, name));
    }
    await fileSystem.syncDirectory(dir);
    await fileSystem.remove(journalPath);
    await fileSystem.syncDirectory(dir);
  }
  for (const name of await fileSystem.list(dir)) {
    if (name.startsWith('.') && name.includes(TEMP_MARK)) await fileSystem.remove(path.join(dir, name));
  }
}

// ---------------------------------------------------------------- checkpoints

export interface SaveCheckpointOptions {
  model: NamedParameters;
  /** Saved as optimizer.safetensors when given. */
  optimizer?: StatefulOptimizer;
  /** The model config (JSON-serialisable), saved as config.json. */
  config?: object;
  /** Training-loop state (JSON-serialisable), saved as trainer.json. */
  trainer?: object;
  /** Extra `__metadata__` strings for model.safetensors. */
  metadata?: Record<string, string>;
  fileSystem?: CheckpointFileSystem;
}

/** Writes a checkpoint directory atomically (see the module comment). */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
  const files: Record<string, Uint8Array> = {};
  files[CHECKPOINT_FILES.model] = await encodeModel(options.model, options.metadata);
  if (options.optimizer) files[CHECKPOINT_FILES.optimizer] = await encodeOptimizer(options.optimizer, options.model);
  if (options.config !== undefined) files[CHECKPOINT_FILES.config] = jsonBytes(options.config, CHECKPOINT_FILES.config);
  if (options.trainer !== undefined) files[CHECKPOINT_FILES.trainer] = jsonBytes(options.trainer, CHECKPOINT_FILES.trainer);
  await writeFilesAtomically(dir, files, options.fileSystem);
}

export interface LoadCheckpointOptions {
  model: NamedParameters;
  /** Restored from optimizer.safetensors (which must then exist). */
  optimizer?: StatefulOptimizer;
  /** Checks config.json and trainer.json before anything is assigned; throw to reject. */
  validate?: (checkpoint: LoadedCheckpoint) => void;
  fileSystem?: CheckpointFileSystem;
}

export interface LoadedCheckpoint {
  /** config.json, or null when the checkpoint has none. */
  config: unknown;
  /** trainer.json, or null when the checkpoint has none. */
  trainer: unknown;
  /** model.safetensors' `__metadata__`. */
  metadata: Record<string, string>;
}

/**
 * Loads a checkpoint into `model` (and `optimizer`). Every file is read and checked first;
 * nothing is assigned unless all of it fits, so a bad checkpoint leaves the model as it was.
 */
export async function loadCheckpoint(dir: string, options: LoadCheckpointOptions): Promise<LoadedCheckpoint> {
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  await recoverCheckpoint(dir, fileSystem);
  const modelFile = path.join(dir, CHECKPOINT_FILES.model);
  const { tensors, metadata } = await readSafetensors(modelFile, fileSystem);
  const staged = stageModel(options.model, tensors, modelFile);
  let commitOptimizer: (() => void) | undefined;
  if (options.optimizer) {
    const optimizerFile = path.join(dir, CHECKPOINT_FILES.optimizer);
    const bytes = await fileSystem.readFile(optimizerFile);
    if (bytes === null) throw new CheckpointError(optimizerFile, 'not found (the checkpoint has no optimizer state)');
    commitOptimizer = stageOptimizer(options.optimizer, options.model, bytes, optimizerFile);
  }
  const config = await readJson(path.join(dir, CHECKPOINT_FILES.config), fileSystem);
  const trainer = await readJson(path.join(dir, CHECKPOINT_FILES.trainer), fileSystem);
  const loaded = { config, trainer, metadata };
  options.validate?.(loaded);
  commit(staged);
  commitOptimizer?.();
  return loaded;
}

/** True when `dir` holds a model.safetensors (after finishing any interrupted save). */
export async function hasCheckpoint(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<boolean> {
  if ((await fileSystem.list(dir)).length === 0) return false;
  await recoverCheckpoint(dir, fileSystem);
  return (await fileSystem.list(dir)).includes(CHECKPOINT_FILES.model);
}

/** The checkpoint's config.json (to build the model before loading into it), or null. */
export async function readCheckpointConfig(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<unknown> {
  await recoverCheckpoint(dir, fileSystem);
  return readJson(path.join(dir, CHECKPOINT_FILES.config), fileSystem);
}

/** Reads and validates one safetensors file. */
export async function readSafetensors(file: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<SafetensorsContents> {
  const bytes = await fileSystem.readFile(file);
  if (bytes === null) throw new CheckpointError(file, 'not found');
  return decodeSafetensors(bytes, { file });
}

/** Writes one safetensors file atomically (temporary + fsync + rename). */
export async function writeSafetensors(file: string, tensors: Readonly<Record<string, HostTensor>>, metadata: Record<string, string> = {}, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}${TEMP_MARK}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`);
  await fileSystem.makeDirectory(dir);
  try {
    await fileSystem.writeFile(temp, encodeSafetensors(tensors, metadata));
    await fileSystem.rename(temp, file);
  } catch (error) {
    await fileSystem.remove(temp).catch(() => undefined);
    throw error;
  }
  await fileSystem.syncDirectory(dir);
}

function jsonBytes(value: object, file: string): Uint8Array {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (error) {
    throw new Error(`checkpoint: ${file} is not JSON-serialisable (${(error as Error).message})`);
  }
  return new TextEncoder().encode(`${text}\n`);
}

async function readJson(file: string, fileSystem: CheckpointFileSystem): Promise<unknown> {
  const bytes = await fileSystem.readFile(file);
  if (bytes === null) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new CheckpointError(file, `not valid JSON (${(error as Error).message})`);
  }
}
