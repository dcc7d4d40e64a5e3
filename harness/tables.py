"""The leaderboard frame (`leaderboard.frame`) rendered as tables: rich tables for a terminal,
plain text, Markdown. Which columns each shows, in what order, and how each cell is written."""

from __future__ import annotations

import io
import math
import numbers
import re
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.leaderboard import COLUMNS, display_name

TERMINAL = (
    "predictor",
    "bits_per_byte",
    "mean_bits_per_byte",
    "gap_to_floor",
    "ratio",
    "adjusted_ratio",
    "params",
    "flops_per_byte",
    "encode_bytes_per_s",
    "decode_bytes_per_s",
    "peak_rss_mb",
    "verified",
    "frontier",
)
PRIORITY = (
    "predictor",
    "bits_per_byte",
    "ratio",
    "verified",
    "adjusted_ratio",
    "gap_to_floor",
    "params",
    "flops_per_byte",
    "mean_bits_per_byte",
    "encode_bytes_per_s",
    "decode_bytes_per_s",
    "frontier",
    "peak_rss_mb",
)
"""TERMINAL's columns, most wanted first, for a terminal too narrow for all of them."""
ESSENTIAL = 4
"""The first PRIORITY columns, shown however narrow the terminal."""
FOLDED = 24
"""Width a predictor column is counted at when choosing columns: longer names fold."""
TEXT_COLUMNS = ("predictor", "frontier")
UNBOUNDED = 100_000
"""Console width for output with no width of its own: wider than any table."""
MARKDOWN = TERMINAL[:7] + ("model_bytes", "flops_per_byte") + TERMINAL[8:]
"""The terminal's columns and the model's bytes: the speeds say the seconds (and the CSV/JSON
formats keep every column), so that a table fits a 1400-pixel page."""
BASELINE_MARK = " *"
BASELINE_NOTE = "* classic compressor (reference)"
FRONTIER_NOTE = (
    "predictor frontier: among the predictors (the classic compressors have no params or FLOPs), "
    "best bits/byte for its size (params) or compute (FLOPs/byte)"
)


