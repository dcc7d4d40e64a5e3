"""LMIC's chunked protocol fanned out: one multi-MB file coded as independent chunks, in jobs of
K chunks each, by one process (`harness sweep --executor inline`) and by a local Ray instance
(`--executor ray`).

    python benchmarks/chunked_fanout.py [--spec SPEC] [--chunk-bytes N] [--chunks-per-job K] [FILE]

FILE defaults to the 18 Calgary files of ../shared concatenated (3,251,493 bytes). Every job is
coded, decoded with a fresh predictor and compared by the harness itself; the file's record is the
jobs' records added up (`measure.combine`), as `harness sweep --chunk-bytes N` stores it. Prints,
per executor, the wall time, the jobs and whether each was verified, the record's bits/byte and
whether its compressed bytes and ideal bits are the jobs' sums; then whether the two executors'
records agree byte for byte (the figure must not depend on where the jobs ran). Model loading is
in the wall time (once per Ray worker, once in the inline process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import sweep
from harness.record import Record
from harness.registry import Registry, load_registry

_SHARED = Path(__file__).resolve().parents[2] / "shared"


def run(
    registry: Registry, jobs: list[sweep.Job], executor: str, chunks_per_job: int
) -> tuple[Record, list[Record], float]:
    """The file's record, its jobs' records and the wall time, on `executor`."""
    assembly = sweep.Assembly(registry, jobs, chunks_per_job)
    parts = [part for job in jobs for part in assembly.parts[job]]
    start, pieces, whole = time.perf_counter(), [], None
    for part, outcome in sweep.execute(parts, executor, registry=registry):
        if isinstance(outcome, sweep.JobFailure):
            raise SystemExit(f"{executor}: {outcome.error}")
        pieces.append(outcome)
        whole = assembly.add(part, outcome) or whole
    assert whole is not None
    return whole, pieces, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default=f"hf:{_SHARED / 'models' / 'stories260K'},batch=64")
    parser.add_argument("--chunk-bytes", type=int, default=2048)
    parser.add_argument("--chunks-per-job", type=int, default=64)
    parser.add_argument("--executors", default="inline,ray")
    parser.add_argument("file", nargs="?", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        registry = load_registry()
        file = args.file
        if file is None:  # the corpus's own files, each checked against its sha256 as it is read
            file = Path(scratch) / "calgary.cat"
            calgary = registry.corpus_files(["calgary"], str(_SHARED / "corpora"))
            file.write_bytes(b"".join(member.read() for member in calgary))
        grid = {"baselines": False, "max_bytes": None, "data_dir": None, "plugin_files": []}
        jobs = sweep.grid(registry, [args.spec], None, [str(file)], **grid, chunk_bytes=args.chunk_bytes)
        records = {}
        for executor in args.executors.split(","):
            whole, pieces, wall = run(registry, jobs, executor, args.chunks_per_job)
            records[executor] = whole
            adds_up = (
                whole.compressed_bytes == sum(p.compressed_bytes for p in pieces)
                and abs(whole.ideal_bits - sum(p.ideal_bits for p in pieces)) <= 1e-9 * whole.ideal_bits
            )
            print(
                f"{executor:>6}: {file.stat().st_size:,} bytes, {len(pieces)} jobs of {args.chunks_per_job} x "
                f"{args.chunk_bytes}-byte chunks, {sum(p.verified for p in pieces)} verified; "
                f"{whole.bits_per_byte:.4f} bits/byte, {whole.compressed_bytes:,} bytes "
                f"(the jobs' sum: {adds_up}); wall {wall:,.0f} s"
            )
        if len(records) > 1:
            sizes = {(r.compressed_bytes, r.ideal_bits) for r in records.values()}
            print(f"the executors' records agree: {len(sizes) == 1}")


if __name__ == "__main__":
    main()
