"""The conformance kit: every registered predictor passes it, and it catches each kind of fault."""

from __future__ import annotations

import numpy as np
import pytest

from harness.conformance import ConformanceError, check_predictor
from harness.errors import HarnessError
from harness.predictor import Predictor, defaults
from harness.registry import load_registry
from plugins.order0 import Order0

# Collected from the installed plugins, so a new predictor is checked without touching this file.
PREDICTORS = sorted(load_registry().predictors)


@pytest.mark.parametrize("name", PREDICTORS)
def test_registered_predictor_conforms(registry, name):
    cls = registry.predictors[name].item
    try:
        cls(**{**defaults(cls), **cls.test_options})
    except HarnessError as error:  # e.g. a pretrained model that is not on this machine
        pytest.skip(f"{name} cannot be built here: {error}")
    checks = check_predictor(cls, long_bytes=4_000)
    assert "round trip" in checks


def test_spec_is_resolved_through_the_plugins():
    assert check_predictor("order0", long_bytes=1_000)


def test_the_fixture_is_registered_with_pytest(predictor_conformance):
    assert predictor_conformance is check_predictor


class Unnormalised(Order0):
    name = "unnormalised"

    def predict(self) -> np.ndarray:
        return self.counts.copy()


class Forgetful(Order0):
    """Each instance starts from its own random counts: encoder and decoder disagree."""

    name = "forgetful"

    def __init__(self, **settings: object) -> None:
        super().__init__(**settings)
        self.counts += np.random.default_rng().random(256)


class Moody(Order0):
    """predict() itself changes the state."""

    name = "moody"

    def predict(self) -> np.ndarray:
        self.counts[0] += 1
        return super().predict()


class LossyTokens(Order0):
    name = "lossy"
    tokenizes = True

    def from_symbols(self, symbols: np.ndarray) -> bytes:
        return super().from_symbols(symbols)[:-1]


class UndeclaredTokens(Order0):
    """Tokenizes without saying so: the container would cut its input anywhere."""

    name = "undeclared"

    def to_symbols(self, data: bytes) -> np.ndarray:
        return super().to_symbols(data)[::-1].copy()

    def from_symbols(self, symbols: np.ndarray) -> bytes:
        return super().from_symbols(symbols[::-1])


class RogueLoop(Order0):
    """A 'fast path' that codes something else than the default loop."""

    name = "rogue"

    def encode_symbols(self, symbols, progress=lambda _: None):
        return super().encode_symbols(symbols[::-1], progress)


class Unserialisable(Order0):
    name = "unserialisable"

    def config(self):
        return {**super().config(), "shape": (1, 2)}


class Badly(Predictor):
    name = "bad name"
    description = ""
    options = {"sizes": [1, 2]}


@pytest.mark.parametrize(
    "cls, failed",
    [
        (Unnormalised, "distributions: predict() sums to"),
        (Forgetful, "determinism: two fresh instances write different bits"),
        (Moody, "predict() twice without update() gives different answers"),
        (LossyTokens, "from_symbols(to_symbols(x)) != x"),
        (UndeclaredTokens, "metadata: tokenizes is False but to_symbols/from_symbols are overridden"),
        (RogueLoop, "fused loop: encode_symbols writes other bits than the default loop"),
        (Unserialisable, "config() changes through JSON"),
        (Badly, "metadata: name 'bad name' contains"),
    ],
)
def test_kit_reports_each_fault(cls, failed):
    with pytest.raises(ConformanceError, match=f"predictor {cls.__name__} fails") as error:
        check_predictor(cls, long_bytes=1_000)
    assert failed in str(error.value)


def test_test_options_are_used_and_must_be_known_options():
    class Small(Order0):
        name = "small"
        test_options = {"size": 1}

    with pytest.raises(ConformanceError, match=r"test_options names unknown options \['size'\]"):
        check_predictor(Small, long_bytes=1_000)
