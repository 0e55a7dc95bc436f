// The language model every architecture shares: token embedding, a stack of pre-norm
// blocks, a final RMSNorm and the output projection (Llama-style macro design). The state
// it returns carries each layer's memory, key/value cache or MAC segment buffer plus the
// position, so a forward pass over pieces continues exactly where the last one stopped.
import { crossEntropy, linear, nn, Rng, type Tensor } from '@titans/tensor';
import { createBlock } from './architectures/index.js';
import type { Block } from './blocks/block.js';
import { detachTree, releaseTree, type LayerState } from './blocks/state.js';
import { defineConfig, parameterBreakdown, type ModelConfig, type ModelConfigInput } from './config.js';

/** The streaming state of a whole model. */
export interface ModelState {
  /** Tokens consumed so far (the absolute position of the next token). */
  readonly position: number;
  /** Batch size the state was made for. */
  readonly batch: number;
  /** One per block. */
  readonly layers: readonly LayerState[];
}

export interface ForwardResult {
  /** [B, T, vocabSize] */
  readonly logits: Tensor;
  readonly state: ModelState;
}

/** What every model in the package implements (and what training and generation take). */
export interface LanguageModel extends nn.Module {
  readonly config: ModelConfig;
  /** ids: int32 [B, T]. Starts from `state` (default: the initial state for B sequences). */
  forward(ids: Tensor, state?: ModelState): ForwardResult;
  initialState(batch: number): ModelState;
  /** Mean next-token cross-entropy of logits(ids) against targets (int32 [B, T]; -100 is ignored). */
  loss(ids: Tensor, targets: Tensor): Tensor;
}

export class TitansLanguageModel extends nn.Module implements LanguageModel {
  readonly config: ModelConfig;
  /** `loss` depends on its tensors and the parameters only: training compiles its step. */
  readonly compilable = true;
  readonly embedding: nn.Embedding;
  readonly blocks: Block[];
  readonly norm: nn.RMSNorm;
  readonly head: nn.Linear | undefined;

  constructor(config: ModelConfig) {
    super();
    this.config = config;
    const rng = new Rng(config.seed);
    this.embedding = new nn.Embedding(config.vocabSize, config.dim, { rng, dtype: config.dtype });
    this.blocks = Array.from({ length: config.layers }, (_, layer) => createBlock({ config, layer, rng }));
    this.norm = new nn.RMSNorm(config.dim, config.normEps, { dtype: config.dtype });
    this.head = config.tieEmbeddings ? undefined : new nn.Linear(config.dim, config.vocabSize, { rng, dtype: config.dtype, bias: false });
  }

  initialState(batch: number): ModelState {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`initialState: batch must be a positive integer, got ${batch}`);
    return { position: 0, batch, layers: this.blocks.map((b) => b.initialState()) };
  }

  forward(ids: Tensor, state?: ModelState): ForwardResult {
    if (ids.dtype !== 'int32' || ids.ndim !== 2) {
      throw new Error(`forward: ids must be int32 [batch, tokens], got ${ids.dtype} [${ids.shape.join(', ')}]`);
    }
    const [batch, tokens] = ids.shape as [number, number];
    const start = state ?? this.initialState(batch);
    if (start.batch !== batch) throw new Error(`forward: the state is for batch ${start.batch}, ids have batch ${batch}`);
    if (start.layers.length !== this.blocks.length) throw new Error(`forward: the state has ${start.layers.length} layers, the model ${this.blocks.length}`);
    if (tokens === 0) throw new Error('forward: ids must hold at least one token');
    let x = this.embedding.forward(ids);
    const layers = this.blocks.map((block, i) => {
      const out = block.forward(x, start.layers[i]!, start.position);
      x = out.output;
      return out.state;
    });
    const h = this.norm.forward(x);
    const logits = this.head ? this.head.forward(h) : linear(h, this.embedding.weight);
    return { logits, state: { position: start.position + tokens, batch, layers } };
  }

  loss(ids: Tensor, targets: Tensor): Tensor {
    return crossEntropy(this.forward(ids).logits, targets);
  }
}

/** Builds the model a config describes (a partial config gets `defineConfig`'s defaults). */
export function createModel(config: ModelConfig | ModelConfigInput): TitansLanguageModel {
  return new TitansLanguageModel(defineConfig(config));
}

/** Parameters of a model, or of a config computed analytically (no weights allocated). */
export function countParameters(modelOrConfig: nn.Module | ModelConfig): number {
  return modelOrConfig instanceof nn.Module ? modelOrConfig.parameterCount() : parameterBreakdown(modelOrConfig).total;
}

/** The state cut from the gradient graph (truncated backpropagation between training segments). */
export function detachModelState(state: ModelState): ModelState {
  return detachTree(state);
}

/** Frees the tensors of `previous` that `next` does not reuse (for loops that replace the state). */
export function releaseModelState(previous: ModelState, next: ModelState | null = null): void {
  releaseTree(previous, next);
}
