"""One measurement: code a corpus file, decode it again, compare, and make the result record.

A ratio is only claimed for data we got back: `verified` is true only when the decoded bytes
equal the original byte for byte. The coded stream goes to a temporary file and the input is
read from its file a piece at a time, so a file larger than memory can be measured.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from harness import container, corpus, jit, provenance, trust, wire
from harness.baselines import Baseline, compress_stream, decompress_stream
from harness.corpus import CorpusFile
from harness.errors import HarnessError, predictor_errors
from harness.predictor import Progress, SequenceCoder, no_progress
from harness.progress import InBytes
from harness.record import RECORD_VERSION, Record
from harness.registry import Registry

CURVE_MAX_SYMBOLS = 1 << 24
"""Longest loss curve kept for a streaming predictor (float32 per symbol: 64 MiB); a longer
input is measured with no curve, so that memory stays bounded."""

Phase = Callable[[str, int], None]
"""Told the name of each phase as it starts ("encode", then "decode") and the bytes it codes."""


def no_phase(name: str, total: int) -> None:
    pass


@contextmanager
def peak_rss(with_children: bool = True) -> Iterator[Callable[[], int]]:
    """Sample resident memory every 10 ms; yields a getter of the peak the measurement added.

    That is this process' peak above its size when the measurement began, plus (with
    `with_children`) the child processes it runs (a baseline tool), so a record reports its own
    memory: the harness's imports are left out, and so are a predictor's libraries
    (`measure_predictor` asks for its `static_config` first, which imports them). Predictors run
    in this process: their measurements list no children, which reads every process's /proc
    entry.
    """
    process = psutil.Process()
    idle = process.memory_info().rss
    peak = [0]

    def used(children: list[psutil.Process]) -> int:
        total = process.memory_info().rss - idle
        for child in children:
            try:
                total += child.memory_info().rss
            except psutil.Error:  # it ended between the listing and the look
                pass
        return total

    done = threading.Event()

    def sample() -> None:
        # Listing the children reads every process's /proc entry: a few times a second is
        # enough to find a baseline's tool, while reading their sizes stays at every sample.
        children: list[psutil.Process] = []
        for tick in itertools.count():
            if done.wait(0.01):
                return
            if with_children and tick % 20 == 0:
                children = process.children(recursive=True)
            peak[0] = max(peak[0], used(children))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: max(peak[0], 0)
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], used(process.children(recursive=True) if with_children else []))


def _ratios(raw: int, compressed: int, model_bytes: int = 0) -> dict[str, Any]:
    return {
        "raw_bytes": raw,
        "compressed_bytes": compressed,
        "bits_per_byte": 8 * compressed / raw if raw else None,
        "ratio": raw / compressed if compressed else None,
        "adjusted_ratio": raw / (compressed + model_bytes) if compressed + model_bytes else None,
    }


def _common(file: CorpusFile, length: int, sha256: str, max_bytes: int | None) -> dict[str, Any]:
    entropy = file.entropy_bits(length) if file.entropy_bits else None
    return {
        "record_version": RECORD_VERSION,
        "corpus": file.name,
        "corpus_sha256": sha256,
        "max_bytes": max_bytes,  # leaderboards keep prefix runs apart from whole files
        "entropy_bits": entropy,
        "entropy_bits_per_byte": entropy / length if entropy is not None and length else None,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **provenance.environment(),
    }


class _Compare:
    """A sink for decoded bytes that checks each piece against the original as it comes."""

    def __init__(self, original: corpus.Prefix) -> None:
        self.original, self.equal = original, True

    def write(self, data: bytes) -> int:
        self.equal = self.equal and self.original.read(len(data)) == data
        return len(data)


def _decodes_to_original(
    file: CorpusFile, max_bytes: int | None, decode: Callable[[_Compare], object], part: corpus.Part | None = None
) -> bool:
    """True when `decode` writes exactly the original bytes; a decoder that refuses its input
    (a HarnessError: corrupt stream, failed CRC, ...) got nothing back, so that is False too."""
    with corpus.open_prefix(file, max_bytes, part) as original:
        sink = _Compare(original)
        try:
            decode(sink)
        except HarnessError:
            return False
        return sink.equal and not original.left


def measure_predictor(
    registry: Registry,
    spec: str,
    file: CorpusFile,
    progress: Progress = no_progress,
    keep_curve: bool = False,
    phase: Phase = no_phase,
    max_bytes: int | None = None,
    part: corpus.Part | None = None,
) -> Record:
    """Encode `file` (its first `max_bytes` bytes, if given; of those, the bytes of `part` only)
    with a fresh predictor, decode with another, compare; return the record.

    Both directions stream through a temporary file, so memory does not grow with the input for
    predictors that code it a segment at a time (not `whole_input`): the input is read twice, a
    piece at a time, to encode it and to compare the decoded pieces with. `phase` is told when
    encoding and then decoding start, with the bytes each codes, and `progress` the bytes done
    in the current phase (symbols scaled to bytes: a tokenizing predictor's symbols are tokens).
    With `keep_curve`, the record carries the per-symbol code lengths (the online loss curve,
    `curve_bits`, saved by the store that appends it), for inputs of up to CURVE_MAX_SYMBOLS
    symbols (float32 each, held until the end) or from predictors that hold the whole input.
    """
    cls, settings, canonical = registry.predictor(spec)
    with predictor_errors(canonical, file.name):
        cls.static_config(settings)  # imports the libraries it needs (torch): their import is not its memory
    with (
        corpus.open_prefix(file, max_bytes, part) as source,
        tempfile.TemporaryFile() as coded,
        peak_rss(with_children=False) as peak,
    ):
        with predictor_errors(canonical, file.name):
            encoder_side = registry.build(canonical)
            keep_bits = keep_curve and (
                encoder_side.whole_input or not wire.byte_level(encoder_side) or source.length <= CURVE_MAX_SYMBOLS
            )
            in_bytes = InBytes(source.length, progress, lambda length: phase("encode", length))
            with jit.compile_timer() as compiling:
                start = time.perf_counter()
                encoded = container.encode_stream(
                    source,
                    source.length,
                    coded,
                    registry.portable_spec(canonical),  # the header a user's compress would write
                    encoder_side,
                    in_bytes.advance,
                    in_bytes.expect,
                    keep_bits,
                )
                encode_seconds = time.perf_counter() - start - compiling()
        seconds = {"compile": compiling()}
        # What the record needs of the encoder; then it goes, with its tables, before the decoder
        # builds its own: a user's compress or decompress holds one model, and so does the peak.
        order = encoder_side.coding_order(encoded.symbols) if keep_bits else None
        fingerprint, params, model_bytes = encoder_side.fingerprint(), encoder_side.params, encoder_side.model_bytes
        flops_per_symbol = encoder_side.flops_per_symbol
        del encoder_side

        def decode(out: _Compare) -> None:  # as `harness decompress --model FOLDER` does
            coded.seek(0)
            header, segments = wire.read_header(coded, encoded.container_bytes)
            with predictor_errors(header.spec, file.name), trust.policy(_decoding_trust(cls, settings)):
                decoder = registry.decoder(header)  # built before the clock starts, as the encoder was
                with jit.compile_timer() as compiling:
                    start = time.perf_counter()
                    container.decode_stream(header, segments, out, decoder, in_bytes.advance)
                    seconds["decode"] = time.perf_counter() - start - compiling()
                seconds["compile"] += compiling()

        phase("decode", source.length)
        start = time.perf_counter()
        verified = _decodes_to_original(file, max_bytes, decode, part)
        decode_seconds = seconds.get("decode", time.perf_counter() - start)  # the whole try, where it failed
    curve = None
    if keep_bits:  # batched online learners code out of file order; their curve is drawn in coding order
        curve = encoded.symbol_bits if order is None else encoded.symbol_bits[order]
    length = source.length
    return Record(
        **{
            "kind": "predictor",
            "predictor": cls.name,
            "spec": canonical,
            "predictor_version": cls.version,
            "settings": settings,  # every option, defaults included: what the spec meant when it ran
            "fingerprint": fingerprint,
            "member_versions": cls.member_versions(settings),
            **_ratios(length, encoded.container_bytes, model_bytes),
            "payload_bytes": encoded.payload_bytes,
            "header_bytes": encoded.header_bytes,
            "symbols": encoded.symbols,
            "ideal_bits": encoded.ideal_bits,
            "coder_overhead_bits": 8 * encoded.payload_bytes - encoded.ideal_bits,
            "verified": verified,
            "curve_bits": curve,
            "params": params,
            "model_bytes": model_bytes,
            "flops_per_byte": flops_per_symbol * encoded.symbols / length if length else None,
            "encode_seconds": encode_seconds,
            "decode_seconds": decode_seconds,
            "compile_seconds": seconds["compile"],
            "peak_memory_bytes": peak(),
            **_common(file, length, source.sha256.hexdigest(), max_bytes),
        }
    )


def _decoding_trust(cls: type[SequenceCoder], settings: dict[str, Any]) -> trust.Trust:
    """What a user decoding the file would allow: the local model folders the spec named (as
    `--model`: the header names them by their portable names), and what the run allowed."""
    models = tuple(Path(model) for model in cls.local_models(settings))
    return dataclasses.replace(trust.current(), models=models)


def measure_baseline(baseline: Baseline, file: CorpusFile, max_bytes: int | None = None) -> Record:
    """Run a reference compressor both ways on `file` (its first `max_bytes` bytes, if given)
    and compare, streaming through a temporary file as `measure_predictor` does."""
    with corpus.open_prefix(file, max_bytes) as source, tempfile.TemporaryFile() as coded, peak_rss() as peak:
        start = time.perf_counter()
        compressed = compress_stream(baseline, source, coded, source.length)
        encode_seconds = time.perf_counter() - start

        def decode(out: _Compare) -> None:
            coded.seek(0)
            decompress_stream(baseline, coded, out)

        start = time.perf_counter()
        verified = _decodes_to_original(file, max_bytes, decode)
        decode_seconds = time.perf_counter() - start
    return Record(
        **{
            "kind": "baseline",
            "predictor": baseline.name,
            "spec": baseline.name,
            "baseline_version": baseline.version,
            **_ratios(source.length, compressed),
            "verified": verified,
            "params": None,
            "model_bytes": 0,
            "flops_per_byte": None,
            "encode_seconds": encode_seconds,
            "decode_seconds": decode_seconds,
            "peak_memory_bytes": peak(),
            **_common(file, source.length, source.sha256.hexdigest(), max_bytes),
        }
    )


_ADDED_UP = (
    "payload_bytes",
    "header_bytes",
    "symbols",
    "ideal_bits",
    "coder_overhead_bits",
    "encode_seconds",
    "decode_seconds",
    "compile_seconds",
)
"""The fields of a whole file's record that are the sums of its parts' (`combine`)."""


def combine(pieces: list[Record], file: CorpusFile, max_bytes: int | None) -> Record:
    """The record of a whole file from the records of its parts, in file order (a chunked
    predictor's job fanned out): sizes, bits, symbols and seconds add up (the seconds are the
    parts' own, however many ran at once), the peak is the largest part's, and it is verified
    only when every part was."""
    if len(pieces) == 1:
        return pieces[0]

    def total(name: str) -> Any:
        values = [getattr(piece, name) for piece in pieces]
        return None if any(v is None for v in values) else sum(values)

    first, raw, compressed = pieces[0], total("raw_bytes"), total("compressed_bytes")
    curves = [piece.curve_bits for piece in pieces]
    work = [p.flops_per_byte * p.raw_bytes for p in pieces if p.flops_per_byte is not None]
    common = _common(file, raw, corpus.prefix_sha256(file, max_bytes), max_bytes)
    return first.replace(
        **_ratios(raw, compressed, int(first.model_bytes or 0)),
        **{name: total(name) for name in _ADDED_UP},
        verified=all(piece.verified for piece in pieces),
        peak_memory_bytes=max((p.peak_memory_bytes or 0) for p in pieces),
        flops_per_byte=sum(work) / raw if len(work) == len(pieces) else None,
        curve_bits=None if any(c is None for c in curves) else np.concatenate(curves),
        **{key: common[key] for key in ("corpus_sha256", "entropy_bits", "entropy_bits_per_byte", "timestamp")},
    )
