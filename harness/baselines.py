"""What a reference compressor is (`Baseline`), and how the harness runs one.

A baseline compresses a whole file as one stream: `stream` takes it chunk by chunk
(`compress_stream`) and `unstream` decodes it in pieces of bounded size (`decompress_stream`),
so memory does not grow with the input either way. The classic compressors are the plugin
plugins/baselines.py; a third party's come through the `harness_baselines` hook.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from harness.errors import HarnessError

STREAM_CHUNK = 1 << 20


@dataclass(frozen=True)
class Stream:
    """A compressor fed chunk by chunk: write `start`, then compress(chunk)..., then the pieces
    of flush() (several for a tool that writes its output to a file only at the end)."""

    compress: Callable[[bytes], bytes]
    flush: Callable[[], Iterable[bytes]]
    start: bytes = b""


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    version: str
    stream: Callable[[int], Stream]
    """A Stream for an input of the given length; `decompress` reads what it writes."""
    unstream: Callable[[BinaryIO], Iterator[bytes]]
    """The decompressed bytes of a compressed stream read from a (seekable) file, in pieces of
    bounded size whatever the compression ratio (about STREAM_CHUNK bytes; ppmd: one block);
    an error for a truncated stream."""


def compress_stream(baseline: Baseline, source: BinaryIO, out: BinaryIO, length: int) -> int:
    """Compress the `length` bytes of `source` into `out` in chunks; return the bytes written."""
    stream = baseline.stream(length)
    written = out.write(stream.start)
    while chunk := source.read(STREAM_CHUNK):
        written += out.write(stream.compress(chunk))
    return written + sum(map(out.write, stream.flush()))


def decompress_stream(baseline: Baseline, source: BinaryIO, out: BinaryIO) -> int:
    """Decompress what `compress_stream` wrote, from `source` into `out` in pieces; return the
    bytes written. Whatever the library raises on a corrupt or truncated stream is a HarnessError."""
    written, pieces = 0, baseline.unstream(source)
    while True:
        try:
            piece = next(pieces, None)
        except Exception as error:  # each library has its own (EOFError, lzma.LZMAError, brotli.error, ...)
            raise HarnessError(f"{baseline.name} cannot decompress: {error}") from error
        if piece is None:
            return written
        out.write(piece)
        written += len(piece)


def reads(reader: BinaryIO) -> Iterator[bytes]:
    """A decompressing file object's output, STREAM_CHUNK bytes at a time."""
    with reader:
        while piece := reader.read(STREAM_CHUNK):
            yield piece


def compress(baseline: Baseline, data: bytes) -> bytes:
    """`data` compressed in memory: the bytes `compress_stream` writes."""
    stream = baseline.stream(len(data))
    return b"".join([stream.start, stream.compress(data), *stream.flush()])


def decompress(baseline: Baseline, data: bytes) -> bytes:
    """What `compress` gave `data` for, decompressed in memory."""
    return b"".join(baseline.unstream(io.BytesIO(data)))
