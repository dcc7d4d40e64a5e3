"""The torch backend of `hf` (the default): a model loaded by transformers, run by torch with its
KV cache (preallocated for the window, written in place), in the dtype and on the device the
settings name. GGUF weights are dequantized to that dtype when loaded. transformers is imported
only here, when a model is built.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import HarnessError
from plugins.hf.loading import Model, fetch, files_sha256, weight_files
from plugins.hf.tokens import token_table, transformers_tokenize


@dataclass(frozen=True)
class Loaded(Model):
    """A transformers model and its fast tokenizer."""

    model: Any
    tokenizer: Any
    cache_argument: str
    """How forward() takes the KV cache: `cache` from transformers 5.x (whose `past_key_values`
    is deprecated), `past_key_values` before."""

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        return transformers_tokenize(self.tokenizer, text)


@functools.lru_cache(maxsize=2)
def load(model: str, revision: str, gguf_file: str, dtype: str, device: str) -> Loaded:
    """Load (download on first use) a causal LM and its tokenizer; frozen, in eval mode."""
    folder, commit = fetch(model, revision, gguf_file)
    files = weight_files(folder, gguf_file)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # Never run code that comes with a model (no prompt can appear either), and unpickle only
    # what the user allowed.
    safe: dict[str, Any] = {"trust_remote_code": False}
    extra = {"gguf_file": gguf_file} if gguf_file else {"use_safetensors": files[0].suffix == ".safetensors"}
    bars_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # its "Loading weights" bar would break through ours
    try:
        # transformers' GGUF reader draws a tqdm bar of its own ("Converting and de-quantizing GGUF
        # tensors"), on whatever sys.stderr is when it starts, and nothing switches it off.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(folder, **safe, **({"gguf_file": gguf_file} if gguf_file else {}))
            network = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), **safe, **extra)
        network = network.to(torch.device(device)).eval().requires_grad_(False)
    except (OSError, ValueError, ImportError, RuntimeError) as error:
        raise HarnessError(f"cannot load model {model!r} from {folder}: {error}") from None
    finally:
        if bars_on:
            transformers_logging.enable_progress_bar()
    if not tokenizer.is_fast:
        raise HarnessError(f"model {model!r}: needs a fast (tokenizers) tokenizer for exact byte offsets")
    vocab = network.get_output_embeddings().weight.shape[0]
    table = token_table(tokenizer, vocab)
    start = next((i for i in (tokenizer.bos_token_id, tokenizer.eos_token_id) if i is not None), 0)
    embeddings = {id(m.weight): m.weight.numel() for m in network.modules() if isinstance(m, torch.nn.Embedding)}
    return Loaded(
        model=network,
        tokenizer=tokenizer,
        table=table,
        start=start,
        vocab=vocab,
        max_context=int(getattr(network.config, "max_position_embeddings", 0) or 1024),
        revision=commit,
        model_sha256=files_sha256(files),
        tokenizer_sha256=hashlib.sha256(b"\0".join(table)).hexdigest(),
        model_bytes=sum(f.stat().st_size for f in files),
        params=sum(p.numel() for p in network.parameters()),
        embedding_params=sum(embeddings.values()),
        cache_argument="cache" if "cache" in inspect.signature(network.forward).parameters else "past_key_values",
    )


def preallocated_cache(config: Any, capacity: int) -> Any:
    """transformers' `DynamicCache` for `config`, whose full-attention layers write into a buffer
    of `capacity` positions instead of growing by `torch.cat`, which copies the whole cache every
    step (2.7x slower at 64 streams x 1,000 positions: benchmarks/hf_kv_cache.py). Each step
    still hands the attention exactly the filled positions, so the logits are bit for bit those of
    a `DynamicCache` (a `StaticCache` attends over all `capacity` positions: slower on short
    windows, and it rounds differently). Sliding-window layers (Gemma 3) stay as they are."""
    from transformers import DynamicCache, DynamicLayer

    class Preallocated(DynamicLayer):
        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            super().lazy_initialization(key_states, value_states)
            streams, heads, _, _ = key_states.shape
            self._keys = key_states.new_empty(streams, heads, capacity, key_states.shape[-1])
            self._values = value_states.new_empty(streams, heads, capacity, value_states.shape[-1])
            self._filled = 0

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            first, self._filled = self._filled, self._filled + key_states.shape[-2]
            self._keys[:, :, first : self._filled] = key_states
            self._values[:, :, first : self._filled] = value_states
            self.keys, self.values = self._keys[:, :, : self._filled], self._values[:, :, : self._filled]
            return self.keys, self.values

    cache = DynamicCache(config=config)
    cache.layers = [Preallocated() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


class Runner:
    """The KV cache of one predictor's streams. `restart(history)` starts a fresh cache over the
    start token and each stream's `history`, `forward(fed)` feeds one token per stream; both
    return float64 next-token probabilities [streams, vocab]. The cache holds `context` positions."""

    def __init__(self, loaded: Loaded, device: str, threads: int, context: int) -> None:
        import torch

        self._torch, self.loaded, self.threads, self.context = torch, loaded, threads, context
        self.device = torch.device(device)
        self._cache: Any = None

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """torch's thread count for the length of a run, restored after it, as the online
        predictors do: never a process-wide change at construction."""
        torch = self._torch
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def restart(self, history: np.ndarray) -> np.ndarray:
        self._cache = None  # the old cache's memory is free before the new one is allocated
        self._cache = preallocated_cache(self.loaded.model.config, self.context)
        return self.forward(np.concatenate([np.full((len(history), 1), self.loaded.start), history], axis=1))

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """Feed [streams, n] tokens through the cache; the probabilities after the last."""
        torch = self._torch
        with torch.inference_mode():
            ids = torch.from_numpy(tokens).to(self.device)
            cache = {self.loaded.cache_argument: self._cache}
            out = self.loaded.model(input_ids=ids, use_cache=True, logits_to_keep=1, **cache)
            return torch.softmax(out.logits[:, -1].double(), dim=-1).cpu().numpy()
