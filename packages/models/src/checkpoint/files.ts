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
// after it is rolled forward by the next writer. Same-directory renames are atomic.
//
// Only writers change the directory, one at a time (a lock file, see lockCheckpoint), and
// a journal may only rename a file's own temporary onto that file of this directory.
// Readers never write: they read a committed but unfinished save from its temporaries.
// Every file carries the step and run id of its save, and loading refuses a mix.
import * as fsSync from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CheckpointError, encodeSafetensors, headerLengthOf, parseSafetensorsHeader, readTensorData,
  type HostTensor, type SafetensorsContents, type SafetensorsHeader,
} from './safetensors.js';
import type { Tensor } from '@titans/tensor';
import { architectureOf, checkRevision, revisionMetadata } from './revision.js';
import {
  checkOptimizerHeader, commit, encodeModel, encodeOptimizer, stageModel, stageOptimizer, type NamedParameters, type StatefulOptimizer,
} from './state.js';

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
  makeDirectory: (dir) => makeDirectories(dir),
};

/**
 * mkdir -p, one level at a time: Node's recursive mkdir loops forever where a parent
 * exists but refuses children with ENOENT (/proc), so each missing level is made alone.
 */
async function makeDirectories(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    try {
      if ((await fs.stat(at)).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}' (${at} is a file)`), { code: 'ENOTDIR' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(at) === at) throw error;
      missing.unshift(at);
    }
  }
  for (const level of missing) {
    try {
      await fs.mkdir(level);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

export const CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  config: 'config.json',
  trainer: 'trainer.json',
} as const;

const JOURNAL = 'commit.json';
const TEMP_MARK = '.tmp-';
/** The writer's lock file (see lockCheckpoint). */
export const LOCK_FILE = '.titans-lock';

/**
 * Whether `name` may be a file of a checkpoint directory: a plain name in the directory
 * (no separators, not `.`/`..`, not hidden, not the journal or a temporary).
 */
function isCheckpointFileName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name === path.basename(name) && !/[\\/\0]/.test(name) && !name.startsWith('.')
    && name !== JOURNAL && !name.includes(TEMP_MARK) && !path.isAbsolute(name);
}

/**
 * The renames a journal names, checked: each is `[.<name>.tmp-<id>, <name>]` for a plain file
 * name of this directory and one save id. Anything else (a path outside the directory, an
 * absolute path, one checkpoint file over another) is refused before anything is renamed.
 */
