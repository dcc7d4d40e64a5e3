"""What the commands show: the consoles, progress bars, and the registry with its warnings.

Paths, specs and values come from users and from untrusted files: they are printed as plain
text, never as rich markup (a file named "m[/]x.txt" must not crash or restyle the output).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from harness.progress import InBytes

if TYPE_CHECKING:
    from harness.registry import Registry

# soft_wrap: a status line naming a long path stays one line (a terminal wraps it, a log keeps it whole).
console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
stdout = Console(markup=False, highlight=False)
_NO_WIDTH = 100_000
"""Where output has no width of its own (a log, a pipe): wider than any table, so none is cut."""


def print_table(table: Table) -> None:
    """On a terminal, fitted to its width (rich folds or shortens cells); elsewhere at the
    table's natural width, every cell whole."""
    if stdout.is_terminal:
        stdout.print(table)
    else:  # rich never prints wider than its console, so one as wide as the table
        Console(file=stdout.file, width=_NO_WIDTH, color_system=None, markup=False, highlight=False).print(table)


class Rate(ProgressColumn):
    """Per second, in the task's `unit` (bytes of the input); blank without one."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        return Text(f"{task.speed:,.0f} {unit}/s" if unit and task.speed else "")


def progress() -> Progress:
    """Bars whose description (a long spec and path) gives way, cut with an ellipsis, before
    any number does: the count, the rate and the time left always show whole."""
    whole = Column(no_wrap=True)
    return Progress(
        TextColumn("{task.description}", markup=False, table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
        BarColumn(bar_width=12, table_column=whole),
        TaskProgressColumn(table_column=whole),
        MofNCompleteColumn(table_column=whole),
        Rate(table_column=whole),
        TimeElapsedColumn(table_column=whole),
        TimeRemainingColumn(table_column=whole),
        console=console,
        transient=True,
        expand=True,
    )


def log(line: str) -> None:
    """A line for where no progress bar shows (stderr is a log or a pipe, not a terminal): a
    long run there still says what it has done so far."""
    if not console.is_terminal:
        console.print(line)


def registry(args: argparse.Namespace, warn: bool = True) -> Registry:
    """The plugins' registry (the built-ins and any --plugin files), its load errors as warnings."""
    from harness.registry import load_registry

    registry = load_registry(plugin_files=args.plugin)
    for error in registry.errors if warn else ():
        console.print(Text.assemble(("warning: ", "yellow"), error))
    return registry


@contextmanager
def bar(description: str, length: int) -> Iterator[tuple]:
    """A bar over the `length` bytes of the input; yields (advance, expect) in symbols."""
    with progress() as shown:
        task = shown.add_task(description, total=None, unit="B")
        scaled = InBytes(length, lambda n: shown.advance(task, n), lambda total: shown.update(task, total=total))
        yield scaled.advance, scaled.expect
