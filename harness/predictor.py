"""The predictor contract: what a plugin implements to be benchmarked. It has two levels.

`Predictor` is a step predictor, a deterministic state machine over an alphabet of
`alphabet_size` symbols (bytes 0..255 unless it tokenizes): `predict()` gives the distribution
of the next symbol, `update(symbol)` tells it the symbol that actually came (online learners
train here). The encoder and the decoder each build a fresh instance from the same spec and
feed it the same symbols, so they see bit-identical distributions as long as `predict` depends
on nothing but the options and the symbols seen so far. The harness turns the probabilities
into integer frequencies (in float64, in one shared place, `harness.coder.quantize`), never the
predictor. A predictor may override `encode_symbols`/`decode_symbols` with a compiled loop that
calls the same coder kernels (see plugins/ngram.py); it must write the very bits the default
loop over predict/update would.

`SequenceCoder` is what the container takes: anything that codes a sequence of symbols with the
shared coder (`encode_symbols`/`decode_symbols`), and declares how: `whole_input` (it needs all
the symbols in one call), `tokenizes` (its symbols are not the bytes: `to_symbols` and
`from_symbols`), `coding_order` (the order it codes symbols in, when not the input's). Models
that code many streams in lockstep (the online lstm/gpt, batched pretrained models) are
sequence coders: they have no single next-symbol distribution to give. Every `Predictor` is a
`SequenceCoder`.

Everything that determines the stream (options, library versions, devices) belongs in
`config()`: the container records it and decoding refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Protocol

import numpy as np

from harness import coder
from harness.errors import CONTROL_CHARACTERS, HarnessError

Progress = Callable[[int], None]
"""Called with the number of symbols just done, so long runs can show progress."""

SYMBOL_BYTES = 16
"""What a predictor that codes its whole input at once holds per symbol, besides its model: the
symbol (int64) and its code length (float64); its `memory_estimate` counts them."""

# order0 at 1 MiB, numba's share (benchmarks/memory_online.py): 125 MiB here with the cache
# warm, 130 with NUMBA_CACHE_DIR a new folder (importing numba alone: 55), about 146 on CI's machine.
COMPILE_BYTES = 256 << 20
"""What numba takes in a process that codes: importing it, and compiling the coder's and the
predictors' kernels (LLVM's own memory) or loading them from the cache. Once per process,
whatever the predictors, so `memory_need` adds it rather than each `memory_estimate`."""


def no_progress(_: int) -> None:
    pass


@dataclass(frozen=True)
class Option:
    """A declared option: its default (whose type is the option's type), what it does, and the
    values it accepts. Settings are checked against it in one place, `check_settings`, before
    anything is built, so a spec (typed by a user or read from an untrusted file) can never ask
    for an absurd model."""

    default: bool | int | float | str | None
    help: str = ""
    low: float | None = None
    """Smallest accepted value (numbers), inclusive."""
    high: float | None = None
    """Largest accepted value (numbers), inclusive."""
    choices: tuple[Any, ...] = ()
    pattern: str = ""
    """A regular expression a string value must match whole."""
    added_later: bool = False
    """Added after files were written with its predictor's `version`: their configs lack it, so
    at its default (what they were written with) a file's config may leave it out."""

    def describe(self) -> str:
        """The accepted values in words, for help and errors."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        kind = "string" if self.default is None else type(self.default).__name__
        low, high = (_number(bound) for bound in (self.low, self.high))
        if self.low is not None and self.high is not None:
            return f"{kind} in {low}..{high}"
        if self.low is not None:
            return f"{kind} >= {low}"
        if self.high is not None:
            return f"{kind} <= {high}"
        return kind


def _number(value: float | None) -> str:
    """A bound as a reader expects it: 4294967295, not 4.29497e+09; 1e-09 stays short."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_LARGEST_INT = 2**63 - 1
"""No option may exceed what int64 arrays and JSON readers hold exactly."""


class SequenceCoder(ABC):
    """What the container codes with. Subclasses set `name`, `description`, `options` and
    implement `encode_symbols`/`decode_symbols`; a step model subclasses `Predictor` instead."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[dict[str, Option | Any]] = {}
    """Option names and their declared `Option`s (a bare value is an option with that default
    and no bounds); a spec's values are parsed to the default's type and checked."""
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
    tokenizes: ClassVar[bool] = False
    """True when symbols are not the bytes (`to_symbols`/`from_symbols` are overridden): then
    the container tokenizes the whole input and checks that it decodes back."""
    lockstep: ClassVar[bool] = False
    """True when it codes the input as streams in lockstep and lets others code each step: it
    is a `Lockstep` (the online lstm/gpt; `mix` runs its mixture inside that loop)."""
    bitwise: ClassVar[bool] = False
    """True when it codes each byte as 8 binary decisions with a model `mix` can run bit by bit:
    it is a `Bitwise` (cm)."""

    alphabet_size: int = 256
    params: int = 0
    """Number of model parameters."""
    model_bytes: int = 0
    """Bytes the decoder needs besides this code: 0 for a model trained while coding."""
    flops_per_symbol: float = 0.0
    """Estimated floating-point operations per coded symbol (prediction plus learning)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = {**defaults(type(self)), **settings}
        check_settings(type(self), self.settings)

    @classmethod
    def member_versions(cls, settings: dict[str, Any]) -> dict[str, int] | None:
        """The versions of the predictors this one is made of, by name (a mix's members), known
        from `settings` alone; None for a predictor made of none."""
        return None

    @classmethod
    def static_config(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """What `config()` of an instance built with `settings` reports, as far as it is known
        without building it (no weights loaded, nothing allocated): decoding compares it with the
        file's config first, so a mismatched or hostile file is refused before it costs anything."""
        return {"predictor": cls.name, "version": cls.version, **cls.portable(settings)}

    @classmethod
    def portable(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """`settings` as a `.hz` header and `config()` record them: nothing that depends on where
        things sit on this machine (a local model is named, its checksum identifies it)."""
        return settings

    @classmethod
    def local_models(cls, settings: dict[str, Any]) -> tuple[str, ...]:
        """The local models (folders or files) `settings` load, as written: what a decoder of
        the stream they write may load again, as `harness decompress --model` allows what its
        user names. By default the values `portable` rewrites."""
        portable = cls.portable(settings)
        return tuple(str(value) for key, value in settings.items() if portable.get(key) != value)

    @classmethod
    def earlier_configs(cls, config: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """`config`, then as files written before some of the options `added_later` existed hold
        it: without each combination of those sitting at their default."""
        later = [
            key
            for key, option in cls.options.items()
            if isinstance(option, Option) and option.added_later and config.get(key) == option.default
        ]
        for count in range(len(later) + 1):
            for absent in itertools.combinations(later, count):
                yield {key: value for key, value in config.items() if key not in absent}

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        """Bytes an instance with `settings` needs to code `symbols` symbols, roughly (0: unknown
        but small), besides numba's share of the process (`COMPILE_BYTES`). Decoding an
        untrusted file refuses to build a predictor whose `memory_need` is above its limit."""
        return 0

    def config(self) -> dict[str, Any]:
        """Everything the coded stream depends on. Extend `static_config` with versions and
        devices; override this only for what needs the built model (e.g. a weights checksum)."""
        return self.static_config(self.settings)

    def fingerprint(self) -> str:
        text = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_symbols(self, data: bytes) -> np.ndarray:
        """The symbols that code `data`; bytes themselves unless the predictor tokenizes."""
        return np.frombuffer(data, dtype=np.uint8)

    def from_symbols(self, symbols: np.ndarray) -> bytes:
        """Inverse of `to_symbols`."""
        return np.asarray(symbols, dtype=np.uint8).tobytes()

    def coding_order(self, count: int) -> np.ndarray | None:
        """The positions of `count` symbols in the order they are coded (the order the model
        saw them: loss curves are drawn in it); None for the input's own order."""
        return None

    @abstractmethod
    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        """Code `symbols`; return the payload and each symbol's ideal code length in bits."""

    @abstractmethod
    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        """Decode `count` symbols from a payload written by `encode_symbols`."""


CodeOne = Callable[[int, np.ndarray], int]
"""`code(position, probs)`: code the symbol at a file position with the distribution given, and
return it (the encoder knows it; the decoder learns it from the payload)."""

CodeStep = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""`code(positions, probs)`: code one lockstep step's symbols (their file positions, a
distribution for each, one row per stream) and return them."""


class Lockstep(Protocol):
    """What a sequence coder with `lockstep = True` offers (the online lstm/gpt)."""

    def layout(self, count: int) -> tuple[int, int]:
        """(stream length, streams in use) for `count` symbols: stream k holds the symbols at
        file positions k * length ... (k + 1) * length - 1."""

    def code_streams(self, count: int, code: CodeStep, progress: Progress) -> None:
        """Run over `count` symbols step by step, each step's symbols coded by `code`."""


class Bitwise(Protocol):
    """What a sequence coder with `bitwise = True` offers (cm): a model of the bits of a byte,
    most significant first, that `mix` runs one of per stream, the other members' predictions
    its hints. `code_byte` is a numba function over the state `bit_streams` gives."""

    hints: int
    """How many other members it takes hints from."""
    code_byte: Callable[..., tuple[int, float]]
    """`code_byte(state, distributions, weights, lr, final, final_lr, coder_state, buffer, cum,
    symbol)`: code (or decode, for -1) a byte as 8 bits mixed with the byte members'
    `distributions`, a compiled function: the loop over its bits around `harness.bitmix`'s steps
    and the model's own (each hint given to the model, its prediction, through the final stage
    where `final` has rows, coded, the bit learned). numba caches no
    kernel that takes functions as arguments, so each bitwise model has its own; see cm's."""

    def bit_streams(self, count: int, starts: list[int]) -> list[Any]:
        """One model state per stream, for `count` symbols in all, stream k's first at file
        position starts[k]."""


Decide = Callable[[np.ndarray, "int | None"], int]
"""Codes one decision under a distribution: given the index by an encoder, None by a decoder;
returns the index."""
Split = Callable[[np.ndarray, Decide, "int | None"], int]
"""`split(probs, decide, symbol)`: code one symbol as a series of decisions, each through
`decide` (a decision's distribution may have fewer entries than the alphabet); the encoder
passes `symbol`, the decoder None; returns the symbol."""


class TokenBytes(Protocol):
    """What a tokenizing sequence coder offers to join a bitwise `mix` as its bytes (hf): each of
    its symbols walked a byte at a time, the bytes coded by the mix."""

    def to_symbols(self, data: bytes) -> np.ndarray: ...

    def code_bytes(self, symbols: np.ndarray | None, count: int, decide: Decide, code_byte: Decide) -> None:
        """Code `count` symbols (the encoder's; None in the decoder): their bytes by
        `code_byte(masses over the next byte, byte)`, every other decision (where a symbol ends,
        which of those with the same bytes) by `decide`."""


def whole_symbol(probs: np.ndarray, decide: Decide, symbol: int | None) -> int:
    """The plain `Split`: a symbol is one decision."""
    return decide(probs, symbol)


def encode_in_any_order(
    alphabet_size: int, symbols: np.ndarray, run: Callable[[CodeOne], None], split: Split = whole_symbol
) -> tuple[bytes, np.ndarray]:
    """`encode_symbols` for a sequence coder that codes symbols in an order of its own: `run`
    calls `code(position, probs)` once per symbol, in that order, and `split` codes it. Returns
    the payload and each symbol's ideal code length in bits, by file position."""
    encoder = coder.Encoder(alphabet_size)
    bits = np.zeros(len(symbols), dtype=np.float32)
    symbols = np.asarray(symbols, dtype=np.int64)

    def decide(probs: np.ndarray, index: int | None) -> int:
        encoder.encode(index, probs)
        return index

    def code(position: int, probs: np.ndarray) -> int:
        before = encoder.ideal_bits
        split(probs, decide, int(symbols[position]))
        bits[position] = encoder.ideal_bits - before
        return int(symbols[position])

    run(code)
    return encoder.finish(), bits


def decode_in_any_order(
    alphabet_size: int, payload: bytes, count: int, run: Callable[[CodeOne], None], split: Split = whole_symbol
) -> np.ndarray:
    """The `decode_symbols` that undoes `encode_in_any_order` with the same `run` and `split`."""
    decoder = coder.Decoder(payload, alphabet_size)
    symbols = np.zeros(count, dtype=np.int64)

    def code(position: int, probs: np.ndarray) -> int:
        symbols[position] = split(probs, lambda probs, _: decoder.decode(probs), None)
        return int(symbols[position])

    run(code)
    return symbols


class Predictor(SequenceCoder):
    """A step predictor: `predict` and `update`; coding loops over them unless overridden."""

    @abstractmethod
    def predict(self) -> np.ndarray:
        """Probabilities (float64, length alphabet_size) of the next symbol."""

    @abstractmethod
    def update(self, symbol: int) -> None:
        """Learn that `symbol` came next."""

    shares_streams: ClassVar[bool] = False
    """Whether `stream()` gives a view of this model rather than a second model."""

    def stream(self) -> Predictor:
        """A predictor for another sequence coded in lockstep with this one (the streams of an
        online model that `mix` runs a step member beside). By default a second model of the same
        settings; a predictor with `shares_streams` returns one over this one's learned state,
        so that each stream learns from all of them."""
        return type(self)(**self.settings)

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


def optional_import(module: str, extra: str, needed_by: str) -> ModuleType:
    """`module`, imported; where it is not installed, a HarnessError naming the extra of the
    harness that brings it, rather than a traceback."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != module.partition(".")[0]:
            raise  # something it imports is missing: a broken install, not a missing extra
        raise HarnessError(
            f"{module} is not installed, and {needed_by} needs it: pip install 'compression-harness[{extra}]'"
        ) from None


_MIX_MEMBER = re.compile(r"([\w.\-]+)(?:\(([^()]*)\))?")


def member_specs(members: str) -> list[str]:
    """A mix's members as specs: 'gpt(width=128;lr=1e-3)+ngram' -> ['gpt:width=128,lr=1e-3',
    'ngram']. Part of the spec grammar (a mix spec's positional value), so that what names or
    groups results (leaderboard, publish) reads members as `mix` does."""
    specs = []
    for part in members.split("+"):
        match = _MIX_MEMBER.fullmatch(part.strip())
        if not match:
            raise HarnessError(f"mix: bad member {part!r}: expected name or name(key=value;key=value)")
        name, options = match.groups()
        specs.append(f"{name}:{options.replace(';', ',')}" if options else name)
    return specs


def member_text(spec: str) -> str:
    """'gpt:width=128,lr=1e-3' -> 'gpt(width=128;lr=1e-3)', as `member_specs` reads it."""
    name, _, options = spec.partition(":")
    return f"{name}({options.replace(',', ';')})" if options else name


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split 'name:key=value,key=value' into the name and raw option strings. A first item with
    no '=' outside parentheses is the positional value ('hf:gpt2', 'mix:gpt(width=64)+ngram')."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise HarnessError(f"empty predictor name in spec {spec!r}")
    raw: dict[str, str] = {}
    for i, item in enumerate(filter(None, (part.strip() for part in rest.split(",")))):
        key, sep, value = item.partition("=")
        if i == 0 and "=" not in re.sub(r"\([^()]*\)", "", item):
            sep = ""
        if not sep and i == 0:
            raw[""] = item  # the predictor's positional option, resolved by `typed_options`
            continue
        if not sep or not key.strip():
            raise HarnessError(f"bad option {item!r} in spec {spec!r}: expected key=value")
        if key.strip() in raw:
            raise HarnessError(f"option {key.strip()!r} is given twice in spec {spec!r}")
        raw[key.strip()] = value.strip()
    if any(CONTROL_CHARACTERS.search(text) for text in (name, *raw, *raw.values())):
        raise HarnessError(f"spec {spec!r} holds control characters")
    return name, raw


def declared(cls: type[SequenceCoder]) -> dict[str, Option]:
    """`cls.options` with every bare default made an `Option`."""
    return {key: value if isinstance(value, Option) else Option(value) for key, value in cls.options.items()}


def defaults(cls: type[SequenceCoder]) -> dict[str, Any]:
    """Each option's default value."""
    return {key: option.default for key, option in declared(cls).items()}


def memory_need(cls: type[SequenceCoder], settings: dict[str, Any], symbols: int) -> int:
    """What building `cls` with `settings` and coding `symbols` symbols adds to a process: its
    own estimate and numba's share."""
    return cls.memory_estimate(settings, symbols) + COMPILE_BYTES


def check_settings(cls: type[SequenceCoder], settings: dict[str, Any]) -> None:
    """Refuse any setting that is unknown, of the wrong type or outside its declared values."""
    options = declared(cls)
    for key, value in settings.items():
        if key not in options:
            known = ", ".join(sorted(options)) or "none"
            raise HarnessError(f"predictor {cls.name!r} has no option {key!r} (options: {known})")
        problem = _problem(options[key], value)
        if problem:
            raise HarnessError(f"option {key}={value!r} of {cls.name!r} {problem}")


def _problem(option: Option, value: Any) -> str | None:
    """Why `value` is not acceptable for `option`, or None."""
    default = option.default
    if default is None:
        if not isinstance(value, str):
            return "must be a string"
    elif isinstance(default, bool) or isinstance(value, bool):
        if not isinstance(value, bool) or not isinstance(default, bool):
            return f"must be {option.describe()}"
    elif isinstance(default, int):
        if not isinstance(value, int) or abs(value) > _LARGEST_INT:
            return f"must be {option.describe()}"
    elif isinstance(default, float):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a finite {option.describe()}"
    elif not isinstance(value, type(default)):
        return f"must be {option.describe()}"
    if option.choices and value not in option.choices:
        return f"must be {option.describe()}"
    if option.low is not None and value < option.low or option.high is not None and value > option.high:
        return f"must be {option.describe()}"
    if option.pattern and not re.fullmatch(option.pattern, value):
        return f"is not accepted ({option.help or 'see the predictor help'})"
    return None


def typed_options(cls: type[SequenceCoder], raw: dict[str, str]) -> dict[str, Any]:
    """Parse raw option strings to the types of the options' defaults, and check them."""
    options = declared(cls)
    typed: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "":
            if not cls.positional:
                raise HarnessError(f"predictor {cls.name!r} takes no bare value {value!r}: expected key=value")
            key = cls.positional
        if key not in options:
            known = ", ".join(sorted(options)) or "none"
            raise HarnessError(f"predictor {cls.name!r} has no option {key!r} (options: {known})")
        if key in typed:
            raise HarnessError(f"option {key!r} of {cls.name!r} is given twice")
        default = options[key].default
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
            raise HarnessError(f"option {key}={value!r} of {cls.name!r} must be {options[key].describe()}") from None
    check_settings(cls, typed)
    return typed


def definition(name: str, version: int, settings: dict[str, Any], members: dict[str, int] | None = None) -> str:
    """What a predictor's results mean besides the data: name, version and every option value,
    defaults included, and its members' versions (a mix's), so that a changed default or a new
    version of it or of a member never reuses an old result."""
    text = f"{name}@{version}:" + json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return text if members is None else text + " members:" + json.dumps(members, sort_keys=True)


def canonical_spec(name: str, settings: dict[str, Any], cls: type[SequenceCoder]) -> str:
    """'name:key=value,...' listing only options that differ from their defaults, sorted."""
    initial = defaults(cls)
    changed = {k: v for k, v in sorted(settings.items()) if initial.get(k) != v}
    if not changed:
        return name
    items = [f"{k}={v}" for k, v in changed.items() if k != cls.positional]
    if cls.positional in changed:
        items.insert(0, str(changed[cls.positional]))
    return name + ":" + ",".join(items)
