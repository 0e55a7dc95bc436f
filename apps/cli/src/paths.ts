// Where output goes: `runs/<kind>-<timestamp>` under the repository root (runs/ is
// gitignored), unless --out says otherwise; and the checks that keep bad input from
// writing anything; and reading the user's files with one-line errors.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/** Fails (exit 2) when `dir` exists and is not a directory. */
export function checkWritableDirectory(dir: string, option = 'out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--${option} ${dir} exists and is not a directory`);
}

/** True when `dir` exists and holds at least one entry. */
export function isNonEmptyDirectory(dir: string): boolean {
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).length > 0;
}

/** A user's text file; a file that cannot be read is a usage error naming it as `shown`. */
export function readUserFile(path: string, shown: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
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
