"""Leaderboard tables: per-file rows, group aggregates, Pareto flags, formats, cached re-runs."""

import io
import json

import pandas as pd
import pytest
from rich.console import Console

from harness import formats, leaderboard, tables
from harness.record import RECORD_VERSION, Record
from plugins.baselines import standard_baselines
from tests.conftest import run_cli


def record(spec, corpus, raw, compressed, *, kind="predictor", params=None, flops=None, verified=True, **extra):
    """A measurement's record, as `measure` builds them."""
    return Record(
        **{
            "record_version": RECORD_VERSION,
            "kind": kind,
            "predictor": spec.partition(":")[0],
            "spec": spec,
            "corpus": corpus,
            "corpus_sha256": f"sha-{corpus}-{raw}",
            "raw_bytes": raw,
            "compressed_bytes": compressed,
            "bits_per_byte": 8 * compressed / raw,
            "ratio": raw / compressed,
            "adjusted_ratio": raw / (compressed + extra.get("model_bytes", 0)),
            "params": params,
            "model_bytes": extra.pop("model_bytes", 0),
            "flops_per_byte": flops,
            "encode_seconds": 2.0,
            "decode_seconds": 4.0,
            "peak_memory_bytes": 2**20,
            "verified": verified,
            "timestamp": extra.pop("timestamp", "2026-01-01T00:00:00+00:00"),
            **extra,
        }
    )


def store_text(records) -> str:
    """The lines of a results store holding `records`."""
    return "".join(json.dumps(r.to_json()) + "\n" for r in records)


def two_file_records():
    return [
        record("small", "g/a", 1000, 500, params=10, flops=20, model_bytes=100),
        record("small", "g/b", 3000, 300, params=10, flops=20, model_bytes=100),
        record("big", "g/a", 1000, 400, params=1000, flops=2000),
        record("big", "g/b", 3000, 250, params=1000, flops=2000),
        record("gzip -9", "g/a", 1000, 450, kind="baseline"),
        record("gzip -9", "g/b", 3000, 350, kind="baseline"),
        record("partial", "g/a", 1000, 100, params=5, flops=5),  # never ran on g/b
    ]


def test_group_rows_total_bytes_and_mean_of_files():
    df = leaderboard.frame(two_file_records())
    groups = df[df["scope"] == "group"].set_index("predictor")
    assert set(groups.index) == {"small", "big", "gzip -9"}  # "partial" covers one file of two
    small = groups.loc["small"]
    assert small["raw_bytes"] == 4000 and small["compressed_bytes"] == 800 and small["files"] == 2
    assert small["bits_per_byte"] == pytest.approx(8 * 800 / 4000)
    assert small["mean_bits_per_byte"] == pytest.approx((8 * 500 / 1000 + 8 * 300 / 3000) / 2)
    assert small["adjusted_ratio"] == pytest.approx(4000 / (800 + 100))  # one model for the whole group
    assert small["encode_bytes_per_s"] == pytest.approx(4000 / 4.0)
    assert small["flops_per_byte"] == pytest.approx(20)
    files = df[df["scope"] == "file"]
    assert len(files) == 7 and set(files["corpus"]) == {"g/a", "g/b"}
    # groups first, then each table sorted by bits/byte
    assert list(df["scope"]).index("file") == 3
    for _, table in df.groupby(["scope", "corpus"]):
        assert list(table["bits_per_byte"]) == sorted(table["bits_per_byte"])


def test_pareto_frontier_flags_best_for_size_and_compute():
    records = [
        record("a", "x", 1000, 400, params=10, flops=500),
        record("b", "x", 1000, 300, params=100, flops=50),
        record("c", "x", 1000, 350, params=1000, flops=10),
        record("d", "x", 1000, 200, params=50, flops=5, verified=False),  # not decoded right: no claim
        record("xz", "x", 1000, 100, kind="baseline"),
    ]
    flags = leaderboard.frame(records).set_index("predictor")["frontier"]
    assert flags["a"] == "size"
    assert flags["b"] == "size, compute"
    assert flags["c"] == "compute"
    assert flags["d"] == "" and flags["xz"] == ""


def test_newest_result_wins_and_filters_select_groups():
    records = two_file_records() + [
        record("small", "g/a", 1000, 200, params=10, flops=20, timestamp="2026-02-01T00:00:00+00:00"),
        record("big", "other/z", 500, 100, params=1000),
    ]
    df = leaderboard.frame(records, ["g"])
    assert set(df["corpus"]) == {"g", "g/a", "g/b"}
    row = df[(df["corpus"] == "g/a") & (df["predictor"] == "small")]
    assert list(row["compressed_bytes"]) == [200]
    assert leaderboard.frame(records, ["other"], scope="group").empty  # a one-file group adds nothing


