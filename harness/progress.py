"""Progress as people read it: bytes of the input, whatever a predictor's symbols are."""

from __future__ import annotations

import threading
from collections.abc import Callable

interrupted = threading.Event()
"""Set by the command line's Ctrl-C and `kill` handler, which also raises KeyboardInterrupt. A
signal that lands inside a ctypes callback (numba's compiler, llama.cpp's logger) has its
exception printed and dropped there; the next progress tick raises it again, so the command
still stops within one tick instead of finishing its file."""


class InBytes:
    """Progress reported in symbols, shown in bytes of the input (a tokenizing predictor's
    symbols are tokens): `expect(symbols)` sets the scale, `advance(symbols)` moves the bar."""

    def __init__(self, length: int, advance: Callable[[float], None], total: Callable[[int], None]) -> None:
        self.length, self.per_symbol = length, 1.0
        self._advance, self._total = advance, total

    def expect(self, symbols: int) -> None:
        self.per_symbol = self.length / symbols if symbols else 1.0
        self._total(self.length)

    def advance(self, symbols: int) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        self._advance(symbols * self.per_symbol)
