"""Leaderboards: the results store as tables per corpus file and per corpus group.

A group ("canterbury") aggregates its files ("canterbury/alice29.txt", ...): total bytes give
the group's bits/byte, and the mean of the per-file bits/byte is shown beside it, as papers of
the field quote both. Baselines (classic compressors) are marked, and predictors on the Pareto
frontier (no other verified predictor is both no bigger, or no costlier, and better) are flagged.
"""

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

from harness import record

SCOPES = ("both", "group", "file")
COLUMNS = {
    "corpus": "corpus",
    "predictor": "predictor",
    "kind": "kind",
    "bits_per_byte": "bits/byte",
    "mean_bits_per_byte": "mean bits/byte",
    "gap_to_floor": "gap to floor",
    "ratio": "ratio",
    "adjusted_ratio": "adj. ratio",
    "compressed_bytes": "compressed",
    "raw_bytes": "raw",
    "params": "params",
    "model_bytes": "model bytes",
    "flops_per_byte": "FLOPs/byte",
    "encode_seconds": "enc s",
    "decode_seconds": "dec s",
    "encode_bytes_per_s": "enc B/s",
    "decode_bytes_per_s": "dec B/s",
    "peak_rss_mb": "peak MB",
    "verified": "verified",
    "frontier": "predictor frontier",
    "scope": "scope",
    "files": "files",
}
"""Every column, in CSV/JSON order; tables leave out the ones their heading already says."""
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
AXES = {"size": "params", "compute": "flops_per_byte"}
"""What the Pareto frontiers trade bits/byte against."""
BASELINE_MARK = " *"
BASELINE_NOTE = "* classic compressor (reference)"
FRONTIER_NOTE = (
    "predictor frontier: among the predictors (the classic compressors have no params or FLOPs), "
    "best bits/byte for its size (params) or compute (FLOPs/byte)"
)


Subsets = dict[str, tuple[str, ...]]
"""Named subsets of a corpus -> their files ('canterbury-small' -> ('canterbury/cp.html', ...))."""


def matches(corpus: str, wanted: list[str], subsets: Subsets | None = None) -> bool:
    """A corpus filter names a file ('canterbury/alice29.txt'), a group ('canterbury') or a
    subset ('canterbury-small', one of `subsets`)."""
    subsets = subsets or {}
    return not wanted or any(
        corpus == w or corpus.startswith(w.rstrip("/") + "/") or corpus in subsets.get(w, ()) for w in wanted
    )


_PREFIXED = re.compile(r"(.*)\[:(\d+)\](/.*)?")
"""A corpus as a prefix run's tables name it: 'calgary[:100000]' or 'calgary[:100000]/book1'."""


def _selected(r: record.Record, wanted: list[str], subsets: Subsets) -> bool:
    """Whether the corpus filter picks `r`: a name picks its prefix runs too; a prefixed name
    ('calgary[:100000]', as the tables show it) picks the runs of that prefix only."""
    plain = [w for w in wanted if not _PREFIXED.fullmatch(w)]
    if not wanted or matches(r.corpus, plain, subsets) and plain:
        return True
    prefixed = [_PREFIXED.fullmatch(w) for w in wanted if w not in plain]
    return any(r.max_bytes == int(m[2]) and matches(r.corpus, [m[1] + (m[3] or "")], subsets) for m in prefixed)


def prefixed(corpus: str, max_bytes: int) -> str:
    """A prefix run's corpus as its tables name it: 'canterbury/alice29.txt', 20000 ->
    'canterbury[:20000]/alice29.txt' (`unprefixed` undoes it)."""
    return f"{group_of(corpus)}[:{max_bytes}]/{corpus.rpartition('/')[2]}"


def unprefixed(corpus: str) -> str:
    """'calgary[:100000]/book1' -> 'calgary/book1'."""
    m = _PREFIXED.fullmatch(corpus)
    return m[1] + (m[3] or "") if m else corpus


def display_name(spec: str) -> str:
    """A short name for a chart: an hf spec by its model folder or hub name and the options it
    sets ('smollm2-135m-instruct (batch=64, Q4_1)' for 'hf:./smollm2-135m-instruct,batch=64,
    gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf'); any other spec as it is."""
    name, _, options = spec.partition(":")
    if name != "hf" or not options:
        return spec
    model, *rest = options.split(",")
    shown = []
    for option in rest:
        key, _, value = option.partition("=")
        if key == "gguf_file":  # the quantization says which file: SmolLM2-135M-Instruct.Q4_1.gguf -> Q4_1
            stem = value.removesuffix(".gguf")
            shown.append(stem.rpartition(".")[2] or stem)
        else:
            shown.append(option)
    short = model.rstrip("/").rpartition("/")[2] or model
    return f"{short} ({', '.join(shown)})" if shown else short


