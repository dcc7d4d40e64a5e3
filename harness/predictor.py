"""The predictor contract: what a plugin implements to be benchmarked.

A predictor is a deterministic state machine over an alphabet of `alphabet_size` symbols
(bytes 0..255 unless it tokenizes). `predict()` gives the distribution of the next symbol,
`update(symbol)` tells it the symbol that actually came (online learners train here). The
encoder and the decoder each build a fresh instance from the same spec and feed it the same
symbols, so they see bit-identical distributions as long as `predict` depends on nothing but
the options and the symbols seen so far. The harness turns the probabilities into integer
frequencies (in float64, in one shared place, `harness.coder.quantize`), never the predictor.

Everything that determines the stream (options, library versions, devices) belongs in
`config()`: the container records it and decoding refuses a mismatch.

A predictor may override `encode_symbols`/`decode_symbols` with a compiled loop that calls the
same coder kernels (see plugins/ngram.py); it must produce the very bits the default loop would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from harness import coder
from harness.errors import HarnessError

Progress = Callable[[int], None]
"""Called with the number of symbols just done, so long runs can show progress."""


def no_progress(_: int) -> None:
    pass


class Predictor:
    """Base class of every predictor. Subclasses set `name`, `description`, `options`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    """Option names and defaults; a spec's values are parsed to the default's type."""
    version: ClassVar[int] = 1
    """Bump when the same options would give different bits, so old files are refused."""
    positional: ClassVar[str] = ""
    """The option a bare first value sets, as in 'hf:gpt2' for 'hf:model=gpt2'; "" for none."""
    test_options: ClassVar[dict[str, Any]] = {}
    """Options that make the predictor small and fast for `harness.conformance` (a tiny model)."""
    whole_input: ClassVar[bool] = False
    """True when encode_symbols must see all symbols in one call (it lays them out itself).
    Otherwise the container codes large inputs in segments, calling encode_symbols once per
    segment on the same instance, which must go on from where the previous call stopped."""

    alphabet_size: int = 256
    params: int = 0
    """Number of model parameters."""
    model_bytes: int = 0
    """Bytes the decoder needs besides this code: 0 for a model trained while coding."""
    flops_per_symbol: float = 0.0
    """Estimated floating-point operations per coded symbol (prediction plus learning)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = {**self.options, **settings}

    def config(self) -> dict[str, Any]:
        """Everything the coded stream depends on. Extend it with versions and devices."""
        return {"predictor": self.name, "version": self.version, **self.settings}

    def fingerprint(self) -> str:
        text = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def predict(self) -> np.ndarray:
        """Probabilities (float64, length alphabet_size) of the next symbol."""
        raise NotImplementedError

    def update(self, symbol: int) -> None:
        """Learn that `symbol` came next."""
        raise NotImplementedError

    def to_symbols(self, data: bytes) -> np.ndarray:
        """The symbols that code `data`; bytes themselves unless the predictor tokenizes."""
        return np.frombuffer(data, dtype=np.uint8)

    def from_symbols(self, symbols: np.ndarray) -> bytes:
        """Inverse of `to_symbols`."""
        return np.asarray(symbols, dtype=np.uint8).tobytes()

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        """Code `symbols`; return the payload and each symbol's ideal code length in bits."""
        encoder = coder.Encoder(self.alphabet_size)
        bits = np.zeros(len(symbols), dtype=np.float32)
        for i, symbol in enumerate(symbols.tolist()):
            before = encoder.ideal_bits
            encoder.encode(symbol, self.predict())
            bits[i] = encoder.ideal_bits - before
            self.update(symbol)
            progress(1)
        return encoder.finish(), bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        """Decode `count` symbols from a payload written by `encode_symbols`."""
        decoder = coder.Decoder(payload, self.alphabet_size)
        symbols = np.zeros(count, dtype=np.int64)
        for i in range(count):
            symbol = decoder.decode(self.predict())
            symbols[i] = symbol
            self.update(symbol)
            progress(1)
        return symbols


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split 'name:key=value,key=value' into the name and raw option strings."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise HarnessError(f"empty predictor name in spec {spec!r}")
    raw: dict[str, str] = {}
    for i, item in enumerate(filter(None, (part.strip() for part in rest.split(",")))):
        key, sep, value = item.partition("=")
        if not sep and i == 0:
            raw[""] = item  # the predictor's positional option, resolved by `typed_options`
            continue
        if not sep or not key.strip():
            raise HarnessError(f"bad option {item!r} in spec {spec!r}: expected key=value")
        raw[key.strip()] = value.strip()
    return name, raw


def typed_options(cls: type[Predictor], raw: dict[str, str]) -> dict[str, Any]:
    """Parse raw option strings to the types of `cls.options`' defaults."""
    typed: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "":
            if not cls.positional:
                raise HarnessError(f"predictor {cls.name!r} takes no bare value {value!r}: expected key=value")
            key = cls.positional
        if key not in cls.options:
            known = ", ".join(sorted(cls.options)) or "none"
            raise HarnessError(f"predictor {cls.name!r} has no option {key!r} (options: {known})")
        default = cls.options[key]
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                typed[key] = value.lower() in ("true", "1", "yes")
            elif default is None:
                typed[key] = value
            else:
                typed[key] = type(default)(value)
        except ValueError:
            kind = type(default).__name__
            raise HarnessError(f"option {key}={value!r} of {cls.name!r} must be {kind}") from None
    return typed


def definition(name: str, version: int, settings: dict[str, Any]) -> str:
    """What a predictor's results mean besides the data: name, version and every option value,
    defaults included, so that a changed default or a new version never reuses an old result."""
    return f"{name}@{version}:" + json.dumps(settings, sort_keys=True, separators=(",", ":"))


def canonical_spec(name: str, settings: dict[str, Any], cls: type[Predictor]) -> str:
    """'name:key=value,...' listing only options that differ from their defaults, sorted."""
    changed = {k: v for k, v in sorted(settings.items()) if cls.options.get(k) != v}
    if not changed:
        return name
    items = [f"{k}={v}" for k, v in changed.items() if k != cls.positional]
    if cls.positional in changed:
        items.insert(0, str(changed[cls.positional]))
    return name + ":" + ",".join(items)
