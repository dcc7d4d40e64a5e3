"""`harness run`: measure predictors (and the baselines) on corpus files, store and show the results.

`harness sweep` is the same pipeline over a grid of sizes, on a process pool or Ray: `measure`
below takes the jobs either way, reuses what the store holds, runs the rest on the executor it
is given and appends each record (with its loss curve) as it comes.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from harness import corpus, curves, leaderboard, provenance, results, sweep, tables, ui
from harness.commands import DEFAULT_CORPUS, DEFAULT_PREDICTORS
from harness.errors import HarnessError
from harness.record import Record
from harness.registry import Registry


def run(args: argparse.Namespace) -> None:
    registry = ui.registry(args)
    measure(args, registry, jobs(args, registry), "inline")


def jobs(args: argparse.Namespace, registry: Registry, sizes: str | None = None) -> list[sweep.Job]:
    """The jobs the command line asks for: predictors (x sizes) x corpus files, plus baselines."""
    return sweep.grid(
        registry,
        args.predictor or DEFAULT_PREDICTORS,
        sizes,
        args.corpus or [DEFAULT_CORPUS],
        baselines=not args.no_baselines,
        max_bytes=args.max_bytes,
        data_dir=args.data_dir,
        plugin_files=[str(Path(p).resolve()) for p in args.plugin],  # a worker may start elsewhere
        allow_pickle=args.allow_pickle,
        chunk_bytes=args.chunk_bytes,
    )


def measure(
    args: argparse.Namespace,
    registry: Registry,
    jobs: list[sweep.Job],
    executor: str,
    workers: int | None = None,
    address: str | None = None,
) -> None:
    """Reuse the stored results of `jobs` (unless --force), run the others on `executor` (a
    chunked job as parts of --chunks-per-job chunks), append each job's record to the store as
    it comes (once all its parts have), show the tables; a HarnessError names every job that
    failed or did not decode to its input."""
    provenance.git_commit()  # the checkout as the run starts, the code it runs, not as the first record comes
    store = results.store_path(args.results, write=True)
    stored = results.read(store)
    found = [None] * len(jobs) if args.force else sweep.stored_results(registry, jobs, stored)
    todo = [job for job, record in zip(jobs, found, strict=True) if record is None]
    _forecast(registry, todo, stored)
    done: list[Record] = [record for record in found if record is not None]
    reused, errors = len(done), []
    assembly = sweep.Assembly(registry, todo, args.chunks_per_job)
    pieces = [part for part in assembly.whole if part.part is not None]
    parts_store = results.parts_path(store, write=True) if pieces else None
    kept = {} if args.force or parts_store is None else _kept_parts(registry, pieces, parts_store)
    for part, record in kept.items():
        if (whole := assembly.add(part, record)) is not None:
            done.append(results.append(store, whole))
    runs = [part for part in assembly.whole if part not in kept]
    if kept:
        ui.console.print(f"{len(kept)} parts of chunked files already in {parts_store}")
    if executor != "inline" and todo:
        split = f" as {len(runs)} parts" if len(runs) > len(todo) else ""
        ui.console.print(f"{len(jobs)} jobs: {reused} already in {store}, {len(todo)} to run{split} ({executor})")
    with ui.progress() as progress:

        @contextmanager
        def watch(job: sweep.Job) -> Iterator[dict[str, Any]]:
            task = progress.add_task(_named(job), total=None, unit="B")
            yield {
                "progress": lambda n: progress.advance(task, n),
                "phase": lambda name, total: progress.reset(task, total=total, description=f"{name} {_named(job)}"),
            }
            progress.remove_task(task)

        overall = (
            progress.add_task(f"{len(runs)} jobs on {executor}", total=len(runs)) if executor != "inline" else None
        )
        finished = 0
        try:
            for part, outcome in sweep.execute(runs, executor, workers, address, registry=registry, watch=watch):
                finished += 1
                if isinstance(outcome, sweep.JobFailure):
                    errors.append(f"{_named(part)}: {outcome.error}")
                elif (record := _add(assembly, part, outcome, parts_store)) is not None:
                    done.append(results.append(store, record))
                if overall is not None:
                    progress.advance(overall)
                ui.log(f"[{finished}/{len(runs)}] {_named(part)}: {_outcome(outcome)}")
        except KeyboardInterrupt:
            ui.console.print(
                f"interrupted after {finished} of {len(runs)} jobs: {len(done) - reused} results stored, "
                f"{len(runs) - finished} dropped (running them again resumes from the store"
                + (f" and the finished parts in {parts_store})" if parts_store else ")")
            )
            raise
    _show_results(done)
    if reused:
        ui.console.print(
            f"{'nothing new: ' if reused == len(done) else ''}{reused} of {len(done)} results reused from the store "
            "(same spec and options, data, versions); --force recomputes them"
        )
    if reused < len(done):
        ui.console.print(f"{len(done) - reused} results appended to {store}")
    failed = [f"{r.spec} on {r.corpus}: decoded data differs from the original" for r in done if not r.verified]
    if errors or failed:
        raise HarnessError("; ".join(errors + failed))


def _add(assembly: sweep.Assembly, part: sweep.Job, record: Record, parts_store: Path | None) -> Record | None:
    """`assembly.add`, a part of a chunked file first kept in `parts_store` until its last one comes."""
    if parts_store is not None and part.part is not None:
        results.append(parts_store, record)
    return assembly.add(part, record)


def _kept_parts(registry: Registry, pieces: list[sweep.Job], parts_store: Path) -> dict[sweep.Job, Record]:
    """The parts of chunked files that a stopped run finished (found by their bytes' sha256,
    as whole results are), with their loss curves; a part whose curve cannot be read runs again."""
    kept = {}
    for part, record in zip(pieces, sweep.stored_results(registry, pieces, results.read(parts_store)), strict=True):
        try:
            if record is not None:
                kept[part] = record.replace(curve_bits=curves.load(parts_store, record)) if record.curve else record
        except HarnessError as error:
            ui.console.print(f"{_named(part)}: runs again ({error})")
    return kept


LONG_JOB_SECONDS = 60
"""A job expected to take longer is announced before it starts."""


def _forecast(registry: Registry, todo: list[sweep.Job], stored: list[Record]) -> None:
    """Before a long job, the time it will take by this store's earlier runs like it (see
    `_earlier_speeds`), both ways; nothing where the store has no such run."""
    for job in todo:
        if job.baseline:
            continue
        cls, settings, _ = registry.predictor(job.spec)
        alike, alike_as = _earlier_speeds(cls.name, settings, stored)
        if not alike:
            continue
        with corpus.open_prefix(sweep.corpus_file(registry, job), job.max_bytes) as prefix:
            expected = statistics.median(alike) * prefix.length
        if expected >= LONG_JOB_SECONDS:
            ui.console.print(
                f"{_named(job)}: expect about {expected / 60:,.0f} min ({prefix.length / expected:,.0f} B/s both ways, "
                f"the median of {len(alike)} earlier runs in the store with {alike_as})"
            )


def _earlier_speeds(name: str, settings: dict[str, Any], stored: list[Record]) -> tuple[list[float], str]:
    """Seconds per byte (both ways) of the stored runs of predictor `name` with the same settings
    (a chunk's size aside), or failing those with the same batch and backend (an hf model at
    batch=1 codes a few hundred bytes a second), and which of the two they are. The same settings
    come first: a hybrid (a mix whose hf member runs at batch 1) once read 8 minutes off the
    store's faster mixes, and took 95 (5,679 s, beside three other runs)."""
    timed = [
        r for r in stored if r.predictor == name and r.settings is not None and r.encode_seconds and r.decode_seconds
    ]
    same_settings = set(settings) - {"chunk"}
    for keys, alike_as in ((same_settings, "the same settings"), ({"batch", "backend"}, "the same batch and backend")):
        alike = [
            (r.encode_seconds + r.decode_seconds) / r.raw_bytes
            for r in timed
            if all(r.settings.get(key) == settings.get(key) for key in keys)
        ]
        if alike:
            return alike, alike_as
    return [], ""


