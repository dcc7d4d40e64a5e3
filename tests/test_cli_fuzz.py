"""Fuzzing the whole command line at scale: a few thousand random command lines per run, drawn
from the real argparse parser (every subcommand, option and choice `cli.parser()` declares, so a
new option is fuzzed without editing this file), run in this process through `cli.main` over a
tree of awkward paths (missing, a directory, a FIFO, devices, symlink loops, dangling links,
unicode, newlines and rich markup in names, empty, valid and damaged .hz files, odd stores).

Every case must: return an int, print no traceback and no "internal error", end within
TIMEOUT_S, fail where failure is certain (`must_fail`), leave no temp file, change nothing but
the outputs it was asked for, and leave devices and FIFOs as they were. Inputs are a few hundred
bytes and predictors cheap (order0, ngram up to order 3 in at most 4 MiB); nothing reaches the
network.

Each run draws a new seed and prints it. To reproduce: HARNESS_FUZZ_SEED=S reruns the same
cases, HARNESS_FUZZ_CASE=I runs case I of that seed alone, HARNESS_FUZZ_CASES=N sets how many
(default CASES), HARNESS_FUZZ_VERBOSE=1 prints each argv before it runs.
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import hashlib
import io
import os
import random
import select
import shutil
import signal
import stat
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from harness import cli, results, sweep
from harness.errors import HarnessError
from harness.registry import load_registry

CASES = 1200  # about a minute on 2 cores; each run draws new ones, so over runs they add up
TIMEOUT_S = 30  # per case: the slowest (publish, six charts) take a few seconds
MAX_FAILURES = 20  # then stop: the first ones say enough, and each may cost a timeout
DEVICES = [d for d in ("/dev/null", "/dev/zero", "/dev/full") if os.path.exists(d)]
TEXT = (
    b"It was the best of times, it was the worst of times; the quick brown fox jumps over "
    b"the lazy dog 0123456789. [bold]not markup[/] \xe2\x82\xac\n"
) * 2
UNICODE = "ünï-名前.txt"
NEWLINE = "new\nline.txt"
MARKUP = "[bold]x.txt"
NOT_UTF8 = "not-utf8-\udcff.txt"  # a name with the byte 0xff, as Python decodes it (surrogateescape)
NOT_UTF8_HZ = "not-utf8-\udcff.hz"

# Every kind of path, relative to the case's folder (the working directory) or absolute.
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
    NOT_UTF8,
    "x[/].txt",
    "valid.hz",
    NOT_UTF8_HZ,
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
DATA_DIRS = ["data", "dir", "missing", "fifo", "small.txt", "", *DEVICES]
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
INPUTS = [*PATHS, "canterbury/alice29.txt", "calgary/nope", "synthetic/nope", "nope/x"]
FILTERS = ["small.txt", "canterbury", "python/topics", "synthetic", "nope", "x[/]", "[bold]", "", "."]
# Half of the draws come from these, so that many cases get past the checks and do the work.
GOOD_INPUTS = ["small.txt", UNICODE, NEWLINE, MARKUP, NOT_UTF8, "x[/].txt", "link.txt", "-"]
GOOD_HZ = ["valid.hz", "order0.hz", NOT_UTF8_HZ, "-"]
GOOD_OUTPUTS = ["out.hz", "out.bin", "dir/new.out", "[bold]out", "ünï.out", "new\nout", "-", *DEVICES[:1]]
GOOD_STORES = ["store.jsonl", "new.jsonl", "dir/new.jsonl", "[bold]r.jsonl", "ünï.jsonl", "new\nline.jsonl"]
GOOD_CORPORA = ["small.txt", "dir", UNICODE, NEWLINE, MARKUP, NOT_UTF8, "x[/].txt", "link.txt"]
GOOD_DIRS = ["plots", "dir", "dir/sub", "new dir", "[bold]d", "ünï"]
GOOD_NUMBERS = ["1", "2", "3", "16", "100", "1000"]
BAD_NUMBERS = ["0", "-1", "-5", "nan", "inf", "1e3", "", "0x10", "3.5", "9" * 30, str(2**64), "٣", " 2", "+3",
               "1_000", "x[/]"]  # fmt: skip
GOOD_SIZES = ["order=1,2", "order=0,3", "limit=2,16", "rate=0,1", "order=1, 2 ,"]
BAD_SIZES = ["order=", "=1", "order", "order=1,,2", "memory_mib=1,2", "order=nan", "order=99", "nope=1", "x[/]=1",
             "order=1,order=2", ""]  # fmt: skip
MUTATIONS = [  # what a value may become, wherever it is drawn
    lambda s: "",
    lambda s: s + "\n",
    lambda s: s + "\t\r",
    lambda s: "\x1b[31m" + s,  # a terminal escape
    lambda s: f"[bold]{s}[/]",  # rich markup
    lambda s: s + "[/]",
    lambda s: s + "\udcff",  # a byte that is not UTF-8, as Python decodes argv (surrogateescape)
    lambda s: "\u202e" + s,  # right-to-left override
    lambda s: "ü名" + s,
    lambda s: s * 40,
    lambda s: "-" + s,  # looks like an option
    lambda s: f" {s} ",
    lambda s: "d/" * 2100 + s,  # past PATH_MAX
]  # never a NUL: no argv can hold one

# Predictor specs: valid ones build cheap predictors (never ngram's 64 MiB default); broken
# ones are refused while the spec is parsed, whatever the command (a test below checks that).
VALID_VALUES = {
    "order": ["0", "1", "2", "3", " 2", "+3", "٣"],
    "memory_mib": ["1", "2", "4"],
    "limit": ["2", "16", "1024"],
    "rate": ["0", "0.5", "1", "1e-9", "0.005"],
}
BAD_VALUES = ["-1", "3.5", "nan", "inf", "-inf", "", "x[/]", "9" * 30, "1e1", "0x2", "[bold]1", str(2**64), "\x1b"]
OUT_OF_RANGE = {"order": ["65"], "memory_mib": ["0", "1048577"], "limit": ["1", "4194304"], "rate": ["1.5", "-0.1"]}
HEAVY_REFUSED = [
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
BAD_NAMES = ["nope", "Order0", "ORDER0", "", " ", ":", "x[/]", "[bold]ngram", "ngram2", "ngram::", ":order=2", "\udcff"]
SPEC_TEXT = "ab:=, ()[]/\n\t\x1b\udcffü名0123"
REGISTRY = load_registry()
KNOWN = set(REGISTRY.predictors)

# Cost: what keeps a case to a fraction of a second. Without -p and -c, run and sweep would
# measure ngram at 64 MiB on the python corpus; drawing charts takes a second or more.
ALWAYS = {("run", "predictor"), ("run", "corpus"), ("sweep", "predictor"), ("sweep", "corpus")}
RATES = {"results": 0.8, "no_baselines": 0.8, "chunk_bytes": 0.05, "chunks_per_job": 0.05, "plugin": 0.04,
         "more_plugins": 0.04, "data_dir": 0.1, "debug": 0.1, "help": 0.005, "version": 0.005}  # fmt: skip
RATE = 0.2  # of any other option
WEIGHTS = {"compress": 6, "decompress": 6, "run": 3, "sweep": 3, "leaderboard": 3, "list": 1, "plot": 0.5,
           "publish": 0.15}  # fmt: skip
NEW_COMMAND_WEIGHT = 3  # a command added to the parser is fuzzed as often as `run`


class Hung(BaseException):
    """Raised by SIGALRM: the case ran past TIMEOUT_S (not an Exception: `main` must not catch it)."""


# ---------------------------------------------------------------------------------------------
# The grammar: read from the parser, values drawn by what each option names (its dest).


PARSER = cli.parser()  # the grammar, and the oracle's reading of a command line (main builds its own)


def subcommands() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's. argparse keeps its actions in `_actions` and
    `_mutually_exclusive_groups`: private names, but the only way to read a parser back."""
    (commands,) = [a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)]
    return PARSER, dict(commands.choices)


