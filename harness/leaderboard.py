"""Leaderboards: the results store as tables per corpus file and per corpus group.

A group ("canterbury") aggregates its files ("canterbury/alice29.txt", ...): total bytes give
the group's bits/byte, and the mean of the per-file bits/byte is shown beside it, as papers of
the field quote both. Baselines (classic compressors) are marked, and predictors on the Pareto
frontier (no other verified predictor is both no bigger, or no costlier, and better) are flagged.
"""

from __future__ import annotations

import numbers
from typing import Any

import pandas as pd
from rich.table import Table

FORMATS = ("table", "md", "csv", "json", "html")
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
    "frontier": "frontier",
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
MARKDOWN = TERMINAL[:7] + ("model_bytes", "flops_per_byte", "encode_seconds", "decode_seconds") + TERMINAL[8:]
AXES = {"size": "params", "compute": "flops_per_byte"}
"""What the Pareto frontiers trade bits/byte against."""
BASELINE_MARK = " *"
BASELINE_NOTE = "* classic compressor (reference)"


def matches(corpus: str, wanted: list[str]) -> bool:
    """A corpus filter names a file ('canterbury/alice29.txt') or a group ('canterbury')."""
    return not wanted or any(corpus == w or corpus.startswith(w.rstrip("/") + "/") for w in wanted)


def group_of(corpus: str) -> str:
    """'canterbury/alice29.txt' -> 'canterbury'; a local 'dir/sub/f' -> 'dir/sub'."""
    return corpus.rpartition("/")[0] or corpus


def frame(records: list[dict[str, Any]], corpora: list[str] = (), scope: str = "both") -> pd.DataFrame:
    """The leaderboard rows: newest result per (spec, corpus content), and/or group aggregates.

    Groups of one file are left out (their row would repeat the file's). Rows are sorted by
    scope (groups first), corpus, then bits/byte.
    """
    rows = [r for r in records if matches(r.get("corpus", ""), list(corpora))]
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    files = _files(pd.DataFrame(rows))
    parts = []
    if scope in ("both", "group"):
        parts.append(_groups(files))
    if scope in ("both", "file"):
        parts.append(files)
    df = pd.concat([p for p in parts if not p.empty] or [files.iloc[:0]], ignore_index=True)
    df["frontier"] = _frontiers(df)
    for column in COLUMNS:
        if column not in df:
            df[column] = None
    df["order"] = df["scope"].map({"group": 0, "file": 1})
    df = df.sort_values(["order", "corpus", "bits_per_byte"], na_position="last")
    return df[list(COLUMNS)].reset_index(drop=True)


