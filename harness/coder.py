"""The one arithmetic coder every predictor feeds.

A range coder with a 56-bit window and carry propagation (the LZMA scheme widened from 32 to 56
bits), compiled with numba. Distributions reach it as float64 probabilities and are turned into
integer frequencies by `quantize`: every symbol gets at least 1 of 2**TOTAL_BITS, so any symbol
stays codable, and the same float64 input gives the same integers on every machine (sequential
sums, no fused multiply-add, no transcendental functions).

Why our own coder rather than `constriction`: predictors that are fast enough to be limited by
the coder (the n-gram and context-mixing models) must call the coder from inside their own compiled
loop, which a Python-level coder object cannot offer; and the frequencies must be ours, exact
and shared by encoder, decoder and the ideal-code-length accounting. The kernels below are plain
numba functions usable from Python and from other numba code alike; `Encoder` and `Decoder`
wrap them for step-by-step use.

Precision: the range stays in [2**48, 2**56) and totals are 2**30, so the integer division
`range >> TOTAL_BITS` truncates less than 2**-18 of the range; the measured overhead over the
ideal code length is a few bytes per 100 KB at most, plus the flush.
"""

from __future__ import annotations

import math

import numpy as np

from harness.jit import jit

TOTAL_BITS = 30
TOTAL = 1 << TOTAL_BITS
_WINDOW_BITS = 56
_TOP = np.uint64(1 << (_WINDOW_BITS - 8))  # renormalise while range < 2**48
_LOW_MASK = np.uint64((1 << (_WINDOW_BITS - 8)) - 1)
_FULL_MASK = np.uint64((1 << _WINDOW_BITS) - 1)
_CARRY_FREE = np.uint64(0xFF << (_WINDOW_BITS - 8))
# The first cached byte is always 0 (no carry can reach it), so it is not written: the output
# position starts one before the buffer.
_BEFORE_START = np.uint64(2**64 - 1)

# Encoder state slots (one uint64 array, so that numba loops can carry it around).
_LOW, _RANGE, _CACHE, _PENDING, _POS = 0, 1, 2, 3, 4
# Decoder state slots.
_CODE, _DRANGE, _DPOS = 0, 1, 2


@jit
def quantize(probs: np.ndarray, cum: np.ndarray) -> None:
    """Fill cum[0..n] with cumulative integer frequencies summing to TOTAL.

    Negative, NaN or infinite entries count as zero; an all-zero input becomes uniform. Every
    symbol gets at least 1; what flooring leaves over goes to the most probable symbol.
    """
    n = probs.shape[0]
    mass = 0.0
    best = 0
    best_p = -1.0
    for i in range(n):
        p = probs[i]
        if p > 0.0 and p < math.inf:
            mass += p
            if p > best_p:
                best_p = p
                best = i
    spare = TOTAL - n
    uniform = not (mass > 0.0 and mass < math.inf)
    cum[0] = 0
    # The frequencies first, then their running sum: with no dependency between entries, the
    # compiler vectorizes the divisions (1.5x faster; the very same operations, so the same bits).
    if uniform:
        cum[1:] = 1 + spare // n
    else:
        for i in range(n):
            p = probs[i]
            scaled = p / mass * spare if p > 0.0 and p < math.inf else 0.0
            cum[i + 1] = 1 + min(np.int64(scaled), spare)  # p / mass <= 1: no overflow for tiny masses
    used = np.uint64(0)
    for i in range(1, n + 1):
        used += cum[i]
        cum[i] = used
    if used > TOTAL:  # flooring cannot overshoot; guard the invariant all the same
        raise ValueError("quantize: frequencies exceed the total")
    leftover = np.uint64(TOTAL) - used
    for i in range(best + 1, n + 1):
        cum[i] += leftover


@jit
def new_encoder_state() -> np.ndarray:
    state = np.zeros(5, dtype=np.uint64)
    state[_RANGE] = _FULL_MASK
    state[_PENDING] = 1
    state[_POS] = _BEFORE_START
    return state


def encoder_capacity(symbols: int) -> int:
    """Bytes of `out` that coding `symbols` symbols and finishing can need."""
    return 4 * symbols + 16


