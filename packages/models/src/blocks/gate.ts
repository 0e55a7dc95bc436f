// The elementwise gate that joins an attention branch and a memory branch (MAC's
// y ⊗ M*(y), Eq. 25; MAG's y ⊗ M(x), Eq. 28): o = RMSNorm_a(value) * sigmoid(RMSNorm_b(gate)),
// both branches normalised with learnable vector-valued weights as the paper describes for
// MAG. MAG passes the attention output as the value and the memory as the gate (the
// non-linearity on the memory side, as in the paper's MAG); MAC passes them the other way
// round (see architectures/mac.ts). The sigmoid keeps the gate in (0, 1), so one branch
// scales the other instead of adding to it.
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
