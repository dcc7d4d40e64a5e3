"""Speed of order0's compiled loops against the default Python loop, verified by decoding.

    python benchmarks/order0_speed.py [FILE ...]

Without files it measures alice29.txt and book1 from the corpora in ../shared/corpora. The
Python loop is timed on the first 20,000 bytes only (it runs at some 10 KB/s).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.predictor import Predictor
from plugins.order0 import Order0

_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
_DEFAULT_FILES = [_CORPORA / "canterbury" / "alice29.txt", _CORPORA / "calgary" / "book1"]
_PYTHON_BYTES = 20_000


def _kb_per_s(size: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return size / 1000 / (time.perf_counter() - start)


def measure(path: Path) -> str:
    data = path.read_bytes()
    symbols = np.frombuffer(data, dtype=np.uint8)
    payload, _ = Order0().encode_symbols(symbols)
    if Order0().decode_symbols(payload, len(data)).astype(np.uint8).tobytes() != data:
        raise SystemExit(f"{path}: decoded bytes differ from the input")
    encode = _kb_per_s(len(data), lambda: Order0().encode_symbols(symbols))
    decode = _kb_per_s(len(data), lambda: Order0().decode_symbols(payload, len(data)))
    head = symbols[:_PYTHON_BYTES]
    python = _kb_per_s(len(head), lambda: Predictor.encode_symbols(Order0(), head))
    return (
        f"{path.name:>14}  {len(data):>9,} B  {8 * len(payload) / max(len(data), 1):.4f} bits/byte  "
        f"encode {encode:7.1f} KB/s  decode {decode:7.1f} KB/s  (Python loop encode {python:5.1f} KB/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=None)
    files = parser.parse_args().files or [f for f in _DEFAULT_FILES if f.is_file()]
    if not files:
        raise SystemExit(f"no files given and none found in {_CORPORA}")
    start = time.perf_counter()  # compile (or load numba's cache) on a tiny input
    Order0().decode_symbols(Order0().encode_symbols(np.zeros(16, np.uint8))[0], 16)
    print(f"first call (numba compile or cache load) {time.perf_counter() - start:.2f} s")
    for path in files:
        print(measure(path))


if __name__ == "__main__":
    main()
