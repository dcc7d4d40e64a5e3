"""Byte n-gram model: interpolated Kneser-Ney over hashed contexts (draft)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from harness import coder
from harness.hookspecs import hookimpl
from harness.predictor import Predictor, Progress, no_progress

_jit = numba.njit(cache=True, nogil=True)

_MULT = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 1 << 16

# meta slots
_NODES, _ENTRIES, _RESTARTS, _VISITS = 0, 1, 2, 3


@_jit
def _lookup(keys, totals, heads, meta, key):
    mask = keys.shape[0] - 1
    i = np.int64((key >> np.uint64(17)) & np.uint64(mask))
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == 0:
            keys[i] = key
            totals[i] = 0
            heads[i] = -1
            meta[_NODES] += 1
            return i
        i = (i + 1) & mask


@_jit
def _find_contexts(keys, totals, heads, meta, hist, ctx):
    h = _MULT
    ctx[0] = _lookup(keys, totals, heads, meta, h)
    for k in range(1, ctx.shape[0]):
        h = (h ^ np.uint64(hist[k - 1] + 1)) * _MULT
        h ^= h >> np.uint64(29)
        ctx[k] = _lookup(keys, totals, heads, meta, h | np.uint64(1))


@_jit
def _restart(keys, meta):
    keys[:] = 0
    meta[_NODES] = 0
    meta[_ENTRIES] = 0
    meta[_RESTARTS] += 1


@_jit
def _predict(totals, heads, esym, ecnt, enext, ctx, meta, disc, probs):
    probs[:] = 0.0
    coef = 1.0
    for k in range(ctx.shape[0] - 1, -1, -1):
        node = ctx[k]
        total = totals[node]
        if total == 0:
            continue
        theta = disc[k, 3]
        back = theta
        e = heads[node]
        while e >= 0:
            back += disc[k, min(ecnt[e], 3) - 1]
            e = enext[e]
            meta[_VISITS] += 1
        denom = theta + total
        scale = coef / denom
        e = heads[node]
        while e >= 0:
            c = ecnt[e]
            probs[esym[e]] += scale * (c - disc[k, min(c, 3) - 1])
            e = enext[e]
        coef *= back / denom
    u = coef / 256.0
    for s in range(256):
        probs[s] += u


@_jit
def _update(keys, totals, heads, esym, ecnt, enext, ctx, hist, meta, limit, symbol):
    for k in range(ctx.shape[0] - 1, -1, -1):
        node = ctx[k]
        e = heads[node]
        while e >= 0 and esym[e] != symbol:
            e = enext[e]
        totals[node] += 1
        if e >= 0:
            ecnt[e] += 1
            if totals[node] > limit:
                t = 0
                f = heads[node]
                while f >= 0:
                    ecnt[f] -= ecnt[f] >> 1
                    t += ecnt[f]
                    f = enext[f]
                totals[node] = t
            break
        e = meta[_ENTRIES]
        meta[_ENTRIES] += 1
        esym[e] = symbol
        ecnt[e] = 1
        enext[e] = heads[node]
        heads[node] = e
    for j in range(hist.shape[0] - 1, 0, -1):
        hist[j] = hist[j - 1]
    hist[0] = symbol
    room = ctx.shape[0]
    if meta[_NODES] + room > (keys.shape[0] * 3) // 4 or meta[_ENTRIES] + room > esym.shape[0]:
        _restart(keys, meta)
    _find_contexts(keys, totals, heads, meta, hist, ctx)


@_jit
def _encode_chunk(keys, totals, heads, esym, ecnt, enext, ctx, hist, meta, disc, limit,
                  probs, cum, enc, out, symbols, bits, start, stop):
    for i in range(start, stop):
        s = symbols[i]
        _predict(totals, heads, esym, ecnt, enext, ctx, meta, disc, probs)
        coder.quantize(probs, cum)
        coder.encode_symbol(enc, out, cum, s)
        bits[i] = coder.symbol_bits(cum, s)
        _update(keys, totals, heads, esym, ecnt, enext, ctx, hist, meta, limit, s)


@_jit
def _decode_chunk(keys, totals, heads, esym, ecnt, enext, ctx, hist, meta, disc, limit,
                  probs, cum, dec, payload, symbols, start, stop):
    for i in range(start, stop):
        _predict(totals, heads, esym, ecnt, enext, ctx, meta, disc, probs)
        coder.quantize(probs, cum)
        s = coder.decode_symbol(dec, payload, cum)
        symbols[i] = s
        _update(keys, totals, heads, esym, ecnt, enext, ctx, hist, meta, limit, s)


class NGram(Predictor):
    name = "ngram"
    description = "byte n-gram, interpolated Kneser-Ney over hashed contexts"
    options = {"order": 5, "memory_mib": 64, "limit": 1024}

    def __init__(self, disc=None, **settings: Any) -> None:
        super().__init__(**settings)
        order = self.settings["order"]
        budget = self.settings["memory_mib"] << 20
        slots = 1 << max(10, (budget // 2 // 16).bit_length() - 1)
        entries = budget // 2 // 9
        self._keys = np.zeros(slots, dtype=np.uint64)
        self._totals = np.zeros(slots, dtype=np.int32)
        self._heads = np.zeros(slots, dtype=np.int32)
        self._esym = np.zeros(entries, dtype=np.uint8)
        self._ecnt = np.zeros(entries, dtype=np.int32)
        self._enext = np.zeros(entries, dtype=np.int32)
        self._ctx = np.zeros(order + 1, dtype=np.int64)
        self._hist = np.zeros(max(order, 1), dtype=np.uint8)
        self._meta = np.zeros(4, dtype=np.int64)
        self._disc = np.ascontiguousarray(disc, dtype=np.float64)
        self._limit = self.settings["limit"]
        self._probs = np.zeros(256)
        self._cum = np.zeros(257, dtype=np.uint64)
        _find_contexts(self._keys, self._totals, self._heads, self._meta, self._hist, self._ctx)
        self.params = entries

    def _model(self):
        return (self._keys, self._totals, self._heads, self._esym, self._ecnt, self._enext,
                self._ctx, self._hist, self._meta, self._disc, self._limit, self._probs, self._cum)

    def predict(self) -> np.ndarray:
        _predict(self._totals, self._heads, self._esym, self._ecnt, self._enext, self._ctx,
                 self._meta, self._disc, self._probs)
        return self._probs.copy()

    def update(self, symbol: int) -> None:
        _update(self._keys, self._totals, self._heads, self._esym, self._ecnt, self._enext,
                self._ctx, self._hist, self._meta, self._limit, symbol)

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress):
        symbols = np.ascontiguousarray(symbols, dtype=np.int64)
        n = len(symbols)
        enc = coder.new_encoder_state()
        out = np.zeros(coder.encoder_capacity(n), dtype=np.uint8)
        bits = np.zeros(n, dtype=np.float32)
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            _encode_chunk(*self._model(), enc, out, symbols, bits, start, stop)
            progress(stop - start)
        return out[: coder.finish_encoder(enc, out)].tobytes(), bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress):
        data = np.frombuffer(payload, dtype=np.uint8)
        dec = coder.new_decoder_state(data)
        symbols = np.zeros(count, dtype=np.int64)
        for start in range(0, count, _CHUNK):
            stop = min(count, start + _CHUNK)
            _decode_chunk(*self._model(), dec, data, symbols, start, stop)
            progress(stop - start)
        return symbols


@hookimpl
def harness_predictors() -> list[type[Predictor]]:
    return [NGram]
