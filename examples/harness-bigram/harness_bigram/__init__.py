"""`bigram`: an adaptive order-1 byte model, the example of a third-party predictor plugin.

The probability of the next byte is how often it followed the previous byte so far, plus
`alpha` (add-alpha smoothing, so no byte is ever impossible).
"""

from __future__ import annotations

import numpy as np

from harness import HarnessError, Predictor, hookimpl


class Bigram(Predictor):
    name = "bigram"
    description = "adaptive order-1 byte model (example plugin)"
    options = {"alpha": 0.5}
    params = 256 * 256
    flops_per_symbol = 2 * 256.0

    def __init__(self, **settings: object) -> None:
        super().__init__(**settings)
        if not self.settings["alpha"] > 0:
            raise HarnessError(f"bigram: alpha must be positive, not {self.settings['alpha']}")
        self.counts = np.full((256, 256), self.settings["alpha"])
        self.previous = 0

    def predict(self) -> np.ndarray:
        row = self.counts[self.previous]
        return row / row.sum()

    def update(self, symbol: int) -> None:
        self.counts[self.previous, symbol] += 1.0
        self.previous = symbol


@hookimpl
def harness_predictors() -> list[type[Predictor]]:
    return [Bigram]
