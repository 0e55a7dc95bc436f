# The GPU benchmark's PyTorch peer: the cases of plan.json (written by bench.ts plan) in
# PyTorch eager on CUDA, float32 with TF32 off, so each of our WebGPU figures has a ratio.
#
#   python3 peer.py --plan plan.json --out peer.json [--budget-scale 0.35]
#
# matmul: torch.mm. attention: F.scaled_dot_product_attention (causal; the sliding window as
# a boolean band mask), forward and forward+backward. memory: the neural memory's recurrence
# (the spec of packages/memory: per-token surprise gradients at the chunk's start weights,
# momentum eta, learning rate theta, forgetting alpha, retrieval after each token's update)
# in the chunked form, linear and 2-layer MLP memories, checked against a per-token loop in
# float64 before timing; forward under no_grad, forward+backward through autograd. train: a
# Transformer++ (pre-norm RMSNorm, RoPE, SwiGLU, untied head) with AdamW and clipping; MAG and
# MAC have no PyTorch implementation here and are reported as such.
#
# Without CUDA (or without torch) it writes {"available": false, "reason": "peer not available: ..."}.
# Each section stops starting cases when its budget (plan's seconds x --budget-scale) is used
# up and records "skipped: budget"; a case in progress is not interrupted.
import json
import math
import os
import statistics
import sys
import time


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def write_json(path, value):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def log(line):
    sys.stderr.write(f"[gpu-bench peer] {line}\n")
    sys.stderr.flush()


PLAN = json.load(open(arg("--plan")))
OUT = arg("--out")
SCALE = float(arg("--budget-scale", "0.35"))
result = {"side": "peer", "available": False, "info": {}, "sections": {}}

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    # The memory recurrence shared with the CPU peer (../peers/memory_recurrence.py).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
    from memory_recurrence import chunk_update, scan_loop
except Exception as err:  # noqa: BLE001
    result["reason"] = f"peer not available: python3 cannot import torch ({type(err).__name__}: {err})"
    write_json(OUT, result)
    log(result["reason"])
    sys.exit(0)

# --allow-cpu: run on the CPU when there is no CUDA (to try this script on a machine without a
# GPU; never what gpu-bench.sh does: its figures would not be a CUDA peer).
ALLOW_CPU = "--allow-cpu" in sys.argv
if not torch.cuda.is_available() and not ALLOW_CPU:
    result["reason"] = f"peer not available: torch {torch.__version__} sees no CUDA device"
    write_json(OUT, result)
    log(result["reason"])
    sys.exit(0)

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
CUDA = torch.cuda.is_available()
DEV = torch.device("cuda" if CUDA else "cpu")
result["available"] = True
if CUDA:
    props = torch.cuda.get_device_properties(0)
    result["info"] = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": props.name,
                      "multiprocessors": props.multi_processor_count, "memoryGiB": round(props.total_memory / 2**30, 1),
                      "tf32": False}
else:
    result["info"] = {"torch": torch.__version__, "device": "cpu (--allow-cpu: not a CUDA figure)"}
write_json(OUT, result)


def sync():
    if CUDA:
        torch.cuda.synchronize()


def median_seconds(call, deadline):
    """Median seconds of call() (synchronized) after one warm-up; up to 5 timed calls within the deadline."""
    w0 = time.perf_counter()
    call()
    sync()
    warmup = time.perf_counter() - w0
    samples = []
    while not samples or (len(samples) < 5 and time.perf_counter() + samples[-1] < deadline):
        t0 = time.perf_counter()
        call()
        sync()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), warmup, len(samples)


def sig(x):
    return float(f"{x:.5g}")


