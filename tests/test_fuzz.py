"""Hostile .hz files: random, crafted, truncated and bit-flipped input to the parser and decoder.

Whatever the bytes, the result is the original data or a clean HarnessError: never another
exception, never a hang (a deadline per case), never a large allocation sized by a length field
(tracemalloc, which sees numpy's buffers too), never a partial output file.
docs/reliability.md counts these cases: keep it in step with max_examples.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli, container, wire
from harness.errors import HarnessError

DATA = b"Hostile input must give a clean error, never wrong bytes.\n" * 12
SEGMENT = 100  # several segments in a small file, so segment framing gets fuzzed too
ALLOCATION_LIMIT = 16 << 20
# No deadline: a loaded machine must not fail a correct run. Time is bounded by construction:
# every claim is checked within one segment.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def coded(registry) -> tuple[bytes, int]:
    """A valid file of several segments, and the length of its header."""
    saved, wire.SEGMENT_SYMBOLS = wire.SEGMENT_SYMBOLS, SEGMENT
    try:
        encoded = container.encode(DATA, "order0", registry.build("order0"))
    finally:
        wire.SEGMENT_SYMBOLS = saved
    assert wire.unpack(encoded.container).segment == SEGMENT
    return encoded.container, encoded.header_bytes


@pytest.fixture(scope="module")
def blob(coded) -> bytes:
    return coded[0]


def outcome(registry, data: bytes) -> bytes | None:
    """The decoded bytes, or None for a clean error; anything else fails the test."""
    tracemalloc.start()
    try:
        header = wire.unpack(data)
        return container.decode(header, registry.decoder(header))
    except HarnessError as error:
        assert "\n" not in str(error)
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < ALLOCATION_LIMIT, f"{peak:,} bytes allocated for a {len(data)}-byte file"


def test_fixture_has_several_segments(registry, blob):
    assert outcome(registry, blob) == DATA and len(DATA) // SEGMENT >= 5


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes(registry, data):
    assert outcome(registry, data) is None


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_after_a_valid_prefix(registry, coded, data):
    blob, header_end = coded  # magic, version, spec, config, lengths: then the segments
    assert outcome(registry, blob[:header_end] + data) is None


# Every range: small values, what a legitimate file may claim (order0 codes a million zero bytes
# in a few bytes) and values past any plausible bound. A claim is found out within one segment
# (its CRC), so neither memory nor time grows with what a forged header claims.
varints = st.one_of(st.integers(0, 300), st.integers(301, 2**36), st.integers(2**36, 2**70))


@settings(FUZZ, max_examples=400)
@given(varints, varints, varints, st.lists(varints, max_size=4), st.binary(max_size=40))
def test_crafted_length_fields(registry, monkeypatch, length, symbols, segment, payloads, tail):
    """Well-formed headers whose every length field may lie, up to 2**70."""
    monkeypatch.setattr(wire, "SEGMENT_SYMBOLS", 4096)  # a segment decodes in milliseconds
    v = wire.varint
    config = registry.build("order0").config()
    check = wire.ConfigCheck.of(config, config).encoded()
    data = b"".join(
        [wire.MAGIC, bytes([wire.FORMAT_VERSION]), v(6), b"order0", check]
        + [v(length), v(symbols), v(segment)]
        + [v(n) + bytes(min(n, 50)) + bytes(4) for n in payloads]
        + [tail]
    )
    decoded = outcome(registry, data)
    assert decoded is None or len(decoded) == length  # e.g. a true empty file


def test_a_forged_symbol_count_is_found_out_in_the_first_segment(registry, monkeypatch):
    """A small file claiming many symbols fails at its first segment's CRC, not at the end."""
    monkeypatch.setattr(wire, "SEGMENT_SYMBOLS", 1000)
    blob = container.encode(bytes(10_000), "order0", registry.build("order0")).container
    header = wire.unpack(blob)
    claim = 5 * 10**7  # what a real file of 50 MB of zero bytes could code in this few bytes
    junk = (wire.varint(5) + b"\x12\x34\x56\x78\x9a" + bytes(4)) * 20  # forged segments
    forged = wire.unpack(blob.replace(wire.varint(10_000) * 2, wire.varint(claim) * 2, 1) + junk)
    assert forged.symbols == claim and len(header.payload) < 200
    decoded = []

    def count(n: int) -> None:
        decoded.append(n)

    with pytest.raises(HarnessError, match="CRC"):
        container.decode(forged, registry.decoder(forged), count)
    assert sum(decoded) <= 11_000  # the true segments, then one more at most


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_bit_flips_in_a_segmented_file(registry, blob, data):
    flipped = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, 8 * len(blob) - 1))
        flipped[position // 8] ^= 1 << (position % 8)
    assert outcome(registry, bytes(flipped)) in (None, DATA)


@settings(FUZZ, max_examples=200)
@given(st.data())
def test_truncated_or_extended_segmented_file(registry, blob, data):
    cut = data.draw(st.integers(0, len(blob) - 1))
    assert outcome(registry, blob[:cut]) is None
    assert outcome(registry, blob + data.draw(st.binary(min_size=1, max_size=8))) is None


@settings(FUZZ, max_examples=100)
@given(st.data())
def test_decompress_command_streams_damaged_files_to_no_output(registry, blob, tmp_path, capsys, data):
    """The streaming path of `harness decompress`: clean error, exit 2, nothing written."""
    damaged = bytearray(blob[: data.draw(st.integers(1, len(blob)))])
    position = data.draw(st.integers(0, 8 * len(damaged) - 1))
    damaged[position // 8] ^= 1 << (position % 8)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh folder for every example and replay
    (folder / "x.hz").write_bytes(bytes(damaged))
    code = cli.main(["decompress", str(folder / "x.hz"), "-o", str(folder / "out")])
    error = capsys.readouterr().err
    if code == 0:  # a flip in slack bits of the last segment can leave the data intact
        assert (folder / "out").read_bytes() == DATA
    else:
        assert code == 2 and "harness: error:" in error and "Traceback" not in error
        assert sorted(p.name for p in folder.iterdir()) == ["x.hz"]
