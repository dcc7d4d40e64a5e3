"""What one lockstep step of the torch `hf` backend costs as its KV cache fills: transformers'
`DynamicCache` (it grows by `torch.cat`, so every step copies the whole cache), the preallocated
one `plugins/hf/torch_backend.py` uses (written in place, the same logits bit for bit) and
transformers' `StaticCache` (written in place, attends over its whole length).

    python benchmarks/hf_kv_cache.py [B:L ...]      (default 16:1000 64:200 64:1000)

For B streams over a cache already holding L positions (random keys and values: this times the
step, it codes nothing), SmolLM2-135M-Instruct Q4_1 from ../shared on one thread; prints the
milliseconds a step with each cache. Model loading is left out.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, DynamicCache, StaticCache

from plugins.hf.torch_backend import preallocated_cache

_MODEL = Path(__file__).resolve().parents[2] / "shared" / "models" / "smollm2-135m-instruct"
_STEPS = 6


def step_ms(model: torch.nn.Module, kind: str, streams: int, filled: int) -> float:
    config = model.config
    heads, head_dim = config.num_key_value_heads, config.hidden_size // config.num_attention_heads
    if kind == "dynamic":
        cache = DynamicCache(config=config)
    elif kind == "preallocated":
        cache = preallocated_cache(config, filled + _STEPS + 1)
    else:
        cache = StaticCache(config=config, max_cache_len=filled + _STEPS + 1)
    for layer in range(config.num_hidden_layers):
        keys, values = (torch.randn(streams, heads, filled, head_dim) for _ in range(2))
        cache.update(keys, values, layer, {"cache_position": torch.arange(filled)})
    start = time.perf_counter()
    for step in range(_STEPS):
        tokens = torch.randint(0, 1000, (streams, 1))
        position = torch.tensor([filled + step])
        model(input_ids=tokens, use_cache=True, logits_to_keep=1, past_key_values=cache, cache_position=position)
    return (time.perf_counter() - start) / _STEPS * 1000


def main() -> None:
    shapes = [tuple(map(int, arg.split(":"))) for arg in sys.argv[1:]] or [(16, 1000), (64, 200), (64, 1000)]
    torch.set_num_threads(1)
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' GGUF de-quantizing bar
        model = AutoModelForCausalLM.from_pretrained(
            _MODEL, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32
        ).eval()
    with torch.inference_mode():
        for streams, filled in shapes:
            dynamic, preallocated, static = (
                step_ms(model, kind, streams, filled) for kind in ("dynamic", "preallocated", "static")
            )
            print(
                f"B={streams:3} L={filled:5}  DynamicCache {dynamic:6.0f} ms a step"
                f"  preallocated {preallocated:6.0f} ms  StaticCache {static:6.0f} ms"
            )


if __name__ == "__main__":
    main()
