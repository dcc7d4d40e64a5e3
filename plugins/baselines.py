"""The classic compressors as reference rows for the leaderboards.

Each compresses a whole file as one stream at its strongest usual setting. gzip, bzip2 and
xz run in-process always; zstandard, brotli and pyppmd are optional libraries, and zpaq (a
context-mixing archiver, the strongest here) an optional command-line tool: a compressor
whose library or tool is missing is left out.
"""

from __future__ import annotations

import bz2
import ctypes
import functools
import gzip
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import harness.baselines
from harness.baselines import Baseline, Stream, reads
from harness.errors import HarnessError
from harness.hookspecs import hookimpl


def standard_baselines() -> list[Baseline]:
    """gzip, bzip2 and xz always; zstd, brotli and ppmd where their library is installed; zpaq
    -m4 and -m5 where the zpaq tool is on PATH."""
    found = [_gzip(), _bzip2(), _xz()]
    for optional in (_zstd, _brotli, _ppmd):
        try:
            found.append(optional())
        except ImportError:
            pass
    if zpaq := shutil.which("zpaq"):
        found += [_zpaq(zpaq, method) for method in ZPAQ_METHODS]
    return found


def _calls(compressor: zlib._Compress | bz2.BZ2Compressor | lzma.LZMACompressor) -> Stream:
    return Stream(compressor.compress, lambda: [compressor.flush()])


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
        lambda _: _calls(zlib.compressobj(9, zlib.DEFLATED, 31)),  # 31: gzip framing, mtime 0
        lambda source: reads(gzip.GzipFile(fileobj=source, mode="rb")),
    )


def _bzip2() -> Baseline:
    import _bz2

    return Baseline(
        "bzip2 -9",
        "Burrows-Wheeler transform, 900 KB blocks",
        f"libbz2 {_c_version(_bz2, 'BZ2_bzlibVersion')}",
        lambda _: _calls(bz2.BZ2Compressor(9)),
        lambda source: reads(bz2.BZ2File(source)),
    )


def _xz() -> Baseline:
    import _lzma

    return Baseline(
        "xz -9e",
        "LZMA2 preset 9 extreme in an xz container (CRC64 check)",
        f"liblzma {_c_version(_lzma, 'lzma_version_string')}",
        lambda _: _calls(lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)),
        lambda source: reads(lzma.LZMAFile(source, format=lzma.FORMAT_XZ)),
    )


def _zstd() -> Baseline:
    import zstandard

    def unstream(source: BinaryIO) -> Iterator[bytes]:
        # The reader ends quietly at the end of a truncated frame: check the size in its header.
        head = source.read(18)  # a frame header is at most 18 bytes
        size = zstandard.get_frame_parameters(head).content_size
        source.seek(-len(head), 1)
        written = 0
        for piece in reads(zstandard.ZstdDecompressor().stream_reader(source, closefd=False)):
            written += len(piece)
            yield piece
        if written != size:
            raise zstandard.ZstdError(f"truncated zstd stream: {written} of {size} bytes")

    return Baseline(
        "zstd -19",
        "Zstandard level 19, content size in the frame header, no checksum",
        f"zstandard {zstandard.__version__} (libzstd {'.'.join(map(str, zstandard.ZSTD_VERSION))})",
        lambda length: _calls(zstandard.ZstdCompressor(level=19).compressobj(size=length)),
        unstream,
    )


