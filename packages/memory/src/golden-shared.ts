// What the golden-file specs (neural-memory/v1, omega-memory/v1) share: the field checks of
// their parsers and the tensors of their cases. Internal to the package (not exported).
import { tensor, type Tensor } from '@titans/tensor';
import type { GoldenExpectations, VerifyOptions } from './golden.js';

type Matrix = number[][];

/** The checks of a golden file's fields, each error naming the file and the field. */
export interface GoldenChecks {
  fail(what: string): never;
  vector(x: unknown, n: number, name: string): void;
  matrix(x: unknown, rows: number, cols: number, name: string): void;
  /** Each of `keys` of `c` is a positive integer. */
  integers(c: object, keys: readonly string[]): void;
}

/**
 * Starts validating the parsed JSON of a golden file of `spec`: checks that it is an
 * object of that spec and returns it (unchecked beyond that) with the field checks.
 */
export function startGoldenCheck<C>(json: unknown, file: string, spec: string): { c: Partial<C>; check: GoldenChecks } {
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const found = (json as { spec?: unknown }).spec;
  if (found !== spec) fail(`unsupported spec ${JSON.stringify(found)} (expected "${spec}")`);
  const isNumbers = (x: unknown, n: number): boolean => Array.isArray(x) && x.length === n && x.every((v) => typeof v === 'number' && Number.isFinite(v));
  const check: GoldenChecks = {
    fail,
    vector: (x, n, name) => {
      if (!isNumbers(x, n)) fail(`${name} must be ${n} finite numbers`);
    },
    matrix: (x, rows, cols, name) => {
      if (!Array.isArray(x) || x.length !== rows || !x.every((row) => isNumbers(row, cols))) fail(`${name} must be a ${rows} x ${cols} matrix of finite numbers`);
    },
    integers: (c, keys) => {
      for (const key of keys) {
        const value = (c as Record<string, unknown>)[key];
        if (!Number.isInteger(value) || (value as number) < 1) fail(`field '${key}' must be a positive integer`);
      }
    },
  };
  return { c: json as Partial<C>, check };
}

/** The fields every golden case has, after the spec-specific ones were checked. */
interface SharedFields extends Partial<GoldenExpectations> {
  memory?: string;
  dim?: number;
  tokens?: number;
  hidden?: number | null;
  inputs?: Record<string, unknown>;
  init?: Record<string, unknown>;
}

/**
 * Checks what both specs share (after `check.integers` on dim and tokens): `hidden` for an MLP memory,
 * the inputs k, v, q [tokens, dim] and theta, eta, alpha [tokens], the initial and final
 * weights (W [dim, width], or W1 [hidden, width] and W2 [dim, hidden], where width is the
 * memory's input width), the outputs, and the outer gradients: those of the shared inputs
 * and initial weights, plus `extraGrads` (a length for a vector, [rows, cols] for a matrix).
 * `inputWidth` maps dim to the memory's input width; `checkInputs` checks the spec's own inputs.
 */
export function checkSharedGoldenFields(
  c: SharedFields, check: GoldenChecks, inputWidth: (dim: number) => number,
  checkInputs: (inputs: Record<string, unknown>, tokens: number) => void, extraGrads: (tokens: number) => Record<string, [number, number] | number>,
): void {
  const { fail, vector, matrix } = check;
  const dim = c.dim!;
  const tokens = c.tokens!;
  const linear = c.memory === 'linear';
  if (!linear && (!Number.isInteger(c.hidden) || c.hidden! < 1)) fail(`field 'hidden' must be a positive integer for an MLP memory`);
  const hidden = c.hidden ?? 0;
  const width = inputWidth(dim);
  const shapes: Record<string, [number, number]> = linear ? { W: [dim, width] } : { W1: [hidden, width], W2: [dim, hidden] };
  const params = (x: unknown, name: string): void => {
    if (typeof x !== 'object' || x === null) fail(`missing ${name}`);
    for (const [w, [rows, cols]] of Object.entries(shapes)) matrix((x as Record<string, unknown>)[w], rows, cols, `${name}.${w}`);
  };
  const inputs = c.inputs;
  if (typeof inputs !== 'object' || inputs === null) fail('missing inputs');
  for (const key of ['k', 'v', 'q'] as const) matrix(inputs![key], tokens, dim, `inputs.${key}`);
  for (const key of ['theta', 'eta', 'alpha'] as const) vector(inputs![key], tokens, `inputs.${key}`);
  checkInputs(inputs!, tokens);
  params(c.init, 'init');
  if (typeof c.outputs !== 'object' || c.outputs === null) fail('missing outputs');
  matrix(c.outputs!.y_pre, tokens, dim, 'outputs.y_pre');
  matrix(c.outputs!.y_post, tokens, dim, 'outputs.y_post');
  vector(c.outputs!.loss, tokens, 'outputs.loss');
  params(c.outputs!.final_params, 'outputs.final_params');
  params(c.outputs!.final_momentum, 'outputs.final_momentum');
  if (c.outer !== undefined) {
    matrix(c.outer.r_pre, tokens, dim, 'outer.r_pre');
    matrix(c.outer.r_post, tokens, dim, 'outer.r_post');
    if (typeof c.outer.grads !== 'object' || c.outer.grads === null) fail('missing outer.grads');
    const expected: Record<string, [number, number] | number> = {
      k: [tokens, dim], v: [tokens, dim], q: [tokens, dim], theta: tokens, eta: tokens, alpha: tokens,
      ...extraGrads(tokens),
      ...Object.fromEntries(Object.entries(shapes).map(([w, shape]) => [`P0.${w}`, shape])),
    };
    for (const [name, value] of Object.entries(c.outer.grads)) {
      const shape = expected[name];
      if (shape === undefined) fail(`unknown gradient outer.grads.${name}`);
      if (typeof shape === 'number') vector(value, shape, `outer.grads.${name}`);
      else matrix(value, shape![0], shape![1], `outer.grads.${name}`);
    }
  }
}

/** The names of a case's memory weights. */
export function goldenWeightNames(c: { memory: string }): string[] {
  return c.memory === 'linear' ? ['W'] : ['W1', 'W2'];
}

/** A golden file's vector or matrix as a tensor. */
export function goldenTensor(m: Matrix | number[], options: Pick<VerifyOptions, 'backend' | 'dtype'>): Tensor {
  const opts = { dtype: options.dtype ?? 'float32', ...(options.backend ? { backend: options.backend } : {}) };
  return tensor(m.flat(), [m.length, ...(Array.isArray(m[0]) ? [(m[0] as number[]).length] : [])], opts);
}

