// Where output goes: `runs/<kind>-<timestamp>` under the repository root (runs/ is
// gitignored), unless --out says otherwise; and the checks that keep bad input from
// writing anything; and reading the user's files with one-line errors.
import {
  accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, type CommandContext } from './command.js';

function workspaceAbove(start: string): string | null {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * The titans-ts checkout: the workspace at or above `start`, else the one this CLI runs from
 * (when started from elsewhere), else `start` itself (an installed CLI outside a checkout).
 */
export function repositoryRoot(start: string): string {
  return workspaceAbove(start) ?? workspaceAbove(fileURLToPath(new URL('.', import.meta.url))) ?? resolve(start);
}

/** 2026-11-23T03-44-52 (sortable, safe in file names). */
export function timestamp(date: Date = new Date()): string {
  return date.toISOString().slice(0, 19).replace(/:/g, '-');
}

/**
 * --out resolved against the user's directory, or runs/<kind>-<timestamp> under the repository
 * root (runs/<kind> with `stamped: false`, for commands whose runs are resumed by name).
 */
export function outputDirectory(out: string | undefined, kind: string, context: CommandContext, options: { stamped?: boolean } = {}): string {
  if (out !== undefined) return resolve(context.cwd, out);
  return join(repositoryRoot(context.cwd), 'runs', options.stamped === false ? kind : `${kind}-${timestamp()}`);
}

/**
 * Fails (exit 2) when `dir` cannot be an output directory: it exists and is not a directory,
 * a path above it is a regular file, or the nearest existing directory is not writable.
 * Creates nothing.
 */
export function checkWritableDirectory(dir: string, option = 'out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--${option} ${dir} exists and is not a directory`);
  let existing = resolve(dir);
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  if (!statSync(existing).isDirectory()) throw new UsageError(`--${option} ${dir}: ${existing} is a file, not a directory`);
  try {
    accessSync(existing, fsConstants.W_OK | fsConstants.X_OK);
  } catch {
    throw new UsageError(`--${option} ${dir}: ${existing} is not writable`);
  }
}

/** Creates an output directory (after checkWritableDirectory); a failure is one line, exit 2. */
export function makeOutputDirectory(dir: string, option = 'out'): void {
  checkWritableDirectory(dir, option);
  try {
    // One level at a time: a recursive mkdir loops forever under /proc (ENOENT from a parent that exists).
    const missing: string[] = [];
    for (let at = resolve(dir); !existsSync(at); at = dirname(at)) missing.unshift(at);
    for (const level of missing) mkdirSync(level);
  } catch (error) {
    throw new UsageError(`--${option} ${dir}: cannot create it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Writes a file atomically (temporary + rename in the same directory), so no reader sees half of it. */
export function writeFileAtomically(file: string, text: string): void {
  const temp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    writeFileSync(temp, text);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** True when `dir` exists and holds at least one entry. */
export function isNonEmptyDirectory(dir: string): boolean {
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).length > 0;
}

/** Largest text or JSON file a command reads (prompts, configs, run.json). */
export const MAX_USER_FILE_BYTES = 256 * 1024 * 1024;

/**
 * A user's text file; a file that cannot be read is a usage error naming it as `shown`.
 * Only regular files of at most MAX_USER_FILE_BYTES are read (not /dev/zero, pipes or directories).
 */
export function readUserFile(path: string, shown: string): string {
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw new UsageError(`cannot read ${shown}: is a directory`);
    if (!stat.isFile()) throw new UsageError(`cannot read ${shown}: not a regular file (a device or pipe?)`);
    if (stat.size > MAX_USER_FILE_BYTES) throw new UsageError(`cannot read ${shown}: ${stat.size} bytes is more than the ${MAX_USER_FILE_BYTES}-byte limit`);
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${shown}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message}`);
  }
}

/** A user's JSON file, parsed; unreadable files and invalid JSON are usage errors naming it as `shown`. */
export function readUserJson(path: string, shown: string): unknown {
  const text = readUserFile(path, shown);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${shown}: not valid JSON (${(error as Error).message})`);
  }
}
