"""The `python` corpus: text that ships with every Python install, so it works offline.

The bytes depend on the Python version; meta records the version and the sha256 so that
results are only compared on identical inputs.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import pydoc_data.topics
import sysconfig
from pathlib import Path

from harness.corpus import Corpus, CorpusFile

# Varied, self-contained modules: prose docstrings, algorithms, tables. About 320 KB.
STDLIB_FILES = (
    "bisect.py",
    "colorsys.py",
    "csv.py",
    "difflib.py",
    "fnmatch.py",
    "fractions.py",
    "functools.py",
    "graphlib.py",
    "heapq.py",
    "json/decoder.py",
    "json/encoder.py",
    "queue.py",
    "random.py",
    "shlex.py",
    "string.py",
    "textwrap.py",
)


def topics() -> bytes:
    """The prose of the interactive help topics, in sorted key order, one blank line apart."""
    texts = pydoc_data.topics.topics
    return "\n".join(texts[key] for key in sorted(texts)).encode()


def stdlib() -> bytes:
    """STDLIB_FILES, each after a line naming it."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return b"".join(f"# ==== {name} ====\n".encode() + (root / name).read_bytes() for name in STDLIB_FILES)


def _file(name: str, data: bytes, source: str) -> CorpusFile:
    meta = {
        "python": platform.python_version(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "source": source,
    }
    return CorpusFile(f"python/{name}", lambda: data, meta=meta)


@functools.cache
def _files() -> list[CorpusFile]:
    return [
        _file("topics", topics(), "pydoc_data.topics.topics, values in sorted key order"),
        _file("stdlib", stdlib(), "stdlib sources: " + ", ".join(STDLIB_FILES)),
    ]


def corpus() -> Corpus:
    return Corpus(
        "python",
        "English prose and Python source from this Python install (offline, version-dependent)",
        lambda: list(_files()),
    )
