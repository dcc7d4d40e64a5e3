"""Where `hf`'s model files come from, for both backends: the Hugging Face cache, a local folder,
a download only where the trust policy allows; which of them may be read (safetensors or GGUF;
pickles only when the user allows) and their checksums.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

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
