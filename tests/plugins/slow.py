"""A predictor slow on purpose, for the tests that stop a command while it codes: how long a
file takes then depends on this plugin's `ms`, not on how fast the built-ins have become or on
the machine (order0 codes 150 KB in 60 ms, so a Ctrl-C 0.3 s in found it already done).

    harness --plugin tests/plugins/slow.py compress FILE -p slow:ms=0.5
"""

from __future__ import annotations

import ctypes
import sys
import time

import numpy as np

from harness import Option, Predictor, hookimpl

UNIFORM = np.full(256, 1 / 256)


class Slow(Predictor):
    name = "slow"
    description = "every byte equally likely, `ms` milliseconds a byte (for interruption tests)"
    options = {
        "ms": Option(1.0, "milliseconds spent on each prediction", 0.0, 100.0),
        "callback": Option(False, "spend them inside a ctypes callback, as numba's compiler and llama.cpp do"),
    }

    def __init__(self, **settings: object) -> None:
        super().__init__(**settings)
        wait = lambda: time.sleep(self.settings["ms"] / 1000)  # noqa: E731
        self.wait = ctypes.CFUNCTYPE(None)(wait) if self.settings["callback"] else wait
        self.predictions = 0

    def predict(self) -> np.ndarray:
        self.predictions += 1
        if self.predictions == 100:  # past the coder's first call (which may compile it)
            print("slow: coding", file=sys.stderr, flush=True)
        self.wait()
        return UNIFORM

    def update(self, symbol: int) -> None:
        pass


@hookimpl
def harness_predictors() -> list[type[Predictor]]:
    return [Slow]
