"""`harness publish`: selected records, headline tables, regeneration, and what it runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import cli, leaderboard, plots, publish, results
from harness.errors import HarnessError
from tests.test_leaderboard import record, store_text, two_file_records


def test_publish_into_a_git_repository_runs_none_of_its_config(tmp_path):
    """The output folder may be someone else's repository: its `core.fsmonitor` must not run."""
    marker = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "fsmonitor"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    hook.chmod(0o755)
    out = tmp_path / "published"
    git = ["git", "-C", str(out), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", str(out)], check=True)
    (out / "README.md").write_text("old\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "old"], check=True)
    subprocess.run([*git, "config", "core.fsmonitor", str(hook)], check=True)
    store = tmp_path / "results.jsonl"
    store.write_text(store_text(two_file_records()))

    assert cli.main(["publish", "--results", str(store), "-o", str(out)]) == 0
    assert (out / "README.md").read_text() != "old\n"
    assert not marker.exists()
    subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True)
    assert marker.exists()  # the trap is live: git itself runs it in that folder


def test_publish_regenerates_itself_byte_for_byte_from_the_records_it_publishes(tmp_path):
    """`results/results.jsonl` is an output of publish: publishing from it gives the same folder."""
    old = record("small", "g/a", 1000, 900, params=10, predictor_version=1)  # an older model under the same spec
    records = [old, *(r.replace(predictor_version=2) if r.kind == "predictor" else r for r in two_file_records())]
    records[1] = records[1].replace(curve="curves/x.npz", symbols=1000, payload_bytes=480)
    store = tmp_path / "store.jsonl"
    store.write_text(store_text(records))
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli.main(["publish", "--from", str(store), "-o", str(first)]) == 0
    assert cli.main(["publish", "--from", str(first / "results.jsonl"), "-o", str(second)]) == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    published = results.read(first / "results.jsonl")
    assert len(published) == len(records) - 1  # the older version's result is not published
    assert all(r.predictor_version in (None, 2) and r.curve is None for r in published)


def test_publish_leaves_out_a_mix_measured_with_an_older_member(tmp_path):
    records = [
        record("mix:ngram+cm", "g/a", 1000, 300, predictor_version=2, member_versions={"ngram": 3, "cm": 8}),
        record("cm", "g/a", 1000, 400, predictor_version=9, timestamp="2026-01-02T00:00:00+00:00"),
    ]
    assert [r.spec for r in publish.selected(records)] == ["cm"]
    newer = records[0].replace(member_versions={"ngram": 3, "cm": 9}, compressed_bytes=280)
    assert [(r.spec, r.compressed_bytes) for r in publish.selected([*records, newer])] == [
        ("cm", 400),
        ("mix:ngram+cm", 280),
    ]


def test_a_mix_left_out_for_an_older_member_does_not_bring_back_its_result_from_before_member_versions():
    unversioned = record("mix:ngram+cm", "g/a", 1000, 300, predictor_version=2)  # stored no member versions
    versioned = unversioned.replace(member_versions={"ngram": 3, "cm": 8}, timestamp="2026-01-02T00:00:00+00:00")
    cm = record("cm", "g/a", 1000, 400, predictor_version=9, timestamp="2026-01-03T00:00:00+00:00")
    assert [r.spec for r in publish.selected([unversioned, versioned, cm])] == ["cm"]
    assert [r.spec for r in publish.selected([unversioned, cm])] == ["cm", "mix:ngram+cm"]  # nothing says it is old


def test_headline_tables_show_each_family_at_its_best_on_complete_subset_groups():
    files = ("c/x", "c/y", "c/z")
    subsets = {"c-small": ("c/x", "c/y")}
    records = [
        record(spec, f, 1000, size, params=1) for spec, size in (("gpt", 400), ("gpt:width=8", 300)) for f in files
    ]
    records += [record("hf:/m,batch=4", f, 1000, 200, params=1) for f in files[:2]]  # too slow for c/z
    records += [record("gzip -9", f, 1000, 500, kind="baseline") for f in files]
    tables = dict(publish.headlines(leaderboard.frame(records, subsets=subsets), subsets))
    assert list(tables) == ["c", "c-small"]  # c/z's families are all complete on c: no file headline
    assert list(tables["c"]["predictor"]) == ["gpt:width=8", "gzip -9"]  # one row per family, its best
    assert list(tables["c-small"]["predictor"]) == ["hf:/m,batch=4", "gpt:width=8", "gzip -9"]
    assert "harness run -c c-small -p hf:/m,batch=4 -p gpt:width=8" in publish.headline_markdown(
        "c-small", tables["c-small"]
    )


def test_a_publish_from_a_modified_checkout_says_so():
    pages = publish.files(two_file_records(), [], {}, publisher="abc1234+dirty")
    assert b"abc1234+dirty: a harness checkout with uncommitted changes" in pages["README.md"]
    assert b"uncommitted" not in publish.files(two_file_records(), [], {}, publisher="abc1234")["README.md"]


def test_the_readme_table_is_what_publish_writes_from_the_published_records(registry):
    """The project README's headline table is generated (`harness publish --readme README.md`)."""
    root = Path(__file__).resolve().parents[1]
    published = results.read(root / "results" / "results.jsonl")
    text = (root / "README.md").read_text()
    table = publish.readme_table(published, registry.subsets())
    assert table and publish.with_readme_table(text, table) == text
    with pytest.raises(HarnessError, match="no <!-- leaderboard"):
        publish.with_readme_table("# no markers\n", table)


def test_the_readme_table_of_a_filtered_publish_comes_from_the_records_it_publishes(tmp_path):
    """`publish -c g --readme README.md`: the table is one of g's headlines, as results.jsonl holds only g."""
    others = [record(spec, f"h/{name}", 1000, 300, params=1) for spec in "vwxyz" for name in ("a", "b")]
    records = [*two_file_records(), *others]
    assert "### h (2 files" in publish.readme_table(records, {})  # unfiltered: h has the most families
    store = tmp_path / "results.jsonl"
    store.write_bytes(publish.files(records, ["g"], {})["results.jsonl"])
    table = publish.readme_table(records, {}, ["g"])
    assert table.startswith("### g") and table == publish.readme_table(results.read(store), {})


def test_published_records_and_tables_name_a_local_model_without_the_measuring_machines_path(tmp_path):
    """A store's hf record holds the folder it ran from; what is published names the model as a
    `.hz` header does (`hf:./NAME`), and publishing the published records again changes nothing."""
    folder = tmp_path / "somewhere" / "on-this-machine" / "tiny-model"
    spec = f"hf:{folder},batch=4"
    settings = {"model": str(folder), "batch": 4}
    records = [
        r.replace(settings=settings, predictor_version=1) if r.kind == "predictor" else r
        for r in [record(spec, f"g/{name}", 1000, 300, params=1) for name in ("a", "b")]
    ]
    records += [r for r in two_file_records() if r.kind == "baseline"]
    store = tmp_path / "store.jsonl"
    store.write_text(store_text(records))
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli.main(["publish", "--from", str(store), "-o", str(first)]) == 0
    assert cli.main(["publish", "--from", str(first / "results.jsonl"), "-o", str(second)]) == 0
    pages = {p.name: p.read_bytes() for p in first.iterdir()}
    assert all(b"on-this-machine" not in data for data in pages.values())
    assert b"hf:./tiny-model,batch=4" in pages["g.md"]
    hf = [r for r in results.read(first / "results.jsonl") if r.kind == "predictor"]
    assert {r.spec for r in hf} == {"hf:./tiny-model,batch=4"} and hf[0].settings["model"] == "./tiny-model"
    assert pages == {p.name: p.read_bytes() for p in second.iterdir()}


def test_publishing_into_the_folder_of_its_store_refuses_to_lose_any_of_its_lines(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    store = folder / "results.jsonl"
    store.write_text(store_text([*two_file_records(), record("other", "h/a", 1000, 100)]))
    before = store.read_bytes()
    assert cli.main(["publish", "--from", str(store), "-o", str(folder), "-c", "g"]) == 2
    error = capsys.readouterr().err
    assert "losing 1 of its lines" in error and error.count("\n") == 1
    assert store.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["results.jsonl"]
    assert cli.main(["publish", "--from", str(store), "-o", str(folder)]) == 0  # shows every line: kept
    assert cli.main(["publish", "--from", str(store), "-o", str(folder)]) == 0  # now its own output
    assert len(results.read(store)) == len(results.read(tmp_path / "results" / "results.jsonl")) == 8


def test_a_readme_that_is_no_regular_file_is_refused_before_any_work(tmp_path, capsys):
    store = tmp_path / "store.jsonl"
    store.write_text(store_text(two_file_records()))
    fifo = tmp_path / "README.md"
    os.mkfifo(fifo)
    for readme in (fifo, Path("/dev/zero"), tmp_path):
        assert cli.main(["publish", "--from", str(store), "-o", str(tmp_path / "out"), "--readme", str(readme)]) == 2
        assert "not a regular file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_corpus_pages_never_share_a_name_nor_take_publishs_own():
    sizes = {"a b": 100, "a-b": 700, "README": 300}
    records = [record("small", f"{group}/{f}", 1000, size) for group, size in sizes.items() for f in "xy"]
    pages = publish.files(records, [], {})
    assert pages["README.md"].startswith(b"# Published results")
    names = {section["corpus"].iloc[0]: name for name, _, section in plots.chart_sections(leaderboard.frame(records))}
    assert len(set(names.values())) == 3 and names["a-b"] == "a-b" and names["README"].startswith("README-")
    assert sorted(name for name in pages if name.endswith(".md")) == sorted(
        ["README.md", *(f"{n}.md" for n in names.values())]
    )
    assert {f"{n}-size.png" for n in names.values()} <= set(pages)
    for group, size in sizes.items():
        page = pages[names[group] + ".md"].decode()
        assert page.startswith(f"# {group}\n")
        assert [f"{8 * s / 1000:.3f}" in page for s in sizes.values()] == [s == size for s in sizes.values()]


def test_names_from_a_store_are_literal_text_in_the_published_markdown():
    evil = "x|y <img src=x> `code` [a](javascript:x) <!-- /leaderboard -->"
    records = [record(evil, f"g/{f}", 1000, 500) for f in "ab"] + [record("small", f"g/{f}", 1000, 400) for f in "ab"]
    readme = publish.files(records, [], {})["README.md"].decode()
    row = next(line for line in readme.splitlines() if line.startswith("| x"))
    assert row.startswith("| x\\|y \\<img src=x\\> \\`code\\` [a]\\(javascript:x) \\<!-- /leaderboard --\\> |")
    outside_code = [line for line in readme.splitlines() if not line.startswith("Measured with ``")]
    assert not any("<img" in line.replace("\\<img", "") for line in outside_code)
    markers = publish.README_MARKERS
    with pytest.raises(HarnessError, match="its own markers"):  # the command, in a code span, holds one
        publish.with_readme_table(f"{markers[0]}\n{markers[1]}\n", publish.readme_table(records, {}))


def test_publish_with_no_verified_predictor_row_still_publishes_the_rest(tmp_path):
    records = [record("small", f"g/{f}", 1000, 500, verified=False) for f in "ab"]
    records += [record("gzip -9", f"g/{f}", 1000, 450, kind="baseline") for f in "ab"]
    pages = publish.files(records, [], {})
    assert b"gzip -9" in pages["README.md"]


def test_a_publish_removes_only_the_pages_it_wrote_and_no_longer_writes(tmp_path, capsys):
    """A corpus gone from the store takes its pages and charts with it; the folder's other files
    (a hand-written note) stay."""
    store, out = tmp_path / "store.jsonl", tmp_path / "published"
    both = two_file_records() + [record("small", "h/a", 1000, 500, params=10), record("small", "h/b", 900, 400)]
    store.write_text(store_text(both))
    assert cli.main(["publish", "--from", str(store), "-o", str(out)]) == 0
    assert (out / "h.md").exists() and (out / "h-size.png").exists()
    (out / "notes.md").write_text("mine\n")
    store.write_text(store_text(two_file_records()))
    assert cli.main(["publish", "--from", str(store), "-o", str(out)]) == 0
    assert not (out / "h.md").exists() and not list(out.glob("h-*.png"))
    assert (out / "g.md").exists() and (out / "notes.md").read_text() == "mine\n"
    capsys.readouterr()


def test_with_registered_corpora_in_the_store_a_local_file_is_published_only_when_named(tmp_path, capsys):
    store, out = tmp_path / "store.jsonl", tmp_path / "published"
    standard = [record("small", "python/topics", 1000, 500), record("small", "python/stdlib", 900, 400)]
    store.write_text(store_text([*standard, record("small", "/tmp/throwaway.txt", 3, 3)]))
    assert cli.main(["publish", "--from", str(store), "-o", str(out)]) == 0
    assert "left out 1 files of no registered corpus" in capsys.readouterr().err
    assert {r.corpus for r in results.read(out / "results.jsonl")} == {"python/topics", "python/stdlib"}
    assert cli.main(["publish", "--from", str(store), "-o", str(out), "-c", "/tmp/throwaway.txt"]) == 0
    assert {r.corpus for r in results.read(out / "results.jsonl")} == {"/tmp/throwaway.txt"}


def test_a_headline_keeps_one_row_per_model_and_members_not_per_option():
    assert publish.family("hf:./m,batch=4") == publish.family("hf:./m") == "hf:./m"
    hybrids = ["mix:hf(./m;window=shift;bias_lr=0.2)+cm", "mix:hf(./m;window=shift)+cm", "mix:hf(./m)+cm"]
    assert {publish.family(spec) for spec in hybrids} == {"mix:hf(./m)+cm"}
    assert publish.family("mix:gpt(width=128;lr=1e-3)+ngram(order=5)") == "mix:gpt+ngram"
    assert publish.family("mix:hf(./m)+cm") != publish.family("mix:hf(./other)+cm")
