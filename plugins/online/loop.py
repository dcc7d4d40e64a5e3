"""The torch side of the online predictors: the model interface, the coding-and-training loop,
the optimizer and the device setup. Imported only when a model is built or described, so that
listing predictors or coding with another one never loads torch (see plugins/online/__init__.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.predictor import Progress
from plugins.online import live

if TYPE_CHECKING:
    from plugins.online import OnlinePredictor


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
def pinned(threads: int) -> Iterator[None]:
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


def device(name: str) -> torch.device:
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


def setup(name: str) -> dict[str, Any]:
    """What the probabilities depend on besides the options: device, dtype, torch and, on a CPU,
    the vector ISA (matmul and reduction kernels differ per ISA, and so do their roundings)."""
    where = device(name)
    described = {
        "device_type": where.type,
        "dtype": "float32",
        "torch": torch.__version__,
    }
    if where.type == "cuda":
        return described | {
            "device_name": torch.cuda.get_device_name(where),
            "cuda": torch.version.cuda,
        }
    return described | {"cpu_capability": torch.backends.cpu.get_cpu_capability()}


def parameters(predictor: type[OnlinePredictor], settings: dict[str, Any]) -> int:
    """The model's parameter count, from its shapes on torch's meta device (nothing allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in predictor.make_model_for(settings).parameters())


def fresh_model(predictor: OnlinePredictor) -> OnlineModel:
    """Built on the CPU under a private RNG: same initial weights on every device, and the
    global torch RNG is left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(predictor.settings["seed"])
        model = predictor.make_model_for(predictor.settings)
    return model.to(device(predictor.settings["device"]))


def make_optimizer(predictor: OnlinePredictor, model: nn.Module) -> torch.optim.Optimizer:
    lr = predictor.learning_rate()
    if predictor.settings["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, foreach=False)
    betas = (predictor.settings["beta1"], predictor.settings["beta2"])
    # fused: one pass over each tensor instead of one per operation (5x faster on a CPU for
    # the large embedding tables); still elementwise, so deterministic
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=True)


def run(
    predictor: OnlinePredictor,
    count: int,
    code: Callable[[np.ndarray, np.ndarray], np.ndarray],
    progress: Progress,
) -> None:
    """Predict, code and train over `count` symbols; `code(positions, probs)` codes one step.

    `code` gets the file positions of the step's real symbols (stream order) and their
    float64 distributions, and returns those symbols. Encoder and decoder differ only there.
    """
    batch, context = predictor.settings["batch"], predictor.settings["context"]
    length, steps = predictor.layout(count)
    predictor.model_bits = np.zeros(count)
    predictor.train_bits = []
    if count == 0:
        return
    starts = length * np.arange(batch)
    grid = np.zeros((batch, steps + 1), dtype=np.int64)  # column 0: the input before the first byte
    with pinned(predictor.settings["threads"]):
        model = fresh_model(predictor)
        optimizer = make_optimizer(predictor, model)
        model.reset(batch)
        trained = steps // context - 1  # blocks trained on: all but the last
        for block in range(0, steps, context):
            for s in range(block, block + context):
                alive = live(starts, np.array([s]), count, length)[:, 0]
                with torch.no_grad():
                    logits = model.step(torch.from_numpy(grid[:, s]).to(predictor.device))
                    logp = torch.log_softmax(logits.double(), dim=-1).cpu().numpy()
                positions = starts[alive] + s
                column = code(positions, np.exp(logp[alive]))
                grid[alive, s + 1] = column
                predictor.model_bits[positions] = -logp[alive, column] / math.log(2)
                progress(len(positions))
            if block + context < steps:  # nothing is coded after the last block
                for group in optimizer.param_groups:
                    group["lr"] = predictor.block_rate(block // context, trained)
                _train(
                    predictor,
                    model,
                    optimizer,
                    grid[:, block : block + context + 1],
                    block,
                    starts,
                    count,
                    length,
                )
            model.next_block()


def _train(
    predictor: OnlinePredictor,
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
    mask = live(starts, block + np.arange(window.shape[1] - 1), count, length)
    tokens = torch.from_numpy(window).to(predictor.device)
    weight = torch.from_numpy(mask.astype(np.float32)).to(predictor.device)
    for update in range(predictor.settings["updates"]):
        loss = (model.block_loss(tokens[:, :-1], tokens[:, 1:]) * weight).sum()
        optimizer.zero_grad(set_to_none=True)
        (loss / weight.sum()).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=False)
        optimizer.step()
        if update == 0:
            predictor.train_bits.append(loss.item() / math.log(2))