class Draw:
    """One case's random choices, seeded by the run's seed and the case's number, so that any
    case can be drawn again alone."""

    def __init__(self, seed: int, index: int, root: Path) -> None:
        self.rng = random.Random(f"{seed}:{index}")
        self.root = root
        self.broken: set[str] = set()  # the specs drawn broken: a command that reads one must fail

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items):
        return self.rng.choice(list(items))

    def mostly(self, good: list[str], everything: list[str]) -> str:
        return self.pick(good if self.chance(0.5) else everything)

    def mutated(self, text: str, p: float = 0.06) -> str:
        return self.pick(MUTATIONS)(text) if self.chance(p) else text

    def path(self, good: list[str], everything: list[str]) -> str:
        """A path from the tree, now and then absolute or with ./ before it, now and then mutated."""
        text = self.mostly(good, everything)
        if text and text != "-" and not text.startswith("/") and self.chance(0.1):
            text = str(self.root / text) if self.chance(0.7) else "./" + text
        return self.mutated(text)

    def number(self) -> str:
        return self.pick(GOOD_NUMBERS if self.chance(0.75) else BAD_NUMBERS)

    def spec(self) -> str:
        if self.chance(0.75):
            return self.valid_spec()
        spec = self.broken_spec()
        self.broken.add(spec)
        return spec

    def valid_spec(self) -> str:
        if self.chance(0.4):
            return self.pick(["order0", "order0", " order0 ", "order0:"])
        keys = self.rng.sample(["order", "limit", "rate"], self.rng.randint(0, 3))
        items = [f"{key}={self.pick(VALID_VALUES[key])}" for key in keys]
        items.append(f"memory_mib={self.pick(VALID_VALUES['memory_mib'])}")  # never the 64 MiB default
        self.rng.shuffle(items)
        return "ngram:" + self.pick([",", ", ", " ,"]).join(items)

    def broken_spec(self) -> str:
        """A spec wrong in one place, each certain to be refused by `Registry.predictor`."""
        base = self.valid_spec()
        fault = self.pick(["name", "value", "range", "unknown", "twice", "bare", "order0", "heavy", "text", "empty"])
        if fault == "name":
            return self.pick(BAD_NAMES) + base[base.index(":") :] if ":" in base else self.pick(BAD_NAMES)
        if fault in ("value", "range"):
            key = self.pick(sorted(VALID_VALUES))
            value = self.pick(BAD_VALUES if fault == "value" else OUT_OF_RANGE[key])
            return f"ngram:{key}={value}" + ("" if key == "memory_mib" else ",memory_mib=1")
        if fault == "unknown":
            item = self.pick(["nope=1", "ORDER=2", "=3", "[bold]=1", " = ", "x[/]=1", "order"])
            return f"{base},{item}" if ":" in base and base.strip() != "order0:" else f"ngram:memory_mib=1,{item}"
        if fault == "twice":
            return "ngram:order=1,memory_mib=1," + self.pick(["order=2", "memory_mib=1", " order =1"])
        if fault == "bare":
            return "ngram:" + self.pick(["3", "x[/]", "[bold]"]) + ",memory_mib=1"
        if fault == "order0":
            return "order0:" + self.pick(["order=1", "x=1", "1", "x[/]"])
        if fault == "heavy":
            return self.pick(HEAVY_REFUSED)
        if fault == "empty":
            return self.pick(["", " ", ":", ",", ":order0", " :memory_mib=1"])
        text = "".join(self.pick(SPEC_TEXT) for _ in range(self.rng.randint(1, 12)))
        return text if text.partition(":")[0].strip() not in KNOWN else "nope" + text


