"""The `harness` command line."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import stat
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO, NoReturn

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

import harness
import harness.trust
from harness import container, formats, leaderboard, results, sweep
from harness.errors import HarnessError, PredictorError, predictor_errors
from harness.predictor import declared
from harness.registry import Registry, load_registry

DEFAULT_PREDICTORS = ["order0", "ngram"]
DEFAULT_CORPUS = "python"
_PICKLE_HELP = "let pickled weights (pytorch_model.bin) be loaded: unpickling can run any code in them"

# Paths, specs and values come from users and from untrusted files: printed as plain text, never
# as rich markup (a file named "m[/]x.txt" must not crash or restyle the output).
console = Console(stderr=True, markup=False, highlight=False)
stdout = Console(markup=False, highlight=False)


class _Rate(ProgressColumn):
    """Per second, in the task's `unit` (symbols: bytes for byte-level predictors); blank without one."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        return Text(f"{task.speed:,.0f} {unit}/s" if unit and task.speed else "")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _registry(args: argparse.Namespace, warn: bool = True) -> Registry:
    registry = load_registry(plugin_files=args.plugin)
    for error in registry.errors if warn else ():
        console.print(Text.assemble(("warning: ", "yellow"), error))
    return registry


STDIO = "-"
"""As an input: stdin; as an output: stdout."""

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _open_file(path: str, registry: Registry | None, data_dir: str | None) -> tuple[BinaryIO, int | None]:
    """`path` opened for reading, and its size (None: unknown); with `registry`, the corpus file a
    corpus name or member (calgary/book1) names, where no such path exists."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if registry is None or path.partition("/")[0] not in registry.corpora:
            raise HarnessError(f"no such file: {path}") from None
        return _corpus_file(path, registry, data_dir)
    except OSError as error:
        raise HarnessError(f"cannot read {path}: {error.strerror}") from None
    _check_regular(path, info.st_mode)  # before open(): opening a FIFO would wait for a writer
    try:
        # O_NONBLOCK: should a FIFO take the path after the stat, open() still returns at once (and
        # the check below refuses it); regular files ignore the flag.
        stream = open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK))
    except OSError as error:
        raise HarnessError(f"cannot read {path}: {error.strerror}") from None
    info = os.fstat(stream.fileno())
    try:
        _check_regular(path, info.st_mode)
    except HarnessError:
        stream.close()
        raise
    return stream, info.st_size or None  # /proc files report 0 bytes and yet have content


def _check_regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):  # a stream has no length to put in the header up front
        raise HarnessError(f"{path} is {_kind(mode)}, not a regular file (only - reads a stream: stdin)")


def _corpus_file(spec: str, registry: Registry, data_dir: str | None) -> tuple[BinaryIO, int | None]:
    files = registry.corpus_files([spec], data_dir)
    if len(files) > 1:
        raise HarnessError(f"corpus {spec} has {len(files)} files; give one member, e.g. {files[0].name}")
    stream = files[0].open()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    return stream, size


@contextmanager
def _open_input(
    path: str, registry: Registry | None = None, data_dir: str | None = None
) -> Iterator[tuple[BinaryIO, int]]:
    """The input opened for streaming, and its length; `-` is stdin; a clear error for the usual mistakes.

    With `registry`, a corpus name or member stands for its file where no such path exists. The
    container header holds the length, so a stream without one (stdin, a /proc file) is first
    copied into an anonymous temp file.
    """
    with ExitStack() as stack:
        if path == STDIO:
            stream, size = sys.stdin.buffer, None
        else:
            stream, size = _open_file(path, registry, data_dir)
            stack.enter_context(stream)
        if not size:
            spool = stack.enter_context(tempfile.TemporaryFile())
            shutil.copyfileobj(stream, spool)
            stream, size = spool, spool.tell()
            spool.seek(0)
        yield stream, size


def _check_replaceable(path: Path, shown: Path, force: bool) -> None:
    """Refuse to replace anything but a regular file, and that only with --force."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        raise HarnessError(f"{shown} is {_kind(mode)}; only a regular file is ever replaced, even with --force")
    if not force:
        raise HarnessError(f"{shown} exists; use --force to overwrite it")


