# The Titans memory recurrence shared by the PyTorch peers: the CPU peer (memory_forward.py)
# and the CUDA peer of the GPU benchmark (../gpu/peer.py). Only torch is imported here (no
# thread settings), so either peer can use it.
#
#   u_t = grad_W ||M(W_base; k_t) - v_t||^2     surprise at the chunk's start weights
#   S_t = eta_t S_(t-1) - theta_t u_t            momentum
#   W_t = (1 - alpha_t) W_(t-1) + S_t            forgetting
#   y_t = M(W_t; q_t)                            retrieval after every token's update
import torch
import torch.nn.functional as F


def memory_apply(kind, W, x):
    """M(W; x): a linear memory [out, in], or a 2-layer MLP (SiLU) without residual."""
    if kind == "linear":
        return x @ W[0].transpose(-1, -2)
    return F.silu(x @ W[0].transpose(-1, -2)) @ W[1].transpose(-1, -2)


def chunk_update(kind, W, S, k_, v_, q_, b_, c_, Ht, hEnd, gEnd, bEnd, cEnd, gammaEnd):
    """One chunk of the chunked form (k_, v_, q_ [H, C, d]; b_, c_ [H, C, 1]; Ht[t, s] = H[t, s] theta_s;
    hEnd, gEnd the last rows of H theta and G theta as [H, C, 1]; bEnd, cEnd, gammaEnd [H, 1, 1]).
    Returns the chunk's outputs y [H, C, d] and the weights and momenta at its end."""
    if kind == "linear":
        (M,), (Sm,) = W, S
        dO = 2 * (k_ @ M.transpose(1, 2) - v_)                       # d loss / d out, [H, C, dh]
        y = b_ * (q_ @ M.transpose(1, 2)) + c_ * (q_ @ Sm.transpose(1, 2)) - (Ht * (q_ @ k_.transpose(1, 2))) @ dO
        return y, [bEnd * M + cEnd * Sm - (dO * hEnd).transpose(1, 2) @ k_], [gammaEnd * Sm - (dO * gEnd).transpose(1, 2) @ k_]
    (W1, W2), (S1, S2) = W, S
    z = k_ @ W1.transpose(1, 2)
    s = torch.sigmoid(z)
    a = z * s
    dO = 2 * (a @ W2.transpose(1, 2) - v_)
    d1 = (dO @ W2) * (s * (1 + z * (1 - s)))                         # through silu
    zq = b_ * (q_ @ W1.transpose(1, 2)) + c_ * (q_ @ S1.transpose(1, 2)) - (Ht * (q_ @ k_.transpose(1, 2))) @ d1
    aq = F.silu(zq)
    y = b_ * (aq @ W2.transpose(1, 2)) + c_ * (aq @ S2.transpose(1, 2)) - (Ht * (aq @ a.transpose(1, 2))) @ dO
    W = [bEnd * W1 + cEnd * S1 - (d1 * hEnd).transpose(1, 2) @ k_, bEnd * W2 + cEnd * S2 - (dO * hEnd).transpose(1, 2) @ a]
    S = [gammaEnd * S1 - (d1 * gEnd).transpose(1, 2) @ k_, gammaEnd * S2 - (dO * gEnd).transpose(1, 2) @ a]
    return y, W, S


def scan_loop(kind, weights, k, v, q, theta, eta, alpha, chunk):
    """The recurrence token by token (autograd for the surprise): the readable check of the chunked forms."""
    W = [w.clone() for w in weights]
    S = [torch.zeros_like(w) for w in W]
    base = W
    ys = []
    for t in range(k.shape[1]):
        if t % chunk == 0:
            base = [w.clone() for w in W]
        with torch.enable_grad():
            P = [w.detach().requires_grad_(True) for w in base]
            out = memory_apply(kind, P, k[:, t : t + 1])
            grads = torch.autograd.grad(((out - v[:, t : t + 1]) ** 2).sum(), P)
        S = [eta[:, t, None, None] * s - theta[:, t, None, None] * g for s, g in zip(S, grads)]
        W = [(1 - alpha[:, t, None, None]) * w + s for w, s in zip(W, S)]
        ys.append(memory_apply(kind, W, q[:, t : t + 1]))
    return torch.cat(ys, 1)
