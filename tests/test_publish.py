"""`harness publish`: what it runs to name the git commit."""

from __future__ import annotations

import json
import subprocess

from harness import cli
from tests.test_leaderboard import two_file_records


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
    store.write_text("".join(json.dumps(r) + "\n" for r in two_file_records()))

    assert cli.main(["publish", "--results", str(store), "-o", str(out)]) == 0
    assert (out / "README.md").read_text() != "old\n"
    assert not marker.exists()
    subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True)
    assert marker.exists()  # the trap is live: git itself runs it in that folder