@jit
def _shift_low(state: np.ndarray, out: np.ndarray) -> None:
    low = state[_LOW]
    if (low & _FULL_MASK) < _CARRY_FREE or (low >> np.uint64(_WINDOW_BITS)) != 0:
        carry = low >> np.uint64(_WINDOW_BITS)
        byte = state[_CACHE]
        pos = state[_POS]
        while state[_PENDING] != 0:
            if pos != _BEFORE_START:
                out[pos] = (byte + carry) & np.uint64(0xFF)
            pos += np.uint64(1)
            byte = np.uint64(0xFF)
            state[_PENDING] -= np.uint64(1)
        state[_POS] = pos
        state[_CACHE] = (low >> np.uint64(_WINDOW_BITS - 8)) & np.uint64(0xFF)
    state[_PENDING] += np.uint64(1)
    state[_LOW] = (low & _LOW_MASK) << np.uint64(8)


@jit
def encode_symbol(state: np.ndarray, out: np.ndarray, cum: np.ndarray, symbol: int) -> None:
    """Code `symbol` under cumulative frequencies `cum` (see `encoder_capacity` for `out`)."""
    encode_interval(state, out, cum[symbol], cum[symbol + 1] - cum[symbol])


@jit
def encode_interval(state: np.ndarray, out: np.ndarray, lo: int, freq: int) -> None:
    """Code the symbol that owns [lo, lo + freq) of TOTAL: `encode_symbol` for a model that
    knows its symbol's interval without building every cumulative frequency."""
    r = state[_RANGE] >> np.uint64(TOTAL_BITS)
    state[_LOW] += r * np.uint64(lo)
    state[_RANGE] = r * np.uint64(freq)
    while state[_RANGE] < _TOP:
        state[_RANGE] <<= np.uint64(8)
        _shift_low(state, out)


