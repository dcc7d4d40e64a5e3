"""Safe file I/O for the commands: inputs checked before they are opened, outputs that appear
whole or not at all, `-` for stdin and stdout, and nothing but a regular file ever replaced."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.registry import Registry

STDIO = "-"
"""As an input: stdin; as an output: stdout."""

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


STREAM_NOTE = " (only - reads a stream: stdin)"
"""What a refusal of a stream as an input adds: what to give instead."""


def _open_file(
    path: str, registry: Registry | None, data_dir: str | None, note: str = STREAM_NOTE
) -> tuple[BinaryIO, int | None]:
    """`path` opened for reading, and its size (None: unknown); with `registry`, the corpus file a
    corpus name or member (calgary/book1) names, where no such path exists."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if registry is None or path.partition("/")[0] not in registry.corpora:
            raise HarnessError(f"no such file: {path}") from None
        return _corpus_file(path, registry, data_dir)
    except OSError as error:
        raise HarnessError(f"cannot read {path}: {error.strerror}") from None
    _check_regular(path, info.st_mode, note)  # before open(): opening a FIFO would wait for a writer
    try:
        # O_NONBLOCK: should a FIFO take the path after the stat, open() still returns at once (and
        # the check below refuses it); regular files ignore the flag.
        stream = open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK))
    except OSError as error:
        raise HarnessError(f"cannot read {path}: {error.strerror}") from None
    info = os.fstat(stream.fileno())
    try:
        _check_regular(path, info.st_mode, note)
    except HarnessError:
        stream.close()
        raise
    return stream, info.st_size or None  # /proc files report 0 bytes and yet have content


def _check_regular(path: str, mode: int, note: str) -> None:
    if not stat.S_ISREG(mode):  # a stream has no length to put in the header up front
        raise HarnessError(f"{path} is {_kind(mode)}, not a regular file{note}")


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file at `path` (a README to update, say): a clear error for a
    FIFO, a device or a folder, which could block or never end, and for one over `limit` bytes."""
    stream, _ = _open_file(path, None, None, note="")
    with stream:
        try:
            data = stream.read(limit + 1)
        except OSError as error:
            raise HarnessError(f"cannot read {path}: {error.strerror}") from None
    if len(data) > limit:
        raise HarnessError(f"{path} is over {limit:,} bytes; not read")
    return data


def _corpus_file(spec: str, registry: Registry, data_dir: str | None) -> tuple[BinaryIO, int | None]:
    files = registry.corpus_files([spec], data_dir)
    if len(files) > 1:
        raise HarnessError(f"corpus {spec} has {len(files)} files; give one member, e.g. {files[0].name}")
    stream = files[0].open()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    return stream, size


Identity = tuple[int, int]
"""A file as the system knows it, (device, inode): the same for every name and link of it."""


def _identity(stream: BinaryIO) -> Identity | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, AttributeError, ValueError):  # no file behind it (a test's stdin, say)
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


@contextmanager
def open_input(
    path: str, registry: Registry | None = None, data_dir: str | None = None
) -> Iterator[tuple[BinaryIO, int, Identity | None]]:
    """The input opened for streaming, its length and the identity of the file read (None for a
    stream); `-` is stdin; a clear error for the usual mistakes.

    With `registry`, a corpus name or member stands for its file where no such path exists. The
    container header holds the length, so a stream without one (stdin, a /proc file) is first
    copied into an anonymous temp file.
    """
    with ExitStack() as stack:
        if path == STDIO:
            stream, size = sys.stdin.buffer, None
        else:
            stream, size = _open_file(path, registry, data_dir)
            stack.enter_context(stream)
        identity = _identity(stream)
        if not size:
            spool = stack.enter_context(tempfile.TemporaryFile())
            shutil.copyfileobj(stream, spool)
            stream, size = spool, spool.tell()
            spool.seek(0)
        yield stream, size, identity


def _check_replaceable(path: Path, shown: Path, force: bool) -> None:
    """Refuse to replace anything but a regular file, and that only with --force."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        raise HarnessError(f"{shown} is {_kind(mode)}; only a regular file is ever replaced, even with --force")
    if not force:
        raise HarnessError(f"{shown} exists; use --force to overwrite it")