def _files(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if "max_bytes" in df:  # prefix runs get tables of their own: 'canterbury[:20000]/alice29.txt'
        limit = pd.to_numeric(df["max_bytes"], errors="coerce")
        df["corpus"] = [
            c if pd.isna(n) else f"{group_of(c)}[:{int(n)}]/{c.rpartition('/')[2]}"
            for c, n in zip(df["corpus"], limit, strict=True)
        ]
    df["spec"] = _versioned(df["spec"].fillna(df["predictor"]), df)
    df = df.sort_values("timestamp").drop_duplicates(["spec", "corpus", "corpus_sha256"], keep="last")
    df["predictor"] = df["spec"]
    for column in ("entropy_bits", "params", "model_bytes", "flops_per_byte", "adjusted_ratio"):
        df[column] = pd.to_numeric(df[column], errors="coerce") if column in df else float("nan")
    df["gap_to_floor"] = df["bits_per_byte"] - 8 * df["entropy_bits"] / df["raw_bytes"]
    df["peak_rss_mb"] = df["peak_rss_bytes"] / 2**20
    df["scope"], df["files"] = "file", 1
    return _speeds(df)


def _versioned(specs: pd.Series, df: pd.DataFrame) -> pd.Series:
    """Specs of results from an older version of their predictor than the store's newest get it
    in the name ('gpt@v3:width=256'; 'gpt@v?' for records from before versions were stored):
    the same spec now means another model, so it is another row."""
    if "predictor_version" not in df:
        return specs
    version = pd.to_numeric(df["predictor_version"], errors="coerce")
    newest = version.groupby(df["predictor"]).transform("max")
    old = (version < newest) | (version.isna() & newest.notna())
    if not old.any():
        return specs
    label = version[old].map(lambda v: "?" if pd.isna(v) else str(int(v)))
    parts = specs[old].str.partition(":")
    return specs.mask(old, parts[0] + "@v" + label + parts[1] + parts[2])


def _speeds(df: pd.DataFrame) -> pd.DataFrame:
    df["encode_bytes_per_s"] = df["raw_bytes"] / df["encode_seconds"]
    df["decode_bytes_per_s"] = df["raw_bytes"] / df["decode_seconds"]
    return df


def _groups(files: pd.DataFrame) -> pd.DataFrame:
    """One row per (group, predictor) that covers every file of the group seen in `files`.

    The adjusted ratio counts the model once for the whole group: one decompressor, many files.
    """
    newest = files.sort_values("timestamp").drop_duplicates(["spec", "corpus"], keep="last")
    newest = newest.assign(group=newest["corpus"].map(group_of))
    members = newest.groupby("group")["corpus"].nunique()
    rows = []
    for (group, spec), part in newest.groupby(["group", "spec"], sort=True):
        if members[group] < 2 or len(part) < members[group]:
            continue
        raw, compressed = part["raw_bytes"].sum(), part["compressed_bytes"].sum()
        model_bytes = part["model_bytes"].max()
        rows.append(
            {
                "corpus": group,
                "predictor": spec,
                "kind": part["kind"].iloc[0],
                "bits_per_byte": 8 * compressed / raw,
                "mean_bits_per_byte": part["bits_per_byte"].mean(),
                "gap_to_floor": (8 * compressed - 8 * part["entropy_bits"].sum(min_count=len(part))) / raw,
                "ratio": raw / compressed,
                "adjusted_ratio": raw / (compressed + (0 if pd.isna(model_bytes) else model_bytes)),
                "compressed_bytes": compressed,
                "raw_bytes": raw,
                "params": part["params"].max(),
                "model_bytes": model_bytes,
                "flops_per_byte": (part["flops_per_byte"] * part["raw_bytes"]).sum(min_count=len(part)) / raw,
                "encode_seconds": part["encode_seconds"].sum(),
                "decode_seconds": part["decode_seconds"].sum(),
                "peak_rss_mb": part["peak_rss_mb"].max(),
                "verified": bool(part["verified"].all()),
                "scope": "group",
                "files": len(part),
            }
        )
    return _speeds(pd.DataFrame(rows)) if rows else pd.DataFrame()


def _frontiers(df: pd.DataFrame) -> pd.Series:
    """'size', 'compute' or 'size, compute' for rows on a Pareto frontier of their table."""
    flags = pd.Series("", index=df.index, dtype=object)
    for _, table in df.groupby(["scope", "corpus"]):
        for name, axis in AXES.items():
            for index in pareto(table, axis):
                flags[index] = f"{flags[index]}, {name}" if flags[index] else name
    return flags


def pareto(table: pd.DataFrame, axis: str) -> list[Any]:
    """Index labels of verified predictors that no other beats on bits/byte at equal or lower `axis`."""
    candidates = table[(table["kind"] == "predictor") & (table["verified"] == True)]  # noqa: E712 (NaN-safe)
    candidates = candidates[pd.to_numeric(candidates[axis], errors="coerce").notna()]
    best, on = float("inf"), []
    for index, row in candidates.sort_values([axis, "bits_per_byte"]).iterrows():
        if row["bits_per_byte"] < best:
            best = row["bits_per_byte"]
            on.append(index)
    return on


def sections(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per table: groups first, then files, as `frame` ordered them."""
    out = []
    for (_, _, corpus), rows in df.assign(order=df["scope"] != "group").groupby(["order", "scope", "corpus"]):
        raw = rows["raw_bytes"].max()
        files = rows["files"].max()
        what = f"{int(files)} files, " if rows["scope"].iloc[0] == "group" else ""
        out.append((f"{corpus} ({what}{_cell(raw, 'raw_bytes')} bytes)", rows.drop(columns="order")))
    return out


def shown_columns(rows: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    """Leave out columns with nothing to say for these rows."""
    shown = []
    for column in columns:
        values = rows[column]
        if column == "adjusted_ratio":
            useful = (values.notna() & (values.round(6) != rows["ratio"].round(6))).any()
        elif column == "frontier":
            useful = values.astype(bool).any()
        else:
            useful = values.replace(0, None).notna().any()
        if useful or column in ("predictor", "bits_per_byte", "verified"):
            shown.append(column)
    return shown


def _cell(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
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


def text_rows(rows: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    """Formatted cells; baselines get BASELINE_MARK after their name."""
    out = []
    for row in rows.to_dict("records"):
        cells = [_cell(row[c], c) for c in columns]
        if row["kind"] == "baseline" and "predictor" in columns:
            cells[columns.index("predictor")] += BASELINE_MARK
        out.append(cells)
    return out


def rich_tables(df: pd.DataFrame) -> list[Table]:
    """One terminal table per group and per corpus file."""
    tables = []
    for title, rows in sections(df):
        shown = shown_columns(rows, TERMINAL)
        table = Table(title=title, caption=BASELINE_NOTE if (rows["kind"] == "baseline").any() else None)
        for column in shown:
            table.add_column(COLUMNS[column], justify="left" if column in ("predictor", "frontier") else "right")
        for cells, kind in zip(text_rows(rows, shown), rows["kind"], strict=True):
            table.add_row(*cells, style="dim" if kind == "baseline" else None)
        tables.append(table)
    return tables


def markdown(df: pd.DataFrame, level: int = 3) -> str:
    """README-ready Markdown: a heading and a table per group and per corpus file."""
    out = []
    for title, rows in sections(df):
        shown = shown_columns(rows, MARKDOWN)
        out += [f"{'#' * level} {title}", "", "| " + " | ".join(COLUMNS[c] for c in shown) + " |"]
        out.append("|" + "".join("---|" if c in ("predictor", "frontier") else "---:|" for c in shown))
        out += ["| " + " | ".join(cells) + " |" for cells in text_rows(rows, shown)]
        note = "\\" + BASELINE_NOTE  # escaped: a leading "*" would start a Markdown list
        out += ["", note + "; frontier: best bits/byte for its size (params) or compute (FLOPs/byte)", ""]
    return "\n".join(out)


def render(df: pd.DataFrame, fmt: str) -> str:
    """The leaderboard as Markdown, CSV, JSON or a self-contained HTML page."""
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return df.to_json(orient="records", indent=2)
    if fmt == "md":
        return markdown(df)
    if fmt == "html":
        from harness import html  # matplotlib is only needed for the page's charts

        return html.page(df)
    raise ValueError(f"unknown format {fmt!r}")