function parseJournal(bytes: Uint8Array, journalPath: string): [string, string][] {
  const fail = (why: string): never => {
    throw new CheckpointError(journalPath, `refusing the save journal: ${why}; nothing was changed (delete ${JOURNAL} by hand if this directory is yours)`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    return fail(`it is not valid JSON (${(error as Error).message})`);
  }
  const renames = (parsed as { renames?: unknown } | null)?.renames;
  if (!Array.isArray(renames) || renames.length === 0 || renames.length > 64) return fail('it has no list of renames');
  let id: string | undefined;
  const targets = new Set<string>();
  for (const entry of renames as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') return fail(`entry ${JSON.stringify(entry)} is not a [temporary, name] pair`);
    const [temp, target] = entry as [string, string];
    if (!isCheckpointFileName(target)) return fail(`it names ${JSON.stringify(target)}, which is not a file of this checkpoint directory`);
    const prefix = `.${target}${TEMP_MARK}`;
    const tempId = temp.startsWith(prefix) ? temp.slice(prefix.length) : '';
    if (!/^[a-z0-9-]{1,64}$/.test(tempId)) return fail(`it would rename ${JSON.stringify(temp)} to ${JSON.stringify(target)}, which is not that file's temporary`);
    if (id !== undefined && tempId !== id) return fail('its temporaries come from different saves');
    id = tempId;
    if (targets.has(target)) return fail(`it renames to ${JSON.stringify(target)} twice`);
    targets.add(target);
  }
  return renames as [string, string][];
}

/**
 * Replaces files in `dir` all at once: after a crash at any point the directory holds
 * either every old file or every new one. `files` maps a file name to its bytes. Holds the
 * directory's writer lock for the save (taking it unless this process already holds it).
 */
export async function writeFilesAtomically(dir: string, files: Readonly<Record<string, Uint8Array>>, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<void> {
  for (const name of Object.keys(files)) {
    if (!isCheckpointFileName(name)) throw new Error(`checkpoint: invalid file name '${name}'`);
  }
  await fileSystem.makeDirectory(dir);
  const lock = await lockCheckpoint(dir);
  try {
    await recoverCheckpoint(dir, fileSystem);
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const renames: [string, string][] = [];
    try {
      for (const [name, bytes] of Object.entries(files)) {
        const temp = `.${name}${TEMP_MARK}${id}`;
        renames.push([temp, name]);
        await fileSystem.writeFile(path.join(dir, temp), bytes);
      }
      const journalTemp = `.${JOURNAL}${TEMP_MARK}${id}`;
      await fileSystem.writeFile(path.join(dir, journalTemp), new TextEncoder().encode(JSON.stringify({ renames })));
      await fileSystem.rename(path.join(dir, journalTemp), path.join(dir, JOURNAL));
    } catch (error) {
      // Not committed: the old checkpoint is intact; drop what was written (best effort).
      for (const temp of [...renames.map(([t]) => t), `.${JOURNAL}${TEMP_MARK}${id}`]) await fileSystem.remove(path.join(dir, temp)).catch(() => undefined);
      throw error;
    }
    await fileSystem.syncDirectory(dir);
    await recoverCheckpoint(dir, fileSystem);
  } finally {
    await lock.release();
  }
}

/**
 * Finishes a save that committed but did not complete its renames (the process died), and
 * deletes temporaries of saves that never committed. This writes: it takes the directory's
 * writer lock (refused while another process trains into it). Readers never call it; they
 * see a committed save through the journal without changing anything (readCheckpointFiles).
 */
export async function recoverCheckpoint(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<void> {
  const lock = await lockCheckpoint(dir);
  try {
    const journalPath = path.join(dir, JOURNAL);
    const journal = await fileSystem.readFile(journalPath);
    if (journal !== null) {
      const renames = parseJournal(journal, journalPath);
      const present = new Set(await fileSystem.list(dir));
      for (const [temp] of renames) {
        if (present.has(temp) && !(await isRegularFile(path.join(dir, temp)))) {
          throw new CheckpointError(path.join(dir, temp), 'refusing the save journal: the temporary is not a regular file (a link?); nothing was changed');
        }
      }
      for (const [temp, name] of renames) {
        if (present.has(temp)) await fileSystem.rename(path.join(dir, temp), path.join(dir, name));
      }
      await fileSystem.syncDirectory(dir);
      await fileSystem.remove(journalPath);
      await fileSystem.syncDirectory(dir);
    }
    for (const name of await fileSystem.list(dir)) {
      if (name.startsWith('.') && name.includes(TEMP_MARK) && name === path.basename(name)) await fileSystem.remove(path.join(dir, name));
    }
  } finally {
    await lock.release();
  }
}

async function isRegularFile(file: string): Promise<boolean> {
  try {
    return (await fs.lstat(file)).isFile();
  } catch {
    // Not on this file system (an injected one): trust it.
    return true;
  }
}

// ---------------------------------------------------------------- reading without writing

/**
 * Where each file of the checkpoint is, as the last committed save left it, without
 * changing the directory: a file named by a committed journal whose rename has not
 * happened yet is read from its temporary. Returns file name -> path.
 */
export async function checkpointFiles(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<Record<string, string>> {
  const present = await fileSystem.list(dir);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of present) if (isCheckpointFileName(name)) out[name] = path.join(dir, name);
  const journalPath = path.join(dir, JOURNAL);
  const journal = present.includes(JOURNAL) ? await fileSystem.readFile(journalPath) : null;
  if (journal !== null) {
    const names = new Set(present);
    for (const [temp, name] of parseJournal(journal, journalPath)) if (names.has(temp)) out[name] = path.join(dir, temp);
  }
  return out;
}

// ---------------------------------------------------------------- bounded reads

/** Largest config.json / trainer.json read (a trainer.json of a million steps is ~20 MB). */
const MAX_JSON_BYTES = 256 * 1024 * 1024;

interface ReadHandle {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Opens a file for bounded reading: refuses anything but a regular file (a directory, a
 * device such as /dev/zero behind a link, a pipe) before reading a byte; null when absent.
 */
async function openForReading(file: string, fileSystem: CheckpointFileSystem): Promise<ReadHandle | null> {
  if (fileSystem !== nodeFileSystem) {
    // An injected file system (tests): whole-file reads through it.
    const bytes = await fileSystem.readFile(file);
    if (bytes === null) return null;
    return { size: bytes.length, read: async (offset, length) => bytes.slice(offset, offset + length), close: async () => undefined };
  }
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CheckpointError(file, `cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const notRegular = (s: import('node:fs').Stats): string => (s.isDirectory() ? 'is a directory, not a file' : 'is not a regular file (a device, pipe or socket?)');
  if (!stat.isFile()) throw new CheckpointError(file, notRegular(stat));
  let handle: fs.FileHandle;
  try {
    // Non-blocking: a file swapped for a pipe between stat and open cannot hang the open.
    handle = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CheckpointError(file, `cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const opened = await handle.stat();
  if (!opened.isFile()) {
    await handle.close();
    throw new CheckpointError(file, notRegular(opened));
  }
  return {
    size: opened.size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new CheckpointError(file, `truncated while reading: ${offset + done} of ${opened.size} bytes (did the file change?)`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

/** Opens one file of the checkpoint (from its temporary while a committed save is being finished). */
async function openCheckpointFile(dir: string, files: Record<string, string>, name: string, fileSystem: CheckpointFileSystem): Promise<ReadHandle | null> {
  const where = files[name];
  if (where === undefined) return null;
  const handle = await openForReading(where, fileSystem);
  // The writer finished the rename between listing and opening: the file is in place now.
  if (handle === null && where !== path.join(dir, name)) return openForReading(path.join(dir, name), fileSystem);
  return handle;
}

async function readHeader(handle: ReadHandle, file: string): Promise<SafetensorsHeader> {
  const headerLength = headerLengthOf(await handle.read(0, Math.min(8, handle.size)), file, handle.size);
  return parseSafetensorsHeader(await handle.read(8, headerLength), handle.size, file);
}

async function readTensors(handle: ReadHandle, header: SafetensorsHeader): Promise<Record<string, HostTensor>> {
  const data = await handle.read(header.dataStart, handle.size - header.dataStart);
  const tensors: Record<string, HostTensor> = Object.create(null) as Record<string, HostTensor>;
  for (const e of header.entries) tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: readTensorData(data, e.begin, e) };
  return tensors;
}

async function readJsonFile(handle: ReadHandle | null, file: string): Promise<unknown> {
  if (handle === null) return null;
  if (handle.size > MAX_JSON_BYTES) throw new CheckpointError(file, `${handle.size} bytes is too large for this JSON file (limit ${MAX_JSON_BYTES})`);
  const bytes = await handle.read(0, handle.size);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new CheckpointError(file, `not valid JSON (${(error as Error).message})`);
  }
}

async function withHandle<T>(handle: ReadHandle | null, use: (handle: ReadHandle | null) => Promise<T>): Promise<T> {
  try {
    return await use(handle);
  } finally {
    await handle?.close();
  }
}

// ---------------------------------------------------------------- step and run marks

/** Which save a file belongs to: every file of one save carries the same step and run id. */
export interface CheckpointMark {
  readonly step: number;
  readonly run: string;
}

const MARK_STEP = 'titans.step';
const MARK_RUN = 'titans.run';
const JSON_MARK = '__checkpoint__';

/** A checkpoint whose files come from different saves (a mix of steps or runs). */
export class MixedCheckpointError extends CheckpointError {}

function markOfMetadata(metadata: Record<string, string>): CheckpointMark | null {
  const step = Number(metadata[MARK_STEP]);
  const run = metadata[MARK_RUN];
  return metadata[MARK_STEP] !== undefined && Number.isSafeInteger(step) && typeof run === 'string' ? { step, run } : null;
}

/** Splits a JSON file into its content and its mark (the mark key removed). */
function splitJsonMark(value: unknown): { content: unknown; mark: CheckpointMark | null } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, JSON_MARK)) return { content: value, mark: null };
  const { [JSON_MARK]: raw, ...content } = value as Record<string, unknown>;
  const m = raw as { step?: unknown; run?: unknown } | null;
  const mark = typeof m === 'object' && m !== null && Number.isSafeInteger(m.step) && typeof m.run === 'string' ? { step: m.step as number, run: m.run } : null;
  return { content, mark };
}

/**
 * Checks that the files' marks agree. Checkpoints written before marks existed (no file
 * marked) pass; a hand-written config.json without a mark is accepted beside marked files.
 */
function checkMarks(dir: string, marks: readonly (readonly [string, CheckpointMark | null])[], trainer: unknown = null): CheckpointMark | null {
  const marked = marks.filter((m): m is readonly [string, CheckpointMark] => m[1] !== null);
  if (marked.length === 0) return null;
  const [, first] = marked[0]!;
  const disagree = marked.some(([, m]) => m.step !== first.step || m.run !== first.run);
  const unmarked = marks.filter(([file, m]) => m === null && file !== CHECKPOINT_FILES.config);
  if (disagree || unmarked.length > 0) {
    const described = marks.map(([file, m]) => `${file} ${m ? `is step ${m.step} of run ${m.run}` : 'carries no step'}`).join(', ');
    throw new MixedCheckpointError(dir, `mixed checkpoint: ${described}; its files come from different saves`);
  }
  const trainerStep = (trainer as { step?: unknown } | null)?.step;
  if (typeof trainerStep === 'number' && trainerStep !== first.step) {
    throw new MixedCheckpointError(dir, `mixed checkpoint: ${CHECKPOINT_FILES.trainer} says step ${trainerStep} but the files are marked step ${first.step}`);
  }
  return first;
}

const newRunId = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

/**
 * Runs a read, retrying a few times when it saw files of two saves: a reader beside a
 * writer can catch a save between its renames. A checkpoint that stays mixed is refused.
 */
async function readConsistently<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const raced = error instanceof MixedCheckpointError || (error instanceof CheckpointError && /did the file change\?/.test(error.message));
      if (!raced || attempt >= 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 15 * (attempt + 1)));
    }
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
  /** The step every file is marked with (default: trainer.step when it is a number, else 0). */
  step?: number;
  /** The run id every file is marked with (default: a fresh id for this save). */
  runId?: string;
  fileSystem?: CheckpointFileSystem;
}