def _brotli() -> Baseline:
    import brotli

    def stream(_: int) -> Stream:
        compressor = brotli.Compressor(quality=11, lgwin=24)
        return Stream(compressor.process, lambda: [compressor.finish()])

    def unstream(source: BinaryIO) -> Iterator[bytes]:
        decompressor = brotli.Decompressor()
        while not decompressor.is_finished():
            # New input only once the last was used up; the output limit is approximate (up to 2x).
            chunk = source.read(harness.baselines.STREAM_CHUNK) if decompressor.can_accept_more_data() else b""
            piece = decompressor.process(chunk, output_buffer_limit=harness.baselines.STREAM_CHUNK)
            if not chunk and not piece:
                raise brotli.error("truncated brotli stream")
            yield piece

    return Baseline(
        "brotli -q 11",
        "Brotli quality 11, 16 MB window (lgwin 24, the brotli tool's default)",
        f"brotli {brotli.__version__}",
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


def _ppmd_block(pyppmd: Any, code: bytes, n: int) -> bytes:
    """The `n` bytes a block's `code` holds. pyppmd's decoder must never run out of input: one
    left waiting for more reads freed memory later (a segfault in a later test, after a truncated
    stream). So the code is followed by zeros, more than a decoder reading garbage takes for `n`
    bytes (about 1.1 a byte measured), and a decoder that read into them had a truncated block."""
    decoder = pyppmd.Ppmd7Decoder(PPMD_ORDER, PPMD_MEMORY)
    padding = 2 * n + (1 << 16)
    block = decoder.decode(code + bytes(padding), n)
    if len(block) != n or len(decoder.unused_data) < padding:
        raise ValueError("corrupt or truncated ppmd stream")
    return block


def _ppmd() -> Baseline:
    import pyppmd

    # A PPMd stream does not know its own length: prefix it, as 7-Zip's container does.
    def stream(length: int) -> Stream:
        writer = _PpmdWriter(pyppmd, length)
        return Stream(writer.compress, lambda: [writer.flush()], struct.pack("<Q", length))

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
            yield _ppmd_block(pyppmd, code, n)
            left -= n

    return Baseline(
        "ppmd -o6",
        f"PPMd variant H, order {PPMD_ORDER}, {PPMD_MEMORY >> 20} MB model memory, 8-byte length prefix, "
        f"a fresh model every {PPMD_BLOCK >> 20} MiB",
        f"pyppmd {pyppmd.__version__}, {PPMD_BLOCK >> 20} MiB blocks",
        stream,
        unstream,
    )


ZPAQ_SECONDS = 60
ZPAQ_SECONDS_PER_MB = 30
"""Time allowed for one zpaq run: a minute, plus this per MB it (de)compresses, so that a hung
tool cannot stall a run for good. zpaq -m5 took about 6 s per MB on a busy 2-core machine."""
ZPAQ_TIME = 946_684_800
"""2000-01-01 00:00 UTC: the date given to the file and to the archive's version, so that the
archive's bytes do not depend on when it was made."""
ZPAQ_METHODS = {
    4: "LZ77, BWT or context mixing, as zpaq's analysis of each block picks",
    5: "context mixing, zpaq's strongest",
}
_ZPAQ_QUIET = re.compile(r"|[\d.]+ \+ \(.*\) = [\d.]+ MB|[\d.]+ seconds \(all OK\)")
"""zpaq's stderr lines on success. Any other line is a complaint: even on a damaged archive
("Skipping block at 0: bad checksum") zpaq may exit 0 having extracted what it could."""
_ZPAQ_LISTED = re.compile(r"^- \S+ \S+ +(\d+) +data$", re.MULTILINE)
"""The file `data` and its size in `zpaq l`'s listing."""


@functools.cache
def _zpaq_version(zpaq: str) -> str:
    try:  # the banner leads its usage text: "zpaq v7.15 journaling archiver, compiled ..."
        banner = subprocess.run([zpaq], capture_output=True, errors="replace", timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.match(r"zpaq v\S+", banner)
    return found[0] if found else "unknown"


def _zpaq_run(zpaq: str, args: list[str], cwd: str, size: int) -> str:
    """Run `zpaq ARGS` in the private directory `cwd`, allowing time for `size` bytes; its
    stdout. A missing tool, a time out, a non-zero exit or a complaint is a HarnessError."""
    seconds = ZPAQ_SECONDS + ZPAQ_SECONDS_PER_MB * size / 1e6
    try:
        done = subprocess.run(
            [zpaq, *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, errors="replace", timeout=seconds
        )
    except OSError as error:
        raise HarnessError(f"zpaq {args[0]} failed: {error}") from None
    except subprocess.TimeoutExpired:
        raise HarnessError(f"zpaq {args[0]} failed: no result after {seconds:.0f} s") from None
    complaints = [line for line in done.stderr.splitlines() if not _ZPAQ_QUIET.fullmatch(line)]
    if done.returncode or complaints:
        reason = complaints[0] if complaints else f"exit status {done.returncode}"
        raise HarnessError(f"zpaq {args[0]} failed: {reason}")
    return done.stdout


def _zpaq(zpaq: str, method: int) -> Baseline:
    # zpaq archives files by name: each run gets a private directory, where the input is the
    # file `data` (the same name whatever the input's path) and nothing of the user's is in reach.
    def stream(length: int) -> Stream:
        work = tempfile.TemporaryDirectory(prefix="harness-zpaq-")
        data = open(Path(work.name, "data"), "wb")

        def compress(chunk: bytes) -> bytes:
            data.write(chunk)
            return b""

        def flush() -> Iterator[bytes]:
            with work:
                data.close()
                os.utime(data.name, (ZPAQ_TIME, ZPAQ_TIME))
                date = time.strftime("%Y-%m-%d", time.gmtime(ZPAQ_TIME))
                # -noattributes: nor do the file's permissions change the archive.
                args = ["a", "archive.zpaq", "data", f"-m{method}", "-noattributes", "-until", date]
                _zpaq_run(zpaq, args, work.name, length)
                yield from reads(open(Path(work.name, "archive.zpaq"), "rb"))

        return Stream(compress, flush)

    def unstream(source: BinaryIO) -> Iterator[bytes]:
        with tempfile.TemporaryDirectory(prefix="harness-zpaq-") as work:
            with open(Path(work, "archive.zpaq"), "wb") as archive:
                shutil.copyfileobj(source, archive, harness.baselines.STREAM_CHUNK)
                size = archive.tell()
            # The size it holds, for the time limit of extracting it; "data" alone is extracted,
            # so a damaged archive's other names (absolute, ../) are never written.
            listed = _ZPAQ_LISTED.search(_zpaq_run(zpaq, ["l", "archive.zpaq"], work, size))
            if not listed:
                raise HarnessError("no file 'data' in the zpaq archive")
            _zpaq_run(zpaq, ["x", "archive.zpaq", "data"], work, int(listed[1]))
            if not Path(work, "data").is_file():
                raise HarnessError("zpaq x extracted no file 'data'")
            yield from reads(open(Path(work, "data"), "rb"))

    return Baseline(
        f"zpaq -m{method}",
        f"zpaq method {method} ({ZPAQ_METHODS[method]}), 64 MB blocks, by the zpaq tool on the file 'data' in a "
        "private directory; the size is the whole archive (journal header, file name, dates, the model's "
        "description in each block); the peak memory includes the tool (sampled every 10 ms)",
        _zpaq_version(zpaq),
        stream,
        unstream,
    )


@hookimpl
def harness_baselines() -> list[Baseline]:
    return standard_baselines()
