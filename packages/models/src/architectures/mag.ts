// Memory as a Gate (MAG, Eqs. 26-28): sliding-window attention with the persistent tokens as
// an always-visible prefix, and the neural memory over the same tokens, joined by an
// elementwise gate: o = RMSNorm_a(SWA(z)) * sigmoid(RMSNorm_m(M(z))), z = RMSNorm(x).
// The persistent tokens enter attention only; the memory sees the real tokens.
import { nn, type Tensor } from '@titans/tensor';
import type { NeuralMemory, OmegaMemory } from '@titans/memory';
import { MultiHeadAttention } from '../blocks/attention.js';
import { Block, type BlockOutput, type MlpSublayer } from '../blocks/block.js';
import { BranchGate } from '../blocks/gate.js';
import { createLayerMemory, runLayerMemory } from '../blocks/memory.js';
import type { LayerState } from '../blocks/state.js';
import { attentionOf, mlpOf, type BlockContext } from './context.js';

export class MemoryAsGateBlock extends Block {
  readonly norm: nn.RMSNorm;
  readonly attention: MultiHeadAttention;
  readonly memory: NeuralMemory | OmegaMemory;
  readonly gate: BranchGate;
  readonly mlp: MlpSublayer;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.attention = attentionOf(context, c.window);
    this.memory = createLayerMemory(c, context.layer);
    this.gate = new BranchGate(c.dim, { eps: c.normEps, dtype: c.dtype });
    this.mlp = mlpOf(context);
  }

  initialState(): LayerState {
    return { memory: this.memory.initialState(), kv: null, segment: null };
  }

  forward(x: Tensor, state: LayerState, position: number): BlockOutput {
    const z = this.norm.forward(x);
    const a = this.attention.forward(z, position, state.kv);
    const m = runLayerMemory(this.memory, z, state.memory);
    const mixed = this.gate.forward(a.output, m.output); // Eq. 28: y ⊗ M(x)
    return { output: this.mlp.forward(x.add(mixed)), state: { memory: m.state, kv: a.cache, segment: null } };
  }
}
