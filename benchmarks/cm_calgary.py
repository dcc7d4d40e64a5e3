"""The context-mixing predictor `cm` over the Calgary corpus, each file coded, decoded and compared.

    python benchmarks/cm_calgary.py [--all] [--option key=value ...] [FILE ...]

Without files it codes the 14 classic Calgary files (bib book1 book2 geo news obj1 obj2 paper1
paper2 pic progc progl progp trans) from ../shared/corpora; with --all also the other four
Calgary papers and the 11 Canterbury files (29 in all). Each file goes through the real
container (harness.container.encode and decode, streamed in segments like `harness compress`)
with fresh instances. Per file: size,
cm's payload bytes (the range coder's bytes, without the ~40-byte .hz header), bits/byte,
encode and decode KB/s (after numba's first compile, timed apart) by the process's CPU time,
as the machine may be shared, and by the wall clock, the process's peak RSS so far, and the best
classic compressor (xz, bzip2, zstd, brotli, ppmd: harness.baselines, run in a child process so
that their memory is not counted) on the same file. The Calgary total is compared with PPMonstr
var. J (675,485 bytes) and ngram (746,568).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from harness import baselines, container, wire
from harness.predictor import canonical_spec, defaults, typed_options
from plugins.baselines import standard_baselines
from plugins.cm import ContextMixing

_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CALGARY = "bib book1 book2 geo news obj1 obj2 paper1 paper2 pic progc progl progp trans".split()
PPMONSTR_J = 675_485
NGRAM = 746_568
_CLASSIC = ("xz", "bzip2", "zstd", "brotli", "ppmd")
T = TypeVar("T")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _best_classic(data: bytes) -> tuple[str, int]:
    sizes = {b.name: len(baselines.compress(b, data)) for b in standard_baselines() if b.name.split()[0] in _CLASSIC}
    name = min(sizes, key=sizes.__getitem__)
    return name, sizes[name]


def _timed(run: Callable[[], T]) -> tuple[T, float, float]:
    """run()'s result, CPU seconds and wall seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = run()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def measure(path: Path, settings: dict[str, object], baselines: ProcessPoolExecutor) -> tuple[int, int, int]:
    """Print one row; return (bytes, cm payload bytes, best classic bytes)."""
    data = path.read_bytes()
    spec = canonical_spec(ContextMixing.name, settings, ContextMixing)
    encoded, encode_cpu, encode_wall = _timed(lambda: container.encode(data, spec, ContextMixing(**settings)))
    header = wire.unpack(encoded.container)
    decoded, decode_cpu, decode_wall = _timed(lambda: container.decode(header, ContextMixing(**settings)))
    if decoded != data:
        raise SystemExit(f"{path}: decoded bytes differ from the input")
    classic, classic_bytes = baselines.submit(_best_classic, data).result()
    kb, size = len(data) / 1000, encoded.payload_bytes
    mark = "<" if size < classic_bytes else ">="
    print(
        f"{path.name:>12} {len(data):>9,} {size:>9,} {8 * size / max(len(data), 1):7.3f} "
        f"{kb / encode_cpu:6.1f} {kb / decode_cpu:6.1f} {kb / encode_wall:6.1f} {kb / decode_wall:6.1f} "
        f"{_peak_rss_mib():5.0f}  {mark} {classic} {classic_bytes:,} ({8 * classic_bytes / max(len(data), 1):.3f})",
        flush=True,
    )
    return len(data), size, classic_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true", help="also paper3..paper6 and the 11 Canterbury files")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    settings = {**defaults(ContextMixing), **typed_options(ContextMixing, dict(o.split("=", 1) for o in args.option))}
    calgary = [_CORPORA / "calgary" / name for name in CALGARY]
    files = list(args.files or calgary)
    if args.all:
        files += [_CORPORA / "calgary" / f"paper{i}" for i in range(3, 7)] + sorted((_CORPORA / "canterbury").iterdir())

    start = time.perf_counter()
    warm = ContextMixing(**settings)
    ContextMixing(**settings).decode_symbols(warm.encode_symbols(np.zeros(16, np.uint8))[0], 16)
    del warm
    print(f"options {settings}; first call (numba compile or cache load) {time.perf_counter() - start:.1f} s")
    print(f"{'':>39} {'KB/s by CPU time':>13} {'KB/s by wall':>13} {'peak':>5}")
    columns = ("file", 12), ("bytes", 9), ("cm", 9), ("bits/B", 7), ("enc", 6), ("dec", 6), ("enc", 6), ("dec", 6)
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'MiB':>5}  best classic")
    with ProcessPoolExecutor(max_workers=1) as baselines:
        rows = {path: measure(path, settings, baselines) for path in files}
    wins = sum(cm < classic for _, cm, classic in rows.values())
    print(f"cm beats the best classic compressor on {wins} of {len(rows)} files")
    if all(path in rows for path in calgary):
        total = sum(rows[path][1] for path in calgary)
        print(
            f"Calgary 14 files: {total:,} bytes; PPMonstr J {PPMONSTR_J:,} ({total - PPMONSTR_J:+,}), "
            f"ngram {NGRAM:,} ({total - NGRAM:+,})"
        )


if __name__ == "__main__":
    main()
