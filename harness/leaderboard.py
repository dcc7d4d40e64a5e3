"""Leaderboards: the results store as one frame of rows per corpus file and per corpus group.

A group ("canterbury") aggregates its files ("canterbury/alice29.txt", ...): total bytes give
the group's bits/byte, and the mean of the per-file bits/byte is shown beside it, as papers of
the field quote both. Baselines (classic compressors) are marked, and predictors on the Pareto
frontier (no other verified predictor is both no bigger, or no costlier, and better) are flagged.
The frame is what every output renders: tables (harness/tables.py), CSV, JSON, HTML, plots.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from harness import record
from harness.errors import HarnessError
from harness.predictor import member_specs

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
AXES = {"size": "params", "compute": "flops_per_byte"}
"""What the Pareto frontiers trade bits/byte against."""
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
    gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf'), a mix with such a member by its members so named;
    any other spec as it is."""
    name, _, options = spec.partition(":")
    if name == "mix" and options:  # its members, each as short as it is alone
        members, comma, own = options.partition(",")
        try:
            specs = member_specs(members)
        except HarnessError:
            return spec
        shown = [display_name(member) for member in specs]
        return f"mix: {' + '.join(shown)}{comma}{own}" if shown != specs else spec
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
    Every step is a whole-column operation or one pass over the records, so the time grows
    linearly with them.
    """
    wanted, subsets = list(corpora), subsets or {}
    chosen = [r for r in records if _selected(r, wanted, subsets)]
    if not chosen:
        return pd.DataFrame(columns=list(COLUMNS))
    newest = record.newest_versions(chosen)
    rows = [{**r.to_json(), "spec": _versioned(r, newest)} for r in chosen]
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
    df = _newest(df, ["spec", "corpus", "corpus_sha256"])
    df["predictor"] = df["spec"]
    df["gap_to_floor"] = df["bits_per_byte"] - 8 * df["entropy_bits"] / df["raw_bytes"]
    df["peak_rss_mb"] = df["peak_memory_bytes"] / 2**20
    df["scope"], df["files"] = "file", 1
    return _speeds(df)


def _newest(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The newest row per `key`; of rows with the same timestamp, the one later in the store."""
    return df.sort_values("timestamp", kind="stable").drop_duplicates(key, keep="last")


def _versioned(r: record.Record, newest: dict[str, int]) -> str:
    """r's spec, with its version in the name where `newest` has a newer one of its predictor
    ('gpt@v3:width=256'; 'gpt@v?' for records from before versions were stored), and a mix's
    members of an older version ('mix@cm-v8:hf(./m)+cm'): the same spec now means another
    model, so it is another row."""
    tags = record.older_members(r, newest)
    if r.predictor in newest and r.predictor_version != newest[r.predictor]:
        tags.insert(0, "v?" if r.predictor_version is None else f"v{r.predictor_version}")
    if not tags:
        return r.spec
    name, colon, rest = r.spec.partition(":")
    return name + "".join("@" + tag for tag in tags) + colon + rest


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
