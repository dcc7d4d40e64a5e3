"""A pretrained LM (default SmolLM2-135M-Instruct GGUF from ../shared/models) on Canterbury texts.

    python benchmarks/hf_smollm2.py [--max-bytes N] [--fast-bytes M] [--skip-fast] [--spec SPEC] [FILE ...]

For each file (default: the Canterbury text files), codes the first N bytes, decodes them with
a fresh predictor and compares. Prints bits/byte (whole payload), tokens per second each way,
the process's peak resident memory and where the encoder's time goes (cProfile: the model's
forward pass, the coder with its float64 quantization, mixing in the literal-byte share).
Then (unless --skip-fast) the unverified batched fast path on the same bytes (its difference
from the coded path's ideal code length shows they agree) and, with --fast-bytes, on the first M bytes.
Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import time
from pathlib import Path

from harness.registry import load_registry

_SHARED = Path(__file__).resolve().parents[2] / "shared"
_SMOLLM2 = _SHARED / "models" / "smollm2-135m-instruct"
DEFAULT_SPEC = f"hf:{_SMOLLM2},gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf"
_TEXTS = ["alice29.txt", "asyoulik.txt", "cp.html", "fields.c", "grammar.lsp", "lcet10.txt", "plrabn12.txt", "xargs.1"]
_DEFAULT_FILES = [_SHARED / "corpora" / "canterbury" / name for name in _TEXTS]
# Functions whose cumulative time says where the encoder spends it.
_PARTS = {"_forward": "model forward", "_encode_step": "coder (quantize + code)", "mixture": "literal mixing"}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _shares(profile: cProfile.Profile, total: float) -> str:
    seconds = dict.fromkeys(_PARTS.values(), 0.0)
    for (_, _, function), (_, _, _, cumulative, _) in pstats.Stats(profile).stats.items():
        if function in _PARTS:
            seconds[_PARTS[function]] += cumulative
    rest = total - sum(seconds.values())
    return ", ".join(f"{part} {100 * s / total:.1f}%" for part, s in [*seconds.items(), ("other", rest)])


def fast(spec: str, data: bytes, label: str, coded_bits: float | None = None) -> None:
    """The unverified batched ideal code length, and its gap to the coded path's when given."""
    predictor = load_registry().build(spec)
    symbols = predictor.to_symbols(data)
    start = time.perf_counter()
    bits = float(predictor.batched_ideal_bits(symbols).sum())
    seconds = time.perf_counter() - start
    gap = f", differs from the coded path's ideal by {bits - coded_bits:+.4f} bits" if coded_bits is not None else ""
    print(
        f"{'':>13} fast path (unverified) on {label}: {bits / max(len(data), 1):.4f} bits/byte ideal, "
        f"{len(symbols) / seconds:.1f} tok/s{gap}",
        flush=True,
    )


def measure(spec: str, path: Path, max_bytes: int, fast_bytes: int, skip_fast: bool) -> None:
    registry = load_registry()
    data = path.read_bytes()[:max_bytes]
    start = time.perf_counter()
    encoder = registry.build(spec)
    load_s = time.perf_counter() - start
    symbols = encoder.to_symbols(data)
    literals = int((symbols >= encoder.m.vocab).sum())
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    payload, bits = encoder.encode_symbols(symbols)
    profile.disable()
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = registry.build(spec).decode_symbols(payload, len(symbols))
    decode_s = time.perf_counter() - start
    if encoder.from_symbols(decoded) != data:
        raise SystemExit(f"{path}: decoded bytes differ from the input")
    n = max(len(symbols), 1)
    print(
        f"{path.name:>13} {len(data):>7,} B {len(symbols):>6,} symbols ({literals} literal) "
        f"{8 * len(payload) / max(len(data), 1):.4f} bits/byte (ideal {bits.sum() / max(len(data), 1):.4f})  "
        f"encode {n / encode_s:5.1f} tok/s  decode {n / decode_s:5.1f} tok/s  load {load_s:.1f} s  "
        f"peak RSS {_peak_rss_mib():.0f} MiB",
        flush=True,
    )
    print(f"{'':>13} encoder time (profiled run): {_shares(profile, encode_s)}", flush=True)
    if not skip_fast:
        fast(spec, data, f"the same {len(data):,} B", float(bits.sum()))
    if fast_bytes:
        fast(spec, path.read_bytes()[:fast_bytes], f"the first {fast_bytes:,} B")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--spec", default=DEFAULT_SPEC, help="predictor spec (default: SmolLM2 GGUF in ../shared)")
    parser.add_argument("--max-bytes", type=int, default=20_000, help="bytes from the start of each file")
    parser.add_argument("--fast-bytes", type=int, default=0, help="also run the fast path on this many bytes")
    parser.add_argument("--skip-fast", action="store_true", help="no fast-path check on the coded bytes")
    args = parser.parse_args()
    files = args.files or [f for f in _DEFAULT_FILES if f.is_file()]
    if not files:
        raise SystemExit(f"no files given and none found in {_SHARED / 'corpora'}")
    print(f"{args.spec}, first {args.max_bytes:,} bytes of each file")
    for path in files:
        measure(args.spec, path, args.max_bytes, args.fast_bytes, args.skip_fast)


if __name__ == "__main__":
    main()
