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


LONG_SPEC = "hf:./smollm2-135m-instruct,batch=64,gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf"


def test_an_hf_spec_is_named_by_its_model_and_the_options_it_sets():
    assert leaderboard.display_name(LONG_SPEC) == "smollm2-135m-instruct (batch=64, Q4_1)"
    assert leaderboard.display_name("hf:HuggingFaceTB/SmolLM2-135M") == "SmolLM2-135M"
    assert leaderboard.display_name("mix:gpt+cm+ngram") == "mix:gpt+cm+ngram"
    hybrid = "mix:hf(./smollm2-135m-instruct;batch=1;gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf)+cm,lr=0.003"
    assert leaderboard.display_name(hybrid) == "mix: smollm2-135m-instruct (batch=1, Q4_1) + cm,lr=0.003"


def test_names_and_titles_stay_inside_the_figure_and_the_plot_keeps_its_width():
    """A 75-character spec once stood outside the axes and shrank the plot to 45% of the width;
    a long title was cut at both ends."""
    rows = [
        record(LONG_SPEC, "canterbury/alice30k.txt", 30_000, 5000, params=134_515_008, flops=5.7e7),
        record("cm", "canterbury/alice30k.txt", 30_000, 7000, params=143_055_969, flops=3300),
        record("ngram", "canterbury/alice30k.txt", 30_000, 8000, params=1_209_628, flops=2030),
        *(record(name, "canterbury/alice30k.txt", 30_000, size, kind="baseline") for name, size in BASELINES),
    ]
    df = leaderboard.frame(rows)
    for kind in plots.KINDS:
        figure = plots.chart(df, kind, "canterbury/alice30k.txt (30,000 bytes): bits/byte vs " + plots.KINDS[kind][1])
        renderer = figure._get_renderer()
        figure.draw(renderer)
        box = figure.bbox
        ax = figure.axes[0]
        assert ax.get_position().width > 0.6, kind  # of the figure's width
        for text in [*ax.texts, ax.title]:
            extent = text.get_window_extent(renderer)
            assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, (kind, text.get_text())
        names = [t.get_text() for t in ax.texts]
        assert LONG_SPEC not in names and any("smollm2-135m-instruct" in n for n in names)


BASELINES = [("zstd -19", 9000), ("xz -9e", 9010), ("zpaq -m4", 8200), ("ppmd -o6", 8190), ("gzip -9", 11000)]


def test_baseline_lines_closer_than_a_line_of_text_stack_their_names_in_one_block():
    rows = [record(name, "x", 30_000, size, kind="baseline") for name, size in BASELINES]
    rows.append(record("ngram", "x", 30_000, 8000, params=1000, flops=100))
    blocks = [t.get_text().split("\n") for t in plots.chart(leaderboard.frame(rows), "size", "x").axes[0].texts]
    blocks = [[name.strip() for name in block] for block in blocks]
    assert ["xz -9e", "zstd -19"] in blocks and ["zpaq -m4", "ppmd -o6"] in blocks and ["gzip -9"] in blocks


def test_plot_writes_svg_and_pdf_and_takes_labels(tmp_path):
    store = tmp_path / "results.jsonl"
    store.write_text(store_text(sweep_records()))
    for fmt, magic in (("svg", b"<?xml"), ("pdf", b"%PDF")):
        args = ["plot", "size", "--results", str(store), "-o", str(tmp_path / fmt), "--format", fmt]
        result = run_cli(*args, "--label", "net:width=1000=small net")
        assert result.returncode == 0, result.stderr
        data = (tmp_path / fmt / f"x-size.{fmt}").read_bytes()
        assert data.startswith(magic)
    assert b"small net" in (tmp_path / "svg" / "x-size.svg").read_bytes()
    result = run_cli("plot", "size", "--results", str(store), "-o", str(tmp_path), "--label", "nolabel")
    assert result.returncode == 2 and "SPEC=NAME" in result.stderr


def test_a_name_moved_away_from_its_point_is_tied_to_it_by_a_leader_line():
    """Four predictors on one point: the first name sits beside it, the next ones a line away
    each, and those more than a line away lead back to the point (they once stood unattached)."""
    rows = [record(f"model-{k}", "x", 30_000, 8000, params=1000, flops=100) for k in range(4)]
    ax = plots.chart(leaderboard.frame(rows), "size", "x").axes[0]
    names = {t.get_text(): t for t in ax.texts if t.get_text().startswith("model-")}
    assert len(names) == 4
    led = [name for name, text in names.items() if text.arrow_patch is not None]
    assert len(led) == 2  # not the first two: beside the point, and a line above it
    assert all(tuple(names[name].xy) == (1000, 8000 * 8 / 30_000) for name in led)
