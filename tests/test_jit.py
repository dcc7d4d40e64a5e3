"""The numba cache: kernels compiled once are loaded by later runs, the cache stays out of the
source tree, and a cache that cannot be used never fails a run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
TEXT = b"It was the best of times, it was the worst of times, it was the age of wisdom.\n" * 40


def _cache_files(cache: Path) -> dict[str, int]:
    return {str(path): path.stat().st_size for path in cache.rglob("*") if path.is_file()}


def _in_source_tree() -> list[Path]:
    return [path for folder in ("harness", "plugins") for path in (ROOT / folder).rglob("*.nb[ic]")]


def test_a_bitwise_mix_loads_its_kernels_from_the_cache_on_the_second_run(tmp_path):
    """mix:cm+ngram once took its byte kernel with cm's functions as arguments, which numba
    cannot cache: every run compiled it again and added an entry, until the index broke."""
    from harness.jit import cache_folder

    source = tmp_path / "in.txt"
    source.write_bytes(TEXT)
    before_tree = _in_source_tree()
    cache = tmp_path / "numba"  # a copy of this user's: warm, and no other process writes there
    shutil.copytree(cache_folder(), cache) if Path(cache_folder()).is_dir() else cache.mkdir()

    def round_trip() -> None:
        spec = "mix:cm(memory_mib=1;history_mib=1)+ngram"
        for args in (["compress", source, "-p", spec, "-o", tmp_path / "in.hz"], ["decompress", tmp_path / "in.hz"]):
            done = run_cli(*map(str, args), "--force", env={"NUMBA_CACHE_DIR": str(cache)})
            assert done.returncode == 0, done.stderr
            assert "NumbaWarning" not in done.stderr and "note:" not in done.stderr

    round_trip()  # compiles whatever an earlier test has not
    cached = _cache_files(cache)
    round_trip()
    assert _cache_files(cache) == cached and cached
    assert (tmp_path / "in").read_bytes() == TEXT
    assert _in_source_tree() == before_tree  # nothing new written beside the code


KERNEL = """
from harness.jit import jit

@jit
def add_one(x):
    return x + 1

print(add_one(41))
"""


def _run_kernel(folder: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(folder / "kernel.py")],
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_cache_that_cannot_be_used_never_fails_a_run(tmp_path):
    (tmp_path / "kernel.py").write_text(KERNEL)
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("")
    done = _run_kernel(tmp_path, not_a_folder)
    assert done.returncode == 0 and done.stdout == "42\n", done.stderr
    assert done.stderr.count("numba cache") == 1 and "skipped" in done.stderr

    cache = tmp_path / "cache"
    assert _run_kernel(tmp_path, cache).stdout == "42\n"
    (index,) = cache.rglob("*.nbi")
    for damage in (b"garbage", b""):  # a damaged index, then an empty one
        index.write_bytes(damage)
        done = _run_kernel(tmp_path, cache)
        assert done.returncode == 0 and done.stdout == "42\n", done.stderr
        assert "Traceback" not in done.stderr


def test_compiling_is_timed_apart_from_coding(tmp_path):
    """A first run compiles its kernels: that once-per-install cost is the record's own field,
    not part of the encode speed (cm once showed 1.1k B/s encoding and 6.2k decoding the same
    file, the compile in the first)."""
    from harness import results

    source = tmp_path / "in.txt"
    source.write_bytes(TEXT)
    store = tmp_path / "results.jsonl"
    args = ["run", "-p", "order0", "-c", str(source), "--no-baselines", "--results", str(store), "--force"]
    for _ in range(2):  # an empty cache, then a warm one
        done = run_cli(*args, env={"NUMBA_CACHE_DIR": str(tmp_path / "numba")})
        assert done.returncode == 0, done.stderr
    cold, warm = results.read(store)
    assert cold.compile_seconds > max(2.0, 3 * warm.compile_seconds)
    assert cold.encode_seconds < 1.0 and cold.decode_seconds < 1.0  # 3 KB of order0: no compile in them


def test_the_cache_is_kept_apart_for_each_version_of_the_source(tmp_path, monkeypatch):
    """numba checks a cached kernel against its own file only: cm's code_byte inlines
    harness.bitmix, so a change there ran the old code until the cache folder followed the
    source of every module."""
    from harness import jit

    tree = tmp_path / "harness"
    shutil.copytree(ROOT / "harness", tree)
    before = jit.tree_digest([tree])
    (tree / "bitmix.py").write_text((tree / "bitmix.py").read_text() + "\n# changed\n")
    assert jit.tree_digest([tree]) != before
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert jit.cache_folder().endswith(jit.source_digest())