/** Writes a checkpoint directory atomically (see the module comment). */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
  const trainerStep = (options.trainer as { step?: unknown } | undefined)?.step;
  const mark: CheckpointMark = { step: options.step ?? (Number.isSafeInteger(trainerStep) ? (trainerStep as number) : 0), run: options.runId ?? newRunId() };
  const marks = { [MARK_STEP]: String(mark.step), [MARK_RUN]: mark.run };
  const files: Record<string, Uint8Array> = {};
  // The architecture's revision: the model's, else the config's (encodeModel records the model's).
  const revision = revisionMetadata(architectureOf(options.model, options.config));
  files[CHECKPOINT_FILES.model] = await encodeModel(options.model, { ...revision, ...options.metadata, ...marks });
  if (options.optimizer) files[CHECKPOINT_FILES.optimizer] = await encodeOptimizer(options.optimizer, options.model, marks);
  if (options.config !== undefined) files[CHECKPOINT_FILES.config] = jsonBytes(withMark(options.config, mark), CHECKPOINT_FILES.config);
  if (options.trainer !== undefined) files[CHECKPOINT_FILES.trainer] = jsonBytes(withMark(options.trainer, mark), CHECKPOINT_FILES.trainer);
  await writeFilesAtomically(dir, files, options.fileSystem);
}

