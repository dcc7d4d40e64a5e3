"""Loading for `hf`: where a model's files come from (the Hugging Face cache, a local folder, a
download only where the trust policy allows), which of them may be read (safetensors or GGUF;
pickles only when the user allows), their checksums, and the model and tokenizer, loaded once
per process. transformers is imported only here, when a model is built.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness.trust
from harness.errors import HarnessError
from plugins.hf.tokens import token_table

_FETCH_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]


@dataclass(frozen=True)
class Loaded:
    """A model and tokenizer loaded once per process and shared by encoder and decoder."""

    model: Any
    tokenizer: Any
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
    cache_argument: str
    """How forward() takes the KV cache: `cache` from transformers 5.x (whose `past_key_values`
    is deprecated), `past_key_values` before."""


def is_path(model: str) -> bool:
    """A local path, not an "org/name" hub id."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or Path(model).is_dir()


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
        raise HarnessError(f"no model weights (*.safetensors, pytorch_model*.bin) in {folder}")
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
