"""The two `hf` backends side by side on the same GGUF file and the same bytes: torch (the GGUF
dequantized to float32) against llama.cpp (the quantized weights as they are).

    python benchmarks/llamacpp_vs_torch.py [--max-bytes N] [--requantize Q4_0,...] [--quick]
                                           [--windows restart,shift] [FILE]

The model is SmolLM2-135M-Instruct Q4_1 from ../shared, plus copies of it that llama.cpp's own
quantizer writes in other formats (`--requantize`, default Q4_0, into a temporary folder: the
formats differ in which batched kernels llama.cpp has for them). For each file, backend, batch
and thread count: code the first N bytes (default 20,000 of alice29), decode them with a fresh
predictor and compare, then print bits/byte (payload), tokens per second each way (wall clock)
and per CPU-second (this process's CPU time), and llama.cpp's speed over torch's at the same
batch and threads. llama.cpp runs with each `--windows` schedule (torch only restarts): a full
window re-read (`restart`, torch's own) or its kept tokens' keys and values moved (`shift`).
Model loading is left out. Run it on an otherwise idle machine: it prints the load average at
the start and the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from harness import container, wire
from harness.registry import load_registry
from plugins.hf import llamacpp

_SHARED = Path(__file__).resolve().parents[2] / "shared"
_GGUF = _SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
ROWS = [
    ("torch", 1, 1),
    ("llamacpp", 1, 1),
    ("llamacpp", 1, 2),
    ("torch", 16, 1),
    ("llamacpp", 16, 1),
    ("llamacpp", 16, 2),
]
"""(backend, batch, threads); llama.cpp's speed-up is over the torch row of the same batch (one
thread, torch's default here: its per-CPU-second figure is the fair one for two threads)."""


def requantized(source: Path, kind: str, folder: Path) -> Path:
    """`source` rewritten by llama.cpp's quantizer as `kind` (e.g. Q4_0), in `folder`."""
    lib = llamacpp.library()
    params = lib.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = getattr(lib, f"LLAMA_FTYPE_MOSTLY_{kind}"), True, 2
    target = folder / kind / source.name.replace("Q4_1", kind)
    target.parent.mkdir(parents=True)
    if lib.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0:
        raise SystemExit(f"llama.cpp could not write {kind}")
    return target


def _timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(spec: str, data: bytes) -> dict[str, float]:
    registry = load_registry()
    encoder, decoder = registry.build(spec), registry.build(spec)  # loading happens here, untimed
    encoded, encode_s, encode_cpu = _timed(lambda: container.encode(data, spec, encoder))
    decoded, decode_s, decode_cpu = _timed(lambda: container.decode(wire.unpack(encoded.container), decoder))
    if decoded != data:
        raise SystemExit(f"{spec}: decoded bytes differ from the input")
    return {
        "tokens": encoded.symbols,
        "bits_per_byte": 8 * encoded.payload_bytes / len(data),
        "encode": encoded.symbols / encode_s,
        "decode": encoded.symbols / decode_s,
        "per_cpu_s": 2 * encoded.symbols / (encode_cpu + decode_cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=_SHARED / "corpora" / "canterbury" / "alice29.txt")
    parser.add_argument("--max-bytes", type=int, default=20_000)
    parser.add_argument("--requantize", default="Q4_0", help="also these formats, written by llama.cpp (or '')")
    parser.add_argument("--quick", action="store_true", help="one thread only (skips the threads=2 rows)")
    parser.add_argument("--batches", default="1,16", help="only the rows of these batch sizes")
    parser.add_argument("--backends", default="torch,llamacpp", help="only the rows of these backends")
    parser.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True, help="the Q4_1 file itself")
    parser.add_argument("--windows", default="restart,shift", help="llama.cpp's window schedules")
    args = parser.parse_args()
    if not _GGUF.is_file():
        raise SystemExit(f"the SmolLM2 GGUF is not at {_GGUF}")
    data = args.file.read_bytes()[: args.max_bytes]
    batches = {int(b) for b in args.batches.split(",")}
    backends = set(args.backends.split(","))
    rows = [
        (backend, batch, threads, window)
        for backend, batch, threads in ROWS
        if batch in batches and backend in backends and not (args.quick and threads > 1)
        for window in (["restart"] if backend == "torch" else args.windows.split(","))
    ]
    print(f"{args.file.name}, first {len(data):,} bytes; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"llama.cpp: {llamacpp.versions()}")
    columns = ["file", "backend", "window", "batch", "threads", "tokens"]
    columns += ["bits/byte", "enc tok/s", "dec tok/s", "tok/CPU-s"]
    print(" ".join(f"{c:>9}" for c in columns), "x torch (wall, per CPU-s)")
    with tempfile.TemporaryDirectory() as scratch:
        kinds = [kind for kind in args.requantize.split(",") if kind]
        files = [_GGUF] if args.shared else []
        for gguf in [*files, *(requantized(_GGUF, kind, Path(scratch)) for kind in kinds)]:
            torch_speed: dict[int, dict[str, float]] = {}
            for backend, batch, threads, window in rows:
                spec = f"hf:{gguf.parent},gguf_file={gguf.name},batch={batch},threads={threads},backend={backend}"
                spec += f",window={window}"
                m = measure(spec, data)
                if backend == "torch":
                    torch_speed[batch] = m
                base = torch_speed.get(batch)
                versus = ""
                if base and backend != "torch":
                    wall = (m["encode"] + m["decode"]) / (base["encode"] + base["decode"])
                    versus = f"{wall:.2f}x, {m['per_cpu_s'] / base['per_cpu_s']:.2f}x"
                figures = [m["bits_per_byte"], m["encode"], m["decode"], m["per_cpu_s"]]
                shown = " ".join(f"{x:>9.4f}" if i == 0 else f"{x:>9.1f}" for i, x in enumerate(figures))
                kind = gguf.stem.split(".")[-1]
                setup = f"{kind:>9} {backend:>9} {window:>9} {batch:>9} {threads:>9}"
                print(f"{setup} {m['tokens']:>9,} {shown} {versus}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end; every row was decoded and compared")


if __name__ == "__main__":
    main()
