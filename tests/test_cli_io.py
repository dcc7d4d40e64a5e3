"""The command line's input and output: stdin/stdout, devices, FIFOs, sockets, --test/--list,
status lines, option parsing and predictor failures, mostly through `cli.main` in this process."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import harness
from harness import cli, container, measure, ui, wire
from harness.corpus import CorpusFile
from tests.conftest import HARNESS

TEXT = b"the quick brown fox jumps over the lazy dog; " * 60
INDEX_ERROR = "IndexError: list index out of range"

BOOM_PLUGIN = """
import os
import shutil

import numpy as np

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.predictor import Predictor


class Boom(Predictor):
    '''Uniform, but fails where $BOOM says: predict (IndexError), init, or refuse (a HarnessError).'''

    name = "boom"
    description = "fails on request"

    def __init__(self, **settings):
        super().__init__(**settings)
        if os.environ.get("BOOM") == "init":
            raise ValueError("bad weights")

    def predict(self):
        if os.environ.get("BOOM") == "predict":
            raise IndexError("list index out of range")
        if os.environ.get("BOOM") == "refuse":
            raise HarnessError("boom refuses politely")
        return np.full(256, 1 / 256)

    def update(self, symbol):
        pass


@hookimpl
def harness_predictors():
    return [Boom]
