"""The result record: one measurement of a predictor or a baseline on one corpus file.

This is the one schema of a results store. `measure` builds records, `results` appends and
reads them, and every reader (leaderboards, sweeps, curves, publishing, the tests) gets
`Record`s, never raw JSON. A stored line is untrusted input (hand-edited, copied, written by
another version or program): `from_json` upgrades an older record through `migrate`, the one
place that knows old layouts, then checks every field it keeps against its declared kind.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import CONTROL_CHARACTERS

RECORD_VERSION = 2
"""2: `peak_memory_bytes` is the measurement's own memory (version 1, with no `record_version`,
had `peak_rss_bytes`, the whole harness process's, imports included: dropped when read)."""
LARGEST_INTEGER = 2**53
"""Integers above float64's exact range are refused: pandas sums them into int64 columns."""


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= LARGEST_INTEGER


def _amount(value: Any) -> bool:
    return _count(value) or (type(value) is float and 0 <= value < math.inf)  # NaN fails both comparisons


def _number(value: Any) -> bool:
    return (type(value) is int and abs(value) <= LARGEST_INTEGER) or (type(value) is float and math.isfinite(value))


def _text(value: Any) -> bool:
    return isinstance(value, str) and not CONTROL_CHARACTERS.search(value)


Check = tuple[Callable[[Any], bool], str]
NAME: Check = (lambda v: _text(v) and v != "", "a non-empty string without control characters")
TEXT: Check = (_text, "a string without control characters")
COUNT: Check = (_count, "an integer from 0 to 2**53")
SIZE: Check = (lambda v: _count(v) and v > 0, "an integer from 1 to 2**53 (an empty input has no bits/byte)")
AMOUNT: Check = (_amount, "a finite number >= 0")
NUMBER: Check = (_number, "a finite number")
FLAG: Check = (lambda v: type(v) is bool, "a JSON boolean")
KIND: Check = (lambda v: v in ("predictor", "baseline"), "'predictor' or 'baseline'")
OBJECT: Check = (lambda v: isinstance(v, dict), "an object")
VERSIONS: Check = (
    lambda v: isinstance(v, dict) and all(_text(k) and k != "" and _count(n) for k, n in v.items()),
    "an object of predictor names and their versions",
)
NUMERIC = (COUNT, SIZE, AMOUNT, NUMBER)


def _required(check: Check) -> Any:
    return field(metadata={"check": check})


def _optional(check: Check, added_later: bool = False) -> Any:
    """An optional field; `added_later`: left out of a stored line while None, so that records
    written before it existed are stored (and published) byte for byte as they were."""
    return field(default=None, metadata={"check": check, "added_later": added_later})


@dataclass(frozen=True)
class Record:
    """One measurement. The required fields are what every reader relies on; the others may be
    None (unknown, or not measured: a baseline has no params)."""

    kind: str = _required(KIND)
    predictor: str = _required(NAME)
    """The predictor's registered name, or the baseline's."""
    spec: str = _required(NAME)
    """Canonical spec: name and the options that differ from the defaults."""
    corpus: str = _required(NAME)
    timestamp: str = _required(TEXT)
    verified: bool = _required(FLAG)
    """The decoded bytes equal the original, byte for byte."""
    raw_bytes: int = _required(SIZE)
    compressed_bytes: int = _required(COUNT)
    bits_per_byte: float = _required(AMOUNT)

    record_version: int | None = _optional(COUNT)
    corpus_sha256: str | None = _optional(TEXT)
    max_bytes: int | None = _optional(COUNT)
    """Set for a run on the first `max_bytes` bytes only: kept apart from whole files."""
    predictor_version: int | None = _optional(COUNT)
    baseline_version: str | None = _optional(TEXT)
    member_versions: dict | None = _optional(VERSIONS, added_later=True)
    """A mix's members' versions by name ({'hf': 5, 'cm': 9}): the mix's own version says nothing
    of theirs, and the same spec with a newer member is another model."""
    settings: dict | None = _optional(OBJECT)
    """Every option, defaults included: what the spec meant when it ran."""
    fingerprint: str | None = _optional(TEXT)
    ratio: float | None = _optional(AMOUNT)
    adjusted_ratio: float | None = _optional(AMOUNT)
    """raw / (compressed + model bytes): a model that must be shipped counts against it."""
    payload_bytes: int | None = _optional(COUNT)
    header_bytes: int | None = _optional(COUNT)
    symbols: int | None = _optional(COUNT)
    ideal_bits: float | None = _optional(AMOUNT)
    coder_overhead_bits: float | None = _optional(NUMBER)
    curve: str | None = _optional(TEXT)
    """The loss curve's file, relative to the store's folder."""
    params: float | None = _optional(AMOUNT)
    model_bytes: float | None = _optional(AMOUNT)
    flops_per_byte: float | None = _optional(AMOUNT)
    encode_seconds: float | None = _optional(AMOUNT)
    decode_seconds: float | None = _optional(AMOUNT)
    compile_seconds: float | None = _optional(AMOUNT, added_later=True)
    """Compiling kernels (numba) or loading them from their cache, both ways: once per process,
    so it is left out of encode_seconds and decode_seconds, as building the model is."""
    peak_memory_bytes: float | None = _optional(AMOUNT)
    """The memory the measurement added to the harness process (see `measure.peak_rss`)."""
    entropy_bits: float | None = _optional(AMOUNT)
    entropy_bits_per_byte: float | None = _optional(AMOUNT)
    harness_version: str | None = _optional(TEXT)
    git_commit: str | None = _optional(TEXT)
    python: str | None = _optional(TEXT)
    torch: str | None = _optional(TEXT)
    numpy: str | None = _optional(TEXT)
    numba: str | None = _optional(TEXT)
    machine: str | None = _optional(TEXT)
    cpu: str | None = _optional(TEXT)
    cpu_count: int | None = _optional(COUNT)

    curve_bits: np.ndarray | None = field(default=None, repr=False, compare=False, metadata={"stored": False})
    """The loss curve itself, until the store that appends the record saves it as `curve`."""

    def to_json(self) -> dict[str, Any]:
        """The stored fields, as a JSON object."""
        values = {f.name: getattr(self, f.name) for f in STORED}
        return {k: v for k, v in values.items() if v is not None or not _ADDED_LATER.get(k)}

    def replace(self, **changes: Any) -> Record:
        return dataclasses.replace(self, **changes)


