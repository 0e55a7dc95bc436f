# PyTorch peer of the memory bench (bench/run.ts runs it when `import torch` works).
#
# The bar a PyTorch user would write: B=1, T tokens, D model width, H heads of D/H, chunks of C
# tokens. Per chunk, every token's gradient is taken at the chunk-start memory (hand-derived, no
# autograd), summed with a per-token learning rate theta; momentum S = eta S - G and weights
# M = (1 - alpha) M + S advance once per chunk with per-chunk eta and alpha (chunk means of the
# token gates); retrieval reads the chunk-start memory only. This is less work than
# @titans/memory's exact recurrence (per-token eta and alpha, y_pre and y_post at every token).
#
# "module": projections (q, k, v with SiLU, q and k L2-normalised), sigmoid gates, the memory,
# output projection. "scan": the memory alone on prepared inputs.
#
# Prints one JSON object. Env: THREADS (default 1), REPS (default 5), T, D, H, C.
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("THREADS", "1")))
torch.manual_seed(0)
T = int(os.environ.get("T", "4096"))
D = int(os.environ.get("D", "256"))
H = int(os.environ.get("H", "4"))
C = int(os.environ.get("C", "64"))
REPS = int(os.environ.get("REPS", "5"))
dh = D // H
chunks = T // C
proj = {name: torch.randn(D, D) / D ** 0.5 for name in ("q", "k", "v", "o")}
gate_proj = torch.randn(D, 3 * H) / D ** 0.5
x = torch.randn(T, D)


def heads_first(z):
    # (T, D) -> (chunks, H, C, dh)
    return z.reshape(chunks, C, H, dh).transpose(1, 2).contiguous()


def prepare(inp):
    q = heads_first(F.silu(inp @ proj["q"]))
    k = heads_first(F.silu(inp @ proj["k"]))
    v = heads_first(F.silu(inp @ proj["v"]))
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    gates = torch.sigmoid(inp @ gate_proj).reshape(chunks, C, 3, H)
    theta = 0.01 * gates[:, :, 0].transpose(1, 2)  # (chunks, H, C)
    eta = gates[:, :, 1].mean(1)  # (chunks, H)
    alpha = 0.1 * gates[:, :, 2].mean(1)
    return q, k, v, theta, eta, alpha


def linear_memory(q, k, v, theta, eta, alpha):
    w = torch.zeros(H, dh, dh)
    s = torch.zeros_like(w)
    out = []
    for c in range(chunks):
        out.append(q[c] @ w.transpose(1, 2))
        err = k[c] @ w.transpose(1, 2) - v[c]
        g = 2 * (theta[c].unsqueeze(-1) * err).transpose(1, 2) @ k[c]
        s = eta[c].view(H, 1, 1) * s - g
        w = (1 - alpha[c]).view(H, 1, 1) * w + s
    return torch.stack(out)


def mlp_memory(q, k, v, theta, eta, alpha):
    gen = torch.Generator().manual_seed(1)
    w1 = torch.randn(H, dh, 4 * dh, generator=gen) / dh ** 0.5
    w2 = torch.randn(H, 4 * dh, dh, generator=gen) / (4 * dh) ** 0.5
    s1, s2 = torch.zeros_like(w1), torch.zeros_like(w2)
    out = []
    for c in range(chunks):
        out.append(F.silu(q[c] @ w1) @ w2)
        z = k[c] @ w1
        sig = torch.sigmoid(z)
        h = z * sig
        dy = 2 * theta[c].unsqueeze(-1) * (h @ w2 - v[c])
        g2 = h.transpose(1, 2) @ dy
        g1 = k[c].transpose(1, 2) @ ((dy @ w2.transpose(1, 2)) * sig * (1 + z * (1 - sig)))
        s1 = eta[c].view(H, 1, 1) * s1 - g1
        s2 = eta[c].view(H, 1, 1) * s2 - g2
        w1 = (1 - alpha[c]).view(H, 1, 1) * w1 + s1
        w2 = (1 - alpha[c]).view(H, 1, 1) * w2 + s2
    return torch.stack(out)


def module(memory):
    y = memory(*prepare(x))  # (chunks, H, C, dh)
    return y.transpose(1, 2).reshape(T, D) @ proj["o"]


def seconds(fn):
    """Median wall seconds and median CPU seconds (this process, all threads) over REPS runs."""
    fn()
    wall, cpu = [], []
    for _ in range(REPS):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main():
    results = {}
    with torch.no_grad():
        prepared = prepare(x)
        for name, memory in (("linear", linear_memory), ("mlp2", mlp_memory)):
            module_s, module_cpu = seconds(lambda: module(memory))
            scan_s, scan_cpu = seconds(lambda: memory(*prepared))
            results[name] = {"moduleTokensPerSecond": round(T / module_s), "moduleTokensPerCpuSecond": round(T / module_cpu),
                             "scanTokensPerSecond": round(T / scan_s), "scanTokensPerCpuSecond": round(T / scan_cpu)}
    config = torch.__config__.show()
    blas = config.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in config else "unknown"
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
                      "tokens": T, "dim": D, "heads": H, "chunk": C, "reps": REPS, "results": results}))


main()
