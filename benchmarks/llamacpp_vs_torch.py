"""The two `hf` backends side by side: torch (GGUF dequantized to float32) against llama.cpp
(the quantized GGUF as it is), SmolLM2-135M-Instruct Q4_1 from ../shared, on the same bytes.

    python benchmarks/llamacpp_vs_torch.py [--max-bytes N] [--batches 1,16] [--threads 1,2] [FILE]

For each backend, batch and thread count: code the first N bytes (default 20,000 of alice29),
decode them with a fresh predictor and compare, then print bits/byte (payload), tokens per second
each way (wall clock) and per CPU-second (this process's CPU time, so a busy machine shows less
in the wall figure than in this one), and llama.cpp's speed-up over torch at the same batch and
threads. Model loading is left out. Run it on an otherwise idle machine; it says what else ran.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import psutil

from harness import container
from harness.registry import load_registry

_SHARED = Path(__file__).resolve().parents[2] / "shared"
_SMOLLM2 = _SHARED / "models" / "smollm2-135m-instruct"
_MODEL = f"hf:{_SMOLLM2},gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf"


def _timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(spec: str, data: bytes) -> dict[str, float]:
    registry = load_registry()
    encoder, decoder = registry.build(spec), registry.build(spec)  # loads happen here, untimed
    encoded, encode_s, encode_cpu = _timed(lambda: container.encode(data, spec, encoder))
    decoded, decode_s, decode_cpu = _timed(lambda: container.decode(container.unpack(encoded.container), decoder))
    if decoded != data:
        raise SystemExit(f"{spec}: decoded bytes differ from the input")
    tokens = encoded.symbols
    return {
        "bits_per_byte": 8 * encoded.payload_bytes / len(data),
        "encode": tokens / encode_s,
        "decode": tokens / decode_s,
        "per_cpu_s": 2 * tokens / (encode_cpu + decode_cpu),
        "tokens": tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=_SHARED / "corpora" / "canterbury" / "alice29.txt")
    parser.add_argument("--max-bytes", type=int, default=20_000)
    parser.add_argument("--batches", default="1,16", help="lockstep batch sizes (comma-separated)")
    parser.add_argument("--threads", default="1", help="thread counts (comma-separated)")
    parser.add_argument("--backends", default="torch,llamacpp")
    args = parser.parse_args()
    if not (_SMOLLM2 / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file():
        raise SystemExit(f"the SmolLM2 GGUF is not in {_SMOLLM2}")
    data = args.file.read_bytes()[: args.max_bytes]
    busy = [p.name() for p in psutil.process_iter() if p.pid != os.getpid() and p.cpu_percent(0.2) > 20]
    print(
        f"{args.file.name}, first {len(data):,} bytes; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} at start; busy besides this: {', '.join(busy) or 'nothing'}"
    )
    columns = ["backend", "batch", "threads", "tokens", "bits/byte", "enc tok/s", "dec tok/s", "tok/CPU-s", "x torch"]
    print(" ".join(f"{c:>9}" for c in columns))
    torch_speed: dict[tuple[int, int], float] = {}
    for batch in (int(b) for b in args.batches.split(",")):
        for threads in (int(t) for t in args.threads.split(",")):
            for backend in args.backends.split(","):
                spec = f"{_MODEL},batch={batch},threads={threads},backend={backend}"
                m = measure(spec, data)
                speed = (m["encode"] + m["decode"]) / 2
                if backend == "torch":
                    torch_speed[batch, threads] = speed
                versus = f"{speed / torch_speed[batch, threads]:.2f}" if (batch, threads) in torch_speed else ""
                print(
                    f"{backend:>9} {batch:>9} {threads:>9} {m['tokens']:>9,} {m['bits_per_byte']:>9.4f} "
                    f"{m['encode']:>9.1f} {m['decode']:>9.1f} {m['per_cpu_s']:>9.1f} {versus:>9}",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.2f} at the end; every row decoded and compared")


if __name__ == "__main__":
    main()
