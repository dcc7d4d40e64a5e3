"""The `lstm` predictor's network: stacked LSTM layers with skip connections to the output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from plugins.online.loop import OnlineModel


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