SWEEP_SPECS = [f"ngram:memory_mib={n}" for n in (1, 2, 4)]
# What a value is drawn from, by (command, dest) or dest; an option with another dest draws
# numbers if its type is numeric, else paths of every kind.
VALUES = {
    ("compress", "file"): lambda d: d.path(GOOD_INPUTS, INPUTS),
    ("decompress", "file"): lambda d: d.path(GOOD_HZ, PATHS),
    ("run", "corpus"): lambda d: d.path(GOOD_CORPORA, CORPORA),
    ("sweep", "corpus"): lambda d: d.path(GOOD_CORPORA, CORPORA),
    "corpus": lambda d: d.mutated(d.mostly(["small.txt"], FILTERS)),  # leaderboard, plot, publish: a filter
    ("run", "results"): lambda d: d.path(GOOD_STORES, STORES),
    ("sweep", "results"): lambda d: d.path(GOOD_STORES, STORES),
    "results": lambda d: d.path(["store.jsonl"], STORES),
    # A sweep's sizes are ngram's options: its spec is mostly ngram in 1 to 4 MiB.
    ("sweep", "predictor"): lambda d: d.pick(SWEEP_SPECS) if d.chance(0.5) else d.spec(),
    "predictor": Draw.spec,
    "spec": Draw.spec,
    "output": lambda d: d.path(GOOD_OUTPUTS, OUTPUTS),
    "output_dir": lambda d: d.path(GOOD_DIRS, OUTPUT_DIRS),
    "data_dir": lambda d: d.path(["data"], DATA_DIRS),
    "plugin": lambda d: d.path(["plugin_ok.py", "plugin_bad.py"], PATHS),
    "more_plugins": lambda d: d.path(["plugin_ok.py", "plugin_bad.py"], PATHS),
    "model": lambda d: d.path(["dir"], PATHS),
    "readme": lambda d: d.path(["readme.md"], PATHS),
    "sizes": lambda d: d.mutated(d.mostly(GOOD_SIZES, BAD_SIZES)),
    "address": lambda d: d.mutated(d.pick(["ray://nowhere:1", "localhost:1", "", "x[/]"])),
}
NUMERIC = (int, float, cli._positive)


