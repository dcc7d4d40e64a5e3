"""Do Gemma-3-class and Llama-class GGUF files load and round-trip through both `hf` backends?

    python benchmarks/gguf_architectures.py [--convert PATH/convert_hf_to_gguf.py]

No Gemma-3 checkpoint is available offline here, so this makes a small random one: a
Gemma3ForCausalLM with GPT-2's real tokenizer (../shared), written as GGUF by llama.cpp's own
converter (the one in the llama-cpp-python source that .ci/build-llamacpp unpacked), in f16 and,
through llama.cpp's quantizer, Q8_0. The Llama-class file is the real SmolLM2-135M Q4_1 GGUF.
Each file is coded and decoded by the torch and the llama.cpp backend on the same text, and a
line says what loaded, what decoded, and the bits/byte (the backends should agree to within
float rounding).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import container, wire
from harness.errors import HarnessError
from harness.registry import load_registry
from plugins.hf import llamacpp

_SHARED = Path(__file__).resolve().parents[2] / "shared"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"
TEXT = (_SHARED / "corpora" / "canterbury" / "alice29.txt").read_bytes()[:600] + "café \xff".encode("latin-1")


def random_gemma3(folder: Path) -> None:
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(_SHARED / "models" / "gpt2-tokenizer")
    shape = {"vocab_size": tokenizer.vocab_size, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    heads = {"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "max_position_embeddings": 512}
    tokens = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(Gemma3TextConfig(**shape, **heads, **tokens, sliding_window=64))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def to_gguf(convert: Path, source: Path, target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(convert.parent / "gguf-py")}
    command = [sys.executable, str(convert), str(source), "--outfile", str(target), "--outtype", "f16"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{convert.name} failed on {source}: {done.stderr.strip().splitlines()[-1]}")


def quantized(source: Path, kind: str) -> Path:
    lib = llamacpp.library()
    params = lib.llama_model_quantize_default_params()
    params.ftype = getattr(lib, f"LLAMA_FTYPE_MOSTLY_{kind}")
    target = source.with_name(source.name.replace("f16", kind))
    if lib.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0:
        raise SystemExit(f"llama.cpp could not quantize {source.name} to {kind}")
    return target


def round_trip(spec: str) -> str:
    registry = load_registry()
    try:
        encoded = container.encode(TEXT, spec, registry.build(spec))
        decoded = container.decode(wire.unpack(encoded.container), registry.build(spec))
    except HarnessError as error:
        return f"refused: {error}"
    return f"{8 * encoded.payload_bytes / len(TEXT):.4f} bits/byte, {'decoded' if decoded == TEXT else 'MISMATCH'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = _CACHE / "llama-cpp-python-0.3.36" / "src" / "vendor" / "llama.cpp" / "convert_hf_to_gguf.py"
    parser.add_argument("--convert", type=Path, default=default, help=f"llama.cpp's converter (default {default})")
    args = parser.parse_args()
    if not args.convert.is_file():
        raise SystemExit(f"no {args.convert}: run .ci/build-llamacpp first, or pass --convert")
    print(f"{len(TEXT)} bytes of alice29 and odd bytes; llama-cpp-python {llamacpp.versions()['llama_cpp']}")
    with tempfile.TemporaryDirectory() as scratch:
        random_gemma3(Path(scratch) / "hf")
        f16 = Path(scratch) / "gguf" / "gemma3-tiny.f16.gguf"
        f16.parent.mkdir()
        to_gguf(args.convert, Path(scratch) / "hf", f16)
        smollm2 = _SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        for gguf in (f16, quantized(f16, "Q8_0"), smollm2):
            for backend in ("torch", "llamacpp"):
                outcome = round_trip(f"hf:{gguf.parent},gguf_file={gguf.name},batch=2,backend={backend}")
                print(f"{gguf.name:>31} {backend:>9}: {outcome}", flush=True)


if __name__ == "__main__":
    main()