function withMark(value: object, mark: CheckpointMark): object {
  return Array.isArray(value) ? value : { ...value, [JSON_MARK]: mark };
}

export interface LoadCheckpointOptions {
  model: NamedParameters;
  /** Restored from optimizer.safetensors (which must then exist). */
  optimizer?: StatefulOptimizer;
  /** Checks config.json and trainer.json before anything is assigned; throw to reject. */
  validate?: (checkpoint: LoadedCheckpoint) => void;
  /** Accept NaN and infinite weights and optimizer slots (default false: refused, naming the tensor). */
  allowNonFinite?: boolean;
  /**
   * Load weights saved at another revision of the model's architecture, or from another
   * architecture (default false: a CheckpointRevisionError naming both revisions and what
   * changed). A checkpoint without a recorded revision counts as revision 1.
   */
  allowRevisionMismatch?: boolean;
  /** The revision to assume for a checkpoint that records none (default 1; see RevisionOptions). */
  assumeRevision?: number;
  fileSystem?: CheckpointFileSystem;
}

export interface LoadedCheckpoint {
  /** config.json, or null when the checkpoint has none. */
  config: unknown;
  /** trainer.json, or null when the checkpoint has none. */
  trainer: unknown;
  /** model.safetensors' `__metadata__`. */
  metadata: Record<string, string>;
  /** The step and run id its files carry, or null for a checkpoint written before marks. */
  mark: CheckpointMark | null;
}