def value(draw: Draw, command: str, action: argparse.Action) -> str:
    if action.choices:
        return draw.mutated(draw.pick(action.choices), p=0.1)
    pool = VALUES.get((command, action.dest)) or VALUES.get(action.dest)
    if pool:
        return pool(draw)
    if action.type in NUMERIC:
        return draw.mutated(draw.number())
    return draw.path(PATHS, OUTPUTS)


def times(draw: Draw, action: argparse.Action) -> int:
    """How many values an option or positional takes here, by its nargs."""
    nargs = action.nargs
    if nargs is None:
        return 1
    if isinstance(nargs, int):
        return nargs
    return {"?": draw.rng.randint(0, 1), "*": draw.rng.randint(0, 2), "+": draw.rng.randint(1, 2)}.get(nargs, 1)


def spelled(draw: Draw, action: argparse.Action) -> str:
    """One of the option's names, now and then abbreviated (argparse takes a unique prefix)."""
    name = draw.pick(action.option_strings)
    if name.startswith("--") and len(name) > 4 and draw.chance(0.05):
        return name[: draw.rng.randint(3, len(name) - 1)]
    return name


def tokens(draw: Draw, command: str, parser: argparse.ArgumentParser) -> list[list[str]]:
    """The parser's arguments, each a group of tokens: positionals (now and then one missing or
    one too many), options at their rate, rarely two of one mutually exclusive group."""
    exclusive = {id(a): group for group in parser._mutually_exclusive_groups for a in group._group_actions}
    taken: set[int] = set()
    groups = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:
            if not draw.chance(0.02):
                groups.append([value(draw, command, action) for _ in range(times(draw, action))])
            continue
        if (command, action.dest) in ALWAYS:
            rate = 1.0
        else:
            rate = 0.97 if action.required else RATES.get(action.dest, RATE)
        group = exclusive.get(id(action))
        if group is not None and id(group) in taken:
            rate *= 0.1
        repeats = 1 + (isinstance(action, argparse._AppendAction) and draw.chance(0.25))
        for _ in range(repeats if draw.chance(rate) else 0):
            if group is not None:
                taken.add(id(group))
            values = [value(draw, command, action) for _ in range(times(draw, action))]
            if len(values) == 1 and action.option_strings[-1].startswith("--") and draw.chance(0.1):
                groups.append([f"{action.option_strings[-1]}={values[0]}"])
            else:
                groups.append([spelled(draw, action), *values])
    if draw.chance(0.02):
        groups.append([draw.pick(["--bogus", "extra", "--", "-x", "-"])])
    draw.rng.shuffle(groups)
    return groups


