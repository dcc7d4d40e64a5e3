"""Classic compressors, run in-process, as reference rows for the leaderboards.

Each compresses a whole file as one stream at its strongest usual setting. zstandard,
brotli and pyppmd are optional: a compressor whose library is missing is left out. `stream`
gives the same stream chunk by chunk (`compress_stream`), so memory does not grow with the input.
"""

from __future__ import annotations

import bz2
import ctypes
import gzip
import lzma
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

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


def compress_stream(baseline: Baseline, source: BinaryIO, out: BinaryIO, length: int) -> int:
    """Compress the `length` bytes of `source` into `out` in chunks; return the bytes written."""
    stream = baseline.stream(length)
    written = out.write(stream.start)
    while chunk := source.read(STREAM_CHUNK):
        written += out.write(stream.compress(chunk))
    return written + out.write(stream.flush())


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
    )


def _zstd() -> Baseline:
    import zstandard

    return Baseline(
        "zstd -19",
        "Zstandard level 19, content size in the frame header, no checksum",
        f"zstandard {zstandard.__version__} (libzstd {'.'.join(map(str, zstandard.ZSTD_VERSION))})",
        # New (de)compressor objects per call: they are not safe to share between threads.
        lambda data: zstandard.ZstdCompressor(level=19).compress(data),
        lambda data: zstandard.ZstdDecompressor().decompress(data),
        lambda length: _calls(zstandard.ZstdCompressor(level=19).compressobj(size=length)),
    )


def _brotli() -> Baseline:
    import brotli

    def stream(_: int) -> Stream:
        compressor = brotli.Compressor(quality=11, lgwin=24)
        return Stream(compressor.process, compressor.finish)

    return Baseline(
        "brotli -q 11",
        "Brotli quality 11, 16 MB window (lgwin 24, the brotli tool's default)",
        f"brotli {brotli.__version__}",
        lambda data: brotli.compress(data, quality=11, lgwin=24),
        brotli.decompress,
        stream,
    )


PPMD_ORDER = 6
PPMD_MEMORY = 16 << 20


def _ppmd() -> Baseline:
    import pyppmd

    # A PPMd stream does not know its own length: prefix it, as 7-Zip's container does.
    def stream(length: int) -> Stream:
        encoder = pyppmd.Ppmd7Encoder(PPMD_ORDER, PPMD_MEMORY)
        return Stream(encoder.encode, encoder.flush, struct.pack("<Q", length))

    def compress(data: bytes) -> bytes:
        coder = stream(len(data))
        return coder.start + coder.compress(data) + coder.flush()

    def decompress(data: bytes) -> bytes:
        (length,) = struct.unpack_from("<Q", data)
        return pyppmd.Ppmd7Decoder(PPMD_ORDER, PPMD_MEMORY).decode(data[8:], length)

    return Baseline(
        "ppmd -o6",
        f"PPMd variant H, order {PPMD_ORDER}, {PPMD_MEMORY >> 20} MB model memory, 8-byte length prefix",
        f"pyppmd {pyppmd.__version__}",
        compress,
        decompress,
        stream,
    )
