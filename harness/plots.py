"""Charts of a leaderboard: bits/byte against model size, compute per byte and wall time.

Each chart labels its points, draws the Pareto frontier, shows baselines (which have no size or
FLOPs) as horizontal lines, and on the size chart fits a power law through every size sweep
(one predictor at three or more sizes). Figures are built without pyplot, so no display and
no global state are involved.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from harness import leaderboard

KINDS = {
    "size": ("params", "parameters"),
    "compute": ("flops_per_byte", "FLOPs per byte"),
    "time": ("wall_seconds", "encode + decode seconds"),
}
"""Chart kind -> (x column, x label); every x axis is logarithmic."""


def chart_sections(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(file slug, title, rows) of the tables worth a chart: every group, and files in no group."""
    grouped = set(df.loc[df["scope"] == "group", "corpus"])
    out = []
    for title, rows in leaderboard.sections(df):
        corpus = rows["corpus"].iloc[0]
        if rows["scope"].iloc[0] == "group" or leaderboard.group_of(corpus) not in grouped:
            out.append((slug(corpus), title, rows))
    return out


def slug(name: str) -> str:
    """A file-name-safe version of a corpus name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "corpus"


def fit_power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, alpha) of y = a * x**-alpha, least squares in log-log space."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(intercept)), float(-slope)


def size_sweeps(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Predictor name -> its verified rows, where it was measured at three or more sizes."""
    rows = rows[(rows["kind"] == "predictor") & (rows["verified"] == True)]  # noqa: E712
    rows = rows[pd.to_numeric(rows["params"], errors="coerce") > 0]
    names = rows["predictor"].str.partition(":")[0]
    return {name: part.sort_values("params") for name, part in rows.groupby(names) if part["params"].nunique() >= 3}


def chart(rows: pd.DataFrame, kind: str, title: str) -> Figure:
    """bits/byte against the `kind` axis for one leaderboard table."""
    column, label = KINDS[kind]
    rows = rows.assign(wall_seconds=rows["encode_seconds"] + rows["decode_seconds"])
    rows[column] = pd.to_numeric(rows[column], errors="coerce")
    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.add_subplot()
    predictors = rows[(rows["kind"] == "predictor") & (rows[column] > 0)]
    baselines = rows[rows["kind"] == "baseline"]

    ax.scatter(predictors[column], predictors["bits_per_byte"], color="tab:blue", zorder=3, label="predictor")
    for row in predictors.itertuples():
        ax.annotate(
            row.predictor,
            (getattr(row, column), row.bits_per_byte),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
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
        for name, sweep in size_sweeps(predictors).items():
            a, alpha = fit_power_law(sweep["params"].to_numpy(float), sweep["bits_per_byte"].to_numpy(float))
            x = np.geomspace(sweep["params"].min(), sweep["params"].max(), 50)
            ax.plot(x, a * x**-alpha, "--", color="tab:green", label=f"{name}: {a:.3g}·N^-{alpha:.3f}")
    if kind == "time" and len(baselines):
        ax.scatter(baselines[column], baselines["bits_per_byte"], color="gray", marker="s", zorder=3, label="baseline")
    for row in baselines.itertuples():
        ax.axhline(row.bits_per_byte, color="gray", linestyle=":", linewidth=1)
    _label_lines(ax, baselines)
    if len(predictors) or (kind == "time" and len(baselines)):
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, f"no predictor reports {label}", transform=ax.transAxes, ha="center", color="dimgray")
    ax.set_xlabel(f"{label} (log scale)")
    ax.set_ylabel("bits per byte (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return figure


def _label_lines(ax, baselines: pd.DataFrame) -> None:
    """Name each baseline line at the right edge, nudging names apart so that none overlap."""
    low, high = ax.get_ylim()
    gap, last = 0.035 * (high - low), -np.inf
    for row in baselines.sort_values("bits_per_byte").itertuples():
        last = max(row.bits_per_byte, last + gap)
        ax.text(
            1.0,
            last,
            f" {row.predictor}",
            transform=ax.get_yaxis_transform(),
            fontsize=7,
            color="dimgray",
            va="center",
            ha="left",
        )


def png(figure: Figure) -> bytes:
    """The chart as a PNG with a 256-colour palette: line charts look the same at a third of the
    size, which keeps the self-contained index.html small."""
    rendered, palette = io.BytesIO(), io.BytesIO()
    figure.savefig(rendered, format="png", dpi=110)
    Image.open(rendered).convert("RGB").quantize(colors=256).save(palette, format="png", optimize=True)
    return palette.getvalue()


def charts(df: pd.DataFrame, kinds: list[str]) -> dict[str, bytes]:
    """'<corpus slug>-<kind>.png' -> PNG bytes, for every chart section and kind."""
    return {
        f"{name}-{kind}.png": png(chart(rows, kind, f"{title}: bits/byte vs {KINDS[kind][1]}"))
        for name, title, rows in chart_sections(df)
        for kind in kinds
    }
