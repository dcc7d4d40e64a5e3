"""`harness list`: what is registered, and by which plugin."""

from __future__ import annotations

import argparse

from rich.table import Table

from harness import ui
from harness.predictor import declared


def run(args: argparse.Namespace) -> None:
    registry = ui.registry(args, warn=False)
    entries = {"predictors": registry.predictors, "corpora": registry.corpora, "baselines": registry.baselines}
    table = Table(title=f"{args.what} ({len(entries[args.what])})")
    for header in ("name", "description", "plugin"):
        table.add_column(header)
    for entry in entries[args.what].values():
        table.add_row(entry.name, entry.description, entry.plugin)
    ui.print_table(table)
    if args.options and args.what == "predictors":
        for entry in registry.predictors.values():
            if declared(entry.item):
                ui.print_table(_options_table(entry.name, entry.item))
    if registry.errors:  # shown, not fatal: the plugins that did load work as usual
        failed = Table(title=f"failed plugins ({len(registry.errors)})", title_style="bold red")
        failed.add_column("error")
        for error in registry.errors:
            failed.add_row(error)
        ui.print_table(failed)


def _options_table(name: str, cls: type) -> Table:
    """A predictor's declared options: default, accepted values, what each does."""
    table = Table(title=f"{name} options", title_justify="left")
    for header in ("option", "default", "accepts", "help"):
        table.add_column(header, overflow="fold")
    for key, option in declared(cls).items():
        table.add_row(key, repr(option.default), option.describe(), option.help)
    return table
