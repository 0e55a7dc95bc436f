// What every `titans` subcommand is: a name, a one-line summary, a usage text and a run
// function that returns the process exit code. Commands write through `CommandContext`
// (not to `process` directly) so they can be run in-process by tests and other tools.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { CheckpointFileSystem } from '@titans/models';

export interface CommandContext {
  /** Writes a line (or lines) to standard output. */
  readonly out: (text: string) => void;
  /** Writes a line to standard error. */
  readonly err: (text: string) => void;
  /** The directory the user ran the command from (INIT_CWD under `pnpm exec`). */
  readonly cwd: string;
  /** Checkpoint file operations for `train` (tests inject failures such as a full disk). */
  readonly checkpointFileSystem?: CheckpointFileSystem;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: readonly string[], context: CommandContext): Promise<number>;
}

/** Exit codes shared by every command (130: interrupted by Ctrl-C). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Bad input (unknown flag, missing or malformed file): reported on one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The directory relative paths on the command line refer to. `pnpm --filter @titans/cli
 * exec titans ...` runs in apps/cli but the user typed the paths where they started pnpm,
 * which pnpm records in INIT_CWD.
 */
export function userDirectory(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  return env.INIT_CWD && existsSync(env.INIT_CWD) ? env.INIT_CWD : cwd;
}

/** Resolves a path the user typed: against their directory, falling back to the process's own. */
export function resolveUserPath(path: string, context: CommandContext): string {
  if (isAbsolute(path)) return path;
  const fromUser = resolve(context.cwd, path);
  if (existsSync(fromUser)) return fromUser;
  const fromProcess = resolve(process.cwd(), path);
  return existsSync(fromProcess) ? fromProcess : fromUser;
}

/** The options a parser accepts. */
export interface ArgSpec {
  /** Options taking a value (`--name value` or `--name=value`). */
  readonly values?: Iterable<string>;
  /** Options taking no value. */
  readonly flags?: Iterable<string>;
}

/**
 * The one argument scanner of the CLI: splits `--name value`, `--name=value` and `--flag`
 * options (in the order given; true for a flag) from positional arguments; everything after
 * `--` is positional. A single-dash argument other than `-` is an unknown option, unless
 * `numbersArePositional` and it is a negative number.
 */
export function scanArgs(
  args: readonly string[], spec: ArgSpec, numbersArePositional = false,
): { options: [string, string | true][]; positional: string[] } {
  const values = new Set(spec.values);
  const flags = new Set(spec.flags);
  const options: [string, string | true][] = [];
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || (numbersArePositional && /^-\d/.test(arg))) {
      positional.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (flags.has(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      options.push([name, true]);
    } else if (values.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || value === '') throw new UsageError(`option --${name} needs a value`);
      options.push([name, value]);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { options, positional };
}

/** Splits `--name value`, `--name=value` and `--flag` options from positional arguments. */
export function parseOptions(
  args: readonly string[], spec: { readonly values?: readonly string[]; readonly flags?: readonly string[] },
): { options: Record<string, string | true>; positional: string[] } {
  const { options, positional } = scanArgs(args, spec);
  return { options: Object.fromEntries(options), positional };
}
