"""Where `hf`'s model files come from, for both backends: the Hugging Face cache, a local folder,
a download only where the trust policy allows; which of them may be read (safetensors or GGUF;
pickles only when the user allows) and their checksums.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness.trust
from harness.errors import HarnessError


@dataclass(frozen=True)
class Model:
    """What `hf` needs of a loaded model, whichever backend loaded it (once per process, shared
    by encoder and decoder): the token table, the start token, sizes and checksums."""

    table: list[bytes]
    start: int
    vocab: int
    max_context: int
    revision: str | None
    model_sha256: str
    tokenizer_sha256: str
    model_bytes: int
    params: int
    embedding_params: int

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        """`text`'s token ids, each with the byte offset where it ends (`tokens.Tokenize`)."""
        raise NotImplementedError


_FETCH_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]

GIT_REF = r"(?=.{1,128}\Z)(?!.*\.\.)(?!.*\.lock(?:/|\Z))[\w\-][\w.\-]*(?:/[\w\-][\w.\-]*)*"
"""A branch, tag or commit as git allows them (a 40-hex commit is one too). huggingface_hub
joins a revision onto its cache folder to find the commit it names, so `..`, a leading `/` or a
backslash would reach a file outside the cache, which a `.hz` file must never make it read."""

HUB_ID = r"(?!.*\.\.)(?:[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,95}/)?[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,95}"
"""A Hugging Face repo id, "name" or "org/name", which huggingface_hub also makes a cache folder."""


def is_path(model: str) -> bool:
    """A local path, not an "org/name" hub id."""
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        return True
    try:
        return Path(model).is_dir()
    except (OSError, ValueError):  # a name too long for a path: no folder, so a hub id
        return False