@contextmanager
def atomic_output(path: Path, force: bool) -> Iterator[BinaryIO]:
    """A temp file in `path`'s folder, renamed to `path` only when the block completes.

    An error, Ctrl-C or SIGTERM removes the temp file, so no partial output is ever left; a
    SIGKILL can leave the hidden temp file behind, but never a partial `path`. A symlink is
    followed: the file it points to is replaced, never the link itself.
    """
    real = path.resolve()
    _check_replaceable(real, path, force)
    if not real.parent.is_dir():
        raise HarnessError(f"output folder {path.parent} does not exist")
    try:
        handle, temp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as error:
        raise HarnessError(f"cannot write in {path.parent}: {error.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their owner
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        _check_replaceable(real, path, force)  # it may have become a FIFO, a folder or a new file meanwhile
        os.replace(temp, real)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):  # disk full, file too large, I/O error
            raise HarnessError(f"{path} not written: {error.strerror or error}") from None
        raise


def _stream(mode: int | None) -> bool:
    """A character device or FIFO: written into, as `>` would, never replaced."""
    return mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))


def _mode(target: str) -> int | None:
    """The mode of what `target` names, symlinks followed; None when nothing is there."""
    try:
        return os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise HarnessError(f"cannot write {target}: {error.strerror}") from None