@jit
def finish_encoder(state: np.ndarray, out: np.ndarray) -> int:
    """Flush and return the number of payload bytes in `out`.

    Picks the value in [low, low + range) with the most trailing zero bits, flushes it, and
    drops trailing zero bytes: the decoder reads zeros past the end of the payload.
    """
    low = state[_LOW]
    high = low + state[_RANGE] - np.uint64(1)
    for bits in range(_WINDOW_BITS, -1, -1):
        mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
        rounded = (low + mask) & ~mask
        if rounded <= high and rounded >= low:
            state[_LOW] = rounded
            break
    for _ in range(_WINDOW_BITS // 8 + 1):
        _shift_low(state, out)
    end = np.int64(state[_POS])
    while end > 0 and out[end - 1] == 0:
        end -= 1
    return end


@jit
def new_decoder_state(payload: np.ndarray) -> np.ndarray:
    state = np.zeros(3, dtype=np.uint64)
    state[_DRANGE] = _FULL_MASK
    for _ in range(_WINDOW_BITS // 8):
        _next_byte(state, payload)
    return state


@jit
def _next_byte(state: np.ndarray, payload: np.ndarray) -> None:
    pos = state[_DPOS]
    byte = np.uint64(payload[pos]) if pos < payload.shape[0] else np.uint64(0)
    state[_DPOS] = pos + np.uint64(1)
    state[_CODE] = ((state[_CODE] << np.uint64(8)) | byte) & _FULL_MASK


@jit
def decode_symbol(state: np.ndarray, payload: np.ndarray, cum: np.ndarray) -> int:
    """Decode one symbol coded under `cum`. Corrupt input yields some symbol, never a crash."""
    r = state[_DRANGE] >> np.uint64(TOTAL_BITS)
    target = state[_CODE] // r
    if target >= np.uint64(TOTAL):
        target = np.uint64(TOTAL - 1)
    lo, hi = 0, cum.shape[0] - 1  # find the symbol s with cum[s] <= target < cum[s + 1]
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if np.uint64(cum[mid]) <= target:
            lo = mid
        else:
            hi = mid
    start = np.uint64(cum[lo])
    state[_CODE] -= r * start
    state[_DRANGE] = r * (np.uint64(cum[lo + 1]) - start)
    while state[_DRANGE] < _TOP:
        state[_DRANGE] <<= np.uint64(8)
        _next_byte(state, payload)
    return lo


@jit
def symbol_bits(cum: np.ndarray, symbol: int) -> float:
    """The ideal code length of `symbol` under `cum`, in bits."""
    return interval_bits(cum[symbol + 1] - cum[symbol])


@jit
def interval_bits(freq: int) -> float:
    """The ideal code length of a symbol owning `freq` of TOTAL, in bits."""
    return TOTAL_BITS - math.log2(freq)


@jit
def encode_step(state: np.ndarray, out: np.ndarray, probs: np.ndarray, cum: np.ndarray, symbol: int) -> float:
    """Code `symbol` under the distribution `probs` (quantized into `cum`); its code length in
    bits. The one step every compiled coding loop takes (see plugins/ngram.py)."""
    quantize(probs, cum)
    encode_symbol(state, out, cum, symbol)
    return symbol_bits(cum, symbol)


@jit
def decode_step(state: np.ndarray, payload: np.ndarray, probs: np.ndarray, cum: np.ndarray) -> int:
    """The symbol `encode_step` coded under the same `probs`."""
    quantize(probs, cum)
    return decode_symbol(state, payload, cum)


def aligned_zeros(rows: int, columns: int) -> np.ndarray:
    """int32 zeros whose rows start on 64-byte cache lines when columns * 4 divides 64: a
    compiled model's table, a row read in one cache line; its pages written now (`filled`)."""
    flat = filled(rows * columns + 16, np.int32)
    skip = (-flat.ctypes.data % 64) // 4
    return flat[skip : skip + rows * columns].reshape(rows, columns)


def filled(size: int, dtype: type, value: int = 0) -> np.ndarray:
    """A compiled model's table of `size` entries of `value`, its pages written now, a slice at a
    time. numpy backs large arrays with huge pages, zeroed when first touched, and a model touches
    its tables at random: a fresh model would have all of them zeroed inside its first compiled
    call, seconds under load in which no signal (Ctrl-C, kill) is acted on. Here Python runs
    between the slices; of zeros, one entry a page is written (the kernel zeroes the rest)."""
    table = np.zeros(size, dtype=dtype) if value == 0 else np.empty(size, dtype=dtype)
    step, stride = (16 << 20) // table.itemsize, 4096 // table.itemsize if value == 0 else 1
    for start in range(0, size, step):
        table[start : start + step : stride] = value
    return table


def _cum_for(cum: np.ndarray, n: int) -> np.ndarray:
    """Room for the frequencies of `n` symbols: `cum`'s start, or a new buffer where it is short
    (the compiled steps do not check bounds)."""
    return cum[: n + 1] if n < len(cum) else np.zeros(n + 1, dtype=np.uint64)


class Encoder:
    """Step-by-step encoder: `encode(symbol, probs)` per symbol, then `finish()`.

    `ideal_bits` accumulates sum(-log2 p) under the exact integer frequencies coded, so
    `8 * len(finish()) - ideal_bits` is the coder's own overhead.
    """

    def __init__(self, alphabet_size: int) -> None:
        self._state = new_encoder_state()
        self._out = np.zeros(1 << 12, dtype=np.uint8)
        self._cum = np.zeros(alphabet_size + 1, dtype=np.uint64)
        self.ideal_bits = 0.0

    def encode(self, symbol: int, probs: np.ndarray) -> None:
        """Code `symbol` under `probs`, which may be shorter than the alphabet (a decision
        within a symbol)."""
        state, out = self.buffers(1)
        self.ideal_bits += encode_step(state, out, probs, _cum_for(self._cum, len(probs)), symbol)

    def buffers(self, symbols: int) -> tuple[np.ndarray, np.ndarray]:
        """(state, out) with room in `out` for `symbols` more symbols, for a compiled loop that
        codes them itself with `encode_symbol` (and adds their code length to `ideal_bits`)."""
        written_or_pending = (int(self._state[_POS]) + int(self._state[_PENDING]) + 1) % 2**64
        while written_or_pending + encoder_capacity(symbols) >= self._out.shape[0]:
            self._out = np.concatenate([self._out, np.zeros_like(self._out)])
        return self._state, self._out

    def finish(self) -> bytes:
        self._out = np.concatenate([self._out, np.zeros(encoder_capacity(0), dtype=np.uint8)])
        return self._out[: finish_encoder(self._state, self._out)].tobytes()


class Decoder:
    """Step-by-step decoder over a payload written by `Encoder`."""

    def __init__(self, payload: bytes, alphabet_size: int) -> None:
        self._payload = np.frombuffer(payload, dtype=np.uint8)
        self._state = new_decoder_state(self._payload)
        self._cum = np.zeros(alphabet_size + 1, dtype=np.uint64)

    def decode(self, probs: np.ndarray) -> int:
        return decode_step(self._state, self._payload, probs, _cum_for(self._cum, len(probs)))

    def buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """(state, payload), for a compiled loop that decodes with `decode_symbol` itself."""
        return self._state, self._payload
