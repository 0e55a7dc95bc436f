// Memory as a Layer (MAL, Eqs. 29-31): the neural memory as one residual layer, then
// sliding-window attention (persistent prefix) over its output, then the MLP:
// x + M(RMSNorm(x)), then x + SWA(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)).
import { nn, type Tensor } from '@titans/tensor';
import type { NeuralMemory, OmegaMemory } from '@titans/memory';
import { MultiHeadAttention } from '../blocks/attention.js';
import { Block, type BlockOutput, type MlpSublayer } from '../blocks/block.js';
import { createLayerMemory, runLayerMemory } from '../blocks/memory.js';
import type { LayerState } from '../blocks/state.js';
import { attentionOf, mlpOf, type BlockContext } from './context.js';

export class MemoryAsLayerBlock extends Block {
  readonly memoryNorm: nn.RMSNorm;
  readonly memory: NeuralMemory | OmegaMemory;
  readonly attentionNorm: nn.RMSNorm;
  readonly attention: MultiHeadAttention;
  readonly mlp: MlpSublayer;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.memoryNorm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.memory = createLayerMemory(c, context.layer);
    this.attentionNorm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.attention = attentionOf(context, c.window);
    this.mlp = mlpOf(context);
  }

  initialState(): LayerState {
    return { memory: this.memory.initialState(), kv: null, segment: null };
  }

  forward(x: Tensor, state: LayerState, position: number): BlockOutput {
    const m = runLayerMemory(this.memory, this.memoryNorm.forward(x), state.memory); // Eq. 30
    const afterMemory = x.add(m.output);
    const a = this.attention.forward(this.attentionNorm.forward(afterMemory), position, state.kv); // Eq. 31
    return { output: this.mlp.forward(afterMemory.add(a.output)), state: { memory: m.state, kv: a.cache, segment: null } };
  }
}
