"""The CUDA path, checked on a GPU machine: one short run, one summary table.

    python benchmarks/gpu_check.py                      # on a CUDA machine, with ../shared beside the repo
    python benchmarks/gpu_check.py --device cpu --bytes 2000 --hf-bytes 500 --batches 1,2   # a dry run

- `gpt` and `lstm` (default options plus `device`) on the first `--bytes` of calgary/book1, coded
  twice: the two containers must be bit-identical, and one is decoded and compared.
- `hf:` on SmolLM2-135M (GGUF) with the lockstep batch at each of `--batches`, on the first
  `--hf-bytes` of canterbury/alice29.txt: tokens/s each way, decoded and compared.
Nothing is written but the table on stdout (and a `gpu_check.json` beside it with `--json`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness import container, wire
from harness.errors import HarnessError
from harness.registry import load_registry

SHARED = Path(__file__).resolve().parents[2] / "shared"
SMOLLM2 = SHARED / "models" / "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def check(registry, spec: str, data: bytes, twice: bool) -> dict:
    """Code `data` (twice when asked, comparing the containers), decode once, compare; the
    speeds leave out building the predictor (loading a model)."""
    predictor = registry.build(spec)
    start = time.perf_counter()
    encoded = container.encode(data, spec, predictor)
    encode_s = time.perf_counter() - start
    identical = None
    if twice:
        identical = container.encode(data, spec, registry.build(spec)).container == encoded.container
    header, decoder = wire.unpack(encoded.container), registry.build(spec)
    start = time.perf_counter()
    verified = container.decode(header, decoder) == data
    decode_s = time.perf_counter() - start
    return {
        "spec": spec,
        "bytes": len(data),
        "symbols": encoded.symbols,
        "bits_per_byte": 8 * encoded.container_bytes / len(data),
        "encode_sym_per_s": encoded.symbols / encode_s,
        "decode_sym_per_s": encoded.symbols / decode_s,
        "identical_runs": identical,
        "verified": verified,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--bytes", type=int, default=100_000, help="of book1, for gpt and lstm")
    parser.add_argument("--hf-bytes", type=int, default=20_000, help="of alice29.txt, for hf")
    parser.add_argument("--batches", default="1,16,64", help="hf lockstep batch sizes")
    parser.add_argument("--json", action="store_true", help="also write gpu_check.json")
    args = parser.parse_args()
    registry = load_registry()
    book1 = (SHARED / "corpora" / "calgary" / "book1").read_bytes()[: args.bytes]
    alice = (SHARED / "corpora" / "canterbury" / "alice29.txt").read_bytes()[: args.hf_bytes]
    jobs = [(f"{name}:device={args.device}", book1, True) for name in ("gpt", "lstm")]
    hf = f"hf:{SMOLLM2},gguf_file={GGUF},device={args.device}"
    jobs += [(f"{hf},batch={batch}", alice, False) for batch in args.batches.split(",")]
    rows = []
    for spec, data, twice in jobs:
        try:
            rows.append(check(registry, spec, data, twice))
        except HarnessError as error:  # a failure is a finding: report it in the table, go on
            rows.append({"spec": spec, "error": str(error)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| spec | bytes | symbols | bits/byte | encode sym/s | decode sym/s | identical runs | verified |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| `{row['spec']}` | error: {row['error']} | | | | | | |")
            continue
        print(
            f"| `{row['spec']}` | {row['bytes']:,} | {row['symbols']:,} | {row['bits_per_byte']:.4f} "
            f"| {row['encode_sym_per_s']:,.0f} | {row['decode_sym_per_s']:,.0f} "
            f"| {'-' if row['identical_runs'] is None else row['identical_runs']} | {row['verified']} |"
        )
    if args.json:
        Path("gpu_check.json").write_text(json.dumps(rows, indent=1))
    return 0 if all(r.get("verified") and r.get("identical_runs") is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