def group_of(corpus: str) -> str:
    """'canterbury/alice29.txt' -> 'canterbury'; a local 'dir/sub/f' -> 'dir/sub'."""
    return corpus.rpartition("/")[0] or corpus


FIELDS = ("kind", "predictor", "spec", "corpus", "corpus_sha256", "timestamp", "verified", *record.NUMBERS)
"""The record fields a leaderboard uses."""


def frame(
    records: list[record.Record], corpora: list[str] = (), scope: str = "both", subsets: Subsets | None = None
) -> pd.DataFrame:
    """The leaderboard rows: newest result per (spec, corpus content), and/or group aggregates.

    A group is the files under one name ('canterbury/...'), complete for a predictor
    that covers every file of it seen in `records`; each of `subsets` is a group too, complete
    for a predictor that covers all its files, whole. Groups of one file are left out (their row
    would repeat the file's). Rows are sorted by scope (groups first), corpus, then bits/byte.
    Every step is a whole-column operation, so the time grows linearly with the records.
    """
    wanted, subsets = list(corpora), subsets or {}
    rows = [r.to_json() for r in records if _selected(r, wanted, subsets)]
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    files = _files(pd.DataFrame(rows, columns=list(FIELDS)))
    parts = []
    if scope in ("both", "group"):
        shown = {name: members for name, members in subsets.items() if not wanted or name in wanted}
        # a file picked by naming a subset says nothing about its natural group's other files
        plain = [w for w in wanted if w not in subsets]
        parts.append(_groups(files, shown, natural=plain if plain or not wanted else None))
    if scope in ("both", "file"):
        parts.append(files)
    df = pd.concat([p for p in parts if not p.empty] or [files.iloc[:0]], ignore_index=True)
    df["frontier"] = _frontiers(df)
    for column in COLUMNS:
        if column not in df:
            df[column] = None
    df["order"] = df["scope"].map({"group": 0, "file": 1})
    df = df.sort_values(["order", "corpus", "bits_per_byte"], na_position="last", kind="stable")
    return df[list(COLUMNS)].reset_index(drop=True)


def _files(df: pd.DataFrame) -> pd.DataFrame:
    for column in record.NUMBERS:
        df[column] = pd.to_numeric(df[column], errors="coerce")
    pairs = zip(df["corpus"], df["max_bytes"], strict=True)
    df["corpus"] = [c if pd.isna(n) else prefixed(c, int(n)) for c, n in pairs]  # tables of their own
    df["spec"] = _versioned(df["spec"], df)
    df = _newest(df, ["spec", "corpus", "corpus_sha256"])
    df["predictor"] = df["spec"]
    df["gap_to_floor"] = df["bits_per_byte"] - 8 * df["entropy_bits"] / df["raw_bytes"]
    df["peak_rss_mb"] = df["peak_memory_bytes"] / 2**20
    df["scope"], df["files"] = "file", 1
    return _speeds(df)


