"""`hf`: frozen pretrained Hugging Face causal language models as predictors.

    harness run --predictor gpt2
    harness run --predictor hf:HuggingFaceTB/SmolLM2-135M,dtype=float32
    harness run --predictor hf:path/to/dir,gguf_file=model.gguf

Symbols are token ids plus 256 literal-byte symbols. `to_symbols` tokenizes and keeps a token
only where its bytes (from a fixed id -> bytes table) are exactly the next input bytes; anything
else (invalid UTF-8, binary, text the tokenizer normalises) is coded as literal bytes. Decoding
concatenates table entries and never re-tokenizes, so every input round-trips. The literals get
an adaptive share of the probability mass (a KT estimate of how often they occurred) spread by
an adaptive order-0 byte model, so binary input costs about 8 bits/byte, not the 30 a floor
frequency would. The model itself sees only the tokens (a literal leaves its prediction as it
was), so binary data costs no forward passes.

The model runs incrementally with its KV cache, one token per step, on both sides: the decoder
repeats the encoder's computation exactly, so the distributions agree bit for bit on the same
setup (library versions, dtype, device and thread count are in `config()`). Two backends run it:
`torch` (transformers; any checkpoint, GGUF dequantized to `dtype`) and `llamacpp` (a GGUF run by
llama.cpp with its quantized weights as they are, several times faster on a CPU). When the window
of `context` tokens is full, it restarts from the start token plus the last `overlap` tokens.
With `batch=B` the symbols are cut into B streams whose tokens go through the model together,
one forward pass of B tokens per step: on a CPU that pass costs about what one token's does.

Weights come through the Hugging Face cache (HF_HOME, HF_HUB_OFFLINE are honoured) or from a
local folder; transformers is imported only when a model is built, so listing stays fast.
"""

from __future__ import annotations

import functools
import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import coder, wire
from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.predictor import (
    SYMBOL_BYTES,
    CodeOne,
    Decide,
    Option,
    Progress,
    SequenceCoder,
    Split,
    decode_in_any_order,
    encode_in_any_order,
    no_progress,
    optional_import,
    whole_symbol,
)
from plugins.hf import llamacpp, tokens, torch_backend
from plugins.hf.byte_view import ByteView
from plugins.hf.loading import GIT_REF, fetch, files_sha256, is_path, shape, weight_files
from plugins.hf.tokens import LITERALS, Literals, OnlineBias
from plugins.hf.torch_backend import load

_DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}
_DTYPES = tuple(_DTYPE_BYTES)


