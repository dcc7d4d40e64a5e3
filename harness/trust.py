"""What input from outside may make the harness do: the policy a command runs under.

A spec typed by the user is the user's own wish; a spec read from a `.hz` file is not. So
`harness decompress` runs under a `Trust` that lets the file name no model the user did not
give, download nothing, unpickle nothing, and build nothing estimated above a memory limit;
`compress`, `run` and `sweep` run under the default, which only refuses pickled weights.
Predictors that load files or reach the network read `current()` (plugins/hf/loading.py does).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

DEFAULT_MAX_MEMORY = 4 << 30
"""What an untrusted file may make the decoder allocate, by the predictor's own estimate."""


@dataclass(frozen=True)
class Trust:
    downloads: bool = True
    """Whether a model may be fetched from the Hugging Face Hub (else: the local cache only)."""
    pickles: bool = False
    """Whether weights may be unpickled (pytorch_model.bin): unpickling can run code."""
    models: tuple[Path, ...] | None = None
    """The local models a spec may name, matched by folder or file name (the file's checksums
    are checked against them); None: any path (the user typed the spec)."""
    max_memory: int | None = None
    """Largest memory estimate a predictor may have; None: no limit besides this machine's."""

    def local_model(self, named: str) -> Path:
        """Where the model a spec names as the local path `named` is to be loaded from."""
        if self.models is None:
            return Path(named)
        for path in self.models:
            if path.name == Path(named).name:
                return path
        raise HarnessError(
            f"the file names the local model {named!r}; decoding loads only models you name: "
            f"pass --model PATH (that model's folder on this machine; its checksum is verified)"
        )


USER = Trust()
"""The default: the user typed the spec."""
_current: contextvars.ContextVar[Trust] = contextvars.ContextVar("trust", default=USER)


def current() -> Trust:
    return _current.get()


@contextmanager
def policy(trust: Trust) -> Iterator[None]:
    """Run the block under `trust`."""
    token = _current.set(trust)
    try:
        yield
    finally:
        _current.reset(token)