def run_section(name, measure, group, work):
    section = PLAN["sections"][name]
    budget = section["budgetS"] * SCALE
    start = time.perf_counter()
    deadline = start + budget
    rate = {}
    results = {}
    for case in section["cases"]:
        left = deadline - time.perf_counter()
        per = rate.get(group(case))
        predicted = 0 if per is None or work(case) == 0 else 2 * per * work(case)
        if left <= 0.2 or predicted > left:
            results[case["id"]] = {"skipped": f"budget: {max(0.0, left):.1f} s left of {budget:.0f} s"}
            log(f"{name} {case['id']}: skipped (budget)")
            continue
        try:
            measurement, seconds = measure(case, deadline)
            if seconds > 0 and work(case) > 0:
                rate[group(case)] = seconds / work(case)
        except Exception as err:  # noqa: BLE001
            measurement = {"skipped": f"error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
        finally:
            if CUDA:
                torch.cuda.empty_cache()
        results[case["id"]] = measurement
        log(f"{name} {case['id']}: {measurement.get('value', measurement.get('skipped'))}")
    result["sections"][name] = {"elapsedS": sig(time.perf_counter() - start), "results": results}
    write_json(OUT, result)


# ------------------------------------------------------------------ matmul

def matmul(c, deadline):
    a = torch.rand(c["m"], c["k"], device=DEV) * 2 - 1
    b = torch.rand(c["k"], c["n"], device=DEV) * 2 - 1
    s, w, reps = median_seconds(lambda: torch.mm(a, b), deadline)
    return {"value": sig(2 * c["m"] * c["k"] * c["n"] / s / 1e9), "unit": "GFLOP/s", "detail": {"ms": sig(s * 1e3), "reps": reps}}, s


# ------------------------------------------------------------------ attention

def sdpa(q, k, v, mask=None):
    """F.scaled_dot_product_attention (torch >= 2.0: fused kernels); causal when mask is None.
    Older torch (only for --allow-cpu tries): the same in plain ops."""
    if hasattr(F, "scaled_dot_product_attention"):
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    t = q.shape[-2]
    if mask is None:
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ v


def attention(c, deadline):
    h, t, d, window = c["heads"], c["tokens"], c["headDim"], c["window"]
    q, k, v, g = (torch.randn(1, h, t, d, device=DEV) for _ in range(4))
    mask = None
    if window > 0:
        i = torch.arange(t, device=DEV)
        mask = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window)
    for x in (q, k, v):
        x.requires_grad_(c["backward"])

    def call():
        out = sdpa(q, k, v, mask)
        if c["backward"]:
            torch.autograd.grad(out, (q, k, v), g)

    if not c["backward"]:
        with torch.no_grad():
            s, w, reps = median_seconds(call, deadline)
    else:
        s, w, reps = median_seconds(call, deadline)
    return {"value": sig(t / s), "unit": "tokens/s", "detail": {"ms": sig(s * 1e3), "reps": reps, "mask": "band" if mask is not None else "is_causal"}}, s


# ------------------------------------------------------------------ memory

def gate_matrices(theta, eta, alpha):
    """Per chunk ([..., C] gates): beta_t = prod_{j<=t} (1-alpha_j), gamma_t = prod_{j<=t} eta_j,
    c_t = sum_r K[t,r] gamma_r and H[t,s] theta_s, where K[t,r] = prod_{r<j<=t} (1-alpha_j) and
    G[t,s] = prod_{s<j<=t} eta_j, H = K G; so W_t = beta_t W_0 + c_t S_0 - sum_s H[t,s] theta_s u_s."""
    c = eta.shape[-1]
    lower = torch.ones(c, c, dtype=torch.bool, device=eta.device).tril()
    log_keep = torch.cumsum(torch.log1p(-alpha), -1)
    log_eta = torch.cumsum(torch.log(eta), -1)
    K = torch.where(lower, torch.exp(log_keep[..., :, None] - log_keep[..., None, :]), torch.zeros((), dtype=eta.dtype, device=eta.device))
    G = torch.where(lower, torch.exp(log_eta[..., :, None] - log_eta[..., None, :]), torch.zeros((), dtype=eta.dtype, device=eta.device))
    gamma = torch.exp(log_eta)
    beta = torch.exp(log_keep)
    cc = (K * gamma[..., None, :]).sum(-1)
    H = (K @ G) * theta[..., None, :]
    return beta, gamma, cc, H, G * theta[..., None, :]


def scan(kind, weights, k, v, q, theta, eta, alpha, chunk):
    """Chunked recurrence; k, v, q [H, T, d], gates [H, T]; weights [H, out, in]; returns y [H, T, d]."""
    W = list(weights)
    S = [torch.zeros_like(w) for w in W]
    ys = []
    for start in range(0, k.shape[1], chunk):
        sl = slice(start, start + chunk)
        k_, v_, q_ = k[:, sl], v[:, sl], q[:, sl]
        beta, gamma, cc, H, Gt = gate_matrices(theta[:, sl], eta[:, sl], alpha[:, sl])
        b_, c_ = beta[..., None], cc[..., None]
        hEnd, gEnd = H[:, -1, :, None], Gt[:, -1, :, None]
        bEnd, cEnd, gammaEnd = beta[:, -1, None, None], cc[:, -1, None, None], gamma[:, -1, None, None]
        y, W, S = chunk_update(kind, W, S, k_, v_, q_, b_, c_, H, hEnd, gEnd, bEnd, cEnd, gammaEnd)
        ys.append(y)
    return torch.cat(ys, 1)


def memory_inputs(kind, h, t, dh, gen, device, dtype=torch.float32):
    r = lambda *s: torch.randn(*s, generator=gen, dtype=dtype).to(device)  # noqa: E731
    u = lambda *s: torch.rand(*s, generator=gen, dtype=dtype).to(device)  # noqa: E731
    shapes = [(dh, dh)] if kind == "linear" else [(4 * dh, dh), (dh, 4 * dh)]
    weights = [r(h, o, i) / math.sqrt(i) for o, i in shapes]
    k, q = F.normalize(r(h, t, dh), dim=-1), F.normalize(r(h, t, dh), dim=-1)
    return weights, (k, r(h, t, dh), q, 0.01 + 0.04 * u(h, t), 0.5 + 0.4 * u(h, t), 0.02 * u(h, t))


