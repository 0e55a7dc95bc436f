# Per-op overhead of PyTorch eager on tiny tensors: the same four workloads as
# ../ours/op-overhead.ts. usage: THREADS=1 python3 op_overhead.py [--calls N] [--warm-ms MS]
# Top-level keys: wall-clock microseconds per op (medians of 5 rounds); `cpu`: process CPU
# time per op of the same loops (steadier than wall-clock time when other processes share
# the cores); `warmup`: the mean wall microseconds per op of the untimed warm-up calls.
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from common import arg, emit

calls = arg("--calls", 20000)
gen = torch.Generator().manual_seed(7)
a = torch.randn(32, 32, generator=gen)
b = torch.randn(32, 32, generator=gen)
x = torch.randn(64, 32, generator=gen)


ROUNDS = 5
# Milliseconds of untimed calls before each workload's timed rounds, as ../ours/op-overhead.ts
# (whose JIT needs them; the same warm-up on both sides).
warm_ms = arg("--warm-ms", 1000)


def timed(fn, n, warmup=100):
    """Wall and process-CPU microseconds of one call: medians over ROUNDS timed loops that
    share `n` calls, after at least `warmup` calls and `warm_ms` of calls (as
    ../ours/op-overhead.ts)."""
    w0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    warm_until = w0 + warm_ms / 1000
    warm_calls = warmup
    while time.perf_counter() < warm_until:
        for _ in range(10):
            fn()
        warm_calls += 10
    warm_us = (time.perf_counter() - w0) * 1e6 / warm_calls
    per = max(1, round(n / ROUNDS))
    walls, cpus = [], []
    for _ in range(ROUNDS):
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(per):
            fn()
        walls.append((time.perf_counter() - t0) * 1e6 / per)
        cpus.append((time.process_time() - c0) * 1e6 / per)
    return statistics.median(walls), statistics.median(cpus), warm_us


def forward_backward():
    # matmul, silu, sum forward and their three backward ops: reported per op (6).
    p = a.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.silu(x @ p).sum(), [p])
    return g


# (key, ops per call, calls, warm-up, function, whether the loop runs under no_grad).
# The no_grad context wraps the whole timed loop, not each call: entering it costs a few
# microseconds of Python, more than the op itself, and a user's inference loop enters it once.
workloads = [
    ("add_32x32_us", 1, calls, 100, lambda: torch.add(a, b), True),
    # silu(a * b + a): three ops (mul, add, silu), reported per op.
    ("chain3_32x32_us_per_op", 3, calls // 4, 100, lambda: F.silu(a * b + a), True),
    ("matmul_64x32x32_us", 1, calls, 100, lambda: torch.matmul(x, a), True),
    ("fwd_bwd_3ops_us_per_op", 6, max(1, calls // 8), 50, forward_backward, False),
]
result = {}
cpu = {}
warm = {}
for key, ops, n, warmup, fn, inference in workloads:
    with torch.no_grad() if inference else contextlib.nullcontext():
        wall, cpu_us, warm_us = timed(fn, max(1, n), warmup)
    result[key] = round(wall / ops, 3)
    cpu[key] = round(cpu_us / ops, 3)
    warm[key] = round(warm_us / ops, 3)
result["cpu"] = cpu
result["warmup"] = warm
emit(result)
