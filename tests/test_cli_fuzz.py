"""Fuzzing the whole command line: random argv from the grammar of every command, run in this
process through `cli.main`, over a tree of awkward paths (missing, a directory, a FIFO, devices,
symlink loops, dangling links, unicode, newlines and rich markup in names, empty, valid and
damaged .hz files, odd results stores).

Every example: `main` returns an int (argparse may exit 0 or 2), nothing prints a traceback or
an internal error, nothing hangs, no temp file is left, and nothing changed but the outputs the
command was asked for; devices and FIFOs keep their file type. Inputs are a few hundred bytes
and predictors cheap (order0, ngram up to order 3 in at most 4 MiB); nothing reaches the network.
"""

from __future__ import annotations

import hashlib
import io
import os
import select
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli, results, sweep
from harness.registry import load_registry

EXAMPLES = 200
TIMEOUT_S = 60  # per example; the first one also imports (and may compile) the predictors
DEVICES = [d for d in ("/dev/null", "/dev/zero", "/dev/full") if os.path.exists(d)]
TEXT = (
    b"It was the best of times, it was the worst of times; the quick brown fox jumps over "
    b"the lazy dog 0123456789. [bold]not markup[/] \xe2\x82\xac\n"
) * 2
UNICODE = "ünï-名前.txt"
NEWLINE = "new\nline.txt"
MARKUP = "[bold]x.txt"

# Every kind of path, relative to the example's folder (the working directory) or absolute.
PATHS = [
    "small.txt",
    "empty.txt",
    "missing.txt",
    "dir",
    "dir/",
    "fifo",
    "loop",
    "dangling",
    "link.txt",
    "tofull",
    UNICODE,
    NEWLINE,
    MARKUP,
    "x[/].txt",
    "valid.hz",
    "order0.hz",
    "damaged.hz",
    "truncated.hz",
    "garbage.hz",
    "small.txt/below",
    "nowhere/x",
    "n" * 300,
    "",
    "-",
    *DEVICES,
]
OUTPUTS = [*PATHS, "out.hz", "out.bin", "dir/new.out", "dir/inner.txt", "[bold]out", "ünï.out", "new\nout"]
STORES = [
    "store.jsonl",
    "new.jsonl",
    "dir/new.jsonl",
    "nowhere/r.jsonl",
    "[bold]r.jsonl",
    "ünï.jsonl",
    "new\nline.jsonl",
    "small.txt",
    "empty.txt",
    "dir",
    "fifo",
    "loop",
    "dangling",
    "tofull",
    "n" * 300,
    "",
    *DEVICES,
]
OUTPUT_DIRS = ["plots", "dir", "dir/sub", "new dir", "[bold]d", "ünï", "small.txt", "fifo", "loop", "dangling",
               "small.txt/below", "n" * 300, "", *DEVICES]  # fmt: skip
CORPORA = [
    "small.txt",
    "empty.txt",
    "dir",
    ".",
    UNICODE,
    NEWLINE,
    MARKUP,
    "valid.hz",
    "missing.txt",
    "fifo",
    "loop",
    "dangling",
    "link.txt",
    "canterbury/alice29.txt",  # not in the data dir: a download, refused (no network here)
    "calgary/nope",
    "pyton/topics",
    "synthetic/nope",
    "nope",
    "x[/]",
    "n" * 300,
    "",
    *DEVICES,
]
FILTERS = ["small.txt", "canterbury", "python/topics", "synthetic", "nope", "x[/]", "[bold]", "", "."]
# Half of the draws come from these, so that many examples get past the checks and do the work.
GOOD_INPUTS = ["small.txt", UNICODE, NEWLINE, MARKUP, "x[/].txt", "link.txt", "-"]
GOOD_OUTPUTS = ["out.hz", "out.bin", "dir/new.out", "[bold]out", "ünï.out", "new\nout", "-", *DEVICES[:1]]
GOOD_STORES = ["store.jsonl", "new.jsonl", "dir/new.jsonl", "[bold]r.jsonl", "ünï.jsonl", "new\nline.jsonl"]
GOOD_CORPORA = ["small.txt", "dir", UNICODE, NEWLINE, MARKUP, "x[/].txt", "link.txt"]
GOOD_DIRS = ["plots", "dir", "dir/sub", "new dir", "[bold]d", "ünï"]

