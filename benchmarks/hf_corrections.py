"""Online corrections of a frozen LM, each on its own, on the same bytes: SmolLM2 (llama.cpp,
window=shift) alone and mixed with cm, with and without the online bias (`bias_lr`).

    python benchmarks/hf_corrections.py [--max-bytes N] [--file PATH] [SPEC ...]

The model's next-token probabilities are computed once, by the first spec, and replayed to the
others (every spec here runs the same model with the same window, so they would be the same
numbers): each later row costs only its own work, which is also the harness's share of a step
(token table walk, bias, cm). Rows are encoded, not decoded (payload bytes); the decoded figures
are the whole-file rows in the results store. Specs run from ../shared/models.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness import container
from harness.registry import load_registry
from plugins.hf import llamacpp

_SHARED = Path(__file__).resolve().parents[2] / "shared"
_MODEL = "./smollm2-135m-instruct;backend=llamacpp;gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf;window=shift"
_SPECS = [f"hf:{_MODEL.replace(';', ',')}{bias}" for bias in ("", ",bias_lr=0.1", ",bias_lr=0.2", ",bias_lr=0.4")] + [
    f"mix:hf({_MODEL}{bias})+cm" for bias in ("", ";bias_lr=0.2")
]


class Replay:
    """Every llama.cpp runner answers from one recording: until `replay()`, each step's
    probabilities are recorded; after it, each run gets them back from the first step on."""

    def __init__(self) -> None:
        self.recording: list[np.ndarray] = []
        self.at: int | None = None  # None: recording
        self._depth = 0  # shift() calls forward(): one row a step
        for name in ("restart", "shift", "forward"):
            setattr(llamacpp.Runner, name, self._step(getattr(llamacpp.Runner, name)))

    def replay(self) -> None:
        self.at = 0

    def _step(self, real: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        def step(runner: llamacpp.Runner, *args: object) -> np.ndarray:
            if self.at is not None:
                self.at += 1
                return self.recording[self.at - 1].astype(np.float64)
            self._depth += 1
            try:
                probs = real(runner, *args)
            finally:
                self._depth -= 1
            if not self._depth:
                self.recording.append(probs.astype(np.float32))
            return probs

        return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-bytes", type=int, default=50_000)
    parser.add_argument("--file", type=Path, default=_SHARED / "corpora" / "canterbury" / "alice29.txt")
    parser.add_argument("specs", nargs="*", default=_SPECS)
    args = parser.parse_args()
    data = args.file.read_bytes()[: args.max_bytes]
    os.chdir(_SHARED / "models")
    replay = Replay()
    registry = load_registry()
    print(f"{args.file.name}, first {len(data):,} bytes; the first row computes the model, the others replay it")
    for spec in args.specs:
        predictor = registry.build(spec)
        start = time.process_time()
        encoded = container.encode(data, spec, predictor)
        seconds = time.process_time() - start
        replay.replay()
        print(
            f"{encoded.payload_bytes:>8,} B  {8 * encoded.payload_bytes / len(data):.4f} bits/byte  "
            f"{seconds:7.1f} CPU-s  {spec}",
            flush=True,
        )


if __name__ == "__main__":
    main()
