"""`harness leaderboard`: the stored results as tables, Markdown, CSV, JSON or an HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness import files, formats, leaderboard, results, tables, ui
from harness.errors import HarnessError
from harness.record import Record
from harness.registry import Registry


def stored(args: argparse.Namespace, scope: str = "both") -> tuple[list[Record], pd.DataFrame]:
    store = results.store_path(args.results)
    records = results.read(store)
    registry = ui.registry(args)
    df = leaderboard.frame(records, args.corpus or [], scope, registry.subsets())
    if df.empty:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    if scope != "file":
        _say_why_groups_are_missing(df, args.corpus or [], registry)
    return records, df


def _say_why_groups_are_missing(df: pd.DataFrame, wanted: list[str], registry: Registry) -> None:
    """A registered corpus asked for by name gets a group table only once a predictor has run
    on all its files: where none has, say so rather than show file tables alone."""
    groups = set(df.loc[df["scope"] == "group", "corpus"].map(leaderboard.unprefixed))
    files = df[df["scope"] == "file"].assign(member=lambda rows: rows["corpus"].map(leaderboard.unprefixed))
    for name in wanted:
        if name not in registry.corpora or name in groups:
            continue
        members = {file.name for file in registry.corpora[name].item.files()}
        done = files[files["member"].isin(members)].groupby("predictor")["member"].nunique()
        best = int(done.max()) if len(done) else 0
        ui.console.print(f"{name}: the group table needs all {len(members)} files; at most {best} run per predictor")


def run(args: argparse.Namespace) -> None:
    _, df = stored(args, args.scope)
    if args.format == "table" and args.output:
        files.write_atomically(Path(args.output), tables.plain_text(df).encode(), force=True)
        ui.console.print(f"leaderboard written to {args.output}")
    elif args.format == "table":
        tables.print_tables(ui.stdout, df)
    elif args.output:
        files.write_atomically(Path(args.output), formats.render(df, args.format).encode(), force=True)
        ui.console.print(f"leaderboard written to {args.output}")
    else:
        sys.stdout.write(formats.render(df, args.format))
