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
predictions draw on what all of them coded so far; other members get one model per stream.
Version 1 gave each stream its own tables, and it showed: book1 cut into 16 separate 48 KB
streams costs ngram 2.72 bits/byte against 2.17 whole (encoded only), and on canterbury-small
`mix:gpt+ngram(memory_mib=8)` came to 2.747, worse than ngram alone (2.306); version 2 codes it
in 2.259, decoded and verified (gpt alone: 3.296). Models without a byte distribution
per symbol (cm's 8 binary decisions, hf's tokens) cannot be members.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.predictor import (
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
_TINY = 1e-300  # log(0) guard: a member that gave a symbol probability 0 still has a finite log


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


@functools.cache
def _registry() -> Any:
    """The installed plugins, loaded once: a mix resolves its members in `static_config`,
    `memory_estimate` and when it is built, as a user's spec would be."""
    from harness.registry import load_registry

    return load_registry()


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
        registry = _registry()
        entries = [registry.predictor(spec) for spec in self._specs(self.settings)]
        self.specs = [canonical for _, _, canonical in entries]
        _check_members([cls for cls, _, _ in entries])
        self.members = [registry.build(spec) for spec in self.specs]  # step members: one per stream later
        self.driver = next((m for m in self.members if not isinstance(m, Predictor)), None)
        self.weights = np.full(len(self.members), 1.0 / len(self.members))
        self._stream_members: list[Predictor] = []  # the step members of streams 1..B-1
        self.flops_per_symbol = sum(m.flops_per_symbol for m in self.members) + 6.0 * 256 * len(self.members)

    @property
    def params(self) -> int:
        """The members' parameters, every stream's own step members counted (read after coding,
        an n-gram member's count is what it stored)."""
        own = [m for m in self._stream_members if not m.shares_streams]
        return int(sum(m.params for m in [*self.members, *own]))

    @staticmethod
    def _specs(settings: dict[str, Any]) -> list[str]:
        specs = member_specs(settings["members"]) if settings["members"] else []
        if len(specs) < 2:
            raise HarnessError("mix needs two or more members: mix:gpt+ngram (see `harness list predictors --options`)")
        return specs

    @classmethod
    def static_config(cls, settings: dict[str, Any]) -> dict[str, Any]:
        registry = _registry()
        members = []
        for spec in cls._specs(settings):
            member, member_settings, _ = registry.predictor(spec)
            members.append(member.static_config(member_settings))
        return {**super().static_config(settings), "members": members, "numpy": np.__version__}

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        registry = _registry()
        entries = [registry.predictor(spec) for spec in cls._specs(settings)]
        streams = max((s.get("batch", 1) for c, s, _ in entries if not issubclass(c, Predictor)), default=1)
        copies = {c: streams if issubclass(c, Predictor) and not c.shares_streams else 1 for c, _, _ in entries}
        return sum(c.memory_estimate(s, symbols) * copies[c] for c, s, _ in entries)

    def config(self) -> dict[str, Any]:
        return {**self.static_config(self.settings), "members": [m.config() for m in self.members]}

    def coding_order(self, count: int) -> np.ndarray | None:
        return self.driver.coding_order(count) if self.driver else None

    def _mixed(self, distributions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(mixture, the members' log-probabilities)."""
        logs = np.log(np.maximum(np.stack(distributions), _TINY))
        z = (self.weights[:, None] * logs).sum(axis=0)
        p = np.exp(z - z.max())
        return p / p.sum(), logs

    def _learn(self, mixture: np.ndarray, logs: np.ndarray, symbol: int) -> None:
        self.weights += self.settings["lr"] * (logs[:, symbol] - (logs * mixture).sum(axis=1))

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        return encode_in_any_order(self.alphabet_size, symbols, lambda code: self._run(len(symbols), code, progress))

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        return decode_in_any_order(self.alphabet_size, payload, count, lambda code: self._run(count, code, progress))

    def _run(self, count: int, code: CodeOne, progress: Progress) -> None:
        """Mix and code `count` symbols; `code(position, probs)` codes one and returns it."""
        steppers = [m for m in self.members if m is not self.driver]
        if self.driver is None:
            for position in range(count):
                mixture, logs = self._mixed([m.predict() for m in steppers])
                symbol = code(position, mixture)
                for m in steppers:
                    m.update(symbol)
                self._learn(mixture, logs, symbol)
                progress(1)
            return
        length, _ = self.driver.layout(count)
        streams = [steppers] + [[m.stream() for m in steppers] for _ in range(1, self.driver.settings["batch"])]
        self._stream_members = [m for stream in streams[1:] for m in stream]
        driver_at = self.members.index(self.driver)

        def code_step(positions: np.ndarray, driver_probs: np.ndarray) -> np.ndarray:
            out = np.zeros(len(positions), dtype=np.int64)
            for row, position in enumerate(positions.tolist()):
                own = streams[position // length]
                distributions = [m.predict() for m in own]
                distributions.insert(driver_at, driver_probs[row])
                mixture, logs = self._mixed(distributions)
                out[row] = symbol = code(position, mixture)
                for m in own:
                    m.update(symbol)
                self._learn(mixture, logs, symbol)
            return out

        self.driver.code_streams(count, code_step, progress)


def _check_members(classes: list[type[SequenceCoder]]) -> None:
    drivers = [c for c in classes if not issubclass(c, Predictor)]
    if any(not c.lockstep for c in drivers) or len(drivers) > 1:
        names = ", ".join(c.name for c in drivers)
        raise HarnessError(
            f"mix: members must be step predictors (order0, ngram, ...) and at most one online model (lstm, gpt); "
            f"not {names}"
        )
    if any(c.tokenizes for c in classes):
        raise HarnessError("mix: members must code bytes (a tokenizing predictor's symbols are not the others')")


@hookimpl
def harness_predictors() -> list[type[SequenceCoder]]:
    return [Mix]
