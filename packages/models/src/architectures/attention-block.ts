// Transformer++ and SWA blocks: x + Attn(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)).
import { nn, type Tensor } from '@titans/tensor';
import { MultiHeadAttention } from '../blocks/attention.js';
import { Block, type BlockOutput, type MlpSublayer } from '../blocks/block.js';
import { EMPTY_LAYER_STATE, type LayerState } from '../blocks/state.js';
import { attentionOf, mlpOf, type BlockContext } from './context.js';

export class AttentionBlock extends Block {
  readonly norm: nn.RMSNorm;
  readonly attention: MultiHeadAttention;
  readonly mlp: MlpSublayer;

  /** window 0: full causal attention (Transformer++); > 0: sliding window (SWA). */
  constructor(context: BlockContext, window: number) {
    super();
    const c = context.config;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.attention = attentionOf(context, window);
    this.mlp = mlpOf(context);
  }

  initialState(): LayerState {
    return EMPTY_LAYER_STATE;
  }

  forward(x: Tensor, state: LayerState, position: number): BlockOutput {
    const a = this.attention.forward(this.norm.forward(x), position, state.kv);
    return { output: this.mlp.forward(x.add(a.output)), state: { ...state, kv: a.cache } };
  }
}
