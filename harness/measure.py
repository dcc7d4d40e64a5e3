"""One measurement: code a corpus file, decode it again, compare, and make the result record.

A ratio is only claimed for data we got back: `verified` is true only when the decoded bytes
equal the original byte for byte.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from harness import container, curves, results
from harness.baselines import Baseline
from harness.corpora import CorpusFile
from harness.plugins import Registry
from harness.predictor import Progress, no_progress


@contextmanager
def peak_rss() -> Iterator[Callable[[], int]]:
    """Sample this process' resident memory every 10 ms; yields a getter of the peak seen."""
    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0]
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)


def _ratios(raw: int, compressed: int, model_bytes: int = 0) -> dict[str, Any]:
    return {
        "raw_bytes": raw,
        "compressed_bytes": compressed,
        "bits_per_byte": 8 * compressed / raw if raw else None,
        "ratio": raw / compressed if compressed else None,
        "adjusted_ratio": raw / (compressed + model_bytes) if compressed + model_bytes else None,
    }


def _common(file: CorpusFile, data: bytes, max_bytes: int | None) -> dict[str, Any]:
    entropy = file.entropy_bits(len(data)) if file.entropy_bits else None
    return {
        "corpus": file.name,
        "corpus_sha256": hashlib.sha256(data).hexdigest(),
        "max_bytes": max_bytes,  # leaderboards keep prefix runs apart from whole files
        "entropy_bits": entropy,
        "entropy_bits_per_byte": entropy / len(data) if entropy is not None and data else None,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **results.environment(),
    }


def measure_predictor(
    registry: Registry,
    spec: str,
    file: CorpusFile,
    data: bytes,
    progress: Progress = no_progress,
    curve_store: Path | None = None,
    expect: Progress = no_progress,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """Encode `data` with a fresh predictor, decode with another, compare; return the record.

    `progress` is told about symbols done, encode and decode both (2 x symbols in all), and
    `expect` that total once it is known (tokenizing predictors code fewer symbols than bytes). With
    `curve_store`, the per-symbol code lengths (the online loss curve) are saved beside that
    results store and the record names the file (`curve`). `max_bytes` records the prefix
    limit `data` was cut to, if any.
    """
    cls, _, canonical = registry.predictor(spec)
    with peak_rss() as peak:
        encoder_side = registry.build(canonical)
        start = time.perf_counter()
        encoded = container.encode(data, canonical, encoder_side, progress, lambda n: expect(2 * n))
        encode_seconds = time.perf_counter() - start

        start = time.perf_counter()
        decoded = container.decode(container.unpack(encoded.container), registry.build(canonical), progress)
        decode_seconds = time.perf_counter() - start
    ideal_bits = float(encoded.symbol_bits.sum(dtype="float64"))
    curve = None
    if curve_store is not None:
        # Batched online learners code out of file order; their curve is drawn in coding order.
        order = getattr(encoder_side, "coding_order", None)
        bits = encoded.symbol_bits[order(encoded.symbols)] if order else encoded.symbol_bits
        curve = curves.save(curve_store, bits)
    return {
        "kind": "predictor",
        "predictor": cls.name,
        "spec": canonical,
        "fingerprint": encoder_side.fingerprint(),
        **_ratios(len(data), len(encoded.container), encoder_side.model_bytes),
        "payload_bytes": encoded.payload_bytes,
        "header_bytes": len(encoded.container) - encoded.payload_bytes,
        "symbols": encoded.symbols,
        "ideal_bits": ideal_bits,
        "coder_overhead_bits": 8 * encoded.payload_bytes - ideal_bits,
        "verified": decoded == data,
        "curve": curve,
        "params": encoder_side.params,
        "model_bytes": encoder_side.model_bytes,
        "flops_per_byte": encoder_side.flops_per_symbol * encoded.symbols / len(data) if data else None,
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "peak_rss_bytes": peak(),
        **_common(file, data, max_bytes),
    }


def measure_baseline(baseline: Baseline, file: CorpusFile, data: bytes, max_bytes: int | None = None) -> dict[str, Any]:
    """Run a reference compressor both ways on `data` and compare."""
    with peak_rss() as peak:
        start = time.perf_counter()
        compressed = baseline.compress(data)
        encode_seconds = time.perf_counter() - start
        start = time.perf_counter()
        decoded = baseline.decompress(compressed)
        decode_seconds = time.perf_counter() - start
    return {
        "kind": "baseline",
        "predictor": baseline.name,
        "spec": baseline.name,
        "baseline_version": baseline.version,
        **_ratios(len(data), len(compressed)),
        "verified": decoded == data,
        "params": None,
        "model_bytes": 0,
        "flops_per_byte": None,
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "peak_rss_bytes": peak(),
        **_common(file, data, max_bytes),
    }
