# The neural memory forward pass in PyTorch with the exact recurrence of the project's spec
# (packages/memory/src/scan.ts), for side-by-side timing against ../ours/memory-forward.ts and
# packages/memory/bench/run.ts (the memory bench's "issue 21 comparison" runs this script too):
#
#   u_t     = grad_W ||M(W_base; k_t) - v_t||^2    gradients at the chunk's start weights
#   S_t     = eta_t S_(t-1) - theta_t u_t           per-token momentum gate and learning rate
#   W_t     = (1 - alpha_t) W_(t-1) + S_t           per-token forgetting
#   y_t     = M(W_t; q_t)                           retrieval after every token's update
#
# in the chunked form (the same one scanParallel uses): per chunk, the gate products give
# coefficients beta_t, c_t and H[t, s] with W_t = beta_t W_0 + c_t S_0 - sum_s H[t, s] theta_s u_s,
# so retrieval at every token is a few matmuls against the chunk's rank-one surprises.
# Memories: linear (M(x) = W x) and a 2-layer MLP (W2 silu(W1 x), hidden 4x, no residual).
# The module around it (as NeuralMemory): qkv projection, SiLU, causal depthwise conv (4),
# l2-normalised q and k per head, sigmoid gates (theta scaled by theta_max), then merge heads,
# RMSNorm * sigmoid(gate(x)), output projection.
#
# usage: THREADS=1 python3 memory_forward.py [--tokens 4096] [--dim 256] [--heads 4] [--chunk 64] [--reps 5]
# Before timing it checks the chunked form against a plain per-token loop (float64, small sizes).
import statistics
import time

import torch
import torch.nn.functional as F

from common import arg, emit
from memory_recurrence import chunk_update, scan_loop

T = arg("--tokens", 4096)
D = arg("--dim", 256)
HEADS = arg("--heads", 4)
C = arg("--chunk", 64)
REPS = arg("--reps", 5)
THETA_MAX = 0.1
CONV = 4


def median_wall_cpu(fn, reps):
    """Median wall seconds and median CPU seconds (this process, all threads) of `fn()` over `reps` calls after one untimed call."""
    fn()
    wall, cpu = [], []
    for _ in range(max(1, reps)):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def coefficients(eta, alpha):
    """Gate coefficients of every chunk at once: eta, alpha [n, H, C] -> beta, c, gamma [n, H, C], Hm, G [n, H, C, C]."""
    n, h, c = eta.shape
    keep = 1 - alpha
    G = torch.zeros(n, h, c, c, dtype=eta.dtype)
    Hm = torch.zeros(n, h, c, c, dtype=eta.dtype)
    cc = torch.zeros(n, h, c, dtype=eta.dtype)
    gamma = torch.cumprod(eta, -1)
    beta = torch.cumprod(keep, -1)
    for t in range(c):
        if t > 0:
            G[:, :, t, :t] = eta[:, :, t, None] * G[:, :, t - 1, :t]
            Hm[:, :, t, :t] = keep[:, :, t, None] * Hm[:, :, t - 1, :t]
            cc[:, :, t] = keep[:, :, t] * cc[:, :, t - 1]
        G[:, :, t, t] = 1
        Hm[:, :, t, : t + 1] += G[:, :, t, : t + 1]
        cc[:, :, t] += gamma[:, :, t]
    return beta, cc, gamma, Hm, G


def chunks(x, n):
    """[H, T, d] -> [n, H, C, d]; gates [H, T] -> [n, H, C]."""
    if x.dim() == 3:
        return x.view(x.shape[0], n, C, x.shape[2]).permute(1, 0, 2, 3).contiguous()
    return x.view(x.shape[0], n, C).permute(1, 0, 2).contiguous()


def scan(kind, weights, k, v, q, theta, eta, alpha):
    """The memory over T tokens (k, v, q [H, T, dh]; gates [H, T]) from weights; returns y [H, T, dh]."""
    n = k.shape[1] // C
    kc, vc, qc = chunks(k, n), chunks(v, n), chunks(q, n)
    th = chunks(theta, n)
    beta, cc, gamma, Hm, G = coefficients(chunks(eta, n), chunks(alpha, n))
    W = list(weights)
    S = [torch.zeros_like(w) for w in W]
    ys = []
    for i in range(n):
        k_, v_, q_, b_, c_ = kc[i], vc[i], qc[i], beta[i][..., None], cc[i][..., None]
        Ht = Hm[i] * th[i][:, None, :]      # H[t, s] theta_s
        Gt = G[i] * th[i][:, None, :]
        hEnd, gEnd = Ht[:, -1, :, None], Gt[:, -1, :, None]
        bEnd, cEnd, gammaEnd = beta[i][:, -1, None, None], cc[i][:, -1, None, None], gamma[i][:, -1, None, None]
        y, W, S = chunk_update(kind, W, S, k_, v_, q_, b_, c_, Ht, hEnd, gEnd, bEnd, cEnd, gammaEnd)
        ys.append(y)
    return torch.stack(ys).permute(1, 0, 2, 3).reshape(k.shape[0], n * C, -1)


