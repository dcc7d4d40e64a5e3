"""`order0`: the trivial baseline, an adaptive order-0 byte model (module `plugins.order0`).

Each byte's probability is its count so far plus 1/2 (the Krichevsky-Trofimov estimator),
normalised. It knows nothing of context, so it approaches the file's empirical byte entropy.

`encode_symbols`/`decode_symbols` run one compiled loop over the same counts and coder kernels
as the default Python loop (`predict`/`update`), and write the very same bits.
"""

from __future__ import annotations

import numba
import numpy as np

from harness import coder
from harness.hookspecs import hookimpl
from harness.predictor import Predictor, Progress, no_progress

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _total(counts: np.ndarray) -> float:
    """counts.sum(), exactly: counts are multiples of 1/2 far below 2**52, so every partial sum is
    exact and any summation order (numpy's pairwise one, this one, a running total) agrees."""
    total = 0.0
    for c in counts:
        total += c
    return total


@_jit
def _predict(counts: np.ndarray, total: float, probs: np.ndarray, cum: np.ndarray) -> None:
    """What `Order0.predict` gives, quantized into `cum`."""
    for i in range(counts.shape[0]):
        probs[i] = counts[i] / total
    coder.quantize(probs, cum)


@_jit
def _encode(counts: np.ndarray, symbols: np.ndarray, enc: np.ndarray, out: np.ndarray, bits: np.ndarray) -> None:
    probs = np.empty(counts.shape[0])
    cum = np.empty(counts.shape[0] + 1, dtype=np.uint64)
    total = _total(counts)
    for i in range(symbols.shape[0]):
        s = np.int64(symbols[i])
        _predict(counts, total, probs, cum)
        coder.encode_symbol(enc, out, cum, s)
        bits[i] = coder.symbol_bits(cum, s)
        counts[s] += 1.0
        total += 1.0


@_jit
def _decode(counts: np.ndarray, dec: np.ndarray, payload: np.ndarray, symbols: np.ndarray) -> None:
    probs = np.empty(counts.shape[0])
    cum = np.empty(counts.shape[0] + 1, dtype=np.uint64)
    total = _total(counts)
    for i in range(symbols.shape[0]):
        _predict(counts, total, probs, cum)
        s = coder.decode_symbol(dec, payload, cum)
        symbols[i] = s
        counts[s] += 1.0
        total += 1.0


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

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        symbols = np.ascontiguousarray(symbols, dtype=np.uint8)
        enc = coder.new_encoder_state()
        out = np.zeros(coder.encoder_capacity(len(symbols)), dtype=np.uint8)
        bits = np.zeros(len(symbols), dtype=np.float32)
        # One report per call: a container segment (1 Mi symbols) takes about two seconds.
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