def memory_self_check():
    gen = torch.Generator().manual_seed(3)
    for kind in ("linear", "mlp"):
        weights, inputs = memory_inputs(kind, 2, 24, 6, gen, "cpu", torch.float64)
        err = (scan(kind, weights, *inputs, 8) - scan_loop(kind, weights, *inputs, 8)).abs().max().item()
        if not err < 1e-9:
            raise AssertionError(f"chunked memory scan differs from the per-token loop ({kind}): {err}")


def memory(c, deadline):
    h, dh = c["heads"], c["dim"] // c["heads"]
    gen = torch.Generator().manual_seed(7)
    weights, inputs = memory_inputs(c["kind"], h, c["tokens"], dh, gen, DEV)
    g = torch.randn(h, c["tokens"], dh, device=DEV)
    leaves = [*inputs, *weights]
    if c["backward"]:
        for x in leaves:
            x.requires_grad_(True)

        def call():
            y = scan(c["kind"], weights, *inputs, c["chunk"])
            torch.autograd.grad(y, leaves, g)
        s, w, reps = median_seconds(call, deadline)
    else:
        with torch.no_grad():
            s, w, reps = median_seconds(lambda: scan(c["kind"], weights, *inputs, c["chunk"]), deadline)
    return {"value": sig(c["tokens"] / s), "unit": "tokens/s", "detail": {"ms": sig(s * 1e3), "headDim": dh, "reps": reps}}, s


# ------------------------------------------------------------------ train

class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + 1e-6) * self.weight


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim, bias=False) for _ in range(4))
        self.gate, self.up, self.down = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False), nn.Linear(hidden, dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, dim = x.shape
        h = self.norm1(x)
        split = lambda z: z.view(b, t, self.heads, dim // self.heads).transpose(1, 2)  # noqa: E731

        def rope(z):
            z1, z2 = z.chunk(2, -1)
            return torch.cat([z1 * cos - z2 * sin, z1 * sin + z2 * cos], -1)
        att = sdpa(rope(split(self.wq(h))), rope(split(self.wk(h))), split(self.wv(h)))
        x = x + self.wo(att.transpose(1, 2).reshape(b, t, dim))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class TransformerPP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(256, c["dim"])
        self.blocks = nn.ModuleList(Block(c["dim"], c["heads"], c["mlpHidden"]) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"])
        self.head = nn.Linear(c["dim"], 256, bias=False)

    def forward(self, ids):
        t, hd = ids.shape[1], self.c["dim"] // self.c["heads"]
        inv = 10000.0 ** (-2 * torch.arange(hd // 2, dtype=torch.float64, device=ids.device) / hd)
        angle = torch.arange(t, dtype=torch.float64, device=ids.device)[:, None] * inv
        cos, sin = angle.cos().float(), angle.sin().float()
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.head(self.norm(x))


def train(c, deadline):
    if c["architecture"] != "transformer":
        return {"skipped": f"peer not available: no PyTorch {c['architecture'].upper()} in tooling/bench/gpu/peer.py (only Transformer++)"}, 0
    torch.manual_seed(0)
    model = TransformerPP(c).to(DEV)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    data = torch.randint(0, 256, (c["batch"], c["seq"] + 1), generator=torch.Generator().manual_seed(1)).to(DEV)

    def step():
        logits = model(data[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), data[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    step()
    s, w, reps = median_seconds(step, deadline)
    params = sum(p.numel() for p in model.parameters())
    del model, opt
    return {"value": sig(c["batch"] * c["seq"] / s), "unit": "tokens/s", "detail": {"params": params, "stepMs": sig(s * 1e3), "reps": reps, "batch": c["batch"], "seq": c["seq"]}}, s


try:
    memory_self_check()
    result["info"]["memorySelfCheck"] = "chunked scan matches the per-token loop (float64, 24 tokens, chunk 8)"
except AssertionError as err:
    result["info"]["memorySelfCheck"] = str(err)
    reason = f"error: {err}"
    result["sections"]["memory"] = {"elapsedS": 0, "results": {c["id"]: {"skipped": reason} for c in PLAN["sections"]["memory"]["cases"]}}

only = arg("--only")
sections = {
    "matmul": (matmul, lambda c: "square" if c["m"] == c["k"] == c["n"] else c["id"], lambda c: c["m"] * c["k"] * c["n"]),
    "attention": (attention, lambda c: f"{c['window']}/{c['backward']}", lambda c: c["tokens"] * (min(c["window"], c["tokens"]) if c["window"] else c["tokens"] / 2)),
    "memory": (memory, lambda c: f"{c['kind']}/{c['backward']}", lambda c: c["tokens"] * c["dim"] * (c["dim"] // c["heads"])),
    "train": (train, lambda c: c["architecture"], lambda c: 0),
}
for name, (measure, group, work) in sections.items():
    if (only is None or name in only.split(",")) and name not in result["sections"]:
        run_section(name, measure, group, work)
write_json(OUT, result)