VALID_VALUES = {
    "order": ["0", "1", "2", "3", " 2", "+3", "٣"],
    "memory_mib": ["1", "2", "4"],
    "limit": ["2", "16", "1024"],
    "rate": ["0", "0.5", "1", "1e-9", "0.005"],
}
BAD_VALUES = ["-1", "65", "3.5", "nan", "inf", "-inf", "", "x[/]", "9" * 30, "1e1", "0x2", "[bold]1", str(2**64)]
HEAVY_REFUSED = [  # refused while the spec is parsed, long before anything is built
    "lstm:hidden=0",
    "lstm:layers=nan",
    "lstm:nope=1",
    "lstm:hidden=1,hidden=2",
    "lstm:lr=inf",
    "gpt:width=inf",
    "gpt:heads=0",
    "gpt:layers=1e3",
    "gpt:beta1=nan",
    "hf:dtype=float99",
    "hf:device=tpu",
    "hf:context=1",
]
BAD_NAMES = ["nope", "Order0", "ORDER0", "", " ", ":", "x[/]", "[bold]ngram", "ngram2", "ngram::", ":order=2"]
KNOWN = set(load_registry().predictors)


class Hung(BaseException):
    """Raised by SIGALRM: the example ran past TIMEOUT_S (not an Exception: `main` must not catch it)."""


# ---------------------------------------------------------------------------------------------
# The grammar. About half of what is drawn is valid, so that many examples get past the checks
# and do the work; the rest is broken in one place or several.


def mostly(good: list[str], everything: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(good), st.sampled_from(everything))


