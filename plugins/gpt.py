"""`gpt`: a byte-level decoder-only transformer trained online while coding, nanoGPT-style.

The model is nanoGPT's (pre-norm blocks of causal self-attention and a 4x GELU MLP, tied input
and output embeddings, scaled init of residual projections), with three changes for online
coding in blocks:

- Memory (as in Transformer-XL and NNCP): the keys and values of the last `memory_blocks`
  blocks stay cached, so a byte sees between M x `context` and (M + 1) x `context` bytes back,
  while training costs only one block per update. The memory is computed with the weights of
  its own time and not trained through.
- Relative positions instead of learned absolute ones, so a cached key keeps its meaning when its
  block becomes memory: attention scores get ALiBi's per-head penalty linear in the distance
  (a recency prior that helps from the first byte) plus a learned bias per head and distance,
  zero at the start (T5-style). The learned part lets a head look exactly k bytes back, which
  fixed-layout data needs: in the "a+b=c" records a sum digit sits 9 and 18 bytes after the
  operand digits it depends on.
- Token shift ("smear", as in RWKV and modded-nanoGPT): the input of each position is its byte's
  embedding plus an embedding of the byte before it. Without it a small model has to learn an
  attention head for the previous byte first; with it, it learns about 0.2 bits/byte faster
  early on, which matters when every byte is seen once.
- Hashed n-gram embeddings (as in BLT, the Byte Latent Transformer): with `ngrams=n`, each input
  also adds one learned row per order 2..n, picked by a hash of its last k bytes (`buckets` rows
  per order). A context seen before is then recognised from the input alone, which attention
  would learn only after many steps; on book1 this is the largest single gain (see the README).

Coding steps one byte at a time through the cache (`step`); training recomputes the block in
one pass (`block_loss`) with the same weights, hence the same probabilities up to rounding.
See harness/online.py for the shared loop.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.online import OnlineModel, OnlinePredictor
from harness.predictor import Option


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
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor
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
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor
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
        self, layers: int, width: int, heads: int, context: int, memory_blocks: int, ngrams: int, buckets: int
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
        x, caches = self.wte(window[:, self.before :]) + self.wpt(window[:, self.before - 1 : -1]), []
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


BASE_WIDTH = 128


class GPT(OnlinePredictor):
    name = "gpt"
    description = "byte-level decoder-only transformer trained online while coding (nanoGPT-style)"
    # 2: token shift; 3: learning rate scaled with width; 4: learned distance bias, memory_blocks;
    # 5: hashed n-gram embeddings, Adam fused with beta1 0.5 (was 0.9)
    version = 5
    options: ClassVar[dict[str, Any]] = {
        **OnlinePredictor.options,
        "layers": Option(2, "transformer blocks", 1, 64),
        "width": Option(128, "embedding width (a multiple of heads)", 1, 8192),
        "heads": Option(4, "attention heads", 1, 256),
        "batch": Option(16, "streams coded in lockstep (the input is cut into this many segments)", 1, 4096),
        "context": Option(16, "T: steps per block; the weights are frozen within a block", 1, 4096),
        "lr": Option(2e-3, "learning rate at width 128 (other widths get lr x 128 / width)", 1e-9, 10.0),
        # 200 KB of book1: 0.9 3.069 -> 0.5 3.018 bits/byte; 0 is worse (2.600 vs 2.588, ngrams=6)
        "beta1": Option(0.5, "Adam's beta1 (momentum)", 0.0, 0.999999),
        "memory_blocks": Option(1, "blocks of cached keys/values a byte attends to besides its own", 1, 256),
        "ngrams": Option(0, "hashed n-gram input embeddings for orders 2..ngrams (0: off)", 0, 32),
        "buckets": Option(4096, "rows per n-gram order", 1, 1 << 24),
    }

    """lr is the rate at width 128; other widths get lr x 128 / width (muP's rule for Adam), so
    one setting serves a size sweep instead of being too high for the widest model."""

    test_options: ClassVar[dict[str, Any]] = {"layers": 1, "width": 16, "heads": 2, "batch": 32, "context": 8}

    def learning_rate(self) -> float:
        return self.settings["lr"] * BASE_WIDTH / self.settings["width"]

    @classmethod
    def make_model_for(cls, settings: dict[str, Any]) -> GPTModel:
        s = settings
        if s["width"] % s["heads"]:
            raise HarnessError(f"gpt: width must be a multiple of heads (got {s['width']}, {s['heads']})")
        if s["ngrams"] == 1:
            raise HarnessError("gpt: ngrams must be 0 (off) or at least 2, not 1")
        return GPTModel(
            s["layers"], s["width"], s["heads"], s["context"], s["memory_blocks"], s["ngrams"], s["buckets"]
        )


@hookimpl
def harness_predictors() -> list[type[OnlinePredictor]]:
    return [GPT]