def sections(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per table: groups first, then files, as `frame` ordered them."""
    tables = df.groupby([df["scope"] != "group", df["corpus"]], sort=True)
    sizes = tables.agg(raw=("raw_bytes", "max"), files=("files", "max"), scope=("scope", "first"))
    out = []
    for size, (_, rows) in zip(sizes.itertuples(), tables, strict=True):
        what = f"{int(size.files)} files, " if size.scope == "group" else ""
        out.append((f"{size.Index[1]} ({what}{_cell(size.raw, 'raw_bytes')} bytes)", rows))
    return out


def section_rows(df: pd.DataFrame) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """`sections` with each table's rows as dicts, converted once for the whole frame: a run over
    many files has as many tables, and a conversion per table costs milliseconds."""
    by_label = dict(zip(df.index, df.to_dict("records"), strict=True))
    for title, rows in sections(df):
        yield title, [by_label[label] for label in rows.index]


def shown_columns(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    """Leave out columns with nothing to say for these rows (of `section_rows`)."""

    def useful(column: str) -> bool:
        if column in ("predictor", "bits_per_byte", "verified"):
            return True
        if column == "frontier":
            return any(row[column] for row in rows)
        if column == "adjusted_ratio":  # worth a column only where the model's size changes it
            return any(_known(row[column]) and round(row[column], 6) != round(row["ratio"], 6) for row in rows)
        return any(_known(row[column]) and row[column] != 0 for row in rows)

    return [column for column in columns if useful(column)]


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _cell(value: Any, column: str) -> str:
    if not _known(value):
        return "-"
    if column in ("bits_per_byte", "mean_bits_per_byte", "gap_to_floor"):
        return f"{value:.3f}"
    if column in ("ratio", "adjusted_ratio", "encode_seconds", "decode_seconds"):
        return f"{value:.2f}"
    if column in ("encode_bytes_per_s", "decode_bytes_per_s"):
        return _si(value)
    if column == "peak_rss_mb":
        return f"{value:,.0f}"
    if column == "flops_per_byte":
        return f"{value:.3g}"
    if column == "verified":
        return "yes" if value else "NO"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    return str(value)


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def text_rows(rows: list[dict[str, Any]], columns: list[str], escape: Callable[[str], str] = str) -> list[list[str]]:
    """Formatted cells of rows of `section_rows`, each through `escape`; baselines get
    BASELINE_MARK after their name."""
    out = []
    for row in rows:
        cells = [escape(_cell(row[c], c)) for c in columns]
        if row["kind"] == "baseline" and "predictor" in columns:
            cells[columns.index("predictor")] += BASELINE_MARK
        out.append(cells)
    return out


def rich_tables(df: pd.DataFrame, width: int | None = None) -> list[Table]:
    """One terminal table per group and per corpus file, at most `width` characters wide.

    Columns are taken in PRIORITY order while they fit (the first ESSENTIAL ones always), and
    shown in TERMINAL order; None takes every column. No cell is ever cut: numbers do not wrap
    and the column they need is counted in full, while a long predictor name folds onto more
    lines (counted at FOLDED characters); fitted to a width, an hf spec is named by its model and
    the options it sets (`display_name`). Cells are plain Text, never markup: a spec or a file
    name may hold brackets.
    """
    tables = []
    for title, rows in section_rows(df):
        shown = shown_columns(rows, TERMINAL)
        cells = text_rows(rows, shown)
        if width is not None and "predictor" in shown:  # on a terminal: an hf spec by its model, not 3 lines
            at = shown.index("predictor")
            for row, raw in zip(cells, rows, strict=True):
                row[at] = display_name(raw["predictor"]) + row[at][len(raw["predictor"]) :]
        widths = [max([_longest_word(COLUMNS[c]), *(len(row[i]) for row in cells)]) for i, c in enumerate(shown)]
        kept = range(len(shown)) if width is None else _fitting(shown, widths, width)
        left_out = [COLUMNS[c] for i, c in enumerate(shown) if i not in kept]
        notes = [BASELINE_NOTE] if any(row["kind"] == "baseline" for row in rows) else []
        if left_out:
            notes.append(f"left out to fit {width} columns: {', '.join(left_out)} (--format md shows every column)")
        table = Table(title=Text(title), caption="\n".join(notes) or None)
        for i in kept:
            text = shown[i] in TEXT_COLUMNS
            header = Text(textwrap.fill(COLUMNS[shown[i]], widths[i]))
            table.add_column(header, justify="left" if text else "right", no_wrap=not text, overflow="fold")
        for row, raw in zip(cells, rows, strict=True):
            table.add_row(*(Text(row[i]) for i in kept), style="dim" if raw["kind"] == "baseline" else None)
        tables.append(table)
    return tables


def _longest_word(header: str) -> int:
    return max(len(word) for word in header.split())


def _fitting(shown: list[str], widths: list[int], width: int) -> list[int]:
    """Positions in `shown` of the columns that fit in `width`, by PRIORITY; each costs its
    width plus 3 (padding and a rule), the table 1 more (its right edge)."""
    used, kept = 1, []
    for i in sorted(range(len(shown)), key=lambda i: PRIORITY.index(shown[i])):
        cost = (min(widths[i], FOLDED) if shown[i] == "predictor" else widths[i]) + 3
        if shown[i] in PRIORITY[:ESSENTIAL] or used + cost <= width:
            used += cost
            kept.append(i)
    return sorted(kept)


def print_tables(console: Console, df: pd.DataFrame) -> None:
    """`rich_tables` on `console`: on a terminal, the columns that fit its width; elsewhere (a
    log, a pipe: no width to fit) every column, each table at its natural width."""
    if console.is_terminal:
        for table in rich_tables(df, console.width):
            console.print(table)
    else:
        console.out(plain_text(df), end="", highlight=False)


def plain_text(df: pd.DataFrame) -> str:
    """Every column of `rich_tables`, without colours, each table at its natural width."""
    text = Console(file=io.StringIO(), width=UNBOUNDED, color_system=None)
    for table in rich_tables(df):
        text.print(table)
    return "".join(line.rstrip() + "\n" for line in text.file.getvalue().splitlines())


MARKDOWN_SPECIAL = re.compile(r"([\\`*|<>])|\]\(")
"""What a spec or a corpus name could use to end a table cell, start a code span, an HTML tag or
a link (`](`), or write the README's end marker (`<!-- /leaderboard -->`) into a published table.
Brackets alone stay: `name[:N]` is how a prefix group is named."""


def markdown_text(text: str) -> str:
    """`text` (a spec, a corpus name, anything a results store says) as literal Markdown text."""
    return MARKDOWN_SPECIAL.sub(lambda m: "\\" + m[1] if m[1] else "]\\(", text)


def markdown_code(text: str) -> str:
    """`text` as a Markdown code span, fenced by more backticks than it holds in a row."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown(df: pd.DataFrame, level: int = 3) -> str:
    """README-ready Markdown: a heading and a table per group and per corpus file."""
    out = []
    for title, rows in section_rows(df):
        shown = shown_columns(rows, MARKDOWN)
        out += [f"{'#' * level} {markdown_text(title)}", "", "| " + " | ".join(COLUMNS[c] for c in shown) + " |"]
        out.append("|" + "".join("---|" if c in TEXT_COLUMNS else "---:|" for c in shown))
        out += ["| " + " | ".join(cells) + " |" for cells in text_rows(rows, shown, markdown_text)]
        note = "\\" + BASELINE_NOTE  # escaped: a leading "*" would start a Markdown list
        out += ["", note + "; " + FRONTIER_NOTE, ""]
    return "\n".join(out)
