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
        classes = {entry.item: name for name, entry in registry.predictors.items()}
        for entry in registry.predictors.values():
            base = next((classes[c] for c in entry.item.__mro__[1:] if c in classes), None)
            if base is not None:  # an alias (gpt2 for hf:openai-community/gpt2): its base's table, once
                changed = _changed_defaults(entry.item, registry.predictors[base].item)
                ui.stdout.print(f"{entry.name}: the options of {base}, with {changed}", markup=False, highlight=False)
            elif declared(entry.item):
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


def _changed_defaults(cls: type, base: type) -> str:
    ours, theirs = declared(cls), declared(base)
    changed = [f"{key}={option.default}" for key, option in ours.items() if option.default != theirs[key].default]
    return ", ".join(changed) or "the same defaults"
