"""Peak memory of the online predictors (gpt, lstm), or any other, against its `memory_estimate`.

Decoding an untrusted `.hz` file builds a predictor only when its own estimate is under the
limit (`--max-memory`), so an estimate must bound what coding really takes. Each spec encodes in
its own process (decoding runs the same loop on the same shapes): after the imports the process
resets its peak RSS (`/proc/self/clear_refs`, Linux 4.0+), and what is reported is its peak RSS
after coding less its RSS at that reset, beside the estimate for the same settings and length:

    .venv/bin/python benchmarks/memory_online.py
    .venv/bin/python benchmarks/memory_online.py --bytes 20000 gpt "lstm:hidden=1024"
    .venv/bin/python benchmarks/memory_online.py order0 ngram cm "mix:cm+ngram"

The input is random bytes (an online model's memory does not depend on what they are; context
models fill their tables fastest), by default long enough for every stream of an online model
to train with a full memory, or one segment for the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MB = 1 << 20
SPECS = [  # the defaults, then settings where each term of the estimate dominates in turn
    "gpt",
    "lstm",
    "gpt:width=16,heads=16,layers=1,batch=16,context=256,memory_blocks=1,ngrams=0",  # attention scores
    "gpt:width=512,heads=1,layers=1,batch=64,context=8,memory_blocks=32,ngrams=0",  # keys and values
    "gpt:layers=4,batch=128,context=32,memory_blocks=1,ngrams=0",  # activations
    "gpt:batch=64,context=64,memory_blocks=4",
    "lstm:layers=4,hidden=1024,batch=64,context=32",
    "lstm:hidden=64,batch=512,context=128",
]


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/self/status")


def child(spec: str, length: int) -> None:
    """Code `length` random bytes with `spec` in this process; print the figures as JSON."""
    import numpy as np
    import torch

    from harness.predictor import memory_need
    from harness.registry import load_registry

    cls, settings, _ = load_registry().predictor(spec)
    estimate = memory_need(cls, settings, length)
    torch.zeros(1)  # torch loaded and initialised before the reset
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := RSS now
    before = status_kib("VmRSS")
    symbols = np.random.default_rng(0).integers(0, 256, length)
    cls(**settings).encode_symbols(symbols)
    added = (status_kib("VmHWM") - before) << 10
    print(json.dumps({"spec": spec, "bytes": length, "estimate": estimate, "added": added}))


def measure(spec: str, length: int, timeout: float | None = None) -> dict:
    """{'estimate', 'added'} (bytes) of coding `length` bytes with `spec`, in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", spec, str(length)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode:
        raise RuntimeError(f"{spec} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def long_enough(spec: str) -> int:
    """Bytes for every stream of an online model to train on a block with a full memory (gpt:
    the block after `memory_blocks` blocks) and code the next one; for others, a segment."""
    from harness import wire
    from harness.registry import load_registry
    from plugins.online import OnlinePredictor

    cls, settings, _ = load_registry().predictor(spec)
    if not issubclass(cls, OnlinePredictor):
        return wire.SEGMENT_SYMBOLS
    return settings["batch"] * settings["context"] * (settings.get("memory_blocks", 0) + 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", default=SPECS, metavar="SPEC")
    parser.add_argument("--bytes", type=int, help="input length (default: long enough to fill the memory)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))
    print(f"{'spec':<76} {'bytes':>8} {'estimate MB':>12} {'peak added MB':>14} {'ratio':>6}", flush=True)
    for spec in args.specs:
        figures = measure(spec, args.bytes or long_enough(spec))
        estimate, added = figures["estimate"], figures["added"]
        print(
            f"{spec:<76} {figures['bytes']:>8} {estimate / MB:>12.1f} {added / MB:>14.1f} {estimate / added:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
