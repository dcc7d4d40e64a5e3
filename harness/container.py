"""The .hz container: a coded stream plus what is needed to decode and check it.

Layout (integers as LEB128 varints unless noted):

    magic  b"\\x89HZ"          3 bytes
    format version            1 byte (3)
    predictor spec            varint length + UTF-8, e.g. "ngram:order=5"
    config check              what the stream depends on (the predictor's config), compactly:
                              a varint count and one byte per key of its `static_config`, a
                              varint count and one byte per other key (each sorted by key;
                              a byte is a hash of key and value), and a 4-byte CRC32 of the
                              whole config as compact JSON
    original length           bytes of the original
    symbol count              symbols coded (differs from the length for tokenizing predictors)
    segment size              symbols per segment; 0: all symbols in one segment
    segments                  each a varint payload length, the range coder's payload for the
                              next (up to) segment-size symbols, and a 4-byte big-endian CRC32
                              of everything coded so far (the original bytes for a byte-level
                              predictor, else the symbols as uint32 little-endian); none for an
                              empty input

Segments are what lets `compress` and `decompress` stream: one predictor instance codes them
all in order (it keeps learning across segment boundaries), but each segment's coder is flushed
on its own (a few bytes per MiB), so neither side holds more than one segment's symbols and
payload, and the writer never seeks (it can write into a pipe). Predictors marked `whole_input`
get one segment.

The config is not stored whole, only checked: a default `ngram` header is 31 bytes. The
per-key bytes let decoding name the keys that differ (with this machine's values), and those of
`static_config` let it do so before the predictor is built.

Decoding rebuilds the predictor from the spec, refuses a config that differs from the recorded
one (naming the keys that differ), checks every length field against the bytes actually left
before reading or allocating anything, checks each segment's CRC as soon as it is decoded (so a
damaged or forged file is found out within one segment, not after decoding all it claims), and
checks the length at the end: a damaged or mismatched file gives an error, never wrong bytes.
Format 2 (the config as JSON, one CRC32 of the original after the segment size, none after the
segments) is still read.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from harness import coder
from harness.errors import CONTROL_CHARACTERS, HarnessError
from harness.predictor import Progress, SequenceCoder, no_progress

MAGIC = b"\x89HZ"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)
SEGMENT_SYMBOLS = 1 << 20
"""Symbols per segment: bounds streaming memory (a few bytes of flush per MiB coded)."""


def segment_coding_bytes(symbols: int) -> int:
    """What coding one segment of `symbols` holds besides the model, for a streaming byte
    predictor's `memory_estimate`: its symbols as bytes and int64, their code lengths, the
    coder's output."""
    segment = min(symbols, SEGMENT_SYMBOLS)
    return coder.encoder_capacity(segment) + 13 * segment


_MAX_VARINT_BYTES = 10
MAX_SYMBOLS_PER_PAYLOAD_BYTE = 1 << 20
"""No predictor codes a symbol in under 2**-20 bytes (2**-17 bits); a larger claimed count is a
corrupt or crafted header, refused before anything is allocated for it."""


@dataclass(frozen=True)
class ConfigCheck:
    """What a format-3 header keeps of a predictor's config: enough to tell whether this machine's
    config is the same, and which keys differ, in a few bytes instead of the JSON."""

    static: bytes
    """One byte per key of `static_config` (sorted): known before the predictor is built."""
    rest: bytes
    """One byte per other key of `config()` (sorted)."""
    crc: int
    """CRC32 of the whole config as compact JSON."""

    @classmethod
    def of(cls, config: dict[str, Any], static_keys: Iterable[str]) -> ConfigCheck:
        static = set(static_keys)
        digests = {key: _digest(key, value) for key, value in config.items()}
        return cls(
            bytes(digests[k] for k in sorted(static & digests.keys())),
            bytes(digests[k] for k in sorted(digests.keys() - static)),
            zlib.crc32(canonical_json(config).encode()),
        )

    def encoded(self) -> bytes:
        return b"".join([varint(len(self.static)), self.static, varint(len(self.rest)), self.rest]) + (
            self.crc.to_bytes(4, "big")
        )


def _digest(key: str, value: Any) -> int:
    """One byte that changes with the key's value (a differing value escapes it 1 time in 256;
    the CRC of the whole config still catches that)."""
    return zlib.crc32(canonical_json({key: value}).encode()) & 0xFF


def _differences(recorded: bytes, config: dict[str, Any], keys: list[str]) -> list[str]:
    """The keys (of `keys`, sorted) whose byte in `recorded` differs, with this machine's values."""
    if len(recorded) != len(keys):
        return [f"{len(recorded)} keys in the file, {len(keys)} here ({', '.join(keys)})"]
    pairs = zip(keys, recorded, strict=True)
    return [f"{key} (here {config[key]!r})" for key, byte in pairs if byte != _digest(key, config[key])]


