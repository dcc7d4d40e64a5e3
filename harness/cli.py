"""The `harness` command line: the argparse wiring and `main`. Each command is a module of
`harness.commands`, imported only when it runs, so that `harness --help` stays light."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import harness
from harness.commands import DEFAULT_CORPUS, DEFAULT_PREDICTORS
from harness.errors import HarnessError, PredictorError
from harness.progress import interrupted
from harness.trust import DEFAULT_MAX_MEMORY

_PICKLE_HELP = "let pickled weights (pytorch_model.bin) be loaded: unpickling can run any code in them"
STORE_HELP = "results store (default: $HARNESS_RESULTS, else $XDG_DATA_HOME/harness/results.jsonl, ~/.local/share/...)"


class _Choices(Sequence[str]):
    """The values an option accepts, read from the module that defines them only when argparse
    first asks (checking a value, showing a command's help): `harness --help` imports none of
    the commands' libraries, and no list is copied here. The option needs a `metavar`, else
    argparse reads its choices as soon as it is added."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _values(self) -> Sequence[str]:
        return getattr(importlib.import_module(self.module), self.name)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._values())


FORMATS = _Choices("harness.formats", "FORMATS")
SCOPES = _Choices("harness.leaderboard", "SCOPES")
EXECUTORS = _Choices("harness.sweep", "EXECUTORS")


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other error: `harness run: error: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _dpi(text: str) -> int:
    """argparse type: a resolution matplotlib can draw text at (below 20 its fonts fail)."""
    value = _positive(text)
    if not 20 <= value <= 1200:
        raise argparse.ArgumentTypeError(f"must be from 20 to 1200 dots per inch, not {value}")
    return value


def _positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def _path(text: str) -> str:
    """An output path: '' names nothing (not '.', not the default)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    return text


def _common(after_command: bool) -> argparse.ArgumentParser:
    """The options taken both before and after the subcommand.

    After it they default to SUPPRESS, so that the subcommand's defaults never overwrite a value
    given before it; plugins given in both places add up (`main` merges `more_plugins`).
    """
    unset = argparse.SUPPRESS if after_command else None
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugin",
        action="append",
        default=argparse.SUPPRESS if after_command else [],
        dest="more_plugins" if after_command else "plugin",
        metavar="FILE",
        help="load a plugin from a .py file; repeatable",
    )
    common.add_argument(
        "--data-dir", default=unset, help="folder serving standard corpora offline (default: $HARNESS_DATA_DIR)"
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="show the traceback of a failure (also: HARNESS_DEBUG=1)",
    )
    return common


EPILOG = """\
FILE may be - for stdin (compress, decompress); -o - or -c writes stdout.
Errors: bad input or a refused output prints one line `harness: error: ...` (exit 2); an exception
inside a predictor prints `harness: predictor 'SPEC' failed on FILE: Type: message` (exit 1).
--debug, or HARNESS_DEBUG=1, prints the traceback as well.
"""


def parser() -> argparse.ArgumentParser:
    common = _common(after_command=True)
    top = _Parser(
        prog="harness",
        description="Benchmark predictors by how well they compress.",
        parents=[_common(after_command=False)],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"harness {harness.__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", parents=[common], help="list predictors, corpora or baselines")
    listing.add_argument("what", choices=["predictors", "corpora", "baselines"])
    listing.add_argument("--options", action="store_true", help="predictors: each one's options, bounds and help")
    listing.set_defaults(command_module="listing")

    compress = commands.add_parser("compress", parents=[common], help="compress a file into a .hz container")
    compress.add_argument("file", help="file, - for stdin, or a corpus member such as calgary/book1")
    compress.add_argument("-p", "--predictor", required=True, help="predictor spec, e.g. ngram:order=6")
    to = compress.add_mutually_exclusive_group()
    to.add_argument("-o", "--output", type=_path, help="output path, - for stdout (default: FILE.hz; stdout for stdin)")
    to.add_argument("-c", "--stdout", action="store_true", help="write to stdout")
    compress.add_argument("--force", action="store_true", help="replace an existing regular file (nothing else)")
    compress.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    compress.set_defaults(command_module="compress")

    decompress = commands.add_parser("decompress", parents=[common], help="decompress a .hz container")
    decompress.add_argument("file", help=".hz file, or - for stdin")
    mode = decompress.add_mutually_exclusive_group()
    mode.add_argument(
        "-o", "--output", type=_path, help="output path, - for stdout (default: FILE without .hz; stdout for stdin)"
    )
    mode.add_argument("-c", "--stdout", action="store_true", help="write to stdout")
    mode.add_argument("-t", "--test", action="store_true", help="decode and check length and CRC; write nothing")
    mode.add_argument("-l", "--list", action="store_true", help="show the header: predictor, lengths, bits/byte, ratio")
    decompress.add_argument("--force", action="store_true", help="replace an existing regular file (nothing else)")
    # A .hz file is untrusted input: what it may make the decoder load, fetch and allocate.
    decompress.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH",
        help="a local model folder the file may use (matched by name, checked by sha256); repeatable",
    )
    decompress.add_argument(
        "--allow-download", action="store_true", help="let the file's model be fetched from the Hugging Face Hub"
    )
    decompress.add_argument(
        "--max-memory",
        type=_positive,
        default=DEFAULT_MAX_MEMORY >> 20,
        metavar="MIB",
        help="largest predictor a file may ask for, by its memory estimate (default: %(default)s MiB)",
    )
    decompress.add_argument(
        "--max-symbols",
        type=_positive,
        metavar="N",
        help="refuse a file claiming more than N symbols: the decode's work (a tiny file can claim billions)",
    )
    decompress.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    decompress.set_defaults(command_module="decompress")

    run = commands.add_parser("run", parents=[common], help="measure predictors on corpora, store and show results")
    run.add_argument(
        "--predictor",
        "-p",
        action="append",
        metavar="SPEC",
        help=f"repeatable (default: {', '.join(DEFAULT_PREDICTORS)})",
    )
    run.add_argument(
        "--corpus",
        "-c",
        action="append",
        metavar="NAME",
        help=f"corpus, member or path; repeatable (default: {DEFAULT_CORPUS})",
    )
    run.add_argument("--max-bytes", type=_positive, metavar="N", help="use only the first N bytes of each file")
    run.add_argument("--no-baselines", action="store_true", help="skip the classic compressors")
    run.add_argument("--results", metavar="PATH", help=STORE_HELP)
    run.add_argument("--force", action="store_true", help="recompute results already in the store")
    run.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    _chunking(run)
    run.set_defaults(command_module="run")

    board = commands.add_parser("leaderboard", parents=[common], help="show stored results")
    board.add_argument("--corpus", "-c", action="append", metavar="NAME", help="corpus file or group; repeatable")
    board.add_argument("--format", choices=FORMATS, default="table", metavar="FORMAT", help="%(choices)s")
    board.add_argument(
        "--scope", choices=SCOPES, default="both", metavar="SCOPE", help="group aggregates, files or both: %(choices)s"
    )
    board.add_argument(
        "--output", "-o", type=_path, metavar="FILE", help="write md/csv/json/html to FILE instead of stdout"
    )
    board.add_argument("--results", metavar="PATH", help=STORE_HELP)
    board.set_defaults(command_module="leaderboard")

    store_option = {"metavar": "PATH", "help": STORE_HELP}
    corpus_option = {"action": "append", "metavar": "NAME", "help": "corpus file or group; repeatable"}
    plot = commands.add_parser("plot", parents=[common], help="draw PNG charts of stored results")
    # Chart kinds: bits/byte against model size, FLOPs per byte and wall time; `all` draws each.
    # `curve`: the online loss curves (bits/byte against bytes seen) of the selected runs.
    plot.add_argument("kind", choices=["size", "compute", "time", "all", "curve"])
    plot.add_argument("--spec", "-p", action="append", metavar="SPEC", help="curve: only these predictor specs")
    plot.add_argument("--window", type=int, default=0, metavar="N", help="curve: moving average over N symbols")
    plot.add_argument("--corpus", "-c", **corpus_option)
    plot.add_argument("--output-dir", "-o", default="plots", metavar="DIR", help="where the charts go (default: plots)")
    plot.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="svg and pdf are vector (papers)")
    plot.add_argument("--dpi", type=_dpi, default=110, metavar="N", help="resolution of a PNG, 20..1200 (default: 110)")
    plot.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="SPEC=NAME",
        help="name a predictor's points NAME (default: the spec; an hf spec by its model); repeatable",
    )
    plot.add_argument("--results", **store_option)
    plot.set_defaults(command_module="plot")

    pub = commands.add_parser("publish", parents=[common], help="write the published tables, charts and records")
    pub.add_argument("--corpus", "-c", **corpus_option)
    pub.add_argument("--output-dir", "-o", default="results", metavar="DIR", help="default: results")
    pub.add_argument(
        "--from", "--results", dest="results", metavar="STORE", help="the store to select records from; " + STORE_HELP
    )
    pub.add_argument("--readme", metavar="FILE", help="also put the headline table between the markers in FILE")
    pub.set_defaults(command_module="publish")

    grid = commands.add_parser("sweep", parents=[common], help="run a grid of predictors x sizes x corpora as jobs")
    grid.add_argument("--predictor", "-p", action="append", metavar="SPEC", help="repeatable")
    grid.add_argument("--sizes", metavar="KEY=V1,V2,...", help="one option swept over values, e.g. order=1,2,4")
    grid.add_argument("--corpus", "-c", action="append", metavar="NAME", help="corpus, member or path; repeatable")
    grid.add_argument("--max-bytes", type=_positive, metavar="N", help="use only the first N bytes of each file")
    grid.add_argument("--no-baselines", action="store_true", help="skip the classic compressors")
    grid.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        metavar="EXECUTOR",
        help="inline: in this process; local: a process pool (default); ray: a Ray cluster",
    )
    grid.add_argument("--workers", type=_positive, metavar="N", help="local processes (default: one per CPU)")
    grid.add_argument("--address", metavar="ADDR", help="Ray cluster address (default: start a local Ray)")
    grid.add_argument("--force", action="store_true", help="recompute results already in the store")
    grid.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    grid.add_argument("--results", **store_option)
    _chunking(grid)
    grid.set_defaults(command_module="sweep")
    return top


def _chunking(parser: argparse.ArgumentParser) -> None:
    """run's and sweep's LMIC protocol: independent chunks, a large file fanned out in parts."""
    parser.add_argument(
        "--chunk-bytes",
        type=_positive,
        metavar="N",
        help="code each N-byte chunk as an independent stream (predictors with a chunk option, e.g. hf)",
    )
    parser.add_argument(
        "--chunks-per-job",
        type=_positive,
        default=64,
        metavar="K",
        help="with --chunk-bytes: a file is run as jobs of K chunks each, the record sums them (default 64)",
    )


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C, and `kill` cleaning up like it: temp files removed, stores intact."""
    interrupted.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        # argv is decoded with surrogateescape: a file name that is no UTF-8 goes back out as the
        # bytes it was, not as an internal error (stderr already escapes what it cannot encode).
        sys.stdout.reconfigure(errors="surrogateescape")
    args = parser().parse_args(argv)
    args.plugin = [*args.plugin, *vars(args).pop("more_plugins", [])]
    debug = args.debug or bool(os.environ.get("HARNESS_DEBUG"))
    interrupted.clear()
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where a shell ignores it
        signal.signal(signal.SIGINT, _interrupt)
    from harness.ui import console  # rich, not the commands' libraries

    try:
        importlib.import_module(f"harness.commands.{args.command_module}").run(args)
    except HarnessError as error:
        console.print(f"harness: error: {error}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("harness: interrupted; finished results are stored, nothing partial was written")
        return 130
    except PredictorError as error:  # a plugin's bug: named, one line, traceback on request
        if debug:
            traceback.print_exception(error)
        console.print(f"harness: {error}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except Exception as error:  # a bug, not bad input: still one line, traceback on request
        if debug:
            raise
        console.print(
            f"harness: internal error: {error!r} (--debug or HARNESS_DEBUG=1 shows the traceback)", highlight=False
        )
        return 1
    return 0


def entry() -> None:
    """The `harness` command. A Ctrl-C or kill that lands while Python shuts down, after the work
    is done (or before a command began), exits with the command's status or 130, not a traceback."""
    try:
        status = main()
    except KeyboardInterrupt:
        status = 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    entry()