def test_results_of_an_older_predictor_version_are_rows_of_their_own():
    records = [
        record("net:width=8", "g/a", 1000, 500, timestamp="2026-01-01T00:00:00+00:00"),  # before versions
        record("net:width=8", "g/a", 1000, 400, predictor_version=2, timestamp="2026-01-02T00:00:00+00:00"),
        record("net:width=8", "g/a", 1000, 300, predictor_version=3, timestamp="2026-01-03T00:00:00+00:00"),
        record("net", "g/a", 1000, 350, predictor_version=3),
        record("gzip -9", "g/a", 1000, 450, kind="baseline"),
    ]
    rows = leaderboard.frame(records, scope="file").set_index("predictor")["compressed_bytes"]
    assert rows.to_dict() == {
        "net:width=8": 300,
        "net": 350,
        "gzip -9": 450,
        "net@v2:width=8": 400,
        "net@v?:width=8": 500,
    }


def test_a_mix_measured_with_an_older_member_is_a_row_of_its_own():
    """cm v9 codes other bits than cm v8: the same mix spec with each is another model."""
    mix = "mix:hf(./m)+cm"
    records = [
        record(mix, "g/a", 1000, 300, predictor_version=2, timestamp="2026-01-01T00:00:00+00:00"),  # before
        record(mix, "g/a", 1000, 290, predictor_version=2, member_versions={"hf": 5, "cm": 8}),
        record(mix, "g/a", 1000, 280, predictor_version=2, member_versions={"hf": 5, "cm": 9}),
        record("cm", "g/a", 1000, 400, predictor_version=9),
    ]
    rows = leaderboard.frame(records, scope="file").set_index("predictor")["compressed_bytes"]
    assert rows.to_dict() == {mix: 280, "mix@cm-v8:hf(./m)+cm": 290, "cm": 400}  # the newest of mix's own
    # cm's newest version counts from cm's own rows too: a mix with cm v8 alone is old beside cm v9
    alone = leaderboard.frame([records[1], records[3]], scope="file").set_index("predictor")["compressed_bytes"]
    assert alone.to_dict() == {"mix@cm-v8:hf(./m)+cm": 290, "cm": 400}


def test_markdown_marks_baselines_and_leaves_out_empty_columns():
    md = formats.render(leaderboard.frame(two_file_records()), "md")
    assert "### g (2 files, 4,000 bytes)" in md and "### g/a (1,000 bytes)" in md
    assert "| gzip -9 * |" in md and "| small |" in md
    header = next(line for line in md.splitlines() if line.startswith("| predictor"))
    assert "gap to floor" not in header  # no file here has a known entropy floor
    assert "adj. ratio" in header and "frontier" in header


def test_csv_and_json_hold_every_column():
    df = leaderboard.frame(two_file_records())
    rows = json.loads(formats.render(df, "json"))
    assert len(rows) == len(df) and set(rows[0]) == set(leaderboard.COLUMNS)
    assert formats.render(df, "csv").splitlines()[0] == ",".join(leaderboard.COLUMNS)


def test_run_reuses_stored_results_unless_forced(tmp_path):
    store = tmp_path / "results.jsonl"
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "one.txt").write_bytes(b"abracadabra " * 200)
    (corpus / "two.txt").write_bytes(b"the quick brown fox " * 100)
    args = ("run", "-p", "order0", "-c", str(corpus), "--results", str(store))
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    lines = store.read_text().splitlines()
    runs = 2 * (1 + len(standard_baselines()))  # order0 and each baseline (6, or 8 with zpaq), two files
    assert "reused" not in first.stderr and len(lines) == runs

    with store.open("a") as torn:  # an interrupted writer leaves at most a torn last line
        torn.write('{"kind": "predictor", "spec": "ord')
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"{runs} of {runs} results reused" in again.stderr
    assert store.read_text().count("\n") == len(lines)  # nothing recomputed, nothing appended
    assert "order0" in again.stdout and "files" in again.stdout  # the group table is still shown

    forced = run_cli(*args, "--force", "--no-baselines")
    assert forced.returncode == 0 and "reused" not in forced.stderr
    board = json.loads(run_cli("leaderboard", "--results", str(store), "--format", "json").stdout)
    assert {(r["scope"], r["predictor"]) for r in board} >= {("group", "order0"), ("file", "order0")}