/**
 * Loads a checkpoint into `model` (and `optimizer`). Every file is read and checked first;
 * nothing is assigned unless all of it fits, so a bad checkpoint leaves the model as it was.
 * Never writes to the directory (a committed but unfinished save is read from its
 * temporaries); files of different saves are refused as a mixed checkpoint. Sizes are
 * checked against the model from the headers before any weights are read.
 */
export async function loadCheckpoint(dir: string, options: LoadCheckpointOptions): Promise<LoadedCheckpoint> {
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  const stageOptions = { allowNonFinite: options.allowNonFinite === true };
  const read = await readConsistently(async () => {
    const files = await checkpointFiles(dir, fileSystem);
    const modelFile = path.join(dir, CHECKPOINT_FILES.model);
    const model = await withHandle(await openCheckpointFile(dir, files, CHECKPOINT_FILES.model, fileSystem), async (handle) => {
      if (handle === null) throw new CheckpointError(modelFile, 'not found');
      const header = await readHeader(handle, modelFile);
      checkRevision(architectureOf(options.model), header.metadata, modelFile, { allowRevisionMismatch: options.allowRevisionMismatch === true, ...(options.assumeRevision === undefined ? {} : { assumeRevision: options.assumeRevision }) });
      checkHeaderFits(options.model, header, modelFile);
      const tensors = await readTensors(handle, header);
      return { staged: stageModel(options.model, tensors, modelFile, stageOptions), metadata: header.metadata, mark: markOfMetadata(header.metadata) };
    });
    const marks: [string, CheckpointMark | null][] = [[CHECKPOINT_FILES.model, model.mark]];
    let commitOptimizer: (() => void) | undefined;
    if (options.optimizer) {
      const optimizer = options.optimizer;
      const optimizerFile = path.join(dir, CHECKPOINT_FILES.optimizer);
      await withHandle(await openCheckpointFile(dir, files, CHECKPOINT_FILES.optimizer, fileSystem), async (handle) => {
        if (handle === null) throw new CheckpointError(optimizerFile, 'not found (the checkpoint has no optimizer state)');
        const header = await readHeader(handle, optimizerFile);
        // Slots are parameter-shaped: more bytes than 8 float64 slots of every parameter is not this model's.
        const limit = 8 * 8 * optimizer.params.reduce((n, p) => n + p.size, 0);
        const bytes = handle.size - header.dataStart;
        if (bytes > limit) throw new CheckpointError(optimizerFile, `holds ${bytes} bytes of slots, more than 8 float64 slots of the model's parameters (${limit} bytes)`);
        commitOptimizer = stageOptimizer(optimizer, options.model, await handle.read(0, handle.size), optimizerFile, stageOptions);
        marks.push([CHECKPOINT_FILES.optimizer, markOfMetadata(header.metadata)]);
      });
    }
    const config = splitJsonMark(await withHandle(await openCheckpointFile(dir, files, CHECKPOINT_FILES.config, fileSystem), (h) => readJsonFile(h, path.join(dir, CHECKPOINT_FILES.config))));
    const trainer = splitJsonMark(await withHandle(await openCheckpointFile(dir, files, CHECKPOINT_FILES.trainer, fileSystem), (h) => readJsonFile(h, path.join(dir, CHECKPOINT_FILES.trainer))));
    if (files[CHECKPOINT_FILES.config] !== undefined) marks.push([CHECKPOINT_FILES.config, config.mark]);
    if (files[CHECKPOINT_FILES.trainer] !== undefined) marks.push([CHECKPOINT_FILES.trainer, trainer.mark]);
    const mark = checkMarks(dir, marks, trainer.content);
    return { staged: model.staged, commitOptimizer, loaded: { config: config.content, trainer: trainer.content, metadata: model.metadata, mark } };
  });
  options.validate?.(read.loaded);
  commit(read.staged);
  read.commitOptimizer?.();
  return read.loaded;
}

