"""Online-trained neural predictors (NNCP-style): what `lstm` and `gpt` share.

Encoder and decoder start from the same seeded weights, predict the next byte, code it, then
train on what has been coded. Only the code is shipped (model_bytes = 0), so the code length is
the area under the online training-loss curve.

To keep CPU time reasonable the input is cut into `batch` contiguous segments that are coded in
lockstep: one step predicts one byte of every segment (a batch of B), and the coder codes those
B bytes in segment order. Every `context` steps the model trains once on the block of bytes just
coded (truncated BPTT for the LSTM, a memory of the previous block for the transformer). The
weights are frozen within a block, so the training loss of a block, computed before its update,
equals the code length of that block up to float rounding and the coder's quantization.

Bit-exact decoding: the decoder runs the very same torch calls on tensors of the very same
shapes (padding included) in the same order, with a pinned thread count, deterministic
algorithms and float32. That makes the probabilities identical on the same software and
hardware; `config()` records what they depend on (torch version, device, CPU vector ISA,
threads, dtype), so the container refuses to decode elsewhere rather than produce wrong bytes.

This module is light (numpy only): torch is imported by `loop.py`, the torch side, only when a
model is built or its setup described, so that listing predictors, `harness --help` or coding
with `ngram` never load it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.predictor import (
    SYMBOL_BYTES,
    CodeOne,
    Option,
    Progress,
    SequenceCoder,
    decode_in_any_order,
    encode_in_any_order,
    no_progress,
    optional_import,
)

if TYPE_CHECKING:
    from plugins.online.loop import OnlineModel

OPTIMIZERS = ("adam", "sgd")

# 40-70 MiB measured on a CPU (benchmarks/memory_online.py, the smallest models); twice that
# for other builds and machines.
RUNTIME_BYTES = 128 << 20
"""What torch allocates for itself once a model trains, whatever the model's size (kernel
workspaces, the autograd engine)."""


def live(starts: np.ndarray, steps: np.ndarray, count: int, length: int) -> np.ndarray:
    """[streams, steps] mask of real symbols; the rest is padding that keeps shapes fixed."""
    return (starts[:, None] + steps[None, :] < count) & (steps[None, :] < length)


def _loop() -> ModuleType:
    """The torch side of the family (plugins/online/loop.py); torch is the `neural` extra."""
    optional_import("torch", "neural", "the online family (lstm, gpt)")
    from plugins.online import loop

    return loop


class OnlinePredictor(SequenceCoder):
    """Base of predictors whose model is trained while coding. Subclasses implement `make_model_for`."""

    whole_input = True  # the input is cut into `batch` streams, so encode_symbols sees all of it
    lockstep = True  # `code_streams`: others (mix) may code each step
    options: ClassVar[dict[str, Any]] = {
        "batch": Option(
            16,
            "streams coded in lockstep (the input is cut into this many segments)",
            1,
            4096,
        ),
        "context": Option(32, "T: steps per block; the weights are frozen within a block", 1, 65536),
        "lr": Option(1e-3, "learning rate", 1e-9, 10.0),
        # on book1: lstm 2.602 -> 2.511 bits/byte against a constant rate (decay=1)
        "decay": Option(
            0.1,
            "the rate falls linearly to decay x lr over the run (1: constant)",
            1e-6,
            1.0,
        ),
        "updates": Option(1, "optimizer steps per block", 1, 64),
        "optimizer": Option("adam", "optimizer", choices=OPTIMIZERS),
        # Adam's momentum; on 200 KB of book1, lstm 2.848 -> 2.786 bits/byte against 0.9
        "beta1": Option(0.0, "Adam's beta1 (momentum)", 0.0, 0.999999),
        "beta2": Option(0.99, "Adam's beta2", 0.0, 0.999999),
        "seed": Option(0, "seed of the initial weights", 0, 2**32 - 1),
        "threads": Option(1, "torch CPU threads (the result depends on it)", 1, 256),
        "device": Option("cpu", "cpu or cuda", choices=("cpu", "cuda")),
    }

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        loop = _loop()

        self.device = loop.device(self.settings["device"])
        model = self._fresh_model()
        self.params = sum(p.numel() for p in model.parameters())
        # Each byte: one forward step to predict it, and forward + backward (about 3 forwards)
        # for each of the `updates` steps on its block.
        self.flops_per_symbol = (1 + 3 * self.settings["updates"]) * model.forward_flops(self.settings["context"])
        self.train_bits: list[float] = []
        """Training loss of each trained block in bits, summed over its bytes, before its update."""
        self.model_bits = np.zeros(0)
        """-log2 of the model's own float probability of each symbol (file order), before quantization."""

    @classmethod
    def static_config(cls, settings: dict[str, Any]) -> dict[str, Any]:
        loop = _loop()

        return {**super().static_config(settings), **loop.setup(settings["device"])}

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        """An upper bound of the peak, since a `.hz` file picks the settings: float32 weights,
        their gradients and Adam's two moments, and room for one more copy (backward sums a
        weight's gradients over its uses); what the model holds besides (`working_bytes`); the
        symbols, and the loop's own grid of inputs (int64, each stream padded to whole blocks)
        and bits (float64); and torch's runtime. benchmarks/memory_online.py measures it."""
        loop = _loop()

        batch, context = settings["batch"], settings["context"]
        return (
            20 * loop.parameters(cls, settings)
            + cls.working_bytes(settings)
            + (SYMBOL_BYTES + 16) * symbols
            + 8 * batch * (context + 2)
            + RUNTIME_BYTES
        )

    @classmethod
    @abstractmethod
    def working_bytes(cls, settings: dict[str, Any]) -> int:
        """Bytes the model holds besides its weights at its peak, whatever the input: activations
        kept for backward, their gradients, caches and buffers."""

    @classmethod
    @abstractmethod
    def make_model_for(cls, settings: dict[str, Any]) -> OnlineModel:
        """The model for `settings` (on the current default device)."""

    def _fresh_model(self) -> OnlineModel:
        loop = _loop()

        return loop.fresh_model(self)

    def learning_rate(self) -> float:
        """The optimizer's rate; a model family may scale the `lr` option with its size."""
        return self.settings["lr"]

    def block_rate(self, block: int, blocks: int) -> float:
        """The rate for training block `block` of `blocks`: linear from the learning rate down to
        `decay` times it at the last block (both sides know the input's length, so its schedule)."""
        return self.learning_rate() * (1.0 - (1.0 - self.settings["decay"]) * block / max(blocks - 1, 1))

    def layout(self, count: int) -> tuple[int, int]:
        """(segment length, steps): stream b holds symbols [b * length, (b + 1) * length)."""
        batch, context = self.settings["batch"], self.settings["context"]
        length = -(-count // batch)
        return length, -(-length // context) * context

    def coding_order(self, count: int) -> np.ndarray:
        """File positions of the symbols in the order they were coded (the loss curve's x axis)."""
        length, steps = self.layout(count)
        starts = length * np.arange(self.settings["batch"])
        index = starts[:, None] + np.arange(steps)[None, :]
        return index.T[live(starts, np.arange(steps), count, length).T]  # step by step, streams in order

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        return encode_in_any_order(
            self.alphabet_size, symbols, lambda code: self._code_rows(len(symbols), code, progress)
        )

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        return decode_in_any_order(
            self.alphabet_size, payload, count, lambda code: self._code_rows(count, code, progress)
        )

    def _code_rows(self, count: int, code: CodeOne, progress: Progress) -> None:
        """`code_streams`, each step's symbols coded one by one, in stream order."""

        def step(positions: np.ndarray, probs: np.ndarray) -> np.ndarray:
            return np.array([code(position, probs[row]) for row, position in enumerate(positions.tolist())], np.int64)

        self.code_streams(count, step, progress)

    def code_streams(
        self,
        count: int,
        code: Callable[[np.ndarray, np.ndarray], np.ndarray],
        progress: Progress,
    ) -> None:
        """Predict, code (through `code(positions, probs)`) and train over `count` symbols."""
        loop = _loop()

        loop.run(self, count, code, progress)
