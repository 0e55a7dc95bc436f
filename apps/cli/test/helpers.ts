// Running the `titans` command the way a user does: the bin launcher in a fresh process,
// in a scratch directory, with real files.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const launcher = fileURLToPath(new URL('../bin/titans.js', import.meta.url));

export interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function scratchDirectory(label: string): string {
  return mkdtempSync(join(tmpdir(), `titans-${label}-`));
}

function environment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.INIT_CWD;
  return env;
}

/** Runs `titans ...args` to completion. */
export function titans(args: readonly string[], options: { cwd: string; input?: string; timeoutMs?: number }): Outcome {
  const result = spawnSync(process.execPath, [launcher, ...args], {
    cwd: options.cwd, env: environment(), encoding: 'utf8', timeout: options.timeoutMs ?? 120_000,
    ...(options.input !== undefined ? { input: options.input } : { stdio: ['ignore', 'pipe', 'pipe'] }),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `titans ...args`; `interruptWhen` sends SIGINT once stderr matches it. */
export function titansInterrupted(args: readonly string[], options: { cwd: string; interruptWhen: RegExp }): Promise<Outcome & { interrupted: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [launcher, ...args], { cwd: options.cwd, env: environment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!interrupted && options.interruptWhen.test(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (code) => resolve({ code, stdout, stderr, interrupted }));
  });
}

/** Files under `dir` (recursively, relative), or [] when it does not exist. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}
