"""`harness sweep`: a grid of predictors x sizes x corpus files as jobs on a process pool or Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import leaderboard, results, sweep, ui
from harness.commands import DEFAULT_CORPUS, DEFAULT_PREDICTORS
from harness.errors import HarnessError


def run(args: argparse.Namespace) -> None:
    registry = ui.registry(args)
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
    stored = len(jobs) - len(todo)
    ui.console.print(f"{len(jobs)} jobs: {stored} already in {store}, {len(todo)} to run ({args.executor})")
    done, errors = [], []
    with ui.progress() as progress:
        task = progress.add_task(f"sweep on {args.executor}", total=len(todo))
        for record in sweep.execute(todo, args.executor, args.workers, args.address):
            if isinstance(record, sweep.JobFailure):
                errors.append(f"{record.spec} on {record.corpus}: {record.error}")
            else:
                done.append(results.append(store, record))
            progress.advance(task)
    if done:  # group tables, or the file's own table for a one-file sweep
        board = leaderboard.frame(done, scope="group")
        leaderboard.print_tables(ui.stdout, board if not board.empty else leaderboard.frame(done))
    ui.console.print(f"{len(done)} results appended to {store}")
    failed = [f"{r.spec} on {r.corpus}: decoded data differs" for r in done if not r.verified]
    if errors or failed:
        raise HarnessError("; ".join(errors + failed))
