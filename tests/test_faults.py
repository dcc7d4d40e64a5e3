"""Faults around the commands: odd inputs, unwritable outputs, a full disk, Ctrl-C and kill.

Whatever happens, the user gets a one-line error, no partial output file is left behind, an
existing output is never damaged, the results store stays readable and the next run completes.
docs/reliability.md lists these scenarios: keep it in step.
"""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from harness import baselines, cli, container, files, results, wire
from harness.errors import HarnessError
from plugins.baselines import standard_baselines
from tests.conftest import HARNESS, ReadLog

# At least 150 KB, so that the slices below are as long as they say.
TEXT = (Path(files.__file__).read_bytes() + Path(container.__file__).read_bytes()) * 6
SLOW_PLUGIN = ("--plugin", Path(__file__).parent / "plugins" / "slow.py")
"""Loads the `slow` test predictor: a command stopped mid-way with it is still coding."""


def harness(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in this process (cheap); return the exit code and stderr."""
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err


def one_line_error(code: int, err: str, text: str) -> None:
    assert code == 2 and err.strip().startswith("harness: error:") and text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff", bytes(range(256))], ids=["empty", "zero", "ff", "all-bytes"])
def test_tiny_inputs_round_trip(capsys, tmp_path, data):
    (tmp_path / "in").write_bytes(data)
    assert harness(capsys, "compress", tmp_path / "in", "-p", "order0")[0] == 0
    assert harness(capsys, "decompress", tmp_path / "in.hz", "-o", tmp_path / "out")[0] == 0
    assert (tmp_path / "out").read_bytes() == data


def test_directory_missing_file_and_device_inputs(capsys, tmp_path):
    one_line_error(*harness(capsys, "compress", tmp_path, "-p", "order0"), "is a directory")
    one_line_error(*harness(capsys, "compress", tmp_path / "nope", "-p", "order0"), "no such file")
    one_line_error(*harness(capsys, "compress", "/dev/zero", "-p", "order0", "-o", tmp_path / "z"), "not a regular")
    one_line_error(*harness(capsys, "decompress", tmp_path, "-o", tmp_path / "x"), "is a directory")
    assert leftovers(tmp_path) == []


def test_symlinks(capsys, tmp_path):
    (tmp_path / "real").write_bytes(b"linked data\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert harness(capsys, "compress", tmp_path / "link", "-p", "order0")[0] == 0
    assert harness(capsys, "decompress", tmp_path / "link.hz", "-o", tmp_path / "back")[0] == 0
    assert (tmp_path / "back").read_bytes() == b"linked data\n"
    one_line_error(*harness(capsys, "compress", tmp_path / "dangling", "-p", "order0"), "no such file")
    one_line_error(*harness(capsys, "compress", tmp_path / "loop", "-p", "order0"), "symbolic links")


def test_unreadable_input(capsys, tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")
    # Simulated: the tests may run as root, whom permissions do not stop.
    real_open = open

    def guarded_open(file, *args, **kwargs):
        if Path(file) == secret:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    one_line_error(*harness(capsys, "compress", secret, "-p", "order0"), "cannot read")
    assert leftovers(tmp_path) == ["secret"]


def test_output_in_missing_folder_and_existing_output(capsys, tmp_path):
    (tmp_path / "in").write_bytes(b"data")
    missing = tmp_path / "no" / "x.hz"
    one_line_error(*harness(capsys, "compress", tmp_path / "in", "-p", "order0", "-o", missing), "does not exist")
    (tmp_path / "in.hz").write_bytes(b"precious")
    one_line_error(*harness(capsys, "compress", tmp_path / "in", "-p", "order0"), "use --force")
    assert (tmp_path / "in.hz").read_bytes() == b"precious" and leftovers(tmp_path) == ["in", "in.hz"]


def test_disk_full_on_fsync_leaves_nothing(capsys, tmp_path, monkeypatch):
    """ENOSPC reported late, at fsync, as delayed allocation does."""
    (tmp_path / "in").write_bytes(TEXT[:2000])

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    one_line_error(*harness(capsys, "compress", tmp_path / "in", "-p", "order0"), "No space left on device")
    assert leftovers(tmp_path) == ["in"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 8 KB tmpfs; needs root (mount), so elsewhere only the simulated cases run."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_real_disk_full_leaves_nothing(capsys, tmp_path, tiny_disk):
    (tmp_path / "in").write_bytes(np.random.default_rng(0).bytes(20_000))  # incompressible
    one_line_error(*harness(capsys, "compress", tmp_path / "in", "-p", "order0", "-o", tiny_disk / "x.hz"), "No space")
    assert leftovers(tiny_disk) == []


def test_file_size_limit_in_a_real_process(tmp_path):
    """The kernel refuses writes past RLIMIT_FSIZE (EFBIG): the same path as a full disk."""
    (tmp_path / "in").write_bytes(np.random.default_rng(1).bytes(20_000))

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    result = subprocess.run(
        [str(HARNESS), "compress", str(tmp_path / "in"), "-p", "order0"],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "in.hz not written: File too large" in result.stderr, result.stderr
    assert leftovers(tmp_path) == ["in"]


def test_compress_reads_in_segments(registry, monkeypatch):
    """Memory does not grow with the input: the input is read one segment at a time."""
    monkeypatch.setattr(wire, "SEGMENT_SYMBOLS", 1000)
    data = TEXT[:5500]
    source, out = ReadLog(data), io.BytesIO()
    container.encode_stream(source, len(data), out, "order0", registry.build("order0"))
    assert 0 < max(source.reads) <= 1000 and len(source.reads) == 7  # six segments and the end-of-input check
    assert container.decode(wire.unpack(out.getvalue()), registry.build("order0")) == data


@pytest.mark.parametrize("baseline", standard_baselines(), ids=lambda b: b.name)
def test_baselines_stream_the_same_bytes_in_chunks(baseline, monkeypatch):
    monkeypatch.setattr(baselines, "STREAM_CHUNK", 1000)
    data = TEXT[:20_000]
    out = io.BytesIO()
    assert baselines.compress_stream(baseline, io.BytesIO(data), out, len(data)) == len(out.getvalue())
    assert baselines.decompress(baseline, out.getvalue()) == data
    assert out.getvalue() == baselines.compress(baseline, data)  # so streamed and in-memory sizes compare


def test_input_changing_while_compressing_is_an_error(registry):
    with pytest.raises(HarnessError, match="shrank"):
        container.encode_stream(io.BytesIO(b"abc"), 10, io.BytesIO(), "order0", registry.build("order0"))
    with pytest.raises(HarnessError, match="grew"):
        container.encode_stream(io.BytesIO(b"abcdef"), 3, io.BytesIO(), "order0", registry.build("order0"))


# --- Ctrl-C and kill, against the real command in its own process ----------------------------


def start(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(HARNESS), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        # A shell's background job starts with SIGINT ignored, and a child inherits that; the
        # tests send it on purpose, so the harness gets the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command never got there"
        time.sleep(0.05)


def temp_files(folder: Path) -> list[Path]:
    return list(folder.glob(".*.tmp"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_compress_leaves_no_output(tmp_path, sig):
    (tmp_path / "in").write_bytes(TEXT[:20_000])
    process = start("compress", tmp_path / "in", *SLOW_PLUGIN, "-p", "slow")  # 20 s of coding
    wait_for(lambda: temp_files(tmp_path), process)  # coding has started
    time.sleep(0.3)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in err
    assert leftovers(tmp_path) == ["in"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_dropped_inside_a_ctypes_callback_still_stops_the_command(tmp_path, sig):
    """ctypes prints and drops an exception raised in a callback (numba compiles through one):
    the next progress tick raises it again, rather than the file being coded to its end. The
    predictor spends 99% of its time in the callback, where the signal lands."""
    (tmp_path / "in").write_bytes(TEXT[:4_000])
    process = start("compress", tmp_path / "in", *SLOW_PLUGIN, "-p", "slow:callback=true,ms=5")  # 20 s
    while "slow: coding" not in process.stderr.readline():
        assert process.poll() is None, process.communicate()
    sent = time.monotonic()
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - sent < 5
    assert process.returncode == 130 and "interrupted" in err
    assert leftovers(tmp_path) == ["in"]


def _forged_mix(path: Path, symbols: int) -> None:
    """A .hz file of a few hundred bytes claiming `symbols` symbols of mix:cm+ngram, coded as one
    segment: the decoder runs on it until the CRC at its end."""
    from harness.registry import load_registry

    spec = "mix:cm+ngram"
    cls, settings, _ = load_registry().predictor(spec)
    config = wire.ConfigCheck.of(cls.static_config(settings), cls.static_config(settings))
    header = wire.header_bytes(spec, config, symbols, symbols, 0)
    path.write_bytes(header + wire.varint(200) + bytes(range(200)) + bytes(4))


@pytest.mark.parametrize(
    "command", [["compress", "in", "-p", "cm"], ["compress", "in", "-p", "ngram"], ["decompress", "forged.hz"]]
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_compiled_coding_loops_stop_within_two_seconds_of_a_signal(tmp_path, command, sig):
    """The compiled kernels return to Python between chunks, where the signal is acted on: a
    decode of mix:cm+ngram once went on for minutes after a kill."""
    (tmp_path / "in").write_bytes((TEXT * (1 + (2 << 20) // len(TEXT)))[: 2 << 20])
    _forged_mix(tmp_path / "forged.hz", 10**7)
    process = start(*[tmp_path / arg if arg in ("in", "forged.hz") else arg for arg in command], "-o", tmp_path / "out")
    wait_for(lambda: temp_files(tmp_path), process)
    time.sleep(2)  # the model is built and coding
    assert process.poll() is None
    sent = time.monotonic()
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert time.monotonic() - sent < 2.0
    assert process.returncode == 130 and "interrupted" in err
    assert leftovers(tmp_path) == ["forged.hz", "in"]


def test_killed_compress_never_replaces_the_output(capsys, tmp_path):
    """SIGKILL cannot be cleaned up after: a hidden temp file may stay, the output is intact."""
    (tmp_path / "in").write_bytes(TEXT[:20_000])
    (tmp_path / "old").write_bytes(b"an earlier version")
    assert harness(capsys, "compress", tmp_path / "old", "-p", "order0", "-o", tmp_path / "in.hz")[0] == 0
    before = (tmp_path / "in.hz").read_bytes()
    process = start("compress", tmp_path / "in", *SLOW_PLUGIN, "-p", "slow", "--force")
    wait_for(lambda: temp_files(tmp_path), process)
    process.kill()
    process.wait(timeout=60)
    assert (tmp_path / "in.hz").read_bytes() == before
    assert len(temp_files(tmp_path)) <= 1  # the hidden leftover, never under the output's name


def test_a_killed_sweep_stops_at_once_keeps_what_finished_and_says_what_it_dropped(tmp_path):
    """The jobs in flight are stopped, not waited for (once about 3 minutes), and none is left
    running."""
    import psutil

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a-quick.txt").write_bytes(TEXT[:200])  # first in line
    for i in range(3):
        (corpus / f"long{i}.txt").write_bytes(TEXT[i * 60_000 : (i + 1) * 60_000])  # 60 s each
    store = tmp_path / "results.jsonl"
    args = ("-p", "slow:ms=1", "-c", corpus, "--no-baselines", "--results", store, "--workers", "2")
    process = start("sweep", *SLOW_PLUGIN, *args)
    wait_for(lambda: store.exists() and store.read_text().count("\n") >= 1, process, timeout=300)
    workers = psutil.Process(process.pid).children(recursive=True)
    time.sleep(0.5)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert time.monotonic() - sent < 10
    assert process.returncode == 130 and "1 results stored, 3 dropped" in err, err
    assert [json.loads(line)["corpus"].endswith("a-quick.txt") for line in store.read_text().splitlines()] == [True]
    _, alive = psutil.wait_procs(workers, timeout=5)  # stopped, not left to finish their jobs
    assert not alive


def test_interrupted_and_killed_run_keep_the_store_and_resume(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"f{i}.txt").write_bytes(TEXT[i * 2_000 : (i + 1) * 2_000])
    store = tmp_path / "results.jsonl"
    slow = ("-p", "slow:ms=0.25")  # 1 s a file
    command = ("run", *SLOW_PLUGIN, *slow, "-c", corpus, "--no-baselines", "--results", store)

    process = start(*command)
    wait_for(lambda: store.exists() and store.read_text().count("\n") >= 1, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in err
    lines = store.read_text().splitlines()
    assert 1 <= len(lines) < 3 and all(json.loads(line)["verified"] for line in lines)

    process = start(*command, "--force")  # recompute everything, and kill it mid-way
    wait_for(lambda: len(store.read_text().splitlines()) > len(lines), process)
    process.kill()
    process.wait(timeout=60)

    finished = start(*command)
    _, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err
    assert "results reused from the store" in err  # it resumed rather than starting over
    records = results.read(store)
    assert {r.corpus.rsplit("/", 1)[-1] for r in records} == {"f0.txt", "f1.txt", "f2.txt"}
    assert all(r.verified for r in records)


def complete(path: Path) -> bool:
    """Whether a published file is whole: PNGs end with their IEND chunk, pages with their end."""
    data = path.read_bytes()
    if path.suffix == ".png":
        return data.endswith(b"IEND\xaeB`\x82")
    if path.suffix == ".html":
        return data.rstrip().endswith(b"</html>")
    return len(data) > 0


def test_interrupted_publish_leaves_only_whole_files_and_reruns(capsys, tmp_path):
    (tmp_path / "in.txt").write_bytes(TEXT[:5000])
    store, folder = tmp_path / "results.jsonl", tmp_path / "published"
    run = ("run", "-p", "order0", "-c", tmp_path / "in.txt", "--no-baselines", "--results", store)
    assert harness(capsys, *run)[0] == 0
    command = ("publish", "--results", store, "-o", folder)

    process = start(*command)
    wait_for(folder.exists, process)  # made before the tables and charts are computed
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode in (0, 130)  # on a fast machine it may already be done
    assert temp_files(folder) == [] and all(complete(p) for p in folder.iterdir())

    finished = start(*command)
    _, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err
    names = sorted(p.name for p in folder.iterdir())
    assert "README.md" in names and "index.html" in names and any(n.endswith(".png") for n in names)
    assert all(complete(folder / n) for n in names)
