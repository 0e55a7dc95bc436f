// What every block of a model implements: a pre-norm residual layer that maps the
// residual stream [B, T, dim] at absolute positions position.. position + T - 1 to the
// next, carrying its own streaming state.
import { nn, type Rng, type Tensor } from '@titans/tensor';
import type { LayerState } from './state.js';

export interface BlockOutput {
  readonly output: Tensor;
  readonly state: LayerState;
}

export abstract class Block extends nn.Module {
  /** The state before the first token. */
  abstract initialState(): LayerState;
  /** x [B, T, dim] whose first token is at absolute `position`. */
  abstract forward(x: Tensor, state: LayerState, position: number): BlockOutput;
}

/** The Llama-style MLP sub-layer: x + SwiGLU(RMSNorm(x)). */
export class MlpSublayer extends nn.Module {
  readonly norm: nn.RMSNorm;
  readonly mlp: nn.SwiGLU;
  constructor(dim: number, hidden: number, options: { eps: number; rng: Rng; dtype: 'float32' | 'float64' }) {
    super();
    this.norm = new nn.RMSNorm(dim, options.eps, { dtype: options.dtype });
    this.mlp = new nn.SwiGLU(dim, hidden, { rng: options.rng, dtype: options.dtype });
  }
  forward(x: Tensor): Tensor {
    return x.add(this.mlp.forward(this.norm.forward(x)));
  }
}
