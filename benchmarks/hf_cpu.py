"""Pretrained on a CPU: bits per byte against CPU-seconds per byte for SmolLM2 through llama.cpp,
over the settings that decide both (the window, flash attention, the KV cache's type, lockstep
streams), on the same bytes.

    python benchmarks/hf_cpu.py [--rows 'NAME;...'] [--no-decode] [--max-bytes N] [FILE]

For each row: build the predictor (loading untimed), code the first N bytes (default 40,000 of
alice29), then, unless --no-decode, decode them with a fresh predictor and compare. Printed per
row: the file's size and bits/byte, bytes per CPU-second each way (this process's CPU time), and
the harness's share of the encode's CPU time (all of it but llama_decode: probabilities, literal
model, coder, tokens). A row that was not decoded says so. One thread each unless the row says.
Run it alone on the machine: it prints the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from harness import container, wire
from harness.registry import load_registry

_SHARED = Path(__file__).resolve().parents[2] / "shared"
_GGUF = _SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
ROWS = {
    "llama-zip": "context=1024,overlap=0,flash_attention=off",  # llama-zip's own settings
    "llama-zip,flash": "context=1024,overlap=0,flash_attention=on",
    "shift": "context=1024,window=shift,flash_attention=off",  # keeps the last 512 tokens
    "shift,flash": "context=1024,window=shift,flash_attention=on",
    "shift,flash,q8_0": "context=1024,window=shift,flash_attention=on,kv_cache=q8_0",
    "shift,512": "context=512,window=shift,flash_attention=off",
    "shift,batch=4": "context=1024,window=shift,flash_attention=off,batch=4",
    "shift,batch=16": "context=1024,window=shift,flash_attention=off,batch=16",
    "shift,threads=2": "context=1024,window=shift,flash_attention=off,threads=2",
}
"""Each row's options, added to hf:<SmolLM2 folder>,gguf_file=...,backend=llamacpp."""


def measure(spec: str, data: bytes, decode: bool) -> dict[str, float | bool]:
    registry = load_registry()
    encoder = registry.build(spec)  # loading happens here, untimed
    cpu = time.process_time()
    encoded = container.encode(data, spec, encoder)
    encode_cpu = time.process_time() - cpu
    row: dict[str, float | bool] = {
        "bytes": len(encoded.container),
        "bits_per_byte": 8 * encoded.payload_bytes / len(data),
        "encode": len(data) / encode_cpu,
        "harness_share": 1 - encoder.runner.backend_seconds / encode_cpu,
        "decoded": decode,
    }
    if decode:
        decoder = registry.build(spec)
        cpu = time.process_time()
        decoded = container.decode(wire.unpack(encoded.container), decoder)
        row["decode"] = len(data) / (time.process_time() - cpu)
        if decoded != data:
            raise SystemExit(f"{spec}: decoded bytes differ from the input")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=_SHARED / "corpora" / "canterbury" / "alice29.txt")
    parser.add_argument("--max-bytes", type=int, default=40_000)
    parser.add_argument("--rows", default=";".join(ROWS), help=f"joined by ';', of: {'; '.join(ROWS)}")
    parser.add_argument("--decode", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    if not _GGUF.is_file():
        raise SystemExit(f"the SmolLM2 GGUF is not at {_GGUF}")
    names = args.rows.split(";")
    if unknown := set(names) - set(ROWS):
        raise SystemExit(f"unknown rows {sorted(unknown)}: the rows are {'; '.join(ROWS)}")
    data = args.file.read_bytes()[: args.max_bytes]
    print(f"{args.file.name}, first {len(data):,} bytes; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print("| setting | options | file bytes | bits/byte | encode B/CPU-s | decode B/CPU-s | harness share |")
    print("|---|---|---:|---:|---:|---:|---:|")
    specs = {name: f"hf:{_GGUF.parent},gguf_file={_GGUF.name},backend=llamacpp,{ROWS[name]}" for name in names}
    measure(specs[names[0]], data[:200], decode=True)  # the coder's kernels compiled or loaded, untimed
    for name, spec in specs.items():
        options = ROWS[name]
        m = measure(spec, data, args.decode)
        decode = f"{m['decode']:.0f}" if m["decoded"] else "not decoded"
        print(
            f"| {name} | `{options}` | {m['bytes']:,} | {m['bits_per_byte']:.4f} | {m['encode']:.0f} | {decode} "
            f"| {m['harness_share']:.1%} |",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
