"""The results store: one JSON line per (predictor, corpus file) measurement.

Appending whole lines (then fsync) means an interrupted run can at worst leave a torn last
line, which `read` skips: the store is never corrupted for the lines before it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

import harness

DEFAULT_STORE = Path("results") / "results.jsonl"


def store_path(explicit: str | None = None) -> Path:
    """--results option, else HARNESS_RESULTS, else results/results.jsonl."""
    return Path(explicit or os.environ.get("HARNESS_RESULTS") or DEFAULT_STORE)


def append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    with open(path, "a+b") as store:  # "a": every write goes to the end, whatever was read
        size = store.seek(0, os.SEEK_END)
        if size:
            store.seek(size - 1)
            if store.read(1) != b"\n":
                line = b"\n" + line  # a killed run left a torn line: end it, don't glue onto it
        store.write(line)
        store.flush()
        os.fsync(store.fileno())


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete record in the store; torn or foreign lines are skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """What a result depends on besides the predictor and the data."""
    return {
        "harness_version": harness.__version__,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
