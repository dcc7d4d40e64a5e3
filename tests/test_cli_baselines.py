"""The optional command-line baselines (zpaq): run where the tool is installed, left out where not."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import baselines, corpus, measure
from harness.baselines import compress_stream, decompress_stream
from harness.errors import HarnessError
from plugins import baselines as classic
from plugins.baselines import standard_baselines

ZPAQ = shutil.which("zpaq")
needs_zpaq = pytest.mark.skipif(ZPAQ is None, reason="zpaq is not installed (apt-get install zpaq)")
TEXT = Path(classic.__file__).read_bytes() * 2
RANDOM = np.random.default_rng(1).integers(0, 256, 30_000, dtype=np.uint8).tobytes()


def zpaq_baselines() -> dict[str, baselines.Baseline]:
    return {b.name: b for b in standard_baselines() if b.name.startswith("zpaq")}


def streamed(baseline: baselines.Baseline, data: bytes) -> bytes:
    out = io.BytesIO()
    assert compress_stream(baseline, io.BytesIO(data), out, len(data)) == len(out.getvalue())
    return out.getvalue()


@needs_zpaq
@pytest.mark.parametrize("name", ["zpaq -m4", "zpaq -m5"])
@pytest.mark.parametrize("data", [TEXT, RANDOM, b""], ids=["text", "random", "empty"])
def test_round_trip_through_the_streaming_path(name, data, monkeypatch):
    monkeypatch.setattr(baselines, "STREAM_CHUNK", 4096)
    baseline = zpaq_baselines()[name]
    assert baseline.version.startswith("zpaq v")
    packed = streamed(baseline, data)
    pieces = list(baseline.unstream(io.BytesIO(packed)))
    assert b"".join(pieces) == data and all(len(piece) <= 4096 for piece in pieces)
    if data is TEXT:
        assert len(packed) < len(data) / 4


@needs_zpaq
def test_the_size_counted_is_the_whole_archive_and_the_same_every_time(tmp_path):
    """What is counted is a zpaq archive that the tool itself extracts, holding the file 'data';
    with fixed dates, the same bytes however often and wherever it is made."""
    baseline = zpaq_baselines()["zpaq -m5"]
    packed = streamed(baseline, TEXT)
    assert packed == streamed(baseline, TEXT) == baselines.compress(baseline, TEXT)
    (tmp_path / "archive.zpaq").write_bytes(packed)
    subprocess.run([ZPAQ, "x", "archive.zpaq"], cwd=tmp_path, capture_output=True, check=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zpaq", "data"]
    assert (tmp_path / "data").read_bytes() == TEXT
    # The archive is more than the compressed data: a journal header, the name, the model.
    assert len(baselines.compress(baseline, b"")) > 500


@needs_zpaq
def test_the_users_files_are_never_touched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("data", "archive.zpaq"):
        (tmp_path / name).write_bytes(b"mine")
    baseline = zpaq_baselines()["zpaq -m4"]
    assert baselines.decompress(baseline, baselines.compress(baseline, TEXT)) == TEXT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zpaq", "data"]
    assert all((tmp_path / name).read_bytes() == b"mine" for name in ("data", "archive.zpaq"))


@needs_zpaq
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_archive_is_a_harness_error_and_not_verified(tmp_path, monkeypatch, damage):
    baseline = zpaq_baselines()["zpaq -m5"]
    packed = streamed(baseline, TEXT)
    for at in (5, len(packed) // 2, len(packed) - 1):  # zpaq itself extracts from a truncated tail
        bad = packed[:at] if damage == "truncate" else packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1 :]
        with pytest.raises(HarnessError, match=r"^zpaq -m5 cannot decompress: [^\n]+$"):
            decompress_stream(baseline, io.BytesIO(bad), io.BytesIO())

    path = tmp_path / "input.txt"
    path.write_bytes(TEXT)
    (file,) = corpus.resolve(str(path), {})
    real = baselines.decompress_stream

    def damaged(baseline, source, out):
        source.truncate(source.seek(0, io.SEEK_END) // 2)
        source.seek(0)
        return real(baseline, source, out)

    monkeypatch.setattr(measure, "decompress_stream", damaged)
    assert measure.measure_baseline(baseline, file).verified is False


def test_left_out_when_zpaq_is_not_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    names = [b.name for b in standard_baselines()]
    assert names[:3] == ["gzip -9", "bzip2 -9", "xz -9e"] and not any(n.startswith("zpaq") for n in names)


def fake_zpaq(tmp_path: Path, monkeypatch, script: str) -> baselines.Baseline:
    """The zpaq baselines as registered with a stand-in `zpaq` (a shell script) on PATH."""
    tool = tmp_path / "bin" / "zpaq"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\necho "zpaq v0.1 stand-in"\n{script}\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")  # found first
    found = zpaq_baselines()
    assert list(found) == ["zpaq -m4", "zpaq -m5"] and found["zpaq -m5"].version == "zpaq v0.1"
    return found["zpaq -m5"]


def test_a_failing_tool_is_one_line_harness_error(tmp_path, monkeypatch):
    baseline = fake_zpaq(tmp_path, monkeypatch, 'echo "zpaq error: disk full" >&2; exit 2')
    with pytest.raises(HarnessError, match=r"^zpaq a failed: zpaq error: disk full$"):
        streamed(baseline, TEXT)
    with pytest.raises(HarnessError, match=r"^zpaq -m5 cannot decompress: zpaq l failed: zpaq error: disk full$"):
        decompress_stream(baseline, io.BytesIO(b"7kSt"), io.BytesIO())


def test_a_complaint_fails_even_on_exit_status_0(tmp_path, monkeypatch):
    baseline = fake_zpaq(
        tmp_path, monkeypatch, 'echo "Skipping block at 0: bad checksum" >&2; echo "0.1 seconds (all OK)" >&2'
    )
    with pytest.raises(HarnessError, match=r"^zpaq a failed: Skipping block at 0: bad checksum$"):
        streamed(baseline, TEXT)


def test_a_hung_tool_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(classic, "ZPAQ_SECONDS", 1)
    baseline = fake_zpaq(
        tmp_path, monkeypatch, f'[ "$1" = a ] && exec {sys.executable} -c "import time; time.sleep(30)"'
    )
    with pytest.raises(HarnessError, match=r"^zpaq a failed: no result after 1 s$"):
        streamed(baseline, b"abc")