"""


def harness_main(capsys, *args: object) -> tuple[int, str, str]:
    """Run the CLI in this process; the exit code, stdout and stderr."""
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "in.txt"
    path.write_bytes(TEXT)
    return path


@pytest.fixture
def packed(capsys, tmp_path, source) -> Path:
    assert harness_main(capsys, "compress", source, "-p", "order0")[0] == 0
    return tmp_path / "in.txt.hz"


class Stdio:
    """Binary stdin and stdout stand-ins: what `sys.stdin.buffer` / `sys.stdout.buffer` are."""

    def __init__(self, monkeypatch, data: bytes = b"") -> None:
        self.written = io.BytesIO()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(self.written, write_through=True))


# --- stdin and stdout --------------------------------------------------------------------------


def test_stdin_to_stdout_and_back(capsys, monkeypatch, source):
    pipe = Stdio(monkeypatch, TEXT)
    code, _, err = harness_main(capsys, "compress", "-", "-p", "order0")  # stdin implies stdout
    assert code == 0 and "stdin" in err and "stdout" in err, err
    coded = pipe.written.getvalue()
    assert coded.startswith(wire.MAGIC) and len(coded) < len(TEXT)
    pipe = Stdio(monkeypatch, coded)
    assert harness_main(capsys, "decompress", "-", "-o", "-")[0] == 0
    assert pipe.written.getvalue() == TEXT
    pipe = Stdio(monkeypatch)
    assert harness_main(capsys, "compress", source, "-p", "order0", "-c")[0] == 0
    assert pipe.written.getvalue() == coded  # the same stream, from a file this time


def test_corrupt_input_puts_nothing_on_stdout(capsys, monkeypatch, packed):
    blob = bytearray(packed.read_bytes())
    blob[-5] ^= 0x10
    pipe = Stdio(monkeypatch, bytes(blob))
    code, _, err = harness_main(capsys, "decompress", "-", "-c")
    assert code == 2 and "corrupt" in one_line(err)
    assert pipe.written.getvalue() == b""


def test_compressed_data_is_not_written_to_a_terminal(capsys, monkeypatch, source):
    Stdio(monkeypatch)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, _, err = harness_main(capsys, "compress", source, "-p", "order0", "-c")
    assert code == 2 and "terminal" in one_line(err)


def test_shell_pipeline_through_the_real_command(tmp_path, source):
    env = {**os.environ, "COLUMNS": "200"}
    with source.open("rb") as stdin:
        compress = subprocess.Popen(
            [HARNESS, "compress", "-", "-p", "order0"], stdin=stdin, stdout=subprocess.PIPE, env=env
        )
        decompress = subprocess.run(
            [HARNESS, "decompress", "-", "-c"], stdin=compress.stdout, capture_output=True, env=env, timeout=300
        )
    compress.stdout.close()
    assert compress.wait(timeout=300) == 0 and decompress.returncode == 0, decompress.stderr
    assert decompress.stdout == TEXT


# --- devices, FIFOs, sockets, directories ------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_dev_full_is_written_into_and_reported_full(capsys, source, packed, force):
    code, _, err = harness_main(capsys, "compress", source, "-p", "order0", "-o", "/dev/full", *force)
    assert code == 2 and one_line(err) == "harness: error: /dev/full not written: No space left on device"
    code, _, err = harness_main(capsys, "decompress", packed, "-o", "/dev/full", *force)
    assert code == 2 and "No space left on device" in one_line(err)
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)  # the device node is still there


def test_dev_null_takes_the_output(capsys, source):
    assert harness_main(capsys, "compress", source, "-p", "order0", "-o", os.devnull)[0] == 0
    assert stat.S_ISCHR(os.lstat(os.devnull).st_mode)


def read_fifo(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def reader() -> None:
        with open(path, "rb") as fifo:
            got.append(fifo.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, got


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_fifo_output_is_written_into_and_kept(capsys, tmp_path, source, force):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    thread, got = read_fifo(fifo)
    assert harness_main(capsys, "compress", source, "-p", "order0", "-o", fifo, *force)[0] == 0
    thread.join(60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # --force did not put a regular file in its place
    (tmp_path / "got.hz").write_bytes(got[0])
    assert harness_main(capsys, "decompress", tmp_path / "got.hz", "-o", tmp_path / "back")[0] == 0
    assert (tmp_path / "back").read_bytes() == TEXT


def unix_socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return server


@pytest.mark.parametrize("kind", ["directory", "socket", "link to a directory"])
def test_force_never_replaces_what_is_not_a_regular_file(capsys, tmp_path, source, packed, kind):
    target = tmp_path / "target"
    if kind == "socket":
        server = unix_socket(target)
    else:
        (tmp_path / "dir").mkdir()
        target.mkdir() if kind == "directory" else target.symlink_to(tmp_path / "dir")
    before = os.lstat(target)
    for command in (["compress", source, "-p", "order0"], ["decompress", packed]):
        code, _, err = harness_main(capsys, *command, "-o", target, "--force")
        assert code == 2 and "only a regular file is ever replaced" in one_line(err)
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not list(tmp_path.glob(".*.tmp"))
    if kind == "socket":
        server.close()


def test_force_through_a_symlink_replaces_the_file_not_the_link(capsys, tmp_path, source):
    (tmp_path / "real.hz").write_bytes(b"old")
    (tmp_path / "link.hz").symlink_to(tmp_path / "real.hz")
    assert harness_main(capsys, "compress", source, "-p", "order0", "-o", tmp_path / "link.hz", "--force")[0] == 0
    assert (tmp_path / "link.hz").is_symlink()
    assert (tmp_path / "real.hz").read_bytes().startswith(wire.MAGIC)


@pytest.mark.parametrize("name", ["itself", "a symlink", "a hard link", "stdin"])
def test_the_input_is_never_its_own_output_even_with_force(capsys, tmp_path, source, packed, name):
    for command, given in (["compress", "-p", "order0"], source), (["decompress"], packed):
        before = given.read_bytes()
        target = {"itself": given, "a symlink": tmp_path / "symlink", "a hard link": tmp_path / "hardlink"}.get(name)
        if name == "a symlink":
            target.unlink(missing_ok=True)
            target.symlink_to(given)
        elif name == "a hard link":
            target.unlink(missing_ok=True)
            target.hardlink_to(given)
        if name == "stdin":
            with given.open("rb") as stdin:
                done = subprocess.run(
                    [HARNESS, *command, "-", "-o", given, "--force"], stdin=stdin, capture_output=True
                )
            code, err = done.returncode, done.stderr.decode()
        else:
            code, _, err = harness_main(capsys, *command, given, "-o", target, "--force")
        assert code == 2 and "is the input itself" in one_line(err)
        assert given.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("link", [False, True])
def test_a_corpus_member_read_from_the_data_dir_is_never_its_own_output(
    capsys, monkeypatch, tmp_path, shared_corpora, link
):
    """The input named as a corpus member (no such path here) is the data dir's file: an output
    naming that file, or a hard link to it, is refused like any other name of the input."""
    member = tmp_path / "data" / "canterbury" / "grammar.lsp"
    member.parent.mkdir(parents=True)
    shutil.copyfile(shared_corpora / "canterbury" / "grammar.lsp", member)
    before = member.read_bytes()
    target = tmp_path / "link.lsp" if link else member
    if link:
        target.hardlink_to(member)
    monkeypatch.chdir(tmp_path)
    args = ("compress", "canterbury/grammar.lsp", "--data-dir", "data", "-p", "order0", "-o", target, "--force")
    code, _, err = harness_main(capsys, *args)
    assert code == 2 and "is the input itself" in one_line(err)
    assert member.read_bytes() == before and not list(member.parent.glob(".*.tmp"))


def test_a_target_that_turns_into_a_fifo_meanwhile_is_not_replaced(capsys, monkeypatch, tmp_path, source):
    target = tmp_path / "out.hz"
    real_encode = container.encode_stream

    def encode_then_swap(*args, **kwargs):
        encoded = real_encode(*args, **kwargs)
        os.mkfifo(target)  # someone else's FIFO appears while we code
        return encoded

    monkeypatch.setattr(container, "encode_stream", encode_then_swap)
    code, _, err = harness_main(capsys, "compress", source, "-p", "order0", "-o", target, "--force")
    assert code == 2 and "is a FIFO" in one_line(err)
    assert stat.S_ISFIFO(os.lstat(target).st_mode) and not list(tmp_path.glob(".*.tmp"))


def run_with_timeout(capsys, monkeypatch, *args: object) -> tuple[int, str, str]:
    """`harness_main` in a thread: a command that blocks fails the test instead of hanging it."""
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # only the main thread may set handlers
    result: list = []
    thread = threading.Thread(target=lambda: result.append(cli.main([str(a) for a in args])), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the command blocked"
    out, err = capsys.readouterr()
    return result[0], out, err


def test_fifo_and_socket_inputs_are_refused_without_blocking(capsys, monkeypatch, tmp_path):
    os.mkfifo(tmp_path / "fifo")  # no writer: open() on it would wait forever
    fifo = ("compress", tmp_path / "fifo", "-p", "order0", "-o", tmp_path / "x")
    code, _, err = run_with_timeout(capsys, monkeypatch, *fifo)
    assert code == 2 and "is a FIFO, not a regular file" in one_line(err)
    server = unix_socket(tmp_path / "sock")
    code, _, err = run_with_timeout(capsys, monkeypatch, "decompress", tmp_path / "sock", "-o", tmp_path / "y")
    server.close()
    assert code == 2 and "is a socket" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "sock"]


def test_proc_file_reporting_zero_bytes_is_read_whole(capsys, tmp_path):
    assert os.stat("/proc/self/status").st_size == 0
    out = tmp_path / "status.hz"
    assert harness_main(capsys, "compress", "/proc/self/status", "-p", "order0", "-o", out)[0] == 0
    assert harness_main(capsys, "decompress", out, "-o", tmp_path / "status")[0] == 0
    assert (tmp_path / "status").read_bytes().startswith(b"Name:")


# --- corpus members where a file is expected ----------------------------------------------------


def test_compress_a_corpus_member_into_the_working_folder(capsys, monkeypatch, tmp_path, registry):
    monkeypatch.chdir(tmp_path)
    assert harness_main(capsys, "compress", "synthetic/markov", "-p", "order0")[0] == 0
    assert harness_main(capsys, "decompress", "markov.hz", "-o", "back")[0] == 0
    (member,) = registry.corpus_files(["synthetic/markov"])
    assert (tmp_path / "back").read_bytes() == member.read()
    code, _, err = harness_main(capsys, "compress", "synthetic", "-p", "order0")
    assert code == 2 and "give one member, e.g. synthetic/iid" in one_line(err)
    code, _, err = harness_main(capsys, "compress", "book1", "-p", "order0")
    assert code == 2 and one_line(err) == "harness: error: no such file: book1"


# --- --test, --list, --version -----------------------------------------------------------------


def test_test_mode_checks_and_writes_nothing(capsys, tmp_path, packed):
    code, out, err = harness_main(capsys, "decompress", packed, "-t")
    assert code == 0 and out == "" and "OK" in err and f"{len(TEXT):,} bytes" in err
    blob = bytearray(packed.read_bytes())
    blob[-5] ^= 0x10
    packed.write_bytes(bytes(blob))
    code, out, err = harness_main(capsys, "decompress", packed, "--test")
    assert code == 2 and "corrupt" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "in.txt.hz"]


def test_list_shows_the_header(capsys, monkeypatch, packed):
    monkeypatch.setattr("harness.registry.load_registry", None)  # listing builds no predictor, loads no plugin
    code, out, _ = harness_main(capsys, "decompress", packed, "-l")
    size = packed.stat().st_size
    assert code == 0
    assert out.splitlines() == [
        f"file             {packed}",
        "predictor        order0",
        f"original bytes   {len(TEXT):,}",
        f"symbols          {len(TEXT):,}",
        f"container bytes  {size:,}",
        f"bits/byte        {8 * size / len(TEXT):.3f}",
        f"ratio            {len(TEXT) / size:.3f}",
    ]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out == f"harness {harness.__version__}\n"


def test_list_and_test_and_output_exclude_each_other(capsys, packed):
    with pytest.raises(SystemExit) as exit:
        cli.main(["decompress", str(packed), "-t", "-o", "x"])
    assert exit.value.code == 2 and "not allowed with" in one_line(capsys.readouterr().err)


# --- options before and after the subcommand ---------------------------------------------------


@pytest.fixture
def boom(tmp_path) -> Path:
    path = tmp_path / "boom_plugin.py"
    path.write_text(BOOM_PLUGIN)
    return path


def listed(out: str) -> set[str]:
    """The names in the first column of `harness list`'s table."""
    return {line.split("│")[1].strip() for line in out.splitlines() if line.count("│") >= 3}


