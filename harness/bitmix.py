"""What a bitwise mix does at each of a byte's 8 decisions, for a bitwise predictor's kernel
(cm's `code_byte`) to call around its own model (the method is in plugins/mix.py's docstring):
the byte members' distributions become bit predictions, scaled into hints (`bit_hints`); the
bitwise model's prediction codes the bit (`code_bit`); the scales learn from it (`learn`).

The loop over the 8 bits lives in the predictor's module, calling its own bit functions by name:
numba caches no kernel that takes functions as arguments or holds them as values (their
addresses belong to one process), so a generic loop here would be compiled again on every run.
"""

from __future__ import annotations

import math

import numpy as np

from harness import coder
from harness.jit import jit

TINY = 1e-300
"""log(0) guard: a member that gave a symbol probability 0 still has a finite log."""
STRETCH_LIMIT = 8.0
"""|st(p)| of a bitwise mix's inputs: a member sure of a bit says so at 1 - 1/3000."""


@jit
def _stretch(p: float) -> float:
    return min(max(math.log(p / (1.0 - p)), -STRETCH_LIMIT), STRETCH_LIMIT)


@jit
def bit_hints(
    distributions: np.ndarray, weights: np.ndarray, c0: int, done: int, inputs: np.ndarray, hints: np.ndarray
) -> None:
    """For the bit after the `done` bits of partial byte `c0`: inputs[i] = st(p_i), member i's
    P(bit = 1) from its byte distribution, and hints[i] = weights[i] * inputs[i], the hint the
    bitwise model takes (`weights` are the scales at node c0)."""
    width = 1 << (7 - done)  # bytes below each child of the node c0
    low = (c0 - (1 << done)) << (8 - done)
    for i in range(distributions.shape[0]):
        zero = distributions[i, low : low + width].sum()
        one = distributions[i, low + width : low + 2 * width].sum()
        inputs[i] = _stretch((one + TINY) / (zero + one + 2 * TINY))
        hints[i] = weights[i] * inputs[i]


@jit
def code_bit(
    p12: int, symbol: int, done: int, state: np.ndarray, buffer: np.ndarray, cum: np.ndarray
) -> tuple[int, float]:
    """Code bit `done` of `symbol` (decode it, where symbol is -1) with P(bit = 1) = p12 / 4096;
    return the bit and its code length in bits."""
    p = p12 / 4096.0
    probs = np.empty(2)
    probs[0], probs[1] = 1.0 - p, p
    if symbol >= 0:
        bit = (symbol >> (7 - done)) & 1
        return bit, coder.encode_step(state, buffer, probs, cum, bit)
    bit = coder.decode_step(state, buffer, probs, cum)
    return bit, coder.symbol_bits(cum, bit)


@jit
def learn(weights: np.ndarray, inputs: np.ndarray, hints: np.ndarray, bit: int, lr: float) -> None:
    """Each scale takes a step on the code length of `bit` under its own member's hint alone."""
    for i in range(inputs.shape[0]):
        weights[i] += lr * (bit - 1.0 / (1.0 + math.exp(-hints[i]))) * inputs[i]
