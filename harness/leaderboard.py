"""Leaderboards: the results store as a table, sorted by bits per byte, baselines marked."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

FORMATS = ("table", "md", "csv", "json")
TERMINAL = (
    "predictor",
    "bits_per_byte",
    "gap_to_floor",
    "ratio",
    "params",
    "flops_per_byte",
    "encode_kb_s",
    "decode_kb_s",
    "verified",
)
"""Columns that fit a terminal; Markdown, CSV and JSON have all of COLUMNS."""
COLUMNS = {
    "corpus": "corpus",
    "predictor": "predictor",
    "kind": "kind",
    "bits_per_byte": "bits/byte",
    "gap_to_floor": "gap to floor",
    "ratio": "ratio",
    "compressed_bytes": "compressed",
    "raw_bytes": "raw",
    "params": "params",
    "model_bytes": "model bytes",
    "flops_per_byte": "FLOPs/byte",
    "encode_kb_s": "enc KB/s",
    "decode_kb_s": "dec KB/s",
    "peak_rss_mb": "peak MB",
    "verified": "verified",
}


def matches(corpus: str, wanted: list[str]) -> bool:
    """A corpus filter names a file ('canterbury/alice29.txt') or a group ('canterbury')."""
    return not wanted or any(corpus == w or corpus.startswith(w.rstrip("/") + "/") for w in wanted)


def frame(records: list[dict[str, Any]], corpora: list[str] = ()) -> pd.DataFrame:
    """The newest result per (spec, corpus content), filtered, sorted by corpus then bits/byte."""
    rows = [r for r in records if matches(r.get("corpus", ""), list(corpora))]
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.DataFrame(rows)
    df = df.sort_values("timestamp").drop_duplicates(["spec", "corpus", "corpus_sha256"], keep="last")
    df["spec"] = df["spec"].fillna(df["predictor"])
    df["predictor"] = df["spec"]
    entropy = df["entropy_bits_per_byte"] if "entropy_bits_per_byte" in df else pd.Series(None, index=df.index)
    df["gap_to_floor"] = df["bits_per_byte"] - pd.to_numeric(entropy, errors="coerce")
    df["encode_kb_s"] = df["raw_bytes"] / df["encode_seconds"] / 1e3
    df["decode_kb_s"] = df["raw_bytes"] / df["decode_seconds"] / 1e3
    df["peak_rss_mb"] = df["peak_rss_bytes"] / 2**20
    for column in COLUMNS:
        if column not in df:
            df[column] = None
    return df.sort_values(["corpus", "bits_per_byte"], na_position="last")[list(COLUMNS)].reset_index(drop=True)


def _cell(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if column in ("bits_per_byte", "gap_to_floor"):
        return f"{value:.3f}"
    if column == "ratio":
        return f"{value:.2f}"
    if column in ("encode_kb_s", "decode_kb_s", "peak_rss_mb"):
        return f"{value:,.0f}"
    if column == "flops_per_byte":
        return f"{value:.3g}"
    if column == "verified":
        return "yes" if value else "NO"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _text_rows(df: pd.DataFrame) -> list[list[str]]:
    return [[_cell(row[c], c) for c in COLUMNS] for row in df.to_dict("records")]


def rich_tables(df: pd.DataFrame) -> list[Table]:
    """One terminal table per corpus; columns with nothing to say are left out."""
    tables = []
    for corpus, rows in df.groupby("corpus", sort=True):
        raw = rows["raw_bytes"].iloc[0]
        shown = [c for c in TERMINAL if rows[c].replace(0, None).notna().any()]
        table = Table(title=f"{corpus} ({_cell(raw, 'raw_bytes')} bytes)", caption="* classic compressor (reference)")
        for column in shown:
            table.add_column(COLUMNS[column], justify="left" if column == "predictor" else "right")
        for row in rows.to_dict("records"):
            cells = [_cell(row[c], c) for c in shown]
            baseline = row["kind"] == "baseline"
            cells[0] += " *" if baseline else ""
            table.add_row(*cells, style="dim" if baseline else None)
        tables.append(table)
    return tables


def render(df: pd.DataFrame, fmt: str) -> str:
    """The leaderboard as Markdown, CSV or JSON text."""
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return df.to_json(orient="records", indent=2)
    if fmt == "md":
        lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(cells) + " |" for cells in _text_rows(df)]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")
