"""How reading the results store, the leaderboard and the reuse check scale with the store.

    python benchmarks/store_scale.py [--records 1000,10000,50000] [--files 2000]

For N synthetic valid records (seven specs per file, as `harness run` over a folder leaves
them, in groups of 100 files, with three predictor versions and prefix runs, so that every code
path is used) it prints the time `results.read` takes to parse and check them from a file and
the time `leaderboard.frame` takes to make the table; then the time `sweep.stored_results`
takes to find the stored results of `harness run`'s default grid (order0, ngram and the
baselines) over a folder of tiny files, all of them stored.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
from harness import corpus, leaderboard, results, sweep
from harness.predictor import definition
from harness.record import Record
from harness.registry import load_registry

SPECS = ("ngram", "ngram:order=3", "order0", "gpt:width=64", "lstm", "gzip -9", "xz -9")


def synthetic(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` records that `results.read` keeps: every spec on file after file, 100 files a group."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        spec, file = SPECS[i % len(SPECS)], i // len(SPECS)
        baseline = " " in spec
        raw = rnd.randint(1_000, 1_000_000)
        compressed = rnd.randint(100, raw)
        record = {
            "kind": "baseline" if baseline else "predictor",
            "predictor": spec.partition(":")[0],
            "spec": spec,
            "corpus": f"g{file // 100}/f{file % 100}.txt",
            "corpus_sha256": f"{file}",
            "raw_bytes": raw,
            "compressed_bytes": compressed,
            "bits_per_byte": 8 * compressed / raw,
            "ratio": raw / compressed,
            "adjusted_ratio": raw / compressed,
            "params": None if baseline else rnd.randint(10, 1_000_000),
            "model_bytes": 0,
            "flops_per_byte": None if baseline else rnd.random() * 1e6,
            "encode_seconds": rnd.random(),
            "decode_seconds": rnd.random(),
            "peak_memory_bytes": 2**20,
            "verified": True,
            "max_bytes": 20_000 if file % 10 == 0 else None,
            "timestamp": f"2026-01-{1 + i % 28:02d}T00:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
            "harness_version": harness.__version__,
        }
        if not baseline:
            record.update(predictor_version=rnd.choice([1, 2, 3]), settings={})
        out.append(record)
    return out


def stored(registry: Any, jobs: list[sweep.Job]) -> list[Record]:
    """A stored, verified record for every job, as `harness run` would have appended it."""
    records = []
    for job in jobs:
        (file,) = registry.corpus_files([job.corpus])
        record = {"spec": job.spec, "corpus": job.corpus, "corpus_sha256": corpus.prefix_sha256(file, None)}
        if job.baseline:
            record.update(
                kind="baseline", predictor=job.spec, baseline_version=registry.baselines[job.spec].item.version
            )
        else:
            cls, settings, _ = registry.predictor(job.spec)
            record.update(kind="predictor", predictor=cls.name, predictor_version=cls.version, settings=settings)
            assert sweep.meaning(registry, job.spec) == definition(cls.name, cls.version, settings)
        size = {"raw_bytes": 20, "compressed_bytes": 10, "bits_per_byte": 4.0, "timestamp": "2026-01-01T00:00:00+00:00"}
        records.append(Record(**record, **size, verified=True, harness_version=harness.__version__))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="1000,10000", help="store sizes for frame(), comma-separated")
    parser.add_argument("--files", type=int, default=2000, help="tiny files for stored_results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder, "results.jsonl")
        for n in (int(v) for v in args.records.split(",")):
            store.write_text("".join(json.dumps(r) + "\n" for r in synthetic(n)))
            start = time.perf_counter()
            records = results.read(store)
            read = time.perf_counter() - start
            start = time.perf_counter()
            rows = len(leaderboard.frame(records))
            print(f"{n:,} records: read in {read:.3f} s, frame ({rows:,} rows) in {time.perf_counter() - start:.3f} s")

    registry = load_registry()
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.files):
            Path(folder, f"{i:05d}.txt").write_text(f"tiny file {i}\n")
        jobs = sweep.grid(
            registry,
            ["order0", "ngram"],
            None,
            [folder],
            baselines=True,
            max_bytes=None,
            data_dir=None,
            plugin_files=[],
        )
        records = stored(registry, jobs)
        start = time.perf_counter()
        found = sweep.stored_results(registry, jobs, records)
        seconds = time.perf_counter() - start
        assert all(r is not None for r in found), "every job should have been found in the store"
        print(f"stored_results: {len(jobs):,} jobs over {args.files:,} files, all stored, in {seconds:.3f} s")


if __name__ == "__main__":
    main()
