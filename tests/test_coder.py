"""The shared range coder: lossless for any distribution, and close to the ideal code length."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import coder


def _roundtrip(distributions: np.ndarray, symbols: list[int]) -> tuple[bytes, float]:
    encoder = coder.Encoder(distributions.shape[1])
    for i, symbol in enumerate(symbols):
        encoder.encode(symbol, distributions[i % len(distributions)])
    payload = encoder.finish()
    decoder = coder.Decoder(payload, distributions.shape[1])
    decoded = [decoder.decode(distributions[i % len(distributions)]) for i in range(len(symbols))]
    assert decoded == symbols
    return payload, encoder.ideal_bits


# Probabilities drawn over many magnitudes: zeros, denormal-small, near-one after normalising.
probability = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-300, max_value=1e-12),
    st.floats(min_value=1e-12, max_value=1.0),
    st.floats(min_value=1.0, max_value=1e12),
)


@st.composite
def coding_problems(draw):
    alphabet = draw(st.sampled_from([1, 2, 3, 17, 256, 1000, 50257]))
    rows = draw(st.integers(1, 4))
    if alphabet > 1000:
        dense = [draw(st.lists(probability, min_size=8, max_size=8)) for _ in range(rows)]
        distributions = np.zeros((rows, alphabet))
        distributions[:, :8] = dense
    else:
        distributions = np.array(
            [draw(st.lists(probability, min_size=alphabet, max_size=alphabet)) for _ in range(rows)]
        )
    symbols = draw(st.lists(st.integers(0, alphabet - 1), max_size=300))
    return distributions, symbols


@settings(max_examples=150, deadline=None)
@given(coding_problems())
def test_any_distribution_any_symbol_roundtrips(problem):
    distributions, symbols = problem
    _roundtrip(distributions, symbols)


@settings(max_examples=60, deadline=None)
@given(st.lists(probability, min_size=1, max_size=300))
def test_quantize_keeps_every_symbol_codable_with_a_fixed_total(probs):
    cum = np.zeros(len(probs) + 1, dtype=np.uint64)
    coder.quantize(np.array(probs), cum)
    freqs = np.diff(cum.astype(np.int64))
    assert cum[0] == 0 and cum[-1] == coder.TOTAL
    assert (freqs >= 1).all()


def test_quantize_handles_nan_inf_and_all_zero():
    cum = np.zeros(5, dtype=np.uint64)
    coder.quantize(np.array([np.nan, 2.0, -1.0, np.inf]), cum)
    assert np.diff(cum.astype(np.int64)).tolist() == [1, coder.TOTAL - 3, 1, 1]
    for nothing in (np.zeros(4), np.array([np.nan, np.inf, -1.0, 0.0])):
        coder.quantize(nothing, cum)
        assert np.diff(cum.astype(np.int64)).tolist() == [coder.TOTAL // 4] * 4


def test_long_sequence_of_near_certain_symbols():
    # p = 1 - 1e-9 each step: the range shrinks very slowly, carries ripple through 0xFF runs.
    distributions = np.array([[1.0, 1e-9]])
    payload, ideal = _roundtrip(distributions, [0] * 200_000 + [1] + [0] * 1000)
    assert len(payload) * 8 <= ideal + 64


def test_overhead_is_below_a_ten_thousandth_on_100_kb():
    rng = np.random.default_rng(7)
    distributions = rng.dirichlet(np.full(256, 0.05), size=64)
    symbols = [int(rng.choice(256, p=distributions[i % 64])) for i in range(100_000)]
    payload, ideal = _roundtrip(distributions, symbols)
    overhead = 8 * len(payload) - ideal
    assert overhead < 1e-4 * ideal + 64, (overhead, ideal)


def test_ideal_bits_match_minus_log2_of_quantized_frequencies():
    probs = np.array([0.5, 0.25, 0.125, 0.125])
    encoder = coder.Encoder(4)
    for symbol in [0, 1, 2, 3]:
        encoder.encode(symbol, probs)
    assert math.isclose(encoder.ideal_bits, 1 + 2 + 3 + 3, rel_tol=1e-6)


def test_empty_stream_is_empty_and_decodes_nothing():
    assert coder.Encoder(256).finish() == b""
