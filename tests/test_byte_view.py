"""The byte-level view of a token distribution: exact (its decisions multiply back to each
symbol's probability) and lossless (decoded through the shared coder)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import coder
from harness.errors import HarnessError
from harness.predictor import decode_in_any_order, encode_in_any_order, whole_symbol
from plugins.hf.byte_view import ByteView

LITERALS = [bytes([b]) for b in range(256)]
TABLE = [b"a", b"ab", b"abc", b"b", b"", b"ab", b"\xff", b"abd", b"ba", *LITERALS]


def distribution(rng: np.random.Generator, table: list[bytes]) -> np.ndarray:
    probs = rng.dirichlet(np.full(len(table), 0.3))
    probs[[not entry for entry in table]] = 0.0  # what stands for no bytes is never coded
    return probs / probs.sum()


def decisions(view: ByteView, probs: np.ndarray, symbol: int) -> list[float]:
    """The probability of each decision the encoder takes for `symbol`."""
    taken = []

    def decide(masses: np.ndarray, index: int | None) -> int:
        taken.append(masses[index] / masses.sum())
        return index

    assert view.code(probs, decide, symbol) == symbol
    return taken


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=4), min_size=1, max_size=24), st.integers(0, 2**32 - 1))
def test_a_symbols_decisions_multiply_to_its_probability(entries, seed):
    table = [*entries, *LITERALS]  # duplicates, prefixes and empty entries included
    rng = np.random.default_rng(seed)
    probs = distribution(rng, table)
    coded = np.array([bool(entry) for entry in table])
    floored = np.where(coded, np.maximum(probs, probs.sum() / coder.TOTAL), 0.0)  # as the coder's floor
    view = ByteView(table)
    for symbol in range(len(table)):
        if table[symbol]:
            taken = decisions(view, probs, symbol)
            assert np.prod(taken) == pytest.approx(floored[symbol] / floored.sum(), rel=1e-9)
            assert len(taken) <= 2 * len(table[symbol]) + 1  # bytes, end decisions, one choice


def test_only_the_decisions_the_table_leaves_open_are_asked():
    view = ByteView(TABLE)
    probs = distribution(np.random.default_rng(1), TABLE)
    assert len(decisions(view, probs, 2)) == 5  # a, end?, b, end?, c (nothing longer: no end asked)
    assert len(decisions(view, probs, 6)) == 2  # \xff, then which of the token and the literal
    assert len(decisions(view, probs, 9 + ord("c"))) == 1  # only the literal is "c" or starts with it
    assert len(decisions(view, probs, 3)) == 3  # b, end? ("ba" goes on), which of the token and the literal
    with pytest.raises(ValueError, match="no bytes"):
        view.code(probs, lambda masses, index: index, 4)


def test_coded_a_byte_at_a_time_decodes_and_costs_what_whole_symbols_do():
    rng = np.random.default_rng(7)
    view = ByteView(TABLE)
    coded = np.flatnonzero([bool(entry) for entry in TABLE])
    dists = [distribution(rng, TABLE) for _ in range(3000)]
    symbols = np.array([rng.choice(coded, p=p[coded] / p[coded].sum()) for p in dists])

    def run(code):
        for position, probs in enumerate(dists):
            code(position, probs)

    by_bytes, bits = encode_in_any_order(len(TABLE), symbols, run, view.code)
    whole, whole_bits = encode_in_any_order(len(TABLE), symbols, run, whole_symbol)
    assert (decode_in_any_order(len(TABLE), by_bytes, len(symbols), run, view.code) == symbols).all()
    assert abs(len(by_bytes) - len(whole)) <= 4
    assert abs(bits.sum() - whole_bits.sum()) < 8


def test_a_decoded_byte_that_no_symbol_has_is_refused():
    """Every byte keeps a sliver of probability (the coder's floor), so a corrupt payload can
    decode one that no table entry continues with."""
    view = ByteView([b"a", b"ab", b"b"])
    with pytest.raises(HarnessError, match="no symbol continues"):
        view.code(np.full(3, 1 / 3), lambda masses, index: 200 if len(masses) == 256 else 0)
