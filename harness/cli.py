"""The `harness` command line."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness import container, leaderboard, results, sweep
from harness.errors import HarnessError
from harness.plugins import Registry, load_registry

DEFAULT_PREDICTORS = ["order0", "ngram"]
DEFAULT_CORPUS = "python"

console = Console(stderr=True)
stdout = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _registry(args: argparse.Namespace, warn: bool = True) -> Registry:
    registry = load_registry(plugin_files=args.plugin)
    for error in registry.errors if warn else ():
        console.print(f"[yellow]warning:[/] {error}", highlight=False)
    return registry


@contextmanager
def _open_input(path: str) -> Iterator[tuple[BinaryIO, int]]:
    """The input opened for streaming, and its size; a clear error for the usual mistakes."""
    file = Path(path)
    if file.is_dir():
        raise HarnessError(f"{path} is a directory, not a file")
    try:
        stream = open(file, "rb")
    except FileNotFoundError:
        raise HarnessError(f"no such file: {path}") from None
    except OSError as error:
        raise HarnessError(f"cannot read {path}: {error.strerror}") from None
    with stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):  # a pipe or device has no size to put in the header
            raise HarnessError(f"{path} is not a regular file")
        yield stream, info.st_size


@contextmanager
def atomic_output(path: Path, force: bool) -> Iterator[BinaryIO]:
    """A temp file in `path`'s folder, renamed to `path` only when the block completes.

    An error, Ctrl-C or SIGTERM removes the temp file, so no partial output is ever left; a
    SIGKILL can leave the hidden temp file behind, but never a partial `path`.
    """
    if path.exists() and not force:
        raise HarnessError(f"{path} exists; use --force to overwrite it")
    if path.is_dir():
        raise HarnessError(f"{path} is a directory")
    if not path.parent.is_dir():
        raise HarnessError(f"output folder {path.parent} does not exist")
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):  # disk full, file too large, I/O error
            raise HarnessError(f"{path} not written: {error.strerror or error}") from None
        raise


def write_atomically(path: Path, data: bytes, force: bool) -> None:
    """Write `data` to `path` through `atomic_output`."""
    with atomic_output(path, force) as out:
        out.write(data)


@contextmanager
def _bar(description: str) -> Iterator[tuple]:
    with _progress() as progress:
        task = progress.add_task(description, total=None)
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
    if registry.errors:  # shown, not fatal: the plugins that did load work as usual
        failed = Table(title=f"failed plugins ({len(registry.errors)})", title_style="bold red")
        failed.add_column("error")
        for error in registry.errors:
            failed.add_row(error)
        stdout.print(failed)


def cmd_compress(args: argparse.Namespace) -> None:
    registry = _registry(args)
    _, _, spec = registry.predictor(args.predictor)
    output = Path(args.output or args.file + ".hz")
    with _open_input(args.file) as (source, size):
        predictor = registry.build(spec)
        with _bar(f"compress {Path(args.file).name} with {spec}") as (advance, expect):
            with atomic_output(output, args.force) as out:
                encoded = container.encode_stream(source, size, out, spec, predictor, advance, expect)
    bits = 8 * encoded.container_bytes / size if size else 0.0
    console.print(f"{args.file}: {size:,} -> {encoded.container_bytes:,} bytes ({bits:.3f} bits/byte) -> {output}")


def cmd_decompress(args: argparse.Namespace) -> None:
    registry = _registry(args)
    if args.output:
        output = Path(args.output)
    elif args.file.endswith(".hz"):
        output = Path(args.file[: -len(".hz")])
    else:
        output = Path(args.file + ".out")
    with _open_input(args.file) as (source, size):
        header, segments = container.read_header(source, size)
        predictor = registry.build(header.spec)
        with _bar(f"decompress {Path(args.file).name} with {header.spec}") as (advance, expect):
            expect(header.symbols)
            with atomic_output(output, args.force) as out:
                container.decode_stream(header, segments, out, predictor, advance)
    console.print(f"{args.file}: -> {header.length:,} bytes -> {output}")


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
    store = results.store_path(args.results)
    found = [None] * len(jobs) if args.force else sweep.stored_results(registry, jobs, results.read(store))
    done, reused = [], 0
    with _progress() as progress:
        for job, record in zip(jobs, found, strict=True):
            if record is None:
                task = progress.add_task(f"{job.spec} on {job.corpus}", total=None)
                record = sweep.measure_job(
                    registry,
                    job,
                    progress=lambda n, task=task: progress.advance(task, n),
                    expect=lambda total, task=task: progress.update(task, total=total),
                    curve_store=store,
                )
                progress.remove_task(task)
                results.append(store, record)
            else:
                reused += 1
            done.append(record)
    failed = [r for r in done if not r["verified"]]
    for table in leaderboard.rich_tables(leaderboard.frame(done)):
        stdout.print(table)
    if reused:
        console.print(
            f"{reused} of {len(done)} results reused from the store (same spec and options, data, versions); "
            "--force recomputes them"
        )
    console.print(f"results appended to {store}")
    if failed:
        names = ", ".join(f"{r['spec']} on {r['corpus']}" for r in failed)
        raise HarnessError(f"decoded data differs from the original for: {names}")


def _stored(args: argparse.Namespace, scope: str = "both") -> tuple[list[dict], pd.DataFrame]:
    store = results.store_path(args.results)
    records = results.read(store)
    df = leaderboard.frame(records, args.corpus or [], scope)
    if df.empty:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    return records, df


def cmd_leaderboard(args: argparse.Namespace) -> None:
    _, df = _stored(args, args.scope)
    if args.format == "table":
        for table in leaderboard.rich_tables(df):
            stdout.print(table)
    elif args.output:
        write_atomically(Path(args.output), leaderboard.render(df, args.format).encode(), force=True)
        console.print(f"leaderboard written to {args.output}")
    else:
        sys.stdout.write(leaderboard.render(df, args.format))


def cmd_plot(args: argparse.Namespace) -> None:
    from harness import plots  # matplotlib is loaded only by the commands that draw

    if args.kind == "curve":
        _plot_curve(args)
        return
    _, df = _stored(args)
    folder = Path(args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
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
    folder = Path(args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "loss-curve.png"
    write_atomically(output, plots.png(curves.figure(store, list(latest.values()), args.window)), force=True)
    console.print(f"wrote {output}")


def cmd_publish(args: argparse.Namespace) -> None:
    from harness import publish

    records, df = _stored(args)
    folder = Path(args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
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
    store = results.store_path(args.results)
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
        for table in leaderboard.rich_tables(board if not board.empty else leaderboard.frame(done)):
            stdout.print(table)
    console.print(f"{len(done)} results appended to {store}")
    failed = [f"{r['spec']} on {r['corpus']}: decoded data differs" for r in done if not r["verified"]]
    if errors or failed:
        raise HarnessError("; ".join(errors + failed))


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin", action="append", default=[], metavar="FILE", help="load a plugin from a .py file")
    common.add_argument("--data-dir", help="folder serving standard corpora offline (default: $HARNESS_DATA_DIR)")

    top = argparse.ArgumentParser(
        prog="harness", description="Benchmark predictors by how well they compress.", parents=[common]
    )
    commands = top.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", parents=[common], help="list predictors, corpora or baselines")
    listing.add_argument("what", choices=["predictors", "corpora", "baselines"])
    listing.set_defaults(run=cmd_list)

    compress = commands.add_parser("compress", parents=[common], help="compress a file into a .hz container")
    compress.add_argument("file")
    compress.add_argument("-p", "--predictor", required=True, help="predictor spec, e.g. ngram:order=6")
    compress.add_argument("-o", "--output", help="output path (default: FILE.hz)")
    compress.add_argument("--force", action="store_true", help="overwrite an existing output")
    compress.set_defaults(run=cmd_compress)

    decompress = commands.add_parser("decompress", parents=[common], help="decompress a .hz container")
    decompress.add_argument("file")
    decompress.add_argument("-o", "--output", help="output path (default: FILE without .hz)")
    decompress.add_argument("--force", action="store_true", help="overwrite an existing output")
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
    run.add_argument("--max-bytes", type=int, metavar="N", help="use only the first N bytes of each file")
    run.add_argument("--no-baselines", action="store_true", help="skip the classic compressors")
    run.add_argument(
        "--results", metavar="PATH", help="results store (default: $HARNESS_RESULTS or results/results.jsonl)"
    )
    run.add_argument("--force", action="store_true", help="recompute results already in the store")
    run.set_defaults(run=cmd_run)

    board = commands.add_parser("leaderboard", parents=[common], help="show stored results")
    board.add_argument("--corpus", "-c", action="append", metavar="NAME", help="corpus file or group; repeatable")
    board.add_argument("--format", choices=leaderboard.FORMATS, default="table")
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
    grid.add_argument("--max-bytes", type=int, metavar="N", help="use only the first N bytes of each file")
    grid.add_argument("--no-baselines", action="store_true", help="skip the classic compressors")
    grid.add_argument("--executor", choices=sweep.EXECUTORS, default="local", help="process pool or Ray")
    grid.add_argument("--workers", type=int, metavar="N", help="local processes (default: one per CPU)")
    grid.add_argument("--address", metavar="ADDR", help="Ray cluster address (default: start a local Ray)")
    grid.add_argument("--force", action="store_true", help="recompute results already in the store")
    grid.add_argument("--results", **store_option)
    grid.set_defaults(run=cmd_sweep)
    return top


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` cleans up like Ctrl-C: temp files removed, stores intact


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args.run(args)
    except HarnessError as error:
        console.print(f"harness: error: {error}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("harness: interrupted; finished results are stored, nothing partial was written")
        return 130
    except Exception as error:  # a bug, not bad input: still one line, traceback on request
        if os.environ.get("HARNESS_DEBUG"):
            raise
        console.print(f"harness: internal error: {error!r} (set HARNESS_DEBUG=1 for the traceback)", highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
