"""`ngram` (module `plugins.ngram`): interpolated Kneser-Ney over hashed contexts, compiled with numba.

The probability of the next byte s after contexts u_K (the last K bytes) ... u_0 (no bytes) is
built from the longest context down, each order keeping part of the mass for its own counts and
handing the rest to the next shorter one:

    P_k(s) = beta_k * (c_k(s) - D_k(c_k(s))) / C_k  +  (1 - beta_k * seen_k) * P_{k-1}(s)
    seen_k = sum over seen s' of (c_k(s') - D_k(c_k(s'))) / C_k

with P_{-1} uniform, c_k(s) the count of s in context u_k, C_k their sum and D_k(c) a discount
per order and count class (1, 2, 3+: "modified Kneser-Ney"). A context never seen passes
P_{k-1} through. With beta = 1 this is interpolated Kneser-Ney. beta is a secondary estimate
(like PPM's SEE): one value per order, bucket of C_k and bucket of distinct bytes seen, learned
online by gradient descent on the code length, so the model learns how far to trust a sparse or
deterministic context, and nearly stops trusting contexts on data without structure. (beta
learns in `update` from the distribution the preceding `predict` gave; an `update` with no
`predict` before it only counts.)

Counts follow the Kneser-Ney / PPM update-exclusion rule: a byte is counted in the longest
context, and in each shorter one only while it was new in the longer one, so short contexts
count how many different longer contexts a byte followed; that is what makes them good back-off
distributions. A context whose total passes `limit` halves its counts (keeping each >= 1).

Contexts live in one open-addressing hash table (a 31-bit check per slot, so collisions that
merge two contexts are rare and identical in encoder and decoder); each context holds its first
(byte, count) entry inline and links the others in a fixed pool. Both are sized once from
`memory_mib`; when either runs out the model restarts empty, as PPMd does, so memory never
grows with the input.
All arithmetic is sequential float64 without transcendental functions or fastmath, so encoder
and decoder compute bit-identical distributions.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import numpy as np

from harness import coder, container
from harness.hookspecs import hookimpl
from harness.jit import jit
from harness.predictor import Option, Predictor, Progress, no_progress

# Discounts D(1), D(2), D(3+) for orders 0, 1, 2 and 3+, tuned on calgary book2, paper2, news
# and canterbury asyoulik.txt (not on alice29 or book1, whose figures NGram's docstring quotes).
_DISCOUNTS = np.array([[0.35, 0.70, 0.95], [0.60, 0.80, 1.10], [0.73, 1.10, 1.30], [0.78, 1.10, 1.30]])
# beta buckets: floor(log2 C_k) up to 11, times floor(log2 distinct bytes) up to 3.
_TOTAL_BUCKETS, _DISTINCT_BUCKETS = 12, 4
_BETA_MIN, _BETA_MAX = 0.02, 3.0
_KEEP_BACKOFF = 0.02  # a context passes at least this share on, so every byte keeps P > 0

# Node (context) columns. FIRST holds the context's first (count << 8 | byte) entry inline, 0
# while empty, and MORE links the others: most long contexts have one byte, which then costs no
# second cache miss. N1/N2/N3 count the entries whose count is 1, 2 and 3 or more, so the
# back-off mass needs no walk over the list. Rows are 32 bytes, aligned to cache lines.
_CHECK, _TOTAL, _FIRST, _MORE, _N1, _N2, _N3 = range(7)
_NODE_COLUMNS = 8
_NODE_BYTES = _NODE_COLUMNS * 4
# Entry columns: next entry of the same context (-1 ends), count << 8 | byte.
_NEXT, _COUNT_BYTE = 0, 1
_ENTRY_BYTES = 2 * 4
_MAX_LIMIT = (1 << 22) - 1  # counts must stay below 2**23 to fit beside the byte
# Columns of `trace`, what `_predict` did at each order, for `_learn`.
_WEIGHT, _SEEN, _BUCKET, _BETA = range(4)
# Slots of `pool`, the tables' own counters (shared by all streams over them; `streams` counts
# those streams).
_NODES_USED, _ENTRIES_USED, _RESTARTS, _STREAMS = range(4)
# Slots of `meta`, one stream's. STEP numbers the predictions; PREDICTED says the last call was
# `_predict`; FOUND_AT is pool[_RESTARTS] when `ctx` was found (a stream sharing the tables may
# have restarted them since).
_STEP, _PREDICTED, _FOUND_AT = range(3)

_MULT = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 1 << 14  # symbols per compiled call: between them come progress reports and signals (Ctrl-C, kill)


class _Model(NamedTuple):
    """All model state, as arrays a numba loop can carry from one call to the next."""

    nodes: np.ndarray  # int32 (slots, 8): the context hash table
    entries: np.ndarray  # int32 (pool, 2): the (byte, count) entries after each context's first
    pool: np.ndarray  # int64 (4,): the tables' counters, see _NODES_USED...
    ctx: np.ndarray  # int64 (order + 1,): the slot of each order's current context
    hist: np.ndarray  # uint8: the last `order` bytes, newest first
    meta: np.ndarray  # int64 (3,): this stream's counters, see _STEP...
    disc: np.ndarray  # float64 (order + 1, 3): discounts
    beta: np.ndarray  # float64 (order + 1, buckets): learned trust
    trace: np.ndarray  # float64 (order + 1, 4): see _WEIGHT...
    share: np.ndarray  # float64 (order + 1, 256): (c - D) / C of each byte seen at each order...
    stamp: np.ndarray  # int64 (order + 1, 256): ...valid where stamp == meta[_STEP]
    probs: np.ndarray  # float64 (256,): the last prediction
    cum: np.ndarray  # uint64 (257,): its quantized cumulative frequencies
    limit: int
    rate: float


_OWN_BY_EACH_STREAM = ("ctx", "hist", "meta", "trace", "share", "stamp", "probs", "cum")
"""The fields of `_Model` a stream has for itself; the tables, their counters and beta are shared."""


@jit
def _lookup(nodes: np.ndarray, pool: np.ndarray, h: np.uint64) -> int:
    """The slot of the context with hash `h`, added empty if absent."""
    n = nodes.shape[0]
    i = np.int64(((h >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))
    check = np.int32(h & np.uint64(0x7FFFFFFF)) | np.int32(1)
    while True:
        found = nodes[i, _CHECK]
        if found == check:
            return i
        if found == 0:
            nodes[i, _CHECK] = check
            nodes[i, _TOTAL] = 0
            nodes[i, _FIRST] = 0
            nodes[i, _MORE] = -1
            nodes[i, _N1] = 0
            nodes[i, _N2] = 0
            nodes[i, _N3] = 0
            pool[_NODES_USED] += 1
            return i
        i += 1
        if i == n:
            i = 0


@jit
def _find_contexts(m: _Model) -> None:
    h = _MULT
    m.ctx[0] = _lookup(m.nodes, m.pool, h)
    for k in range(1, m.ctx.shape[0]):
        h = (h ^ np.uint64(m.hist[k - 1] + 1)) * _MULT
        h ^= h >> np.uint64(29)
        m.ctx[k] = _lookup(m.nodes, m.pool, h)
    m.meta[_FOUND_AT] = m.pool[_RESTARTS]


@jit
def _log2_bucket(n: int, top: int) -> int:
    b = 0
    while n > 1 and b < top:
        n >>= 1
        b += 1
    return b


@jit
def _predict(m: _Model) -> None:
    """Fill m.probs with the distribution of the next byte."""
    if m.meta[_FOUND_AT] != m.pool[_RESTARTS]:  # another stream restarted the shared tables
        _find_contexts(m)
    probs = m.probs
    probs[:] = 0.0
    m.meta[_STEP] += 1
    m.meta[_PREDICTED] = 1
    step = m.meta[_STEP]
    weight = 1.0  # mass the longer contexts left to this order and below
    for k in range(m.ctx.shape[0] - 1, -1, -1):
        node = m.ctx[k]
        total = m.nodes[node, _TOTAL]
        m.trace[k, _WEIGHT] = weight
        m.trace[k, _SEEN] = 0.0
        if total == 0:
            continue
        n1, n2, n3 = m.nodes[node, _N1], m.nodes[node, _N2], m.nodes[node, _N3]
        d1, d2, d3 = m.disc[k, 0], m.disc[k, 1], m.disc[k, 2]
        inverse = 1.0 / total
        seen = 1.0 - (d1 * n1 + d2 * n2 + d3 * n3) * inverse
        bucket = _log2_bucket(total, _TOTAL_BUCKETS - 1) * _DISTINCT_BUCKETS + _log2_bucket(
            n1 + n2 + n3, _DISTINCT_BUCKETS - 1
        )
        beta = min(m.beta[k, bucket], (1.0 - _KEEP_BACKOFF) / seen)
        entry = m.nodes[node, _FIRST]
        e = m.nodes[node, _MORE]
        while True:
            c = entry >> 8
            byte = entry & 255
            share = (c - (d1 if c == 1 else (d2 if c == 2 else d3))) * inverse
            m.share[k, byte] = share
            m.stamp[k, byte] = step
            probs[byte] += weight * beta * share
            if e < 0:
                break
            entry = m.entries[e, _COUNT_BYTE]
            e = m.entries[e, _NEXT]
        m.trace[k, _SEEN] = seen
        m.trace[k, _BUCKET] = bucket
        m.trace[k, _BETA] = beta
        weight *= 1.0 - beta * seen
    uniform = weight / 256.0
    for s in range(256):
        probs[s] += uniform


@jit
def _learn(m: _Model, symbol: int) -> None:
    """Move each beta used by the last prediction along the gradient of log P(symbol)."""
    step = m.meta[_STEP]
    p = 1.0 / 256.0  # P_{k-1}(symbol), rebuilt from the shortest context up
    for k in range(m.ctx.shape[0]):
        seen = m.trace[k, _SEEN]
        if seen == 0.0:
            continue
        share = m.share[k, symbol] if m.stamp[k, symbol] == step else 0.0
        beta = m.trace[k, _BETA]
        gradient = m.trace[k, _WEIGHT] * (share - seen * p) / m.probs[symbol]
        bucket = np.int64(m.trace[k, _BUCKET])
        m.beta[k, bucket] = min(max(beta + m.rate * gradient, _BETA_MIN), _BETA_MAX)
        p = beta * share + (1.0 - beta * seen) * p


@jit
def _halved(entry: int) -> int:
    c = entry >> 8
    return ((c - (c >> 1)) << 8) | (entry & 255)


@jit
def _halve(nodes: np.ndarray, entries: np.ndarray, node: int) -> None:
    nodes[node, _FIRST] = _halved(nodes[node, _FIRST])
    c = nodes[node, _FIRST] >> 8
    total, n1, n2, n3 = c, c == 1, c == 2, c >= 3
    e = nodes[node, _MORE]
    while e >= 0:
        entries[e, _COUNT_BYTE] = _halved(entries[e, _COUNT_BYTE])
        c = entries[e, _COUNT_BYTE] >> 8
        total += c
        n1 += c == 1
        n2 += c == 2
        n3 += c >= 3
        e = entries[e, _NEXT]
    nodes[node, _TOTAL] = total
    nodes[node, _N1] = n1
    nodes[node, _N2] = n2
    nodes[node, _N3] = n3


@jit
def _count(m: _Model, symbol: int) -> None:
    nodes, entries, pool = m.nodes, m.entries, m.pool
    for k in range(m.ctx.shape[0] - 1, -1, -1):
        node = m.ctx[k]
        nodes[node, _TOTAL] += 1
        if nodes[node, _FIRST] & 255 == symbol and nodes[node, _FIRST] != 0:
            c = nodes[node, _FIRST] >> 8
            nodes[node, _FIRST] += 256
        else:
            e = nodes[node, _MORE]
            while e >= 0 and (entries[e, _COUNT_BYTE] & 255) != symbol:
                e = entries[e, _NEXT]
            if e < 0:  # new in this context: count it in the next shorter one too
                nodes[node, _N1] += 1
                if nodes[node, _FIRST] == 0:
                    nodes[node, _FIRST] = 256 | symbol
                else:
                    e = pool[_ENTRIES_USED]
                    pool[_ENTRIES_USED] += 1
                    entries[e, _NEXT] = nodes[node, _MORE]
                    entries[e, _COUNT_BYTE] = 256 | symbol
                    nodes[node, _MORE] = e
                continue
            c = entries[e, _COUNT_BYTE] >> 8
            entries[e, _COUNT_BYTE] += 256
        # Seen here before: shorter contexts keep their counts (update exclusion).
        if c == 1:
            nodes[node, _N1] -= 1
            nodes[node, _N2] += 1
        elif c == 2:
            nodes[node, _N2] -= 1
            nodes[node, _N3] += 1
        if nodes[node, _TOTAL] > m.limit:
            _halve(nodes, entries, node)
        return


@jit
def _update(m: _Model, symbol: int) -> None:
    """Learn `symbol` and move to the contexts that follow it."""
    if m.meta[_PREDICTED]:
        _learn(m, symbol)
        m.meta[_PREDICTED] = 0
    _count(m, symbol)
    hist = m.hist
    for j in range(hist.shape[0] - 1, 0, -1):
        hist[j] = hist[j - 1]
    hist[0] = symbol
    # The next step adds at most one node and one entry per order: restart now if they may not
    # fit. Where streams share the tables, another stream's step (and its contexts found again
    # after a restart) may come before this one's next check: room for two.
    pool = m.pool
    room = m.ctx.shape[0] * (2 if pool[_STREAMS] > 1 else 1)
    if pool[_NODES_USED] + room > m.nodes.shape[0] * 3 // 4 or pool[_ENTRIES_USED] + room > m.entries.shape[0]:
        m.nodes[:, _CHECK] = 0
        pool[_NODES_USED] = 0
        pool[_ENTRIES_USED] = 0
        pool[_RESTARTS] += 1
    _find_contexts(m)


@jit
def _encode_chunk(
    m: _Model,
    enc: np.ndarray,
    out: np.ndarray,
    symbols: np.ndarray,
    bits: np.ndarray,
    start: int,
    stop: int,
) -> None:
    for i in range(start, stop):
        s = np.int64(symbols[i])
        _predict(m)
        bits[i] = coder.encode_step(enc, out, m.probs, m.cum, s)
        _update(m, s)


@jit
def _decode_chunk(m: _Model, dec: np.ndarray, payload: np.ndarray, symbols: np.ndarray, start: int, stop: int) -> None:
    for i in range(start, stop):
        _predict(m)
        s = coder.decode_step(dec, payload, m.probs, m.cum)
        symbols[i] = s
        _update(m, s)


class NGram(Predictor):
    """Order-`order` byte contexts, Kneser-Ney smoothing with learned trust per context kind.

    Defaults: order 7, memory_mib 64, limit 1024, rate 0.005. What it measures is in the
    published tables (results/README.md) beside PPMd and bzip2; its speed, with
    benchmarks/ngram_speed.py.

    `params` is what the model holds: the contexts stored plus the (context, byte) counters of
    the pool in use, read when it is asked (after coding: what the input made it learn; it
    starts again from nothing after a restart). `flops_per_symbol` estimates the model's own
    arithmetic per byte (the coder's `quantize` excluded): 2 x 256 to clear and flatten the
    distribution, and per order ~20 entries visited x ~8 operations plus ~30 for hashing,
    back-off weights and the beta gradient (order 7 on English text visits ~170 entries).
    """

    name = "ngram"
    description = "order-N byte contexts, Kneser-Ney smoothing with learned trust (PPM class)"
    options = {
        "order": Option(7, "longest context in bytes", 0, 64),
        "memory_mib": Option(64, "memory for contexts and counts; the model restarts when it is full", 1, 1 << 20),
        "limit": Option(1024, "counts are halved when a context's total reaches this", 2, _MAX_LIMIT),
        "rate": Option(0.005, "learning rate of the trust in each context kind", 0.0, 1.0),
    }
    model_bytes = 0
    shares_streams = True

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        """The budget for contexts and counts, coding a segment (its symbols as bytes and int64,
        their code lengths, the coder's output)."""
        return (settings["memory_mib"] << 20) + container.segment_coding_bytes(symbols)

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        order, memory_mib, limit, rate = (self.settings[k] for k in ("order", "memory_mib", "limit", "rate"))
        budget = memory_mib << 20
        # 85% for contexts: English text needs ~0.8 pool entries per context at 3/4 table load.
        slots = budget * 85 // 100 // _NODE_BYTES
        pool = (budget - slots * _NODE_BYTES) // _ENTRY_BYTES
        orders = order + 1
        self.flops_per_symbol = 2 * 256.0 + orders * (20 * 8 + 30)
        self._model = _Model(
            nodes=coder.aligned_zeros(slots, _NODE_COLUMNS),
            entries=np.zeros((pool, 2), dtype=np.int32),
            pool=np.array([0, 0, 0, 1], dtype=np.int64),
            ctx=np.zeros(orders, dtype=np.int64),
            hist=np.zeros(max(order, 1), dtype=np.uint8),
            meta=np.zeros(3, dtype=np.int64),
            disc=np.ascontiguousarray(_DISCOUNTS[np.minimum(np.arange(orders), len(_DISCOUNTS) - 1)]),
            beta=np.ones((orders, _TOTAL_BUCKETS * _DISTINCT_BUCKETS)),
            trace=np.zeros((orders, 4)),
            share=np.zeros((orders, 256)),
            stamp=np.zeros((orders, 256), dtype=np.int64),
            probs=np.zeros(256),
            cum=np.zeros(257, dtype=np.uint64),
            limit=int(limit),
            rate=float(rate),
        )
        _find_contexts(self._model)

    def stream(self) -> NGram:
        """Another sequence over this model's tables and learned trust: it has its own context
        and history, and what either stream counts serves both."""
        other = copy.copy(self)
        m = self._model
        m.pool[_STREAMS] += 1
        other._model = m._replace(
            **{name: np.zeros_like(getattr(m, name)) for name in _OWN_BY_EACH_STREAM},
        )
        _find_contexts(other._model)
        return other

    @property
    def params(self) -> int:
        pool = self._model.pool
        return int(pool[_NODES_USED] + pool[_ENTRIES_USED])

    @property
    def restarts(self) -> int:
        """How many times the model ran out of memory and started over."""
        return int(self._model.pool[_RESTARTS])

    def predict(self) -> np.ndarray:
        _predict(self._model)
        return self._model.probs.copy()

    def update(self, symbol: int) -> None:
        _update(self._model, int(symbol))

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        symbols = np.ascontiguousarray(symbols, dtype=np.uint8)
        n = len(symbols)
        enc = coder.new_encoder_state()
        out = np.zeros(coder.encoder_capacity(n), dtype=np.uint8)
        bits = np.zeros(n, dtype=np.float32)
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            _encode_chunk(self._model, enc, out, symbols, bits, start, stop)
            progress(stop - start)
        return out[: coder.finish_encoder(enc, out)].tobytes(), bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        data = np.frombuffer(payload, dtype=np.uint8)
        dec = coder.new_decoder_state(data)
        symbols = np.zeros(count, dtype=np.int64)
        for start in range(0, count, _CHUNK):
            stop = min(count, start + _CHUNK)
            _decode_chunk(self._model, dec, data, symbols, start, stop)
            progress(stop - start)
        return symbols


@hookimpl
def harness_predictors() -> list[type[Predictor]]:
    return [NGram]
