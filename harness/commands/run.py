"""`harness run`: measure predictors (and the baselines) on corpus files, store and show the results."""

from __future__ import annotations

import argparse

import pandas as pd

import harness.trust
from harness import leaderboard, results, sweep, ui
from harness.commands import DEFAULT_CORPUS, DEFAULT_PREDICTORS
from harness.commands.compress import user_trust
from harness.errors import HarnessError
from harness.record import Record


def run(args: argparse.Namespace) -> None:
    registry = ui.registry(args)
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
    with ui.progress() as progress, harness.trust.policy(user_trust(args)):
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
                )
                progress.remove_task(task)
                record = results.append(store, record)
            else:
                reused += 1
            done.append(record)
    failed = [r for r in done if not r.verified]
    _show_results(done)
    if reused:
        ui.console.print(
            f"{'nothing new: ' if reused == len(done) else ''}{reused} of {len(done)} results reused from the store "
            "(same spec and options, data, versions); --force recomputes them"
        )
    if reused < len(done):
        ui.console.print(f"{len(done) - reused} results appended to {store}")
    if failed:
        names = ", ".join(f"{r.spec} on {r.corpus}" for r in failed)
        raise HarnessError(f"decoded data differs from the original for: {names}")


FILE_TABLES_SHOWN = 20
"""Past this many corpus files, `run` shows the group tables only: thousands of per-file tables
are unreadable, and printing them took minutes."""


def _show_results(records: list[Record]) -> None:
    files = {record.corpus for record in records}
    board = leaderboard.frame(records, scope="group") if len(files) > FILE_TABLES_SHOWN else pd.DataFrame()
    if board.empty:
        leaderboard.print_tables(ui.stdout, leaderboard.frame(records))
        return
    leaderboard.print_tables(ui.stdout, board)
    ui.console.print(f"{len(files):,} files: group tables only; `harness leaderboard --scope file` shows each file")