/** Refuses a weights file whose header does not describe the model (names, shapes, dtypes), before its data is read. */
export function checkHeaderFits(model: NamedParameters, header: SafetensorsHeader, file: string): void {
  stageModel(model, describedBy(header), file, { allowNonFinite: true });
}

/**
 * Refuses an optimizer file whose header does not fit AdamW/SGD slots over every parameter
 * of `model` (names, shapes, dtypes, the step and slots metadata), without reading its data.
 */
export function checkOptimizerHeaderFits(model: NamedParameters & { parameters(): Tensor[] }, header: SafetensorsHeader, file: string): void {
  checkOptimizerHeader(model, describedBy(header), header.metadata, file);
}

function describedBy(header: SafetensorsHeader): Record<string, HostTensor> {
  const empty = new Float32Array(0);
  const described: Record<string, HostTensor> = Object.create(null) as Record<string, HostTensor>;
  for (const e of header.entries) described[e.name] = { dtype: e.dtype, shape: e.shape, data: empty };
  return described;
}

/** What `inspectCheckpoint` finds, without reading any weights. */
export interface CheckpointInspection {
  /** File name -> size in bytes, for the checkpoint's files as the last committed save left them. */
  readonly files: Record<string, number>;
  /** config.json without its mark, or null. */
  readonly config: unknown;
  /** trainer.json without its mark, or null. */
  readonly trainer: unknown;
  /** model.safetensors' validated header. */
  readonly model: SafetensorsHeader;
  /** optimizer.safetensors' validated header, or null when absent. */
  readonly optimizer: SafetensorsHeader | null;
  readonly mark: CheckpointMark | null;
}

/**
 * Validates a checkpoint as loadCheckpoint does short of a model to fit: every file a
 * regular file, the safetensors headers against the file sizes, JSON files parse, marks
 * agree. Reads headers only (no weights); never writes.
 */