STORED = tuple(f for f in dataclasses.fields(Record) if f.metadata.get("stored", True))
_ADDED_LATER = {f.name: f.metadata.get("added_later", False) for f in STORED}
REQUIRED = tuple(f.name for f in STORED if f.default is dataclasses.MISSING)
NUMBERS = tuple(f.name for f in STORED if f.metadata["check"] in NUMERIC)
"""The numeric fields, for readers that put records in columns."""
NEEDS = {"settings": ("predictor_version",), "curve": ("symbols", "payload_bytes")}
"""Fields that the reuse check (settings) and the loss-curve chart (curve) use together."""


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A stored record of any version, in this version's layout; ValueError for a newer one."""
    version = data.get("record_version") or 1
    if not _count(version):
        raise ValueError(f"record_version is {shown(version)}, not {COUNT[1]}")
    if version > RECORD_VERSION:
        raise ValueError(f"record version {version}, newer than this harness reads ({RECORD_VERSION}): upgrade it")
    if version == 1:  # its peak was the whole process's: not the measurement's memory
        data = {key: value for key, value in data.items() if key != "peak_rss_bytes"}
    return {**data, "record_version": RECORD_VERSION}


def problem(data: dict[str, Any]) -> str | None:
    """Why `data` (in this version's layout) is not a usable record (the first wrong field), or None."""
    for f in STORED:
        value = data.get(f.name)
        if value is None and f.name not in REQUIRED:
            continue
        if value is None:
            return f"no {f.name}" if f.name not in data else f"{f.name} is null, not {f.metadata['check'][1]}"
        valid, meant = f.metadata["check"]
        if not valid(value):
            return f"{f.name} is {shown(value)}, not {meant}"
        for needed in NEEDS.get(f.name, ()):
            if data.get(needed) is None:
                return f"{f.name} without {needed}"
    return None


def from_json(data: Any) -> Record:
    """The record a stored JSON value holds, migrated and checked; ValueError says why not.
    Fields this version does not know are dropped."""
    if not isinstance(data, dict):
        raise ValueError(f"{shown(data)}, not a JSON object")
    data = migrate(data)
    if reason := problem(data):
        raise ValueError(reason)
    return Record(**{f.name: data.get(f.name) for f in STORED})


def shown(value: Any) -> str:
    """A short, safe rendering of an untrusted value for a message."""
    if isinstance(value, (dict, list)):  # not dumped: it may be nested as deeply as json allows
        return "a JSON object" if isinstance(value, dict) else "a JSON array"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def newest_versions(records: Iterable[Record]) -> dict[str, int]:
    """Each predictor's newest version among `records`, a mix's members' versions counted."""
    newest: dict[str, int] = {}
    for r in records:
        for name, version in [(r.predictor, r.predictor_version), *(r.member_versions or {}).items()]:
            if version is not None and version > newest.get(name, -1):
                newest[name] = version
    return newest


def older_members(r: Record, newest: dict[str, int]) -> list[str]:
    """A mix's members that `r` measured at an older version than the newest ('cm-v8'). A mix
    measured before member versions were stored has none: nothing in it says otherwise."""
    members = sorted((r.member_versions or {}).items())
    return [f"{name}-v{version}" for name, version in members if version < newest.get(name, version)]