@contextmanager
def atomic_output(path: Path, force: bool) -> Iterator[BinaryIO]:
    """A temp file in `path`'s folder, renamed to `path` only when the block completes.

    An error, Ctrl-C or SIGTERM removes the temp file, so no partial output is ever left; a
    SIGKILL can leave the hidden temp file behind, but never a partial `path`. A symlink is
    followed: the file it points to is replaced, never the link itself.
    """
    real = path.resolve()
    _check_replaceable(real, path, force)
    if not real.parent.is_dir():
        link = f" (where the link {path} points)" if real.parent != path.parent.resolve() else ""
        raise HarnessError(f"output folder {real.parent if link else path.parent} does not exist{link}")
    try:
        handle, temp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as error:
        raise HarnessError(f"cannot write in {path.parent}: {error.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their owner
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        _check_replaceable(real, path, force)  # it may have become a FIFO, a folder or a new file meanwhile
        os.replace(temp, real)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):  # disk full, file too large, I/O error
            raise HarnessError(f"{path} not written: {error.strerror or error}") from None
        raise


def _stream(mode: int | None) -> bool:
    """A character device or FIFO: written into, as `>` would, never replaced."""
    return mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))


def _mode(target: str) -> int | None:
    """The mode of what `target` names, symlinks followed; None when nothing is there."""
    try:
        return os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise HarnessError(f"cannot write {target}: {error.strerror}") from None


class Sink:
    """The output as the coder sees it: a write error (a full disk, a file too large) is reported
    as the output's, never blamed on the predictor that was coding into it."""

    def __init__(self, file: BinaryIO, name: str) -> None:
        self.file, self.name = file, name

    def write(self, data: bytes) -> int:
        return self._checked(self.file.write, data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:  # flushes the buffer: it may fail too
        return self._checked(self.file.seek, offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def _checked(self, call: Callable[..., int], *args: int | bytes) -> int:
        try:
            return call(*args)
        except OSError as error:
            raise HarnessError(f"{self.name} not written: {error.strerror or error}") from None


def _refuse_input_as_output(source: Identity, target: str) -> None:
    """The output may not be the file that was read, by any name, link or redirection (a corpus
    member's cached file included): --force would replace what was read with what was made from it."""
    try:
        there = os.stat(target)
    except OSError:  # nothing there (yet)
        return
    if (there.st_dev, there.st_ino) == source:
        raise HarnessError(f"{target} is the input itself; write the output elsewhere (-o FILE)")


@contextmanager
def output(target: str, force: bool, source: Identity | None = None) -> Iterator[Sink]:
    """A seekable file for the output, whose bytes reach `target` only once the block completes;
    never the input file `source` (`open_input`'s identity of it).

    `-` is stdout. A character device or FIFO (/dev/null, a named pipe) is written into directly,
    copied from a temp file, so that a run that fails (a corrupt input, a full disk) puts nothing
    there; anything else goes through `atomic_output`.
    """
    if target != STDIO and source:
        _refuse_input_as_output(source, target)
    if target != STDIO and not _stream(_mode(target)):
        with atomic_output(Path(target), force) as out:
            yield Sink(out, target)
        return
    with tempfile.TemporaryFile() as temp:
        yield Sink(temp, "stdout" if target == STDIO else target)
        temp.seek(0)
        _copy_out(temp, target)


def _copy_out(data: BinaryIO, target: str) -> None:
    """Copy `data` to stdout (`-`) or into the device or FIFO at `target`."""
    try:
        if target == STDIO:
            sys.stdout.flush()
            shutil.copyfileobj(data, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        # Waits for a FIFO's reader. No O_CREAT or O_TRUNC: should the path have been swapped for a
        # regular file, nothing is made or emptied.
        fd = os.open(target, os.O_WRONLY)
        with os.fdopen(fd, "wb") as out:
            if not _stream(os.fstat(fd).st_mode):
                raise HarnessError(f"{target} is no longer a device or FIFO; nothing written")
            shutil.copyfileobj(data, out)
    except OSError as error:
        if isinstance(error, BrokenPipeError) and target == STDIO:
            # Python flushes stdout once more at exit; pointed at /dev/null, that flush is quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        name = "stdout" if target == STDIO else target
        raise HarnessError(f"{name} not written: {error.strerror or error}") from None


def write_atomically(path: Path, data: bytes, force: bool) -> None:
    """Write `data` to `path` (`-`: stdout) through `output`: whole or not at all."""
    with output(str(path), force) as out:
        out.write(data)


def output_folder(path: str) -> Path:
    """The folder `path`, made if missing; a clear error where it cannot be (a file is there, a
    name too long, an empty name: `-o ''` is refused like `--results ''`, not read as `.`)."""
    if not path:
        raise HarnessError("output folder '' is empty; give a folder, e.g. -o .")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise HarnessError(f"output folder {path} is not a folder") from None
    except OSError as error:
        raise HarnessError(f"cannot make output folder {path}: {error.strerror}") from None
    return folder


def shown(path: str) -> str:
    return "stdout" if path == STDIO else path