class HF(SequenceCoder):
    name = "hf"
    description = "frozen pretrained Hugging Face causal LM: hf:<model id or local folder>[,key=value...]"
    version = 2
    positional = "model"
    whole_input = True  # the symbols are cut into `batch` streams, so encode_symbols sees all of them
    tokenizes = True  # token ids plus 256 literal bytes
    options = {
        "model": Option("", "a hub id (org/name) or a local folder"),
        "revision": Option("main", "hub revision: branch, tag or commit", pattern=GIT_REF),
        "gguf_file": Option("", "a GGUF file in the model folder: a bare file name", pattern=r"([^/\\\x00]+\.gguf)?"),
        "dtype": Option("float32", "torch dtype of the weights", choices=_DTYPES),
        "device": Option("cpu", "torch device", pattern=r"cpu|cuda(:\d{1,2})?"),
        "context": Option(1024, "tokens in the window (capped at the model's maximum)", 2, 1 << 20),
        "overlap": Option(-1, "tokens kept when the window is full (-1: half the context)", -1, 1 << 20),
        "batch": Option(1, "streams coded in lockstep, one forward pass of `batch` tokens per step", 1, 4096),
        "threads": Option(1, "CPU threads (results depend on it)", 1, 256),
        "chunk": Option(
            0, "bytes per independent chunk, each its own stream (0: `batch` runs)", 0, 1 << 30, added_later=True
        ),
        "flash_attention": Option(
            "auto", "llamacpp: flash attention (results depend on it)", choices=("auto", "on", "off"), added_later=True
        ),
        "kv_cache": Option(
            "f16",
            "llamacpp: type of the cached keys and values (q8_0 needs flash attention; results depend on it)",
            choices=llamacpp.KV_TYPES,
            added_later=True,
        ),
        "backend": Option(
            "torch", "torch (transformers) or llamacpp (GGUF only)", choices=("torch", "llamacpp"), added_later=True
        ),
        "window": Option(
            "restart",
            "a full window: restart (re-read the kept tokens) or shift (llamacpp: keep their keys and values)",
            choices=("restart", "shift"),
            added_later=True,
        ),
        "bias_lr": Option(
            0.0,
            "learning rate of a bias per token on the model's log-probabilities, learnt on the coded text (0: off)",
            0.0,
            10.0,
            added_later=True,
        ),
        "code": Option(
            "tokens",
            "tokens (each symbol whole) or bytes (a byte at a time through the token table's trie: the same bits)",
            choices=("tokens", "bytes"),
            added_later=True,
        ),
    }
    """context: tokens in the window (capped at the model's maximum); overlap: tokens kept when
    the window is full (-1: half the context); batch: streams the input is cut into and coded in
    lockstep, one forward pass of `batch` tokens per step (much faster per token where a pass is
    memory-bound, as on a CPU; each stream starts without context); threads: torch CPU threads
    (results depend on it, so it is recorded); backend: `llamacpp` runs a GGUF (`gguf_file`) on the
CPU through llama.cpp (`pip install -e '.[llamacpp]'`), ignoring dtype; window=shift (llamacpp,
models with rotary positions) keeps the kept tokens' keys and values when the window is full and
moves their positions back, instead of reading those tokens again: the same windows, without
the re-read (half the work of a long stream), the kept tokens still carrying what they saw;
code=bytes codes each symbol as its bytes, end-of-token decisions and (where ids share bytes)
a choice, by the chain rule over the table (`byte_view`): exact, so the same bits within the
coder's rounding, and the form in which a token model can join byte-level mixing; bias_lr > 0
corrects the frozen model online with a bias per token (`tokens.OnlineBias`)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        s = self.settings
        self.m: torch_backend.Loaded | llamacpp.Loaded
        if s["backend"] == "llamacpp":
            folder, commit = fetch(*self._source(s))
            self.m = llamacpp.load(folder / s["gguf_file"], commit)
        else:
            optional_import("torch", "hf", "hf")
            self.m = load(s["model"], s["revision"], s["gguf_file"], s["dtype"], s["device"])
        self.context = min(s["context"], self.m.max_context)
        self.overlap = self.context // 2 if s["overlap"] == -1 else s["overlap"]
        if not 0 <= self.overlap < self.context - 1:
            raise HarnessError(f"hf: overlap must be in [0, context - 1) = [0, {self.context - 1}), not {self.overlap}")
        self.alphabet_size = self.m.vocab + LITERALS
        self._symbol_bytes = np.array([len(piece) for piece in self.m.table] + [1] * LITERALS)
        self.params = self.m.params
        self.model_bytes = self.m.model_bytes
        self.flops_per_symbol = 2.0 * (self.m.params - self.m.embedding_params)
        self.runner: torch_backend.Runner | llamacpp.Runner
        if isinstance(self.m, llamacpp.Loaded):
            self.runner = llamacpp.Runner(
                self.m,
                s["batch"],
                self.context,
                s["threads"],
                s["flash_attention"],
                s["window"] == "shift",
                s["kv_cache"],
            )
        else:
            self.runner = torch_backend.Runner(self.m, s["device"], s["threads"], self.context)

    @staticmethod
    def _source(settings: dict[str, Any]) -> tuple[str, str, str]:
        """fetch()'s arguments; the llamacpp backend runs GGUF files, on the CPU only."""
        if settings["backend"] == "llamacpp" and not settings["gguf_file"]:
            raise HarnessError("hf: backend=llamacpp runs GGUF checkpoints: name one with gguf_file=NAME.gguf")
        if settings["backend"] == "llamacpp" and settings["device"] != "cpu":
            raise HarnessError("hf: backend=llamacpp runs on the CPU here: drop device=, or use backend=torch")
        if settings["window"] == "shift" and settings["backend"] != "llamacpp":
            raise HarnessError("hf: window=shift needs backend=llamacpp (torch re-reads the kept tokens)")
        if settings["kv_cache"] != "f16" and (
            settings["backend"] != "llamacpp" or settings["flash_attention"] == "off"
        ):
            raise HarnessError("hf: kv_cache=q8_0 needs backend=llamacpp with flash attention (flash_attention=on)")
        return settings["model"], settings["revision"], settings["gguf_file"]

    @classmethod
    def static_config(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """The weights' checksum and the libraries, without loading anything: a file naming
        other weights than the folder holds is refused before they are parsed."""
        folder, commit = fetch(*cls._source(settings))
        known = {k: v for k, v in settings.items() if k not in ("context", "overlap")}  # capped when loaded
        return {
            **super().static_config(known),  # the model by name (`portable`): the checksum says which
            "revision": commit,
            "model_sha256": files_sha256(weight_files(folder, settings["gguf_file"])),
            **cls._versions(settings),
        }

    @staticmethod
    def _versions(settings: dict[str, Any]) -> dict[str, Any]:
        """The libraries (and device) the stream depends on, by backend."""
        if settings["backend"] == "llamacpp":
            return llamacpp.versions()
        torch = optional_import("torch", "hf", "hf")
        transformers = optional_import("transformers", "hf", "hf")
        device_type = torch.device(settings["device"]).type
        return {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "device_type": device_type,
            # on a CPU, the vector ISA: matmul and reduction kernels, and their roundings, differ per ISA
            **({"cpu_capability": torch.backends.cpu.get_cpu_capability()} if device_type == "cpu" else {}),
        }

    @classmethod
    def earlier_configs(cls, config: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Also as files written before the torch backend recorded the CPU's vector ISA hold it
        (they decode where the ISA is theirs, and fail their CRC check elsewhere)."""
        for earlier in super().earlier_configs(config):
            yield earlier
            if "cpu_capability" in earlier:
                yield {k: v for k, v in earlier.items() if k != "cpu_capability"}

    @classmethod
    def portable(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """A local folder as `./NAME`: a decoder finds it by that name among the models its user
        names (`--model`), wherever it sits there."""
        model = settings["model"]
        return {**settings, "model": f"./{Path(model).resolve().name}"} if is_path(model) else settings

    @classmethod
    def local_models(cls, settings: dict[str, Any]) -> tuple[str, ...]:
        """A local folder, also where it is named as `portable` would name it (`./NAME`)."""
        return (settings["model"],) if is_path(settings["model"]) else ()

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        """The weights as they run, the keys and values of every stream's window (from the
        model's config: layers x key-value width, at most its longest context), each stream's
        distribution over the vocabulary, the symbols and their bits. torch: float32 weights grow
        from GGUF's quantized blocks (~4.5 bits a weight) about 8x, from other checkpoints at most
        2x (bfloat16); the cache is in `dtype`, and a step holds a few copies of the logits."""
        folder, _ = fetch(*cls._source(settings))
        model = shape(folder, settings["gguf_file"])
        tokens = settings["batch"] * min(settings["context"], model.max_positions)
        if settings["backend"] == "llamacpp":
            return llamacpp.memory_estimate(folder / settings["gguf_file"], model, tokens, settings["batch"], symbols)
        size = sum(f.stat().st_size for f in weight_files(folder, settings["gguf_file"]))
        weights = (8 if settings["gguf_file"] else 2) * size
        cache = model.kv_bytes(tokens, _DTYPE_BYTES[settings["dtype"]])
        return weights + cache + 4 * 8 * settings["batch"] * model.vocab + SYMBOL_BYTES * symbols

    def config(self) -> dict[str, Any]:
        m = self.m
        return {  # static_config's keys, from what was loaded rather than by hashing again
            "predictor": self.name,
            "version": self.version,
            **self.portable(self.settings),
            "revision": m.revision,  # the hub commit; None for a local folder (its sha256 says it all)
            "model_sha256": m.model_sha256,
            "tokenizer_sha256": m.tokenizer_sha256,
            "vocab": m.vocab,
            "start_token": m.start,
            "context": self.context,
            "overlap": self.overlap,
            **self._versions(self.settings),
            **({"n_batch": self.runner.n_batch} if isinstance(self.runner, llamacpp.Runner) else {}),
        }

    def stream_lengths(self, symbols: np.ndarray) -> list[int]:
        """The symbols of each stream, in order: `batch` contiguous runs of about equal length,
        or with `chunk`, one per chunk (to_symbols tokenized each alone, so its bytes add up)."""
        chunk, count = self.settings["chunk"], len(symbols)
        if not chunk:
            return self._run_lengths(count)
        ends = np.cumsum(self._symbol_bytes[np.asarray(symbols, dtype=np.int64)])
        cuts = np.searchsorted(ends, np.arange(chunk, ends[-1] if count else 0, chunk)) + 1
        return np.diff([0, *cuts.tolist(), count]).tolist()

    def _run_lengths(self, count: int) -> list[int]:
        """`count` symbols as `batch` contiguous runs of about equal length, the last ones shorter."""
        length = -(-count // self.settings["batch"])
        return [min((b + 1) * length, count) - min(b * length, count) for b in range(self.settings["batch"])]

    @staticmethod
    def _bounds(lengths: list[int]) -> list[tuple[int, int]]:
        """[first, end) of consecutive streams of `lengths` symbols."""
        return list(itertools.pairwise([0, *np.cumsum(lengths, dtype=np.int64).tolist()]))

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        lengths = self.stream_lengths(symbols)
        payload, bits = encode_in_any_order(
            self.alphabet_size, symbols, lambda code: self._run(lengths, code, progress), self._split()
        )
        chunks = b"".join(wire.varint(n) for n in [len(lengths), *lengths]) if self.settings["chunk"] else b""
        return chunks + payload, bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        if not self.settings["chunk"]:
            lengths = self._run_lengths(count)
        else:  # the chunks' symbol counts lead the payload
            reader = wire.Reader(io.BytesIO(payload), len(payload))
            chunks = reader.varint()
            if chunks > len(payload):
                raise HarnessError("not a valid .hz file: more chunks than payload bytes")
            lengths = [reader.varint() for _ in range(chunks)]
            if sum(lengths) != count:
                raise HarnessError("not a valid .hz file: the chunks' symbol counts do not add up")
            payload = payload[len(payload) - reader.left :]
        run = lambda code: self._run(lengths, code, progress)  # noqa: E731
        return decode_in_any_order(self.alphabet_size, payload, count, run, self._split())

    def _split(self) -> Split:
        """How a symbol is coded: whole, or a byte at a time (`code=bytes`)."""
        return whole_symbol if self.settings["code"] == "tokens" else self._byte_view.code

    @functools.cached_property
    def _byte_view(self) -> ByteView:
        return ByteView([*self.m.table, *(bytes([b]) for b in range(LITERALS))])

    def code_bytes(self, symbols: np.ndarray | None, count: int, decide: Decide, code_byte: Decide) -> None:
        """Code `count` symbols (the encoder's; None in the decoder) a byte at a time through the
        token table's trie (`byte_view`): their bytes by `code_byte`, which a bitwise `mix` codes
        with its other models (these masses one of their inputs), the ends of tokens and the
        choices among ids that share bytes by `decide`. One stream: batch=1, no chunks."""
        if self.settings["batch"] != 1 or self.settings["chunk"]:
            raise HarnessError("hf as a mix member codes one stream: batch=1 and no chunk")

        def code(position: int, probs: np.ndarray) -> int:
            return self._byte_view.code(probs, decide, None if symbols is None else int(symbols[position]), code_byte)

        self._run([count], code, no_progress)

    def _run(self, lengths: list[int], code: CodeOne, progress: Progress) -> None:
        """Code streams of `lengths` symbols, `batch` of them at a time in lockstep;
        `code(position, probs)` codes one symbol.

        A step codes, stream by stream, the literals before the stream's next token and that
        token, then feeds the tokens to the model in one forward pass (a finished stream feeds
        the start token, which keeps shapes fixed). Each stream has its own window and literal
        model, so it is coded exactly as if it were alone. Encoder and decoder differ only in `code`.
        """
        if sum(lengths) == 0:
            return
        streams = self._bounds(lengths)
        batch = self.settings["batch"]
        with self.runner.pinned():
            for wave in range(0, len(streams), batch):
                self._lockstep(streams[wave : wave + batch], code, progress)

    def _lockstep(self, streams: list[tuple[int, int]], code: CodeOne, progress: Progress) -> None:
        vocab = self.m.vocab
        position, end = (np.array(column) for column in zip(*streams, strict=True))
        batch = len(position)
        literals = [Literals(vocab) for _ in range(batch)]
        biases = [OnlineBias(vocab, self.settings["bias_lr"]) for _ in range(batch)]
        history = np.zeros((batch, 0), dtype=np.int64)  # the tokens of the current window
        token_probs = self.runner.restart(history)
        while True:
            fed = np.full(batch, self.m.start)
            for b in range(batch):
                while position[b] < end[b]:
                    symbol = code(int(position[b]), literals[b].mixture(biases[b].apply(token_probs[b])))
                    literals[b].observe(symbol)
                    position[b] += 1
                    progress(1)
                    if symbol < vocab:  # the model sees tokens only: a literal leaves its prediction as it was
                        biases[b].learn(symbol)
                        fed[b] = symbol
                        break
            if (position >= end).all():
                return
            history = np.concatenate([history, fed[:, None]], axis=1)
            kept = self._kept(history.shape[1])
            if kept is not None:
                history = history[:, history.shape[1] - kept :]
                shift = kept and self.settings["window"] == "shift"  # keeping no token is a restart
                token_probs = self.runner.shift(kept - 1, fed) if shift else self.runner.restart(history)
            else:
                token_probs = self.runner.forward(fed[:, None])

    def _kept(self, fed: int) -> int | None:
        """The window schedule, one rule for the coded path and the fast path alike: after `fed`
        tokens in the window (the start token not counted), None while the next still fits, else
        the number of last tokens the restarted window keeps."""
        return self.overlap if fed + 1 > self.context else None

    def to_symbols(self, data: bytes) -> np.ndarray:
        """Token ids and literals; with `chunk`, of each chunk tokenized alone (no token spans two)."""
        step = self.settings["chunk"] or max(len(data), 1)
        pieces = [
            tokens.to_symbols(self.m.tokenize, self.m.table, self.m.vocab, data[i : i + step])
            for i in range(0, len(data), step)
        ]
        return np.concatenate([np.zeros(0, dtype=np.int64), *pieces])

    def batched_ideal_bits(self, symbols: np.ndarray, windows: int = 4) -> np.ndarray:
        """Each symbol's ideal code length in bits, from batched full-window forward passes.

        The fast path for large corpora: the same streams, windows and literal model as the coded
        path, but each window runs as one forward pass (`windows` windows at a time) instead of
        token by token, and nothing is coded or decoded. Unverified: it agrees with the coded
        path's ideal bits only up to float rounding (about 1e-4 bits per symbol).
        """
        if not isinstance(self.runner, torch_backend.Runner) or self.settings["bias_lr"]:
            raise HarnessError("hf: the batched fast path runs on the torch backend only, without bias_lr")
        symbols = np.asarray(symbols)
        with self.runner.pinned():
            streams = [
                self._stream_ideal_bits(symbols[first:end], windows)
                for first, end in self._bounds(self.stream_lengths(symbols))
            ]
        return np.concatenate([np.zeros(0), *streams])

    def _stream_ideal_bits(self, symbols: np.ndarray, windows: int) -> np.ndarray:
        import torch

        device = self.runner.device
        vocab, start = self.m.vocab, self.m.start
        tokens = [s for s in np.asarray(symbols).tolist() if s < vocab]
        # `_run`'s window schedule (`_kept`): (window, tokens it predicts, index of the first).
        spans: list[tuple[list[int], int, int]] = []
        window, first = [start], 0
        for i, token in enumerate(tokens):
            kept = self._kept(len(window))  # fed token i: the window holds len(window) past the start
            if kept is not None:
                spans.append((window, i + 1 - first, first))
                window, first = [start, *(tokens[i + 1 - kept : i + 1] if kept else [])], i + 1
            else:
                window = window + [token]
        spans.append((window[:-1], len(tokens) - first, first))  # the last token predicts nothing coded
        token_probs = np.zeros(len(tokens))
        for group in range(0, len(spans), windows):
            chunk = [span for span in spans[group : group + windows] if span[1]]
            if not chunk:
                continue
            width = max(len(w) for w, _, _ in chunk)
            keep = max(width - len(w) + n for w, n, _ in chunk)  # right padding: keep every needed position
            ids = torch.tensor([w + [start] * (width - len(w)) for w, _, _ in chunk], device=device)
            with torch.inference_mode():
                logits = self.m.model(input_ids=ids, logits_to_keep=keep).logits
                for row, (w, n, first) in enumerate(chunk):
                    end = keep - (width - len(w))  # the window's last position within the kept tail
                    log_probs = torch.log_softmax(logits[row, end - n : end].double(), dim=-1)
                    targets = torch.tensor(tokens[first : first + n], device=device)
                    picked = log_probs.gather(1, targets[:, None])[:, 0].exp().cpu().numpy()
                    token_probs[first : first + n] = picked
        return self._coded_bits(symbols, token_probs)

    def _coded_bits(self, symbols: np.ndarray, token_probs: np.ndarray) -> np.ndarray:
        """Per-symbol bits under `Literals.mixture`, quantized as the coder does (every symbol
        gets at least 1 of 2**30, which caps a very unlikely symbol's cost), given each token's
        probability under the model."""
        spare = coder.TOTAL - self.alphabet_size
        literals = Literals(self.m.vocab)
        probs = np.zeros(len(symbols))
        tokens = 0
        for n, symbol in enumerate(symbols.tolist()):
            probs[n] = literals.probability(symbol, token_probs[tokens] if symbol < self.m.vocab else 0.0)
            tokens += symbol < self.m.vocab
            literals.observe(symbol)
        return coder.TOTAL_BITS - np.log2(1.0 + np.floor(probs * spare))

    def from_symbols(self, symbols: np.ndarray) -> bytes:
        return tokens.from_symbols(self.m.table, self.m.vocab, symbols)


ALIASES = (  # registered short names for hub models: (name, hub id, what it is)
    ("gpt2", "openai-community/gpt2", "GPT-2 small, 124M params, pretrained, frozen"),
    ("gpt2-medium", "openai-community/gpt2-medium", "GPT-2 medium, 355M params, pretrained, frozen"),
    ("gpt2-large", "openai-community/gpt2-large", "GPT-2 large, 774M params, pretrained, frozen"),
    ("gpt2-xl", "openai-community/gpt2-xl", "GPT-2 XL, 1.5B params, pretrained, frozen"),
    ("distilgpt2", "distilbert/distilgpt2", "DistilGPT-2, 82M params, pretrained, frozen"),
    ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M", "SmolLM2 135M, pretrained, frozen"),
    ("smollm2-360m", "HuggingFaceTB/SmolLM2-360M", "SmolLM2 360M, pretrained, frozen"),
)


def alias(name: str, model: str, about: str) -> type[HF]:
    """`hf` under a short name whose `model` defaults to one hub id, e.g. `gpt2` for
    hf:openai-community/gpt2. A predictor of its own, not a rewrite of the spec, so records and
    .hz files keep the name they were made with."""
    options = {**HF.options, "model": Option(model, "the hub id this name stands for")}
    fields = {"name": name, "description": f"{about} ({model})", "positional": "", "options": options}
    return type(name.replace("-", "_").upper(), (HF,), fields)


_ALIASED = [alias(*row) for row in ALIASES]


@hookimpl
def harness_predictors() -> list[type[SequenceCoder]]:
    return [HF, *_ALIASED]
