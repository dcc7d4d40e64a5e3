import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.baselines import standard_baselines
from harness_plugins.baselines import harness_baselines

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BASELINES = {b.name: b for b in standard_baselines()}

SAMPLES = {
    "empty": b"",
    "one byte": b"\x00",
    "random": np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
    "text": "Le cœur a ses raisons que la raison ne connaît point.\n".encode() * 200,
}


def test_all_six_are_available_here():
    for optional in ("zstandard", "brotli", "pyppmd"):
        pytest.importorskip(optional)
    assert list(BASELINES) == ["gzip -9", "bzip2 -9", "xz -9e", "zstd -19", "brotli -q 11", "ppmd -o6"]
    assert [b.name for b in harness_baselines()] == list(BASELINES)
    assert all(b.version and b.description for b in BASELINES.values())


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("name", BASELINES)
def test_round_trip(name, sample):
    baseline = BASELINES[name]
    data = SAMPLES[sample]
    packed = baseline.compress(data)
    assert baseline.decompress(packed) == data
    if sample == "text":
        assert len(packed) < len(data) / 10


@pytest.mark.parametrize("name", BASELINES)
@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=300))
def test_round_trip_any_bytes(name, data):
    baseline = BASELINES[name]
    assert baseline.decompress(baseline.compress(data)) == data


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
    assert len(BASELINES[name].compress(data)) == pytest.approx(BOOK1[name], rel=0.002)