def fetch(model: str, revision: str, gguf_file: str) -> tuple[Path, str | None]:
    """The folder holding `model` (a local folder, or the HF cache's snapshot) and its revision.

    Under a decoding `Trust`, a local folder is only one the user named, and the Hub is only
    asked when the user allowed downloads (else the local cache alone is looked in)."""
    if not model:
        raise HarnessError("hf needs a model: hf:<model id or local folder>[,key=value...]")
    trust = harness.trust.current()
    if is_path(model):
        folder = trust.local_model(model)
        if not folder.is_dir():
            raise HarnessError(f"no model folder {folder} (relative paths count from the current directory)")
        return folder, None
    if not re.fullmatch(HUB_ID, model):
        raise HarnessError(f"hf: {model!r} is neither a local folder nor a hub id (org/name)")
    if not re.fullmatch(GIT_REF, revision):  # checked with the options too; fetch is also called directly
        raise HarnessError(f"hf: revision {revision!r} is not a branch, tag or commit")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    patterns = [gguf_file, "*.json"] if gguf_file else _FETCH_PATTERNS
    fetch = functools.partial(
        snapshot_download, model, revision=revision, ignore_patterns=["*/*"], local_files_only=not trust.downloads
    )
    try:
        folder = Path(fetch(allow_patterns=patterns))
        if not gguf_file and trust.pickles and not any(folder.glob("*.safetensors")):
            fetch(allow_patterns=["pytorch_model*.bin"])
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, FileNotFoundError):
        how = "and downloads were not allowed (--allow-download)" if not trust.downloads else "and cannot be downloaded"
        raise HarnessError(
            f"model {model!r} is not in the Hugging Face cache {how}: run `hf download {model}` where there is "
            f"network (same HF_HOME), or point at a local folder: hf:/path/to/dir"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise HarnessError(f"cannot get model {model!r} from the Hugging Face Hub: {error}") from None
    return folder, folder.name


def weight_files(folder: Path, gguf_file: str) -> list[Path]:
    """The files whose bytes are the model: safetensors or GGUF; pickled weights only when the
    user allowed them (`--allow-pickle`), since unpickling can run any code."""
    if gguf_file:
        files = [folder / gguf_file]  # gguf_file is a bare file name (its option's pattern)
        if not files[0].is_file():
            raise HarnessError(f"no GGUF file {gguf_file!r} in {folder}")
        return files
    safetensors = sorted(folder.glob("*.safetensors"))
    pickled = sorted(folder.glob("pytorch_model*.bin"))
    if not safetensors and pickled and not harness.trust.current().pickles:
        raise HarnessError(
            f"{folder} holds only pickled weights (pytorch_model*.bin), which can run code when loaded: "
            "convert them to safetensors, or pass --allow-pickle if you trust them"
        )
    if not safetensors and not pickled:
        ggufs = sorted(path.name for path in folder.glob("*.gguf"))
        hint = f"; it holds GGUF weights: name one with gguf_file={ggufs[0]}" if ggufs else ""
        raise HarnessError(f"no model weights (*.safetensors, pytorch_model*.bin) in {folder}{hint}")
    return [*(safetensors or pickled), *sorted(folder.glob("config.json"))]


def files_sha256(files: list[Path]) -> str:
    """The weights' checksum. Asked for by the header check, the config and the loader alike, it
    is hashed once per version of the files (path, inode, size, change times), not once per caller."""
    return _hash_files(tuple(_stamp(file) for file in files))


def _stamp(file: Path) -> tuple[str, int, int, int, int]:
    info = file.stat()
    return str(file), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


@functools.lru_cache(maxsize=8)
def _hash_files(stamps: tuple[tuple[str, int, int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, *_ in stamps:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Shape:
    """What a model's keys and values take per token, read from its config (no weights loaded)."""

    layers: int
    kv_width: int
    """Keys or values of one layer for one token: key-value heads x head size."""
    max_positions: int
    vocab: int

    def kv_bytes(self, tokens: int, dtype_bytes: int) -> int:
        return 2 * self.layers * self.kv_width * tokens * dtype_bytes


UNKNOWN_SHAPE = Shape(layers=80, kv_width=8192, max_positions=1 << 20, vocab=1 << 18)
"""For a model whose config cannot be read: a 70B-class model's keys and values, never below
the real ones of any model this harness runs."""


def shape(folder: Path, gguf_file: str) -> Shape:
    """The model's layers, key-value width and longest context, from config.json or the GGUF's
    metadata; UNKNOWN_SHAPE where neither says."""
    try:
        if gguf_file:
            return _gguf_shape(folder / gguf_file)
        config = json.loads((folder / "config.json").read_text())
        layers = config.get("num_hidden_layers") or config.get("n_layer")
        hidden = config.get("hidden_size") or config.get("n_embd")
        heads = config.get("num_attention_heads") or config.get("n_head")
        kv_heads = config.get("num_key_value_heads") or heads
        head_dim = config.get("head_dim") or hidden // heads
        positions = config.get("max_position_embeddings") or config.get("n_positions") or UNKNOWN_SHAPE.max_positions
        vocab = config.get("vocab_size") or UNKNOWN_SHAPE.vocab
        return Shape(int(layers), int(kv_heads) * int(head_dim), int(positions), int(vocab))
    except (OSError, ValueError, TypeError, ZeroDivisionError, KeyError, struct.error):
        return UNKNOWN_SHAPE


_GGUF_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _gguf_shape(path: Path) -> Shape:
    """The few metadata keys `shape` needs, read from the GGUF header without parsing its
    tensors (gguf's reader maps them all: seconds for a 100 MB file)."""
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        file.seek(0)

        def take(fmt: str) -> Any:
            raw = file.read(struct.calcsize(fmt))
            return struct.unpack("<" + fmt, raw)[0]

        def string() -> bytes:
            length = take("Q")
            if length > size:
                raise ValueError("a GGUF string longer than its file")
            return file.read(length)

        def value(kind: int) -> Any:
            if kind in _GGUF_SCALAR:
                return take(_GGUF_SCALAR[kind])
            if kind == _GGUF_STRING:
                return string()
            if kind == _GGUF_ARRAY:
                item, count = take("I"), take("Q")
                if count > size:
                    raise ValueError("a GGUF array longer than its file")
                if item in _GGUF_SCALAR:  # skipped: no key this needs is an array of numbers
                    file.seek(count * struct.calcsize(_GGUF_SCALAR[item]), 1)
                else:
                    for _ in range(count):
                        value(item)
                return count  # of an array, only its length is needed (the vocabulary's)
            raise ValueError(f"GGUF value type {kind}")

        if file.read(4) != b"GGUF":
            raise ValueError("not a GGUF file")
        _, _, pairs = take("I"), take("Q"), take("Q")
        meta = {}
        for _ in range(min(pairs, size)):
            key = string().decode("utf-8", "replace")
            meta[key] = value(take("I"))
    arch = meta["general.architecture"].decode()
    layers, hidden = meta[f"{arch}.block_count"], meta[f"{arch}.embedding_length"]
    heads = meta[f"{arch}.attention.head_count"]
    kv_heads = meta.get(f"{arch}.attention.head_count_kv") or heads
    head_dim = meta.get(f"{arch}.attention.key_length") or hidden // heads
    positions = meta.get(f"{arch}.context_length") or UNKNOWN_SHAPE.max_positions
    vocab = meta.get("tokenizer.ggml.tokens") or UNKNOWN_SHAPE.vocab
    return Shape(int(layers), int(kv_heads) * int(head_dim), int(positions), int(vocab))
