"""The llama.cpp backend of `hf` (`backend=llamacpp`): a GGUF checkpoint run by llama.cpp through
llama-cpp-python's C API, its quantized weights used as they are (memory-mapped, never expanded).

The symbols, literals, windows and lockstep streams are `hf`'s own; only the model differs. Each
lockstep stream is a llama.cpp sequence, so a step is one `llama_decode` of `batch` tokens. Its
logits are turned into probabilities in float64 here. The tokenizer is llama.cpp's, read from the
GGUF, so nothing is parsed in Python. llama.cpp's results depend on its version, the CPU features
it was built with, its thread count and its batch sizes, and the container records all four.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.predictor import SYMBOL_BYTES, optional_import
from plugins.hf.loading import Model, Shape, files_sha256

_FLASH_ATTENTION = {"auto": -1, "off": 0, "on": 1}
"""llama.cpp's flash_attn_type for each value of hf's `flash_attention` option. Off is much
faster for small models' lockstep batches (stories260K, 16 streams at 240 positions: 6.8 ms a
step against 19-21 ms), about even for SmolLM2 at batch 1."""

KV_TYPES = ("f16", "q8_0")
"""The values of hf's `kv_cache` option, ggml's type names: the cached keys and values in float16,
or in 8-bit blocks (half the memory read per step; llama.cpp needs flash attention for it)."""

_log_lines: list[str] = []


def library() -> Any:
    """llama_cpp, initialised once, its log kept for error messages instead of printed."""
    llama_cpp = optional_import("llama_cpp", "llamacpp", "hf:...,backend=llamacpp")
    return _initialised(llama_cpp)


@functools.cache
def _initialised(llama_cpp: Any) -> Any:
    @llama_cpp.llama_log_callback
    def keep(level: int, text: bytes, user_data: Any) -> None:
        _log_lines.append(text.decode("utf-8", "replace"))
        del _log_lines[:-20]

    llama_cpp.llama_log_set(keep, ctypes.c_void_p())
    _initialised.callback = keep  # ctypes would free the callback with its last reference
    llama_cpp.llama_backend_init()
    return llama_cpp


def versions() -> dict[str, Any]:
    """What the stream depends on besides the weights: the library and the CPU features it uses."""
    llama_cpp = library()
    return {"llama_cpp": llama_cpp.__version__, "llama_cpp_system": llama_cpp.llama_print_system_info().decode()}


def memory_estimate(path: Path, model: Shape, tokens: int, batch: int, symbols: int) -> int:
    """The GGUF (mapped, so at most its size), the keys and values of `tokens` window positions
    in float16, the logits of a step's `batch` outputs, the symbols."""
    return path.stat().st_size + model.kv_bytes(tokens, 2) + 4 * batch * model.vocab + SYMBOL_BYTES * symbols


@dataclass(frozen=True)
class Loaded(Model):
    """A GGUF model mapped by llama.cpp, and its vocabulary."""

    model: Any  # llama_model_p
    vocab_handle: Any  # llama_vocab_p

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        """`text`'s tokens with the byte offset where each ends, from llama.cpp's tokenizer."""
        llama_cpp = library()
        data = text.encode()
        room = len(data) + 16
        ids = (llama_cpp.llama_token * room)()
        n = llama_cpp.llama_tokenize(self.vocab_handle, data, len(data), ids, room, False, False)
        if n < 0:
            raise HarnessError(f"llama.cpp could not tokenize a text run of {len(data):,} bytes")
        tokens = list(ids[:n])
        # Offsets: the pieces' lengths, less what the tokenizer put in front of the text (a
        # SentencePiece vocabulary's leading space, whatever its metadata says).
        pieces = b"".join(self.table[t] for t in tokens)
        added = len(pieces) - len(data) if pieces.endswith(data) else 0
        ends = np.cumsum([len(self.table[t]) for t in tokens], dtype=np.int64) - added
        return list(zip(tokens, np.clip(ends, 0, len(data)).tolist(), strict=True))


@functools.lru_cache(maxsize=2)
def load(path: Path, revision: str | None) -> Loaded:
    """Map a GGUF file's weights (CPU only) and read its vocabulary."""
    llama_cpp = library()
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = 0
    _log_lines.clear()
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise HarnessError(f"llama.cpp cannot load {path}: {_last_error()}")
    handle = llama_cpp.llama_model_get_vocab(model)
    vocab = llama_cpp.llama_vocab_n_tokens(handle)
    table = [_piece(llama_cpp, handle, token) for token in range(vocab)]
    start = next((t for t in (llama_cpp.llama_vocab_bos(handle), llama_cpp.llama_vocab_eos(handle)) if t >= 0), 0)
    return Loaded(
        model=model,
        vocab_handle=handle,
        table=table,
        start=start,
        vocab=vocab,
        max_context=int(llama_cpp.llama_model_n_ctx_train(model)) or 1024,
        revision=revision,
        model_sha256=files_sha256([path]),
        tokenizer_sha256=hashlib.sha256(b"\0".join(table)).hexdigest(),
        model_bytes=path.stat().st_size,
        params=int(llama_cpp.llama_model_n_params(model)),
        embedding_params=vocab * int(llama_cpp.llama_model_n_embd(model)),
    )


