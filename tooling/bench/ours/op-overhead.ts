// Per-op overhead of eager @titans/tensor on tiny tensors: the same four workloads as
// ../peers/op_overhead.py (32x32 add; silu(a * b + a) per op; 64x32 @ 32x32; forward and
// backward of matmul, silu, sum per op). usage: THREADS=1 node --import tsx op-overhead.ts [--calls N]
import { Rng, add, gradients, matmul, mul, silu, sum, tidy } from '../../../packages/tensor/src/index.js';
import { arg, emit, microsPerCall, round, setThreads } from './common.js';

setThreads();
const calls = arg('--calls', 20000);
const rng = new Rng(7);
const a = rng.normal([32, 32]);
const b = rng.normal([32, 32]);
const x = rng.normal([64, 32]);

const result: Record<string, number> = {
  add_32x32_us: microsPerCall(() => add(a, b).dispose(), calls),
  // Three ops as the peer counts them (mul, add, silu), reported per op.
  chain3_32x32_us_per_op: microsPerCall(() => tidy(() => { silu(add(mul(a, b), a)); }), Math.max(1, calls >> 2)) / 3,
  matmul_64x32x32_us: microsPerCall(() => matmul(x, a).dispose(), calls),
  // matmul, silu, sum forward and their backward: reported per op (6), as the peer does.
  fwd_bwd_3ops_us_per_op: microsPerCall(() => tidy(() => {
    const p = a.clone();
    p.requiresGrad = true;
    gradients(sum(silu(matmul(x, p))), [p]);
  }), Math.max(1, calls >> 3), 50) / 6,
};
emit(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, round(v, 3)])));
