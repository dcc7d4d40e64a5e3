import io
import struct
import sys
from pathlib import Path

import numpy as np
import pyppmd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import baselines
from harness.errors import HarnessError
from plugins import baselines as classic
from plugins.baselines import standard_baselines
from tests.conftest import SHARED

BASELINES = {b.name: b for b in standard_baselines()}

SAMPLES = {
    "empty": b"",
    "one byte": b"\x00",
    "random": np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
    # Long enough that zpaq's 1 KB of archive (header, name, model) still fits in a tenth.
    "text": "Le cœur a ses raisons que la raison ne connaît point.\n".encode() * 1000,
}


def test_all_six_are_available_here():
    for optional in ("zstandard", "brotli", "pyppmd"):
        pytest.importorskip(optional)
    assert list(BASELINES)[:6] == ["gzip -9", "bzip2 -9", "xz -9e", "zstd -19", "brotli -q 11", "ppmd -o6"]
    assert list(BASELINES)[6:] in ([], ["zpaq -m4", "zpaq -m5"])  # where the zpaq tool is installed
    assert [b.name for b in classic.harness_baselines()] == list(BASELINES)
    assert all(b.version and b.description for b in BASELINES.values())


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("name", BASELINES)
def test_round_trip(name, sample):
    baseline = BASELINES[name]
    data = SAMPLES[sample]
    packed = baselines.compress(baseline, data)
    assert baselines.decompress(baseline, packed) == data
    if sample == "text":
        assert len(packed) < len(data) / 10


@pytest.mark.parametrize("name", BASELINES)
@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=300))
def test_round_trip_any_bytes(name, data):
    baseline = BASELINES[name]
    assert baselines.decompress(baseline, baselines.compress(baseline, data)) == data


def test_missing_optional_library_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "brotli", None)  # makes `import brotli` raise ImportError
    assert "brotli -q 11" not in [b.name for b in standard_baselines()]


# Sizes of calgary/book1 (768,771 bytes) from the command-line tools (gzip 1.12, bzip2 1.0.8,
# xz 5.4.1). In-process gzip stores no file name and zlib's deflate differs slightly from
# gzip's own; xz -9e is a little larger than xz -9 on this file.
BOOK1 = {"gzip -9": 312_281, "bzip2 -9": 232_598, "xz -9e": 261_116}


@pytest.mark.skipif(not (SHARED / "corpora").is_dir(), reason="needs ../shared/corpora")
@pytest.mark.parametrize("name", BOOK1)
def test_book1_sizes_match_the_command_line_tools(name):
    data = (SHARED / "corpora" / "calgary" / "book1").read_bytes()
    assert len(baselines.compress(BASELINES[name], data)) == pytest.approx(BOOK1[name], rel=0.002)


TEXT = Path(classic.__file__).read_bytes() * 4


@pytest.mark.parametrize("name", BASELINES)
def test_streamed_decompression_gives_bounded_pieces_whatever_the_ratio(name, monkeypatch):
    monkeypatch.setattr(classic, "PPMD_BLOCK", 1 << 20)
    baseline = BASELINES[name]
    for data in (TEXT, bytes(4 << 20)):  # 4 MB of zeros packs into a few KB
        packed = io.BytesIO()
        baselines.compress_stream(baseline, io.BytesIO(data), packed, len(data))
        pieces = list(baseline.unstream(io.BytesIO(packed.getvalue())))
        assert b"".join(pieces) == data
        assert max(map(len, pieces)) <= 2 * baselines.STREAM_CHUNK  # brotli's limit is loose, up to 2x
        out = io.BytesIO()
        assert baselines.decompress_stream(baseline, io.BytesIO(packed.getvalue()), out) == len(data)
        assert out.getvalue() == data


@pytest.mark.parametrize("name", BASELINES)
def test_truncated_streams_are_a_harness_error(name):
    baseline = BASELINES[name]
    packed = baselines.compress(baseline, TEXT)
    for cut in (5, len(packed) // 2, len(packed) - 1):  # (an empty file is zero gzip members: no error)
        with pytest.raises(HarnessError, match=f"{name} cannot decompress"):
            baselines.decompress_stream(baseline, io.BytesIO(packed[:cut]), io.BytesIO())


def test_ppmd_blocks_round_trip_across_block_boundaries(monkeypatch):
    monkeypatch.setattr(classic, "PPMD_BLOCK", 1000)
    monkeypatch.setattr(baselines, "STREAM_CHUNK", 300)
    ppmd = BASELINES["ppmd -o6"]
    for n in (0, 1, 999, 1000, 1001, 2000, 2001, 4567):
        data = TEXT[:n]
        packed = baselines.compress(ppmd, data)
        streamed = io.BytesIO()
        baselines.compress_stream(ppmd, io.BytesIO(data), streamed, n)
        assert streamed.getvalue() == packed
        assert baselines.decompress(ppmd, packed) == data
        assert b"".join(ppmd.unstream(io.BytesIO(packed))) == data
    # 8-byte length, then every block but the last preceded by its coded size; each block is
    # a PPMd stream of its own, so the first one decodes by itself.
    packed = baselines.compress(ppmd, TEXT[:2500])
    assert struct.unpack_from("<Q", packed) == (2500,)
    (first,) = struct.unpack_from("<I", packed, 8)
    assert pyppmd.Ppmd7Decoder(6, 16 << 20).decode(packed[12 : 12 + first], 1000) == TEXT[:1000]


def test_ppmd_of_one_block_is_one_plain_ppmd_stream():
    """So results on inputs under PPMD_BLOCK are those of the whole-stream coder, byte for byte."""
    data = TEXT[:50_000]
    encoder = pyppmd.Ppmd7Encoder(6, 16 << 20)
    plain = struct.pack("<Q", len(data)) + encoder.encode(bytes(data)) + encoder.flush()
    assert baselines.compress(BASELINES["ppmd -o6"], data) == plain


def test_ppmd_hands_its_encoder_small_pieces_of_one_reused_buffer(monkeypatch):
    """pyppmd's encode() keeps every buffer it is given alive, and corrupts its output when one
    call's output passes 32 KiB: it gets one reused buffer, at most 16 KiB at a time."""
    calls = []
    real = pyppmd.Ppmd7Encoder

    class Spy:
        def __init__(self, *args):
            self.encoder = real(*args)

        def encode(self, data):
            calls.append((data.obj if isinstance(data, memoryview) else data, len(data)))
            return self.encoder.encode(data)

        def flush(self):
            return self.encoder.flush()

    monkeypatch.setattr(pyppmd, "Ppmd7Encoder", Spy)
    data = (TEXT * 3)[: 6 * classic.PPMD_FEED + 5]
    before = sys.getrefcount(data)
    packed = baselines.compress(BASELINES["ppmd -o6"], data)
    assert sys.getrefcount(data) == before
    assert [n for _, n in calls] == [classic.PPMD_FEED] * 6 + [5] and classic.PPMD_FEED <= 16 << 10
    assert len({id(buffer) for buffer, _ in calls}) == 1 and isinstance(calls[0][0], bytearray)
    monkeypatch.undo()
    assert baselines.decompress(BASELINES["ppmd -o6"], packed) == data


def test_ppmd_refuses_an_implausible_block_size_before_reading_it(monkeypatch):
    monkeypatch.setattr(classic, "PPMD_BLOCK", 1000)
    crafted = struct.pack("<QI", 5000, 2**32 - 1) + b"x" * 10
    with pytest.raises(HarnessError, match="implausible block size"):
        baselines.decompress_stream(BASELINES["ppmd -o6"], io.BytesIO(crafted), io.BytesIO())
