"""The conformance kit: one call that checks a predictor against the contract.

    from harness.conformance import check_predictor
    check_predictor(MyPredictor)                  # or a spec: check_predictor("mypred:order=2")

It raises `ConformanceError` listing every check that failed, or returns the names of the checks
run. The same function is a pytest fixture, `predictor_conformance`, once the harness is
installed. The checks:

- metadata: name, description, options, config() and the spec round trip are well formed;
- metadata: the declared capabilities hold: a class that tokenizes (overrides to_symbols or
  from_symbols) says so (`tokenizes`), and one that does not, does not;
- distributions: every predict() is a finite, non-negative float64 vector over the alphabet
  summing to 1, and asking twice without an update gives the same answer (a `SequenceCoder`,
  which has no predict(), is checked through the code lengths it reports);
- determinism: two fresh instances fed the same symbols predict bit-identical distributions
  and write identical bits;
- round trip: empty, one byte, random binary and a long text decode bit-exactly through the
  real container, and progress callbacks count every symbol;
- segments: coding in several encode_symbols calls on one instance (how `compress` streams
  large files) decodes back, unless the predictor is marked `whole_input`;
- fused loop: an overridden encode_symbols/decode_symbols gives the very bits of the default loop.

Predictors run with their `test_options` (a tiny model) unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from harness import coder, container, wire
from harness.predictor import (
    Bitwise,
    CodeOne,
    Lockstep,
    Predictor,
    SequenceCoder,
    canonical_spec,
    declared,
    decode_in_any_order,
    defaults,
    encode_in_any_order,
    parse_spec,
    typed_options,
)

SPEC_CHARACTERS = ":,= \t\n"


class ConformanceError(AssertionError):
    """One line per failed check."""


def sample_inputs(long_bytes: int = 20_000) -> dict[str, bytes]:
    """The inputs every predictor must round-trip: empty, one byte, binary, long text."""
    rng = np.random.default_rng(2024)
    words = [w.encode() for w in "the of and a to in is you that it he was for on are as with his they".split()]
    text = b" ".join(words[i] for i in rng.integers(0, len(words), long_bytes // 3))
    return {
        "empty": b"",
        "one byte": b"\xff",
        "binary": rng.bytes(1000) + bytes(100) + bytes(range(256)),
        "long": (text + b"\n" + rng.bytes(64))[:long_bytes],
    }


def check_predictor(
    predictor: type[SequenceCoder] | str,
    settings: dict[str, Any] | None = None,
    long_bytes: int = 20_000,
) -> list[str]:
    """Check a predictor class (or a spec, resolved through the installed plugins).

    `settings` override the class' `test_options`, which override its `options`. Returns the
    names of the checks run; raises ConformanceError naming each one that failed.
    """
    if isinstance(predictor, str):
        from harness.registry import load_registry, lookup

        name, raw = parse_spec(predictor)
        cls = lookup(load_registry().predictors, name, "predictor").item
        settings = {**typed_options(cls, raw), **(settings or {})}
    else:
        cls = predictor
    settings = {**defaults(cls), **cls.test_options, **(settings or {})}
    inputs = sample_inputs(long_bytes)
    predicts = issubclass(cls, Predictor)
    checks: dict[str, Callable[[], None]] = {
        "metadata": lambda: _metadata(cls, settings),
        "distributions": lambda: _distributions(cls, settings, inputs, predicts),
        "determinism": lambda: _determinism(cls, settings, inputs, predicts),
        "round trip": lambda: _round_trips(cls, settings, inputs),
    }
    if not cls.whole_input:
        checks["segments"] = lambda: _segments(cls, settings, inputs["binary"])
    if predicts:
        checks["fused loop"] = lambda: _fused_loop(cls, settings, inputs["binary"])
        checks["streams"] = lambda: _streams(cls, settings, inputs["binary"])
    failures = []
    for check, run in checks.items():
        try:
            run()
        except Exception as error:  # the predictor's own bug is what we report
            message = str(error) if isinstance(error, AssertionError) else f"raised {error!r}"
            failures.append(f"{check}: {message}")
    if failures:
        raise ConformanceError(f"predictor {cls.__name__} fails {len(failures)} check(s):\n" + "\n".join(failures))
    return list(checks)


def _members(protocol: type) -> list[str]:
    """The attributes and methods a Protocol names."""
    names = {*vars(protocol).get("__annotations__", {}), *(k for k, v in vars(protocol).items() if callable(v))}
    return sorted(name for name in names if not name.startswith("_"))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _metadata(cls: type[SequenceCoder], settings: dict[str, Any]) -> None:
    _require(
        isinstance(cls, type) and issubclass(cls, SequenceCoder),
        f"{cls!r} is not a Predictor or SequenceCoder subclass",
    )
    _require(isinstance(cls.name, str) and cls.name != "", "name must be a non-empty string")
    _require(not any(c in cls.name for c in SPEC_CHARACTERS), f"name {cls.name!r} contains one of {SPEC_CHARACTERS!r}")
    _require(isinstance(cls.description, str) and cls.description.strip() != "", "description must not be empty")
    _require(isinstance(cls.version, int) and cls.version >= 1, "version must be an int >= 1")
    for key, option in declared(cls).items():
        _require(
            isinstance(option.default, (bool, int, float, str, type(None))), f"option {key!r}: default must be a scalar"
        )
    overrides = cls.to_symbols is not SequenceCoder.to_symbols or cls.from_symbols is not SequenceCoder.from_symbols
    _require(
        overrides == cls.tokenizes,
        f"tokenizes is {cls.tokenizes} but to_symbols/from_symbols are "
        f"{'' if overrides else 'not '}overridden: the container would cut the input wrongly",
    )
    unknown = set(cls.test_options) - set(cls.options)
    _require(not unknown, f"test_options names unknown options {sorted(unknown)}")
    instance = cls(**settings)
    _require(isinstance(instance.alphabet_size, int) and instance.alphabet_size >= 2, "alphabet_size must be >= 2")
    for field in ("params", "model_bytes"):
        value = getattr(instance, field)
        _require(isinstance(value, int) and value >= 0, f"{field} must be an int >= 0, not {value!r}")
    _require(instance.flops_per_symbol >= 0, "flops_per_symbol must be >= 0")
    config = instance.config()
    _require(isinstance(config, dict), "config() must return a dict")
    _require(config.get("predictor") == cls.name, "config() must record the predictor name")
    _require(config.get("version") == cls.version, "config() must record the version")
    try:
        recorded = json.loads(wire.canonical_json(config))
    except (TypeError, ValueError) as error:
        raise AssertionError(f"config() is not JSON: {error}") from None
    _require(recorded == config, "config() changes through JSON (tuples, non-string keys?): decoding would refuse it")
    _require(cls(**settings).config() == config, "two fresh instances report different config()")
    for flag, protocol in (("lockstep", Lockstep), ("bitwise", Bitwise)):
        if getattr(cls, flag):
            missing = [name for name in _members(protocol) if not hasattr(instance, name)]
            _require(not missing, f"{flag} = True promises {protocol.__name__}'s {', '.join(missing)}: missing")
    spec = canonical_spec(cls.name, settings, cls)
    name, raw = parse_spec(spec)
    _require(
        name == cls.name and {**defaults(cls), **typed_options(cls, raw)} == settings,
        f"spec {spec!r} does not parse back to the same settings",
    )


def _check_distribution(probs: object, alphabet: int, where: str) -> None:
    _require(isinstance(probs, np.ndarray), f"predict() returned {type(probs).__name__}, not a numpy array {where}")
    _require(probs.dtype == np.float64, f"predict() returned {probs.dtype}, not float64 {where}")
    _require(probs.shape == (alphabet,), f"predict() returned shape {probs.shape}, not ({alphabet},) {where}")
    _require(bool(np.isfinite(probs).all()), f"predict() returned NaN or infinity {where}")
    _require(bool((probs >= 0).all()), f"predict() returned a negative probability {where}")
    total = float(probs.sum())
    _require(abs(total - 1.0) <= 1e-6, f"predict() sums to {total!r}, not 1 {where}")


def _feed(predictor: Predictor, symbols: np.ndarray, limit: int = 2000) -> list[np.ndarray]:
    """The distributions before each of the first `limit` symbols (copies)."""
    seen = []
    for symbol in symbols[:limit].tolist():
        seen.append(np.array(predictor.predict(), copy=True))
        predictor.update(symbol)
    return seen


def _distributions(
    cls: type[SequenceCoder], settings: dict[str, Any], inputs: dict[str, bytes], predicts: bool
) -> None:
    if not predicts:
        predictor = cls(**settings)
        _, bits = predictor.encode_symbols(predictor.to_symbols(inputs["binary"]))
        # A sequence coder may code a symbol as several steps (cm: a byte as 8 binary decisions), each
        # at worst given the smallest frequency, 1 of 2**30.
        worst = 8 * coder.TOTAL_BITS
        _require(
            bool(np.isfinite(bits).all() and (bits >= 0).all() and (bits <= worst).all()),
            f"encode_symbols reports code lengths outside [0, {worst}] bits",
        )
        return
    for label in ("binary", "long"):
        predictor = cls(**settings)
        symbols = predictor.to_symbols(inputs[label])
        for i, probs in enumerate(_feed(predictor, symbols)):
            _check_distribution(probs, predictor.alphabet_size, f"at symbol {i} of the {label} input")
        first, again = predictor.predict(), predictor.predict()
        _require(np.array_equal(first, again), "predict() twice without update() gives different answers")


def _determinism(cls: type[SequenceCoder], settings: dict[str, Any], inputs: dict[str, bytes], predicts: bool) -> None:
    symbols = cls(**settings).to_symbols(inputs["binary"])
    (one_payload, one_bits), (two_payload, two_bits) = (cls(**settings).encode_symbols(symbols) for _ in range(2))
    _require(
        one_payload == two_payload and np.array_equal(one_bits, two_bits),
        "two fresh instances write different bits for the same input",
    )
    for label in ("binary", "long") if predicts else ():
        one, two = cls(**settings), cls(**settings)
        symbols = one.to_symbols(inputs[label])
        for i, (a, b) in enumerate(zip(_feed(one, symbols), _feed(two, symbols), strict=True)):
            _require(np.array_equal(a, b), f"two fresh instances disagree at symbol {i} of the {label} input")


def _round_trips(cls: type[SequenceCoder], settings: dict[str, Any], inputs: dict[str, bytes]) -> None:
    spec = canonical_spec(cls.name, settings, cls)
    for label, data in inputs.items():
        encoder_side = cls(**settings)
        symbols = encoder_side.to_symbols(data)
        _require(encoder_side.from_symbols(symbols) == data, f"from_symbols(to_symbols(x)) != x for the {label} input")
        encoded_steps: list[int] = []
        decoded_steps: list[int] = []
        encoded = container.encode(data, spec, encoder_side, encoded_steps.append)
        decoded = container.decode(wire.unpack(encoded.container), cls(**settings), decoded_steps.append)
        _require(decoded == data, f"the {label} input ({len(data)} bytes) does not decode to itself")
        _require(len(encoded.symbol_bits) == encoded.symbols, "encode_symbols gives the wrong number of code lengths")
        counted = (sum(encoded_steps), sum(decoded_steps))
        _require(
            counted == (encoded.symbols, encoded.symbols),
            f"progress counted {counted} symbols (encode, decode) for {encoded.symbols} on the {label} input",
        )


def _segments(cls: type[SequenceCoder], settings: dict[str, Any], data: bytes) -> None:
    encoder_side, decoder_side = cls(**settings), cls(**settings)
    symbols = encoder_side.to_symbols(data)
    cut = len(symbols) // 3
    parts = [symbols[:cut], symbols[cut:]]
    payloads = [encoder_side.encode_symbols(part)[0] for part in parts]
    decoded = [decoder_side.decode_symbols(p, len(part)) for p, part in zip(payloads, parts, strict=True)]
    _require(
        decoder_side.from_symbols(np.concatenate(decoded)) == data,
        "coding in two encode_symbols calls on one instance does not decode back",
    )


def _fused_loop(cls: type[SequenceCoder], settings: dict[str, Any], data: bytes) -> None:
    if cls.encode_symbols is Predictor.encode_symbols and cls.decode_symbols is Predictor.decode_symbols:
        return
    symbols = cls(**settings).to_symbols(data)
    reference, reference_bits = Predictor.encode_symbols(cls(**settings), symbols)
    payload, bits = cls(**settings).encode_symbols(symbols)
    _require(payload == reference, "encode_symbols writes other bits than the default loop")
    _require(
        np.allclose(np.asarray(bits, dtype=np.float64), reference_bits, rtol=1e-5, atol=1e-6),
        "encode_symbols reports other code lengths than the default loop",
    )
    decoded = cls(**settings).decode_symbols(reference, len(symbols))
    _require(np.array_equal(decoded, symbols), "decode_symbols cannot read the default loop's bits")


def _lockstep(model: Predictor, streams: int, steps: int) -> Callable[[CodeOne], None]:
    """A `run` for `encode_in_any_order`: `streams` streams of `model` (itself, then `stream()`s),
    one symbol of each per step, as `mix` runs a step member beside an online model; stream j's
    symbols are positions j * steps ... (j + 1) * steps - 1."""
    views = [model, *(model.stream() for _ in range(1, streams))]

    def run(code: CodeOne) -> None:
        for t in range(steps):
            for j, view in enumerate(views):
                view.update(code(j * steps + t, view.predict()))

    return run


def code_in_lockstep(model: Predictor, rows: list[bytes]) -> bytes:
    """Code rows[j] (all of one length) on the j-th of `len(rows)` lockstep streams of `model`."""
    steps = len(rows[0])
    if any(len(row) != steps for row in rows):
        raise ValueError("code_in_lockstep: the rows must have one length")
    symbols = np.frombuffer(b"".join(rows), dtype=np.uint8)
    return encode_in_any_order(model.alphabet_size, symbols, _lockstep(model, len(rows), steps))[0]


def decode_in_lockstep(model: Predictor, payload: bytes, streams: int, steps: int) -> list[bytes]:
    """The rows `code_in_lockstep` coded, decoded with a fresh `model`."""
    symbols = decode_in_any_order(model.alphabet_size, payload, streams * steps, _lockstep(model, streams, steps))
    data = symbols.astype(np.uint8).tobytes()
    return [data[j * steps : (j + 1) * steps] for j in range(streams)]


def _streams(cls: type[Predictor], settings: dict[str, Any], data: bytes) -> None:
    half = len(data) // 2
    rows = [data[:half], data[half : 2 * half]]
    payload = code_in_lockstep(cls(**settings), rows)
    _require(
        decode_in_lockstep(cls(**settings), payload, 2, half) == rows,
        "two streams coded in lockstep (`stream()`) do not decode back",
    )