class _Sink:
    """The output as the coder sees it: a write error (a full disk, a file too large) is reported
    as the output's, never blamed on the predictor that was coding into it."""

    def __init__(self, file: BinaryIO, name: str) -> None:
        self.file, self.name = file, name

    def write(self, data: bytes) -> int:
        return self._checked(self.file.write, data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:  # flushes the buffer: it may fail too
        return self._checked(self.file.seek, offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def _checked(self, call: Callable[..., int], *args: int | bytes) -> int:
        try:
            return call(*args)
        except OSError as error:
            raise HarnessError(f"{self.name} not written: {error.strerror or error}") from None


@contextmanager
def _output(target: str, force: bool) -> Iterator[_Sink]:
    """A seekable file for the output, whose bytes reach `target` only once the block completes.

    `-` is stdout. A character device or FIFO (/dev/null, a named pipe) is written into directly,
    copied from a temp file, so that a run that fails (a corrupt input, a full disk) puts nothing
    there; anything else goes through `atomic_output`.
    """
    if target != STDIO and not _stream(_mode(target)):
        with atomic_output(Path(target), force) as out:
            yield _Sink(out, target)
        return
    with tempfile.TemporaryFile() as temp:
        yield _Sink(temp, "stdout" if target == STDIO else target)
        temp.seek(0)
        _copy_out(temp, target)


def _copy_out(data: BinaryIO, target: str) -> None:
    """Copy `data` to stdout (`-`) or into the device or FIFO at `target`."""
    try:
        if target == STDIO:
            sys.stdout.flush()
            shutil.copyfileobj(data, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        # Waits for a FIFO's reader. No O_CREAT or O_TRUNC: should the path have been swapped for a
        # regular file, nothing is made or emptied.
        fd = os.open(target, os.O_WRONLY)
        with os.fdopen(fd, "wb") as out:
            if not _stream(os.fstat(fd).st_mode):
                raise HarnessError(f"{target} is no longer a device or FIFO; nothing written")
            shutil.copyfileobj(data, out)
    except OSError as error:
        if isinstance(error, BrokenPipeError) and target == STDIO:
            # Python flushes stdout once more at exit; pointed at /dev/null, that flush is quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        name = "stdout" if target == STDIO else target
        raise HarnessError(f"{name} not written: {error.strerror or error}") from None


def write_atomically(path: Path, data: bytes, force: bool) -> None:
    """Write `data` to `path` (`-`: stdout) through `_output`: whole or not at all."""
    with _output(str(path), force) as out:
        out.write(data)


@contextmanager
def _bar(description: str) -> Iterator[tuple]:
    with _progress() as progress:
        task = progress.add_task(description, total=None, unit="symbols")
        yield (
            lambda done: progress.advance(task, done),
            lambda total: progress.update(task, total=total),
        )


def cmd_list(args: argparse.Namespace) -> None:
    registry = _registry(args, warn=False)
    entries = {"predictors": registry.predictors, "corpora": registry.corpora, "baselines": registry.baselines}
    table = Table(title=f"{args.what} ({len(entries[args.what])})")
    for header in ("name", "description", "plugin"):
        table.add_column(header)
    for entry in entries[args.what].values():
        table.add_row(entry.name, entry.description, entry.plugin)
    stdout.print(table)
    if args.options and args.what == "predictors":
        for entry in registry.predictors.values():
            if declared(entry.item):
                stdout.print(_options_table(entry.name, entry.item))
    if registry.errors:  # shown, not fatal: the plugins that did load work as usual
        failed = Table(title=f"failed plugins ({len(registry.errors)})", title_style="bold red")
        failed.add_column("error")
        for error in registry.errors:
            failed.add_row(error)
        stdout.print(failed)


def _options_table(name: str, cls: type) -> Table:
    """A predictor's declared options: default, accepted values, what each does."""
    table = Table(title=f"{name} options", title_justify="left")
    for header in ("option", "default", "accepts", "help"):
        table.add_column(header, overflow="fold")
    for key, option in declared(cls).items():
        table.add_row(key, repr(option.default), option.describe(), option.help)
    return table


def _shown(path: str) -> str:
    return "stdout" if path == STDIO else path


def _compress_target(args: argparse.Namespace) -> str:
    if args.stdout or (args.file == STDIO and not args.output):  # as xz: reading stdin means writing stdout
        return STDIO
    if args.output:
        return args.output
    # Beside a local input; a corpus member (calgary/book1) goes to the working folder.
    return f"{args.file}.hz" if os.path.lexists(args.file) else f"{Path(args.file).name}.hz"


def cmd_compress(args: argparse.Namespace) -> None:
    registry = _registry(args)
    _, _, spec = registry.predictor(args.predictor)
    target, name = _compress_target(args), "stdin" if args.file == STDIO else args.file
    if target == STDIO and sys.stdout.isatty():
        raise HarnessError("compressed data is not written to a terminal; redirect stdout or give -o FILE")
    with _open_input(args.file, registry, args.data_dir) as (source, size), _output(target, args.force) as out:
        with predictor_errors(spec, name), harness.trust.policy(_user_trust(args)):
            predictor = registry.build(spec)
            with _bar(f"encode {name} with {spec}") as (advance, expect):
                header_spec = registry.portable_spec(spec)
                encoded = container.encode_stream(source, size, out, header_spec, predictor, advance, expect)
    bits = 8 * encoded.container_bytes / size if size else 0.0
    console.print(f"{name}: {size:,} -> {encoded.container_bytes:,} bytes ({bits:.3f} bits/byte) -> {_shown(target)}")


def _user_trust(args: argparse.Namespace) -> harness.trust.Trust:
    """The user typed the spec: any path, downloads; pickled weights only when asked for."""
    return harness.trust.Trust(pickles=args.allow_pickle)


def _file_trust(args: argparse.Namespace) -> harness.trust.Trust:
    """A .hz file named the spec: only the models, downloads, pickles and memory the user allows."""
    return harness.trust.Trust(
        downloads=args.allow_download,
        pickles=args.allow_pickle,
        models=tuple(Path(model) for model in args.model),
        max_memory=args.max_memory << 20,
    )


def _decompress_target(args: argparse.Namespace) -> str:
    if args.stdout or (args.file == STDIO and not args.output):
        return STDIO
    if args.output:
        return args.output
    return args.file[: -len(".hz")] if args.file.endswith(".hz") else args.file + ".out"


def _describe(name: str, header: container.Header, size: int) -> str:
    """What `decompress --list` shows: the header's facts and what they mean, one per line."""
    rows = {
        "file": name,
        "predictor": header.spec,
        "original bytes": f"{header.length:,}",
        "symbols": f"{header.symbols:,}",
        "container bytes": f"{size:,}",
        "bits/byte": f"{8 * size / header.length:.3f}" if header.length else "-",
        "ratio": f"{header.length / size:.3f}",
    }
    return "".join(f"{key:<16} {value}\n" for key, value in rows.items())


def cmd_decompress(args: argparse.Namespace) -> None:
    name = "stdin" if args.file == STDIO else args.file
    with _open_input(args.file) as (source, size):
        header, segments = container.read_header(source, size)
        if args.list:  # the header says it all: no plugins loaded, no predictor built
            sys.stdout.write(_describe(name, header, size))
            return
        registry = _registry(args)
        target = _decompress_target(args)
        # --test: decoded and checked, then dropped; nothing is written anywhere.
        sink = open(os.devnull, "wb") if args.test else _output(target, args.force)
        with sink as out, predictor_errors(header.spec, name), harness.trust.policy(_file_trust(args)):
            predictor = registry.decoder(header)  # checked against the header before it is built
            with _bar(f"decode {name} with {header.spec}") as (advance, expect):
                expect(header.symbols)
                container.decode_stream(header, segments, out, predictor, advance)
    if args.test:
        console.print(f"{name}: OK: {header.length:,} bytes decoded, length and CRC match")
    else:
        console.print(f"{name}: -> {header.length:,} bytes -> {_shown(target)}")


def cmd_run(args: argparse.Namespace) -> None:
    registry = _registry(args)
    jobs = sweep.grid(
        registry,
        args.predictor or DEFAULT_PREDICTORS,
        None,
        args.corpus or [DEFAULT_CORPUS],
        baselines=not args.no_baselines,
        max_bytes=args.max_bytes,
        data_dir=args.data_dir,
        plugin_files=args.plugin,
    )
    store = results.store_path(args.results, write=True)
    found = [None] * len(jobs) if args.force else sweep.stored_results(registry, jobs, results.read(store))
    done, reused = [], 0
    with _progress() as progress, harness.trust.policy(_user_trust(args)):
        for job, record in zip(jobs, found, strict=True):
            if record is None:
                task = progress.add_task(f"{job.spec} on {job.corpus}", total=None, unit="symbols")
                record = sweep.measure_job(
                    registry,
                    job,
                    progress=lambda n, task=task: progress.advance(task, n),
                    phase=lambda name, total, task=task, job=job: progress.reset(
                        task, total=total, description=f"{name} {job.spec} on {job.corpus}"
                    ),
                    curve_store=store,
                )
                progress.remove_task(task)
                results.append(store, record)
            else:
                reused += 1
            done.append(record)
    failed = [r for r in done if not r["verified"]]
    _show_results(done)
    if reused:
        console.print(
            f"{'nothing new: ' if reused == len(done) else ''}{reused} of {len(done)} results reused from the store "
            "(same spec and options, data, versions); --force recomputes them"
        )
    if reused < len(done):
        console.print(f"{len(done) - reused} results appended to {store}")
    if failed:
        names = ", ".join(f"{r['spec']} on {r['corpus']}" for r in failed)
        raise HarnessError(f"decoded data differs from the original for: {names}")


FILE_TABLES_SHOWN = 20
"""Past this many corpus files, `run` shows the group tables only: thousands of per-file tables
are unreadable, and printing them took minutes."""


def _show_results(records: list[dict]) -> None:
    files = {record["corpus"] for record in records}
    board = leaderboard.frame(records, scope="group") if len(files) > FILE_TABLES_SHOWN else pd.DataFrame()
    if board.empty:
        leaderboard.print_tables(stdout, leaderboard.frame(records))
        return
    leaderboard.print_tables(stdout, board)
    console.print(f"{len(files):,} files: group tables only; `harness leaderboard --scope file` shows each file")


def _stored(args: argparse.Namespace, scope: str = "both") -> tuple[list[dict], pd.DataFrame]:
    store = results.store_path(args.results)
    records = results.read(store)
    df = leaderboard.frame(records, args.corpus or [], scope)
    if df.empty:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    return records, df


def cmd_leaderboard(args: argparse.Namespace) -> None:
    _, df = _stored(args, args.scope)
    if args.format == "table" and args.output:
        write_atomically(Path(args.output), leaderboard.plain_text(df).encode(), force=True)
        console.print(f"leaderboard written to {args.output}")
    elif args.format == "table":
        leaderboard.print_tables(stdout, df)
    elif args.output:
        write_atomically(Path(args.output), formats.render(df, args.format).encode(), force=True)
        console.print(f"leaderboard written to {args.output}")
    else:
        sys.stdout.write(formats.render(df, args.format))


def _output_folder(path: str) -> Path:
    """The folder `path`, made if missing; a clear error where it cannot be (a file is there, a
    name too long)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise HarnessError(f"output folder {path} is not a folder") from None
    except OSError as error:
        raise HarnessError(f"cannot make output folder {path}: {error.strerror}") from None
    return folder


def cmd_plot(args: argparse.Namespace) -> None:
    from harness import plots  # matplotlib is loaded only by the commands that draw

    if args.kind == "curve":
        _plot_curve(args)
        return
    _, df = _stored(args)
    folder = _output_folder(args.output_dir)
    for name, data in plots.charts(df, list(plots.KINDS) if args.kind == "all" else [args.kind]).items():
        write_atomically(folder / name, data, force=True)
        console.print(f"wrote {folder / name}")


def _plot_curve(args: argparse.Namespace) -> None:
    """The online loss curves of the selected runs (latest per spec and corpus) in one PNG."""
    from harness import curves, plots

    store = results.store_path(args.results)
    registry = _registry(args) if args.spec else None
    specs = [registry.predictor(spec)[2] for spec in args.spec] if registry else []
    latest: dict[tuple[str, str], dict] = {}
    for record in results.read(store):
        corpus = record.get("corpus", "")
        in_corpus = not args.corpus or any(corpus == c or corpus.startswith(c + "/") for c in args.corpus)
        if record.get("curve") and in_corpus and (not specs or record["spec"] in specs):
            latest[record["spec"], corpus] = record
    if not latest:
        raise HarnessError(f"no results with a loss curve in {store} for that selection; run `harness run` first")
    folder = _output_folder(args.output_dir)
    output = folder / "loss-curve.png"
    write_atomically(output, plots.png(curves.figure(store, list(latest.values()), args.window)), force=True)
    console.print(f"wrote {output}")


def cmd_publish(args: argparse.Namespace) -> None:
    from harness import publish

    records, df = _stored(args)
    folder = _output_folder(args.output_dir)
    for name, data in publish.files(records, args.corpus or []).items():
        write_atomically(folder / name, data, force=True)
    console.print(f"published {', '.join(publish.groups_in(df))} into {folder}/")


def cmd_sweep(args: argparse.Namespace) -> None:
    registry = _registry(args)
    jobs = sweep.grid(
        registry,
        args.predictor or DEFAULT_PREDICTORS,
        args.sizes,
        args.corpus or [DEFAULT_CORPUS],
        baselines=not args.no_baselines,
        max_bytes=args.max_bytes,
        data_dir=args.data_dir,
        plugin_files=[str(Path(p).resolve()) for p in args.plugin],
    )
    store = results.store_path(args.results, write=True)
    todo = jobs if args.force else sweep.pending(registry, jobs, results.read(store))
    console.print(f"{len(jobs)} jobs: {len(jobs) - len(todo)} already in {store}, {len(todo)} to run ({args.executor})")
    done, errors = [], []
    with _progress() as progress:
        task = progress.add_task(f"sweep on {args.executor}", total=len(todo))
        for record in sweep.execute(todo, args.executor, args.workers, args.address):
            if "error" in record:
                errors.append(f"{record['spec']} on {record['corpus']}: {record['error']}")
            else:
                results.append(store, record)
                done.append(record)
            progress.advance(task)
    if done:  # group tables, or the file's own table for a one-file sweep
        board = leaderboard.frame(done, scope="group")
        leaderboard.print_tables(stdout, board if not board.empty else leaderboard.frame(done))
    console.print(f"{len(done)} results appended to {store}")
    failed = [f"{r['spec']} on {r['corpus']}: decoded data differs" for r in done if not r["verified"]]
    if errors or failed:
        raise HarnessError("; ".join(errors + failed))


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other error: `harness run: error: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


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
    listing.set_defaults(run=cmd_list)

    compress = commands.add_parser("compress", parents=[common], help="compress a file into a .hz container")
    compress.add_argument("file", help="file, - for stdin, or a corpus member such as calgary/book1")
    compress.add_argument("-p", "--predictor", required=True, help="predictor spec, e.g. ngram:order=6")
    to = compress.add_mutually_exclusive_group()
    to.add_argument("-o", "--output", help="output path, - for stdout (default: FILE.hz; stdout for stdin)")
    to.add_argument("-c", "--stdout", action="store_true", help="write to stdout")
    compress.add_argument("--force", action="store_true", help="replace an existing regular file (nothing else)")
    compress.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    compress.set_defaults(run=cmd_compress)

    decompress = commands.add_parser("decompress", parents=[common], help="decompress a .hz container")
    decompress.add_argument("file", help=".hz file, or - for stdin")
    mode = decompress.add_mutually_exclusive_group()
    mode.add_argument("-o", "--output", help="output path, - for stdout (default: FILE without .hz; stdout for stdin)")
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
        default=harness.trust.DEFAULT_MAX_MEMORY >> 20,
        metavar="MIB",
        help="largest predictor a file may ask for, by its memory estimate (default: %(default)s MiB)",
    )
    decompress.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    decompress.set_defaults(run=cmd_decompress)

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
    run.add_argument(
        "--results", metavar="PATH", help="results store (default: $HARNESS_RESULTS or results/results.jsonl)"
    )
    run.add_argument("--force", action="store_true", help="recompute results already in the store")
    run.add_argument("--allow-pickle", action="store_true", help=_PICKLE_HELP)
    run.set_defaults(run=cmd_run)

    board = commands.add_parser("leaderboard", parents=[common], help="show stored results")
    board.add_argument("--corpus", "-c", action="append", metavar="NAME", help="corpus file or group; repeatable")
    board.add_argument("--format", choices=formats.FORMATS, default="table")
    board.add_argument("--scope", choices=leaderboard.SCOPES, default="both", help="group aggregates, files or both")
    board.add_argument("--output", "-o", metavar="FILE", help="write md/csv/json/html to FILE instead of stdout")
    board.add_argument(
        "--results", metavar="PATH", help="results store (default: $HARNESS_RESULTS or results/results.jsonl)"
    )
    board.set_defaults(run=cmd_leaderboard)

    store_option = {"metavar": "PATH", "help": "results store (default: $HARNESS_RESULTS or results/results.jsonl)"}
    corpus_option = {"action": "append", "metavar": "NAME", "help": "corpus file or group; repeatable"}
    plot = commands.add_parser("plot", parents=[common], help="draw PNG charts of stored results")
    # Chart kinds: bits/byte against model size, FLOPs per byte and wall time; `all` draws each.
    # `curve`: the online loss curves (bits/byte against bytes seen) of the selected runs.
    plot.add_argument("kind", choices=["size", "compute", "time", "all", "curve"])
    plot.add_argument("--spec", "-p", action="append", metavar="SPEC", help="curve: only these predictor specs")
    plot.add_argument("--window", type=int, default=0, metavar="N", help="curve: moving average over N symbols")
    plot.add_argument("--corpus", "-c", **corpus_option)
    plot.add_argument("--output-dir", "-o", default="plots", metavar="DIR", help="where the PNGs go (default: plots)")
    plot.add_argument("--results", **store_option)
    plot.set_defaults(run=cmd_plot)

    pub = commands.add_parser("publish", parents=[common], help="regenerate the published tables and charts")
    pub.add_argument("--corpus", "-c", **corpus_option)
    pub.add_argument("--output-dir", "-o", default="results", metavar="DIR", help="default: results")
    pub.add_argument("--results", **store_option)
    pub.set_defaults(run=cmd_publish)

    grid = commands.add_parser("sweep", parents=[common], help="run a grid of predictors x sizes x corpora as jobs")
    grid.add_argument("--predictor", "-p", action="append", metavar="SPEC", help="repeatable")
    grid.add_argument("--sizes", metavar="KEY=V1,V2,...", help="one option swept over values, e.g. order=1,2,4")
    grid.add_argument("--corpus", "-c", action="append", metavar="NAME", help="corpus, member or path; repeatable")
    grid.add_argument("--max-bytes", type=_positive, metavar="N", help="use only the first N bytes of each file")
    grid.add_argument("--no-baselines", action="store_true", help="skip the classic compressors")
    grid.add_argument("--executor", choices=sweep.EXECUTORS, default="local", help="process pool or Ray")
    grid.add_argument("--workers", type=_positive, metavar="N", help="local processes (default: one per CPU)")
    grid.add_argument("--address", metavar="ADDR", help="Ray cluster address (default: start a local Ray)")
    grid.add_argument("--force", action="store_true", help="recompute results already in the store")
    grid.add_argument("--results", **store_option)
    grid.set_defaults(run=cmd_sweep)
    return top


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` cleans up like Ctrl-C: temp files removed, stores intact


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.plugin = [*args.plugin, *vars(args).pop("more_plugins", [])]
    debug = args.debug or bool(os.environ.get("HARNESS_DEBUG"))
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args.run(args)
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


if __name__ == "__main__":
    sys.exit(main())
