"""Corpora: named collections of files to benchmark on, and how to find their bytes.

A spec names a registered corpus ("canterbury"), one of its members
("canterbury/alice29.txt"), or a local file or directory. Standard corpora come from their
canonical archive, downloaded once into `cache_dir()` and checked against known sizes and
sha256s, or, on machines without network, from a data dir laid out as
`<data_dir>/<corpus>/<member>` (the layout of `shared/corpora`).
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import io
import os
import tarfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO
from urllib.parse import urlparse

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from harness.dirs import cache_dir
from harness.errors import HarnessError


@dataclass(frozen=True)
class CorpusFile:
    """One input to benchmark on.

    `entropy_bits(n)` is the true information content of the first n bytes, for synthetic
    sources whose floor is known; `meta` describes the source (sha256, size, url, ...).
    `opener` opens a file on disk (checked like `read`) so that its bytes are streamed rather
    than held; without one, `open` serves what `read` makes in memory (generated corpora).
    """

    name: str
    read: Callable[[], bytes]
    entropy_bits: Callable[[int], float] | None = None
    meta: dict = field(default_factory=dict)
    opener: Callable[[], BinaryIO] | None = None

    def open(self) -> BinaryIO:
        """The bytes as a binary file, read as they are used where they lie on disk."""
        return self.opener() if self.opener else io.BytesIO(self.read())


@dataclass(frozen=True)
class Corpus:
    """A named list of files. A subset (`subset_of` names its parent) is a named selection of
    another corpus's whole files, under their own names ('canterbury/cp.html'): a result counts
    for the parent's table and the subset's alike, and a leaderboard can show the subset as a
    complete group where a slow predictor cannot run on the whole parent."""

    name: str
    description: str
    files: Callable[[], list[CorpusFile]]
    subset_of: str | None = None


def subset_corpus(name: str, description: str, parent: Corpus, members: tuple[str, ...]) -> Corpus:
    """The `members` (base names) of `parent`, as a corpus of their own."""
    wanted = {f"{parent.name}/{member}" for member in members}

    def files() -> list[CorpusFile]:
        chosen = [file for file in parent.files() if file.name in wanted]
        assert len(chosen) == len(wanted), f"{name}: {parent.name} lacks some of {sorted(wanted)}"
        return chosen

    return Corpus(name, description, files, subset_of=parent.name)


def data_dir(explicit: str | None = None) -> Path | None:
    """The offline data dir: the --data-dir option, else $HARNESS_DATA_DIR, else None."""
    value = explicit or os.environ.get("HARNESS_DATA_DIR")
    return Path(value).expanduser() if value else None


def prefix_length(size: int, max_bytes: int | None) -> int:
    """How many of `size` bytes a `max_bytes` limit takes (all of them for None)."""
    if max_bytes is None:
        return size
    if max_bytes < 0:
        raise HarnessError(f"max bytes must be >= 0, got {max_bytes}")
    return min(size, max_bytes)


class Prefix:
    """The first `length` bytes of a binary file as a stream, hashed (sha256) as they are read."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file, self.length, self.left, self.sha256 = file, length, length, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        chunk = self.file.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(chunk)
        self.sha256.update(chunk)
        return chunk


Part = tuple[int, int]
"""[first, end) byte offsets of a piece of a file, coded as an input of its own."""


@contextmanager
def open_prefix(file: CorpusFile, max_bytes: int | None, part: Part | None = None) -> Iterator[Prefix]:
    """`file`'s first `max_bytes` bytes (all for None) as a `Prefix` stream; with `part`, only
    the bytes [first, end) of them."""
    with file.open() as stream:
        length = prefix_length(stream.seek(0, os.SEEK_END), max_bytes)
        first, end = part or (0, length)
        if not 0 <= first <= end <= length:
            raise HarnessError(f"{file.name}: bytes {first:,}-{end:,} are not within its {length:,}")
        stream.seek(first)
        yield Prefix(stream, end - first)


def prefix_sha256(file: CorpusFile, max_bytes: int | None, part: Part | None = None) -> str:
    """The sha256 of `file`'s first `max_bytes` bytes (of those, the bytes of `part` only), read
    a MB at a time."""
    with open_prefix(file, max_bytes, part) as prefix:
        while prefix.read(1 << 20):
            pass
        return prefix.sha256.hexdigest()


