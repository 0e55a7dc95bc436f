// A block whose sequence mixer is a neural memory alone: Titans LMM, and with other update
// rules the DeltaNet, Gated DeltaNet and Miras (Moneta, Yaad, Memora) baselines.
// x + Memory(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)).
import { nn, type Tensor } from '@titans/tensor';
import type { NeuralMemory, OmegaMemory } from '@titans/memory';
import { Block, type BlockOutput, type MlpSublayer } from '../blocks/block.js';
import { createLayerMemory, runLayerMemory } from '../blocks/memory.js';
import type { LayerState } from '../blocks/state.js';
import { mlpOf, type BlockContext } from './context.js';

export class MemoryBlock extends Block {
  readonly norm: nn.RMSNorm;
  readonly memory: NeuralMemory | OmegaMemory;
  readonly mlp: MlpSublayer;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.memory = createLayerMemory(c, context.layer);
    this.mlp = mlpOf(context);
  }

  initialState(): LayerState {
    return { memory: this.memory.initialState(), kv: null, segment: null };
  }

  forward(x: Tensor, state: LayerState, _position: number): BlockOutput {
    const m = runLayerMemory(this.memory, this.norm.forward(x), state.memory);
    return { output: this.mlp.forward(x.add(m.output)), state: { ...state, memory: m.state } };
  }
}
