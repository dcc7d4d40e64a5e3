"""The `synthetic` corpus: generated sources whose information content is known exactly.

A predictor's code length on these can be compared with the floor no predictor can beat
on average. Sampling draws only uniform doubles (and integers) from numpy's PCG64
Generator with a fixed seed, so the bytes are reproducible; meta records the numpy version.
`entropy_bits(n)` is the expected information content (the block entropy) of the first n
bytes, exact for these sources.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
from collections.abc import Callable

import numpy as np

from harness.corpus import Corpus, CorpusFile


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _file(name: str, data: bytes, bits_of_prefix: Callable[[int], float], **meta) -> CorpusFile:
    def entropy_bits(n: int) -> float:
        return bits_of_prefix(min(max(n, 0), len(data)))

    meta |= {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "numpy": np.__version__}
    return CorpusFile(f"synthetic/{name}", lambda: data, entropy_bits, meta)


def iid(n: int = 100_000, seed: int = 0) -> CorpusFile:
    """Independent letters a..p with P(k) proportional to 0.75**k."""
    alphabet = b"abcdefghijklmnop"
    p = 0.75 ** np.arange(len(alphabet))
    p /= p.sum()
    cdf = np.cumsum(p)
    cdf[-1] = 1.0  # rounding must not leave a uniform draw above the last bin
    symbols = np.searchsorted(cdf, np.random.default_rng(seed).random(n), side="right")
    h = _entropy(p)
    return _file(
        "iid",
        np.frombuffer(alphabet, np.uint8)[symbols].tobytes(),
        lambda k: k * h,
        description="i.i.d. letters a..p, P(k) proportional to 0.75**k",
        probabilities=p.tolist(),
        floor="n * entropy rate",
        entropy_rate_bits_per_byte=h,
        seed=seed,
    )


def markov(n: int = 100_000, seed: int = 0, states: int = 8) -> CorpusFile:
    """An order-1 Markov chain over the first `states` letters, started in its stationary distribution."""
    rng = np.random.default_rng(seed)
    # Fourth powers of uniforms make skewed rows: some transitions likely, most rare.
    transition = rng.random((states, states)) ** 4
    transition /= transition.sum(axis=1, keepdims=True)
    # The stationary distribution: the left eigenvector of eigenvalue 1.
    values, vectors = np.linalg.eig(transition.T)
    stationary = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    stationary /= stationary.sum()

    # bisect_right past the last boundary gives the last symbol, so the 1.0 is left out.
    cdfs = [list(np.cumsum(row)[:-1]) for row in transition]
    start = list(np.cumsum(stationary)[:-1])
    symbols: list[int] = []
    for u in rng.random(n).tolist():
        symbols.append(bisect.bisect_right(cdfs[symbols[-1]] if symbols else start, u))
    alphabet = bytes(range(ord("a"), ord("a") + states))

    first = _entropy(stationary)
    rate = float(sum(pi * _entropy(row) for pi, row in zip(stationary, transition, strict=True)))
    return _file(
        "markov",
        bytes(alphabet[s] for s in symbols),
        lambda k: first + (k - 1) * rate if k else 0.0,
        description=f"order-1 Markov chain over {alphabet.decode()}, started in its stationary distribution",
        transition=transition.tolist(),
        stationary=stationary.tolist(),
        first_symbol_bits=first,
        entropy_rate_bits_per_byte=rate,
        floor="H(X1..Xn) = H(stationary) + (n-1) * entropy rate, exact for the stationary chain",
        seed=seed,
    )


RECORD = "{:08d}+{:08d}={:09d}\n"
RECORD_BYTES = 28
OPERAND_DIGITS = ((0, 8), (9, 17))  # [start, end) offsets of the two operands in a record


def addition(records: int = 4_000, seed: int = 0) -> CorpusFile:
    """Records "a+b=c" of uniform 8-digit operands: only the 16 operand digits carry information."""
    operands = np.random.default_rng(seed).integers(0, 10**8, size=(records, 2)).tolist()
    data = "".join(RECORD.format(a, b, a + b) for a, b in operands).encode()
    digit_bits = math.log2(10)

    def bits(n: int) -> float:
        full, rest = divmod(n, RECORD_BYTES)
        digits = 16 * full + sum(max(0, min(rest, end) - start) for start, end in OPERAND_DIGITS)
        return digits * digit_bits

    return _file(
        "addition",
        data,
        bits,
        description="records 'AAAAAAAA+BBBBBBBB=CCCCCCCCC\\n', operands uniform in [0, 10**8)",
        records=records,
        record_bytes=RECORD_BYTES,
        floor="log2(10) per operand digit among the first n bytes; the rest follows from them",
        floor_bits_per_record=16 * digit_bits,
        entropy_rate_bits_per_byte=16 * digit_bits / RECORD_BYTES,
        seed=seed,
    )


@functools.cache
def _files() -> list[CorpusFile]:
    return [iid(), markov(), addition()]


def corpus() -> Corpus:
    return Corpus(
        "synthetic",
        "generated sources with a known entropy floor: i.i.d., order-1 Markov, 8-digit additions",
        lambda: list(_files()),
    )