def test_common_options_before_the_subcommand_are_kept(capsys, tmp_path, boom):
    for argv in (["--plugin", boom, "list", "predictors"], ["list", "predictors", "--plugin", boom]):
        code, out, _ = harness_main(capsys, *argv)
        assert code == 0 and "boom" in listed(out)
    other = tmp_path / "other_plugin.py"
    other.write_text(BOOM_PLUGIN.replace('"boom"', '"other"'))
    code, out, _ = harness_main(capsys, "--plugin", boom, "list", "predictors", "--plugin", other)
    assert code == 0 and {"boom", "other"} <= listed(out)  # given in both places, they add up
    for argv in (["--data-dir", tmp_path, "run"], ["run", "--data-dir", tmp_path]):
        assert cli.parser().parse_args([str(a) for a in argv]).data_dir == str(tmp_path)
    assert cli.parser().parse_args(["--debug", "run"]).debug is True


def test_data_dir_before_run_reaches_the_corpora(capsys, tmp_path, registry):
    (member,) = registry.corpus_files(["canterbury/grammar.lsp"]) if "canterbury" in registry.corpora else [None]
    if member is None or not member.meta.get("sha256"):
        pytest.skip("no canterbury/grammar.lsp with a known sha256")
    data = tmp_path / "data"
    (data / "canterbury").mkdir(parents=True)
    (data / "canterbury" / "grammar.lsp").write_bytes(b"not the real file")
    args = ("run", "-p", "order0", "-c", "canterbury/grammar.lsp", "--no-baselines", "--results", tmp_path / "r")
    code, _, err = harness_main(capsys, "--data-dir", data, *args)
    assert code == 2 and "is not the expected file" in one_line(err)  # the data dir was used


