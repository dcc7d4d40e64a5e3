"""The .hz container: a coded stream plus what is needed to decode and check it.

Segments are what lets `compress` and `decompress` stream: one predictor instance codes them
all in order (it keeps learning across segment boundaries), but each segment's coder is flushed
on its own (a few bytes per MiB), so neither side holds more than one segment's symbols and
payload, and the writer never seeks (it can write into a pipe). Predictors marked `whole_input`
get one segment.

Decoding rebuilds the predictor from the spec, refuses a config that differs from the recorded
one (naming the keys that differ), checks every length field against the bytes actually left
before reading or allocating anything, checks each segment's CRC as soon as it is decoded (so a
damaged or forged file is found out within one segment, not after decoding all it claims), and
checks the length at the end: a damaged or mismatched file gives an error, never wrong bytes.
"""

from __future__ import annotations

import dataclasses
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from harness import coder, wire
from harness.errors import HarnessError
from harness.predictor import Progress, SequenceCoder, no_progress
from harness.setup_check import check_predictor

_CORRUPT = "the file is corrupt, or was written where its predictor computes otherwise (another CPU or library build)"


def segment_coding_bytes(symbols: int) -> int:
    """What coding one segment of `symbols` holds besides the model, for a streaming byte
    predictor's `memory_estimate`: its symbols as bytes and int64, their code lengths, the
    coder's output."""
    segment = min(symbols, wire.SEGMENT_SYMBOLS)
    return coder.encoder_capacity(segment) + 13 * segment


@dataclass(frozen=True)
class Encoded:
    payload_bytes: int
    """Range coder bytes, without the header and the segments' length fields."""
    symbols: int
    container_bytes: int
    ideal_bits: float
    """Sum of the symbols' ideal code lengths (-log2 p of the quantized distributions)."""
    symbol_bits: np.ndarray
    """Ideal code length of each symbol in bits (the online loss curve); empty unless asked for."""
    container: bytes = b""
    """The whole container, when coded in memory (`encode`)."""
    header_bytes: int = 0
    """Bytes before the segments (magic, version, spec, config check, lengths)."""


def encode_stream(
    source: BinaryIO,
    length: int,
    out: BinaryIO,
    spec: str,
    predictor: SequenceCoder,
    progress: Progress = no_progress,
    expect: Progress = no_progress,
    keep_bits: bool = False,
) -> Encoded:
    """Code the `length` bytes of `source` into `out`, one segment at a time, writing in order.

    Byte-level predictors read SEGMENT_SYMBOLS bytes at a time, so memory does not grow with the
    input; a tokenizing predictor needs the whole input to tokenize it. `expect` is told the
    symbol count before coding starts (for progress bars).
    """
    streaming = wire.byte_level(predictor) and not predictor.whole_input
    if streaming:
        count = length
    else:
        data = _read_exactly(source, length)
        whole = predictor.to_symbols(data)
        if not wire.byte_level(predictor) and predictor.from_symbols(whole) != data:
            raise HarnessError(f"predictor {spec!r} tokenizes this input lossily: it would not decode to it")
        count = len(whole)
    expect(count)
    segment = 0 if predictor.whole_input else wire.SEGMENT_SYMBOLS
    check = wire.ConfigCheck.of(predictor.config(), type(predictor).static_config(predictor.settings))
    header = wire.header_bytes(spec, check, length, count, segment)
    written = out.write(header)
    running = _Check(predictor)
    payload_bytes, ideal_bits, bits = 0, 0.0, []
    for first, n in _segments(count, segment):
        symbols = predictor.to_symbols(_read_exactly(source, n)) if streaming else whole[first : first + n]
        payload, segment_bits = predictor.encode_symbols(symbols, progress)
        written += out.write(wire.varint(len(payload)) + payload + running.after(symbols).to_bytes(4, "big"))
        payload_bytes += len(payload)
        ideal_bits += float(segment_bits.sum(dtype=np.float64))
        if keep_bits:
            bits.append(segment_bits)
    if source.read(1):
        raise HarnessError("the input grew while it was being compressed")
    symbol_bits = np.concatenate(bits) if bits else np.zeros(0, dtype=np.float32)
    return Encoded(payload_bytes, count, written, ideal_bits, symbol_bits, header_bytes=len(header))


