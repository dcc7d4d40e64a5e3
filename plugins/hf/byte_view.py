"""The byte-level view of a tokenizing predictor: its choice of the next symbol, coded a byte at a time.

At a token boundary the model gives p(s) over its symbols (token ids and literal bytes), each
standing for a byte string. Coding the chosen symbol's bytes one at a time, by the chain rule over
the trie of those strings, loses nothing. With M(x) the mass of the symbols whose bytes start
with x, and E(x) the mass of those whose bytes are exactly x:

    p(next byte is b | bytes x so far, the symbol goes on)  = M(x + b) / (M(x) - E(x))
    p(the symbol ends | bytes x so far)                     = E(x) / M(x)
    p(symbol s | it ends at x)                              = p(s) / E(x)

A symbol's decisions, in order: its first byte; after each byte, whether it ends there (asked
only where some symbol ends there and some goes on), and if not, the next byte; once it ends,
which of the symbols with exactly these bytes it is (asked only where there are several: a
literal byte and a one-byte token, or two ids the table maps to the same bytes). The product of
a symbol's decisions telescopes to p(s) / M(b""), which is p(s) itself once the symbols that
stand for no bytes (never emitted) hold no mass; only the coder's rounding of each decision
differs from coding the symbol whole. As coding a symbol whole does, every symbol keeps at least
2**-30 of the mass, so an event the model all but ruled out costs about 30 bits either way,
not that plus a choice among near-zero masses.

Which decisions are asked depends on the table alone, never on the probabilities, so a decoder
asks the same ones. With the symbols sorted by their bytes, those that share a prefix form one
contiguous range (the one that is exactly the prefix first), so each mass is a difference of
prefix sums, and the ranges of all 256 next bytes come from one binary search.

This is what lets a token model take part in byte- and bit-level mixing: its distribution over
the next byte, and the end of a token as one more decision.
"""

from __future__ import annotations

import numpy as np

from harness import coder
from harness.errors import HarnessError
from harness.predictor import Decide

_BYTE_VALUES = np.arange(257)
_NO_BYTE = -1
"""Where a symbol's bytes have ended: sorts before every byte, as a prefix sorts before its
extensions."""


class ByteView:
    """The trie of a symbol -> bytes table, as the symbols sorted by their bytes."""

    def __init__(self, table: list[bytes]) -> None:
        coded = [s for s, entry in enumerate(table) if entry]  # no bytes: never emitted, never coded
        self.order = np.array(sorted(coded, key=table.__getitem__), dtype=np.int64)
        longest = max(map(len, table), default=0)
        columns = np.full((len(self.order), longest), _NO_BYTE, dtype=np.int16)
        for row, symbol in enumerate(self.order.tolist()):
            columns[row, : len(table[symbol])] = np.frombuffer(table[symbol], dtype=np.uint8)
        self.columns = np.asfortranarray(columns)
        """columns[:, d]: the byte at depth d of each sorted symbol (contiguous per depth)."""
        self.rank = np.full(len(table), -1, dtype=np.int64)
        self.rank[self.order] = np.arange(len(self.order))
        self.lengths = np.array([len(entry) for entry in table], dtype=np.int64)

    def code(
        self, probs: np.ndarray, decide: Decide, symbol: int | None = None, code_byte: Decide | None = None
    ) -> int:
        """Code one symbol under `probs` (over the table's symbols) as its byte decisions, each
        under unnormalised masses (a `Split`); the encoder passes `symbol`, the decoder None.
        `code_byte` codes the bytes where they are not `decide`'s (a mix codes them with its
        other models, these masses one of its inputs)."""
        if symbol is not None and self.rank[symbol] < 0:
            raise ValueError(f"symbol {symbol} stands for no bytes: it cannot be coded")
        coded = probs[self.order]
        coded = np.maximum(coded, coded.sum() / coder.TOTAL)  # the floor coding a symbol whole gives it
        cum = np.concatenate([[0.0], np.cumsum(coded, dtype=np.float64)])
        target = None if symbol is None else self._bytes(symbol)
        lo, hi, depth = 0, len(self.order), 0
        while True:
            if depth:
                ends = self._ending(lo, hi, depth)
                if lo < ends < hi:  # some symbols end here, some go on
                    masses = np.array([cum[ends] - cum[lo], cum[hi] - cum[ends]])
                    if decide(masses, _ends(target, depth)) == 0:
                        hi = ends
                if ends == hi:
                    return self._choose(cum, lo, hi, decide, symbol)
            bounds = lo + np.searchsorted(self.columns[lo:hi, depth], _BYTE_VALUES)
            byte = (code_byte or decide)(cum[bounds[1:]] - cum[bounds[:-1]], None if target is None else target[depth])
            lo, hi, depth = int(bounds[byte]), int(bounds[byte + 1]), depth + 1
            if lo == hi:
                raise HarnessError("not a valid .hz file: a byte no symbol continues with was decoded")

    def _ending(self, lo: int, hi: int, depth: int) -> int:
        """Where the symbols sorted at lo..hi that are exactly their first `depth` bytes end
        (they sort first)."""
        if depth == self.columns.shape[1]:
            return hi
        return lo + int(np.searchsorted(self.columns[lo:hi, depth], 0))

    def _choose(self, cum: np.ndarray, lo: int, hi: int, decide: Decide, symbol: int | None) -> int:
        """Which of the symbols sorted at lo..hi (the same bytes) it is."""
        if hi - lo == 1:
            return int(self.order[lo])
        index = None if symbol is None else int(self.rank[symbol]) - lo
        return int(self.order[lo + decide(np.diff(cum[lo : hi + 1]), index)])

    def _bytes(self, symbol: int) -> bytes:
        return self.columns[self.rank[symbol], : self.lengths[symbol]].astype(np.uint8).tobytes()


def _ends(target: bytes | None, depth: int) -> int | None:
    """The end decision's index for the encoder: 0 where its symbol ends, 1 where it goes on."""
    return None if target is None else int(len(target) > depth)
