"""Charts: log axes, labelled points, frontier, baselines as lines, power law through a size sweep."""

import numpy as np
import pytest

from harness import leaderboard, plots
from tests.conftest import run_cli
from tests.test_leaderboard import record, store_text

PNG = b"\x89PNG\r\n\x1a\n"


def sweep_records():
    # bits/byte = 6 * N^-0.1 (up to whole bytes), for a sweep of one predictor over three sizes
    rows = [
        record(f"net:width={n}", "x", 10_000, round(10_000 * 6 * n**-0.1 / 8), params=n, flops=2 * n)
        for n in (1_000, 10_000, 100_000)
    ]
    return rows + [record("xz -9e", "x", 10_000, 3000, kind="baseline")]


def test_fit_power_law_recovers_exponent():
    x = np.array([1e3, 1e4, 1e5, 1e6])
    a, alpha = plots.fit_power_law(x, 5.0 * x**-0.2)
    assert a == pytest.approx(5.0) and alpha == pytest.approx(0.2)


def test_size_chart_draws_points_frontier_baselines_and_fit():
    df = leaderboard.frame(sweep_records())
    figure = plots.chart(df, "size", "x")
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.texts]
    assert {"net:width=1000", "net:width=100000"} <= set(labels) and " xz -9e" in labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Pareto frontier" in legend
    fit = next(text for text in legend if text.startswith("net: "))
    assert fit.endswith("N^-0.100")
    baseline = [line for line in ax.get_lines() if list(line.get_ydata()) == pytest.approx([8 * 3000 / 10_000] * 2)]
    assert baseline, "xz as a horizontal line at its bits/byte"


def test_no_fit_without_a_sweep_and_charts_are_pngs():
    df = leaderboard.frame(sweep_records()[1:])  # two sizes only: not a sweep
    legend = [t.get_text() for t in plots.chart(df, "size", "x").axes[0].get_legend().get_texts()]
    assert not any(text.startswith("net: ") for text in legend)
    charts = plots.charts(df, list(plots.KINDS))
    assert set(charts) == {"x-size.png", "x-compute.png", "x-time.png"}
    assert all(data.startswith(PNG) for data in charts.values())


def test_plot_command_writes_pngs(tmp_path):
    store = tmp_path / "results.jsonl"
    store.write_text(store_text(sweep_records()))
    result = run_cli("plot", "all", "--results", str(store), "-o", str(tmp_path / "charts"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["x-compute.png", "x-size.png", "x-time.png"]
    assert (tmp_path / "charts" / "x-size.png").read_bytes().startswith(PNG)


def test_no_verified_predictor_row_gives_no_size_sweep():
    rows = [
        record("net:width=1", "x", 10_000, 3000, params=1, verified=False),
        record("xz -9e", "x", 10_000, 3000, kind="baseline"),
    ]
    assert plots.size_sweeps(leaderboard.frame(rows)) == {}
    assert set(plots.charts(leaderboard.frame(rows), ["size"])) == {"x-size.png"}