def either(valid: st.SearchStrategy, broken: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(valid, valid, valid, broken)


@st.composite
def valid_specs(draw) -> str:
    if draw(st.booleans()):
        return "order0"
    keys = draw(st.lists(st.sampled_from(["order", "limit", "rate"]), unique=True, max_size=3))
    items = [f"{key}={draw(st.sampled_from(VALID_VALUES[key]))}" for key in keys]
    items.append(f"memory_mib={draw(st.sampled_from(VALID_VALUES['memory_mib']))}")  # never the 64 MiB default
    items = draw(st.permutations(items))
    return "ngram:" + draw(st.sampled_from([",", ", ", " ,"])).join(items)


@st.composite
def broken_specs(draw) -> str:
    fault = draw(st.sampled_from(["name", "value", "unknown", "twice", "bare", "order0", "heavy", "text", "empty"]))
    base = draw(valid_specs())
    if fault == "name":
        return (
            draw(st.sampled_from(BAD_NAMES)) + base[base.index(":") :]
            if ":" in base
            else draw(st.sampled_from(BAD_NAMES))
        )
    if fault == "value":
        key = draw(st.sampled_from(sorted(VALID_VALUES)))
        return f"ngram:{key}={draw(st.sampled_from(BAD_VALUES))}" + ("" if key == "memory_mib" else ",memory_mib=1")
    if fault == "unknown":
        item = draw(st.sampled_from(["nope=1", "ORDER=2", "=3", "[bold]=1", " = ", "x[/]=1", "order"]))
        return f"{base},{item}" if ":" in base else f"ngram:memory_mib=1,{item}"
    if fault == "twice":
        return "ngram:order=1,memory_mib=1," + draw(st.sampled_from(["order=2", "memory_mib=1", " order =1"]))
    if fault == "bare":
        return "ngram:" + draw(st.sampled_from(["3", "x[/]", "[bold]"])) + ",memory_mib=1"
    if fault == "order0":
        return "order0:" + draw(st.sampled_from(["order=1", "x=1", "1", "x[/]"]))
    if fault == "heavy":
        return draw(st.sampled_from(HEAVY_REFUSED))
    if fault == "empty":
        return draw(st.sampled_from(["", " ", ":", ",", "ngram:,,,"]))
    text = draw(st.text(max_size=12))
    return text if text.partition(":")[0].strip() not in KNOWN else "nope" + text


specs = either(valid_specs(), broken_specs())


def flag(draw, *tokens: str, p: int = 3) -> list[str]:
    """`tokens`, one time in `p`."""
    return list(tokens) if draw(st.integers(0, p - 1)) == 0 else []


def common(draw) -> list[str]:
    """The options every command takes, before or after it."""
    extra = flag(draw, "--debug", p=8)
    if draw(st.integers(0, 9)) == 0:
        extra += ["--data-dir", draw(st.sampled_from(["data", "dir", "missing", "fifo", "small.txt", "", *DEVICES]))]
    if draw(st.integers(0, 14)) == 0:
        extra += ["--plugin", draw(mostly(["plugin_ok.py", "plugin_bad.py"], PATHS))]
    return extra


def shuffled(draw, groups: list[list[str]]) -> list[str]:
    return [token for group in draw(st.permutations(groups)) for token in group]


def exclusive(draw, choices: list[list[str]]) -> list[list[str]]:
    """One of mutually exclusive options (or none); now and then two, which argparse refuses."""
    count = draw(st.sampled_from([0, 1, 1, 1, 1, 2]))
    return draw(st.lists(st.sampled_from(choices), min_size=count, max_size=count, unique_by=lambda g: g[0]))


COMMANDS = ["compress"] * 24 + ["decompress"] * 24 + ["run"] * 16 + ["leaderboard"] * 12 + ["sweep"] * 12
COMMANDS += ["plot"] * 5 + ["list"] * 4 + ["top"] * 4 + ["publish"]  # publish draws six charts: seconds
TOP = [
    [], ["--version"], ["--help"], ["--debug"], ["bogus"], ["--debug", "--version"], ["list"], ["compress", "--help"],
    ["--bogus", "list", "predictors"], ["list", "predictors", "extra"], ["run", "--max-bytes"],
]  # fmt: skip
MAX_BYTES = mostly(["1", "100", "1000", "9" * 30], ["0", "-1", "nan", "inf", "1e3", ""])
SIZES = mostly(["order=1,2", "order=0,3", "limit=2,16", "rate=0,1", "order=1, 2 ,"],
               ["order=", "=1", "order", "order=1,,2", "memory_mib=1,2", "order=nan", "order=99", "nope=1", "x[/]=1",
                "order=1,order=2", ""])  # fmt: skip


@st.composite
def argvs(draw) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    path, output = mostly(GOOD_INPUTS, PATHS), mostly(GOOD_OUTPUTS, OUTPUTS)
    head = common(draw) if draw(st.integers(0, 4)) == 0 else []
    if command == "top":
        return draw(st.sampled_from(TOP))
    if command == "list":
        return [*head, "list", draw(mostly(["predictors", "corpora", "baselines"], ["bogus", "x[/]"])), *common(draw)]
    if command == "compress":
        args = ["compress", draw(path)] + (["-p", draw(specs)] if draw(st.integers(0, 19)) else [])
        groups = exclusive(draw, [["-o", draw(output)], ["-c"]])
        groups += [flag(draw, "--force"), flag(draw, "--allow-pickle", p=5)]
        return [*head, *args, *shuffled(draw, groups), *common(draw)]
    if command == "decompress":
        hz = ["valid.hz", "order0.hz", "damaged.hz", "truncated.hz", "garbage.hz", "-"]
        args = ["decompress", draw(st.one_of(st.sampled_from(hz), st.sampled_from(hz), st.sampled_from(PATHS)))]
        groups = exclusive(draw, [["-o", draw(output)], ["-c"], ["-t"], ["-l"]])
        groups += [
            flag(draw, "--force"),
            flag(draw, "--model", draw(st.sampled_from(PATHS)), p=6),
            flag(draw, "--allow-download", p=6),
            flag(draw, "--max-memory", draw(mostly(["4", "64", "9" * 30], ["1", "0", "-5", "nan", "1e9"])), p=4),
            flag(draw, "--allow-pickle", p=6),
        ]
        return [*head, *args, *shuffled(draw, groups), *common(draw)]
    if command in ("run", "sweep"):
        # Always a -c: without one, the python corpus, too big here. Baselines only on these tiny
        # files, and rarely: --no-baselines most of the time.
        # A sweep's sizes are ngram's options: its spec is mostly ngram in 1 to 4 MiB, nothing else.
        spec = either(st.sampled_from([f"ngram:memory_mib={n}" for n in (1, 2, 4)]), specs)
        args = [command, "-p", draw(specs if command == "run" else spec), "-c", draw(mostly(GOOD_CORPORA, CORPORA))]
        groups = [
            flag(draw, "-c", draw(mostly(GOOD_CORPORA, CORPORA)), p=4),
            flag(draw, "-p", draw(specs), p=4),
            flag(draw, "--max-bytes", draw(MAX_BYTES)),
            ["--results", draw(mostly(GOOD_STORES, STORES))] if draw(st.integers(0, 3)) else [],
            flag(draw, "--force", p=4),
            [] if draw(st.integers(0, 3)) else ["--no-baselines"],
        ]
        if "." in args or ["-c", "."] in groups:  # every file here, times every baseline: seconds
            groups.append(["--no-baselines"])
        if command == "run":
            groups.append(flag(draw, "--allow-pickle", p=6))
        else:
            groups += [
                flag(draw, "--sizes", draw(SIZES), p=2),
                flag(draw, "--executor", draw(mostly(["local"], ["ray", "bogus"])), p=4),
                flag(draw, "--workers", draw(mostly(["1", "2"], ["0", "x"])), p=4),
                flag(draw, "--address", draw(st.sampled_from(["ray://nowhere:1", "", "x[/]"])), p=8),
            ]
        return [*head, *args, *shuffled(draw, groups), *common(draw)]
    store = ["--results", draw(mostly(["store.jsonl"], STORES))]
    corpus = flag(draw, "-c", draw(mostly(["small.txt"], FILTERS)))
    if command == "leaderboard":
        groups = [
            store,
            corpus,
            flag(draw, "--format", draw(mostly(["table", "md", "csv", "json", "html"], ["bogus"])), p=2),
            flag(draw, "--scope", draw(mostly(["group", "file", "both"], ["bogus"]))),
            flag(draw, "-o", draw(output)),
        ]
        return [*head, "leaderboard", *shuffled(draw, groups), *common(draw)]
    out_dir = ["-o", draw(mostly(GOOD_DIRS, OUTPUT_DIRS))]
    if command == "plot":
        # Charts take a second or more to draw: one kind at a time, `all` rarely.
        kind = draw(st.sampled_from(["size", "curve", "curve", "time", "compute", "all", "bogus"]))
        groups = [
            store,
            out_dir,
            corpus,
            flag(draw, "-p", draw(specs)),
            flag(draw, "--window", draw(mostly(["0", "1", "5"], ["-1", "nan", "9" * 20, "x[/]"]))),
        ]
        return [*head, "plot", kind, *shuffled(draw, groups), *common(draw)]
    return [*head, "publish", *shuffled(draw, [store, out_dir, corpus]), *common(draw)]


# ---------------------------------------------------------------------------------------------
# The tree each example runs in, and what may change in it


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> Path:
    """Made once with the CLI itself: .hz files (ngram and order0) and a store with loss curves."""
    folder = tmp_path_factory.mktemp("fuzz-assets")
    (folder / "small.txt").write_bytes(TEXT)
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        mp.chdir(folder)
        offline(mp, folder)
        for argv in (
            ["compress", "small.txt", "-p", "ngram:order=2,memory_mib=1", "-o", "valid.hz"],
            ["compress", "small.txt", "-p", "order0", "-o", "order0.hz"],
            ["run", "-p", "order0", "-p", "ngram:order=2,memory_mib=1", "-c", "small.txt", "--no-baselines",
             "--results", "store.jsonl"],
        ):  # fmt: skip
            assert cli.main(argv) == 0, argv
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    valid = (folder / "valid.hz").read_bytes()
    damaged = bytearray(valid)
    damaged[len(valid) // 2] ^= 0x10
    (folder / "damaged.hz").write_bytes(bytes(damaged))
    (folder / "truncated.hz").write_bytes(valid[: len(valid) // 2])
    (folder / "garbage.hz").write_bytes(bytes(range(256)) * 2)
    return folder


def offline(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """No network, no ~/.cache, no stores outside `folder`; sweeps in this process."""
    (folder / "data").mkdir(exist_ok=True)
    mp.setenv("HARNESS_DATA_DIR", str(folder / "data"))
    mp.setenv("HARNESS_CACHE_DIR", str(folder.parent / f"{folder.name}-cache"))
    mp.setenv("HARNESS_RESULTS", str(folder / "env-store.jsonl"))
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("COLUMNS", "120")
    mp.delenv("HARNESS_DEBUG", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in the CLI fuzz test")

    mp.setattr(urllib.request, "urlopen", no_network)
    # A process pool spawns interpreters that import torch: seconds each. The jobs and the
    # command's handling of their records are the same when run here, one after another.
    mp.setattr(sweep, "run_local", lambda jobs, workers=None: ((j, sweep.run_job(j)) for j in jobs))
    mp.setattr(sweep, "run_ray", lambda jobs, address=None: ((j, sweep.run_job(j)) for j in jobs))


def make_tree(root: Path, assets: Path) -> None:
    for name in ("small.txt", "valid.hz", "order0.hz", "damaged.hz", "truncated.hz", "garbage.hz", "store.jsonl"):
        shutil.copy2(assets / name, root / name)
    shutil.copytree(assets / "curves", root / "curves")
    (root / "empty.txt").write_bytes(b"")
    (root / "dir").mkdir()
    (root / "dir" / "inner.txt").write_bytes(TEXT[:100])
    (root / "data").mkdir()
    os.mkfifo(root / "fifo")
    os.symlink("loop", root / "loop")
    os.symlink("missing-target", root / "dangling")
    os.symlink("small.txt", root / "link.txt")
    if "/dev/full" in DEVICES:
        os.symlink("/dev/full", root / "tofull")
    (root / UNICODE).write_bytes(TEXT[::-1])
    (root / NEWLINE).write_bytes(TEXT[:200])
    (root / MARKUP).write_bytes(TEXT[50:])
    (root / "x[").mkdir()
    (root / "x[/].txt").write_bytes(TEXT[:77])  # markup across a folder and a file name
    (root / "plugin_ok.py").write_text('"""A plugin that registers nothing."""\n')
    (root / "plugin_bad.py").write_text("def broken(:\n")


def entry(path: str) -> tuple:
    info = os.lstat(path)
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as file:
            return kind, info.st_size, info.st_mtime_ns, hashlib.sha256(file.read()).hexdigest()
    if stat.S_ISLNK(info.st_mode):
        return kind, os.readlink(path)
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        return kind, info.st_rdev
    return (kind,)  # a folder's mtime changes with every file made in it: its kind is what counts


def snapshot(root: Path) -> dict[str, tuple]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = entry(path)
    return found


def devices() -> dict[str, tuple]:
    return {device: entry(device) for device in DEVICES}


def declared(argv: list[str], root: Path) -> tuple[set[str], set[str], bool]:
    """What the command may write: files, folders (with all below them), and whether a failed
    run may still have written them (a run keeps its finished results; plot and publish write
    file after file)."""
    try:
        args = cli.parser().parse_args(argv)
    except SystemExit:
        return set(), set(), False
    files: set[str] = set()
    folders: set[str] = set()
    command, keeps = args.command, args.command in ("run", "sweep", "plot", "publish")
    if command == "compress" and not (args.stdout or (args.file == "-" and not args.output)):
        files |= {args.output} if args.output else {f"{args.file}.hz", f"{Path(args.file).name}.hz"}
    elif command == "decompress" and not (
        args.stdout or args.test or args.list or (args.file == "-" and not args.output)
    ):
        files |= {args.output} if args.output else {args.file[:-3] if args.file.endswith(".hz") else args.file + ".out"}
    elif command in ("run", "sweep"):
        store = args.results or os.environ.get("HARNESS_RESULTS") or str(results.default_store())
        files.add(store)
        folders.add(str(Path(store).parent / "curves"))
    elif command == "leaderboard" and args.output:
        files.add(args.output)
    elif command in ("plot", "publish"):
        folders.add(args.output_dir)
    files.discard("-")

    def inside(path: str) -> list[str]:  # the path, and where a symlink at it leads, relative to root
        full = os.path.join(root, path)
        shown = [os.path.relpath(candidate, root) for candidate in {os.path.abspath(full), os.path.realpath(full)}]
        return [p for p in shown if not p.startswith("..")]

    return {p for f in files for p in inside(f)}, {p for f in folders for p in inside(f)}, keeps


def allowed(path: str, files: set[str], folders: set[str]) -> bool:
    if path in files or any(f == "." or path == f or path.startswith(f + os.sep) for f in folders):
        return True
    return any(target.startswith(path + os.sep) for target in files | folders)  # a folder made on the way


class Drain:
    """A reader on the FIFO, so that writing into it (as `>` would) never waits; counts the bytes."""

    def __init__(self, fifo: Path) -> None:
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.bytes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            if select.select([self.fd], [], [], 0.005)[0]:
                try:
                    chunk = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    chunk = b""
                self.bytes += len(chunk)
                if not chunk:
                    time.sleep(0.005)  # no writer: EOF at once, again and again

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        self._drain_rest()
        os.close(self.fd)
        return self.bytes

    def _drain_rest(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.bytes += len(chunk)
        except BlockingIOError:
            pass


def _alarm(signum, frame) -> None:
    raise Hung


def run_main(argv: list[str]) -> object:
    """`cli.main(argv)`'s return value, or argparse's exit code; fails the test on a hang."""
    alarm = signal.signal(signal.SIGALRM, _alarm)
    terminate = signal.getsignal(signal.SIGTERM)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        return cli.main(argv)
    except SystemExit as error:
        assert error.code in (0, 2), f"argparse exited with {error.code!r}"
        return error.code
    except Hung:
        pytest.fail(f"harness {argv!r} still running after {TIMEOUT_S} s: it hangs")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, alarm)
        signal.signal(signal.SIGTERM, terminate)


def restore(device: str, was: tuple) -> None:
    """Put a replaced device node back (as root), before the test fails for it."""
    if os.geteuid() == 0 and was[0] == stat.S_IFCHR:
        if os.path.lexists(device):
            os.unlink(device)
        os.mknod(device, 0o666 | stat.S_IFCHR, was[1])
        os.chmod(device, 0o666)


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(deadline=None, max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=argvs(), stdin=st.sampled_from(["", "small.txt", "valid.hz", "damaged.hz"]), default_store=st.booleans())
def test_cli_fuzz(assets, tmp_path, monkeypatch, capsysbinary, argv, stdin, default_store):
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    make_tree(root, assets)
    with monkeypatch.context() as mp:
        mp.chdir(root)
        offline(mp, root)
        if default_store:  # the user's working store, made by the first `run`
            mp.delenv("HARNESS_RESULTS")
            mp.setenv("XDG_DATA_HOME", str(root / "xdg"))
        data = (root / stdin).read_bytes() if stdin else b""
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        files, folders, keeps = declared(argv, root)
        before, devices_before = snapshot(root), devices()
        drain = Drain(root / "fifo")
        capsysbinary.readouterr()
        try:
            code = run_main(argv)
        finally:
            fifo_bytes = drain.close()
            out, err = capsysbinary.readouterr()
    after, devices_after = snapshot(root), devices()

    shown = f"harness {argv!r} -> {code!r}\nstdout: {out[-2000:]!r}\nstderr: {err[-2000:]!r}"
    for device, was in devices_before.items():
        if devices_after[device] != was:
            restore(device, was)
            pytest.fail(f"{device} changed from {was} to {devices_after[device]}\n{shown}")
    assert isinstance(code, int), shown
    for text in (b"Traceback", b"internal error"):
        assert text not in out and text not in err, shown
    if code != 0 and not keeps:  # a failed compress, decompress or leaderboard writes nothing
        files, folders = set(), set()
    changed = sorted(
        path
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path) and not allowed(path, files, folders)
    )
    assert not changed, f"changed: {changed} (allowed: {sorted(files | folders)})\n{shown}"
    leftovers = [p for p in after.keys() - before.keys() if Path(p).name.startswith(".") and p.endswith(".tmp")]
    assert not leftovers, f"temp files left: {leftovers}\n{shown}"
    assert after["fifo"] == before["fifo"], shown
    assert fifo_bytes == 0 or "fifo" in files, f"{fifo_bytes} bytes written into the FIFO\n{shown}"
    cache = root.parent / f"{root.name}-cache"
    assert not cache.exists() or not [p for p in cache.rglob("*") if not p.is_dir()], shown
