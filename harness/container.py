"""The .hz container: a coded stream plus what is needed to decode and check it.

Layout (integers as LEB128 varints unless noted):

    magic  b"\\x89HZ"          3 bytes
    format version            1 byte
    predictor spec            varint length + UTF-8, e.g. "ngram:order=5"
    predictor config          varint length + compact JSON: everything the stream depends on
    original length           bytes of the original
    symbol count              symbols coded (differs from the length for tokenizing predictors)
    crc32 of the original     4 bytes, big-endian
    payload length            then the range coder's payload

Decoding rebuilds the predictor from the spec, refuses a config that differs from the recorded
one (naming the keys that differ), and checks length and CRC of what it decoded, so a damaged
or mismatched file gives an error, never wrong bytes.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.predictor import Predictor, Progress, no_progress

MAGIC = b"\x89HZ"
FORMAT_VERSION = 1
_MAX_VARINT_BYTES = 10
MAX_SYMBOLS_PER_PAYLOAD_BYTE = 1 << 20
"""No predictor codes a symbol in under 2**-20 bytes (2**-17 bits); a larger claimed count is a
corrupt or crafted header, refused before anything is allocated for it."""


@dataclass(frozen=True)
class Header:
    spec: str
    config: dict[str, Any]
    length: int
    symbols: int
    crc32: int
    payload: bytes


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Reader:
    def __init__(self, blob: bytes) -> None:
        self.blob, self.pos = blob, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.blob):
            raise HarnessError("not a valid .hz file: truncated header")
        chunk = self.blob[self.pos : self.pos + n]
        self.pos += n
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
            return self.take(self.varint()).decode()
        except UnicodeDecodeError:
            raise HarnessError("not a valid .hz file: header text is not UTF-8") from None


def canonical_json(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def pack(spec: str, config: dict[str, Any], original: bytes, symbols: int, payload: bytes) -> bytes:
    return b"".join(
        [
            MAGIC,
            bytes([FORMAT_VERSION]),
            _varint(len(spec.encode())),
            spec.encode(),
            _varint(len(canonical_json(config).encode())),
            canonical_json(config).encode(),
            _varint(len(original)),
            _varint(symbols),
            zlib.crc32(original).to_bytes(4, "big"),
            _varint(len(payload)),
            payload,
        ]
    )


def unpack(blob: bytes) -> Header:
    reader = _Reader(blob)
    if blob[: len(MAGIC)] != MAGIC:
        raise HarnessError("not a .hz file (bad magic bytes)")
    reader.take(len(MAGIC))
    version = reader.take(1)[0]
    if version != FORMAT_VERSION:
        raise HarnessError(f".hz format version {version} is not supported (this harness reads {FORMAT_VERSION})")
    spec = reader.text()
    try:
        config = json.loads(reader.text())
    except json.JSONDecodeError:
        raise HarnessError("not a valid .hz file: corrupt predictor config") from None
    if not isinstance(config, dict):
        raise HarnessError("not a valid .hz file: corrupt predictor config")
    length, symbols = reader.varint(), reader.varint()
    crc = int.from_bytes(reader.take(4), "big")
    payload_length = reader.varint()
    payload = reader.take(payload_length)
    if reader.pos != len(blob):
        raise HarnessError(f"not a valid .hz file: {len(blob) - reader.pos} unexpected bytes after the payload")
    if symbols > MAX_SYMBOLS_PER_PAYLOAD_BYTE * (payload_length + 16):
        raise HarnessError("not a valid .hz file: symbol count is implausible for the payload size")
    return Header(spec, config, length, symbols, crc, payload)


@dataclass(frozen=True)
class Encoded:
    container: bytes
    payload_bytes: int
    symbols: int
    symbol_bits: np.ndarray
    """Ideal code length of each symbol in bits: the online loss curve."""


def encode(
    data: bytes,
    spec: str,
    predictor: Predictor,
    progress: Progress = no_progress,
    expect: Progress = no_progress,
) -> Encoded:
    """Code `data`; `expect` is told the symbol count before coding starts (for progress bars)."""
    symbols = predictor.to_symbols(data)
    expect(len(symbols))
    payload, bits = predictor.encode_symbols(symbols, progress)
    return Encoded(pack(spec, predictor.config(), data, len(symbols), payload), len(payload), len(symbols), bits)


def config_mismatch(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """None when equal, else a short description of the keys that differ."""
    if recorded == current:
        return None
    keys = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))
    return "; ".join(f"{k}: file has {recorded.get(k)!r}, here {current.get(k)!r}" for k in keys)


def decode(header: Header, predictor: Predictor, progress: Progress = no_progress) -> bytes:
    """Decode a parsed container with a fresh predictor built from `header.spec`."""
    mismatch = config_mismatch(header.config, predictor.config())
    if mismatch:
        raise HarnessError(f"cannot decode: the stream was written with another predictor setup ({mismatch})")
    symbols = predictor.decode_symbols(header.payload, header.symbols, progress)
    data = predictor.from_symbols(symbols)
    if len(data) != header.length or zlib.crc32(data) != header.crc32:
        raise HarnessError("decoded data fails its length/CRC check: the file is corrupt")
    return data
