// A block whose sequence mixer is a neural memory alone: Titans LMM, and with other update
// rules the DeltaNet, Gated DeltaNet and Miras (Moneta, Yaad, Memora) baselines.
// x + Memory(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)).
import { nn, type Tensor } from '@titans/tensor';
import type { NeuralMemory } from '@titans/memory';
import { Block, type BlockOutput, type MlpSublayer } from '../blocks/block.js';
import { createMemory } from '../blocks/memory.js';
import type { LayerState } from '../blocks/state.js';
import { mlpOf, type BlockContext } from './context.js';

export class MemoryBlock extends Block {
  readonly norm: nn.RMSNorm;
  readonly memory: NeuralMemory;
  readonly mlp: MlpSublayer;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.memory = createMemory(c, context.layer);
    this.mlp = mlpOf(context);
  }

  initialState(): LayerState {
    return { memory: this.memory.initialState(), kv: null, segment: null };
  }

  forward(x: Tensor, state: LayerState, _position: number): BlockOutput {
    const m = this.memory.forward(this.norm.forward(x), state.memory ?? this.memory.initialState());
    return { output: this.mlp.forward(x.add(m.output)), state: { ...state, memory: m.state } };
  }
}
