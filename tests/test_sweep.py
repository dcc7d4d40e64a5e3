"""Sweeps: a grid of jobs on a local process pool or on Ray, landing in the same store."""

import pytest

from harness import results, sweep
from harness.errors import HarnessError
from tests.conftest import run_cli

# A predictor with a size knob, loaded from a file in every worker: add-k order-0 counts.
TOY_PLUGIN = """
import numpy as np
from harness.hookspecs import hookimpl
from harness.predictor import Predictor

class Toy(Predictor):
    name = "toy"
    description = "order-0 counts with add-1/width smoothing"
    options = {"width": 1}

    def __init__(self, width=1):
        super().__init__(width=width)
        self.counts = np.full(256, 1.0 / width)
        self.params = 256 * width
        self.flops_per_symbol = 256.0 * width

    def predict(self):
        return self.counts / self.counts.sum()

    def update(self, symbol):
        self.counts[symbol] += 1

@hookimpl
def harness_predictors():
    return [Toy]
"""


@pytest.fixture
def grid_inputs(tmp_path):
    plugin = tmp_path / "toy_plugin.py"
    plugin.write_text(TOY_PLUGIN)
    corpus = tmp_path / "texts"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(b"aaaaabbbc " * 60)
    (corpus / "b.txt").write_bytes(bytes(range(256)) * 2)
    return plugin, corpus, tmp_path / "results.jsonl"


def test_sizes_and_specs():
    assert sweep.sizes("order=1, 2,4") == ["order=1", "order=2", "order=4"]
    assert sweep.sizes(None) == [None]
    with pytest.raises(HarnessError, match="KEY=V1,V2"):
        sweep.sizes("order")
    assert sweep.with_size("ngram", "order=3") == "ngram:order=3"
    assert sweep.with_size("ngram:limit=9", "order=3") == "ngram:limit=9,order=3"


def sweep_cli(plugin, corpus, store, *extra):
    return run_cli(
        "sweep",
        "--plugin",
        str(plugin),
        "-p",
        "toy",
        "--sizes",
        "width=2,4,16",
        "-c",
        str(corpus),
        "--no-baselines",
        "--results",
        str(store),
        *extra,
    )


def check_store(store):
    records = results.read(store)
    assert sorted((r.spec, r.corpus.rpartition("/")[2]) for r in records) == sorted(
        (f"toy:width={w}", name) for w in (2, 4, 16) for name in ("a.txt", "b.txt")
    )
    assert all(r.verified for r in records)
    assert all(r.curve and (store.parent / r.curve).is_file() for r in records)  # sweeps store curves too
    params = {r.spec: r.params for r in records}
    assert params == {"toy:width=2": 512, "toy:width=4": 1024, "toy:width=16": 4096}
    return records


def test_local_sweep_runs_the_grid_then_reuses_it(grid_inputs):
    plugin, corpus, store = grid_inputs
    result = sweep_cli(plugin, corpus, store, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "6 jobs: 0 already in" in result.stderr
    finished = sorted(line.split("]")[0] for line in result.stderr.splitlines() if line.startswith("["))
    assert finished == [f"[{n}/6" for n in range(1, 7)]  # in the order the pool finished them
    check_store(store)
    again = sweep_cli(plugin, corpus, store)
    assert again.returncode == 0 and "nothing new: 6 of 6 results reused" in again.stderr
    assert len(store.read_text().splitlines()) == 6


@pytest.mark.parametrize(
    "change",
    [
        ('options = {"width": 1}', 'options = {"width": 1, "smooth": 0.5}'),
        ('name = "toy"', 'name = "toy"; version = 2'),
    ],
    ids=["a new default", "a new version"],
)
def test_a_changed_predictor_definition_is_not_reused(grid_inputs, change):
    """The same spec under a new default option or a new predictor version means other bits."""
    plugin, corpus, store = grid_inputs
    inline = ("--executor", "inline")  # reuse is decided before any executor runs: no pool to start
    assert sweep_cli(plugin, corpus, store, *inline).returncode == 0
    plugin.write_text(
        TOY_PLUGIN.replace(*change).replace("def __init__(self, width=1)", "def __init__(self, width=1, **_)")
    )
    again = sweep_cli(plugin, corpus, store, *inline)
    assert again.returncode == 0, again.stderr
    assert "6 results appended" in again.stderr and "reused" not in again.stderr
    assert len(store.read_text().splitlines()) == 12


def test_a_local_worker_names_the_checkout_as_it_starts(grid_inputs, tmp_path):
    """A worker asks for the commit before its first job, not when the job's record comes: a
    commit landing during a run of hours would otherwise name code the run never imported."""
    plugin, corpus, store = grid_inputs
    probe = tmp_path / "asked.txt"
    asked = "from harness import provenance\n" + TOY_PLUGIN.replace(
        "        super().__init__(width=width)\n",
        "        super().__init__(width=width)\n"
        "        with open(PROBE, 'a') as f:\n"
        "            f.write(str(provenance.git_commit.cache_info().currsize))\n",
    ).replace("class Toy", f"PROBE = {str(probe)!r}\n\nclass Toy")
    plugin.write_text(asked)
    result = sweep_cli(plugin, corpus, store, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert set(probe.read_text()) == {"1"}  # every predictor built after its worker asked


def test_a_mix_whose_member_has_a_new_version_is_not_reused(grid_inputs):
    """The mix's own version and options are unchanged, but its member now codes other bits."""
    plugin, corpus, store = grid_inputs
    mix = ("run", "--plugin", str(plugin), "-p", "mix:toy+order0", "-c", str(corpus), "--no-baselines")

    def run_mix():
        result = run_cli(*mix, "--results", str(store))
        assert result.returncode == 0, result.stderr
        return result.stderr

    assert "2 results appended" in run_mix()
    assert "nothing new" in run_mix()  # the same members: reused
    plugin.write_text(TOY_PLUGIN.replace('name = "toy"', 'name = "toy"; version = 2'))
    assert "2 results appended" in run_mix()
    versions = [r.member_versions["toy"] for r in results.read(store)]
    assert versions == [1, 1, 2, 2] and all(r.member_versions["order0"] >= 1 for r in results.read(store))


@pytest.mark.slow  # starts a local Ray instance: a minute here
def test_ray_sweep_on_a_local_ray_instance(grid_inputs):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'compression-harness[ray]')")
    plugin, corpus, store = grid_inputs
    result = sweep_cli(plugin, corpus, store, "--executor", "ray")
    assert result.returncode == 0, result.stderr
    assert "6 to run (ray)" in result.stderr
    check_store(store)


def test_inline_sweep_is_the_run_pipeline_in_this_process(grid_inputs):
    plugin, corpus, store = grid_inputs
    result = sweep_cli(plugin, corpus, store, "--executor", "inline")
    assert result.returncode == 0, result.stderr
    check_store(store)