def _newest(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The newest row per `key`; of rows with the same timestamp, the one later in the store."""
    return df.sort_values("timestamp", kind="stable").drop_duplicates(key, keep="last")


def _versioned(specs: pd.Series, df: pd.DataFrame) -> pd.Series:
    """Specs of results from an older version of their predictor than the store's newest get it
    in the name ('gpt@v3:width=256'; 'gpt@v?' for records from before versions were stored):
    the same spec now means another model, so it is another row."""
    version = df["predictor_version"]
    newest = version.groupby(df["predictor"]).transform("max")
    old = (version < newest) | (version.isna() & newest.notna())
    if not old.any():
        return specs
    label = version[old].map(lambda v: "?" if pd.isna(v) else str(int(v)))
    parts = specs[old].str.partition(":")
    return specs.mask(old, parts[0] + "@v" + label + parts[1] + parts[2])


def _speeds(df: pd.DataFrame) -> pd.DataFrame:
    for side in ("encode", "decode"):
        seconds = df[f"{side}_seconds"]
        df[f"{side}_bytes_per_s"] = df["raw_bytes"] / seconds.where(seconds > 0)
    return df


def _groups(files: pd.DataFrame, subsets: Subsets, natural: list[str] | None = ()) -> pd.DataFrame:
    """One row per (group, predictor) that covers every file of the group (see `frame`): the
    natural groups of the files that `natural` matches (a corpus filter; None: no file), and
    `subsets`.

    The adjusted ratio counts the model once for the whole group: one decompressor, many files.
    Entropy and FLOPs are only summed where every file has them (`min_count`-style, by counts).
    """
    newest = _newest(files, ["spec", "corpus"])
    newest = newest.assign(
        flops=newest["flops_per_byte"] * newest["raw_bytes"],
        verified=newest["verified"] == True,  # noqa: E712 (NaN-safe)
    )
    picked = newest["corpus"].map(lambda c: matches(c, natural or []) or matches(unprefixed(c), natural or []))
    plain = newest.iloc[:0] if natural is None else newest[picked]
    group = plain["corpus"].map(group_of)
    parts = [plain.assign(group=group, members=plain.groupby(group)["corpus"].transform("nunique"))]
    for name, members in subsets.items():
        parts.append(newest[newest["corpus"].isin(members)].assign(group=name, members=len(members)))
    newest = pd.concat(parts, ignore_index=True)
    out = newest.groupby(["group", "spec"], sort=False).agg(
        kind=("kind", "first"),
        files=("corpus", "size"),
        members=("members", "first"),
        raw_bytes=("raw_bytes", "sum"),
        compressed_bytes=("compressed_bytes", "sum"),
        mean_bits_per_byte=("bits_per_byte", "mean"),
        entropy_bits=("entropy_bits", "sum"),
        entropy_files=("entropy_bits", "count"),
        flops=("flops", "sum"),
        flops_files=("flops", "count"),
        params=("params", "max"),
        model_bytes=("model_bytes", "max"),
        encode_seconds=("encode_seconds", "sum"),
        decode_seconds=("decode_seconds", "sum"),
        peak_rss_mb=("peak_rss_mb", "max"),
        verified=("verified", "all"),
    )
    out = out[(out["members"] >= 2) & (out["files"] == out["members"])].reset_index()
    if out.empty:
        return pd.DataFrame()
    raw, compressed = out["raw_bytes"], out["compressed_bytes"]
    out["corpus"], out["predictor"], out["scope"] = out["group"], out["spec"], "group"
    out["bits_per_byte"] = 8 * compressed / raw
    out["gap_to_floor"] = (8 * compressed - 8 * out["entropy_bits"]).where(out["entropy_files"] == out["files"]) / raw
    out["ratio"] = raw / compressed.where(compressed > 0)
    out["adjusted_ratio"] = raw / (compressed + out["model_bytes"].fillna(0)).where(lambda total: total > 0)
    out["flops_per_byte"] = out["flops"].where(out["flops_files"] == out["files"]) / raw
    return _speeds(out.drop(columns=["group", "members", "entropy_bits", "entropy_files", "flops", "flops_files"]))


def _frontiers(df: pd.DataFrame) -> pd.Series:
    """'size', 'compute' or 'size, compute' for rows on a Pareto frontier of their table."""
    flags = pd.Series("", index=df.index, dtype=object)
    for name, axis in AXES.items():
        on = pd.Series(False, index=df.index)
        on[pareto(df, axis, ("scope", "corpus"))] = True
        flags = flags.mask(on, flags.where(flags == "", flags + ", ") + name)
    return flags


def pareto(table: pd.DataFrame, axis: str, tables: tuple[str, ...] = ()) -> list[Any]:
    """Index labels of verified predictors that no other beats on bits/byte at equal or lower
    `axis`, within each table (rows alike in the `tables` columns; all rows are one without)."""
    x = pd.to_numeric(table[axis], errors="coerce")
    candidates = table.assign(x=x)[(table["kind"] == "predictor") & (table["verified"] == True) & x.notna()]  # noqa: E712
    ordered = candidates.sort_values([*tables, "x", "bits_per_byte"], kind="stable")
    keys = [ordered[c] for c in tables] or [pd.Series(0, index=ordered.index)]
    best_before = ordered["bits_per_byte"].groupby(keys).cummin().groupby(keys).shift(fill_value=float("inf"))
    return list(ordered.index[ordered["bits_per_byte"] < best_before])


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
