// Hope-family blocks (../hope.ts). Hope: x + SelfModifyingTitans(RMSNorm(x)), then
// x + CMS(RMSNorm(x)); Hope-Attention: x + Attn(RMSNorm(x)), then x + CMS(RMSNorm(x)). The
// CMS takes the place of the Transformer's MLP; its levels' fast weights and pending chunk
// inputs (and the self-modifying memories) stream in the layer state.
import { nn, type Tensor } from '@titans/tensor';
import { ContinuumMemory, SelfModifyingTitans } from '@titans/memory';
import { MultiHeadAttention } from '../blocks/attention.js';
import { Block, type BlockOutput } from '../blocks/block.js';
import { EMPTY_LAYER_STATE, type LayerState } from '../blocks/state.js';
import { HOPE_ETA_MAX, hopeCmsLrMax, hopeCmsPeriods } from '../hope.js';
import { attentionOf, type BlockContext } from './context.js';

/** The CMS of layer `layer` (its own seed). */
export function createCms(context: BlockContext): ContinuumMemory {
  const c = context.config;
  return new ContinuumMemory(c.dim, {
    periods: hopeCmsPeriods(c), hidden: c.mlpHidden, lrMax: hopeCmsLrMax(c), seed: c.seed * 7919 + 211 * (context.layer + 1), dtype: c.dtype,
  });
}

export class HopeAttentionBlock extends Block {
  readonly norm: nn.RMSNorm;
  readonly attention: MultiHeadAttention;
  readonly cmsNorm: nn.RMSNorm;
  readonly cms: ContinuumMemory;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.attention = attentionOf(context, 0);
    this.cmsNorm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.cms = createCms(context);
  }

  initialState(): LayerState {
    return { ...EMPTY_LAYER_STATE, cms: this.cms.initialState() };
  }

  forward(x: Tensor, state: LayerState, position: number): BlockOutput {
    const a = this.attention.forward(this.norm.forward(x), position, state.kv);
    const h = x.add(a.output);
    const m = this.cms.forward(this.cmsNorm.forward(h), state.cms ?? this.cms.initialState());
    return { output: h.add(m.output), state: { ...state, kv: a.cache, cms: m.state } };
  }
}

export class HopeBlock extends Block {
  readonly norm: nn.RMSNorm;
  readonly titans: SelfModifyingTitans;
  readonly cmsNorm: nn.RMSNorm;
  readonly cms: ContinuumMemory;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.titans = new SelfModifyingTitans(c.dim, {
      heads: c.memory.heads, expansion: c.memory.expansion, etaMax: HOPE_ETA_MAX, seed: c.seed * 7919 + 101 * (context.layer + 1), dtype: c.dtype,
    });
    this.cmsNorm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.cms = createCms(context);
  }

  initialState(): LayerState {
    return { ...EMPTY_LAYER_STATE, selfModifying: this.titans.initialState(), cms: this.cms.initialState() };
  }

  forward(x: Tensor, state: LayerState, _position: number): BlockOutput {
    const m = this.titans.forward(this.norm.forward(x), state.selfModifying ?? this.titans.initialState());
    const h = x.add(m.output);
    const c = this.cms.forward(this.cmsNorm.forward(h), state.cms ?? this.cms.initialState());
    return { output: h.add(c.output), state: { ...state, selfModifying: m.state, cms: c.state } };
  }
}