export async function inspectCheckpoint(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<CheckpointInspection> {
  return readConsistently(async () => {
    const files = await checkpointFiles(dir, fileSystem);
    const sizes: Record<string, number> = {};
    const headerOf = async (name: string): Promise<SafetensorsHeader | null> => withHandle(await openCheckpointFile(dir, files, name, fileSystem), async (handle) => {
      if (handle === null) return null;
      sizes[name] = handle.size;
      return readHeader(handle, path.join(dir, name));
    });
    const jsonOf = async (name: string): Promise<ReturnType<typeof splitJsonMark>> => withHandle(await openCheckpointFile(dir, files, name, fileSystem), async (handle) => {
      if (handle !== null) sizes[name] = handle.size;
      return splitJsonMark(await readJsonFile(handle, path.join(dir, name)));
    });
    const model = await headerOf(CHECKPOINT_FILES.model);
    if (model === null) throw new CheckpointError(path.join(dir, CHECKPOINT_FILES.model), 'not found');
    const optimizer = await headerOf(CHECKPOINT_FILES.optimizer);
    const config = await jsonOf(CHECKPOINT_FILES.config);
    const trainer = await jsonOf(CHECKPOINT_FILES.trainer);
    const marks: [string, CheckpointMark | null][] = [[CHECKPOINT_FILES.model, markOfMetadata(model.metadata)]];
    if (optimizer) marks.push([CHECKPOINT_FILES.optimizer, markOfMetadata(optimizer.metadata)]);
    if (files[CHECKPOINT_FILES.config] !== undefined) marks.push([CHECKPOINT_FILES.config, config.mark]);
    if (files[CHECKPOINT_FILES.trainer] !== undefined) marks.push([CHECKPOINT_FILES.trainer, trainer.mark]);
    const mark = checkMarks(dir, marks, trainer.content);
    for (const name of Object.keys(files)) {
      if (sizes[name] === undefined) {
        const handle = await openForReading(files[name]!, fileSystem).catch(() => null);
        if (handle) {
          sizes[name] = handle.size;
          await handle.close();
        }
      }
    }
    return { files: sizes, config: config.content, trainer: trainer.content, model, optimizer, mark };
  });
}

/** True when `dir` holds a model.safetensors (counting a committed save not yet finished). Never writes. */
export async function hasCheckpoint(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<boolean> {
  if ((await fileSystem.list(dir)).length === 0) return false;
  return (await checkpointFiles(dir, fileSystem))[CHECKPOINT_FILES.model] !== undefined;
}

/** The checkpoint's config.json (to build the model before loading into it), or null. Never writes. */
export async function readCheckpointConfig(dir: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<unknown> {
  const files = await checkpointFiles(dir, fileSystem);
  const file = path.join(dir, CHECKPOINT_FILES.config);
  return splitJsonMark(await withHandle(await openCheckpointFile(dir, files, CHECKPOINT_FILES.config, fileSystem), (h) => readJsonFile(h, file))).content;
}

/** Reads and validates one safetensors file (a regular file; the header checked against its size before the data is read). */
export async function readSafetensors(file: string, fileSystem: CheckpointFileSystem = nodeFileSystem): Promise<SafetensorsContents> {
  return withHandle(await openForReading(file, fileSystem), async (handle) => {
    if (handle === null) throw new CheckpointError(file, 'not found');
    const header = await readHeader(handle, file);
    return { tensors: await readTensors(handle, header), metadata: header.metadata };
  });
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

// ---------------------------------------------------------------- the writer's lock

/** What a lock file records about its holder. */
export interface CheckpointLockOwner {
  readonly pid: number;
  readonly host: string;
  /** ISO time the lock was taken. */
  readonly startedAt: string;
}

/** The directory is being written by another process (a second `train` on the same directory). */
export class CheckpointLockedError extends CheckpointError {
  constructor(dir: string, readonly owner: CheckpointLockOwner | null, detail: string) {
    super(dir, detail);
  }
}

export interface CheckpointLock {
  /** Releases this hold (the file goes when the last hold of this process is released). */
  release(): Promise<void>;
}

const heldLocks = new Map<string, { count: number; file: string }>();
let exitHookInstalled = false;

/**
 * Whether process `pid` started after `since` (so it is not the process that took the lock:
 * the pid was reused). Linux only, from /proc/<pid>'s creation time; false where unknown.
 */
async function startedAfter(pid: number, since: string): Promise<boolean> {
  const taken = Date.parse(since);
  if (!Number.isFinite(taken)) return false;
  try {
    const info = await fs.stat(`/proc/${pid}`);
    return info.ctimeMs > taken + 2000;
  } catch {
    return false;
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the writer's lock of a checkpoint directory: a lock file (`.titans-lock`) holding
 * this process's pid, host and start time, created exclusively. Re-entrant within a
 * process. A lock whose process is dead on this host is stale and taken over; a live one
 * (or one from another host) is refused with a CheckpointLockedError naming its holder.
 * Readers never take it: they do not write.
 */
export async function lockCheckpoint(dir: string): Promise<CheckpointLock> {
  await makeDirectories(dir);
  const key = await fs.realpath(dir);
  const file = path.join(key, LOCK_FILE);
  const existing = heldLocks.get(key);
  if (existing) {
    existing.count++;
    return lockHold(key);
  }
  const owner: CheckpointLockOwner = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await fs.open(file, 'wx');
      try {
        await handle.writeFile(`${JSON.stringify(owner)}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error;
    }
    let holder: CheckpointLockOwner | null = null;
    let age = 0;
    try {
      const [text, stat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
      age = Date.now() - stat.mtimeMs;
      const parsed = JSON.parse(text) as Partial<CheckpointLockOwner>;
      if (Number.isSafeInteger(parsed.pid) && typeof parsed.host === 'string') holder = { pid: parsed.pid!, host: parsed.host, startedAt: String(parsed.startedAt) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
    }
    const stale = holder === null ? age > 10_000 : holder.host === owner.host && (!processIsAlive(holder.pid) || (await startedAfter(holder.pid, holder.startedAt)));
    if (!stale) {
      const who = holder ? `process ${holder.pid} on ${holder.host} (since ${holder.startedAt})` : 'a process that is starting';
      throw new CheckpointLockedError(dir, holder, `is being written by ${who}; one writer at a time (if that process is gone, delete ${file})`);
    }
    await fs.rm(file, { force: true });
  }
  heldLocks.set(key, { count: 1, file });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const { file: held } of heldLocks.values()) {
        try {
          fsSync.rmSync(held, { force: true });
        } catch {
          // exiting anyway
        }
      }
    });
  }
  return lockHold(key);
}

function lockHold(key: string): CheckpointLock {
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      const held = heldLocks.get(key);
      if (!held) return;
      if (--held.count === 0) {
        heldLocks.delete(key);
        await fs.rm(held.file, { force: true });
      }
    },
  };
}
