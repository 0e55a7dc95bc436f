# Training throughput of a Llama-style byte language model in PyTorch, built like the
# project's Transformer++ (packages/models, architecture 'transformer'): token embedding,
# pre-norm blocks x + Attn(RMSNorm(x)) then x + SwiGLU(RMSNorm(x)), rotary embeddings on
# queries and keys (rotate-half pairing, base 10000), full causal attention, a final RMSNorm
# and an untied output projection; no biases. One step: mean next-token cross-entropy,
# backward, global-norm clipping at 1, AdamW (lr 1e-3, weight decay 0.1).
#
# usage: THREADS=2 python3 lm_train.py [--dim 256] [--layers 4] [--heads 4] [--mlp 688]
#        [--seq 512] [--batch 8] [--steps 5]
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import arg, emit, median_seconds

DIM, LAYERS, HEADS = arg("--dim", 256), arg("--layers", 4), arg("--heads", 4)
MLP, SEQ, BATCH, STEPS = arg("--mlp", 688), arg("--seq", 512), arg("--batch", 8), arg("--steps", 5)
VOCAB, EPS = 256, 1e-6
HD = DIM // HEADS
torch.manual_seed(0)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + EPS) * self.weight


def rotary_tables(t):
    half = HD // 2
    inv = 10000.0 ** (-2 * torch.arange(half, dtype=torch.float64) / HD)
    angle = torch.arange(t, dtype=torch.float64)[:, None] * inv
    return angle.cos().float(), angle.sin().float()


def rotate(x, cos, sin):  # x [B, H, T, HD]
    x1, x2 = x.chunk(2, -1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(DIM), RMSNorm(DIM)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(DIM, DIM, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(DIM, MLP, bias=False), nn.Linear(DIM, MLP, bias=False)
        self.down = nn.Linear(MLP, DIM, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.norm1(x)
        split = lambda z: z.view(b, t, HEADS, HD).transpose(1, 2)  # noqa: E731
        q, k, v = rotate(split(self.wq(h)), cos, sin), rotate(split(self.wk(h)), cos, sin), split(self.wv(h))
        scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(HD)) + mask
        att = torch.softmax(scores, -1) @ v
        x = x + self.wo(att.transpose(1, 2).reshape(b, t, DIM))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = rotary_tables(t)
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        return self.head(self.norm(x))


model = LanguageModel()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
data = torch.randint(0, VOCAB, (BATCH, SEQ + 1), generator=torch.Generator().manual_seed(1))
losses = []
cpu_seconds = []


def step():
    c0 = time.process_time()
    logits = model(data[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), data[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    losses.append(loss.item())
    cpu_seconds.append(time.process_time() - c0)


seconds = median_seconds(step, STEPS, warmup=2)
emit({
    "setup": {"dim": DIM, "layers": LAYERS, "heads": HEADS, "mlp": MLP, "seq": SEQ, "batch": BATCH, "steps": STEPS},
    "params": sum(p.numel() for p in model.parameters()),
    "tokPerS": round(BATCH * SEQ / seconds, 1),
    "stepMs": round(seconds * 1e3, 2),
    "tokPerCpuS": round(BATCH * SEQ / statistics.median(cpu_seconds[2:]), 1),
    "firstLoss": round(losses[0], 4),
})