def _outcome(outcome: Record | sweep.JobFailure) -> str:
    if isinstance(outcome, sweep.JobFailure):
        return f"failed: {outcome.error}"
    seconds = (outcome.encode_seconds or 0) + (outcome.decode_seconds or 0)
    checked = "verified" if outcome.verified else "NOT verified: decoded data differs from the original"
    return f"{outcome.bits_per_byte:.4f} bits/byte, {checked}, {seconds:,.1f} s"


def _named(job: sweep.Job) -> str:
    """`SPEC on CORPUS`, and which bytes for a part of a chunked file."""
    return f"{job.spec} on {job.corpus}" + (f" (bytes {job.part[0]:,}-{job.part[1]:,})" if job.part else "")


FILE_TABLES_SHOWN = 20
"""Past this many corpus files, the group tables only are shown: thousands of per-file tables
are unreadable, and printing them took minutes."""


def _show_results(records: list[Record]) -> None:
    if not records:
        return
    files = {record.corpus for record in records}
    board = leaderboard.frame(records, scope="group") if len(files) > FILE_TABLES_SHOWN else pd.DataFrame()
    if board.empty:
        tables.print_tables(ui.stdout, leaderboard.frame(records))
        return
    tables.print_tables(ui.stdout, board)
    ui.console.print(f"{len(files):,} files: group tables only; `harness leaderboard --scope file` shows each file")