def test_leaderboard_writes_html_and_md_files(tmp_path):
    store = tmp_path / "results.jsonl"
    store.write_text(store_text(two_file_records()))
    page = tmp_path / "board.html"
    result = run_cli("leaderboard", "--results", str(store), "--format", "html", "-o", str(page))
    assert result.returncode == 0, result.stderr
    assert page.read_text().startswith("<!DOCTYPE html>") and "gzip -9 *" in page.read_text()
    table = run_cli("leaderboard", "--results", str(store), "--scope", "group")
    assert "g (2 files, 4,000 bytes)" in table.stdout and "g/a" not in table.stdout


def test_prefix_runs_get_tables_of_their_own():
    records = two_file_records() + [
        record("small", "g/a", 500, 300, params=10, max_bytes=500),
        record("small", "g/b", 500, 100, params=10, max_bytes=500),
    ]
    df = leaderboard.frame(records)
    prefix = df[df["corpus"] == "g[:500]"]
    assert list(prefix["predictor"]) == ["small"] and list(prefix["raw_bytes"]) == [1000]
    assert set(df.loc[df["scope"] == "file", "corpus"]) == {"g/a", "g/b", "g[:500]/a", "g[:500]/b"}
    full = df[(df["corpus"] == "g") & (df["predictor"] == "small")]
    assert list(full["raw_bytes"]) == [4000]  # the prefix rows do not leak into the full table


def test_prefix_runs_are_found_by_the_corpus_the_user_ran_and_by_the_name_their_tables_show():
    """`harness run -c g --max-bytes 500` then `harness leaderboard -c g --scope group` (once
    "no results"), or `-c 'g[:500]'` as the table is titled."""
    records = two_file_records() + [
        record("small", "g/a", 500, 300, params=10, max_bytes=500),
        record("small", "g/b", 500, 100, params=10, max_bytes=500),
    ]
    for wanted in (["g"], ["g[:500]"]):
        df = leaderboard.frame(records, wanted, scope="group")
        assert "g[:500]" in set(df["corpus"]), wanted
    only = leaderboard.frame(records, ["g[:500]"])
    assert set(only["corpus"]) == {"g[:500]", "g[:500]/a", "g[:500]/b"}
    assert set(leaderboard.frame(records, ["g[:500]/a"])["corpus"]) == {"g[:500]/a"}
    assert leaderboard.frame(records, ["g[:400]"]).empty


def test_publish_writes_markdown_charts_and_page(tmp_path):
    store = tmp_path / "results.jsonl"
    records = two_file_records() + [
        record("small", "g/a", 500, 300, params=10, max_bytes=500),
        record("small", "g/b", 500, 100, params=10, max_bytes=500),
    ]
    store.write_text(store_text(records))
    out = tmp_path / "published"
    result = run_cli("publish", "--results", str(store), "-o", str(out))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"README.md", "g.md", "g-500.md", "index.html", "results.jsonl"} <= names
    assert {f"g-{kind}.png" for kind in ("size", "compute", "time")} <= names
    readme = (out / "README.md").read_text()
    for label in ("**git commit**", "**CPU**", "**torch / numpy / numba**", "first N bytes"):
        assert label in readme
    headlines, _, rest = readme.partition("## All results")
    assert "### g (2 files, 4,000 bytes)" in headlines and "### g[:500] (2 files, 1,000 bytes)" in rest
    # "partial" ran on g/a only: it is complete on no group, so g/a gets a headline of its own
    assert "### g/a (1,000 bytes)" in headlines and "| partial |" in headlines
    assert "`harness run -c g/a -p partial -p big -p small`" in headlines
    assert "(g-size.png)" in rest and "### g/a" not in rest  # per-file tables live in g.md
    assert "## g/a (1,000 bytes)" in (out / "g.md").read_text()


LONG_SPEC = "gpt:width=256,lr=1e-3,memory_blocks=8,ngrams=6,buckets=65536"


