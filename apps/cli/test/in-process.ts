// Running `titans` commands inside the test process (no launcher, no tsx start-up): what a
// command returns, what it wrote to the context, and whether it threw (an internal error,
// exit 70 with a stack trace in the real process).
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointFileSystem } from '@titans/models';
import { main } from '../src/main.ts';

export interface InProcessOutcome {
  /** The exit code, 70 when the command threw. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** What the command threw (an internal error), or undefined. */
  readonly thrown: unknown;
  readonly ms: number;
}

export async function titansInProcess(args: readonly string[], cwd: string, options: { checkpointFileSystem?: CheckpointFileSystem } = {}): Promise<InProcessOutcome> {
  const out: string[] = [];
  const err: string[] = [];
  const started = performance.now();
  try {
    const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t), cwd, ...options });
    return { code, stdout: out.join('\n'), stderr: err.join('\n'), thrown: undefined, ms: performance.now() - started };
  } catch (error) {
    return { code: 70, stdout: out.join('\n'), stderr: `${err.join('\n')}\n${error instanceof Error ? error.stack : String(error)}`, thrown: error, ms: performance.now() - started };
  }
}

/** Every path under `dir` with its kind and bytes: what "nothing changed" compares. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const file = join(entry.parentPath, entry.name);
    const info = await lstat(file);
    out[file] = info.isFile() ? `file ${(await readFile(file)).toString('base64')}` : info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : 'other';
  }
  return out;
}

/**
 * Files under `dir` that a finished command must not leave: temporaries of an atomic
 * write, a save journal, a writer's lock, or a JSON file that does not parse.
 */
export async function halfWritten(dir: string): Promise<string[]> {
  const bad: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    if (entry.name.includes('.tmp-') || entry.name === 'commit.json' || entry.name === '.titans-lock') bad.push(file);
    else if (entry.name.endsWith('.json')) {
      try {
        JSON.parse(await readFile(file, 'utf8'));
      } catch {
        bad.push(file);
      }
    }
  }
  return bad;
}
