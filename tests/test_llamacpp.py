"""`hf:...,backend=llamacpp`: a GGUF run by llama.cpp, coded and decoded exactly.

Needs llama-cpp-python (`.ci/build-llamacpp`) and the SmolLM2 GGUF in ../shared; skips without.
"""

import numpy as np
import pytest

from harness import container, wire
from harness.errors import HarnessError
from tests.conftest import SHARED

llama_cpp = pytest.importorskip("llama_cpp")
llamacpp = pytest.importorskip("plugins.hf.llamacpp")

SMOLLM2 = SHARED / "models" / "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SPEC = f"hf:{SMOLLM2},gguf_file={GGUF},backend=llamacpp"
pytestmark = pytest.mark.skipif(not (SMOLLM2 / GGUF).is_file(), reason="../shared's SmolLM2 GGUF is absent")
# Text, then bytes no tokenizer keeps: invalid UTF-8, NUL, a 4-byte character, CR/LF.
AWKWARD = b"caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80\xff\xfe\x80 \x00\r\n\t\t x\xc3"


def _round_trip(registry, spec: str, data: bytes) -> container.Encoded:
    encoded = container.encode(data, spec, registry.build(spec))
    assert container.decode(wire.unpack(encoded.container), registry.build(spec)) == data
    return encoded


def test_lockstep_streams_with_window_restarts_round_trip(registry, shared_corpora):
    """Three llama.cpp sequences in one decode per step, each window restarted (context=32)."""
    data = (shared_corpora / "canterbury" / "alice29.txt").read_bytes()[:500] + AWKWARD
    encoded = _round_trip(registry, f"{SPEC},batch=3,context=32,overlap=8,flash_attention=off", data)
    assert 8 * encoded.payload_bytes / len(data) < 4.0  # a real model: far below a literal byte's 8 bits


def test_shifted_windows_keep_the_kept_tokens_instead_of_reading_them_again(registry, shared_corpora):
    """window=shift: the same window schedule, the kept tokens' keys and values moved back rather
    than recomputed; another stream than a restart's (so the header names it), decoded exactly."""
    data = (shared_corpora / "canterbury" / "alice29.txt").read_bytes()[:500] + AWKWARD
    spec = f"{SPEC},batch=3,context=32,overlap=8,flash_attention=off"
    shifted = _round_trip(registry, f"{spec},window=shift", data)
    restarted = container.encode(data, spec, registry.build(spec))
    assert shifted.symbol_bits.tolist() != restarted.symbol_bits.tolist()  # sizes may tie (132 bytes each on AVX-512)
    assert abs(shifted.payload_bytes / restarted.payload_bytes - 1) < 0.1  # the same model, the same windows
    assert registry.build(f"{spec},window=shift").config()["window"] == "shift"
    assert registry.build(spec).config()["window"] == "restart"


def test_a_quantized_kv_cache_codes_another_stream_and_decodes_it_exactly(registry, shared_corpora):
    """kv_cache=q8_0 keeps the cached keys and values in 8-bit blocks (flash attention on): other
    probabilities than float16's, so another stream, decoded bit for bit; the header names it."""
    data = (shared_corpora / "canterbury" / "alice29.txt").read_bytes()[:400]
    spec = f"{SPEC},context=48,overlap=0,window=shift,flash_attention=on"
    quantized = _round_trip(registry, f"{spec},kv_cache=q8_0", data)
    plain = container.encode(data, spec, registry.build(spec))
    assert quantized.symbol_bits.tolist() != plain.symbol_bits.tolist()
    assert abs(quantized.payload_bytes / plain.payload_bytes - 1) < 0.05
    assert registry.build(f"{spec},kv_cache=q8_0").config()["kv_cache"] == "q8_0"


def test_a_model_whose_positions_cannot_move_refuses_shifted_windows(registry, monkeypatch):
    monkeypatch.setattr(llama_cpp, "llama_memory_can_shift", lambda memory: False)
    with pytest.raises(HarnessError, match="window=restart"):
        registry.build(f"{SPEC},window=shift")


@pytest.mark.slow  # torch expands the real SmolLM2's GGUF weights: most of a minute
def test_the_same_model_codes_about_as_well_as_the_torch_backend(registry, shared_corpora):
    """Both backends read the same tokens from the same GGUF; llama.cpp keeps the weights
    quantized, torch expands them, so the code lengths differ by float rounding only."""
    pytest.importorskip("transformers")
    data = (shared_corpora / "canterbury" / "alice29.txt").read_bytes()[:300]
    fast = registry.build(SPEC)
    symbols = fast.to_symbols(data)
    assert fast.from_symbols(symbols) == data
    torch_symbols = registry.build(f"hf:{SMOLLM2},gguf_file={GGUF}").to_symbols(data)
    assert np.array_equal(symbols, torch_symbols)
    _, llama_bits = fast.encode_symbols(symbols)
    _, torch_bits = registry.build(f"hf:{SMOLLM2},gguf_file={GGUF}").encode_symbols(symbols)
    assert abs(llama_bits.sum() / torch_bits.sum() - 1) < 0.01, (llama_bits.sum(), torch_bits.sum())


def test_the_container_records_what_llama_cpp_results_depend_on(registry, monkeypatch, tmp_path):
    predictor = registry.build(f"{SPEC},threads=2")
    config = predictor.config()
    assert config["llama_cpp"] == llama_cpp.__version__ and "CPU" in config["llama_cpp_system"]
    assert config["n_batch"] >= 1 and config["threads"] == 2 and len(config["model_sha256"]) == 64
    assert "torch" not in config and "transformers" not in config
    encoded = container.encode(b"Alice was beginning to get very tired.", SPEC, registry.build(SPEC))
    elsewhere = {**llamacpp.versions(), "llama_cpp_system": "CPU : AVX = 0"}  # another build's features
    monkeypatch.setattr(llamacpp, "versions", lambda: elsewhere)
    with pytest.raises(HarnessError, match="llama_cpp_system"):
        registry.decoder(wire.unpack(encoded.container))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"hf:{SMOLLM2},backend=llamacpp", "gguf_file"),
        (f"{SPEC},device=cuda", "CPU"),
        (f"hf:{SMOLLM2},gguf_file={GGUF},window=shift", "backend=llamacpp"),
        (f"{SPEC},kv_cache=q8_0,flash_attention=off", "flash attention"),
        (f"hf:{SMOLLM2},gguf_file={GGUF},kv_cache=q8_0", "backend=llamacpp"),
    ],
)
def test_settings_the_backend_cannot_run_are_refused(registry, spec, message):
    with pytest.raises(HarnessError, match=message):
        registry.build(spec)


def test_a_file_that_is_not_gguf_is_a_clean_error(registry, tmp_path):
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(HarnessError, match="llama.cpp cannot load"):
        registry.build(f"hf:{tmp_path},gguf_file=broken.gguf,backend=llamacpp")
