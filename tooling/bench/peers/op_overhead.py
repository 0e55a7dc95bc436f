# Per-op overhead of PyTorch eager on tiny tensors: the same four workloads as
# ../ours/op-overhead.ts. usage: THREADS=1 python3 op_overhead.py [--calls N]
import torch
import torch.nn.functional as F

from common import arg, emit, micros_per_call

calls = arg("--calls", 20000)
gen = torch.Generator().manual_seed(7)
a = torch.randn(32, 32, generator=gen)
b = torch.randn(32, 32, generator=gen)
x = torch.randn(64, 32, generator=gen)

result = {}
with torch.no_grad():
    result["add_32x32_us"] = micros_per_call(lambda: torch.add(a, b), calls)
    # silu(a * b + a): three ops (mul, add, silu), reported per op.
    result["chain3_32x32_us_per_op"] = micros_per_call(lambda: F.silu(a * b + a), calls // 4) / 3
    result["matmul_64x32x32_us"] = micros_per_call(lambda: torch.matmul(x, a), calls)


def forward_backward():
    # matmul, silu, sum forward and their three backward ops: reported per op (6).
    p = a.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.silu(x @ p).sum(), [p])
    return g


result["fwd_bwd_3ops_us_per_op"] = micros_per_call(forward_backward, max(1, calls // 8), warmup=50) / 6
emit({k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()})
