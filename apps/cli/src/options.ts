// Command-line parsing shared by the commands: the global flags every command takes
// (--backend, --seed, --json, --out), repeatable options (--set), and typed readers that
// turn a bad value into a UsageError naming the option (one line, exit code 2).
import { UsageError, scanArgs } from './command.js';

export const BACKEND_CHOICES = ['cpu', 'webgpu', 'auto'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The flags every command understands. */
export interface GlobalOptions {
  readonly backend: BackendChoice;
  readonly seed: number;
  readonly json: boolean;
  /** --out as typed (resolved by the command), or undefined. */
  readonly out: string | undefined;
}

export interface OptionSpec {
  /** Options taking one value (`--name value` or `--name=value`). */
  readonly values?: readonly string[];
  /** Options taking a value that may be given several times. */
  readonly repeated?: readonly string[];
  /** Options taking no value. */
  readonly flags?: readonly string[];
}

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string>>;
  readonly repeated: Readonly<Record<string, readonly string[]>>;
  readonly flags: ReadonlySet<string>;
  readonly positional: readonly string[];
  readonly global: GlobalOptions;
}

const GLOBAL_VALUES = ['backend', 'seed', 'out'];
const GLOBAL_FLAGS = ['json'];

/** Parses a command's arguments; the global flags are always accepted. */
export function parseArgs(args: readonly string[], spec: OptionSpec = {}): ParsedArgs {
  const repeatedNames = new Set(spec.repeated ?? []);
  const scanned = scanArgs(args, {
    values: [...(spec.values ?? []), ...GLOBAL_VALUES, ...repeatedNames],
    flags: [...(spec.flags ?? []), ...GLOBAL_FLAGS],
  }, true);
  const values: Record<string, string> = {};
  const repeated: Record<string, string[]> = {};
  const flags = new Set<string>();
  for (const [name, value] of scanned.options) {
    if (value === true) flags.add(name);
    else if (repeatedNames.has(name)) (repeated[name] ??= []).push(value);
    else values[name] = value;
  }
  const { positional } = scanned;
  const backend = values.backend ?? 'cpu';
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) throw new UsageError(`unknown backend '${backend}' (expected cpu, webgpu or auto)`);
  const seed = values.seed === undefined ? 0 : integerValue('seed', values.seed, { min: 0 });
  return {
    values, repeated, flags, positional,
    global: { backend: backend as BackendChoice, seed, json: flags.has('json'), out: values.out },
  };
}

/** An integer option value, checked against a range. */
export function integerValue(name: string, text: string, range: { min?: number; max?: number } = {}): number {
  const value = Number(text);
  if (!/^-?\d+(e\d+)?$/i.test(text.trim()) || !Number.isSafeInteger(value)) throw new UsageError(`--${name} must be an integer, got '${text}'`);
  if (range.min !== undefined && value < range.min) throw new UsageError(`--${name} must be at least ${range.min}, got ${value}`);
  if (range.max !== undefined && value > range.max) throw new UsageError(`--${name} must be at most ${range.max}, got ${value}`);
  return value;
}

/** A finite number option value, checked against a range. */
export function numberValue(name: string, text: string, range: { min?: number; max?: number; positive?: boolean } = {}): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got '${text}'`);
  if (range.positive && !(value > 0)) throw new UsageError(`--${name} must be positive, got ${value}`);
  if (range.min !== undefined && value < range.min) throw new UsageError(`--${name} must be at least ${range.min}, got ${value}`);
  if (range.max !== undefined && value > range.max) throw new UsageError(`--${name} must be at most ${range.max}, got ${value}`);
  return value;
}

/** A comma-separated list of integers (`--lengths 256,512,1024`). */
export function integerList(name: string, text: string, range: { min?: number } = {}): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`--${name} must be a comma-separated list of integers, got '${text}'`);
  return parts.map((p) => integerValue(name, p, range));
}

/** One of a fixed set of words. */
export function choiceValue<T extends string>(name: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${text}'`);
  return text as T;
}

/** A comma-separated list of words from a fixed set. */
export function choiceList<T extends string>(name: string, text: string, choices: readonly T[]): T[] {
  return text.split(',').map((s) => choiceValue(name, s.trim(), choices));
}

/**
 * Needle depths: a count of evenly spaced depths from 0 to 1 (`5`), or a list of fractions
 * (`0,0.5,1`).
 */
export function depthList(name: string, text: string): number[] {
  if (/^\d+$/.test(text.trim())) {
    const count = integerValue(name, text, { min: 1, max: 101 });
    return count === 1 ? [0.5] : Array.from({ length: count }, (_, i) => i / (count - 1));
  }
  return text.split(',').map((s) => numberValue(name, s.trim(), { min: 0, max: 1 }));
}

/** Rejects positional arguments beyond what a command takes. */
export function expectPositional(positional: readonly string[], min: number, max: number, what: string): void {
  if (positional.length < min) throw new UsageError(`needs ${what}`);
  if (positional.length > max) throw new UsageError(`unexpected argument '${positional[max]}'`);
}
