"""`mix`: the distributions of other predictors, mixed by weights learnt on the coded stream.

    harness run -p 'mix:gpt+ngram'
    harness run -p 'mix:gpt(width=128;lr=1e-3)+ngram(order=5;memory_mib=16),lr=0.003'

Members are predictor specs joined by `+`; a member's options go in parentheses, separated by
`;` (the spec's own `,` separates the mix's options). The members run in lockstep, each given
the same symbols, and their distributions p_1..p_n over the same byte alphabet are mixed in the
log domain (geometric, or log-linear, mixing, as NNCP's and cmix's final mixers do):

    p(x) = exp(sum_i w_i log p_i(x)) / Z.

After each symbol s the weights take a gradient step on its code length -log2 p(s):
d(-ln p(s))/dw_i = -(log p_i(s) - sum_x p(x) log p_i(x)), so a member that gave s more than the
mixture expected gains weight. They start at 1/n (the geometric mean) and are shared by all
streams; encoder and decoder apply the same float64 steps in the same order.

Members are step predictors (`Predictor`: order0, ngram, plugins alike) and at most one online
model that codes B streams in lockstep (lstm, gpt): then the mix runs inside that model's loop,
and each step member runs once per stream, seeing that stream's bytes in order, from
`Predictor.stream()`. An ngram member's streams share one set of tables, so each stream's
predictions draw on what all of them coded so far (version 1 gave each stream its own tables,
so each saw a 16th of the file); other members get one model per stream. Tokenizing models (hf)
cannot be members: their symbols are not the others'.

A bitwise member (cm, which codes 8 binary decisions a byte) makes the whole mix bitwise, as
cmix's is: each byte is coded as 8 decisions, most significant bit first, and before each the
byte members' distributions become bit probabilities, member i's p_i = P(bit = 1 | the byte's
bits so far) = its mass on the bytes below that node with the bit set, over its mass below the
node. Each, in the logistic domain and scaled by a weight per node of the byte's tree (the
partial byte c0),

    x_i = w_i st(p_i),  st(p) = ln(p / (1 - p)) clipped to +-8,

is one more input of the bitwise member's own mixers (a hint; cm takes two), whose weight
sets, chosen by its contexts, learn where to trust it; the bitwise member's p, after its SSE
stages, is the p coded (PAQ mixes its models so). After bit y the weight moves w_i += lr * (y - q_i) * st(p_i),
q_i = squash(x_i) = st^-1(x_i), the gradient of -ln Q_i(y): a member's scale learns how sure
it should sound. The weights start at 1. A bitwise member runs one model per stream of the
online member, all sharing one set of tables (`bit_streams`). Hints rather than a final mixer of
mix's own over cm's p and the others': they code better (results/online/README.md has both
measured, with the commands).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import numpy as np

import harness.registry
from harness import coder
from harness.bitmix import TINY
from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.predictor import (
    SYMBOL_BYTES,
    Bitwise,
    CodeOne,
    Option,
    Predictor,
    Progress,
    SequenceCoder,
    decode_in_any_order,
    encode_in_any_order,
    no_progress,
)

_MEMBER = re.compile(r"([\w.\-]+)(?:\(([^()]*)\))?")


CodeMixed = Callable[[int, int, list[np.ndarray]], int]
"""`code(position, stream, distributions)`: mix the byte members' distributions for the symbol at
a file position (on that stream of the online member), code it and return it."""


def member_specs(members: str) -> list[str]:
    """'gpt(width=128;lr=1e-3)+ngram' -> ['gpt:width=128,lr=1e-3', 'ngram']."""
    specs = []
    for part in members.split("+"):
        match = _MEMBER.fullmatch(part.strip())
        if not match:
            raise HarnessError(f"mix: bad member {part!r}: expected name or name(key=value;key=value)")
        name, options = match.groups()
        specs.append(f"{name}:{options.replace(';', ',')}" if options else name)
    return specs


class Mix(SequenceCoder):
    """A learnt log-linear mixture of other predictors (see the module docstring)."""

    name = "mix"
    description = "log-linear mixture of predictors, weights learnt online: mix:gpt+ngram(order=5)"
    positional = "members"
    options = {
        "members": Option("", "predictors joined by +, options in parentheses with ;", pattern=r"[\w.\-()=;+]{1,500}"),
        "lr": Option(0.002, "learning rate of the mixing weights", 0.0, 1.0),
    }
    test_options = {"members": "order0+ngram(order=2;memory_mib=1)"}
    whole_input = True  # with an online member it lays the input out in streams; step members need not
    model_bytes = 0

    version = 2  # 2: an ngram member's streams share its tables

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        registry = harness.registry.current()
        self.specs = [canonical for _, _, canonical in self._entries(self.settings)]
        self.members = [registry.build(spec) for spec in self.specs]  # step members: one per stream later
        self.driver = next((m for m in self.members if m.lockstep), None)  # a Lockstep
        self.bit_member = cast("Bitwise | None", next((m for m in self.members if m.bitwise), None))
        n = len(self.members)  # bitwise: a scale per node of the byte's tree for each byte member
        self.weights = np.ones((256, n - 1)) if self.bit_member is not None else np.full(n, 1.0 / n)
        self._stream_members: list[Predictor] = []  # the step members of streams 1..B-1
        self.flops_per_symbol = sum(m.flops_per_symbol for m in self.members) + 6.0 * 256 * len(self.members)

    @property
    def params(self) -> int:
        """The members' parameters, every stream's own step members counted (read after coding,
        an n-gram member's count is what it stored)."""
        own = [m for m in self._stream_members if not m.shares_streams]
        return int(sum(m.params for m in [*self.members, *own]))

    @staticmethod
    def _entries(settings: dict[str, Any]) -> list[tuple[type[SequenceCoder], dict[str, Any], str]]:
        """The members' (class, settings, canonical spec), refused before any of them loads a model."""
        specs = member_specs(settings["members"]) if settings["members"] else []
        if len(specs) < 2:
            raise HarnessError("mix needs two or more members: mix:gpt+ngram (see `harness list predictors --options`)")
        registry = harness.registry.current()
        entries = [registry.predictor(spec) for spec in specs]
        _check_members([cls for cls, _, _ in entries])
        return entries

    @classmethod
    def static_config(cls, settings: dict[str, Any]) -> dict[str, Any]:
        members = [member.static_config(member_settings) for member, member_settings, _ in cls._entries(settings)]
        return {**super().static_config(settings), "members": members, "numpy": np.__version__}

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        entries = cls._entries(settings)
        streams = max((s.get("batch", 1) for c, s, _ in entries if not issubclass(c, Predictor)), default=1)
        copies = {c: streams if issubclass(c, Predictor) and not c.shares_streams else 1 for c, _, _ in entries}
        own = SYMBOL_BYTES * symbols  # the whole input at once (one segment)
        return own + sum(c.memory_estimate(s, symbols) * copies[c] for c, s, _ in entries)

    def config(self) -> dict[str, Any]:
        return {**self.static_config(self.settings), "members": [m.config() for m in self.members]}

    def coding_order(self, count: int) -> np.ndarray | None:
        return self.driver.coding_order(count) if self.driver else None

    def _mixed(self, distributions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(mixture, the members' log-probabilities)."""
        logs = np.log(np.maximum(np.stack(distributions), TINY))
        z = (self.weights[:, None] * logs).sum(axis=0)
        p = np.exp(z - z.max())
        return p / p.sum(), logs

    def _learn(self, mixture: np.ndarray, logs: np.ndarray, symbol: int) -> None:
        self.weights += self.settings["lr"] * (logs[:, symbol] - (logs * mixture).sum(axis=1))

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        if self.bit_member is not None:
            return self._encode_bits(symbols, progress)
        return encode_in_any_order(
            self.alphabet_size, symbols, lambda code: self._run(len(symbols), self._log_linear(code), progress)
        )

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        if self.bit_member is not None:
            return self._decode_bits(payload, count, progress)
        return decode_in_any_order(
            self.alphabet_size, payload, count, lambda code: self._run(count, self._log_linear(code), progress)
        )

    def _log_linear(self, code: CodeOne) -> CodeMixed:
        def code_mixed(position: int, stream: int, distributions: list[np.ndarray]) -> int:
            mixture, logs = self._mixed(distributions)
            symbol = code(position, mixture)
            self._learn(mixture, logs, symbol)
            return symbol

        return code_mixed

    def _encode_bits(self, symbols: np.ndarray, progress: Progress) -> tuple[bytes, np.ndarray]:
        encoder = coder.Encoder(2)
        bits = np.zeros(len(symbols), dtype=np.float32)
        code = self._bitwise_coder(len(symbols), lambda: encoder.buffers(8), np.array(symbols, np.int64), bits)
        self._run(len(symbols), code, progress)
        return encoder.finish(), bits

    def _decode_bits(self, payload: bytes, count: int, progress: Progress) -> np.ndarray:
        decoder = coder.Decoder(bytearray(payload), 2)  # writable: one kernel encodes and decodes
        symbols = np.full(count, -1, dtype=np.int64)
        self._run(count, self._bitwise_coder(count, decoder.buffers, symbols, np.zeros(count)), progress)
        return symbols

    def _bitwise_coder(
        self, count: int, buffers: Callable[[], tuple[np.ndarray, np.ndarray]], symbols: np.ndarray, bits: np.ndarray
    ) -> CodeMixed:
        """`code` for a bitwise mix: codes symbols[position] (decodes it, where it is -1) and puts its
        code length in bits[position]."""
        bitwise = self.bit_member
        starts = [0]
        if self.driver is not None:
            length, _ = self.driver.layout(count)
            starts = [stream * length for stream in range(self.driver.settings["batch"])]
        models = bitwise.bit_streams(count, starts)
        cum = np.zeros(3, dtype=np.uint64)
        lr = self.settings["lr"]

        def code(position: int, stream: int, distributions: list[np.ndarray]) -> int:
            state, buffer = buffers()
            symbol, bits[position] = bitwise.code_byte(
                models[stream], np.stack(distributions), self.weights, lr, state, buffer, cum, int(symbols[position])
            )
            symbols[position] = symbol
            return symbol

        return code

    def _run(self, count: int, code: CodeMixed, progress: Progress) -> None:
        """Code `count` symbols, each by `code` from the byte members' distributions."""
        steppers = [m for m in self.members if m is not self.driver and not m.bitwise]
        if self.driver is None:
            for position in range(count):
                symbol = code(position, 0, [m.predict() for m in steppers])
                for m in steppers:
                    m.update(symbol)
                progress(1)
            return
        length, _ = self.driver.layout(count)
        streams = [steppers] + [[m.stream() for m in steppers] for _ in range(1, self.driver.settings["batch"])]
        self._stream_members = [m for stream in streams[1:] for m in stream]
        driver_at = [m for m in self.members if not m.bitwise].index(self.driver)

        def code_step(positions: np.ndarray, driver_probs: np.ndarray) -> np.ndarray:
            out = np.zeros(len(positions), dtype=np.int64)
            for row, position in enumerate(positions.tolist()):
                own = streams[position // length]
                distributions = [m.predict() for m in own]
                distributions.insert(driver_at, driver_probs[row])
                out[row] = symbol = code(position, position // length, distributions)
                for m in own:
                    m.update(symbol)
            return out

        self.driver.code_streams(count, code_step, progress)


def _check_members(classes: list[type[SequenceCoder]]) -> None:
    drivers = [c for c in classes if c.lockstep]
    bitwise = [c for c in classes if c.bitwise]
    others = [c for c in classes if not issubclass(c, Predictor) and not c.lockstep and not c.bitwise]
    if others or len(drivers) > 1 or len(bitwise) > 1:
        names = ", ".join(c.name for c in others or (drivers if len(drivers) > 1 else bitwise))
        raise HarnessError(
            "mix: members must be step predictors (order0, ngram, ...), at most one online model (lstm, gpt) "
            f"and at most one bitwise model (cm); not {names}"
        )
    if bitwise and len(classes) - 1 > bitwise[0].hints:
        raise HarnessError(f"mix: {bitwise[0].name} takes hints from at most {bitwise[0].hints} other members")
    if any(c.tokenizes for c in classes):
        raise HarnessError("mix: members must code bytes (a tokenizing predictor's symbols are not the others')")


@hookimpl
def harness_predictors() -> list[type[SequenceCoder]]:
    return [Mix]