COUNTS = ["run --max-bytes 0", "run --max-bytes -5", "sweep --workers 0", "sweep --workers -1"]


@pytest.mark.parametrize("command", COUNTS)
def test_counts_must_be_positive(capsys, command):
    argv = command.split()
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    err = one_line(capsys.readouterr().err)
    assert exit.value.code == 2 and err.startswith(f"harness {argv[0]}: error: argument {argv[1]}: must be a positive")


# --- predictor failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, message",
    [("predict", INDEX_ERROR), ("init", "ValueError: bad weights")],
)
def test_predictor_exception_is_named_in_compress(capsys, monkeypatch, tmp_path, source, boom, where, message):
    monkeypatch.setenv("BOOM", where)
    code, _, err = harness_main(capsys, "compress", source, "-p", "boom", "--plugin", boom)
    assert code == 1 and one_line(err) == f"harness: predictor 'boom' failed on {source}: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boom_plugin.py", "in.txt"]


def test_predictor_exception_in_decompress_run_and_with_debug(capsys, monkeypatch, tmp_path, source, boom):
    assert harness_main(capsys, "compress", source, "-p", "boom", "--plugin", boom)[0] == 0
    monkeypatch.setenv("BOOM", "predict")
    packed = f"{source}.hz"
    code, _, err = harness_main(capsys, "decompress", packed, "-o", tmp_path / "out", "--plugin", boom)
    assert code == 1 and one_line(err) == f"harness: predictor 'boom' failed on {packed}: {INDEX_ERROR}"
    store = tmp_path / "results.jsonl"
    run = ("run", "-p", "boom", "-c", source, "--no-baselines", "--results", store, "--plugin", boom)
    code, _, err = harness_main(capsys, *run)
    assert code == 1 and f"harness: predictor 'boom' failed on {source}: IndexError" in one_line(err)
    code, _, err = harness_main(capsys, "--debug", *run)
    assert code == 1 and "Traceback" in err and "in predict" in err
    assert err.strip().splitlines()[-1].startswith("harness: predictor 'boom' failed")
    monkeypatch.setenv("HARNESS_DEBUG", "1")
    assert "Traceback" in harness_main(capsys, *run)[2]