def init_weights(kind, h, dh, gen, dtype=torch.float32):
    if kind == "linear":
        return [torch.randn(h, dh, dh, generator=gen, dtype=dtype) / dh**0.5]
    return [torch.randn(h, 4 * dh, dh, generator=gen, dtype=dtype) / dh**0.5,
            torch.randn(h, dh, 4 * dh, generator=gen, dtype=dtype) / (4 * dh) ** 0.5]


def random_inputs(h, t, dh, gen, dtype=torch.float32):
    k = F.normalize(torch.randn(h, t, dh, generator=gen, dtype=dtype), dim=-1)
    q = F.normalize(torch.randn(h, t, dh, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(h, t, dh, generator=gen, dtype=dtype)
    theta = 0.01 + 0.04 * torch.rand(h, t, generator=gen, dtype=dtype)  # larger steps make the MLP memory diverge
    eta = 0.5 + 0.4 * torch.rand(h, t, generator=gen, dtype=dtype)
    alpha = 0.02 * torch.rand(h, t, generator=gen, dtype=dtype)
    return k, v, q, theta, eta, alpha


class Module:
    """NeuralMemory's forward: projections, conv, gates, scan, output."""

    def __init__(self, kind, gen):
        dh = D // HEADS
        self.kind = kind
        r = lambda *s: torch.randn(*s, generator=gen) / s[-1] ** 0.5  # noqa: E731
        self.qkv, self.conv_w, self.conv_b = r(3 * D, D), r(3 * D, CONV), torch.zeros(3 * D)
        self.gates_w, self.gates_b = r(3 * HEADS, D), torch.zeros(3 * HEADS)
        self.norm_w, self.gate_w, self.proj = torch.ones(D), r(D, D), r(D, D)
        self.init = init_weights(kind, HEADS, dh, gen)

    def __call__(self, x):  # x [T, D]
        t = x.shape[0]
        h = F.silu(x @ self.qkv.t())
        h = F.conv1d(h.t()[None], self.conv_w[:, None, :], self.conv_b, padding=CONV - 1, groups=3 * D)[0, :, :t].t()
        heads = lambda z: z.view(t, HEADS, D // HEADS).transpose(0, 1)  # noqa: E731
        q, k, v = (heads(z) for z in h.split(D, 1))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        g = torch.sigmoid(x @ self.gates_w.t() + self.gates_b).t()      # [3H, T]
        theta, eta, alpha = THETA_MAX * g[:HEADS], g[HEADS : 2 * HEADS], g[2 * HEADS :]
        y = scan(self.kind, self.init, k.contiguous(), v.contiguous(), q.contiguous(), theta, eta, alpha)
        y = y.transpose(0, 1).reshape(t, D)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-6) * self.norm_w * torch.sigmoid(x @ self.gate_w.t())
        return y @ self.proj.t()


def self_check():
    saved = C
    globals()["C"] = 8
    gen = torch.Generator().manual_seed(3)
    for kind in ("linear", "mlp"):
        w = init_weights(kind, 2, 6, gen, torch.float64)
        inputs = random_inputs(2, 24, 6, gen, torch.float64)
        a, b = scan(kind, w, *inputs), scan_loop(kind, w, *inputs, C)
        err = (a - b).abs().max().item()
        assert err < 1e-9, f"chunked form differs from the loop ({kind}): {err}"
    globals()["C"] = saved


with torch.no_grad():
    self_check()
    gen = torch.Generator().manual_seed(0)
    dh = D // HEADS
    x = torch.randn(T, D, generator=gen)
    inputs = random_inputs(HEADS, T, dh, gen)
    result = {"setup": {"tokens": T, "dim": D, "heads": HEADS, "chunk": C, "thetaMax": THETA_MAX, "conv": CONV, "reps": REPS}}
    for kind in ("linear", "mlp"):
        module = Module(kind, gen)
        weights = init_weights(kind, HEADS, dh, gen)
        module_s, module_cpu = median_wall_cpu(lambda: module(x), REPS)
        scan_s, scan_cpu = median_wall_cpu(lambda: scan(kind, weights, *inputs), REPS)
        result[kind] = {"moduleTokPerS": round(T / module_s, 1), "scanTokPerS": round(T / scan_s, 1),
                        "moduleMs": round(module_s * 1e3, 3), "scanMs": round(scan_s * 1e3, 3),
                        "moduleTokPerCpuS": round(T / module_cpu, 1), "scanTokPerCpuS": round(T / scan_cpu, 1)}
    emit(result)