def wide_records():
    """Every terminal column in use, a long spec, big numbers, and names that look like markup."""
    extra = {"entropy_bits": 1000.0, "peak_memory_bytes": 1846 * 2**20, "model_bytes": 100}
    return [
        record(LONG_SPEC, "[bold]g/a.txt", 768_771, 207_956, params=85_597_760, flops=14.2e6, **extra),
        record(LONG_SPEC, "[bold]g/[red]b.txt", 3000, 300, params=85_597_760, flops=14.2e6, **extra),
        record("x[/]", "[bold]g/a.txt", 768_771, 304_549, params=462_336, flops=3.51e6, **extra),
        record("x[/]", "[bold]g/[red]b.txt", 3000, 350, params=462_336, flops=3.51e6, **extra),
        record("ppmd -o6", "[bold]g/a.txt", 768_771, 209_900, kind="baseline"),
        record("ppmd -o6", "[bold]g/[red]b.txt", 3000, 310, kind="baseline"),
    ]


def rendered(df, width, terminal):
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    tables.print_tables(console, df)
    return console.file.getvalue()


def body_cells(output):
    """Stripped cells of every body row, each a list (first column: the predictor)."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("width", [80, 200])
def test_terminal_tables_fit_and_cut_no_cell(width):
    df = leaderboard.frame(wide_records())
    output = rendered(df, width, terminal=True)
    assert "…" not in output and max(map(len, output.splitlines())) <= width
    values, specs = set(), set()
    for _, rows in tables.section_rows(df):
        shown = tables.shown_columns(rows, tables.TERMINAL)
        for cells in tables.text_rows(rows, shown):
            specs.add(cells[0])
            values.update(cells[1:])
    rows = body_cells(output)
    for cells in rows:
        assert len(cells) >= tables.ESSENTIAL and all(not c or c in values for c in cells[1:]), cells
    assert LONG_SPEC in "".join(cells[0] for cells in rows)  # folded onto lines of its own, never cut
    assert {"x[/]", "ppmd -o6 *"} <= {cells[0] for cells in rows}
    assert "[bold]g (2 files," in output and "[bold]g/[red]b.txt (3,000 bytes)" in output  # text, not markup
    full = len(tables.shown_columns(next(tables.section_rows(df))[1], tables.TERMINAL))
    assert (len(rows[0]) == full) == (width == 200)  # 80 columns leave some out, 200 show every one


def test_output_that_is_no_terminal_gets_every_column_in_full():
    df = leaderboard.frame(wide_records())
    output = rendered(df, 80, terminal=False)
    assert output == tables.plain_text(df)
    assert "…" not in output and max(map(len, output.splitlines())) > 80
    assert "85,597,760" in output and "1,846" in output and LONG_SPEC in output  # params, peak MB, the name
    assert all(len(cells) == len(body_cells(output)[0]) for cells in body_cells(output)[:3])


def test_frontiers_per_table_and_group_sums_that_need_every_file():
    records = [
        record("a", "g/x", 1000, 400, params=10, flops=100, entropy_bits=800.0),
        record("b", "g/x", 1000, 300, params=20, flops=50, entropy_bits=800.0),
        record("a", "g/y", 1000, 200, params=10, flops=100),  # no known entropy here
        record("b", "g/y", 1000, 250, params=20),  # no FLOPs here
        record("c", "g/y", 1000, 250, params=20, flops=10),  # b at a tenth of the FLOPs
    ]
    df = leaderboard.frame(records).set_index(["corpus", "predictor"])
    assert df["frontier"].to_dict() == {
        ("g", "a"): "size, compute",  # 2.4 bits/byte at 10 params and 100 FLOPs/byte
        ("g", "b"): "size",  # 2.2 at 20 params; its FLOPs/byte are unknown on g/y
        ("g/x", "b"): "size, compute",
        ("g/x", "a"): "size",
        ("g/y", "a"): "size, compute",
        ("g/y", "b"): "",
        ("g/y", "c"): "compute",
    }
    assert df.loc[("g", "a"), "flops_per_byte"] == 100 and pd.isna(df.loc[("g", "b"), "flops_per_byte"])
    assert pd.isna(df.loc[("g", "a"), "gap_to_floor"]) and df.loc[("g/x", "a"), "gap_to_floor"] == pytest.approx(-3.2)
    assert df.loc[("g", "b"), "files"] == 2 and ("g", "c") not in df.index  # c ran on one file of two


def test_a_subset_is_a_group_of_its_own_complete_only_on_all_its_files():
    subsets = {"g-small": ("g/a",), "g-pair": ("g/a", "g/b")}
    records = [*two_file_records(), record("partial", "g/c", 500, 100, params=5, flops=5)]
    df = leaderboard.frame(records, subsets=subsets)
    groups = df[df["scope"] == "group"]
    pair = groups[groups["corpus"] == "g-pair"]
    assert set(pair["predictor"]) == {"small", "big", "gzip -9"}  # partial ran on g/a and g/c, not g/b
    assert list(pair.loc[pair["predictor"] == "big", "raw_bytes"]) == [4000]
    assert "g-small" not in set(groups["corpus"])  # a group of one file repeats the file's row
    only = leaderboard.frame(records, ["g-pair"], subsets=subsets)
    assert set(only["corpus"]) == {"g-pair", "g/a", "g/b"}  # the filter names the subset: its files, its row


def test_a_group_table_that_cannot_be_shown_yet_says_why(tmp_path, capsys):
    from harness import cli

    store = ["--results", str(tmp_path / "results.jsonl")]
    run = ["run", "-p", "order0", "-c", "python/topics", "--max-bytes", "2000", "--no-baselines"]
    assert cli.main([*run, *store]) == 0
    capsys.readouterr()
    assert cli.main(["leaderboard", "-c", "python", *store]) == 0
    out, err = capsys.readouterr()
    assert "python[:2000]/topics" in out and "python: the group table needs all 2 files; at most 1 run" in err


def test_a_terminal_table_names_an_hf_spec_by_its_model_and_a_log_keeps_it_whole():
    spec = "hf:./smollm2-135m-instruct,batch=64,gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf"
    df = leaderboard.frame([record(spec, "x", 1000, 200, params=10), record("xz -9e", "x", 1000, 300, kind="baseline")])
    console = Console(width=100, file=io.StringIO(), color_system=None)
    for table in tables.rich_tables(df, 100):
        console.print(table)
    shown = console.file.getvalue()
    assert "smollm2-135m-instruct" in shown and "(batch=64, Q4_1)" in shown and "gguf_file" not in shown
    assert "xz -9e *" in shown
    assert spec in tables.plain_text(df)


def test_a_long_job_is_announced_with_the_time_earlier_runs_here_took(tmp_path, capsys):
    """By the store's own runs of the same predictor (same batch and backend): a first hf run at
    batch=1 once projected to over an hour with no hint."""
    from harness import cli

    data = tmp_path / "in.txt"
    data.write_bytes(b"the cat sat on the mat. " * 500)  # 12,000 bytes
    store = tmp_path / "results.jsonl"
    slow = record("order0", "elsewhere/x.txt", 1000, 600, encode_seconds=30.0, decode_seconds=30.0)
    slow = slow.replace(settings={}, predictor_version=1)
    store.write_text(store_text([slow]))
    args = ["run", "-p", "order0", "-c", str(data), "--no-baselines", "--results", str(store)]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "expect about 12 min (17 B/s both ways, the median of 1 earlier runs" in err
    assert cli.main([*args, "--force", "-p", "ngram"]) == 0  # no run of ngram in the store: no forecast
    assert "ngram" not in "".join(line for line in capsys.readouterr().err.splitlines() if "expect about" in line)


def test_a_forecast_goes_by_earlier_runs_with_the_same_settings_first(tmp_path, capsys):
    """A hybrid (a mix whose hf member runs at batch 1) once read 8 minutes off the store's
    faster mixes, and took 95: runs with other settings count only where none has the same."""
    from harness import cli
    from harness.predictor import defaults
    from plugins.ngram import NGram

    data = tmp_path / "in.txt"
    data.write_bytes(b"the cat sat on the mat. " * 500)  # 12,000 bytes
    store = tmp_path / "results.jsonl"

    def stored_run(seconds: float, **options) -> Record:
        run = record("ngram", "elsewhere/x.txt", 1000, 600, encode_seconds=seconds, decode_seconds=seconds)
        return run.replace(settings={**defaults(NGram), **options}, predictor_version=NGram.version)

    args = ["run", "-p", "ngram:order=5", "-c", str(data), "--no-baselines", "--results", str(store)]
    store.write_text(store_text([stored_run(5.0), stored_run(5.0), stored_run(30.0, order=5, chunk=4096)]))
    assert cli.main(args) == 0
    assert (
        "expect about 12 min (17 B/s both ways, the median of 1 earlier runs in the store with the same settings)"
        in (capsys.readouterr().err)
    )
    store.write_text(store_text([stored_run(5.0)]))  # none alike: by batch and backend (ngram has neither)
    assert cli.main([*args, "--force"]) == 0
    assert "expect about 2 min (100 B/s both ways, the median of 1 earlier runs in the store with the same batch" in (
        capsys.readouterr().err
    )
