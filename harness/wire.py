"""The .hz wire format: how a container's bytes are laid out, written and parsed.

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

The config is not stored whole, only checked: a default `ngram` header is 31 bytes. The
per-key bytes let decoding name the keys that differ (with this machine's values), and those of
`static_config` let it do so before the predictor is built.

Format 2 (the config as JSON, one CRC32 of the original after the segment size, none after the
segments) is still read.

"""

from __future__ import annotations

import dataclasses
import io
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from harness.errors import CONTROL_CHARACTERS, HarnessError
from harness.predictor import SequenceCoder

MAGIC = b"\x89HZ"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)
SEGMENT_SYMBOLS = 1 << 20
"""Symbols per segment: bounds streaming memory (a few bytes of flush per MiB coded)."""

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
        digests = {key: key_digest(key, value) for key, value in config.items()}
        return cls(
            bytes(digests[k] for k in sorted(static & digests.keys())),
            bytes(digests[k] for k in sorted(digests.keys() - static)),
            zlib.crc32(canonical_json(config).encode()),
        )

    def encoded(self) -> bytes:
        return b"".join([varint(len(self.static)), self.static, varint(len(self.rest)), self.rest]) + (
            self.crc.to_bytes(4, "big")
        )


def key_digest(key: str, value: Any) -> int:
    """One byte that changes with the key's value (a differing value escapes it 1 time in 256;
    the CRC of the whole config still catches that)."""
    return zlib.crc32(canonical_json({key: value}).encode()) & 0xFF


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


def header_bytes(spec: str, check: ConfigCheck, length: int, symbols: int, segment: int) -> bytes:
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


def byte_level(predictor: SequenceCoder | type[SequenceCoder]) -> bool:
    """True when symbols are the bytes themselves, so the input can be cut anywhere."""
    return not predictor.tokenizes
