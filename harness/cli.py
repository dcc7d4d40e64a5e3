"""The `harness` command line."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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

from harness import container, corpora, leaderboard, measure, results
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


def _registry(args: argparse.Namespace) -> Registry:
    registry = load_registry(plugin_files=args.plugin)
    for error in registry.errors:
        console.print(f"[yellow]warning:[/] {error}", highlight=False)
    return registry


def _read_input(path: str) -> bytes:
    file = Path(path)
    if file.is_dir():
        raise HarnessError(f"{path} is a directory, not a file")
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"no such file: {path}") from None
    except OSError as error:
        raise HarnessError(f"cannot read {path}: {error.strerror}") from None


def write_atomically(path: Path, data: bytes, force: bool) -> None:
    """Write via a temp file in the same folder and rename, so no partial output is ever left."""
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
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise HarnessError(f"cannot write {path}: {error.strerror}") from None
        raise


@contextmanager
def _bar(description: str) -> Iterator[tuple]:
    with _progress() as progress:
        task = progress.add_task(description, total=None)
        yield (
            lambda done: progress.advance(task, done),
            lambda total: progress.update(task, total=total),
        )


def cmd_list(args: argparse.Namespace) -> None:
    registry = _registry(args)
    entries = {"predictors": registry.predictors, "corpora": registry.corpora, "baselines": registry.baselines}
    table = Table(title=f"{args.what} ({len(entries[args.what])})")
    for header in ("name", "description", "plugin"):
        table.add_column(header)
    for entry in entries[args.what].values():
        table.add_row(entry.name, entry.description, entry.plugin)
    stdout.print(table)


def cmd_compress(args: argparse.Namespace) -> None:
    registry = _registry(args)
    cls, _, spec = registry.predictor(args.predictor)
    data = _read_input(args.file)
    output = Path(args.output or args.file + ".hz")
    if output.exists() and not args.force:
        raise HarnessError(f"{output} exists; use --force to overwrite it")
    with _bar(f"compress {Path(args.file).name} with {spec}") as (advance, expect):
        encoded = container.encode(data, spec, registry.build(spec), advance, expect)
    write_atomically(output, encoded.container, args.force)
    bits = 8 * len(encoded.container) / len(data) if data else 0.0
    console.print(f"{args.file}: {len(data):,} -> {len(encoded.container):,} bytes ({bits:.3f} bits/byte) -> {output}")


def cmd_decompress(args: argparse.Namespace) -> None:
    registry = _registry(args)
    header = container.unpack(_read_input(args.file))
    if args.output:
        output = Path(args.output)
    elif args.file.endswith(".hz"):
        output = Path(args.file[: -len(".hz")])
    else:
        output = Path(args.file + ".out")
    if output.exists() and not args.force:
        raise HarnessError(f"{output} exists; use --force to overwrite it")
    with _bar(f"decompress {Path(args.file).name} with {header.spec}") as (advance, expect):
        expect(header.symbols)
        data = container.decode(header, registry.build(header.spec), advance)
    write_atomically(output, data, args.force)
    console.print(f"{args.file}: -> {len(data):,} bytes -> {output}")


def _corpus_files(registry: Registry, specs: list[str], data_dir: str | None) -> list[corpora.CorpusFile]:
    known = {name: entry.item for name, entry in registry.corpora.items()}
    files = []
    for spec in specs:
        files += corpora.resolve(spec, known, data_dir=corpora.data_dir(data_dir))
    return files


def cmd_run(args: argparse.Namespace) -> None:
    registry = _registry(args)
    specs = [registry.predictor(spec)[2] for spec in args.predictor or DEFAULT_PREDICTORS]
    baselines = [] if args.no_baselines else list(registry.baselines.values())
    files = _corpus_files(registry, args.corpus or [DEFAULT_CORPUS], args.data_dir)
    store = results.store_path(args.results)
    done = []
    with _progress() as progress:
        for file in files:
            data = corpora.take_prefix(file.read(), args.max_bytes)
            for spec in specs:
                task = progress.add_task(f"{spec} on {file.name}", total=2 * len(data))
                record = measure.measure_predictor(
                    registry, spec, file, data, lambda n, task=task: progress.advance(task, n)
                )
                progress.remove_task(task)
                results.append(store, record)
                done.append(record)
            for baseline in baselines:
                record = measure.measure_baseline(baseline.item, file, data)
                results.append(store, record)
                done.append(record)
    failed = [r for r in done if not r["verified"]]
    for table in leaderboard.rich_tables(leaderboard.frame(done)):
        stdout.print(table)
    console.print(f"results appended to {store}")
    if failed:
        names = ", ".join(f"{r['spec']} on {r['corpus']}" for r in failed)
        raise HarnessError(f"decoded data differs from the original for: {names}")


def cmd_leaderboard(args: argparse.Namespace) -> None:
    store = results.store_path(args.results)
    df = leaderboard.frame(results.read(store), args.corpus or [])
    if df.empty:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    if args.format == "table":
        for table in leaderboard.rich_tables(df):
            stdout.print(table)
    else:
        sys.stdout.write(leaderboard.render(df, args.format))


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
    run.set_defaults(run=cmd_run)

    board = commands.add_parser("leaderboard", parents=[common], help="show stored results")
    board.add_argument("--corpus", "-c", action="append", metavar="NAME", help="corpus file or group; repeatable")
    board.add_argument("--format", choices=leaderboard.FORMATS, default="table")
    board.add_argument(
        "--results", metavar="PATH", help="results store (default: $HARNESS_RESULTS or results/results.jsonl)"
    )
    board.set_defaults(run=cmd_leaderboard)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
