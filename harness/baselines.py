"""Classic compressors, run in-process, as reference rows for the leaderboards.

Each compresses a whole file as one stream at its strongest usual setting. zstandard,
brotli and pyppmd are optional: a compressor whose library is missing is left out. `stream`
gives the same stream chunk by chunk (`compress_stream`) and `unstream` decodes it in pieces of
bounded size (`decompress_stream`), so memory does not grow with the input either way.
"""

from __future__ import annotations

import bz2
import ctypes
import gzip
import io
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from harness.errors import HarnessError

STREAM_CHUNK = 1 << 20


@dataclass(frozen=True)
class Stream:
    """A compressor fed chunk by chunk: write `start`, then compress(chunk)..., then flush()."""

    compress: Callable[[bytes], bytes]
    flush: Callable[[], bytes]
    start: bytes = b""


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    version: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
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
    return written + out.write(stream.flush())


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


def _reads(reader: BinaryIO) -> Iterator[bytes]:
    """A decompressing file object's output, STREAM_CHUNK bytes at a time."""
    with reader:
        while piece := reader.read(STREAM_CHUNK):
            yield piece


def standard_baselines() -> list[Baseline]:
    """gzip, bzip2 and xz always; zstd, brotli and ppmd where their library is installed."""
    found = [_gzip(), _bzip2(), _xz()]
    for optional in (_zstd, _brotli, _ppmd):
        try:
            found.append(optional())
        except ImportError:
            pass
    return found


def _calls(compressor: zlib._Compress | bz2.BZ2Compressor | lzma.LZMACompressor) -> Stream:
    return Stream(compressor.compress, compressor.flush)


def _c_version(extension: object, symbol: str) -> str:
    # bz2 and lzma do not expose their C library's version; ask the library itself
    # (dlsym on the extension module also searches the libraries it links).
    try:
        function = getattr(ctypes.CDLL(extension.__file__), symbol)
    except (AttributeError, OSError):
        return "unknown"
    function.restype = ctypes.c_char_p
    return function().decode().split(",")[0]


def _gzip() -> Baseline:
    return Baseline(
        "gzip -9",
        "DEFLATE (zlib level 9) in a gzip container without file name, mtime 0",
        f"zlib {zlib.ZLIB_RUNTIME_VERSION}",
        lambda data: gzip.compress(data, compresslevel=9, mtime=0),
        gzip.decompress,
        lambda _: _calls(zlib.compressobj(9, zlib.DEFLATED, 31)),  # 31: gzip framing, mtime 0
        lambda source: _reads(gzip.GzipFile(fileobj=source, mode="rb")),
    )


def _bzip2() -> Baseline:
    import _bz2

    return Baseline(
        "bzip2 -9",
        "Burrows-Wheeler transform, 900 KB blocks",
        f"libbz2 {_c_version(_bz2, 'BZ2_bzlibVersion')}",
        lambda data: bz2.compress(data, 9),
        bz2.decompress,
        lambda _: _calls(bz2.BZ2Compressor(9)),
        lambda source: _reads(bz2.BZ2File(source)),
    )


def _xz() -> Baseline:
    import _lzma

    return Baseline(
        "xz -9e",
        "LZMA2 preset 9 extreme in an xz container (CRC64 check)",
        f"liblzma {_c_version(_lzma, 'lzma_version_string')}",
        lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME),
        lzma.decompress,
        lambda _: _calls(lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)),
        lambda source: _reads(lzma.LZMAFile(source, format=lzma.FORMAT_XZ)),
    )


def _zstd() -> Baseline:
    import zstandard

    def unstream(source: BinaryIO) -> Iterator[bytes]:
        # The reader ends quietly at the end of a truncated frame: check the size in its header.
        head = source.read(18)  # a frame header is at most 18 bytes
        size = zstandard.get_frame_parameters(head).content_size
        source.seek(-len(head), 1)
        written = 0
        for piece in _reads(zstandard.ZstdDecompressor().stream_reader(source, closefd=False)):
            written += len(piece)
            yield piece
        if written != size:
            raise zstandard.ZstdError(f"truncated zstd stream: {written} of {size} bytes")

    return Baseline(
        "zstd -19",
        "Zstandard level 19, content size in the frame header, no checksum",
        f"zstandard {zstandard.__version__} (libzstd {'.'.join(map(str, zstandard.ZSTD_VERSION))})",
        # New (de)compressor objects per call: they are not safe to share between threads.
        lambda data: zstandard.ZstdCompressor(level=19).compress(data),
        lambda data: zstandard.ZstdDecompressor().decompress(data),
        lambda length: _calls(zstandard.ZstdCompressor(level=19).compressobj(size=length)),
        unstream,
    )


def _brotli() -> Baseline:
    import brotli

    def stream(_: int) -> Stream:
        compressor = brotli.Compressor(quality=11, lgwin=24)
        return Stream(compressor.process, compressor.finish)

    def unstream(source: BinaryIO) -> Iterator[bytes]:
        decompressor = brotli.Decompressor()
        while not decompressor.is_finished():
            # New input only once the last was used up; the output limit is approximate (up to 2x).
            chunk = source.read(STREAM_CHUNK) if decompressor.can_accept_more_data() else b""
            piece = decompressor.process(chunk, output_buffer_limit=STREAM_CHUNK)
            if not chunk and not piece:
                raise brotli.error("truncated brotli stream")
            yield piece

    return Baseline(
        "brotli -q 11",
        "Brotli quality 11, 16 MB window (lgwin 24, the brotli tool's default)",
        f"brotli {brotli.__version__}",
        lambda data: brotli.compress(data, quality=11, lgwin=24),
        brotli.decompress,
        stream,
        unstream,
    )