def argv_for(draw: Draw) -> list[str]:
    top, commands = subcommands()
    head = [token for group in tokens(draw, "", top) for token in group] if draw.chance(0.15) else []
    if draw.chance(0.01):
        return head + draw.pick([[], ["bogus"], ["x[/]"]])  # no command, or none that exists
    names = list(commands)
    command = draw.rng.choices(names, [WEIGHTS.get(name, NEW_COMMAND_WEIGHT) for name in names])[0]
    argv = [*head, command, *(token for group in tokens(draw, command, commands[command]) for token in group)]
    if command in ("run", "sweep") and "." in argv and "--no-baselines" not in argv:
        argv.append("--no-baselines")  # every file here times every baseline: seconds
    return argv


# ---------------------------------------------------------------------------------------------
# The oracle: where a command cannot succeed, whatever else its command line says


def container_kind(data: bytes, assets: Path) -> str:
    """'valid', 'undecodable' (a good header, a damaged body) or 'none' (no container at all):
    every .hz in the tree is one of the assets, every other file no container."""
    if data in ((assets / "valid.hz").read_bytes(), (assets / "order0.hz").read_bytes()):
        return "valid"
    if data in ((assets / "damaged.hz").read_bytes(), (assets / "truncated.hz").read_bytes()):
        return "undecodable"
    return "none"


def must_fail(args: argparse.Namespace, stdin: bytes, broken: set[str], assets: Path) -> str | None:
    """Why the command parsed into `args` cannot succeed on the tree as it is before it runs;
    None where it may. Each rule alone is enough for the command to fail."""
    command = args.command
    if command == "compress" and args.predictor in broken:
        return f"a broken predictor spec {args.predictor!r}"
    if command == "run" or (command == "sweep" and not args.sizes):  # --sizes rewrites each spec: not judged
        if bad := [spec for spec in args.predictor or [] if spec in broken]:
            return f"a broken predictor spec {bad[0]!r}"
    if command == "plot" and args.kind == "curve" and (bad := [spec for spec in args.spec or [] if spec in broken]):
        return f"a broken predictor spec {bad[0]!r}"
    if command in ("compress", "decompress") and args.file != "-" and not os.path.isfile(args.file):
        if command == "decompress" or args.file.partition("/")[0] not in REGISTRY.corpora:
            return f"the input {args.file!r} is no regular file"
    if command == "decompress":
        data = stdin if args.file == "-" else Path(args.file).read_bytes()
        kind = container_kind(data, assets)
        if kind == "none" or (kind == "undecodable" and not args.list):
            return f"the input is {'no container' if kind == 'none' else 'a damaged container'}"
    if reason := _output_fails(args):
        return reason
    store = getattr(args, "results", None) or os.environ.get("HARNESS_RESULTS") or str(results.default_store())
    if command in ("run", "sweep"):
        if os.path.exists(store) and not os.path.isfile(store):
            return f"the store {store!r} is no regular file"
        if not os.path.lexists(store) and not os.path.isdir(os.path.dirname(os.path.abspath(store))):
            if store != str(results.default_store()):  # whose folder the first run makes
                return f"the store {store!r} is in no folder"
    if command in ("leaderboard", "plot", "publish"):
        if not os.path.isfile(store) or b"{" not in Path(store).read_bytes():
            return f"the store {store!r} holds no record"
    if command in ("plot", "publish") and os.path.lexists(args.output_dir) and not os.path.isdir(args.output_dir):
        return f"the output folder {args.output_dir!r} is no folder"
    return None