def resolve(spec: str, corpora: dict[str, Corpus], *, data_dir: Path | None = None) -> list[CorpusFile]:
    """The files a spec names, in a stable order.

    Registered names win over local paths (write `./canterbury` for a local folder of that
    name). A directory stands for all its regular files, recursively, sorted by relative
    path, skipping hidden files and folders (names starting with "."). Members of
    downloadable corpora are read from `<data_dir>/<corpus>/<member>` when that file
    exists (verified against the known sha256/size), else from the download cache;
    `data_dir=None` means $HARNESS_DATA_DIR.
    """
    root = data_dir if data_dir is not None else _default_data_dir()
    head, slash, _ = spec.partition("/")
    if spec in corpora:
        files = corpora[spec].files()
    elif slash and head in corpora and (member := _member(spec, corpora[head])):
        files = [member]
    elif spec and _is_local(spec):
        return _local_files(spec)
    else:
        raise HarnessError(_unknown(spec, corpora))
    return [_served_from(root, f) for f in files] if root else files


def _is_local(spec: str) -> bool:
    """Whether a local file or folder is at `spec`; one that cannot be looked at (a name too
    long) is an error, not an unknown corpus."""
    try:
        return Path(spec).is_file() or Path(spec).is_dir()
    except OSError as error:
        raise HarnessError(f"cannot read {spec}: {error.strerror}") from None


def _default_data_dir() -> Path | None:
    return data_dir()  # inside resolve() its parameter `data_dir` hides this function


def _member(spec: str, corpus: Corpus) -> CorpusFile | None:
    return next((f for f in corpus.files() if f.name == spec), None)


def _unknown(spec: str, corpora: dict[str, Corpus]) -> str:
    head, slash, rest = spec.partition("/")
    if slash and head in corpora:
        names = [f.name for f in corpora[head].files()]
        close = difflib.get_close_matches(spec, names, n=3)
        message, known = f"unknown member '{spec}'", f"members of {head}: {', '.join(names)}"
    else:
        # "pyton/topics" is most likely a misspelt corpus: suggest "python/topics".
        close = [name + slash + rest for name in difflib.get_close_matches(head, sorted(corpora), n=3)]
        message, known = (
            f"unknown corpus '{spec}'",
            f"known: {', '.join(sorted(corpora))} (or give a file or directory path)",
        )
    hint = f"; did you mean: {', '.join(close)}?" if close else ";"
    return f"{message}{hint} {known}"


def _local_files(spec: str) -> list[CorpusFile]:
    path = Path(spec)
    if path.is_file():
        if not path.stat().st_size:
            raise HarnessError(f"{spec} is empty: an empty input has no bits/byte to measure")
        return [_local_file(spec, path)]
    # Hidden files are not data; empty ones have no bits/byte.
    paths = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.stat().st_size and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not paths:
        raise HarnessError(f"directory '{spec}' has no (non-hidden, non-empty) files")
    prefix = spec.rstrip("/")
    return [_local_file(f"{prefix}/{p.relative_to(path).as_posix()}", p) for p in paths]


def _local_file(name: str, path: Path) -> CorpusFile:
    return CorpusFile(name, path.read_bytes, meta={"path": str(path.resolve())}, opener=partial(open, path, "rb"))


def _served_from(root: Path, file: CorpusFile) -> CorpusFile:
    # Only downloadable members: offline copies of generated corpora would make no sense.
    path = root / file.name
    if "url" not in file.meta or not path.is_file():
        return file
    return replace(
        file,
        read=partial(_read_verified, path, file.meta),
        meta={**file.meta, "path": str(path)},
        opener=partial(_open_verified, path, file.meta),
    )


_checked: set[tuple[str, int, int, int, int, int]] = set()
"""The files `_open_checked` has hashed in this process, by path and version (device, inode,
size, change times): a run opens a corpus file several times, and hashing a large one costs as
much as reading it."""


