"""`harness sweep`: a grid of predictors x sizes x corpus files, as jobs on a process pool or Ray
(the pipeline of `harness run`, with another executor)."""

from __future__ import annotations

import argparse

from harness import ui
from harness.commands import run as run_command


def run(args: argparse.Namespace) -> None:
    registry = ui.registry(args)
    jobs = run_command.jobs(args, registry, args.sizes)
    run_command.measure(args, registry, jobs, args.executor, args.workers, args.address)
