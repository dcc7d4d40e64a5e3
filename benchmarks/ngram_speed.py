"""Compression and speed of the n-gram predictor on a few files, verified by decoding.

    python benchmarks/ngram_speed.py [FILE ...] [--option key=value ...]

Without files it measures alice29.txt and book1 from the corpora in ../shared/corpora. Prints
bits/byte counting the payload, encode and decode throughput (after numba's first compile,
which is timed separately) and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from harness.predictor import defaults, typed_options
from plugins.ngram import NGram

_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
_DEFAULT_FILES = [_CORPORA / "canterbury" / "alice29.txt", _CORPORA / "calgary" / "book1"]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(path: Path, settings: dict[str, object]) -> str:
    """One line: bits/byte, encode/decode KB/s, model restarts, peak RSS so far."""
    data = path.read_bytes()
    symbols = np.frombuffer(data, dtype=np.uint8)
    encoder = NGram(**settings)
    start = time.perf_counter()
    payload, _ = encoder.encode_symbols(symbols)
    encode_s = time.perf_counter() - start
    restarts = encoder.restarts
    del encoder  # so that peak RSS counts one model, not an encoder and a decoder
    start = time.perf_counter()
    decoded = NGram(**settings).decode_symbols(payload, len(data))
    decode_s = time.perf_counter() - start
    if decoded.astype(np.uint8).tobytes() != data:
        raise SystemExit(f"{path}: decoded bytes differ from the input")
    kb = len(data) / 1000
    return (
        f"{path.name:>14}  {len(data):>9,} B  {8 * len(payload) / max(len(data), 1):.4f} bits/byte  "
        f"encode {kb / encode_s:7.1f} KB/s  decode {kb / decode_s:7.1f} KB/s  "
        f"restarts {restarts}  peak RSS {_peak_rss_mib():.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=None)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    raw = dict(item.split("=", 1) for item in args.option)
    settings = {**defaults(NGram), **typed_options(NGram, raw)}
    files = args.files or [f for f in _DEFAULT_FILES if f.is_file()]
    if not files:
        raise SystemExit(f"no files given and none found in {_CORPORA}")

    start = time.perf_counter()  # compile (or load numba's cache) on a tiny input
    warm = NGram(**settings)
    NGram(**settings).decode_symbols(warm.encode_symbols(np.zeros(16, np.uint8))[0], 16)
    print(f"options {settings}")
    print(
        f"first call (numba compile or cache load) {time.perf_counter() - start:.2f} s, "
        f"peak RSS before the files {_peak_rss_mib():.0f} MiB"
    )
    for path in files:
        print(measure(path, settings))


if __name__ == "__main__":
    main()