def _open_checked(path: Path, meta: dict, complaint: Callable[[str], str]) -> BinaryIO:
    """`path` opened at its start once its size and sha256 (hashed a MB at a time, once per
    version of the file) match `meta`."""
    file = open(path, "rb")
    try:
        info = os.fstat(file.fileno())
        version = (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if version not in _checked:
            digest, size = hashlib.sha256(), 0
            while chunk := file.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            if problem := _problem(meta, size, digest.hexdigest()):
                raise HarnessError(complaint(problem))
            _checked.add(version)
            file.seek(0)
    except BaseException:
        file.close()
        raise
    return file


def _open_verified(path: Path, meta: dict) -> BinaryIO:
    return _open_checked(path, meta, lambda problem: f"{path} is not the expected file: {problem}")


def _read_verified(path: Path, meta: dict) -> bytes:
    with _open_verified(path, meta) as file:
        return file.read()


def _problem(meta: dict, size: int, sha256: str) -> str | None:
    if meta.get("sha256") and sha256 != meta["sha256"]:
        return f"sha256 {sha256}, expected {meta['sha256']}"
    if meta.get("size") is not None and size != meta["size"]:
        return f"{size} bytes, expected {meta['size']}"
    return None


def archive_corpus(
    name: str,
    description: str,
    url: str,
    members: dict[str, tuple[int, str | None]],
    *,
    archive_sha256: str | None = None,
) -> Corpus:
    """A corpus whose members are files of one .tar.gz or .zip archive at `url`.

    `members` maps each member's base name in the archive to its size and sha256 (None
    where unknown: then only the size is checked). The first read of any member downloads
    the archive and extracts all members into `cache_dir()/corpora/<name>/`.
    """

    def files() -> list[CorpusFile]:
        return [
            CorpusFile(
                f"{name}/{member}",
                partial(_read_cached, name, member, url, members, archive_sha256),
                meta={"url": url, "size": size, "sha256": sha256},
                opener=partial(_open_cached, name, member, url, members, archive_sha256),
            )
            for member, (size, sha256) in members.items()
        ]

    return Corpus(name, description, files)


def _open_cached(
    corpus: str, member: str, url: str, members: dict[str, tuple[int, str | None]], archive_sha256: str | None
) -> BinaryIO:
    folder = cache_dir() / "corpora" / corpus
    path = folder / member
    if not path.is_file():
        _fetch(corpus, url, members, archive_sha256, folder)
    size, sha256 = members[member]
    return _open_checked(
        path,
        {"size": size, "sha256": sha256},
        lambda problem: f"cached {path} is damaged ({problem}); delete it to download again",
    )


def _read_cached(*where: Any) -> bytes:
    with _open_cached(*where) as file:
        return file.read()


def _fetch(
    corpus: str,
    url: str,
    members: dict[str, tuple[int, str | None]],
    archive_sha256: str | None,
    folder: Path,
) -> None:
    hint = (
        f"to work offline, put the files at <dir>/{corpus}/<member> and set HARNESS_DATA_DIR=<dir> "
        "or pass --data-dir <dir>"
    )
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / PurePosixPath(urlparse(url).path).name
    _download(url, archive, archive_sha256, hint)
    try:
        _extract(archive, folder, members, url)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise HarnessError(f"cannot extract {archive.name} from {url} ({e}); {hint}") from e
    finally:
        archive.unlink()  # the members are what we keep; enwik9.zip alone is 300 MB


def _download(url: str, dest: Path, sha256: str | None, hint: str) -> None:
    # A per-process temporary name, renamed at the end, so that an interrupted or
    # concurrent download never leaves a truncated archive under the final name.
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=60) as response,
            part.open("wb") as out,
            _progress() as progress,
        ):
            length = response.headers.get("Content-Length")
            task = progress.add_task(f"downloading {dest.name}", total=int(length) if length else None)
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                progress.advance(task, len(chunk))
    except (OSError, http.client.HTTPException) as e:
        part.unlink(missing_ok=True)
        raise HarnessError(f"cannot download {url} ({e}); {hint}") from e
    if sha256 and digest.hexdigest() != sha256:
        part.unlink()
        raise HarnessError(f"{url} has sha256 {digest.hexdigest()}, expected {sha256}; {hint}")
    os.replace(part, dest)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True, markup=False),
    )


def _extract(archive: Path, folder: Path, members: dict[str, tuple[int, str | None]], url: str) -> None:
    missing = dict(members)
    for base, stream in _archive_files(archive):
        if base not in missing:
            continue
        # The target is named after our member list, never after the archive's paths,
        # so a hostile archive cannot write outside `folder`.
        size, sha256 = missing.pop(base)
        target = folder / base
        part = target.with_name(f"{base}.{os.getpid()}.part")
        digest, written = hashlib.sha256(), 0
        with part.open("wb") as out:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
        if problem := _problem({"size": size, "sha256": sha256}, written, digest.hexdigest()):
            part.unlink()
            raise HarnessError(f"{base} in {url}: {problem}")
        os.replace(part, target)
    if missing:
        raise HarnessError(f"{url} lacks {', '.join(sorted(missing))}")


def _archive_files(archive: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(base name, stream) for each regular file in a zip or tar archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    with z.open(info) as stream:
                        yield PurePosixPath(info.filename).name, stream
    else:
        with tarfile.open(archive) as tar:
            for info in tar:
                if info.isfile():
                    with tar.extractfile(info) as stream:
                        yield PurePosixPath(info.name).name, stream
