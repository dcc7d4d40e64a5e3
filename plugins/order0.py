"""`order0`: the trivial baseline, an adaptive order-0 byte model (module `plugins.order0`).

Each byte's weight is its count so far plus 1/2 (the Krichevsky-Trofimov estimator), c_i, of a
total T = sum c_i. The probabilities are those weights in 30-bit fixed point:

    u_i = floor(c_i * fl(2^30 / T)),   u_best += 2^30 - sum u_i   (best: the first largest u_i)
    p_i = u_i / 2^30

which sums to exactly 1 (the rounding, under 2^-30 per byte, goes to the likeliest byte). It knows
nothing of context, so it approaches the file's empirical byte entropy.

Why fixed point: `harness.coder.quantize` turns any p into frequencies
f_i = 1 + floor(p_i / m * S) with m = sum p_i in index order and S = TOTAL - 256. Here every
partial sum is a multiple of 2^-30 at most 1, so m = 1 exactly, and p_i * S = u_i * S / 2^30 is
exact in float64 (30 + 22 significant bits), so f_i = 1 + (u_i * S >> 30) in integers. The
compiled loop (`encode_symbols`/`decode_symbols`) computes that directly: one vectorizable pass,
no sequential float sum, no division per byte, and the very bits of the default predict/update
loop (the conformance suite compares them). `benchmarks/order0_speed.py` measures what that
buys against float probabilities (version 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import coder, container
from harness.hookspecs import hookimpl
from harness.jit import jit
from harness.predictor import Predictor, Progress, no_progress

_UNIT_BITS = 30
_UNIT = float(1 << _UNIT_BITS)
_SPARE = coder.TOTAL - 256  # quantize's S for 256 symbols


@jit
def _units(counts: np.ndarray, total: float, top_count: float, units: np.ndarray) -> int:
    """The u_i of `Order0.predict` into `units` (`top_count`: the largest count); returns best."""
    scale = _UNIT / total
    used = 0
    for i in range(counts.shape[0]):
        units[i] = np.int64(counts[i] * scale)  # truncation is floor: counts are positive
        used += units[i]
    top = np.int64(top_count * scale)  # the largest u_i, as rounding and floor keep the order
    best = 0
    while units[best] != top:
        best += 1
    units[best] += (1 << _UNIT_BITS) - used
    return best


@jit
def _frequency(unit: int) -> int:
    """quantize's f_i for p_i = unit / 2^30 (see the module docstring)."""
    return 1 + ((unit * _SPARE) >> _UNIT_BITS)


@jit
def _encode(counts: np.ndarray, symbols: np.ndarray, enc: np.ndarray, out: np.ndarray, bits: np.ndarray) -> None:
    n = counts.shape[0]
    units = np.empty(n, dtype=np.int64)
    total = counts.sum()  # exact: counts are multiples of 1/2 far below 2**52
    top_count = counts.max()
    for i in range(symbols.shape[0]):
        s = np.int64(symbols[i])
        best = _units(counts, total, top_count, units)
        # Only s's interval, [cum[s], cum[s + 1]) of quantize's cum: two sums, no running one.
        below = 0
        for j in range(s):
            below += _frequency(units[j])
        above = 0
        for j in range(s, n):
            above += _frequency(units[j])
        leftover = coder.TOTAL - below - above  # quantize gives it to cum[best + 1:]
        lo = below + (leftover if s > best else 0)
        freq = _frequency(units[s]) + (leftover if s == best else 0)
        coder.encode_interval(enc, out, lo, freq)
        bits[i] = coder.interval_bits(freq)
        counts[s] += 1.0
        total += 1.0
        top_count = max(top_count, counts[s])


@jit
def _decode(counts: np.ndarray, dec: np.ndarray, payload: np.ndarray, symbols: np.ndarray) -> None:
    n = counts.shape[0]
    units = np.empty(n, dtype=np.int64)
    cum = np.zeros(n + 1, dtype=np.uint64)
    total = counts.sum()
    top_count = counts.max()
    for i in range(symbols.shape[0]):
        best = _units(counts, total, top_count, units)
        for j in range(n):
            cum[j + 1] = _frequency(units[j])
        for j in range(n):
            cum[j + 1] += cum[j]
        leftover = np.uint64(coder.TOTAL) - cum[n]
        for j in range(best + 1, n + 1):
            cum[j] += leftover
        s = coder.decode_symbol(dec, payload, cum)
        symbols[i] = s
        counts[s] += 1.0
        total += 1.0
        top_count = max(top_count, counts[s])


class Order0(Predictor):
    name = "order0"
    version = 2  # 2: probabilities in 30-bit fixed point, so the compiled loop skips quantize's float work
    description = "adaptive order-0 byte frequencies (KT estimator): the trivial baseline"
    params = 256
    flops_per_symbol = 2 * 256.0

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        """256 counts and coding a segment."""
        return container.segment_coding_bytes(symbols)

    def __init__(self, **settings: object) -> None:
        super().__init__(**settings)
        self.counts = np.full(256, 0.5)

    def predict(self) -> np.ndarray:
        units = np.floor(self.counts * (_UNIT / self.counts.sum()))
        units[np.argmax(units)] += _UNIT - units.sum()
        return units / _UNIT

    def update(self, symbol: int) -> None:
        self.counts[symbol] += 1.0

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        symbols = np.ascontiguousarray(symbols, dtype=np.uint8)
        enc = coder.new_encoder_state()
        out = np.zeros(coder.encoder_capacity(len(symbols)), dtype=np.uint8)
        bits = np.zeros(len(symbols), dtype=np.float32)
        # One report per call: a container segment (1 Mi symbols) takes well under a second.
        _encode(self.counts, symbols, enc, out, bits)
        progress(len(symbols))
        return out[: coder.finish_encoder(enc, out)].tobytes(), bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        data = np.frombuffer(payload, dtype=np.uint8)
        symbols = np.zeros(count, dtype=np.int64)
        _decode(self.counts, coder.new_decoder_state(data), data, symbols)
        progress(count)
        return symbols


@hookimpl
def harness_predictors() -> list[type[Predictor]]:
    return [Order0]
