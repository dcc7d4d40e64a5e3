"""Provenance: what a result depends on besides the predictor and the data (the harness's
version and commit, Python and the numeric libraries, the machine), recorded with every result
and printed on every published page."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import harness


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_SOURCE = Path(__file__).resolve().parent
"""The harness package's folder: its checkout is the code that measures."""


@functools.cache
def git_commit() -> str:
    """Short commit of the harness's own checkout, '+dirty' with uncommitted changes to tracked
    files outside results/ (what publishing writes); 'unknown' outside git.

    Never another folder's: that may be anyone's repository, whose config can name commands for
    git to run (core.fsmonitor on `status`). Those are switched off here all the same, and GIT_*
    variables are dropped so that none points git at another repository or adds config.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    safe = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *safe, *args], cwd=_SOURCE, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ":/", ":(exclude,top)results")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if changed else "")


def environment() -> dict[str, Any]:
    """What a result depends on besides the predictor and the data."""
    return {
        "harness_version": harness.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
