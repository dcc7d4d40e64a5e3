"""What a bitwise mix does at each of a byte's 8 decisions, for a bitwise predictor's kernel
(cm's `code_byte`) to call around its own model (the method is in plugins/mix.py's docstring):
the byte members' distributions become bit predictions, scaled into hints (`bit_hints`); the
bitwise model's prediction, or where a mix has one, its final stage's (`final_mix`), codes the
bit (`code_bit`); the scales learn from it (`learn`, `final_learn`).

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


_SURE = 1e-4
"""Beyond the clip (st(p) = -8 at p = 1/(1 + e**8), about 3.4e-4): bringing p within it first
changes no output, and a member sure of a bit (a byte it gives no mass, as a token model's trie
does) divides by no zero."""


@jit
def _stretch(p: float) -> float:
    p = min(max(p, _SURE), 1.0 - _SURE)
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


LEAD_BUCKETS = 4
"""Rows of a final stage's weights per bit of the byte: by how sure the leading member is."""


@jit
def _final_row(final: np.ndarray, done: int, lead: float) -> np.ndarray:
    """The final stage's weights for bit `done` and the lead's certainty (|lead| <= 8, in buckets)."""
    return final[done * LEAD_BUCKETS + min(int(abs(lead)) * LEAD_BUCKETS // (int(STRETCH_LIMIT) + 1), LEAD_BUCKETS - 1)]


@jit
def final_mix(final: np.ndarray, done: int, p12: int, lead: float, x: np.ndarray) -> int:
    """A mix's final stage, where it has one (`final` has rows): the bitwise model's p12 and the
    leading member's stretched bit probability `lead` (its first input), mixed in the logistic
    domain by the weights of the row for bit `done` and the lead's certainty; x gets the two
    stretched inputs for `final_learn`. Returns the p12 coded."""
    x[0], x[1] = _stretch(p12 / 4096.0), lead
    w = _final_row(final, done, lead)
    p = 1.0 / (1.0 + math.exp(-(w[0] * x[0] + w[1] * x[1])))
    return min(max(round(p * 4096.0), 1), 4095)


@jit
def final_learn(final: np.ndarray, done: int, x: np.ndarray, p12: int, bit: int, lr: float) -> None:
    """The final stage's row takes a step on the code length of `bit` under its p12."""
    w = _final_row(final, done, x[1])
    err = bit - p12 / 4096.0
    w[0] += lr * err * x[0]
    w[1] += lr * err * x[1]