PPMD_ORDER = 6
PPMD_MEMORY = 16 << 20
PPMD_BLOCK = 16 << 20
"""Input bytes per independently coded PPMd block (see `_PpmdWriter`)."""
PPMD_FEED = 1 << 14
"""Bytes handed to pyppmd's encoder per call, through one reused buffer (see `_PpmdWriter`)."""


class _PpmdWriter:
    """PPMd in blocks of PPMD_BLOCK input bytes, each coded by a fresh model.

    pyppmd's decoder is only safe given a whole stream in one call: fed piece by piece, its
    background decoding thread raised MemoryError on small pieces here, and when resumed without
    new input it reads past its buffer (pyppmd 1.3.1 source). So each block is a stream of its
    own that the reader decodes in one call. Every block but the last
    is preceded by its coded size (4 bytes, little-endian); an input of at most one block is one
    plain PPMd stream, as before blocks.

    Two more pyppmd bugs are worked around on the encoding side. Ppmd7Encoder.encode never
    releases the buffer it is given (no PyBuffer_Release), so every object passed to it stays
    alive for good, 1 MB per MB coded: it is given one reused buffer instead. And its output
    buffer starts at 32 KiB and grows only between symbols: a symbol whose bytes straddle the
    end is silently cut short ("FIXME: When out buffer is full"), which corrupts the stream. At
    PPMD_FEED = 16 KiB per call the output of a call (at most a few percent over its input)
    never reaches 32 KiB, so it never grows.
    """

    def __init__(self, pyppmd: Any, length: int) -> None:
        self.pyppmd, self.blocks_left = pyppmd, max(1, -(-length // PPMD_BLOCK))
        self.encoder = pyppmd.Ppmd7Encoder(PPMD_ORDER, PPMD_MEMORY)
        self.feed = bytearray(PPMD_FEED)
        self.used = 0  # input bytes in the current block
        self.held: list[bytes] = []  # the current block's code, until its size is known

    def compress(self, data: bytes) -> bytes:
        out, view = [], memoryview(data)
        while view:
            if self.blocks_left > 1 and self.used == PPMD_BLOCK:
                out.append(self._end_block())
            room = PPMD_BLOCK - self.used if self.blocks_left > 1 else PPMD_FEED
            n = min(len(view), PPMD_FEED, room)
            self.feed[:n] = view[:n]  # a same-size slice: the exported buffer is never resized
            code = self.encoder.encode(self.feed if n == PPMD_FEED else memoryview(self.feed)[:n])
            (self.held if self.blocks_left > 1 else out).append(code)
            self.used, view = self.used + n, view[n:]
        return b"".join(out)

    def _end_block(self) -> bytes:
        code = b"".join(self.held) + self.encoder.flush()
        self.encoder = self.pyppmd.Ppmd7Encoder(PPMD_ORDER, PPMD_MEMORY)
        self.held, self.used, self.blocks_left = [], 0, self.blocks_left - 1
        return struct.pack("<I", len(code)) + code

    def flush(self) -> bytes:
        return b"".join(self.held) + self.encoder.flush()


def _exactly(source: BinaryIO, n: int, what: str) -> bytes:
    data = source.read(n)
    if len(data) != n:
        raise ValueError(f"truncated {what}")
    return data


def _ppmd() -> Baseline:
    import pyppmd

    # A PPMd stream does not know its own length: prefix it, as 7-Zip's container does.
    def stream(length: int) -> Stream:
        writer = _PpmdWriter(pyppmd, length)
        return Stream(writer.compress, writer.flush, struct.pack("<Q", length))

    def compress(data: bytes) -> bytes:
        coder = stream(len(data))
        return coder.start + coder.compress(data) + coder.flush()

    def unstream(source: BinaryIO) -> Iterator[bytes]:
        (left,) = struct.unpack("<Q", _exactly(source, 8, "ppmd stream"))
        while left:
            n = min(left, PPMD_BLOCK)
            if left > PPMD_BLOCK:
                (size,) = struct.unpack("<I", _exactly(source, 4, "ppmd stream"))
                if size > 2 * PPMD_BLOCK:  # checked before reading: a bad length asks for 2 blocks at most
                    raise ValueError("corrupt ppmd stream: implausible block size")
                code = _exactly(source, size, "ppmd stream")
            else:
                code = source.read()
            block = pyppmd.Ppmd7Decoder(PPMD_ORDER, PPMD_MEMORY).decode(code, n)
            if len(block) != n:
                raise ValueError("corrupt or truncated ppmd stream")
            left -= n
            yield block

    return Baseline(
        "ppmd -o6",
        f"PPMd variant H, order {PPMD_ORDER}, {PPMD_MEMORY >> 20} MB model memory, 8-byte length prefix, "
        f"a fresh model every {PPMD_BLOCK >> 20} MiB",
        f"pyppmd {pyppmd.__version__}, {PPMD_BLOCK >> 20} MiB blocks",
        compress,
        lambda data: b"".join(unstream(io.BytesIO(data))),
        stream,
        unstream,
    )