@dataclass(frozen=True)
class Header:
    spec: str
    config: dict[str, Any] | None
    """Format 2's config as JSON; None in format 3, whose `check` says what it depends on."""
    length: int
    symbols: int
    crc32: int | None
    """Format 2's CRC32 of the original; None in format 3, whose segments carry theirs."""
    payload: bytes = b""
    """The segments, when the whole file was read into memory (`unpack`); empty when the
    caller streams them from the file (`read_header`)."""
    segment: int = 0
    """Symbols per segment; 0: one segment."""
    version: int = FORMAT_VERSION
    check: ConfigCheck | None = None


def varint(value: int) -> bytes:
    """LEB128: 7 bits a byte, low first, the top bit set on all but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class Reader:
    """Reads a container from a stream holding exactly `size` more bytes."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream, self.left = stream, size

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.left:  # checked before reading: a length field never sizes a buffer
            raise HarnessError("not a valid .hz file: truncated")
        chunk = self.stream.read(n)
        if len(chunk) != n:
            raise HarnessError("not a valid .hz file: truncated (the file shrank while reading)")
        self.left -= n
        return chunk

    def varint(self) -> int:
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise HarnessError("not a valid .hz file: malformed length field")

    def text(self) -> str:
        try:
            text = self.take(self.varint()).decode()
        except UnicodeDecodeError:
            raise HarnessError("not a valid .hz file: header text is not UTF-8") from None
        if CONTROL_CHARACTERS.search(text):
            raise HarnessError("not a valid .hz file: header text holds control characters")
        return text


def canonical_json(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def _header_bytes(spec: str, check: ConfigCheck, length: int, symbols: int, segment: int) -> bytes:
    """Everything before the segments."""
    return b"".join(
        [
            MAGIC,
            bytes([FORMAT_VERSION]),
            varint(len(spec.encode())),
            spec.encode(),
            check.encoded(),
            varint(length),
            varint(symbols),
            varint(segment),
        ]
    )


def read_header(stream: BinaryIO, size: int) -> tuple[Header, Reader]:
    """Parse the header of a container of `size` bytes; the reader is left at the segments."""
    reader = Reader(stream, size)
    if reader.take(min(len(MAGIC), size)) != MAGIC:
        raise HarnessError("not a .hz file (bad magic bytes)")
    version = reader.take(1)[0]
    if version not in READABLE_VERSIONS:
        readable = " and ".join(map(str, READABLE_VERSIONS))
        raise HarnessError(f".hz format version {version} is not supported (this harness reads {readable})")
    spec = reader.text()
    config, check = None, None
    if version == 2:
        try:
            config = json.loads(reader.text())
        except (ValueError, RecursionError):  # bad JSON, absurdly long numbers, absurd nesting
            raise HarnessError("not a valid .hz file: corrupt predictor config") from None
        if not isinstance(config, dict):
            raise HarnessError("not a valid .hz file: corrupt predictor config")
    else:
        static, rest = reader.take(reader.varint()), reader.take(reader.varint())
        check = ConfigCheck(static, rest, int.from_bytes(reader.take(4), "big"))
    length, symbols = reader.varint(), reader.varint()
    if symbols > MAX_SYMBOLS_PER_PAYLOAD_BYTE * (reader.left + 16):
        raise HarnessError("not a valid .hz file: symbol count is implausible for the payload size")
    segment = reader.varint()
    crc = int.from_bytes(reader.take(4), "big") if version == 2 else None
    return Header(spec, config, length, symbols, crc, segment=segment, version=version, check=check), reader


def unpack(blob: bytes) -> Header:
    """Parse a container held in memory."""
    header, reader = read_header(io.BytesIO(blob), len(blob))
    return dataclasses.replace(header, payload=reader.take(reader.left))


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


def byte_level(predictor: SequenceCoder | type[SequenceCoder]) -> bool:
    """True when symbols are the bytes themselves, so the input can be cut anywhere."""
    return not predictor.tokenizes


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
    streaming = byte_level(predictor) and not predictor.whole_input
    if streaming:
        count = length
    else:
        data = _read_exactly(source, length)
        whole = predictor.to_symbols(data)
        if not byte_level(predictor) and predictor.from_symbols(whole) != data:
            raise HarnessError(f"predictor {spec!r} tokenizes this input lossily: it would not decode to it")
        count = len(whole)
    expect(count)
    segment = 0 if predictor.whole_input else SEGMENT_SYMBOLS
    check = ConfigCheck.of(predictor.config(), type(predictor).static_config(predictor.settings))
    header = _header_bytes(spec, check, length, count, segment)
    written = out.write(header)
    running = _Check(predictor)
    payload_bytes, ideal_bits, bits = 0, 0.0, []
    for first, n in _segments(count, segment):
        symbols = predictor.to_symbols(_read_exactly(source, n)) if streaming else whole[first : first + n]
        payload, segment_bits = predictor.encode_symbols(symbols, progress)
        written += out.write(varint(len(payload)) + payload + running.after(symbols).to_bytes(4, "big"))
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
        self.bytes, self.crc = byte_level(predictor), 0

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


def config_mismatch(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """None when equal, else a short description of the keys that differ."""
    if recorded == current:
        return None
    keys = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))
    return "; ".join(f"{k}: file has {recorded.get(k)!r}, here {current.get(k)!r}" for k in keys)


