"""The .hz container: round trips, and damaged or mismatched files never decode to wrong bytes."""

import dataclasses
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import container, wire
from harness.errors import HarnessError

SPEC = "order0"


def compress(registry, data: bytes, spec: str = SPEC) -> bytes:
    return container.encode(data, spec, registry.build(spec)).container


def decompress(registry, blob: bytes) -> bytes:
    header = wire.unpack(blob)
    return container.decode(header, registry.build(header.spec))


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 3, bytes(range(256)) * 4, b"hello, world\n" * 50])
def test_roundtrip(registry, data):
    assert decompress(registry, compress(registry, data)) == data


def test_header_records_spec_config_length_and_crc(registry):
    header = wire.unpack(compress(registry, b"abcabc"))
    assert header.spec == SPEC
    config = registry.build(SPEC).config()
    assert header.check == wire.ConfigCheck.of(config, config) and header.config is None
    assert (header.length, header.symbols) == (6, 6)


DATA = b"The quick brown fox jumps over the lazy dog. " * 20


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_file_is_an_error(registry, data):
    blob = compress(registry, DATA)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(HarnessError):
        decompress(registry, blob[:cut])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bit_flip_is_an_error_never_wrong_bytes(registry, data):
    blob = bytearray(compress(registry, DATA))
    position = data.draw(st.integers(0, 8 * len(blob) - 1))
    blob[position // 8] ^= 1 << (position % 8)
    try:
        decoded = decompress(registry, bytes(blob))
    except HarnessError:
        return
    # Only a flip in the payload's slack bits may leave the content intact.
    assert decoded == DATA


def test_trailing_garbage_is_an_error(registry):
    with pytest.raises(HarnessError, match="unexpected bytes"):
        decompress(registry, compress(registry, DATA) + b"x")


def test_wrong_predictor_config_is_refused_naming_the_difference(registry):
    blob = compress(registry, DATA)
    header = wire.unpack(blob)
    config = registry.build(SPEC).config()
    forged = dataclasses.replace(header, check=wire.ConfigCheck.of({**config, "version": 99}, config))
    here = rf"differs: version \(here {config['version']}\)"
    with pytest.raises(HarnessError, match=here):
        container.decode(forged, registry.build(forged.spec))
    with pytest.raises(HarnessError, match=here):  # before building, too
        registry.decoder(forged)


def test_a_default_ngram_header_is_compact(registry):
    encoded = container.encode(DATA, "ngram", registry.build("ngram"))
    assert encoded.header_bytes <= 32 and wire.unpack(encoded.container).check is not None


def test_other_predictor_cannot_decode(registry):
    header = wire.unpack(compress(registry, DATA))
    with pytest.raises(HarnessError, match="another predictor"):
        container.decode(header, registry.build("ngram"))


def test_implausible_symbol_count_is_refused_before_allocating():
    v = wire.varint
    blob = b"".join(
        [
            wire.MAGIC,
            bytes([wire.FORMAT_VERSION]),
            v(6),
            b"order0",
            wire.ConfigCheck.of({}, {}).encoded(),
            v(10),
            v(2**60),
            bytes(4),
            v(1),
            b"\x00",
        ]
    )
    with pytest.raises(HarnessError, match="implausible"):
        wire.unpack(blob)


def test_not_a_container():
    with pytest.raises(HarnessError, match="bad magic"):
        wire.unpack(b"PK\x03\x04 a zip file")


def test_format_2_files_still_decode(registry):
    """Format 2 had one CRC of the original in the header and none after the segments."""
    predictor = registry.build(SPEC)
    payload, _ = predictor.encode_symbols(np.frombuffer(DATA, dtype=np.uint8))
    config = wire.canonical_json(registry.build(SPEC).config()).encode()
    v = wire.varint
    header = [wire.MAGIC, bytes([2]), v(len(SPEC)), SPEC.encode(), v(len(config)), config]
    fields = [v(len(DATA)), v(len(DATA)), v(wire.SEGMENT_SYMBOLS), zlib.crc32(DATA).to_bytes(4, "big")]
    old = b"".join(header + fields + [v(len(payload)), payload])
    assert decompress(registry, old) == DATA
    damaged = old[:-4] + bytes([old[-4] ^ 1]) + old[-3:]
    with pytest.raises(HarnessError, match="CRC|corrupt"):
        decompress(registry, damaged)