def _output_fails(args: argparse.Namespace) -> str | None:
    """compress's and decompress's output: a folder, an existing file without --force, the input
    itself (even with --force), or a path in no folder."""
    if args.command == "compress":
        if args.stdout or (args.file == "-" and not args.output):
            return None
        target = args.output or (f"{args.file}.hz" if os.path.lexists(args.file) else f"{Path(args.file).name}.hz")
    elif args.command == "decompress" and not (args.stdout or args.test or args.list):
        if args.file == "-" and not args.output:
            return None
        target = args.output or (args.file[: -len(".hz")] if args.file.endswith(".hz") else args.file + ".out")
    else:
        return None
    if target == "-":
        return None
    real = os.path.realpath(target)
    if os.path.isdir(real):
        return f"the output {target!r} is a folder"
    if os.path.isfile(real):
        if args.file != "-" and os.path.isfile(args.file) and os.path.samefile(args.file, real):
            return f"the output {target!r} is the input"
        return None if args.force else f"the output {target!r} exists and there is no --force"
    if not os.path.lexists(target) and not os.path.lexists(real) and not os.path.isdir(os.path.dirname(real)):
        return f"the output {target!r} is in no folder"
    return None


# ---------------------------------------------------------------------------------------------
# The tree each case runs in, and what may change in it


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> Path:
    """Made once with the CLI itself: .hz files (ngram and order0) and a store with loss curves.
    This also compiles (or loads from numba's cache) the predictors, before any case is timed."""
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
    (root / NOT_UTF8).write_bytes(TEXT[20:])
    shutil.copy2(assets / "order0.hz", root / NOT_UTF8_HZ)
    (root / "x[").mkdir()
    (root / "x[/].txt").write_bytes(TEXT[:77])  # markup across a folder and a file name
    (root / "plugin_ok.py").write_text('"""A plugin that registers nothing."""\n')
    (root / "plugin_bad.py").write_text("def broken(:\n")
    (root / "readme.md").write_text("# Results\n\n<!-- results:start -->\n<!-- results:end -->\n")


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


def declared(args: argparse.Namespace | None, root: Path) -> tuple[set[str], set[str], bool]:
    """What the command may write: files, folders (with all below them), and whether a failed
    run may still have written them (a run keeps its finished results; plot and publish write
    file after file)."""
    if args is None:
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
    if command == "publish" and args.readme:
        files.add(args.readme)
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
                    self.stop.wait(0.005)  # no writer: EOF at once, again and again

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


def run_main(argv: list[str], stderr: io.TextIOBase) -> object:
    """`cli.main(argv)`'s return value, argparse's exit code, or Hung after TIMEOUT_S."""
    alarm = signal.signal(signal.SIGALRM, _alarm)
    terminate = signal.getsignal(signal.SIGTERM)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    # SIGALRM is acted on only between Python bytecodes: a loop in compiled code that never ends
    # would hang the test, so faulthandler (a C thread) dumps the stacks into `stderr` and exits.
    faulthandler.dump_traceback_later(TIMEOUT_S + 30, exit=True, file=stderr)
    try:
        return cli.main(argv)
    except SystemExit as error:
        return error.code
    except Hung:
        return Hung
    except Exception:  # --debug lets a bug's exception out, as the real command would show it
        traceback.print_exc()
        return 1
    finally:
        faulthandler.cancel_dump_traceback_later()
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