def _piece(llama_cpp: Any, handle: Any, token: int) -> bytes:
    """A token's bytes as decoding emits them; b"" for control tokens, which text never becomes."""
    buffer = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(handle, token, buffer, len(buffer), 0, False)
    if n < 0:
        buffer = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(handle, token, buffer, len(buffer), 0, False)
    return buffer.raw[: max(n, 0)]


def _last_error() -> str:
    return _log_lines[-1].strip() if _log_lines else "no reason given (not a GGUF file, or an architecture it lacks?)"


class Runner:
    """One llama.cpp context: `batch` sequences of up to `context` positions, and a reusable batch.

    `restart(history)` and `forward(fed)` are the torch runner's: both return float64 next-token
    probabilities [streams, vocab]. A restart clears every sequence and feeds each its window in
    chunks of `n_batch` tokens; a step feeds one token per sequence in one decode; `shift` (for
    `shifts`) keeps each window's last tokens in the cache, moved back to follow its start token."""

    def __init__(
        self,
        loaded: Loaded,
        batch: int,
        context: int,
        threads: int,
        flash_attention: str = "auto",
        shifts: bool = False,
        kv_cache: str = "f16",
    ) -> None:
        llama_cpp = library()
        self._lib, self.loaded, self.threads = llama_cpp, loaded, threads
        self.n_batch = max(512, batch)  # a step's `batch` tokens are one micro-batch
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = batch * context
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_seq_max = batch
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        params.flash_attn_type = _FLASH_ATTENTION[flash_attention]
        params.type_k = params.type_v = getattr(llama_cpp, f"GGML_TYPE_{kv_cache.upper()}")
        self._context = llama_cpp.llama_init_from_model(loaded.model, params)
        if not self._context:
            raise HarnessError(f"llama.cpp cannot make a context of {batch} x {context} tokens: {_last_error()}")
        self._memory = llama_cpp.llama_get_memory(self._context)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._length = 0  # positions filled in each sequence
        self.backend_seconds = 0.0
        """CPU seconds spent in llama_decode so far: the model's share of a run's time."""
        if shifts and not llama_cpp.llama_memory_can_shift(self._memory):
            raise HarnessError("hf: window=shift needs a model whose positions can move (rotary): use window=restart")

    def __del__(self) -> None:
        if getattr(self, "_context", None):
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._context)

    @contextmanager
    def pinned(self) -> Iterator[None]:
        yield  # the context's own thread count: nothing process-wide to set

    def restart(self, history: np.ndarray) -> np.ndarray:
        self._lib.llama_memory_clear(self._memory, True)
        window = np.concatenate([np.full((len(history), 1), self.loaded.start), history], axis=1)
        probs = []
        for stream, tokens in enumerate(window.tolist()):
            for first in range(0, len(tokens), self.n_batch):
                chunk = tokens[first : first + self.n_batch]
                last = first + self.n_batch >= len(tokens)  # only the window's last token is predicted from
                self._decode([(t, first + i, stream) for i, t in enumerate(chunk)], outputs=int(last))
            probs.append(self._probs(1)[0])
        self._length = window.shape[1]
        return np.stack(probs)

    def shift(self, keep: int, fed: np.ndarray) -> np.ndarray:
        """Each sequence's last `keep` tokens moved back to follow its start token, their keys and
        values kept (llama.cpp re-rotates the keys: no token is read again), then `fed` [streams]."""
        drop = self._length - 1 - keep  # positions 1 .. drop go
        for stream in range(len(fed)):
            self._lib.llama_memory_seq_rm(self._memory, stream, 1, 1 + drop)
            self._lib.llama_memory_seq_add(self._memory, stream, 1 + drop, -1, -drop)
        self._length -= drop
        return self.forward(fed[:, None])

    def forward(self, fed: np.ndarray) -> np.ndarray:
        self._decode([(int(t), self._length, stream) for stream, t in enumerate(fed[:, 0].tolist())], len(fed))
        self._length += 1
        return self._probs(len(fed))

    def _decode(self, entries: list[tuple[int, int, int]], outputs: int) -> None:
        """One llama_decode of (token, position, sequence) entries; the last `outputs` get logits."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for i, (token, position, sequence) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0] = sequence
            batch.logits[i] = i >= len(entries) - outputs
        started = time.process_time()
        failed = self._lib.llama_decode(self._context, batch) != 0
        self.backend_seconds += time.process_time() - started
        if failed:
            raise HarnessError(f"llama.cpp could not evaluate {len(entries)} tokens: {_last_error()}")

    def _probs(self, rows: int) -> np.ndarray:
        vocab = self.loaded.vocab
        logits = np.ctypeslib.as_array(self._lib.llama_get_logits(self._context), shape=(rows * vocab,))
        logits = logits.reshape(rows, vocab).astype(np.float64)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
