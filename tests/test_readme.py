"""Every `harness` command in the README runs as written, so the README cannot drift from the
tool: each line of its ```sh blocks, in order, in a fresh folder, through a shell as a user
would type it. Corpora come from ../shared (the test skips without it); runs and sweeps get a
--max-bytes where they have none, to stay small. The lines that need what no test machine has
(a Ray cluster, a model in the Hugging Face cache) are named in SKIPPED, with the reason."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HARNESS, SHARED

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {
    "--address ray://": "needs a Ray cluster at that address",
    "smollm2-135m:": "needs SmolLM2-135M in the Hugging Face cache (no hub here)",
}
SMALL = "5000"
"""--max-bytes given to a run or sweep that has none."""


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("harness")]


def as_run_here(line: str, store: Path, readme: Path) -> str:
    """The line with the README's placeholders filled in, and small runs."""
    line = line.replace("--from STORE", f"--from {shlex.quote(str(store))}")
    line = line.replace("--readme README.md", f"--readme {shlex.quote(str(readme))}")
    words = line.split()
    if len(words) > 1 and words[1] in ("run", "sweep") and "--max-bytes" not in words:
        line = line.replace(f"harness {words[1]}", f"harness {words[1]} --max-bytes {SMALL}", 1)
    if len(words) > 1 and words[1] == "sweep" and "--workers" not in words:
        line += " --workers 2"
    return line


def test_readme_has_commands_to_run():
    commands = readme_commands()
    assert len(commands) >= 15 and any(c.startswith("harness run") for c in commands)


def test_every_readme_command_runs_as_written(tmp_path):
    if not (SHARED / "corpora").is_dir():
        pytest.skip("../shared/corpora is absent")
    store = tmp_path / "store.jsonl"
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    (tmp_path / "notes.txt").write_text("Some notes of the user's own, to compress through a pipe.\n" * 20)
    env = {
        **os.environ,
        "PATH": f"{HARNESS.parent}{os.pathsep}{os.environ['PATH']}",
        "HARNESS_DATA_DIR": str(SHARED / "corpora"),
        "HARNESS_RESULTS": str(store),
        "COLUMNS": "120",
    }
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    ran = 0
    for line in readme_commands():
        if any(marker in line for marker in SKIPPED):
            continue
        command = as_run_here(line, store, readme)
        shell = ["bash", "-o", "pipefail", "-c", command]
        done = subprocess.run(shell, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{line}\n(ran as: {command})\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, line
        ran += 1
    assert ran >= len(readme_commands()) - len(SKIPPED)
    assert (tmp_path / "notes.out").read_bytes() == (tmp_path / "notes.txt").read_bytes()
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before  # nothing written into the checkout
