"""How close an online-trained predictor gets to the aleatoric floor of the "a+b=c" addition stream.

    python benchmarks/online_addition.py [--records N] [--tail F] [SPEC]

Each record "AAAAAAAA+BBBBBBBB=CCCCCCCCC\\n" (28 bytes) carries 16 uniform operand digits, so no
predictor can average below 16 x log2(10) = 53.15 bits per record; everything else (separators,
the sum) is learnable. The stream is coded, decoded and compared; the figures are taken over
the last `tail` fraction of the bytes in coding order (where the model has learnt most) and
split into operand digits (the floor's part) and the rest (what is still learnable). It also
says how much of the stream, and of the encode time, it took until a window of `window` records
(in coding order) first averaged within 25% of the floor.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from corpora.synthetic import OPERAND_DIGITS, RECORD_BYTES, addition
from harness import container, wire
from harness.registry import load_registry

FLOOR_BITS = 16 * math.log2(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # T=32: a sum digit comes 18 bytes after its operand digit; with T=16 a block's first byte sees 16 back
    parser.add_argument("spec", nargs="?", default="gpt:context=32,updates=4")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--tail", type=float, default=0.1, help="fraction of the stream the final figures cover")
    parser.add_argument("--window", type=int, default=500, help="records averaged when finding where it got close")
    args = parser.parse_args()
    registry = load_registry()
    _, _, spec = registry.predictor(args.spec)
    data = addition(records=args.records).read()
    encoder = registry.build(spec)
    start = time.perf_counter()
    encoded = container.encode(data, spec, encoder)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    if container.decode(wire.unpack(encoded.container), registry.build(spec)) != data:
        raise SystemExit(f"{spec}: decoded bytes differ from the input")
    decode_s = time.perf_counter() - start

    order = encoder.coding_order(len(data)) if hasattr(encoder, "coding_order") else np.arange(len(data))
    tail = order[-max(1, int(args.tail * len(order))) :]
    bits = encoded.symbol_bits[tail].astype(np.float64)
    offset = tail % RECORD_BYTES
    operand = np.zeros(len(tail), dtype=bool)
    for first, end in OPERAND_DIGITS:
        operand |= (offset >= first) & (offset < end)
    window = min(args.window * RECORD_BYTES, len(order))
    coded = np.concatenate([[0.0], np.cumsum(encoded.symbol_bits[order], dtype=np.float64)])
    windowed = RECORD_BYTES * (coded[window:] - coded[:-window]) / window  # bits/record, window ending at each byte
    close = np.flatnonzero(windowed <= 1.25 * FLOOR_BITS)
    if len(close):
        seen = close[0] + window
        reached = (
            f"  first within 25% of the floor over {args.window:,} records after {seen / RECORD_BYTES:,.0f} records "
            f"({seen / len(order):.0%} of the stream, about {encode_s * seen / len(order):.0f} s of encoding)"
        )
    else:
        reached = f"  never within 25% of the floor over a window of {args.window:,} records"
    per_record = RECORD_BYTES * bits.mean()
    learnable = RECORD_BYTES * bits[~operand].sum() / len(bits)
    print(
        f"{spec} on {args.records:,} addition records ({len(data):,} bytes), verified; "
        f"encode {encode_s:.0f} s, decode {decode_s:.0f} s "
        f"({len(data) / encode_s:,.0f} / {len(data) / decode_s:,.0f} B/s)\n"
        f"  whole stream: {8 * encoded.payload_bytes / args.records:.2f} bits/record "
        f"(floor {FLOOR_BITS:.2f}, {8 * encoded.payload_bytes / args.records / FLOOR_BITS - 1:+.1%})\n"
        f"  last {args.tail:.0%} in coding order: {per_record:.2f} bits/record = "
        f"{per_record / FLOOR_BITS - 1:+.1%} over the floor; operand digits {per_record - learnable:.2f} "
        f"(floor {FLOOR_BITS:.2f}), separators and sum {learnable:.2f} (floor 0: still learnable)\n{reached}"
    )


if __name__ == "__main__":
    main()
