"""`order0`: the trivial baseline, an adaptive order-0 byte model.

Each byte's probability is its count so far plus 1/2 (the Krichevsky-Trofimov estimator),
normalised. It knows nothing of context, so it approaches the file's empirical byte entropy.
"""

from __future__ import annotations

import numpy as np

from harness.hookspecs import hookimpl
from harness.predictor import Predictor


class Order0(Predictor):
    name = "order0"
    description = "adaptive order-0 byte frequencies (KT estimator): the trivial baseline"
    params = 256
    flops_per_symbol = 2 * 256.0

    def __init__(self, **settings: object) -> None:
        super().__init__(**settings)
        self.counts = np.full(256, 0.5)

    def predict(self) -> np.ndarray:
        return self.counts / self.counts.sum()

    def update(self, symbol: int) -> None:
        self.counts[symbol] += 1.0


@hookimpl
def harness_predictors() -> list[type[Predictor]]:
    return [Order0]