def test_predictor_harness_error_stays_a_plain_error(capsys, monkeypatch, source, boom):
    monkeypatch.setenv("BOOM", "refuse")
    code, _, err = harness_main(capsys, "compress", source, "-p", "boom", "--plugin", boom)
    assert code == 2 and one_line(err) == "harness: error: boom refuses politely"


def test_predictor_exception_in_a_sweep_worker(tmp_path, source, boom):
    result = subprocess.run(
        [HARNESS, "sweep", "-p", "boom", "-c", source, "--no-baselines", "--workers", "1"]
        + ["--results", tmp_path / "r.jsonl", "--plugin", boom],
        capture_output=True,
        text=True,
        env={**os.environ, "BOOM": "predict", "COLUMNS": "200"},
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert f"harness: predictor 'boom' failed on {source}: IndexError" in result.stderr.strip().splitlines()[-1]


# --- status lines and progress -----------------------------------------------------------------


def test_run_says_appended_only_when_something_was(capsys, tmp_path, source):
    store = tmp_path / "results.jsonl"
    run = ("run", "-p", "order0", "-c", source, "--no-baselines", "--results", store)
    code, _, err = harness_main(capsys, *run)
    err = " ".join(err.split())  # rich wraps long lines
    assert code == 0 and f"1 results appended to {store}" in err and "nothing new" not in err
    code, _, err = harness_main(capsys, *run)
    assert code == 0 and "nothing new: 1 of 1 results reused" in err and "appended" not in err
    assert len(store.read_text().splitlines()) == 1


def test_leaderboard_table_goes_to_the_file(capsys, tmp_path, source):
    store = tmp_path / "results.jsonl"
    assert harness_main(capsys, "run", "-p", "order0", "-c", source, "--no-baselines", "--results", store)[0] == 0
    board = tmp_path / "board.txt"
    code, out, _ = harness_main(capsys, "leaderboard", "--results", store, "--format", "table", "-o", board)
    text = board.read_text()
    assert code == 0 and out == "" and "order0" in text and "bits/byte" in text and "\x1b[" not in text


def test_measure_reports_encode_then_decode_phases(registry):
    file = CorpusFile("notes", lambda: TEXT)
    phases, counts = [], []
    measure.measure_predictor(
        registry, "order0", file, progress=counts.append, phase=lambda *named: phases.append((*named, len(counts)))
    )
    assert [(name, total) for name, total, _ in phases] == [("encode", len(TEXT)), ("decode", len(TEXT))]
    at_decode = phases[1][2]
    assert sum(counts[:at_decode]) == len(TEXT) and sum(counts[at_decode:]) == len(TEXT)


def test_progress_shows_the_rate_in_its_unit():
    progress = ui.progress()
    coding, jobs = progress.add_task("encode x", total=100, unit="symbols"), progress.add_task("sweep", total=3)
    assert ui.Rate().render(progress.tasks[coding]).plain == ""  # nothing done yet: no rate
    for _ in range(3):
        time.sleep(0.01)
        progress.advance(coding, 10)
        progress.advance(jobs, 1)
    assert re.fullmatch(r"[\d,]+ symbols/s", ui.Rate().render(progress.tasks[coding]).plain)
    assert ui.Rate().render(progress.tasks[jobs]).plain == ""  # no unit, no rate


def test_an_empty_output_folder_name_is_refused(capsys, tmp_path, monkeypatch):
    (tmp_path / "in.txt").write_bytes(TEXT[:2000])
    store = tmp_path / "store.jsonl"
    source = tmp_path / "in.txt"
    assert harness_main(capsys, "run", "-p", "order0", "-c", source, "--no-baselines", "--results", store)[0] == 0
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    for command in ("plot", "publish"):
        args = [command, "size"] if command == "plot" else [command]
        code, _, err = harness_main(capsys, *args, "-o", "", "--results", store)
        assert code == 2 and "output folder '' is empty" in err and sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_progress_bar_keeps_its_numbers_whole_and_cuts_the_description(width):
    """A long spec and path once squeezed the count and the time left to '5… 0…' at 120 columns."""
    import io

    from rich.console import Console

    from harness import ui

    shown = ui.progress()
    description = "encode hf:./smollm2-135m-instruct,backend=llamacpp,gguf_file=M.Q4_1.gguf on canterbury/alice29.txt"
    task = shown.add_task(description, total=152_089, unit="symbols")
    shown.update(task, completed=104_000)
    console = Console(width=width, force_terminal=True, file=io.StringIO(), color_system=None)
    console.print(shown.make_tasks_table(shown.tasks))
    (line,) = console.file.getvalue().splitlines()
    assert "104000/152089" in line and "68%" in line and "…" in line and len(line) <= width