class _Check:
    """The running CRC32 that follows each segment: of the bytes for a byte-level predictor,
    else of the symbols (as uint32 little-endian)."""

    def __init__(self, predictor: SequenceCoder) -> None:
        self.bytes, self.crc = wire.byte_level(predictor), 0

    def after(self, symbols: np.ndarray) -> int:
        """The CRC once `symbols` (the next segment) are added."""
        dtype = np.uint8 if self.bytes else np.dtype("<u4")
        self.crc = zlib.crc32(np.ascontiguousarray(symbols, dtype=dtype).tobytes(), self.crc)
        return self.crc


def _segments(count: int, segment: int) -> Iterator[tuple[int, int]]:
    """(first symbol, symbol count) of each segment."""
    step = segment or max(count, 1)
    for first in range(0, count, step):
        yield first, min(step, count - first)


def _read_exactly(source: BinaryIO, n: int) -> bytes:
    chunk = source.read(n)
    if len(chunk) != n:
        raise HarnessError("the input shrank while it was being compressed")
    return chunk


def encode(
    data: bytes,
    spec: str,
    predictor: SequenceCoder,
    progress: Progress = no_progress,
    expect: Progress = no_progress,
) -> Encoded:
    """Code `data` in memory, keeping each symbol's ideal code length."""
    out = io.BytesIO()
    encoded = encode_stream(io.BytesIO(data), len(data), out, spec, predictor, progress, expect, keep_bits=True)
    return dataclasses.replace(encoded, container=out.getvalue())


def decode_stream(
    header: wire.Header,
    segments: wire.Reader,
    out: BinaryIO,
    predictor: SequenceCoder,
    progress: Progress = no_progress,
) -> None:
    """Decode the segments after `header` into `out`, one segment at a time.

    What was written to `out` is only trustworthy once this returns: the length and CRC of the
    whole output are checked last.
    """
    check_predictor(header, predictor)
    streaming = wire.byte_level(predictor)
    crc, length, pieces, check = 0, 0, [], _Check(predictor)
    for _, n in _segments(header.symbols, header.segment):
        payload = segments.take(segments.varint())
        if n > wire.MAX_SYMBOLS_PER_PAYLOAD_BYTE * (len(payload) + 16):
            raise HarnessError("not a valid .hz file: symbol count is implausible for the payload size")
        symbols = predictor.decode_symbols(payload, n, progress)
        crc = check.after(symbols)  # of the bytes for a byte-level predictor: format 2's CRC too
        if header.version > 2 and crc != int.from_bytes(segments.take(4), "big"):
            raise HarnessError(f"decoded data fails its CRC check: {_CORRUPT}")
        if streaming:
            data = predictor.from_symbols(symbols)
            length += len(data)
            out.write(data)
        else:
            pieces.append(symbols)
    if segments.left:
        raise HarnessError(f"not a valid .hz file: {segments.left} unexpected bytes after the payload")
    if not streaming:
        data = predictor.from_symbols(np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64))
        length = len(data)
        out.write(data)
        if header.version == 2:  # format 2 checked the bytes, here not the symbols
            crc = zlib.crc32(data)
    if length != header.length or header.version == 2 and crc != header.crc32:
        raise HarnessError(f"decoded data fails its length/CRC check: {_CORRUPT}")


def decode(header: wire.Header, predictor: SequenceCoder, progress: Progress = no_progress) -> bytes:
    """Decode a container parsed by `unpack` with a fresh predictor built from `header.spec`."""
    out = io.BytesIO()
    decode_stream(header, wire.Reader(io.BytesIO(header.payload), len(header.payload)), out, predictor, progress)
    return out.getvalue()
