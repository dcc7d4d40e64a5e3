"""Where the harness keeps files of its own between runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Downloads and compiled kernels: $HARNESS_CACHE_DIR, else ~/.cache/harness."""
    value = os.environ.get("HARNESS_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "harness"
