"""Peak memory of compressing large files: `harness compress` and the streaming baselines.

Each measurement runs in its own process (peak RSS from wait4), on generated files of the
given sizes, so the figures show whether memory grows with the input:

    .venv/bin/python benchmarks/memory_compress.py --sizes 200 1000 --baselines "gzip -9" "bzip2 -9"
    .venv/bin/python benchmarks/memory_compress.py --sizes 2 8 --predictors order0 --baselines
    .venv/bin/python benchmarks/memory_compress.py --sizes 64 --text ../shared/corpora/calgary --decompress
    .venv/bin/python benchmarks/memory_compress.py --sizes 64 --text ../shared/corpora/calgary --run --predictors ngram

The input is text-like word soup, or with --text real files repeated, each copy of them with
its letters put through its own random permutation (so no copy repeats an earlier one, for LZ
windows or context models, while keeping the statistics of text). --decompress also decodes
each output (streamed: `harness decompress`, or the baseline's streaming decompressor) and
checks it against the input; --run measures `harness run` instead (encode, decode and compare
in one process, as a benchmark result is made), reporting the stored record's size and `verified`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import string
import subprocess
import sys
import tempfile
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


def make_text_input(path: Path, megabytes: float, sources: list[Path]) -> None:
    """`sources` (files, or folders of files) repeated, each copy with its own letter permutation."""
    files = sorted(f for s in sources for f in ([s] if s.is_file() else s.rglob("*")) if f.is_file())
    text = b"".join(f.read_bytes() for f in files)
    if not text:
        raise SystemExit(f"no bytes in {sources}")
    lower, upper = string.ascii_lowercase.encode(), string.ascii_uppercase.encode()
    with open(path, "wb") as out:
        left, copy = int(megabytes * MB), 0
        while left:
            order = np.random.default_rng(copy).permutation(26)
            table = bytes.maketrans(lower + upper, bytes(lower[i] for i in order) + bytes(upper[i] for i in order))
            chunk = text[: min(len(text), left)].translate(table)
            out.write(chunk)
            left, copy = left - len(chunk), copy + 1


# Started from this process, a command's ru_maxrss would include this process' own peak: Linux
# carries the peak of the memory a process had before exec over to what it execs (and a vforked
# child had ours). A bare interpreter in between starts it instead and reports its figures.
LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - start)
"""


def measure(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a child process."""
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *command], capture_output=True, text=True)
    if done.returncode or done.stdout.split()[0] != "0":
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    _, maxrss, seconds = done.stdout.split()
    return int(maxrss) / 1024, float(seconds)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def child_baseline(direction: str, name: str, source: str, target: str) -> None:
    from harness.baselines import compress_stream, decompress_stream
    from plugins.baselines import standard_baselines

    (baseline,) = [b for b in standard_baselines() if b.name == name]
    if direction == "run":  # what `harness run` does for a baseline: encode, decode, compare
        from harness import corpus, measure, results  # imported only here: ~60 MB of imports

        (file,) = corpus.resolve(source, {})
        return results.append(Path(target), measure.measure_baseline(baseline, file))
    with open(source, "rb") as data, open(target, "wb") as out:
        if direction == "compress":
            compress_stream(baseline, data, out, os.fstat(data.fileno()).st_size)
        else:
            decompress_stream(baseline, data, out)


def measure_size(size: float, args: argparse.Namespace) -> None:
    """Generate an input of `size` MB and measure every step on it, each in its own process."""
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        source, target, back = Path(folder) / "input", Path(folder) / "output", Path(folder) / "decoded"
        store = Path(folder) / "results.jsonl"
        if args.text:
            make_text_input(source, size, args.text)
        else:
            make_input(source, size)
        digest = sha256(source) if args.decompress else None

        def written() -> str:
            return f"{target.stat().st_size / MB:.2f}"

        def compared() -> str:
            same = sha256(back) == digest
            back.unlink()
            return "equal" if same else "DIFFERS"

        def recorded() -> str:
            from harness import results

            record = results.read(store)[-1]
            return f"{record.compressed_bytes / MB:.2f} {'verified' if record.verified else 'NOT VERIFIED'}"

        steps = []
        for label, compress, decompress, run in [
            (
                f"-p {p}",
                [str(HARNESS), "compress", str(source), "-p", p, "-o", str(target), "--force"],
                [str(HARNESS), "decompress", str(target), "-o", str(back), "--force"],
                [str(HARNESS), "run", "-p", p, "-c", str(source), "--no-baselines", "--results", str(store)],
            )
            for p in args.predictors
        ] + [
            (
                name,
                [sys.executable, __file__, "--child", "compress", name, str(source), str(target)],
                [sys.executable, __file__, "--child", "decompress", name, str(target), str(back)],
                [sys.executable, __file__, "--child", "run", name, str(source), str(store)],
            )
            for name in args.baselines or []
        ]:
            if args.run:
                steps.append((f"{label} run", run, recorded))
                continue
            steps.append((f"{label} compress", compress, written))
            if args.decompress:
                steps.append((f"{label} decompress", decompress, compared))
        for label, command, result in steps:
            rss, seconds = measure(command)
            print(f"{label:<30} {size:>9.1f} {rss:>12.0f} {seconds:>8.1f} {result():>10}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[200, 1000], metavar="MB")
    parser.add_argument("--predictors", nargs="*", default=[], metavar="SPEC", help="harness compress -p SPEC")
    parser.add_argument("--baselines", nargs="*", metavar="NAME", help="streaming baselines (no names: all)")
    parser.add_argument("--text", nargs="+", type=Path, metavar="PATH", help="make the input from these files")
    parser.add_argument("--decompress", action="store_true", help="also decompress each output and compare")
    parser.add_argument("--run", action="store_true", help="measure `harness run` (encode, decode, compare) instead")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the generated files go")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_baseline(*args.child)
    if args.baselines == []:
        from plugins.baselines import standard_baselines

        args.baselines = [b.name for b in standard_baselines()]
    print(f"{'what':<30} {'input MB':>9} {'peak RSS MB':>12} {'seconds':>8} {'output MB':>10}", flush=True)
    for size in args.sizes:
        measure_size(size, args)


if __name__ == "__main__":
    main()
