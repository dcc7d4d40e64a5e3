"""Charts of a leaderboard: bits/byte against model size, compute per byte and wall time.

Each chart labels its points, draws the Pareto frontier, shows baselines (which have no size or
FLOPs) as horizontal lines, and on the size chart fits a power law through every size sweep
(one predictor at three or more sizes). Figures are built without pyplot, so no display and
no global state are involved.
"""

from __future__ import annotations

import hashlib
import io
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from harness import leaderboard, tables

RESERVED = {"readme", "index", "results"}
"""Names `harness publish` writes pages of its own under: no corpus page may take them."""

KINDS = {
    "size": ("params", "parameters"),
    "compute": ("flops_per_byte", "FLOPs per byte"),
    "time": ("wall_seconds", "encode + decode seconds"),
}
"""Chart kind -> (x column, x label); every x axis is logarithmic."""


def chart_sections(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(page name, title, rows) of the tables worth a chart: every group, and files in no group.
    Each page name is its corpus's `slug`, unless publish's own page, a corpus named exactly so or
    an earlier section took it ('a b' beside 'a-b', 'README'): a short hash then keeps them apart."""
    grouped = set(df.loc[df["scope"] == "group", "corpus"])
    sections = [
        (title, rows)
        for title, rows in tables.sections(df)
        if rows["scope"].iloc[0] == "group" or leaderboard.group_of(rows["corpus"].iloc[0]) not in grouped
    ]
    owned = {slug(c).lower() for c in (rows["corpus"].iloc[0] for _, rows in sections) if slug(c) == c}
    out, taken = [], set(RESERVED)
    for title, rows in sections:
        corpus = rows["corpus"].iloc[0]
        name = slug(corpus)
        if name.lower() in taken or (name != corpus and name.lower() in owned):
            name += "-" + hashlib.sha256(corpus.encode()).hexdigest()[:6]
        taken.add(name.lower())
        out.append((name, title, rows))
    return out


def slug(name: str) -> str:
    """A file-name-safe version of a corpus name (an HTML anchor too)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "corpus"


def fit_power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, alpha) of y = a * x**-alpha, least squares in log-log space."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(intercept)), float(-slope)


