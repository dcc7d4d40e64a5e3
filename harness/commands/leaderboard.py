"""`harness leaderboard`: the stored results as tables, Markdown, CSV, JSON or an HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness import files, formats, leaderboard, results, ui
from harness.errors import HarnessError
from harness.record import Record


def stored(args: argparse.Namespace, scope: str = "both") -> tuple[list[Record], pd.DataFrame]:
    store = results.store_path(args.results)
    records = results.read(store)
    df = leaderboard.frame(records, args.corpus or [], scope, ui.registry(args).subsets())
    if df.empty:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    return records, df


def run(args: argparse.Namespace) -> None:
    _, df = stored(args, args.scope)
    if args.format == "table" and args.output:
        files.write_atomically(Path(args.output), leaderboard.plain_text(df).encode(), force=True)
        ui.console.print(f"leaderboard written to {args.output}")
    elif args.format == "table":
        leaderboard.print_tables(ui.stdout, df)
    elif args.output:
        files.write_atomically(Path(args.output), formats.render(df, args.format).encode(), force=True)
        ui.console.print(f"leaderboard written to {args.output}")
    else:
        sys.stdout.write(formats.render(df, args.format))