def _check_layout(header: Header, cls: type[SequenceCoder]) -> None:
    """Length fields that `cls` could not have written, refused before anything is sized by them
    (one segment of every symbol would have the decoder allocate for all of them at once)."""
    written = header.segment == 0 if cls.whole_input else 1 <= header.segment <= SEGMENT_SYMBOLS
    if not written:
        raise HarnessError(f"not a valid .hz file: segment size {header.segment} is not what {cls.name} writes")
    if byte_level(cls) and header.symbols != header.length:
        raise HarnessError("not a valid .hz file: symbol count differs from the length for a byte predictor")


def setup_mismatch(header: Header, config: dict[str, Any], static_keys: Iterable[str], whole: bool) -> str | None:
    """None when `config` (this machine's, `whole`, or only its `static_config` part) is what the
    header's stream was written with, else the keys that differ."""
    static = sorted(set(static_keys) & config.keys())
    if header.check is None:  # format 2 holds the config itself
        return config_mismatch(header.config if whole else {k: header.config.get(k) for k in static}, config)
    differs = _differences(header.check.static, config, static)
    if whole and not differs:
        differs = _differences(header.check.rest, config, sorted(config.keys() - set(static)))
        if not differs and zlib.crc32(canonical_json(config).encode()) != header.check.crc:
            differs = ["a value whose one-byte digest happens to match (the config's CRC differs)"]
    return "; ".join(differs) or None


def _written_with(
    header: Header, cls: type[SequenceCoder], config: dict[str, Any], static_keys: Iterable[str], whole: bool
) -> str | None:
    """`setup_mismatch` for `config` as this version writes it or as an earlier one did (before
    options `added_later` existed); the mismatch of this version's config when none matches."""
    mismatches = (setup_mismatch(header, earlier, static_keys, whole) for earlier in cls.earlier_configs(config))
    first = next(mismatches)
    return None if first is None or None in mismatches else first


def _refuse_mismatch(mismatch: str | None) -> None:
    if mismatch:
        raise HarnessError(f"cannot decode: the stream was written with another predictor setup (differs: {mismatch})")


def check_header(header: Header, cls: type[SequenceCoder], settings: dict[str, Any]) -> None:
    """Refuse a header that the predictor `cls` with `settings` (from the header's spec) could not
    have written here, before the predictor is built: its layout fields, and every config key
    known without building it (`static_config`)."""
    _check_layout(header, cls)
    static = cls.static_config(settings)
    _refuse_mismatch(_written_with(header, cls, static, static, whole=False))


def decode_stream(
    header: Header, segments: Reader, out: BinaryIO, predictor: SequenceCoder, progress: Progress = no_progress
) -> None:
    """Decode the segments after `header` into `out`, one segment at a time.

    What was written to `out` is only trustworthy once this returns: the length and CRC of the
    whole output are checked last.
    """
    _check_layout(header, type(predictor))
    static = type(predictor).static_config(predictor.settings)
    _refuse_mismatch(_written_with(header, type(predictor), predictor.config(), static, whole=True))
    streaming = byte_level(predictor)
    crc, length, pieces, check = 0, 0, [], _Check(predictor)
    for _, n in _segments(header.symbols, header.segment):
        payload = segments.take(segments.varint())
        if n > MAX_SYMBOLS_PER_PAYLOAD_BYTE * (len(payload) + 16):
            raise HarnessError("not a valid .hz file: symbol count is implausible for the payload size")
        symbols = predictor.decode_symbols(payload, n, progress)
        crc = check.after(symbols)  # of the bytes for a byte-level predictor: format 2's CRC too
        if header.version > 2 and crc != int.from_bytes(segments.take(4), "big"):
            raise HarnessError("decoded data fails its CRC check: the file is corrupt")
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
        raise HarnessError("decoded data fails its length/CRC check: the file is corrupt")


def decode(header: Header, predictor: SequenceCoder, progress: Progress = no_progress) -> bytes:
    """Decode a container parsed by `unpack` with a fresh predictor built from `header.spec`."""
    out = io.BytesIO()
    decode_stream(header, Reader(io.BytesIO(header.payload), len(header.payload)), out, predictor, progress)
    return out.getvalue()