def size_sweeps(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Predictor name -> its verified rows, where it was measured at three or more sizes."""
    rows = rows[(rows["kind"] == "predictor") & (rows["verified"] == True)]  # noqa: E712
    rows = rows[pd.to_numeric(rows["params"], errors="coerce") > 0]
    if rows.empty:  # no verified predictor row: nothing to sweep (and no column to split)
        return {}
    names = rows["predictor"].str.partition(":")[0]
    return {name: part.sort_values("params") for name, part in rows.groupby(names) if part["params"].nunique() >= 3}


FORMATS = ("png", "svg", "pdf")
"""What `harness plot --format` writes: PNG for pages, SVG and PDF (vector) for papers."""


def chart(rows: pd.DataFrame, kind: str, title: str, labels: dict[str, str] | None = None) -> Figure:
    """bits/byte against the `kind` axis for one leaderboard table; points are named by
    `labels` (spec -> name) or `leaderboard.display_name`."""
    column, label = KINDS[kind]
    labels = labels or {}
    rows = rows.assign(wall_seconds=rows["encode_seconds"] + rows["decode_seconds"])
    rows["predictor"] = [labels.get(spec) or leaderboard.display_name(spec) for spec in rows["predictor"]]
    rows[column] = pd.to_numeric(rows[column], errors="coerce")
    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.add_subplot()
    predictors = rows[(rows["kind"] == "predictor") & (rows[column] > 0)]
    baselines = rows[rows["kind"] == "baseline"]

    ax.scatter(predictors[column], predictors["bits_per_byte"], color="tab:blue", zorder=3, label="predictor")
    frontier = predictors.loc[leaderboard.pareto(predictors, column)].sort_values(column)
    if len(frontier):
        ax.step(frontier[column], frontier["bits_per_byte"], where="post", color="tab:red", zorder=2)
        ax.scatter(
            frontier[column],
            frontier["bits_per_byte"],
            s=140,
            facecolors="none",
            edgecolors="tab:red",
            zorder=4,
            label="Pareto frontier",
        )
    if kind == "size":
        for (name, sweep), (color, dashes) in zip(size_sweeps(predictors).items(), FIT_STYLES * 4, strict=False):
            a, alpha = fit_power_law(sweep["params"].to_numpy(float), sweep["bits_per_byte"].to_numpy(float))
            x = np.geomspace(sweep["params"].min(), sweep["params"].max(), 50)
            ax.plot(x, a * x**-alpha, linestyle=dashes, color=color, label=f"{name}: {a:.3g}·N^-{alpha:.3f}")
    if kind == "time" and len(baselines):
        ax.scatter(baselines[column], baselines["bits_per_byte"], color="gray", marker="s", zorder=3, label="baseline")
    for row in baselines.itertuples():
        ax.axhline(row.bits_per_byte, color="gray", linestyle=":", linewidth=1)
    if kind != "time":  # there the baselines are points, named like the predictors
        _label_lines(ax, baselines)
    if len(predictors) or (kind == "time" and len(baselines)):
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, f"no predictor reports {label}", transform=ax.transAxes, ha="center", color="dimgray")
    named = pd.concat([predictors, baselines]) if kind == "time" else predictors
    _label_points(ax, named, column)
    ax.set_xlabel(f"{label} (log scale)")
    ax.set_ylabel("bits per byte (lower is better)")
    ax.set_title(title.replace(": ", "\n", 1), fontsize=10)  # corpus, then what is plotted: both fit
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return figure


FIT_STYLES = [("tab:green", "--"), ("tab:purple", "-."), ("tab:orange", ":"), ("tab:brown", (0, (5, 1, 1, 1)))]
"""Colour and dash pattern of each fitted power law, so that each has its own legend entry."""


LEADER = {"arrowstyle": "-", "color": "silver", "linewidth": 0.6, "shrinkA": 1, "shrinkB": 3}
"""How a name moved away from its point is tied to it."""


def _label_points(ax, rows: pd.DataFrame, column: str) -> None:
    """Name each point (baselines in grey), to its right, or to its left in the right part of
    the axes so that no name runs past them; a name that would sit on an earlier one (in display
    space) moves to the nearest free line above or below, so that none overlap, and one moved
    further than a line away is tied to its point by a thin leader line."""
    ax.get_xlim(), ax.get_ylim()  # settles the autoscaled limits the positions depend on
    placed: list[tuple[float, float, float]] = []
    line = 9.0  # points: a 7-point font and its leading
    right_edge = ax.transAxes.transform((0.62, 0))[0] * 72 / ax.figure.dpi
    for row in rows.sort_values("bits_per_byte").itertuples():
        x, y = getattr(row, column), row.bits_per_byte
        px, py = ax.transData.transform((x, y)) * 72 / ax.figure.dpi
        width = 3.6 * len(row.predictor) + 8  # points: a 7-point font's average letter, and the gap
        left = px > right_edge
        start = px - width if left else px
        # Above the point, else below it, then a line further each way: the nearest free place.
        offsets = (3.0 + sign * k * line for k in range(100) for sign in ((1,) if k == 0 else (1, -1)))
        offset = next(
            o
            for o in offsets
            if not any(start < qx + qw and qx < start + width and abs(py + o - qy) < line for qx, qw, qy in placed)
        )
        placed.append((start, width, py + offset))
        color = "dimgray" if row.kind == "baseline" else "black"
        ax.annotate(
            row.predictor,
            (x, y),
            fontsize=7,
            xytext=(-4 if left else 4, offset),
            textcoords="offset points",
            ha="right" if left else "left",
            va="center" if abs(offset) > line else "baseline",
            color=color,
            arrowprops=LEADER if abs(offset) > line else None,
        )


def _label_lines(ax, baselines: pd.DataFrame) -> None:
    """Name the baseline lines in the right margin, one name a line of text, each beside its
    line: names of lines closer than their text is tall stack into one block centred on those
    lines, blocks that would touch merge, so that no name overlaps another and none stands far
    from its line."""
    ax.get_ylim()  # settles the autoscaled limits the positions depend on
    line = 9.0 / 72 * ax.figure.dpi  # a 7-point name and its leading, in display units
    to_display = ax.transData.transform
    blocks: list[list[tuple[float, str]]] = []  # (y in display units, name), bottom to top
    for row in baselines.sort_values("bits_per_byte").itertuples():
        blocks.append([(to_display((1, row.bits_per_byte))[1], row.predictor)])
        # Two blocks touch when their centres are closer than half their heights added up.
        while len(blocks) > 1 and _centre(blocks[-1]) - _centre(blocks[-2]) < len(blocks[-2] + blocks[-1]) * line / 2:
            blocks[-2:] = [blocks[-2] + blocks[-1]]
    to_data = ax.transData.inverted().transform
    for block in blocks:
        ax.text(
            1.0,
            to_data((0, _centre(block)))[1],
            "\n".join(f" {name}" for _, name in reversed(block)),  # the highest line's name on top
            transform=ax.get_yaxis_transform(),
            fontsize=7,
            color="dimgray",
            va="center",
            ha="left",
            linespacing=1.1,
        )


def _centre(block: list[tuple[float, str]]) -> float:
    """Where a block of baseline names sits: level with the mean of its lines."""
    return sum(y for y, _ in block) / len(block)


def png(figure: Figure, dpi: int = 110) -> bytes:
    """The chart as a PNG with a 256-colour palette: line charts look the same at a third of the
    size, which keeps the self-contained index.html small."""
    rendered, palette = io.BytesIO(), io.BytesIO()
    figure.savefig(rendered, format="png", dpi=dpi)
    Image.open(rendered).convert("RGB").quantize(colors=256).save(palette, format="png", optimize=True)
    return palette.getvalue()


def rendered(figure: Figure, fmt: str = "png", dpi: int = 110) -> bytes:
    """The chart in `fmt` (one of FORMATS); SVG and PDF are vector, their text real text."""
    if fmt == "png":
        return png(figure, dpi)
    out = io.BytesIO()
    figure.savefig(out, format=fmt, dpi=dpi, metadata={"Date": None})  # the same records, the same bytes
    return out.getvalue()


def charts(
    df: pd.DataFrame, kinds: list[str], fmt: str = "png", dpi: int = 110, labels: dict[str, str] | None = None
) -> dict[str, bytes]:
    """'<page name>-<kind>.<fmt>' -> its bytes, for every chart section and kind."""
    return {
        f"{name}-{kind}.{fmt}": rendered(chart(rows, kind, f"{title}: bits/byte vs {KINDS[kind][1]}", labels), fmt, dpi)
        for name, title, rows in chart_sections(df)
        for kind in kinds
    }
