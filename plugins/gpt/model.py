"""The `gpt` predictor's transformer: nanoGPT's model with a cached memory, relative positions,
token shift and hashed n-gram embeddings (see plugins/gpt/__init__.py for why each)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from plugins.online.loop import OnlineModel


def distances(memory: int, length: int) -> torch.Tensor:
    """[length, memory + length]: how far each of `length` queries after `memory` keys looks back."""
    return memory + torch.arange(length)[:, None] - torch.arange(memory + length)[None, :]


def alibi(heads: int, distance: torch.Tensor) -> torch.Tensor:
    """Additive attention bias [heads, *distance.shape]: -slope * distance, -inf ahead."""
    slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1) / heads)
    bias = -slopes[:, None, None] * distance.float()
    return bias.masked_fill(distance < 0, float("-inf"))


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)

    def forward(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor],
        bias: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x [B, t, C] attends to `past` keys/values [B, h, m, C/h] and itself; returns y and all m + t k, v."""
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in self.c_attn(x).split(c, dim=2))
        keys, values = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        att = (q @ keys.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1))) + bias
        y = F.softmax(att, dim=-1) @ values
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c)), (keys, values)


class MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width)

    def forward(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor],
        bias: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        y, kv = self.attn(self.ln_1(x), past, bias)
        x = x + y
        return x + self.mlp(self.ln_2(x)), kv


# Adam moves a parameter by about lr per step, and a head needs a bias of several nats to look
# at one distance; stored divided by this, the learned distance bias moves that much faster.
DISTANCE_BIAS_SCALE = 10.0


def hashed_ngrams(window: torch.Tensor, orders: int, buckets: int) -> torch.Tensor:
    """Row ids [B, t, orders - 1] into a table of (orders - 1) x `buckets` rows: for n = 2..orders,
    a hash of the last n bytes of each position (window [B, orders - 1 + t]: bytes before, then the inputs)."""
    t = window.shape[1] - (orders - 1)
    ids, h = [], window[:, orders - 1 :]
    for n in range(2, orders + 1):
        h = (h * 0x2F0F3 + window[:, orders - n : orders - n + t] + 1) % 1_000_000_007
        ids.append((h % buckets) + (n - 2) * buckets)
    return torch.stack(ids, dim=-1)


class GPTModel(OnlineModel):
    def __init__(
        self,
        layers: int,
        width: int,
        heads: int,
        context: int,
        memory_blocks: int,
        ngrams: int,
        buckets: int,
    ) -> None:
        super().__init__()
        self.heads, self.context, self.memory_blocks = heads, context, memory_blocks
        self.ngrams, self.buckets = ngrams, buckets
        self.wte = nn.Embedding(256, width)
        self.wpt = nn.Embedding(256, width)  # token shift: the byte before each input
        # Hashed n-gram embeddings (as in BLT): a row per hash of the last 2..ngrams bytes
        self.wne = nn.Embedding((ngrams - 1) * buckets, width) if ngrams > 1 else None
        self.h = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, 256, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in nanoGPT
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))
            elif p.dim() == 2:
                nn.init.normal_(p, mean=0.0, std=0.02)
            elif name.endswith(".bias") and "ln_" not in name:
                nn.init.zeros_(p)
        if self.wne is not None:
            nn.init.zeros_(self.wne.weight)  # the model starts as one without them
        # Zero at first, so the model starts as plain ALiBi
        self.distance_bias = nn.Parameter(torch.zeros(heads, (memory_blocks + 1) * context))
        # Distances with a full memory; a block after m keys uses their last m + context columns.
        distance = distances(memory_blocks * context, context)
        self.register_buffer("distance", distance.clamp(min=0), persistent=False)
        self.register_buffer("alibi", alibi(heads, distance), persistent=False)
        self.memory: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.cache: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.before = max(ngrams - 1, 1)  # how many past inputs an input's embedding looks at
        self.recent = self.block_recent = torch.zeros(0, dtype=torch.long)  # the last inputs; those before the block

    def reset(self, batch: int) -> None:
        width = self.wte.weight.shape[1]
        empty = self.wte.weight.new_zeros(batch, self.heads, 0, width // self.heads)
        self.memory = [(empty, empty) for _ in self.h]
        self.cache = self.memory
        self.recent = torch.zeros(batch, self.before, dtype=torch.long, device=empty.device)
        self.block_recent = self.recent

    def _forward(
        self,
        window: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]],
        bias: torch.Tensor,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """window [B, before + t]: the `before` inputs ahead of the t inputs to predict from."""
        x, caches = (
            self.wte(window[:, self.before :]) + self.wpt(window[:, self.before - 1 : -1]),
            [],
        )
        if self.wne is not None:
            x = x + self.wne(hashed_ngrams(window, self.ngrams, self.buckets)).sum(2)
        for block, kv in zip(self.h, past, strict=True):
            x, cache = block(x, kv, bias)
            caches.append(cache)
        return self.lm_head(self.ln_f(x)), caches

    def _bias(self, rows: slice, keys: int) -> torch.Tensor:
        """Attention bias [heads, rows, keys] of the block's query positions `rows`."""
        first = self.memory_blocks * self.context - self.memory[0][0].shape[2]
        learned = DISTANCE_BIAS_SCALE * self.distance_bias[:, self.distance[rows, first : first + keys]]
        return self.alibi[:, rows, first : first + keys] + learned

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        j = self.cache[0][0].shape[2] - self.memory[0][0].shape[2]  # position within the block
        bias = self._bias(slice(j, j + 1), self.cache[0][0].shape[2] + 1)
        window = torch.cat([self.recent, tokens[:, None]], dim=1)
        logits, self.cache = self._forward(window, self.cache, bias)
        self.recent = window[:, 1:]
        return logits[:, 0]

    def block_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        window = torch.cat([self.block_recent, inputs], dim=1)
        keys = self.memory[0][0].shape[2] + inputs.shape[1]
        logits, _ = self._forward(window, self.memory, self._bias(slice(None), keys))
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")

    def next_block(self) -> None:
        keep = self.memory_blocks * self.context
        self.memory = [(k[:, :, -keep:], v[:, :, -keep:]) for k, v in self.cache]
        self.block_recent = self.recent
        self.cache = self.memory

    def forward_flops(self, context: int) -> float:
        width = self.wte.weight.shape[1]
        matmul_weights = sum(p.numel() for n, p in self.h.named_parameters() if n.endswith("weight") and p.dim() == 2)
        keys = (self.memory_blocks + 0.5) * context  # on average, once the memory is full
        attention = 2 * 2 * width * keys * len(self.h)  # q.k and att.v
        return 2.0 * (matmul_weights + self.lm_head.weight.numel()) + attention
