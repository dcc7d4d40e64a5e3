"""The example plugin package, installed into a fresh venv next to the harness, used through the CLI.

The venv borrows the heavy dependencies (torch, numba, ...) from the development venv through a
.pth file, so only the harness and the example are installed: a few seconds, no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness import results

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harness-bigram"
HARNESS_SOURCES = ["harness", "plugins", "corpora", "pyproject.toml", "README.md"]

BROKEN_METADATA = "Metadata-Version: 2.1\nName: harness-broken\nVersion: 0.1\n"
BROKEN_MODULE = 'raise ImportError("this plugin is broken on purpose")\n'


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250", "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the harness and the example plugin installed, and a broken plugin."""
    base = tmp_path_factory.mktemp("venv")
    env = base / "env"
    created = run(sys.executable, "-m", "venv", "--without-pip", env)
    assert created.returncode == 0, created.stderr
    python = env / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # A copy of the sources, so that building the harness leaves nothing in the checkout.
    source = base / "harness-src"
    for name in HARNESS_SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    installed = run(
        python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", source, EXAMPLE
    )
    assert installed.returncode == 0, installed.stderr
    # A plugin whose module fails to import, installed the way pip installs one.
    (site / "harness_broken.py").write_text(BROKEN_MODULE)
    (site / "harness_broken-0.1.dist-info").mkdir()
    (site / "harness_broken-0.1.dist-info" / "METADATA").write_text(BROKEN_METADATA)
    (site / "harness_broken-0.1.dist-info" / "entry_points.txt").write_text("[harness]\nbroken = harness_broken\n")
    return env


def test_installed_plugin_is_listed_and_broken_one_is_reported(venv):
    listed = run(venv / "bin" / "harness", "list", "predictors")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if line.count("│") >= 3}
    assert "bigram" in rows and "order0" in rows and "example plugin" in rows["bigram"]
    failed = listed.stdout[listed.stdout.index("failed plugins (1)") :]
    assert "'broken' (harness_broken) failed to load" in failed and "broken on purpose" in failed


def test_run_measures_the_installed_plugin_through_the_cli(venv, tmp_path):
    corpus = tmp_path / "text.txt"
    corpus.write_bytes((EXAMPLE / "harness_bigram" / "__init__.py").read_bytes() * 3)
    store = tmp_path / "results.jsonl"
    result = run(
        venv / "bin" / "harness", "run", "--predictor", "bigram", "-c", corpus, "--no-baselines", "--results", store
    )
    assert result.returncode == 0, result.stderr
    assert "warning: plugin 'broken'" in result.stderr  # the others keep working
    (record,) = results.read(store)
    assert record.spec == "bigram" and record.verified is True
    assert record.bits_per_byte < 6  # it learned something: a uniform model needs 8


def test_example_tests_pass_with_the_conformance_fixture(venv):
    pytest_ = (venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    result = run(*pytest_, EXAMPLE / "tests", cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
