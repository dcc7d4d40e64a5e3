"""Online-trained neural predictors (NNCP-style): the coding-and-training loop `lstm` and `gpt` share.

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
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from harness import coder
from harness.errors import HarnessError
from harness.predictor import Option, Predictor, Progress, no_progress

OPTIMIZERS = ("adam", "sgd")


class OnlineModel(nn.Module):
    """What a model offers to be trained online. It keeps its own inference state.

    Per block of T steps: `step` is called T times (no grad) with the input byte of each stream
    and returns the logits of the next byte; then `block_loss` recomputes the same predictions
    for the whole block with gradients; then `next_block` turns the block into memory.
    """

    def reset(self, batch: int) -> None:
        """Start empty for `batch` streams."""
        raise NotImplementedError

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Consume one input byte per stream ([B] int64); return next-byte logits [B, 256]."""
        raise NotImplementedError

    def block_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy in nats [B, T] of `targets` given `inputs` and the block's memory."""
        raise NotImplementedError

    def next_block(self) -> None:
        """The block just stepped through becomes the memory of the next one."""
        raise NotImplementedError

    def forward_flops(self, context: int) -> float:
        """Floating-point operations of one forward step for one byte."""
        raise NotImplementedError


@contextmanager
def _pinned(threads: int) -> Iterator[None]:
    """Fix thread count and deterministic kernels for the duration of a run, then restore."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


def _device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"device=cuda asked for, but this torch ({torch.__version__}) sees no CUDA device")
        # cuBLAS is only deterministic with a fixed workspace; must be set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return torch.device("cuda")
    raise HarnessError(f"device must be 'cpu' or 'cuda', not {name!r}")


def _live(starts: np.ndarray, steps: np.ndarray, count: int, length: int) -> np.ndarray:
    """[streams, steps] mask of real symbols; the rest is padding that keeps shapes fixed."""
    return (starts[:, None] + steps[None, :] < count) & (steps[None, :] < length)


class OnlinePredictor(Predictor):
    """Base of predictors whose model is trained while coding. Subclasses implement `make_model`."""

    whole_input = True  # the input is cut into `batch` streams, so encode_symbols sees all of it
    options: ClassVar[dict[str, Any]] = {
        "batch": Option(16, "streams coded in lockstep (the input is cut into this many segments)", 1, 4096),
        "context": Option(32, "T: steps per block; the weights are frozen within a block", 1, 65536),
        "lr": Option(1e-3, "learning rate", 1e-9, 10.0),
        # on book1: lstm 2.602 -> 2.511 bits/byte against a constant rate (decay=1)
        "decay": Option(0.1, "the rate falls linearly to decay x lr over the run (1: constant)", 1e-6, 1.0),
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
        self.device = _device(self.settings["device"])
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
        device = _device(settings["device"])
        setup = {"device_type": device.type, "dtype": "float32", "torch": torch.__version__}
        if device.type == "cuda":
            setup |= {"device_name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}
        else:
            # Matmul and reduction kernels differ per vector ISA, and so do their roundings.
            setup |= {"cpu_capability": torch.backends.cpu.get_cpu_capability()}
        return {**super().static_config(settings), **setup}

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        """Weights, gradients and two Adam moments (float32 each), counted on torch's meta device
        (shapes only, nothing allocated), plus the symbols and their per-symbol bits."""
        with torch.device("meta"):
            params = sum(p.numel() for p in cls.make_model_for(settings).parameters())
        return 16 * params + 16 * symbols

    @classmethod
    def make_model_for(cls, settings: dict[str, Any]) -> OnlineModel:
        """The model for `settings` (on the current default device)."""
        raise NotImplementedError

    def _fresh_model(self) -> OnlineModel:
        # Built on the CPU under a private RNG: same initial weights on every device, and the
        # global torch RNG is left alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings["seed"])
            model = self.make_model_for(self.settings)
        return model.to(self.device)

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        lr = self.learning_rate()
        if self.settings["optimizer"] == "sgd":
            return torch.optim.SGD(model.parameters(), lr=lr, foreach=False)
        betas = (self.settings["beta1"], self.settings["beta2"])
        # fused: one pass over each tensor instead of one per operation (5x faster on a CPU for
        # the large embedding tables); still elementwise, so deterministic
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=True)

    def learning_rate(self) -> float:
        """The optimizer's rate; a model family may scale the `lr` option with its size."""
        return self.settings["lr"]

    def block_rate(self, block: int, blocks: int) -> float:
        """The rate for training block `block` of `blocks`: linear from the learning rate down to
        `decay` times it at the last block (both sides know the input's length, so its schedule)."""
        return self.learning_rate() * (1.0 - (1.0 - self.settings["decay"]) * block / max(blocks - 1, 1))

    def predict(self) -> np.ndarray:
        raise HarnessError(f"{self.name} codes a batch of streams at a time; use encode_symbols/decode_symbols")

    def update(self, symbol: int) -> None:
        raise HarnessError(f"{self.name} codes a batch of streams at a time; use encode_symbols/decode_symbols")

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
        return index.T[_live(starts, np.arange(steps), count, length).T]  # step by step, streams in order

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        encoder = coder.Encoder(self.alphabet_size)
        bits = np.zeros(len(symbols), dtype=np.float32)
        symbols = np.asarray(symbols, dtype=np.int64)

        def code(positions: np.ndarray, probs: np.ndarray) -> np.ndarray:
            column = symbols[positions]
            for row, (position, symbol) in enumerate(zip(positions.tolist(), column.tolist(), strict=True)):
                before = encoder.ideal_bits
                encoder.encode(symbol, probs[row])
                bits[position] = encoder.ideal_bits - before
            return column

        self._run(len(symbols), code, progress)
        return encoder.finish(), bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        decoder = coder.Decoder(payload, self.alphabet_size)
        symbols = np.zeros(count, dtype=np.int64)

        def code(positions: np.ndarray, probs: np.ndarray) -> np.ndarray:
            for row, position in enumerate(positions.tolist()):
                symbols[position] = decoder.decode(probs[row])
            return symbols[positions]

        self._run(count, code, progress)
        return symbols

    def _run(self, count: int, code: Callable[[np.ndarray, np.ndarray], np.ndarray], progress: Progress) -> None:
        """Predict, code and train over `count` symbols; `code(positions, probs)` codes one step.

        `code` gets the file positions of the step's real symbols (stream order) and their
        float64 distributions, and returns those symbols. Encoder and decoder differ only there.
        """
        batch, context = self.settings["batch"], self.settings["context"]
        length, steps = self.layout(count)
        self.model_bits = np.zeros(count)
        self.train_bits = []
        if count == 0:
            return
        starts = length * np.arange(batch)
        grid = np.zeros((batch, steps + 1), dtype=np.int64)  # column 0: the input before the first byte
        with _pinned(self.settings["threads"]):
            model = self._fresh_model()
            optimizer = self._optimizer(model)
            model.reset(batch)
            trained = steps // context - 1  # blocks trained on: all but the last
            for block in range(0, steps, context):
                for s in range(block, block + context):
                    live = _live(starts, np.array([s]), count, length)[:, 0]
                    with torch.no_grad():
                        logits = model.step(torch.from_numpy(grid[:, s]).to(self.device))
                        logp = torch.log_softmax(logits.double(), dim=-1).cpu().numpy()
                    positions = starts[live] + s
                    column = code(positions, np.exp(logp[live]))
                    grid[live, s + 1] = column
                    self.model_bits[positions] = -logp[live, column] / math.log(2)
                    progress(len(positions))
                if block + context < steps:  # nothing is coded after the last block
                    for group in optimizer.param_groups:
                        group["lr"] = self.block_rate(block // context, trained)
                    self._train(model, optimizer, grid[:, block : block + context + 1], block, starts, count, length)
                model.next_block()

    def _train(
        self,
        model: OnlineModel,
        optimizer: torch.optim.Optimizer,
        window: np.ndarray,
        block: int,
        starts: np.ndarray,
        count: int,
        length: int,
    ) -> None:
        """`updates` steps on the block: inputs window[:, :-1] predict targets window[:, 1:].

        The first step's loss, taken before any update, is the block's code length up to rounding.
        """
        mask = _live(starts, block + np.arange(window.shape[1] - 1), count, length)
        tokens = torch.from_numpy(window).to(self.device)
        weight = torch.from_numpy(mask.astype(np.float32)).to(self.device)
        for update in range(self.settings["updates"]):
            loss = (model.block_loss(tokens[:, :-1], tokens[:, 1:]) * weight).sum()
            optimizer.zero_grad(set_to_none=True)
            (loss / weight.sum()).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=False)
            optimizer.step()
            if update == 0:
                self.train_bits.append(loss.item() / math.log(2))
