// The elementwise gate that joins an attention branch and a memory branch (MAC's
// y ⊗ M*(y), Eq. 25; MAG's y ⊗ M(x), Eq. 28). Following the paper's MAG description, both
// branches are normalised with learnable vector-valued weights and the memory side goes
// through a non-linearity: o = RMSNorm_a(y) * sigmoid(RMSNorm_m(m)). The sigmoid keeps the
// gate in (0, 1), so the memory scales the attention output instead of adding to it.
import { nn, sigmoid, type Tensor } from '@titans/tensor';

export class BranchGate extends nn.Module {
  readonly valueNorm: nn.RMSNorm;
  readonly gateNorm: nn.RMSNorm;
  constructor(dim: number, options: { eps: number; dtype: 'float32' | 'float64' }) {
    super();
    this.valueNorm = new nn.RMSNorm(dim, options.eps, { dtype: options.dtype });
    this.gateNorm = new nn.RMSNorm(dim, options.eps, { dtype: options.dtype });
  }
  /** value [..., dim] gated elementwise by gate [..., dim]. */
  forward(value: Tensor, gate: Tensor): Tensor {
    return this.valueNorm.forward(value).mul(sigmoid(this.gateNorm.forward(gate)));
  }
}
