// The streaming state of one layer, and helpers that walk state trees (detach between
// training segments, free what a decoding step replaced).
import { noGrad, Tensor } from '@titans/tensor';
import type { ContinuumMemoryState, NeuralMemoryState, OmegaMemoryState, SelfModifyingState } from '@titans/memory';

/** Rotated keys and values of the most recent tokens of an attention layer: [B, H, C, headDim]. */
export interface KVCache {
  readonly keys: Tensor;
  readonly values: Tensor;
}

/** MAC: the block inputs of the current, unfinished segment and the rows just before it. */
export interface SegmentBuffer {
  /** Inputs [B, L, dim] of the current segment so far (L < segmentLength), or null when empty. */
  readonly inputs: Tensor | null;
  /** The last (convKernel - 1) inputs before the segment, for the retrieval's convolution. */
  readonly tail: Tensor | null;
}

/** What a layer carries from one call to the next; fields a layer does not use are null. */
export interface LayerState {
  /** The neural memory (for MAC: its state at the start of the current segment; Omega-rule for the Atlas family). */
  readonly memory: NeuralMemoryState | OmegaMemoryState | null;
  /** The attention's key/value cache (limited to window - 1 tokens for windowed attention). */
  readonly kv: KVCache | null;
  /** MAC's buffered segment. */
  readonly segment: SegmentBuffer | null;
  /** The Hope family's Continuum Memory System (absent elsewhere). */
  readonly cms?: ContinuumMemoryState | null;
  /** Hope's self-modifying Titans memories (absent elsewhere). */
  readonly selfModifying?: SelfModifyingState | null;
}

export const EMPTY_LAYER_STATE: LayerState = { memory: null, kv: null, segment: null };

type Tree = Tensor | null | number | string | boolean | undefined | readonly Tree[] | { readonly [key: string]: Tree };

/** Rebuilds a tree of plain objects and arrays with every tensor mapped by `fn`. */
export function mapTensors<T>(tree: T, fn: (t: Tensor) => Tensor): T {
  const walk = (value: Tree): Tree => {
    if (value instanceof Tensor) return fn(value);
    if (Array.isArray(value)) return (value as readonly Tree[]).map(walk);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value as Record<string, Tree>).map(([k, v]) => [k, walk(v)]));
    }
    return value;
  };
  return walk(tree as Tree) as T;
}

/** Every tensor in a tree of plain objects and arrays. */
export function collectTensors(tree: unknown, out: Set<Tensor> = new Set()): Set<Tensor> {
  if (tree instanceof Tensor) out.add(tree);
  else if (Array.isArray(tree)) for (const v of tree) collectTensors(v, out);
  else if (tree !== null && typeof tree === 'object') for (const v of Object.values(tree)) collectTensors(v, out);
  return out;
}

/**
 * Cuts a state from the gradient graph (truncated backpropagation between training
 * segments). Parameters stay as they are: a memory that has not completed a chunk still
 * holds its learned initial weights, and gradients keep reaching them.
 */
export function detachTree<T>(tree: T): T {
  return noGrad(() => mapTensors(tree, (t) => (t.isParameter || (t.node === null && !t.requiresGrad) ? t : t.detach())));
}

/**
 * Frees the tensors of `previous` that `next` no longer uses (parameters are never freed).
 * For decoding loops that replace the state every step.
 */
export function releaseTree(previous: unknown, next: unknown): void {
  const keep = collectTensors(next);
  for (const t of collectTensors(previous)) if (!keep.has(t) && !t.isParameter && !t.disposed) t.dispose();
}
