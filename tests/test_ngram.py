"""The n-gram predictor: exact round trips, fused loop == generic loop, and its compression."""

from __future__ import annotations

import numpy as np
import pytest

from harness.conformance import code_in_lockstep, decode_in_lockstep
from harness.predictor import Predictor
from plugins.ngram import NGram
from tests.conftest import SHARED

ALICE = SHARED / "corpora" / "canterbury" / "alice29.txt"
TEXT = (
    b"It was the best of times, it was the worst of times, it was the age of wisdom, it was "
    b"the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.\n"
) * 12


def symbols_of(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def round_trip(data: bytes, **settings: object) -> bytes:
    payload, bits = NGram(**settings).encode_symbols(symbols_of(data))
    assert bits.shape == (len(data),) and bits.dtype == np.float32
    decoded = NGram(**settings).decode_symbols(payload, len(data))
    assert decoded.astype(np.uint8).tobytes() == data
    return payload


@pytest.mark.parametrize(
    "data",
    [b"", b"x", np.random.default_rng(1).bytes(5000), TEXT],
    ids=["empty", "one-byte", "random", "text"],
)
def test_round_trip(data: bytes) -> None:
    round_trip(data)


def test_round_trip_through_restarts() -> None:
    data = TEXT + np.random.default_rng(2).bytes(30000) + TEXT  # overflows a 1 MiB model
    model = NGram(memory_mib=1)
    payload, _ = model.encode_symbols(symbols_of(data))
    assert model.restarts > 0
    decoded = NGram(memory_mib=1).decode_symbols(payload, len(data))
    assert decoded.astype(np.uint8).tobytes() == data


def test_text_compresses_and_random_data_costs_about_8_bits() -> None:
    assert 8 * len(round_trip(TEXT)) / len(TEXT) < 1.5
    noise = np.random.default_rng(3).bytes(20000)
    assert 8 * len(round_trip(noise)) / len(noise) < 8.2


def test_fused_loop_matches_generic_loop() -> None:
    data = TEXT[:1500] + np.random.default_rng(4).bytes(500) + TEXT[:1000]
    fused_payload, fused_bits = NGram().encode_symbols(symbols_of(data))
    generic_payload, generic_bits = Predictor.encode_symbols(NGram(), symbols_of(data))
    assert fused_payload == generic_payload
    np.testing.assert_array_equal(fused_bits, generic_bits)
    generic_decoded = Predictor.decode_symbols(NGram(), fused_payload, len(data))
    assert generic_decoded.astype(np.uint8).tobytes() == data


def test_predictions_are_distributions() -> None:
    model = NGram()
    for symbol in symbols_of(TEXT[:400]):
        probs = model.predict()
        assert probs.shape == (256,) and probs.dtype == np.float64
        assert np.all(probs > 0)
        assert abs(probs.sum() - 1.0) < 1e-9
        model.update(int(symbol))


def test_fresh_instances_are_deterministic() -> None:
    data = TEXT + np.random.default_rng(5).bytes(1000)
    assert NGram().encode_symbols(symbols_of(data))[0] == NGram().encode_symbols(symbols_of(data))[0]


@pytest.mark.parametrize("order", [0, 1, 3, 8])
def test_other_orders_round_trip(order: int) -> None:
    round_trip(TEXT, order=order)


@pytest.mark.skipif(not ALICE.is_file(), reason="shared corpora not present")
def test_alice_under_2_2_bits_per_byte() -> None:
    data = ALICE.read_bytes()
    payload = round_trip(data)
    assert 8 * len(payload) / len(data) <= 2.2


def test_streams_share_one_model_and_decode_exactly() -> None:
    first = NGram(order=4, memory_mib=1)
    first.encode_symbols(symbols_of(TEXT))
    learnt, fresh, once = first.stream(), NGram(order=4, memory_mib=1), symbols_of(TEXT[: len(TEXT) // 12])
    assert len(learnt.encode_symbols(once)[0]) < len(fresh.encode_symbols(once)[0]) / 4
    assert learnt.params == first.params  # the same tables, counted once by whoever reads either

    rng = np.random.default_rng(5)
    rows = [(TEXT * 4)[:6000], rng.bytes(6000), (TEXT * 4)[500:6500], rng.bytes(6000)]  # random rows overflow 1 MiB

    encoder = NGram(order=4, memory_mib=1)
    payload = code_in_lockstep(encoder, rows)
    assert encoder.restarts > 0  # the tables filled and all four streams started again
    assert decode_in_lockstep(NGram(order=4, memory_mib=1), payload, 4, 6000) == rows