def parsed(argv: list[str]) -> argparse.Namespace | None:
    """`argv` as `main` will read it; None where argparse ends the command (an error, --help)."""
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            return PARSER.parse_args(argv)
    except SystemExit:
        return None


def terminal(errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def run_case(argv, stdin, default_store, broken, root, assets, real_stderr) -> tuple[object, str | None, list]:
    """Run one command line in the tree at `root`: its exit code, why it had to fail (or None),
    and what went wrong, as (kind, details)."""
    # stdout and stderr as Python sets them up in a UTF-8 locale: stdout strict, stderr escaping
    # what it cannot encode (pytest's capture is strict for both). A name that is no UTF-8
    # reaches argv as surrogates (surrogateescape).
    stdout, stderr = terminal("strict"), terminal("backslashreplace")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        offline(mp, root)
        if default_store:  # the user's working store, made by the first `run`
            mp.delenv("HARNESS_RESULTS")
            mp.setenv("XDG_DATA_HOME", str(root / "xdg"))
        data = (root / stdin).read_bytes() if stdin else b""
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        mp.setattr(sys, "stdout", stdout)
        mp.setattr(sys, "stderr", stderr)
        args = parsed(argv)
        reason = must_fail(args, data, broken, assets) if args else None
        files, folders, keeps = declared(args, root)
        before, devices_before = snapshot(root), devices()
        drain = Drain(root / "fifo")
        try:
            code = run_main(argv, real_stderr)
        finally:
            fifo_bytes = drain.close()
            out, err = stdout.buffer.getvalue(), stderr.buffer.getvalue()
    after, devices_after = snapshot(root), devices()

    problems = []
    for device, was in devices_before.items():
        if devices_after[device] != was:
            restore(device, was)
            problems.append(("device changed", f"{device} changed from {was} to {devices_after[device]}"))
    if code is Hung:
        problems.append(("hang", f"still running after {TIMEOUT_S} s"))
    elif not isinstance(code, int):
        problems.append(("exit status not an int", repr(code)))
    for text in ("Traceback", "internal error"):
        if text.encode() in out or text.encode() in err:
            problems.append((text.lower(), ""))
    if code == 0 and reason:
        problems.append(("exit 0 where failure is certain", reason))
    if code != 0 and not keeps:  # a failed compress, decompress or leaderboard writes nothing
        files, folders = set(), set()
    changed = sorted(
        path
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path) and not allowed(path, files, folders)
    )
    if changed:
        problems.append(("changed files", f"{changed} (allowed: {sorted(files | folders)})"))
    if leftovers := [p for p in after.keys() - before.keys() if Path(p).name.startswith(".") and p.endswith(".tmp")]:
        problems.append(("temp files left", str(leftovers)))
    if after.get("fifo") != before["fifo"]:
        problems.append(("FIFO replaced", ""))
    if fifo_bytes and "fifo" not in files:
        problems.append(("FIFO written", f"{fifo_bytes} bytes"))
    cache = root.parent / f"{root.name}-cache"
    if cache.exists() and [p for p in cache.rglob("*") if not p.is_dir()]:
        problems.append(("download cache written", ""))
    shown = f"\nstdout: {out[-1500:]!r}\nstderr: {err[-1500:]!r}"
    return code, reason, [(kind, f"{detail}{shown}") for kind, detail in problems]


@pytest.fixture
def real_stderr(capsysbinary):
    """The process's stderr as it was before pytest captured it: what a run killed by
    faulthandler leaves in the CI log."""
    with capsysbinary.disabled():
        stderr = os.fdopen(os.dup(2), "w")
    yield stderr
    stderr.close()


