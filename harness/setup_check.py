"""Whether a .hz header's stream was written by a given predictor setup: a decoder refuses, naming
the keys that differ, before it decodes anything.

The header keeps one byte per config key (a hash of key and value) and a CRC32 of the whole
config (see `harness.wire`). The keys of `static_config` are known before the predictor is built,
so `check_header` refuses most mismatches without building it (loading no model);
`check_predictor` checks the built predictor's whole config before its first segment. A config
as an earlier version wrote it (before options `added_later` existed) is accepted too.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from harness import wire
from harness.errors import HarnessError
from harness.predictor import SequenceCoder


def _differences(recorded: bytes, config: dict[str, Any], keys: list[str]) -> list[str]:
    """The keys (of `keys`, sorted) whose byte in `recorded` differs, with this machine's values."""
    if len(recorded) != len(keys):
        return [f"{len(recorded)} keys in the file, {len(keys)} here ({', '.join(keys)})"]
    pairs = zip(keys, recorded, strict=True)
    return [f"{key} (here {config[key]!r})" for key, byte in pairs if byte != wire.key_digest(key, config[key])]


def config_mismatch(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """None when equal, else a short description of the keys that differ."""
    if recorded == current:
        return None
    keys = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))
    return "; ".join(f"{k}: file has {recorded.get(k)!r}, here {current.get(k)!r}" for k in keys)


def _check_layout(header: wire.Header, cls: type[SequenceCoder]) -> None:
    """Length fields that `cls` could not have written, refused before anything is sized by them
    (one segment of every symbol would have the decoder allocate for all of them at once)."""
    written = header.segment == 0 if cls.whole_input else 1 <= header.segment <= wire.SEGMENT_SYMBOLS
    if not written:
        raise HarnessError(f"not a valid .hz file: segment size {header.segment} is not what {cls.name} writes")
    if wire.byte_level(cls) and header.symbols != header.length:
        raise HarnessError("not a valid .hz file: symbol count differs from the length for a byte predictor")


def setup_mismatch(header: wire.Header, config: dict[str, Any], static_keys: Iterable[str], whole: bool) -> str | None:
    """None when `config` (this machine's, `whole`, or only its `static_config` part) is what the
    header's stream was written with, else the keys that differ."""
    static = sorted(set(static_keys) & config.keys())
    if header.check is None:  # format 2 holds the config itself
        return config_mismatch(header.config if whole else {k: header.config.get(k) for k in static}, config)
    differs = _differences(header.check.static, config, static)
    if whole and not differs:
        differs = _differences(header.check.rest, config, sorted(config.keys() - set(static)))
        if not differs and zlib.crc32(wire.canonical_json(config).encode()) != header.check.crc:
            differs = ["a value whose one-byte digest happens to match (the config's CRC differs)"]
    return "; ".join(differs) or None


def _written_with(
    header: wire.Header, cls: type[SequenceCoder], config: dict[str, Any], static_keys: Iterable[str], whole: bool
) -> str | None:
    """`setup_mismatch` for `config` as this version writes it or as an earlier one did (before
    options `added_later` existed); when none matches, the mismatch of the one with as many keys
    as the file's that differs in the fewest (its keys most likely the file's: it names the values
    that differ), else of this version's."""
    static = set(static_keys)
    configs = list(cls.earlier_configs(config))
    mismatches = [setup_mismatch(header, earlier, static, whole) for earlier in configs]
    if None in mismatches:
        return None
    alike = [m for c, m in zip(configs, mismatches, strict=True) if _same_keys(header, static & c.keys())]
    return min(alike, key=lambda m: m.count("; ")) if alike else mismatches[0]


def _same_keys(header: wire.Header, static: set[str]) -> bool:
    """Whether the header's stream was written with as many static config keys as `static`."""
    recorded = header.config.keys() & static if header.check is None else header.check.static
    return len(recorded) == len(static)


def _refuse_mismatch(mismatch: str | None) -> None:
    if mismatch:
        raise HarnessError(f"cannot decode: the stream was written with another predictor setup (differs: {mismatch})")


def check_header(header: wire.Header, cls: type[SequenceCoder], settings: dict[str, Any]) -> None:
    """Refuse a header that the predictor `cls` with `settings` (from the header's spec) could not
    have written here, before the predictor is built: its layout fields, and every config key
    known without building it (`static_config`)."""
    _check_layout(header, cls)
    static = cls.static_config(settings)
    _refuse_mismatch(_written_with(header, cls, static, static, whole=False))


def check_predictor(header: wire.Header, predictor: SequenceCoder) -> None:
    """Refuse a header that the built `predictor` (its whole config) could not have written here."""
    _check_layout(header, type(predictor))
    static = type(predictor).static_config(predictor.settings)
    _refuse_mismatch(_written_with(header, type(predictor), predictor.config(), static, whole=True))
