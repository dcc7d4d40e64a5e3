"""order0's compiled loop: the very bits of the default Python loop, decoded back, across calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.predictor import Predictor
from plugins.order0 import Order0

TEXT = Path(__file__).read_bytes()  # real text, always at hand
RANDOM = np.random.default_rng(0).bytes(4000)


@pytest.mark.parametrize("data", [b"", RANDOM, TEXT], ids=["empty", "random", "text"])
def test_compiled_loop_writes_the_default_loops_bits_and_decodes(data: bytes) -> None:
    symbols = np.frombuffer(data, dtype=np.uint8)
    payload, bits = Order0().encode_symbols(symbols)
    reference, reference_bits = Predictor.encode_symbols(Order0(), symbols)
    assert payload == reference
    assert bits.dtype == reference_bits.dtype == np.float32
    np.testing.assert_array_equal(bits, reference_bits)
    assert Order0().decode_symbols(payload, len(data)).astype(np.uint8).tobytes() == data


def test_calls_on_one_instance_continue_its_counts() -> None:
    """The container codes one segment per call on the same instance."""
    data = TEXT[:3000] + RANDOM[:1000] + TEXT[3000:5000]
    parts = np.split(np.frombuffer(data, dtype=np.uint8), [1500, 3500])
    compiled, generic = Order0(), Order0()
    payloads = []
    for part in parts:
        payload, bits = compiled.encode_symbols(part)
        reference, reference_bits = Predictor.encode_symbols(generic, part)
        assert payload == reference
        np.testing.assert_array_equal(bits, reference_bits)
        payloads.append(payload)
    np.testing.assert_array_equal(compiled.counts, generic.counts)
    decoder = Order0()
    decoded = [decoder.decode_symbols(p, len(part)) for p, part in zip(payloads, parts, strict=True)]
    assert np.concatenate(decoded).astype(np.uint8).tobytes() == data
    np.testing.assert_array_equal(decoder.counts, compiled.counts)
