"""`lstm`: a byte-level LSTM trained online while coding (NNCP / lstm-compress style).

Stacked LSTM layers, each fed the byte embedding and the layer below; the output layer sees
every layer's output (skip connections, as in NNCP). Trained by truncated backpropagation
through time: every `context` steps one update on the last `context` bytes of each stream,
starting from the state the block began with. See harness/online.py for the shared loop.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from harness.hookspecs import hookimpl
from harness.online import OnlineModel, OnlinePredictor
from harness.predictor import Option


class LSTMModel(OnlineModel):
    def __init__(self, layers: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, hidden)
        # Layer 0 reads the embedding; the others read the embedding and the layer below.
        self.cells = nn.ModuleList(
            nn.LSTM(hidden if i == 0 else 2 * hidden, hidden, batch_first=True) for i in range(layers)
        )
        self.head = nn.Linear(layers * hidden, 256)
        self.state: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.memory: list[tuple[torch.Tensor, torch.Tensor]] = []

    def reset(self, batch: int) -> None:
        device = self.head.weight.device
        zeros = torch.zeros(1, batch, self.head.in_features // len(self.cells), device=device)
        self.state = [(zeros, zeros) for _ in self.cells]
        self.memory = self.state

    def _forward(
        self, inputs: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        embedded = self.embed(inputs)
        x, outputs, new_state = embedded, [], []
        for i, cell in enumerate(self.cells):
            out, hc = cell(x if i == 0 else torch.cat([embedded, x], dim=-1), state[i])
            outputs.append(out)
            new_state.append(hc)
            x = out
        return self.head(torch.cat(outputs, dim=-1)), new_state

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, self.state = self._forward(tokens[:, None], self.state)
        return logits[:, 0]

    def block_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, _ = self._forward(inputs, self.memory)
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")

    def next_block(self) -> None:
        self.memory = self.state

    def forward_flops(self, context: int) -> float:
        matmul_weights = sum(cell.weight_ih_l0.numel() + cell.weight_hh_l0.numel() for cell in self.cells)
        return 2.0 * (matmul_weights + self.head.weight.numel())


class LSTM(OnlinePredictor):
    name = "lstm"
    description = "byte-level LSTM trained online while coding (truncated BPTT, NNCP-style)"
    version = 2  # 2: Adam fused, beta1 0 (was 0.9)
    options: ClassVar[dict[str, Any]] = {
        **OnlinePredictor.options,
        "layers": Option(2, "stacked LSTM layers", 1, 64),
        "hidden": Option(128, "hidden units per layer", 1, 8192),
        "batch": Option(16, "streams coded in lockstep (the input is cut into this many segments)", 1, 4096),
        "context": Option(16, "T: steps per block (truncated BPTT length)", 1, 4096),
        "lr": Option(1e-2, "learning rate", 1e-9, 10.0),
    }

    test_options: ClassVar[dict[str, Any]] = {"layers": 1, "hidden": 16, "batch": 32, "context": 8}

    @classmethod
    def make_model_for(cls, settings: dict[str, Any]) -> LSTMModel:
        return LSTMModel(settings["layers"], settings["hidden"])


@hookimpl
def harness_predictors() -> list[type[OnlinePredictor]]:
    return [LSTM]