def case_folder(base: Path, name: str, assets: Path) -> Path:
    root = base / name
    root.mkdir()
    make_tree(root, assets)
    return root


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_fuzz(assets, tmp_path, capsysbinary, real_stderr):
    seed = int(os.environ.get("HARNESS_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    only = os.environ.get("HARNESS_FUZZ_CASE")
    cases = [int(only)] if only else range(int(os.environ.get("HARNESS_FUZZ_CASES") or CASES))
    verbose = bool(os.environ.get("HARNESS_FUZZ_VERBOSE"))
    with capsysbinary.disabled():  # in the test's output, passed or failed
        print(f"\ncli fuzz: HARNESS_FUZZ_SEED={seed}, {len(cases)} cases (a case that hangs in compiled code "
              "ends the run: HARNESS_FUZZ_VERBOSE=1 then shows its argv)", flush=True)  # fmt: skip

    started, codes, certain, failures = time.monotonic(), collections.Counter(), 0, []
    for index in cases:
        root = case_folder(tmp_path, str(index), assets)
        draw = Draw(seed, index, root)
        argv = argv_for(draw)
        stdin, default_store = draw.pick(["", "small.txt", "valid.hz", "damaged.hz"]), draw.chance(0.5)
        if verbose:
            with capsysbinary.disabled():
                print(f"case {index}: harness {argv!r} < {stdin or 'nothing'}", flush=True)
        code, reason, problems = run_case(argv, stdin, default_store, draw.broken, root, assets, real_stderr)
        codes[code if isinstance(code, int) else repr(code)] += 1
        certain += reason is not None
        shown = f"case {index}: harness {argv!r} < {stdin or 'nothing'} -> {code!r}"
        failures += [(kind, f"{shown}: {kind}: {details}") for kind, details in problems]
        if not problems:
            shutil.rmtree(root, ignore_errors=True)  # thousands of trees add up; a failed case's stays to look at
        if len(failures) >= MAX_FAILURES:
            break

    seconds = time.monotonic() - started
    with capsysbinary.disabled():
        print(f"cli fuzz: {sum(codes.values())} cases in {seconds:.0f} s, exit codes {dict(codes)}, "
              f"{certain} certain to fail", flush=True)  # fmt: skip
    counts = collections.Counter(kind for kind, _ in failures)
    assert not failures, (
        f"{dict(counts)} in {sum(codes.values())} cases; HARNESS_FUZZ_SEED={seed} reproduces them "
        "(HARNESS_FUZZ_CASE=N runs case N alone)\n\n" + "\n\n".join(message for _, message in failures)
    )


# Command lines the fuzz found failing once, run every time: (argv, stdin, default_store).
REGRESSIONS = [
    # A name that is no UTF-8 written to a strict stdout: internal error UnicodeEncodeError.
    (["decompress", "-l", NOT_UTF8_HZ], "", False),
    (["run", "-p", "order0", "-c", NOT_UTF8, "--no-baselines", "--results", "r.jsonl"], "", False),
    # A resolution matplotlib cannot draw text at: internal error (FreeType's invalid ppem value).
    (["plot", "--dpi", "2", "curve", "--results", "store.jsonl"], "", False),
]


@pytest.mark.parametrize(("argv", "stdin", "default_store"), REGRESSIONS)
def test_cli_regressions(assets, tmp_path, real_stderr, argv, stdin, default_store):
    root = case_folder(tmp_path, "case", assets)
    broken = {token for token in argv if refused(token)}  # the oracle's premise, checked below
    code, _, problems = run_case(argv, stdin, default_store, broken, root, assets, real_stderr)
    shown = "\n".join(f"{kind}: {details}" for kind, details in problems)
    assert not problems, f"harness {argv!r} -> {code!r}\n{shown}"


def refused(spec: str) -> bool:
    try:
        REGISTRY.predictor(spec)
    except HarnessError:
        return True
    return False


def test_broken_specs_are_refused_and_valid_ones_accepted():
    """The oracle's premise: every spec the grammar draws broken is refused while it is parsed,
    every valid one accepted (so `must_fail` never blames a command for succeeding)."""
    draw = Draw(0, 0, Path("."))
    for _ in range(3000):
        spec = draw.broken_spec()
        assert refused(spec), spec
        assert not refused(valid := draw.valid_spec()), valid
