"""Online-trained `lstm` and `gpt` on a file (default calgary/book1), verified by decoding.

    python benchmarks/online_book1.py [--file PATH] [--max-bytes N] SPEC [SPEC ...]

For each spec: encode through the .hz container, decode with a fresh instance, compare, and
print bits/byte, encode and decode speed, peak resident memory, and the loss-curve identity:
the sum of the model's own per-byte losses (-log2 p, the online training loss), the sum of the
quantized ideal code lengths, the training-step losses, and the payload, whose excess over the
ideal is the coder's overhead. Reference points on book1: xz -9 2.72, bzip2 -9 2.42 bits/byte.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from harness import container, wire
from harness.registry import load_registry
from plugins.online import OnlinePredictor

_BOOK1 = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "calgary" / "book1"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(spec: str, data: bytes) -> None:
    registry = load_registry()
    _, _, spec = registry.predictor(spec)
    encoder = registry.build(spec)
    start = time.perf_counter()
    encoded = container.encode(data, spec, encoder)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = container.decode(wire.unpack(encoded.container), registry.build(spec))
    decode_s = time.perf_counter() - start
    if decoded != data:
        raise SystemExit(f"{spec}: decoded bytes differ from the input")
    payload_bits = 8 * encoded.payload_bytes
    ideal = float(encoded.symbol_bits.sum(dtype="float64"))
    print(
        f"{spec}: {len(data):,} B -> {len(encoded.container):,} B = {8 * len(encoded.container) / len(data):.4f} "
        f"bits/byte (verified)  params {encoder.params:,}  {encoder.flops_per_symbol / 1e6:.2f} MFLOP/byte\n"
        f"  encode {len(data) / encode_s:,.0f} B/s ({encode_s:.0f} s), decode {len(data) / decode_s:,.0f} B/s "
        f"({decode_s:.0f} s), peak RSS {_peak_rss_mib():.0f} MiB",
        flush=True,
    )
    if isinstance(encoder, OnlinePredictor):
        model = float(encoder.model_bits.sum())
        trained = len(encoder.train_bits)
        print(
            f"  identity: sum of per-byte training losses {model / 8:,.1f} B; quantized ideal {ideal / 8:,.1f} B; "
            f"payload {encoded.payload_bytes:,} B (coder overhead {payload_bits - ideal:+.1f} bits, "
            f"quantization {ideal - model:+.1f} bits); loss of the {trained} training steps, computed "
            f"in their own forward pass: {sum(encoder.train_bits) / 8:,.1f} B",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="SPEC")
    parser.add_argument("--file", type=Path, default=_BOOK1)
    parser.add_argument("--max-bytes", type=int)
    args = parser.parse_args()
    if not args.file.is_file():
        raise SystemExit(f"{args.file} not found (book1 comes from ../shared/corpora)")
    data = args.file.read_bytes()[: args.max_bytes]
    for spec in args.specs:
        measure(spec, data)


if __name__ == "__main__":
    main()
