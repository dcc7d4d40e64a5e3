"""Where a lockstep step's time goes in llama.cpp: one `llama_decode` of 16 tokens, laid out
three ways, against one token, for each GGUF format.

    python benchmarks/llamacpp_step.py [--formats Q4_1,Q4_0,Q8_0] [--threads 1] [--repeats 10]

The rows, each the mean of `--repeats` decodes on a cleared cache (SmolLM2-135M-Instruct from
../shared; formats other than Q4_1 are written by llama.cpp's quantizer into a temporary folder):
- 1 token: a batch=1 step;
- 16 positions of one sequence, 1 output: prompt processing, llama.cpp's best case for 16 tokens;
- 16 sequences, 1 output: what the lockstep streams add (a KV cache each);
- 16 sequences, 16 outputs: a real batch=16 step, with the output layer for every stream.
"16 / 1" is the last row over the first: near 16, the 16 tokens cost what 16 steps of one do
(the weights' matrix products are compute-bound, not memory-bound, for that format). Timing
only: no symbol is coded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llamacpp_vs_torch import _GGUF, requantized  # noqa: E402

from plugins.hf import llamacpp  # noqa: E402

LAYOUTS = {
    "1 token": (1, 1, 1),
    "16 positions, 1 output": (1, 16, 1),
    "16 sequences, 1 output": (16, 1, 1),
    "16 sequences, 16 outputs": (16, 1, 16),
}
"""Each layout's (sequences, positions per sequence, outputs)."""


def step_ms(loaded: llamacpp.Loaded, threads: int, repeats: int, sequences: int, positions: int, outputs: int) -> float:
    runner = llamacpp.Runner(loaded, sequences, 1024, threads)
    entries = [(100 + s + p, p, s) for s in range(sequences) for p in range(positions)]
    start = time.perf_counter()
    for _ in range(repeats):
        runner._lib.llama_memory_clear(runner._memory, True)
        runner._decode(entries, outputs)
    return 1000 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="Q4_1,Q4_0,Q8_0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.threads} thread(s)")
    print(f"llama.cpp: {llamacpp.versions()}")
    print("| GGUF | MB | " + " | ".join(f"{name} (ms)" for name in LAYOUTS) + " | 16 / 1 |")
    print("|---|---:|" + "---:|" * (len(LAYOUTS) + 1))
    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.formats.split(","):
            path = _GGUF if kind == "Q4_1" else requantized(_GGUF, kind, Path(scratch))
            loaded = llamacpp.load(path, None)
            times = [step_ms(loaded, args.threads, args.repeats, *layout) for layout in LAYOUTS.values()]
            shown = " | ".join(f"{t:.1f}" for t in times)
            print(f"| {kind} | {path.stat().st_size / 1e6:.0f} | {shown} | {times[-1] / times[0]:.1f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
