// Loaders for the golden files shipped in packages/memory/golden (format: the neural-memory
// spec, summarised in packages/memory/README.md). The directory is $TITANS_GOLDEN_DIR, or
// `<repo>/packages/memory/golden`.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensor, type DType, type Tensor } from '@titans/tensor';

export type Vector = number[];
export type Matrix = number[][];

export type MemoryKind = 'linear' | 'mlp2' | 'mlp2_residual' | 'mlp2_residual_ln';

/** Memory parameters by name: `W` for a linear memory, `W1` and `W2` for the MLPs. */
export type MemoryParams = Record<string, Matrix>;

export interface NeuralMemoryInputs {
  k: Matrix;
  v: Matrix;
  q: Matrix;
  theta: Vector;
  eta: Vector;
  alpha: Vector;
}

export interface NeuralMemoryOutputs {
  y_pre: Matrix;
  y_post: Matrix;
  loss: Vector;
  final_params: MemoryParams;
  final_momentum: MemoryParams;
}

export interface NeuralMemoryOuter {
  objective: string;
  r_pre: Matrix;
  r_post: Matrix;
  /** Keys `k`, `v`, `q`, `theta`, `eta`, `alpha` and `P0.<param>`. */
  grads: Record<string, Matrix | Vector>;
}

export interface NeuralMemoryGolden {
  /** The file name without `.json`, e.g. `mlp2-T16-b4-s1`. */
  name: string;
  spec: 'neural-memory/v1';
  memory: MemoryKind;
  activation: 'silu';
  dim: number;
  hidden: number | null;
  tokens: number;
  chunk: number;
  seed: number;
  inputs: NeuralMemoryInputs;
  init: MemoryParams;
  outputs: NeuralMemoryOutputs;
  /** Present when tokens <= 16. */
  outer?: NeuralMemoryOuter;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The golden directory: $TITANS_GOLDEN_DIR or `<repo>/packages/memory/golden`. */
export function goldenDir(): string {
  return process.env['TITANS_GOLDEN_DIR'] ?? resolve(repoRoot, 'packages/memory/golden');
}

function neuralMemoryDir(): string {
  return join(goldenDir(), 'neural-memory');
}

/** True when the neural-memory golden files are present. */
export function hasGoldenNeuralMemory(): boolean {
  return existsSync(neuralMemoryDir());
}

/** Names of the neural-memory golden files, sorted. */
export function listGoldenNeuralMemory(): string[] {
  const dir = neuralMemoryDir();
  if (!existsSync(dir)) throw new Error(`golden: directory ${dir} not found (set TITANS_GOLDEN_DIR)`);
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

const MEMORY_KINDS: readonly string[] = ['linear', 'mlp2', 'mlp2_residual', 'mlp2_residual_ln'];

/** Loads one file by name (`linear-T16-b1-s1`) or path, checking its header. */
export function loadGoldenNeuralMemory(nameOrPath: string): NeuralMemoryGolden {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : join(neuralMemoryDir(), `${nameOrPath}.json`);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Omit<NeuralMemoryGolden, 'name'>;
  if (raw.spec !== 'neural-memory/v1') throw new Error(`golden: ${path} has spec ${JSON.stringify(raw.spec)}, expected "neural-memory/v1"`);
  if (!MEMORY_KINDS.includes(raw.memory)) throw new Error(`golden: ${path} has unknown memory kind ${JSON.stringify(raw.memory)}`);
  const name = path.split(/[\\/]/).pop()!.replace(/\.json$/, '');
  return { name, ...raw };
}

/** Every neural-memory golden file (optionally filtered). */
export function loadAllGoldenNeuralMemory(filter?: (golden: NeuralMemoryGolden) => boolean): NeuralMemoryGolden[] {
  const all = listGoldenNeuralMemory().map((n) => loadGoldenNeuralMemory(n));
  return filter ? all.filter(filter) : all;
}

/** A golden vector or row-major matrix as a tensor (float64 by default). */
export function goldenTensor(values: Vector | Matrix, options: { dtype?: DType } = {}): Tensor {
  const dtype = options.dtype ?? 'float64';
  return tensor(values, undefined, { dtype });
}
