"""Peak memory of compressing large files: `harness compress` and the streaming baselines.

Each measurement runs in its own process (peak RSS from wait4), on generated text-like files of
the given sizes, so the figures show whether memory grows with the input:

    .venv/bin/python benchmarks/memory_compress.py --sizes 200 1000 --baselines "gzip -9" "bzip2 -9"
    .venv/bin/python benchmarks/memory_compress.py --sizes 2 8 --predictors order0 --baselines
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 1 << 20
HARNESS = Path(sys.executable).parent / "harness"
WORDS = np.array(
    [w.encode() for w in "the of and to in is was for that with as on by he it at from his an were are".split()]
    + [b"\n", b"compression", b"1984", b"(", b")", b",", b"."]
)


def make_input(path: Path, megabytes: float) -> None:
    """Text-like bytes, never periodic (each MB has its own seed), written a MB at a time."""
    with open(path, "wb") as out:
        left, seed = int(megabytes * MB), 0
        while left:
            rng = np.random.default_rng(seed)
            chunk = b" ".join(WORDS[rng.integers(0, len(WORDS), MB // 3)])[: min(MB, left)]
            out.write(chunk)
            left, seed = left - len(chunk), seed + 1


def measure(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds


def child_baseline(name: str, source: str, target: str) -> None:
    from harness.baselines import compress_stream, standard_baselines

    (baseline,) = [b for b in standard_baselines() if b.name == name]
    with open(source, "rb") as data, open(target, "wb") as out:
        compress_stream(baseline, data, out, os.fstat(data.fileno()).st_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[200, 1000], metavar="MB")
    parser.add_argument("--predictors", nargs="*", default=[], metavar="SPEC", help="harness compress -p SPEC")
    parser.add_argument("--baselines", nargs="*", metavar="NAME", help="streaming baselines (no names: all)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the generated files go")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_baseline(*args.child)
    if args.baselines == []:
        from harness.baselines import standard_baselines

        args.baselines = [b.name for b in standard_baselines()]
    print(f"{'what':<22} {'input MB':>9} {'peak RSS MB':>12} {'seconds':>8} {'output MB':>10}", flush=True)
    for size in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            source, target = Path(folder) / "input", Path(folder) / "output"
            make_input(source, size)
            jobs = [(f"compress -p {p}", [str(HARNESS), "compress", str(source), "-p", p, "-o", str(target), "--force"])
                    for p in args.predictors]
            jobs += [(name, [sys.executable, __file__, "--child", name, str(source), str(target)])
                     for name in args.baselines or []]
            for label, command in jobs:
                rss, seconds = measure(command)
                print(f"{label:<22} {size:>9.1f} {rss:>12.0f} {seconds:>8.1f} {target.stat().st_size / MB:>10.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
